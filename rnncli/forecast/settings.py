"""What defines a forecasting model besides its training: how a series is read, split
and windowed (``ForecastConfig``, stored in the checkpoint's task section so predict
and eval read new data the same way), the model options with their defaults, and the
training recipe of `rnn forecast train`."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from ..config import known_fields

DECODER_TRAINING = ("teacher", "free")


@dataclass
class ForecastConfig:
    """The data settings of `rnn forecast train`, kept in the checkpoint's task section
    (forecast.task.ForecastData)."""
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

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ForecastConfig":
        return cls(**known_fields(cls, d))

    def replace(self, **changes) -> "ForecastConfig":
        return dataclasses.replace(self, **changes)


# The options that define the network (nn.seq2seq.Seq2Seq's arguments), with their defaults.
MODEL = {"hidden_dim": 64, "cell": "gru", "activation": "tanh", "layers": 1, "loss": "mse", "attention": False}

# `rnn forecast train`'s recipe: the Config fields whose defaults differ from the
# language model's (docs/forecasting.md says how they were chosen).
TRAINING = {"bptt_truncate": -1, "batch_size": 64, "lr": 0.002, "patience": 4, "average": 0.995}

# What a resumed run must keep, in the order it is checked (config.check_resume): model
# options, the training dtype and data settings.
DEFINING = ("hidden_dim", "cell", "activation", "layers", "dtype", "time", "targets", "features", "history",
            "horizon", "missing", "calendar", "val_fraction", "test_fraction", "attention", "loss")


def model_options(args: dict) -> dict:
    """A Seq2Seq's arguments as the options that defined it (``MODEL``'s names)."""
    return {k: args.get(k, default) for k, default in MODEL.items()}
