"""What defines a language model besides its training: how text becomes ids (``LMSettings``,
stored in the checkpoint's task section, applied again by eval, generate --prefix and
tokenize -m), the model options with their defaults, and the softmax choice."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..config import N_SPECIALS, known_fields


@dataclass
class LMSettings:
    """The tokenizer and vocabulary settings of a language model."""
    lowercase: bool = True
    vocab_size: int = 8000          # including the three special tokens; stored: the vocabulary built
    encoding: str = "utf-8"
    csv_column: str | None = None
    sentences: str = "punkt"        # punkt | lines (every non-empty line is a sentence)
    words: str = "treebank"         # treebank | whitespace (pre-tokenized text)
    unk_token: str | None = None    # the corpus's own unknown-word marker, read as UNKNOWN_TOKEN
    val_fraction: float = 0.05      # sentences held out for validation when no --val is given

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw: dict) -> "LMSettings":
        return cls(**known_fields(cls, raw))

    def replace(self, **changes) -> "LMSettings":
        return dataclasses.replace(self, **changes)

    def of_corpus(self, stored: dict, vocab_size: int) -> "LMSettings":
        """These settings for a tokenized corpus (`rnn tokenize`) with a vocabulary of
        ``vocab_size``: how text becomes words is the corpus's (``stored``, its settings)."""
        return self.replace(vocab_size=vocab_size, lowercase=stored.get("lowercase", self.lowercase),
                            sentences=stored.get("sentences", "punkt"), words=stored.get("words", "treebank"),
                            unk_token=stored.get("unk_token"))


# (low, high, low end open, high end open), as config.RANGES
RANGES = {"vocab_size": (N_SPECIALS + 1, None, False, False), "val_fraction": (0, 0.5, False, False)}

# --softmax: auto, or the output layer (nn.output.OUTPUTS) by name
SOFTMAXES = ("auto", "full", "class")
# --softmax auto: the full softmax up to this many vocabulary entries, the class softmax
# above. On 1M-token corpora with vocabularies of 100-2,000 (tinyshakespeare at 500 and
# 2,000 words, random-RNN sources at 100 and 1,000) the full softmax reached a 0.6-6%
# lower test perplexity, in runs that stopped early well inside 5 minutes; at 8,000 words
# the two validate alike and the class softmax trains 6x faster (docs/class-softmax.md).
FULL_SOFTMAX_UP_TO = 2000

# The options that define the network, with their defaults; they become the Network's
# arguments (softmax -> output, classes -> the number of classes) once the vocabulary is known.
MODEL = {"cell": "rnn", "activation": "tanh", "layers": 1, "hidden_dim": 100, "bias": False, "softmax": "auto",
         "classes": None}

# What a resumed run must keep, in the order it is checked (config.check_resume): model
# options, data settings and the training dtype.
DEFINING = ("lowercase", "cell", "activation", "layers", "hidden_dim", "bias", "csv_column", "softmax", "classes",
            "sentences", "words", "unk_token", "dtype", "vocab_size")


def resolved_softmax(softmax: str, vocab_size: int) -> str:
    """The output layer --softmax names: auto becomes full or class by the vocabulary size."""
    if softmax != "auto":
        return softmax
    return "full" if vocab_size <= FULL_SOFTMAX_UP_TO else "class"


def model_options(args: dict) -> dict:
    """A Network's arguments as the options that defined it (``MODEL``'s names)."""
    opts = {k: args.get(k, MODEL[k]) for k in ("cell", "activation", "layers", "hidden_dim", "bias")}
    return dict(opts, softmax=args.get("output", "full"), classes=args.get("classes"))
