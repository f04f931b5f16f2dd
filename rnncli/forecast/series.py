"""A multivariate time series from a CSV file, made ready for a forecasting model:
reading and checking it, missing values, one-hot categorical columns, calendar
features, the scaler, the chronological split and the windows. Pure NumPy, no
I/O besides reading the CSV; knows nothing about the model.

The pieces, in the order ``rnn forecast`` uses them::

    s = read_csv(path, time=["year", "month", "day", "hour"], target=["pm2.5"], features=None)
    X = fill_missing(s.values, "ffill")               # (T, C) targets first, then features
    cal, cal_names = calendar_features(s.time)        # (T, 4) known in advance
    sp = split(len(s), val_fraction=0.1, test_fraction=0.2)
    scaler = Scaler.fit(X[sp.train[0]:sp.train[1]], s.names)    # training rows only
    Z = np.hstack([scaler.transform(X), cal])         # (T, C + 4) what the encoder sees
    ok = ~np.isnan(Z).any(axis=1)                     # rows usable as encoder input
    enc, dec = windows(len(s), 72, 24, *sp.train, valid=ok, name="training")
    w = make_windows(Z, Z[:, :s.n_targets], s.observed, enc, dec, known=cal)

Every number is float64. Windows are built by one fancy-indexing gather, never a
Python loop over windows; for long series gather per minibatch
(``make_windows(..., enc[b], dec[b])``) rather than all at once.
"""
from __future__ import annotations

import csv
import difflib
import io
import itertools
import sys
import warnings
from dataclasses import dataclass, field

import numpy as np


class SeriesError(Exception):
    """A problem with the user's series or settings, worded as one line that says what to do."""


# Field values read as "missing" (compared after stripping, case-insensitively).
MISSING_TOKENS = ("", "na", "n/a", "nan", "null", "none", "?", "#n/a")
# A column is the file's row number (left out when ``features=None``) if its name is one
# of these (case-insensitive) and its values are integers that go up by exactly 1.
_MISSING_SPELLINGS = np.array(sorted({"".join(p) for t in MISSING_TOKENS
                                      for p in itertools.product(*[{ch.lower(), ch.upper()} for ch in t])}),
                              dtype=str)
ROW_NUMBER_NAMES = ("", "no", "no.", "#", "n", "index", "idx", "id", "row", "rownum",
                    "row_number", "unnamed: 0")
# Components of a time index spread over several columns, in the order they are given.
TIME_PARTS = ("year", "month", "day", "hour", "minute", "second")
MAX_CATEGORIES = 64
FILL_METHODS = ("ffill", "interpolate", "drop")
# Forward fill is causal: a filled value at row t uses rows <= t only. Interpolation
# reads the first value after a gap, so an encoder whose history ends inside a gap
# would already see the value it is asked to forecast.
DEFAULT_FILL = "ffill"
CALENDAR_NAMES = ["hour_sin", "hour_cos", "dow_sin", "dow_cos"]


# ---------------------------------------------------------------- the series


@dataclass
class Gaps:
    """Steps in the sorted time index that differ from the modal step."""
    count: int = 0            # places where the step is a multiple (> 1) of the modal step
    missing_steps: int = 0    # modal steps absent in those places, in all
    irregular: int = 0        # steps that are not a whole multiple of the modal step
    first: list = field(default_factory=list)   # up to 5 (before, after) time stamps, as text

    def __bool__(self) -> bool:
        return bool(self.count or self.irregular)

    def __str__(self) -> str:
        if not self:
            return "no gaps"
        parts = []
        if self.count:
            parts.append(f"{self.count} gap{'s' * (self.count != 1)} "
                         f"({self.missing_steps} missing step{'s' * (self.missing_steps != 1)})")
        if self.irregular:
            parts.append(f"{self.irregular} irregular step{'s' * (self.irregular != 1)}")
        shown = ", ".join(f"{a} -> {b}" for a, b in self.first)
        return "; ".join(parts) + (f", first: {shown}" if shown else "")


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


# ---------------------------------------------------------------- reading


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
    ``ROW_NUMBER_NAMES``) whose values go up by exactly 1 on every row. A target
    listed among the features is used once, as a target.

    Numeric columns are float64 with NaN for missing fields (``MISSING_TOKENS``,
    ``inf`` and ``nan``). A feature with any other non-numeric value is categorical
    and one-hot encoded (categories sorted; a missing field gives NaN in all its
    one-hot columns); ``categorical`` forces that for numeric codes, and
    ``categories`` (from ``Series.categories`` of the training data) fixes the
    encoding so new data gets the same columns: unknown values then give all-zero
    one-hot rows and are counted in ``unknown_categories``.

    Rows are sorted by time (``reordered`` says whether they had to be); a
    repeated time stamp is an error; gaps are reported in ``gaps``, not fatal.
    Delimiter comma, semicolon or tab (from the header line); quoted fields, CRLF
    and a UTF-8 byte-order mark are fine. Raises ``SeriesError``.
    """
    header, rows, lines = _read_table(path, encoding)
    time_cols = _column_list(time, header, path, "time")
    target_cols = _column_list(target, header, path, "target")
    if not time_cols:
        raise SeriesError(f"{path}: no time column given")
    if not target_cols:
        raise SeriesError(f"{path}: no target column given")
    if len(time_cols) > len(TIME_PARTS):
        raise SeriesError(f"{path}: {len(time_cols)} time columns given; at most {len(TIME_PARTS)} "
                          f"({', '.join(TIME_PARTS)})")
    for c in target_cols:
        if c in time_cols:
            raise SeriesError(f"{path}: column {c!r} is the time column; it cannot be a target")
    _no_repeats(time_cols + target_cols, path)
    n = len(rows)
    if n == 0:
        raise SeriesError(f"{path}: has a header but no data rows")
    if n < 2:
        raise SeriesError(f"{path}: has only 1 data row; a time series needs at least 2")
    columns = {name: i for i, name in enumerate(header)}
    by_column = list(zip(*rows))
    cache = {}

    def strings(c):
        if c not in cache:
            cache[c] = np.char.strip(np.array(by_column[columns[c]], dtype=str))
        return cache[c]

    lines = np.asarray(lines)
    if features is None:
        skip = set(time_cols) | set(target_cols)
        feature_cols = [c for c in header if c not in skip and not _is_row_number(c, strings(c))]
    else:
        feature_cols = _column_list(features, header, path, "feature")
        for c in feature_cols:
            if c in time_cols:
                raise SeriesError(f"{path}: column {c!r} is the time column; it cannot also be a feature")
        feature_cols = [c for c in feature_cols if c not in target_cols]
        _no_repeats(feature_cols, path)
    dup = [c for c in time_cols + target_cols + feature_cols if header.count(c) > 1]
    if dup:
        raise SeriesError(f"{path}: the header has more than one column named {dup[0]!r}; rename them")

    t = _parse_time(path, time_cols, [strings(c) for c in time_cols], lines)
    order = np.argsort(t, kind="stable")
    reordered = bool(np.any(order != np.arange(n)))
    out_of_order = ""
    if reordered:
        i = int(np.flatnonzero(t[1:] < t[:-1])[0]) + 1
        out_of_order = (f"line {lines[i]} ({_fmt_time(t[i])}) is earlier than line {lines[i - 1]} "
                        f"({_fmt_time(t[i - 1])})")
    t = t[order]
    same = np.flatnonzero(t[1:] == t[:-1])
    if same.size:
        a, b = sorted((order[same[0]], order[same[0] + 1]))
        raise SeriesError(f"{path}: time {_fmt_time(t[same[0]])} occurs twice (lines {lines[a]} and "
                          f"{lines[b]}); a series needs one row per time stamp")

    cols, names, missing, cats, unknown = [], [], {}, {}, {}
    forced = set(categorical or ())
    known = dict(categories or {})
    for c in target_cols:
        s = strings(c)
        v, miss, bad = _parse_numeric(s)
        if bad >= 0:
            raise SeriesError(f"{path}: target column {c!r} is not numeric: line {lines[bad]} has {str(s[bad])!r}")
        if miss.all():
            raise SeriesError(f"{path}: target column {c!r} has no values")
        cols.append(v[:, None])
        names.append(c)
        missing[c] = int(miss.sum())
    for c in feature_cols:
        s = strings(c)
        bad = -1                                                     # named categorical
        if c not in forced and c not in known:
            v, miss, bad = _parse_numeric(s)
            if bad < 0:
                if miss.all():
                    raise SeriesError(f"{path}: feature column {c!r} has no values; leave it out of the features")
                cols.append(v[:, None])
                names.append(c)
                missing[c] = int(miss.sum())
                continue
        onehot, cat_list, miss, n_unknown = _one_hot(path, c, s, lines, bad, known.get(c), max_categories)
        cols.append(onehot)
        names += [f"{c}={k}" for k in cat_list]
        cats[c] = cat_list
        missing[c] = int(miss.sum())
        if n_unknown:
            unknown[c] = n_unknown
    values = np.hstack(cols)[order]                                  # (T, C)
    return Series(path=path, time=t, values=np.ascontiguousarray(values), names=names,
                  targets=target_cols, features=feature_cols, time_columns=time_cols,
                  categories=cats, missing=missing, step=modal_step(t), gaps=find_gaps(t),
                  reordered=reordered, out_of_order=out_of_order, unknown_categories=unknown)


def read_like(path: str, schema: dict, encoding: str = "utf-8") -> Series:
    """Read new data with the columns and one-hot encoding of ``Series.schema()``."""
    s = read_csv(path, schema["time"], schema["targets"], list(schema["features"]), encoding,
                 categories=schema.get("categories") or {})
    if s.names != list(schema["names"]):
        raise SeriesError(f"{path}: its columns give {len(s.names)} inputs, not the "
                          f"{len(schema['names'])} the model was trained on")
    return s


def _read_table(path: str, encoding: str):
    """-> header (list of str), rows (list of lists of str), line numbers of the rows."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise SeriesError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise SeriesError(f"{path}: is a directory, not a CSV file") from None
    except OSError as e:
        raise SeriesError(f"{path}: cannot read ({e.strerror})") from None
    if not raw.strip():
        raise SeriesError(f"{path}: is empty")
    try:
        text = raw.decode("utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding)
    except UnicodeDecodeError as e:
        raise SeriesError(f"{path}: byte {e.start} is not valid {encoding} (0x{raw[e.start]:02x}); "
                          f"is it a CSV text file? If so, pass its encoding, e.g. latin-1") from None
    except UnicodeError as e:                   # a codec that cannot start decoding (plain UnicodeError)
        raise SeriesError(f"{path}: cannot be read as {encoding} ({e})") from None
    except (LookupError, ValueError):           # ValueError: a NUL in the name
        raise SeriesError(f"unknown encoding {encoding!r}") from None
    text = text.lstrip("\ufeff")
    if "\x00" in text:
        raise SeriesError(f"{path}: is not a CSV text file (it contains NUL bytes)")
    first = text.lstrip("\r\n").split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=first.count)
    csv.field_size_limit(sys.maxsize)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header, rows, lines = None, [], []
    try:
        for row in reader:
            if not row:
                continue                                 # blank line
            if header is None:
                header = [h.strip() for h in row]
                continue
            if len(row) != len(header):
                raise SeriesError(f"{path}: line {reader.line_num} has {len(row)} fields but the header "
                                  f"has {len(header)}; is this a CSV file with one header row?")
            rows.append(row)
            lines.append(reader.line_num)
    except csv.Error as e:
        raise SeriesError(f"{path}: is not a readable CSV file (line {reader.line_num}: {e})") from None
    if header is None:
        raise SeriesError(f"{path}: is empty")
    return header, rows, lines


def _column_list(arg, header: list[str], path: str, what: str) -> list[str]:
    if isinstance(arg, str):
        names = [arg] if arg in header else [a.strip() for a in arg.split(",") if a.strip()]
    else:
        names = [str(a) for a in arg]
    for name in names:
        if name not in header:
            raise SeriesError(_no_column(path, name, header, what))
    return names


def _no_column(path: str, name: str, header: list[str], what: str) -> str:
    if len(header) == 1:
        return (f"{path}: no {what} column {name!r}: the header has a single column "
                f"({_shorten(header[0], 40)!r}); is this a CSV file with commas, semicolons or tabs?")
    close = difflib.get_close_matches(name, header, n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    shown, total = [], 0
    for h in header:
        total += len(h) + 2
        if total > 160:
            break
        shown.append(h)
    more = f", ... ({len(header) - len(shown)} more)" if len(shown) < len(header) else ""
    return f"{path}: no {what} column {name!r}{hint}; the columns are: {', '.join(shown)}{more}"


def _shorten(s: str, n: int) -> str:
    return s if len(s) <= n else s[:n - 3] + "..."


def _no_repeats(names: list[str], path: str):
    seen = set()
    for c in names:
        if c in seen:
            raise SeriesError(f"{path}: column {c!r} is given twice")
        seen.add(c)


def _is_missing(s: np.ndarray) -> np.ndarray:
    return np.isin(s, _MISSING_SPELLINGS)


def _parse_numeric(s: np.ndarray):
    """Strings (stripped) -> (float64 values with NaN, missing mask, index of the first
    non-numeric field or -1). inf and nan count as missing."""
    miss = _is_missing(s)
    v = np.full(len(s), np.nan)
    present = np.flatnonzero(~miss)
    try:
        v[present] = s[present].astype(np.float64)
    except ValueError:
        for i in present:
            try:
                float(s[i])
            except ValueError:
                return None, miss, int(i)
        raise
    miss |= ~np.isfinite(v)
    v[miss] = np.nan
    return v, miss, -1


def _is_row_number(name: str, s: np.ndarray) -> bool:
    if name.strip().lower() not in ROW_NUMBER_NAMES:
        return False
    v, miss, bad = _parse_numeric(s)
    return bad < 0 and not miss.any() and bool(np.all(np.diff(v) == 1))


def _one_hot(path, c, s, lines, bad, given, max_categories):
    """One-hot encode a categorical column -> ((T, n) float64, categories, missing mask, unknown count).
    ``bad`` is the first non-numeric field, or -1 when the column was named categorical."""
    miss = _is_missing(s)
    if given is not None:
        cat_list = [str(k) for k in given]
    else:
        cat_list = [str(k) for k in np.unique(s[~miss])]
        where = f" (line {lines[bad]} has {str(s[bad])!r})" if bad >= 0 else ""
        if len(cat_list) > max_categories:
            raise SeriesError(f"{path}: column {c!r} has {len(cat_list)} distinct non-numeric values{where}; "
                              f"one-hot encoding takes at most {max_categories}: fix the values or leave "
                              f"the column out of the features")
        if bad >= 0:
            numeric = [k for k in cat_list if _is_number(k)]
            if np.isin(s[~miss], numeric).mean() >= 0.5:
                raise SeriesError(f"{path}: feature column {c!r} is numeric but line {lines[bad]} has "
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


def _is_number(x: str) -> bool:
    try:
        float(x)
        return True
    except ValueError:
        return False


# ---------------------------------------------------------------- time


def _parse_time(path, names, strs, lines) -> np.ndarray:
    for c, s in zip(names, strs):
        miss = _is_missing(s)
        if miss.any():
            i = int(np.argmax(miss))
            raise SeriesError(f"{path}: time column {c!r} is empty on line {lines[i]}; every row needs a time")
    if len(names) == 1:
        c, s = names[0], strs[0]
        v, miss, bad = _parse_numeric(s)
        if bad < 0:
            if miss.any():
                i = int(np.argmax(miss))
                raise SeriesError(f"{path}: time column {c!r} has {str(s[i])!r} on line {lines[i]}; "
                                  f"times must be finite numbers or dates")
            return v
        s = np.char.rstrip(s, "Zz")            # a UTC "Z" suffix: the time stays as written
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                t = s.astype("datetime64[s]")
            except (ValueError, OverflowError):
                t = None
            if t is not None and not np.isnat(t).any():
                return t
            for i, x in enumerate(s):
                try:
                    ok = not np.isnat(np.datetime64(str(x), "s"))
                except (ValueError, OverflowError):
                    ok = False
                if not ok:
                    raise SeriesError(f"{path}: time column {c!r} has {str(x)!r} on line {lines[i]}, which is "
                                      f"neither a number nor an ISO date (2010-01-05 or 2010-01-05 13:00)")
        raise SeriesError(f"{path}: cannot read time column {c!r}")       # not reached
    parts = []
    for c, s, what in zip(names, strs, TIME_PARTS):
        v, miss, bad = _parse_numeric(s)
        if bad < 0 and not miss.any():
            bad = int(np.argmax(v != np.round(v))) if np.any(v != np.round(v)) else -1
        elif bad < 0:
            bad = int(np.argmax(miss))
        if bad >= 0:
            raise SeriesError(f"{path}: time column {c!r} (the {what}) has {str(s[bad])!r} on line {lines[bad]}; "
                              f"expected a whole number")
        parts.append(v.astype(np.int64))
    limits = {"month": (1, 12), "day": (1, 31), "hour": (0, 23), "minute": (0, 59), "second": (0, 59)}
    for c, v, what in zip(names, parts, TIME_PARTS):
        if what in limits:
            lo, hi = limits[what]
            out = (v < lo) | (v > hi)
            if out.any():
                i = int(np.argmax(out))
                raise SeriesError(f"{path}: time column {c!r} (the {what}) has {v[i]} on line {lines[i]}; "
                                  f"expected {lo} to {hi}")
    year = parts[0]
    month = parts[1] if len(parts) > 1 else np.ones_like(year)
    day = parts[2] if len(parts) > 2 else np.ones_like(year)
    months = ((year - 1970) * 12 + month - 1).astype("datetime64[M]")
    date = months.astype("datetime64[D]") + (day - 1).astype("timedelta64[D]")
    wrong = date.astype("datetime64[M]") != months
    if wrong.any():
        i = int(np.argmax(wrong))
        raise SeriesError(f"{path}: line {lines[i]}: {year[i]}-{month[i]:02d}-{day[i]:02d} is not a date")
    seconds = np.zeros_like(year)
    for v, mult in zip(parts[3:], (3600, 60, 1)):
        seconds = seconds + v * mult
    return date.astype("datetime64[s]") + seconds.astype("timedelta64[s]")


def _fmt_time(x) -> str:
    if isinstance(x, np.datetime64):
        s = str(x)
        return s[:-3] if s.endswith(":00") and len(s) > 16 else s
    return f"{float(x):g}"


def modal_step(time: np.ndarray):
    """The most common step between consecutive (sorted) time stamps: ``np.timedelta64``
    in seconds, or one month (``np.timedelta64(1, 'M')``) or year (``(1, 'Y')``) when the
    steps are 28-31 or 365-366 days; a float for a numeric index; None if fewer than 2."""
    time = np.asarray(time)
    if len(time) < 2:
        return None
    if not np.issubdtype(time.dtype, np.datetime64):
        d = np.diff(time.astype(np.float64))
        u, c = np.unique(d, return_counts=True)
        return float(u[np.argmax(c)])
    d = np.diff(time.astype("datetime64[s]").astype(np.int64))
    u, c = np.unique(d, return_counts=True)
    step = int(u[np.argmax(c)])
    day = 86400
    if 28 * day <= step <= 31 * day:
        return np.timedelta64(1, "M")
    if 365 * day <= step <= 366 * day:
        return np.timedelta64(1, "Y")
    return np.timedelta64(step, "s")


def _steps_in_units(time: np.ndarray, step):
    """Consecutive differences of ``time`` divided by ``step`` (float)."""
    if not np.issubdtype(time.dtype, np.datetime64):
        return np.diff(time.astype(np.float64)) / step
    unit = np.datetime_data(step.dtype)[0]
    if unit in ("M", "Y"):
        return np.diff(time.astype(f"datetime64[{unit}]").astype(np.int64)).astype(np.float64)
    return np.diff(time.astype("datetime64[s]").astype(np.int64)) / step.astype(np.int64)


def find_gaps(time: np.ndarray, max_shown: int = 5) -> Gaps:
    """Where the sorted ``time`` index skips steps (or steps irregularly)."""
    step = modal_step(time)
    if step is None or (not isinstance(step, np.timedelta64) and step <= 0):
        return Gaps()
    r = _steps_in_units(np.asarray(time), step)
    whole = np.abs(r - np.round(r)) < 1e-9
    gap = whole & (np.round(r) > 1)
    irregular = ~whole
    where = np.flatnonzero(gap | irregular)[:max_shown]
    return Gaps(count=int(gap.sum()), missing_steps=int(np.sum(np.round(r[gap]) - 1)),
                irregular=int(irregular.sum()),
                first=[(_fmt_time(time[i]), _fmt_time(time[i + 1])) for i in where])


def future_time(time: np.ndarray, horizon: int) -> np.ndarray:
    """The ``horizon`` time stamps after the last one, at the modal step: (horizon,)."""
    time = np.asarray(time)
    step = modal_step(time)
    if step is None:
        raise SeriesError("a series needs at least 2 time stamps to know its step")
    k = np.arange(1, horizon + 1)
    if not isinstance(step, np.timedelta64):
        return time[-1] + step * k.astype(np.float64)
    unit = np.datetime_data(step.dtype)[0]
    if unit in ("M", "Y"):
        last = time[-1].astype(f"datetime64[{unit}]")
        offset = time[-1] - last.astype("datetime64[s]")      # e.g. the day within the month
        return (last + k).astype("datetime64[s]") + offset
    return time[-1] + step * k


def calendar_features(time: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Hour of day and day of week as sine and cosine: ((T, 4) float64, ``CALENDAR_NAMES``).

    Known for future rows too (``future_time``), so they can feed the decoder."""
    time = np.asarray(time)
    if not np.issubdtype(time.dtype, np.datetime64):
        raise SeriesError("calendar features need dates or times in the time column, not plain numbers")
    s = time.astype("datetime64[s]").astype(np.int64)                # seconds since 1970-01-01
    day_frac = (s % 86400) / 86400.0
    dow = ((s // 86400) + 3) % 7                                     # 1970-01-01 was a Thursday; Monday = 0
    a, b = 2 * np.pi * day_frac, 2 * np.pi * dow / 7.0
    return np.stack([np.sin(a), np.cos(a), np.sin(b), np.cos(b)], axis=1), list(CALENDAR_NAMES)


# ---------------------------------------------------------------- missing values


def fill_missing(X: np.ndarray, how: str = DEFAULT_FILL, *, boundaries=()) -> np.ndarray:
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
    targets unscored.
    """
    if how not in FILL_METHODS:
        raise SeriesError(f"unknown missing-value method {how!r}; choose one of {', '.join(FILL_METHODS)}")
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
            raise SeriesError("the stored scaler is damaged (mean, std and names do not match)")
        return cls(mean, std, names)


# ---------------------------------------------------------------- split and windows


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


def split(n_rows: int, val_fraction: float = 0.1, test_fraction: float = 0.2) -> Split:
    """Train, validation and test parts in time order; each fraction is of the rows
    (rounded), the test part last. Fractions may be 0."""
    for name, f in (("validation", val_fraction), ("test", test_fraction)):
        if not (0.0 <= f < 1.0):
            raise SeriesError(f"the {name} fraction must be at least 0 and below 1, not {f}")
    if val_fraction + test_fraction >= 1.0:
        raise SeriesError(f"validation and test fractions add up to {val_fraction + test_fraction:g}; "
                          f"they must leave rows for training")
    n_test = int(np.floor(n_rows * test_fraction + 0.5))
    n_val = int(np.floor(n_rows * val_fraction + 0.5))
    n_train = n_rows - n_val - n_test
    if n_train < 1:
        raise SeriesError(f"{n_rows} rows leave none for training with these fractions")
    return Split((0, n_train), (n_train, n_train + n_val), (n_train + n_val, n_rows))


def windows(n_rows: int, history: int, horizon: int, start: int = 0, stop: int | None = None, *,
            valid: np.ndarray | None = None, name: str = "data") -> tuple[np.ndarray, np.ndarray]:
    """Every window that lies entirely inside rows [start, stop), one per start row.

    A window is ``history`` encoder rows followed by ``horizon`` decoder rows, so no
    window crosses a split boundary. ``valid`` (n_rows,) bool marks rows usable as
    encoder input (no NaN left after filling); windows with an invalid history row
    are left out. Returns (enc_idx (N, history), dec_idx (N, horizon)), int64 row
    indices: ``X[enc_idx]`` gathers every encoder input at once. The forecast origin
    of a window is ``enc_idx[:, -1]``. Raises ``SeriesError`` when no window fits.
    """
    stop = n_rows if stop is None else stop
    if history < 1 or horizon < 1:
        raise SeriesError(f"history and horizon must be at least 1 (got {history} and {horizon})")
    if not (0 <= start <= stop <= n_rows):
        raise SeriesError(f"rows [{start}, {stop}) are not inside a series of {n_rows} rows")
    need = history + horizon
    if stop - start < need:
        raise SeriesError(f"history {history} + horizon {horizon} = {need} rows, but the {name} part has "
                          f"only {stop - start}; shorten the history or the horizon, or give more data")
    s = np.arange(start, stop - need + 1, dtype=np.int64)            # (N,) window start rows
    if valid is not None:
        valid = np.asarray(valid, dtype=bool)
        bad = np.concatenate([[0], np.cumsum(~valid)])               # invalid rows before each row
        s = s[bad[s + history] == bad[s]]
        if s.size == 0:
            raise SeriesError(f"no window of the {name} part has a history without missing values; "
                              f"fill them (ffill or interpolate) or shorten the history")
    enc = s[:, None] + np.arange(history)                             # (N, history)
    dec = s[:, None] + history + np.arange(horizon)                   # (N, horizon)
    return enc, dec


@dataclass
class Windows:
    """Window tensors for the model and the metrics."""
    x: np.ndarray        # (N, history, F) encoder inputs
    y: np.ndarray        # (N, horizon, K) decoder targets; non-finite (never-filled) values set to 0
    known: np.ndarray    # (N, horizon, Fk) known-future covariates at the horizon rows (Fk may be 0)
    mask: np.ndarray     # (N, horizon, K) bool: True where the target was observed; score only these
    origin: np.ndarray   # (N,) int64 row of the last history step

    def __len__(self) -> int:
        return len(self.x)


def make_windows(X: np.ndarray, Y: np.ndarray, observed: np.ndarray, enc_idx: np.ndarray,
                 dec_idx: np.ndarray, known: np.ndarray | None = None) -> Windows:
    """Gather window tensors: one fancy-indexing gather per tensor, no loop over windows.

    X (T, F) encoder inputs; Y (T, K) targets (filled, in the model's units);
    observed (T, K) bool, present in the file (``Series.observed``); known (T, Fk)
    known-future covariates, e.g. ``calendar_features``; indices from ``windows``.
    The mask is per target so that several targets can miss values independently
    (``mask[..., 0]`` is the (N, horizon) mask of a single target).
    """
    X, Y = np.asarray(X, dtype=np.float64), np.asarray(Y, dtype=np.float64)
    if Y.ndim == 1:
        Y = Y[:, None]
    observed = np.asarray(observed, dtype=bool).reshape(len(Y), -1)
    x = X[enc_idx]                                                    # (N, H, F)
    y = Y[dec_idx]                                                    # (N, K, nt)
    finite = np.isfinite(y)
    mask = observed[dec_idx] & finite                                 # (N, K, nt)
    y = np.where(finite, y, 0.0)
    if known is None:
        kn = np.zeros(dec_idx.shape + (0,))
    else:
        kn = np.asarray(known, dtype=np.float64)[dec_idx]            # (N, K, Fk)
    return Windows(x, y, kn, mask, enc_idx[:, -1].copy())


def horizon_known(time: np.ndarray, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Time stamps and calendar features of the ``horizon`` steps after the data, for
    predicting past the end: ((horizon,), (horizon, 4))."""
    t = future_time(time, horizon)
    return t, calendar_features(t)[0]


__all__ = ["SeriesError", "Series", "Gaps", "Scaler", "Split", "Windows", "read_csv", "read_like",
           "fill_missing", "calendar_features", "future_time", "horizon_known", "modal_step",
           "find_gaps", "split", "windows", "make_windows", "MISSING_TOKENS", "ROW_NUMBER_NAMES",
           "FILL_METHODS", "DEFAULT_FILL", "CALENDAR_NAMES"]
