# Two commands matter:  `make demo` (train on the bundled corpus, then sample) and `make test`;
# `make demo-forecast` trains a forecasting model on the bundled series, scores it and forecasts.
# Both create .venv with the Python found below and install into it.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
DEMO_SECONDS ?= 90
FORECAST_SECONDS ?= 60

.PHONY: test demo demo-forecast bench quality install clean

test: $(VENV)/.test-installed
	$(BIN)/python -m pytest -q

demo: $(VENV)/.installed
	@mkdir -p demo
	$(BIN)/rnn train data/corpus.txt -o demo/model.npz --max-time $(DEMO_SECONDS) --log demo/log.jsonl
	$(BIN)/rnn generate -m demo/model.npz -n 10 --seed 1
	$(BIN)/rnn eval -m demo/model.npz

# plots only where matplotlib is installed (pip install 'rnncli[plot]')
demo-forecast: $(VENV)/.installed
	@mkdir -p demo
	$(BIN)/rnn forecast train data/series.csv --target demand --history 48 --horizon 24 --calendar \
		-o demo/forecast.npz --max-time $(FORECAST_SECONDS) --log demo/forecast-log.jsonl
	$(BIN)/rnn forecast eval -m demo/forecast.npz data/series.csv -q \
		$$($(BIN)/python -c "import matplotlib" 2>/dev/null && echo --plot demo/forecast-errors.png)
	$(BIN)/rnn forecast predict -m demo/forecast.npz data/series.csv -q \
		$$($(BIN)/python -c "import matplotlib" 2>/dev/null && echo --plot demo/forecast.png)

bench: $(VENV)/.installed
	$(BIN)/python benchmarks/bench.py

# perplexity in a fixed time on ../shared/corpora, against PyTorch+Adam when torch is installed
quality: $(VENV)/.installed
	$(BIN)/python benchmarks/quality.py

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.test-installed: $(VENV)/.installed
	$(BIN)/pip install -q -e '.[test]'
	touch $@

clean:
	rm -rf $(VENV) demo build *.egg-info
