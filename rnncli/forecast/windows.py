"""The chronological split of a series' rows (training, validation, test) and the
forecasting windows inside each part, as row indices: ``X[enc_idx]`` gathers every
window's history at once, never a Python loop over windows.

    sp = split(len(s), val_fraction=0.1, test_fraction=0.2)
    enc, dec = windows(len(s), 72, 24, *sp.train, valid=ok, name="training")   # (N, 72), (N, 24)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import DataError


@dataclass(frozen=True)
class Split:
    """Row ranges [start, stop) of the chronological parts."""
    train: tuple[int, int]
    val: tuple[int, int]
    test: tuple[int, int]

    @property
    def boundaries(self) -> tuple[int, int]:
        return (self.val[0], self.test[0])

    def parts(self) -> dict:
        return {"training": self.train, "validation": self.val, "test": self.test}


def split(n_rows: int, val_fraction: float = 0.1, test_fraction: float = 0.2, *,
          source: str | None = None) -> Split:
    """Train, validation and test parts in time order; each fraction is of the rows
    (rounded), the test part last. Fractions may be 0. ``source``: the file the rows
    come from, named in an error."""
    for name, f in (("validation", val_fraction), ("test", test_fraction)):
        if not (0.0 <= f < 1.0):
            raise DataError(f"the {name} fraction must be at least 0 and below 1, not {f}", source)
    if val_fraction + test_fraction >= 1.0:
        raise DataError(f"validation and test fractions add up to {val_fraction + test_fraction:g}; "
                        f"they must leave rows for training", source)
    n_test = int(np.floor(n_rows * test_fraction + 0.5))
    n_val = int(np.floor(n_rows * val_fraction + 0.5))
    n_train = n_rows - n_val - n_test
    if n_train < 1:
        raise DataError(f"{n_rows} rows leave none for training with these fractions", source)
    return Split((0, n_train), (n_train, n_train + n_val), (n_train + n_val, n_rows))


def rows_for(part: str, rows: int, val_fraction: float, test_fraction: float) -> int:
    """The fewest rows a series needs for its ``part`` ("validation", "test") to hold
    ``rows`` rows when ``split`` with these fractions (each nonzero)."""
    frac = test_fraction if part == "test" else val_fraction
    n = max(rows, int(np.ceil((rows - 0.5) / frac)) - 2)
    while True:
        try:
            a, b = split(n, val_fraction, test_fraction).parts()[part]
        except DataError:                                # no training rows yet
            a, b = 0, 0
        if b - a >= rows:
            return n
        n += 1


def windows(n_rows: int, history: int, horizon: int, start: int = 0, stop: int | None = None, *,
            valid: np.ndarray | None = None, name: str = "data",
            source: str | None = None, trained: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Every window that lies entirely inside rows [start, stop), one per start row.

    A window is ``history`` encoder rows followed by ``horizon`` decoder rows, so no
    window crosses a split boundary. ``valid`` (n_rows,) bool marks rows usable as
    encoder input (no NaN left after filling); windows with an invalid history row
    are left out. Returns (enc_idx (N, history), dec_idx (N, horizon)), int64 row
    indices: ``X[enc_idx]`` gathers every encoder input at once. The forecast origin
    of a window is ``enc_idx[:, -1]``. Raises ``DataError`` when no window fits, worded
    with the part's ``name`` and the ``source`` file; ``trained``: the history and
    horizon are a trained model's, which the message must not suggest changing.
    """
    stop = n_rows if stop is None else stop
    if history < 1 or horizon < 1:
        raise DataError(f"history and horizon must be at least 1 (got {history} and {horizon})", source)
    if not (0 <= start <= stop <= n_rows):
        raise DataError(f"rows [{start}, {stop}) are not inside a series of {n_rows} rows", source)
    need = history + horizon
    if stop - start < need:
        fix = ("the model's history and horizon are fixed when it is trained: give more data" if trained
               else "shorten the history or the horizon, or give more data")
        raise DataError(f"history {history} + horizon {horizon} = {need} rows, but the {name} part has "
                        f"only {stop - start}; {fix}", source)
    s = np.arange(start, stop - need + 1, dtype=np.int64)            # (N,) window start rows
    if valid is not None:
        valid = np.asarray(valid, dtype=bool)
        bad = np.concatenate([[0], np.cumsum(~valid)])               # invalid rows before each row
        s = s[bad[s + history] == bad[s]]
        if s.size == 0:
            fix = ("fill the gaps in the file (the model's history and --missing are fixed when it is trained)"
                   if trained else "fill them (ffill or interpolate) or shorten the history")
            raise DataError(f"no window of the {name} part has a history without missing values; {fix}", source)
    enc = s[:, None] + np.arange(history)                             # (N, history)
    dec = s[:, None] + history + np.arange(horizon)                   # (N, horizon)
    return enc, dec
