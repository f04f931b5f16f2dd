"""Every choice rnncli offers, gathered from the code that implements it: the CLI's
options, their help, and the validation of settings and checkpoints read them here.
Each table is defined once, beside the code that needs it; nothing keeps a copy.

    CELLS             nn.cells.CELLS                 --cell
    ACTIVATIONS       nn.cells                       --activation (the Elman cell)
    RECURRENT_INITS   nn.cells                       --recurrent-init (the Elman cell)
    OUTPUTS           nn.network.OUTPUTS             the Network's output layer
    SOFTMAXES         lm.settings                    --softmax: auto or an output layer
    LOSSES            nn.output.LOSSES               --loss (forecasting)
    OPTIMIZERS        optim.Optimizer.slots          --optimizer
    SCHEDULES         optim.SCHEDULES                --lr-schedule
    DTYPES            config.DTYPES                  --dtype
    SENTENCES, WORDS  lm.tokenizer                   --sentences, --words
    DECODER_TRAINING  forecast.settings              --decoder-training
    FILL_METHODS      forecast.features              --missing
"""
from __future__ import annotations

import dataclasses
import math

from .config import DTYPES
from .forecast.features import FILL_METHODS
from .forecast.settings import DECODER_TRAINING
from .lm.settings import SOFTMAXES
from .lm.tokenizer import SENTENCES, WORDS
from .nn import cells, network, output
from .optim import SCHEDULES, Optimizer

CELLS = tuple(cells.CELLS)
ACTIVATIONS = cells.ACTIVATIONS
RECURRENT_INITS = cells.RECURRENT_INITS
OUTPUTS = tuple(network.OUTPUTS)
LOSSES = output.LOSSES
OPTIMIZERS = tuple(Optimizer.slots)

# a settings field (Config, LMSettings, ForecastConfig) or model argument -> its choices
CHOICES = {"cell": CELLS, "activation": ACTIVATIONS, "recurrent_init": RECURRENT_INITS, "output": OUTPUTS,
           "softmax": SOFTMAXES, "loss": LOSSES, "optimizer": OPTIMIZERS, "lr_schedule": SCHEDULES,
           "dtype": DTYPES, "sentences": SENTENCES, "words": WORDS, "decoder_training": DECODER_TRAINING,
           "missing": FILL_METHODS}

_TYPES = {"bool": bool, "int": int, "float": (int, float), "str": str, "dict": dict, "list": list,
          "None": type(None)}


def problem(settings, ranges: dict) -> str | None:
    """The first field of a settings dataclass whose value no run could have (a
    checkpoint is untrusted input): wrong type, not finite, not one of its ``CHOICES``
    or outside its range in ``ranges`` (name -> (low, high, low end open, high end open))."""
    for f in dataclasses.fields(settings):
        v = getattr(settings, f.name)
        kinds = [_TYPES.get(t.strip(), object) for t in str(f.type).split("|")]
        if (isinstance(v, bool) and bool not in kinds) or not isinstance(v, tuple(kinds)):
            return f"{f.name} is {v!r}, not of type {f.type}"
        if isinstance(v, float) and not math.isfinite(v):
            return f"{f.name} is {v!r}, not a finite number"
        if f.name in CHOICES and v not in CHOICES[f.name]:
            return f"{f.name} is {v!r}, not one of {', '.join(CHOICES[f.name])}"
        lo, hi, lo_open, hi_open = ranges.get(f.name, (None, None, False, False))
        if v is not None and lo is not None and (v < lo or (lo_open and v == lo)):
            return f"{f.name} is {v!r}, must be {'above' if lo_open else 'at least'} {lo}"
        if v is not None and hi is not None and (v > hi or (hi_open and v == hi)):
            return f"{f.name} is {v!r}, must be {'below' if hi_open else 'at most'} {hi}"
    return None
