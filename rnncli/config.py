"""The one configuration object: every default lives here, the CLI maps options
onto it, and the checkpoint stores it as JSON so a model can be rebuilt from the
checkpoint file alone."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field

UNKNOWN_TOKEN = "UNKNOWN_TOKEN"
SENTENCE_START = "SENTENCE_START"
SENTENCE_END = "SENTENCE_END"
SPECIALS = (UNKNOWN_TOKEN, SENTENCE_START, SENTENCE_END)  # ids 0, 1, 2
UNK_ID, START_ID, END_ID = 0, 1, 2
N_SPECIALS = len(SPECIALS)  # regular words have ids N_SPECIALS and up

OPTIMIZERS = ("sgd", "momentum", "adagrad", "rmsprop", "adam")
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
    hidden_dim: int = 100
    bias: bool = False
    dtype: str = "float32"
    # gradient
    bptt_truncate: int = 4          # -1: full backpropagation through time
    batch_size: int = 32            # sentences per update
    clip: float = 5.0               # global gradient-norm bound; 0 disables
    dropout: float = 0.0            # on the hidden-to-output path
    weight_decay: float = 0.0       # L2, added to the gradient
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
        raw = json.loads(text)
        names = {f.name for f in dataclasses.fields(cls)}
        # Unknown keys come from a newer minor writer; keep what we understand.
        return cls(**{k: v for k, v in raw.items() if k in names})

    def replace(self, **changes) -> "Config":
        return dataclasses.replace(self, **changes)


# Options that define the model or its tokenization: resuming with a different value
# would silently train something else, so it is refused.
MODEL_DEFINING = ("lowercase", "vocab_size", "hidden_dim", "bias", "csv_column", "sentences", "words", "unk_token")
