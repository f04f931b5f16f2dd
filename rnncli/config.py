"""Training settings: the one ``Config`` of every task, with its defaults and the values
a run can have; the CLI maps options onto it and the checkpoint stores it as JSON.
What defines a model is not here: that is the network's constructor arguments
(``Network.args``), and each task's data settings live with the task
(``lm.settings.LMSettings``, ``forecast.settings.ForecastConfig``).

Also here, because every task asks them alike: how a setting is named as an option
(``as_option``), the one resume check (``check_resume``) and the one check of the
options of the Elman cell alone (``check_rnn_cell_only``)."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import NamedTuple

from .errors import DataError

UNKNOWN_TOKEN = "UNKNOWN_TOKEN"
SENTENCE_START = "SENTENCE_START"
SENTENCE_END = "SENTENCE_END"
SPECIALS = (UNKNOWN_TOKEN, SENTENCE_START, SENTENCE_END)  # ids 0, 1, 2
UNK_ID, START_ID, END_ID = 0, 1, 2
N_SPECIALS = len(SPECIALS)  # regular words have ids N_SPECIALS and up

DTYPES = ("float32", "float64")


@dataclass
class Config:
    """How to train, whatever the task: the model's starting point, gradient, optimizer,
    schedule and run settings (``registry.problem`` validates one)."""
    recurrent_init: str = "uniform" # the Elman cell's W: uniform (the tutorial's) | identity (Le et al. 2015)
    dtype: str = "float32"
    # gradient
    bptt_truncate: int = 4          # -1: full backpropagation through time (the default for gated cells)
    batch_size: int = 32            # sentences (windows) per update
    clip: float = 5.0               # global gradient-norm bound; 0 disables
    dropout: float = 0.0            # between layers and on the hidden-to-output path
    weight_decay: float = 0.0       # L2, added to the gradient
    average: float = 0.999          # decay of a moving average of the weights that is the model; 0 = off
    # optimizer
    optimizer: str = "adam"
    lr: float = 0.002
    momentum: float = 0.9
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    decay: float = 0.95             # rmsprop's moving-average factor
    # schedule
    lr_schedule: str = "plateau"
    lr_factor: float = 0.25         # plateau: multiply the rate by this
    min_gain: float = 0.003         # mikolov/plateau: relative validation gain that counts
    patience: int = 3               # stop after this many epochs without --min-gain, best weights back; 0 = off
    # run
    epochs: int | None = None       # total epochs; None with max_time = until time is up
    max_time: float | None = None   # seconds of training (reading the data excluded)
    seed: int = 0
    threads: int | None = None

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "Config":
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_dict(cls, raw: dict) -> "Config":
        # Unknown keys come from a newer minor writer, or are the model and data fields
        # that checkpoints before format 3 kept here; keep what we understand. A key that
        # is missing was written before it existed: it means what the writer did then.
        return cls(**{**WRITTEN_BEFORE, **known_fields(cls, raw)})

    def replace(self, **changes) -> "Config":
        return dataclasses.replace(self, **changes)


class RunSettings(NamedTuple):
    """A run's settings as a task's ``configure`` settles them, before any data is read."""
    train: Config       # how to train
    data: object        # the task's data settings (lm.settings.LMSettings, forecast.settings.ForecastConfig)
    model: dict         # the options that define the network (the task's MODEL names)


def known_fields(cls, raw: dict) -> dict:
    """The entries of ``raw`` that name a field of the dataclass ``cls``."""
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in raw.items() if k in names}


def split_by(given: dict, *names) -> tuple[dict, ...]:
    """Options by where they belong: one dict per collection of ``names`` (a dataclass's
    fields, a task's model options), in order."""
    parts = tuple({} for _ in names)
    for k, v in given.items():
        i = next((i for i, n in enumerate(names) if k in n), None)
        if i is None:
            raise TypeError(f"no setting is called {k!r}")
        parts[i][k] = v
    return parts


# Fields whose default changed after checkpoints without them were written: the value
# such a checkpoint's run had (from before weight averaging existed).
WRITTEN_BEFORE = {"average": 0.0}

# (low, high, low end open, high end open): the values a run can have, as the CLI's options allow
RANGES = {"bptt_truncate": (-1, None, False, False), "batch_size": (1, None, False, False),
          "clip": (0, None, False, False), "dropout": (0, 1, False, True), "weight_decay": (0, None, False, False),
          "lr": (0, None, True, False), "momentum": (0, 1, False, True), "beta1": (0, 1, False, True),
          "beta2": (0, 1, False, True), "eps": (0, None, True, False), "decay": (0, 1, False, True),
          "lr_factor": (0, 1, True, True), "min_gain": (0, None, False, False), "patience": (0, None, False, False),
          "epochs": (1, None, False, False), "max_time": (0, None, True, False), "seed": (0, None, False, False),
          "threads": (1, None, False, False)}


def as_option(name, value):
    """('lowercase', False) -> '--no-lowercase'; ('hidden_dim', 5) -> '--hidden-dim 5';
    ('targets', ['a', 'b']) -> '--targets a,b'"""
    opt = name.replace("_", "-")
    if isinstance(value, bool):
        return f"--{opt}" if value else f"--no-{opt}"
    if isinstance(value, list):
        value = ",".join(value)
    return f"--{opt} {value}" if value is not None else f"no --{opt}"


def check_resume(given: dict, trained: dict, resume: str, described: dict | None = None):
    """Resuming with an option that defines the model or its data at another value than
    the checkpoint's would silently train something else: refused. ``trained`` maps
    each such option (the task's, in the order they are checked) to the checkpoint's
    value; ``described`` words a value otherwise than as the option it was trained with."""
    for k, was in trained.items():
        if k in given and given[k] != was:
            said = (described or {}).get(k) or f"trained with {as_option(k, was)}"
            raise DataError(f"{as_option(k, given[k])} contradicts the checkpoint {resume} ({said}); "
                            f"drop the option or start a new run")


# Options of the Elman cell alone, with the value that leaves them unused.
RNN_CELL_ONLY = {"recurrent_init": "uniform", "activation": "tanh"}


def check_rnn_cell_only(cell: str, options: dict, with_values: bool = True):
    """Refuse an option of the Elman cell alone given with another cell. The language
    model names the option's value and --cell (``with_values``), forecasting the
    option and the cell."""
    if cell == "rnn":
        return
    for name, unused in RNN_CELL_ONLY.items():
        if options.get(name, unused) != unused:
            if with_values:
                raise DataError(f"{as_option(name, options[name])} applies to the rnn cell only, not --cell {cell}")
            raise DataError(f"--{name.replace('_', '-')} applies to the rnn cell only, not {cell}")
