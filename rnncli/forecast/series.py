"""A multivariate time series read from a CSV file (``Series``): the table's columns
taken as the time index, the targets and the features, rows in time order, missing
values as NaN. It puts together ``table`` (the file), ``time`` (the index) and
``features`` (the values); the pieces after it, in the order ``rnn forecast`` uses
them (``task.series_arrays`` does this)::

    s = read_csv(path, time=["year", "month", "day", "hour"], target=["pm2.5"], features=None)
    sp = split(len(s), val_fraction=0.1, test_fraction=0.2)          # windows.py
    X = fill_missing(s.values, "ffill", boundaries=sp.boundaries)    # (T, C) targets first, then features
    cal, cal_names = calendar_features(s.time)                       # (T, 4) known in advance
    scaler = Scaler.fit(X[sp.train[0]:sp.train[1]], s.names)         # training rows only
    Z = np.hstack([scaler.transform(X), cal])                        # (T, C + 4) what the encoder sees
    ok = ~np.isnan(Z).any(axis=1)                                    # rows usable as encoder input
    enc, dec = windows(len(s), 72, 24, *sp.train, valid=ok, name="training")
    x = Z[enc]                                                       # (N, 72, C + 4) every history at once

Every number is float64; a problem is a ``DataError`` naming the file (and the line at fault).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import DataError
from .features import MAX_CATEGORIES, choose_features, value_columns
from .table import Table, read_table
from .time import TIME_PARTS, Gaps, find_gaps, modal_step, parse_time, time_order


@dataclass
class Series:
    """A series read by ``read_csv``: sorted by time, unique time stamps, missing values as NaN."""
    path: str
    time: np.ndarray              # (T,) datetime64[s] or float64, strictly increasing
    values: np.ndarray            # (T, C) float64: targets first, then features (one-hot expanded)
    names: list[str]              # (C,) column names; one-hot columns are "column=category"
    targets: list[str]            # target columns of the file
    features: list[str]           # feature columns of the file (before one-hot expansion)
    time_columns: list[str]       # the column(s) the time index came from
    categories: dict[str, list[str]]   # categorical column -> its categories, in one-hot order
    missing: dict[str, int]       # target or feature column of the file -> missing fields
    step: object = None           # modal time step: np.timedelta64 (months: unit 'M') or float
    gaps: Gaps = field(default_factory=Gaps)
    reordered: bool = False       # True when the file's rows were not in time order
    out_of_order: str = ""        # where first: "line 5 (2010-01-01 03:00) is earlier than line 4 (...)"
    unknown_categories: dict[str, int] = field(default_factory=dict)   # values outside ``categories``

    def __len__(self) -> int:
        return len(self.time)

    @property
    def n_targets(self) -> int:
        return len(self.targets)

    @property
    def observed(self) -> np.ndarray:
        """(T, n_targets) bool: True where the target value was present in the file."""
        return ~np.isnan(self.values[:, :self.n_targets])

    @property
    def is_datetime(self) -> bool:
        return np.issubdtype(self.time.dtype, np.datetime64)

    def schema(self) -> dict:
        """JSON-able description of the columns, for a checkpoint; ``read_like`` applies it."""
        return {"time": list(self.time_columns), "targets": list(self.targets),
                "features": list(self.features),
                "categories": {k: list(v) for k, v in self.categories.items()},
                "names": list(self.names)}


def read_csv(path: str, time: list[str] | str, target: list[str] | str,
             features: list[str] | str | None = None, encoding: str = "utf-8", *,
             categorical: list[str] | None = None,
             categories: dict[str, list[str]] | None = None,
             max_categories: int = MAX_CATEGORIES) -> Series:
    """Read a time series from a CSV file with a header row.

    ``time``: one column (ISO 8601 dates or date-times such as ``2010-01-05`` or
    ``2010-01-05 13:00``, or plain numbers) or several columns holding year, month,
    day, hour, minute, second in that order (a prefix: ``year,month`` is monthly),
    combined into ``datetime64[s]``. A string with commas is split into names.

    ``features=None`` takes every other column except the time columns, the
    targets, and a row-number column: one named like ``No``/``index``/``id`` (see
    ``table.ROW_NUMBER_NAMES``) whose values go up by exactly 1 on every row. A target
    listed among the features is used once, as a target.

    Numeric columns are float64 with NaN for missing fields (``table.MISSING_TOKENS``,
    ``inf`` and ``nan``). A feature with any other non-numeric value is categorical
    and one-hot encoded (categories sorted; a missing field gives NaN in all its
    one-hot columns); ``categorical`` forces that for numeric codes, and
    ``categories`` (from ``Series.categories`` of the training data) fixes the
    encoding so new data gets the same columns: unknown values then give all-zero
    one-hot rows and are counted in ``unknown_categories``.

    Rows are sorted by time (``reordered`` says whether they had to be); a
    repeated time stamp is an error; gaps are reported in ``gaps``, not fatal.
    Delimiter comma, semicolon or tab (from the header line); quoted fields, CRLF
    and a UTF-8 byte-order mark are fine. Raises ``DataError``.
    """
    return from_table(read_table(path, encoding), time, target, features, categorical=categorical,
                      categories=categories, max_categories=max_categories)


def from_table(table: Table, time: list[str] | str, target: list[str] | str,
               features: list[str] | str | None = None, *,
               categorical: list[str] | None = None,
               categories: dict[str, list[str]] | None = None,
               max_categories: int = MAX_CATEGORIES) -> Series:
    """``read_csv`` of a table already read (to look at its header first, say)."""
    time_cols, target_cols = _time_and_targets(table, time, target)
    feature_cols = choose_features(table, features, time_cols, target_cols)
    table.one_column_each(time_cols + target_cols + feature_cols)
    t, order, reordered, out_of_order = time_order(table, parse_time(table, time_cols))
    cols = value_columns(table, target_cols, feature_cols, categorical=categorical, categories=categories,
                         max_categories=max_categories)
    values = np.hstack(cols.values)[order]                           # (T, C)
    return Series(path=table.path, time=t, values=np.ascontiguousarray(values), names=cols.names,
                  targets=target_cols, features=feature_cols, time_columns=time_cols,
                  categories=cols.categories, missing=cols.missing, step=modal_step(t), gaps=find_gaps(t),
                  reordered=reordered, out_of_order=out_of_order, unknown_categories=cols.unknown)


def _time_and_targets(table: Table, time, target) -> tuple[list[str], list[str]]:
    """The time and target columns, checked, and a table with at least 2 rows."""
    path = table.path
    time_cols = table.columns(time, "time")
    target_cols = table.columns(target, "target")
    if not time_cols:
        raise DataError(f"{path}: no time column given")
    if not target_cols:
        raise DataError(f"{path}: no target column given")
    if len(time_cols) > len(TIME_PARTS):
        raise DataError(f"{path}: {len(time_cols)} time columns given; at most {len(TIME_PARTS)} "
                        f"({', '.join(TIME_PARTS)})")
    for c in target_cols:
        if c in time_cols:
            raise DataError(f"{path}: column {c!r} is the time column; it cannot be a target")
    table.no_repeats(time_cols + target_cols)
    n = len(table)
    if n == 0:
        raise DataError(f"{path}: has a header but no data rows")
    if n < 2:
        raise DataError(f"{path}: has only 1 data row; a time series needs at least 2")
    return time_cols, target_cols


def read_like(path: str, schema: dict, encoding: str = "utf-8") -> Series:
    """Read new data with the columns and one-hot encoding of ``Series.schema()``."""
    return from_table_like(read_table(path, encoding), schema)


def from_table_like(table: Table, schema: dict) -> Series:
    """``read_like`` of a table already read."""
    s = from_table(table, schema["time"], schema["targets"], list(schema["features"]),
                   categories=schema.get("categories") or {})
    if s.names != list(schema["names"]):
        raise DataError(f"{table.path}: its columns give {len(s.names)} inputs, not the "
                        f"{len(schema['names'])} the model was trained on")
    return s
