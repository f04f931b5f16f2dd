"""rnncli: recurrent neural networks on NumPy, from the command line and from Python:
word-level language models (train, sample, score) and multivariate time-series
forecasting with an encoder-decoder. One line a module or package, from the math up:

  nn/            pure NumPy math: input layers, cells and stacks, output layers,
                 attention, the one network assembly (see nn/__init__.py)
  batching.py    ragged sequences of ids and packed minibatches
  optim.py       optimizers, weight averaging, learning-rate schedules
  dist.py        the communicator: one process or MPI; dense and row-sparse gradient sums
  run.py         what a run keeps beside its steps: time budget, best weights, JSONL log
  train.py       the Trainer: steps, epochs and stopping, for every task
  start.py       what a run starts from (new or resumed parameters), Setup -> Trainer
  config.py      training settings (Config), every default once, the one resume check
  registry.py    every choice (cells, outputs, optimizers, schedules, ...) for options,
                 validation and help
  checkpoint.py  the one self-describing .npz format for every task
  fileio.py      atomic .npz writes, write locks, .npz headers checked before loading
  memory.py      what a run will hold, estimated before allocating, against what the machine has
  errors.py      errors that carry one line for the user
  plotting.py    training-history pictures (matplotlib, optional) and sparklines
  lm/            the language-model task (see lm/__init__.py)
  forecast/      the forecasting task (see forecast/__init__.py)
  cli/           the Click layer (see cli/__init__.py)
"""
__version__ = "0.1.0"
