"""A CSV table as a file holds it: the bytes decoded (encoding, byte-order mark, NUL
bytes), the delimiter, one header row and the data rows with their line numbers;
columns found by name (a missing one named with a hint); numbers and missing values
in the fields, and the row-number column. Knows nothing about time or features.

    table = read_table("data.csv")                    # the file, read once
    names = table.columns("year,month", "time")       # checked against the header
    text = table.strings("pm2.5")                     # (n,) str, stripped
    v, miss, bad = parse_numbers(text)                # (n,) float64 with NaN, (n,) bool, first bad field
"""
from __future__ import annotations

import csv
import difflib
import io
import itertools
import sys

import numpy as np

from ..errors import DataError

# Field values read as "missing" (compared after stripping, case-insensitively).
MISSING_TOKENS = ("", "na", "n/a", "nan", "null", "none", "?", "#n/a")
_MISSING_SPELLINGS = np.array(sorted({"".join(p) for t in MISSING_TOKENS
                                      for p in itertools.product(*[{ch.lower(), ch.upper()} for ch in t])}),
                              dtype=str)
# A column is the file's row number (left out when ``features=None``) if its name is one
# of these (case-insensitive) and its values are integers that go up by exactly 1.
ROW_NUMBER_NAMES = ("", "no", "no.", "#", "n", "index", "idx", "id", "row", "rownum",
                    "row_number", "unnamed: 0")


class Table:
    """The header and data rows of a CSV file, every field as text."""

    def __init__(self, path: str, header: list[str], rows: list[list[str]], lines: list[int]):
        self.path = path
        self.header = header
        self.lines = np.asarray(lines, dtype=np.int64)       # (n,) the file's line number of each data row
        self._rows = rows
        self._columns = None                                 # one tuple of fields per column, once asked for
        self._index = {name: i for i, name in enumerate(header)}
        self._stripped = {}

    def __len__(self) -> int:
        return len(self.lines)

    def strings(self, name: str) -> np.ndarray:
        """(n,) str: the column's fields, stripped."""
        if name not in self._stripped:
            if self._columns is None:
                self._columns, self._rows = list(zip(*self._rows)), None
            self._stripped[name] = np.char.strip(np.array(self._columns[self._index[name]], dtype=str))
        return self._stripped[name]

    def columns(self, arg, what: str) -> list[str]:
        """Column names from a list, or a string (a header name, else split at commas);
        every one must be in the header (``what``: "time", "target" or "feature")."""
        if isinstance(arg, str):
            names = [arg] if arg in self.header else [a.strip() for a in arg.split(",") if a.strip()]
        else:
            names = [str(a) for a in arg]
        for name in names:
            if name not in self.header:
                raise DataError(_no_column(self.path, name, self.header, what))
        return names

    def no_repeats(self, names: list[str]):
        seen = set()
        for c in names:
            if c in seen:
                raise DataError(f"{self.path}: column {c!r} is given twice")
            seen.add(c)

    def one_column_each(self, names: list[str]):
        """Each of ``names`` is the name of one column only."""
        dup = [c for c in names if self.header.count(c) > 1]
        if dup:
            raise DataError(f"{self.path}: the header has more than one column named {dup[0]!r}; rename them")


# what a file that is not valid in its encoding asks of the user who chooses the encoding
PASS_ENCODING = "is it a CSV text file? If so, pass its encoding, e.g. --encoding latin-1"


def read_table(path: str, encoding: str = "utf-8", remedy: str = PASS_ENCODING) -> Table:
    """Read a CSV file with a header row. Delimiter comma, semicolon or tab (from the
    header line); quoted fields, CRLF, blank lines and a UTF-8 byte-order mark are fine.
    ``remedy``: what to do when the bytes are not valid ``encoding`` (a trained model
    reads its data in the encoding it was trained with)."""
    text = _decode(path, _read_bytes(path), encoding, remedy)
    header, rows, lines = _parse(path, text)
    return Table(path, header, rows, lines)


def _read_bytes(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory, not a CSV file") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror})") from None
    if not raw.strip():
        raise DataError(f"{path}: is empty")
    return raw


def _decode(path: str, raw: bytes, encoding: str, remedy: str = PASS_ENCODING) -> str:
    try:
        text = raw.decode("utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding)
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: byte {e.start} is not valid {encoding} (0x{raw[e.start]:02x}); {remedy}") from None
    except UnicodeError as e:                   # a codec that cannot start decoding (plain UnicodeError)
        raise DataError(f"{path}: cannot be read as {encoding} ({e})") from None
    except (LookupError, ValueError):           # ValueError: a NUL in the name
        raise DataError(f"unknown encoding {encoding!r}") from None
    text = text.lstrip("\ufeff")
    if "\x00" in text:
        raise DataError(f"{path}: is not a CSV text file (it contains NUL bytes)")
    return text


def _parse(path: str, text: str):
    """-> header (list of str), rows (list of lists of str), line numbers of the rows."""
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
                raise DataError(f"{path}: line {reader.line_num} has {len(row)} fields but the header "
                                f"has {len(header)}; is this a CSV file with one header row?")
            rows.append(row)
            lines.append(reader.line_num)
    except csv.Error as e:
        raise DataError(f"{path}: is not a readable CSV file (line {reader.line_num}: {e})") from None
    if header is None:
        raise DataError(f"{path}: is empty")
    return header, rows, lines


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


# ---------------------------------------------------------------- fields


def is_missing(s: np.ndarray) -> np.ndarray:
    """(n,) stripped strings -> (n,) bool: the field is one of ``MISSING_TOKENS``."""
    return np.isin(s, _MISSING_SPELLINGS)


def parse_numbers(s: np.ndarray):
    """Strings (stripped) -> (float64 values with NaN, missing mask, index of the first
    non-numeric field or -1). inf and nan count as missing."""
    miss = is_missing(s)
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


def is_number(x: str) -> bool:
    try:
        float(x)
        return True
    except ValueError:
        return False


def is_row_number(name: str, s: np.ndarray) -> bool:
    """Is the column ``name`` with fields ``s`` the file's row number (``ROW_NUMBER_NAMES``)?"""
    if name.strip().lower() not in ROW_NUMBER_NAMES:
        return False
    v, miss, bad = parse_numbers(s)
    return bad < 0 and not miss.any() and bool(np.all(np.diff(v) == 1))
