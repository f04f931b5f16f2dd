"""The value columns of a series and what is done to them before a model sees them:
which columns are features, targets and features read as numbers or one-hot
categories, missing values filled, and the scaler (fitted on the training rows)."""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from ..errors import DataError
from .table import Table, is_missing, is_number, is_row_number, parse_numbers

MAX_CATEGORIES = 64
FILL_METHODS = ("ffill", "interpolate", "drop")
# Forward fill is causal: a filled value at row t uses rows <= t only. Interpolation
# reads the first value after a gap, so an encoder whose history ends inside a gap
# would already see the value it is asked to forecast.
DEFAULT_FILL = "ffill"


# ---------------------------------------------------------------- columns


def choose_features(table: Table, features, time_cols: list[str], target_cols: list[str]) -> list[str]:
    """The feature columns: ``features`` (names, or a comma-separated string) less the
    targets; or, for None, every column but the time, the targets and a row number."""
    if features is None:
        skip = set(time_cols) | set(target_cols)
        return [c for c in table.header if c not in skip and not is_row_number(c, table.strings(c))]
    feature_cols = table.columns(features, "feature")
    for c in feature_cols:
        if c in time_cols:
            raise DataError(f"{table.path}: column {c!r} is the time column; it cannot also be a feature")
    feature_cols = [c for c in feature_cols if c not in target_cols]
    table.no_repeats(feature_cols)
    return feature_cols


@dataclass
class ValueColumns:
    """Targets, then features, as model inputs, in the file's row order."""
    values: list = field(default_factory=list)      # (T, 1) per numeric column, (T, n) per one-hot one
    names: list = field(default_factory=list)       # one per input: "column", or "column=category"
    missing: dict = field(default_factory=dict)     # column -> missing fields
    categories: dict = field(default_factory=dict)  # categorical column -> its categories, in one-hot order
    unknown: dict = field(default_factory=dict)     # categorical column -> values outside ``categories``

    def numeric(self, c: str, v: np.ndarray, miss: np.ndarray):
        self.values.append(v[:, None])
        self.names.append(c)
        self.missing[c] = int(miss.sum())


def value_columns(table: Table, target_cols: list[str], feature_cols: list[str], *,
                  categorical=None, categories=None, max_categories: int = MAX_CATEGORIES) -> ValueColumns:
    """Targets as numbers; each feature as numbers, or one-hot encoded when it has a
    non-numeric value, is in ``categorical``, or has its ``categories`` given."""
    path, lines = table.path, table.lines
    out = ValueColumns()
    forced = set(categorical or ())
    known = dict(categories or {})
    for c in target_cols:
        s = table.strings(c)
        v, miss, bad = parse_numbers(s)
        if bad >= 0:
            raise DataError(f"{path}: target column {c!r} is not numeric: line {lines[bad]} has {str(s[bad])!r}")
        if miss.all():
            raise DataError(f"{path}: target column {c!r} has no values")
        out.numeric(c, v, miss)
    for c in feature_cols:
        s = table.strings(c)
        bad = -1                                                     # named categorical
        if c not in forced and c not in known:
            v, miss, bad = parse_numbers(s)
            if bad < 0:
                if miss.all():
                    raise DataError(f"{path}: feature column {c!r} has no values; leave it out of the features")
                out.numeric(c, v, miss)
                continue
        onehot, cat_list, miss, n_unknown = one_hot(table, c, bad, known.get(c), max_categories)
        out.values.append(onehot)
        out.names += [f"{c}={k}" for k in cat_list]
        out.categories[c] = cat_list
        out.missing[c] = int(miss.sum())
        if n_unknown:
            out.unknown[c] = n_unknown
    return out


def one_hot(table: Table, c: str, bad: int, given, max_categories: int = MAX_CATEGORIES):
    """One-hot encode a categorical column -> ((T, n) float64, categories, missing mask, unknown count).
    ``bad`` is the first non-numeric field, or -1 when the column was named categorical;
    ``given``: the categories to use (from training), or None to take the column's own."""
    path, lines, s = table.path, table.lines, table.strings(c)
    miss = is_missing(s)
    if given is not None:
        cat_list = [str(k) for k in given]
    else:
        cat_list = [str(k) for k in np.unique(s[~miss])]
        where = f" (line {lines[bad]} has {str(s[bad])!r})" if bad >= 0 else ""
        if len(cat_list) > max_categories:
            raise DataError(f"{path}: column {c!r} has {len(cat_list)} distinct non-numeric values{where}; "
                            f"one-hot encoding takes at most {max_categories}: fix the values or leave "
                            f"the column out of the features")
        if bad >= 0:
            numeric = [k for k in cat_list if is_number(k)]
            if np.isin(s[~miss], numeric).mean() >= 0.5:
                raise DataError(f"{path}: feature column {c!r} is numeric but line {lines[bad]} has "
                                f"{str(s[bad])!r}; fix that value or leave the field empty (missing)")
    cat_arr = np.array(cat_list, dtype=str)
    if cat_arr.size == 0:
        return np.zeros((len(s), 0)), cat_list, miss, int(np.sum(~miss))
    srt = np.argsort(cat_arr)
    pos = np.minimum(np.searchsorted(cat_arr[srt], s), len(cat_arr) - 1)     # (T,)
    found = cat_arr[srt][pos] == s
    code = np.where(found, srt[pos], -1)                                      # -1: unknown category
    onehot = (code[:, None] == np.arange(len(cat_list))).astype(np.float64)   # (T, n)
    onehot[miss] = np.nan
    return onehot, cat_list, miss, int(np.sum(~found & ~miss))


# ---------------------------------------------------------------- missing values


def fill_missing(X: np.ndarray, how: str = DEFAULT_FILL, *, boundaries=(), source: str | None = None) -> np.ndarray:
    """Fill NaN along axis 0 of ``X`` ((T,) or (T, C)); returns a float64 copy.

    - ``ffill`` (default): the last value present at or before the row. Causal:
      nothing after row t is used, so no future value leaks into the inputs.
    - ``interpolate``: linear in the row number between the values on either side
      of a run; a run at the end of the data, or one that reaches a row in
      ``boundaries`` (e.g. ``split(...).boundaries``) before its next value, is
      forward-filled instead, so no value crosses a split boundary backwards.
    - ``drop``: nothing is filled; windows whose history has a missing value are
      then left out (``windows(valid=...)``). Rows are never deleted, which would
      silently join the two sides of a gap inside one window.

    Values before a column's first value stay NaN in every mode (nothing earlier to
    carry). Keep ``Series.observed`` (taken before filling) to leave missing
    targets unscored. ``source``: the file ``X`` comes from, named in the error.
    """
    if how not in FILL_METHODS:
        raise DataError(f"unknown missing-value method {how!r}; choose one of {', '.join(FILL_METHODS)}", source)
    X = np.array(X, dtype=np.float64)
    flat = X.ndim == 1
    if flat:
        X = X[:, None]
    isn = np.isnan(X)                                                 # (T, C)
    if how == "drop" or not isn.any():
        return X[:, 0] if flat else X
    T = len(X)
    rows = np.arange(T)[:, None]
    prev = np.maximum.accumulate(np.where(isn, -1, rows), axis=0)     # (T, C) last present row <= t
    out = np.take_along_axis(X, np.maximum(prev, 0), axis=0)
    out[prev < 0] = np.nan
    if how == "interpolate":
        nxt = np.minimum.accumulate(np.where(isn, T, rows)[::-1], axis=0)[::-1]   # next present row >= t
        b = np.unique(np.clip(np.asarray(boundaries, dtype=np.int64), 1, T))
        b = np.append(b[b < T], T)
        seg_end = b[np.searchsorted(b, np.arange(T), side="right")][:, None]       # (T, 1)
        ok = isn & (prev >= 0) & (nxt < seg_end)
        p, q = np.maximum(prev, 0), np.minimum(nxt, T - 1)
        xp, xq = np.take_along_axis(X, p, axis=0), np.take_along_axis(X, q, axis=0)
        w = (rows - p) / np.maximum(q - p, 1)
        out[ok] = (xp + w * (xq - xp))[ok]
    return out[:, 0] if flat else out


# ---------------------------------------------------------------- scaling


@dataclass
class Scaler:
    """Per-column standardisation, fitted on the training rows only."""
    mean: np.ndarray                # (C,)
    std: np.ndarray                 # (C,) never 0: a constant column gets 1
    names: list[str] = field(default_factory=list)

    @classmethod
    def fit(cls, X: np.ndarray, names: list[str] | None = None) -> "Scaler":
        """Mean and standard deviation of each column of ``X`` (T, C), NaN ignored. A
        constant column gets std 1 (so it scales to 0, not a division by zero); a
        column with no value at all gets mean 0, std 1."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim == 1:
            X = X[:, None]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)          # all-NaN columns
            mean = np.nanmean(X, axis=0) if len(X) else np.zeros(X.shape[1])
            std = np.nanstd(X, axis=0) if len(X) else np.ones(X.shape[1])
        mean = np.where(np.isfinite(mean), mean, 0.0)
        tiny = ~np.isfinite(std) | (std <= 1e-12 * np.maximum(1.0, np.abs(mean)))
        std = np.where(tiny, 1.0, std)
        return cls(mean, std, list(names) if names is not None else [])

    def _cols(self, columns):
        if columns is None:
            return self.mean, self.std
        return self.mean[columns], self.std[columns]

    def transform(self, X: np.ndarray, columns=None) -> np.ndarray:
        """(..., C) data units -> scaled; ``columns`` (slice or indices) picks a subset of C."""
        m, s = self._cols(columns)
        return (np.asarray(X, dtype=np.float64) - m) / s

    def inverse(self, Z: np.ndarray, columns=None) -> np.ndarray:
        """(..., C) scaled -> data units, e.g. ``inverse(pred, slice(0, n_targets))``."""
        m, s = self._cols(columns)
        return np.asarray(Z, dtype=np.float64) * s + m

    def to_dict(self) -> dict:
        """{"mean": (C,) float64, "std": (C,) float64, "names": list of str}: plain arrays and
        JSON-able values for an .npz checkpoint (no pickle)."""
        return {"mean": self.mean.copy(), "std": self.std.copy(), "names": list(self.names)}

    @classmethod
    def from_dict(cls, d: dict) -> "Scaler":
        mean = np.asarray(d["mean"], dtype=np.float64)
        std = np.asarray(d["std"], dtype=np.float64)
        names = [str(n) for n in np.asarray(d.get("names", []), dtype=str).ravel()]
        if mean.shape != std.shape or mean.ndim != 1 or np.any(std <= 0) or (names and len(names) != len(mean)):
            raise DataError("the stored scaler is damaged (mean, std and names do not match)")
        return cls(mean, std, names)
