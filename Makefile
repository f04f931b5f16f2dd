# Two commands matter:  `make demo` (train on the bundled corpus, then sample) and `make test`.
# Both create .venv with the Python found below and install into it.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
DEMO_SECONDS ?= 90

.PHONY: test demo bench quality install clean

test: $(VENV)/.test-installed
	$(BIN)/python -m pytest -q

demo: $(VENV)/.installed
	@mkdir -p demo
	$(BIN)/rnn train data/corpus.txt -o demo/model.npz --max-time $(DEMO_SECONDS) --log demo/log.jsonl
	$(BIN)/rnn generate -m demo/model.npz -n 10 --seed 1
	$(BIN)/rnn eval -m demo/model.npz

bench: $(VENV)/.installed
	$(BIN)/python benchmarks/bench.py $(BENCH_ARGS)

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
