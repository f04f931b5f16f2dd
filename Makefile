# Two commands matter:  `make demo` (train on the bundled corpus, then sample) and `make test`.
# Both create .venv with the Python found below and install into it.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
DEMO_SECONDS ?= 90

.PHONY: test demo bench bench-class quality install clean

test: $(VENV)/.test-installed
	$(BIN)/python -m pytest -q

# The demo trades the tutorial's model for what shows most in 90 s on a busy 2-core
# machine: a GRU over a 3,000-word vocabulary (README: "What the demo shows").
demo: $(VENV)/.installed
	@mkdir -p demo
	$(BIN)/rnn train data/corpus.txt -o demo/model.npz --max-time $(DEMO_SECONDS) --cell gru --vocab-size 3000 \
		--log demo/log.jsonl
	$(BIN)/rnn generate -m demo/model.npz -n 10 --seed 1 --temperature 0.8
	$(BIN)/rnn eval -m demo/model.npz
	$(BIN)/rnn info -m demo/model.npz --top 0

bench: $(VENV)/.installed
	$(BIN)/python benchmarks/bench.py $(BENCH_ARGS)
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
