"""The one configuration object: every default lives here, the CLI maps options
onto it, and the checkpoint stores it as JSON so a model can be rebuilt from the
checkpoint file alone."""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field

UNKNOWN_TOKEN = "UNKNOWN_TOKEN"
SENTENCE_START = "SENTENCE_START"
SENTENCE_END = "SENTENCE_END"
SPECIALS = (UNKNOWN_TOKEN, SENTENCE_START, SENTENCE_END)  # ids 0, 1, 2
UNK_ID, START_ID, END_ID = 0, 1, 2
N_SPECIALS = len(SPECIALS)  # regular words have ids N_SPECIALS and up

SOFTMAXES = ("auto", "full", "class")   # auto: resolved by the vocabulary size (lm/prepare.py)
# --softmax auto: the full softmax up to this many vocabulary entries, the class softmax
# above. On 1M-token corpora with vocabularies of 100-2,000 (tinyshakespeare at 500 and
# 2,000 words, random-RNN sources at 100 and 1,000) the full softmax reached a 0.6-6%
# lower test perplexity, in runs that stopped early well inside 5 minutes; at 8,000 words
# the two validate alike and the class softmax trains 6x faster (README "Class softmax").
FULL_SOFTMAX_UP_TO = 2000
OPTIMIZERS = ("sgd", "momentum", "adagrad", "rmsprop", "adam")
CELLS = ("rnn", "gru", "lstm")
ACTIVATIONS = ("tanh", "relu")
RECURRENT_INITS = ("uniform", "identity")
SCHEDULES = ("halve", "mikolov", "plateau", "cosine", "linear", "constant")


@dataclass
class Config:
    # tokenizer
    lowercase: bool = True
    vocab_size: int = 8000          # including the three special tokens
    encoding: str = "utf-8"
    csv_column: str | None = None
    sentences: str = "punkt"        # punkt | lines (every non-empty line is a sentence)
    words: str = "treebank"         # treebank | whitespace (pre-tokenized text)
    unk_token: str | None = None    # the corpus's own unknown-word marker, read as UNKNOWN_TOKEN
    # model
    cell: str = "rnn"               # the tutorial's Elman cell; gru, lstm
    activation: str = "tanh"        # the Elman cell's nonlinearity: tanh or relu
    recurrent_init: str = "uniform" # the Elman cell's W: uniform (the tutorial's) | identity (Le et al. 2015)
    layers: int = 1
    hidden_dim: int = 100
    bias: bool = False              # gated cells always have gate biases
    dtype: str = "float32"
    softmax: str = "auto"           # class (class-factored, nn/classsoftmax.py) | full (the tutorial's) | auto
    classes: int | None = None      # class softmax: number of classes; None = about sqrt(vocab_size)
    # gradient
    bptt_truncate: int = 4          # -1: full backpropagation through time (the default for gated cells)
    batch_size: int = 32            # sentences per update
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
    max_time: float | None = None   # seconds of training (tokenizing excluded)
    seed: int = 0
    val_fraction: float = 0.05
    threads: int | None = None
    extra: dict = field(default_factory=dict)  # informational (e.g. sentence splitter used)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "Config":
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_dict(cls, raw: dict) -> "Config":
        names = {f.name for f in dataclasses.fields(cls)}
        # Unknown keys come from a newer minor writer; keep what we understand. A key that
        # is missing was written before it existed: it means what the writer did then.
        return cls(**{**WRITTEN_BEFORE, **{k: v for k, v in raw.items() if k in names}})

    def replace(self, **changes) -> "Config":
        return dataclasses.replace(self, **changes)

    def problem(self) -> str | None:
        """The first field whose value no run could have (a checkpoint is untrusted
        input): wrong type, not finite, outside its range or not one of its choices."""
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            kinds = [_TYPES.get(t.strip(), object) for t in str(f.type).split("|")]
            if (isinstance(v, bool) and bool not in kinds) or not isinstance(v, tuple(kinds)):
                return f"{f.name} is {v!r}, not of type {f.type}"
            if isinstance(v, float) and not math.isfinite(v):
                return f"{f.name} is {v!r}, not a finite number"
            if f.name in CHOICES and v not in CHOICES[f.name]:
                return f"{f.name} is {v!r}, not one of {', '.join(CHOICES[f.name])}"
            lo, hi, lo_open, hi_open = RANGES.get(f.name, (None, None, False, False))
            if v is not None and lo is not None and (v < lo or (lo_open and v == lo)):
                return f"{f.name} is {v!r}, must be {'above' if lo_open else 'at least'} {lo}"
            if v is not None and hi is not None and (v > hi or (hi_open and v == hi)):
                return f"{f.name} is {v!r}, must be {'below' if hi_open else 'at most'} {hi}"
        return None


# Fields whose default changed after checkpoints without them were written: the value
# such a checkpoint's run had (checkpoints from before the class softmax was the default,
# and from before weight averaging existed).
WRITTEN_BEFORE = {"softmax": "full", "average": 0.0}

_TYPES = {"bool": bool, "int": int, "float": (int, float), "str": str, "dict": dict, "None": type(None)}
CHOICES = {"dtype": ("float32", "float64"), "optimizer": OPTIMIZERS, "lr_schedule": SCHEDULES,
           "recurrent_init": RECURRENT_INITS}
# (low, high, low end open, high end open): the values a run can have, as the CLI's options allow
RANGES = {"vocab_size": (N_SPECIALS + 1, None, False, False), "hidden_dim": (1, None, False, False),
          "bptt_truncate": (-1, None, False, False), "batch_size": (1, None, False, False),
          "clip": (0, None, False, False), "dropout": (0, 1, False, True), "weight_decay": (0, None, False, False),
          "lr": (0, None, True, False), "momentum": (0, 1, False, True), "beta1": (0, 1, False, True),
          "beta2": (0, 1, False, True), "eps": (0, None, True, False), "decay": (0, 1, False, True),
          "lr_factor": (0, 1, True, True), "min_gain": (0, None, False, False), "patience": (0, None, False, False),
          "epochs": (1, None, False, False), "max_time": (0, None, True, False), "seed": (0, None, False, False),
          "val_fraction": (0, 0.5, False, False), "threads": (1, None, False, False)}

# Options that define the model or its tokenization: resuming with a different value
# would silently train something else, so it is refused.
MODEL_DEFINING = ("lowercase", "vocab_size", "cell", "activation", "layers", "hidden_dim", "bias", "csv_column",
                  "softmax", "classes", "sentences", "words", "unk_token")

# ------------------------------------------------------------------ forecasting

DECODER_TRAINING = ("teacher", "free")

# `rnn forecast train`'s recipe: the Config fields whose defaults differ from the
# language model's (see the README's forecasting section for how they were chosen).
FORECAST_TRAINING = {"cell": "gru", "hidden_dim": 64, "bias": True, "bptt_truncate": -1, "batch_size": 64,
                     "lr": 0.002, "patience": 4, "average": 0.995}


@dataclass
class ForecastConfig:
    """The data settings of `rnn forecast train`, kept in the checkpoint's task section
    (forecast.task.ForecastData) so predict and eval read new data the same way."""
    time: list = field(default_factory=list)        # time column(s)
    targets: list = field(default_factory=list)
    features: list | None = None                    # None: every other column (series.read_csv)
    history: int = 0                                # encoder steps
    horizon: int = 0                                # decoder steps
    missing: str = "ffill"                          # series.FILL_METHODS
    calendar: bool | None = None                    # hour-of-day and day-of-week inputs, known ahead;
                                                    # None: on for dates/times with a step under a week
    season: int | None = None                       # seasonal naive's season; None: inferred
    val_fraction: float = 0.1
    test_fraction: float = 0.2
    sort: bool = False                              # sort rows by time instead of refusing a file out of order
    encoding: str = "utf-8"
    decoder_training: str = "free"                  # DECODER_TRAINING
    attention: bool = False                         # the decoder attends to the encoder's states

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ForecastConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def replace(self, **changes) -> "ForecastConfig":
        return dataclasses.replace(self, **changes)


# Forecast settings that define the model or its inputs: refused on --resume if different.
FORECAST_DEFINING = ("time", "targets", "features", "history", "horizon", "missing", "calendar",
                     "val_fraction", "test_fraction", "attention")


def as_option(name, value):
    """('lowercase', False) -> '--no-lowercase'; ('hidden_dim', 5) -> '--hidden-dim 5';
    ('targets', ['a', 'b']) -> '--targets a,b'"""
    opt = name.replace("_", "-")
    if isinstance(value, bool):
        return f"--{opt}" if value else f"--no-{opt}"
    if isinstance(value, list):
        value = ",".join(value)
    return f"--{opt} {value}" if value is not None else f"no --{opt}"
