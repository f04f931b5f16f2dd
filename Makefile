# Two commands matter:  `make demo` (train on the bundled corpus, then sample) and `make test`;
# `make demo-forecast` trains a forecasting model on the bundled series, scores it and forecasts.
# Both create .venv with the Python found below and install into it.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
DEMO_SECONDS ?= 90
FORECAST_SECONDS ?= 60

.PHONY: test demo demo-forecast bench bench-class quality install clean

test: $(VENV)/.test-installed
	$(BIN)/python -m pytest -q

# The demo trades the tutorial's model for what shows most in 90 s on a busy 2-core
# machine: a GRU over a 3,000-word vocabulary (docs/demo.md).
demo: $(VENV)/.installed
	@mkdir -p demo
	$(BIN)/rnn train data/corpus.txt -o demo/model.npz --max-time $(DEMO_SECONDS) --cell gru --vocab-size 3000 \
		--log demo/log.jsonl
	$(BIN)/rnn generate -m demo/model.npz -n 10 --seed 1 --temperature 0.8
	$(BIN)/rnn eval -m demo/model.npz
	$(BIN)/rnn info -m demo/model.npz --top 0

# plots only where matplotlib is installed (pip install 'rnncli[plot]')
demo-forecast: $(VENV)/.installed
	@mkdir -p demo
	$(BIN)/rnn forecast train data/series.csv --target demand --history 48 --horizon 24 --calendar \
		-o demo/forecast.npz --max-time $(FORECAST_SECONDS) --log demo/forecast-log.jsonl
	$(BIN)/rnn forecast eval -m demo/forecast.npz data/series.csv -q \
		$$($(BIN)/python -c "import matplotlib" 2>/dev/null && echo --plot demo/forecast-errors.png)
	$(BIN)/rnn forecast predict -m demo/forecast.npz data/series.csv -q \
		$$($(BIN)/python -c "import matplotlib" 2>/dev/null && echo --plot demo/forecast.png)

# Every speed figure of the issues in one run (about 40 minutes on 2 cores): the core rows
# (bench.py), the class softmax against the full one and PyTorch's adaptive softmax, MPI
# with 2 processes against 1 (where the [mpi] extra is installed), reading corpora.
# BENCH_ARGS go to bench.py, e.g. BENCH_ARGS="--baseline REV --skip-memory".
bench: $(VENV)/.installed
	$(BIN)/python benchmarks/bench.py $(BENCH_ARGS)
	$(BIN)/python benchmarks/class_softmax.py speed
	if $(BIN)/python -c "import mpi4py" 2>/dev/null; then $(BIN)/python benchmarks/mpi_bench.py; \
	else echo "bench: MPI rows skipped (pip install '.[mpi]' into $(VENV))"; fi
	$(BIN)/python benchmarks/corpora.py

# class softmax against the full softmax (and PyTorch's adaptive softmax when installed), ratios in one run
bench-class: $(VENV)/.installed
	$(BIN)/python benchmarks/class_softmax.py

# perplexity in a fixed time on ../shared/corpora, against PyTorch+Adam when torch is installed
quality: $(VENV)/.installed
	$(BIN)/python benchmarks/quality.py

install: $(VENV)/.installed

# A regular (not editable) install, redone whenever the package changes: editable
# installs make setuptools print a warning box on every install.
SOURCES := pyproject.toml $(shell find rnncli -name '*.py')

$(VENV)/.installed: $(SOURCES)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q .
	rm -rf build
	touch $@

$(VENV)/.test-installed: $(VENV)/.installed
	$(BIN)/pip install -q '.[test,plot,mpi]'
	rm -rf build
	touch $@

clean:
	rm -rf $(VENV) demo build *.egg-info
