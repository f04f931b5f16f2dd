"""The time index: time columns of a table parsed into ``datetime64[s]`` (ISO dates, or
year, month, day, hour, minute, second columns) or plain numbers, rows put in time
order with repeats refused; its modal step and gaps; the time stamps after the end;
and the calendar features (hour of day, day of week) known for future rows too."""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from ..errors import DataError
from .table import Table, is_missing, parse_numbers

# Components of a time index spread over several columns, in the order they are given.
TIME_PARTS = ("year", "month", "day", "hour", "minute", "second")
CALENDAR_NAMES = ["hour_sin", "hour_cos", "dow_sin", "dow_cos"]
_PART_LIMITS = {"month": (1, 12), "day": (1, 31), "hour": (0, 23), "minute": (0, 59), "second": (0, 59)}


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


# ---------------------------------------------------------------- parsing


def parse_time(table: Table, names: list[str]) -> np.ndarray:
    """The time of each row of ``table`` from its column(s) ``names``, in file order:
    (n,) datetime64[s], or float64 for one numeric column."""
    path, lines = table.path, table.lines
    for c in names:
        miss = is_missing(table.strings(c))
        if miss.any():
            i = int(np.argmax(miss))
            raise DataError(f"{path}: time column {c!r} is empty on line {lines[i]}; every row needs a time")
    if len(names) == 1:
        return _one_column(table, names[0])
    return _from_parts(table, names)


def _one_column(table: Table, c: str) -> np.ndarray:
    """Numbers, or ISO 8601 dates and date-times (a UTC "Z" suffix allowed)."""
    path, lines, s = table.path, table.lines, table.strings(c)
    v, miss, bad = parse_numbers(s)
    if bad < 0:
        if miss.any():
            i = int(np.argmax(miss))
            raise DataError(f"{path}: time column {c!r} has {str(s[i])!r} on line {lines[i]}; "
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
                raise DataError(f"{path}: time column {c!r} has {str(x)!r} on line {lines[i]}, which is "
                                f"neither a number nor an ISO date (2010-01-05 or 2010-01-05 13:00)")
    raise DataError(f"{path}: cannot read time column {c!r}")       # not reached


def _from_parts(table: Table, names: list[str]) -> np.ndarray:
    """Year, month, day, hour, minute, second columns (a prefix of them) -> datetime64[s]."""
    path, lines = table.path, table.lines
    parts = []
    for c, what in zip(names, TIME_PARTS):
        s = table.strings(c)
        v, miss, bad = parse_numbers(s)
        if bad < 0 and not miss.any():
            bad = int(np.argmax(v != np.round(v))) if np.any(v != np.round(v)) else -1
        elif bad < 0:
            bad = int(np.argmax(miss))
        if bad >= 0:
            raise DataError(f"{path}: time column {c!r} (the {what}) has {str(s[bad])!r} on line {lines[bad]}; "
                            f"expected a whole number")
        parts.append(v.astype(np.int64))
    for c, v, what in zip(names, parts, TIME_PARTS):
        if what in _PART_LIMITS:
            lo, hi = _PART_LIMITS[what]
            out = (v < lo) | (v > hi)
            if out.any():
                i = int(np.argmax(out))
                raise DataError(f"{path}: time column {c!r} (the {what}) has {v[i]} on line {lines[i]}; "
                                f"expected {lo} to {hi}")
    year = parts[0]
    month = parts[1] if len(parts) > 1 else np.ones_like(year)
    day = parts[2] if len(parts) > 2 else np.ones_like(year)
    months = ((year - 1970) * 12 + month - 1).astype("datetime64[M]")
    date = months.astype("datetime64[D]") + (day - 1).astype("timedelta64[D]")
    wrong = date.astype("datetime64[M]") != months
    if wrong.any():
        i = int(np.argmax(wrong))
        raise DataError(f"{path}: line {lines[i]}: {year[i]}-{month[i]:02d}-{day[i]:02d} is not a date")
    seconds = np.zeros_like(year)
    for v, mult in zip(parts[3:], (3600, 60, 1)):
        seconds = seconds + v * mult
    return date.astype("datetime64[s]") + seconds.astype("timedelta64[s]")


def time_order(table: Table, t: np.ndarray):
    """Sort the rows by time: -> (sorted t, order (n,) int64 with t_sorted = t[order],
    reordered, where the file first goes back in time or ""). A repeated time is an error."""
    path, lines = table.path, table.lines
    order = np.argsort(t, kind="stable")
    reordered = bool(np.any(order != np.arange(len(t))))
    out_of_order = ""
    if reordered:
        i = int(np.flatnonzero(t[1:] < t[:-1])[0]) + 1
        out_of_order = (f"line {lines[i]} ({format_time(t[i])}) is earlier than line {lines[i - 1]} "
                        f"({format_time(t[i - 1])})")
    t = t[order]
    same = np.flatnonzero(t[1:] == t[:-1])
    if same.size:
        a, b = sorted((order[same[0]], order[same[0] + 1]))
        raise DataError(f"{path}: time {format_time(t[same[0]])} occurs twice (lines {lines[a]} and "
                        f"{lines[b]}); a series needs one row per time stamp")
    return t, order, reordered, out_of_order


def format_time(x) -> str:
    """A time stamp as messages show it: ISO without ":00" seconds, or a number (%g)."""
    if isinstance(x, np.datetime64):
        s = str(x)
        return s[:-3] if s.endswith(":00") and len(s) > 16 else s
    return f"{float(x):g}"


def display_time(x) -> str:
    """A time stamp as the user wrote it: '2014-06-01 12:00', or a number."""
    return format_time(x).replace("T", " ")


# ---------------------------------------------------------------- step and gaps


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
                first=[(format_time(time[i]), format_time(time[i + 1])) for i in where])


# ---------------------------------------------------------------- the future


def future_time(time: np.ndarray, horizon: int) -> np.ndarray:
    """The ``horizon`` time stamps after the last one, at the modal step: (horizon,)."""
    time = np.asarray(time)
    step = modal_step(time)
    if step is None:
        raise DataError("a series needs at least 2 time stamps to know its step")
    k = np.arange(1, horizon + 1)
    if not isinstance(step, np.timedelta64):
        return time[-1] + step * k.astype(np.float64)
    unit = np.datetime_data(step.dtype)[0]
    if unit in ("M", "Y"):
        last = time[-1].astype(f"datetime64[{unit}]")
        offset = time[-1] - last.astype("datetime64[s]")      # e.g. the day within the month
        return (last + k).astype("datetime64[s]") + offset
    return time[-1] + step * k


def calendar_features(time: np.ndarray, *, source: str | None = None) -> tuple[np.ndarray, list[str]]:
    """Hour of day and day of week as sine and cosine: ((T, 4) float64, ``CALENDAR_NAMES``).

    Known for future rows too (``future_time``), so they can feed the decoder.
    ``source``: the file the times come from, named in the error."""
    time = np.asarray(time)
    if not np.issubdtype(time.dtype, np.datetime64):
        raise DataError("calendar features need dates or times in the time column, not plain numbers", source)
    s = time.astype("datetime64[s]").astype(np.int64)                # seconds since 1970-01-01
    day_frac = (s % 86400) / 86400.0
    dow = ((s // 86400) + 3) % 7                                     # 1970-01-01 was a Thursday; Monday = 0
    a, b = 2 * np.pi * day_frac, 2 * np.pi * dow / 7.0
    return np.stack([np.sin(a), np.cos(a), np.sin(b), np.cos(b)], axis=1), list(CALENDAR_NAMES)
