"""Reading inputs: files, standard input, .gz, CSV columns; text to documents."""
from __future__ import annotations

import csv
import gzip
import hashlib
import io
import os
import re
import sys
import zipfile
from dataclasses import dataclass

from ..errors import DataError


@dataclass
class Source:
    name: str
    text: str
    digest: str      # sha256 of the raw bytes


def read_source(path: str, encoding: str = "utf-8") -> Source:
    """Read one input ('-' is standard input; .gz is decompressed)."""
    if path == "-":
        raw = sys.stdin.buffer.read()
        name = "<stdin>"
    else:
        name = path
        if not os.path.exists(path):
            raise DataError(f"{path}: no such file")
        if os.path.isdir(path):
            raise DataError(f"{path}: is a directory; give the text files inside it")
        try:
            with open(path, "rb") as f:
                raw = f.read()
        except OSError as e:
            raise DataError(f"{path}: cannot read ({e.strerror})") from None
        if path.endswith(".gz"):
            try:
                raw = gzip.decompress(raw)
            except (OSError, EOFError, zipfile.BadZipFile) as e:
                raise DataError(f"{path}: not a valid gzip file ({e})") from None
    if not raw.strip():
        raise DataError(f"{name}: is empty")
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as e:
        raise DataError(f"{name}: byte {e.start} is not valid {encoding} "
                        f"(0x{raw[e.start]:02x}); pass --encoding, e.g. --encoding latin-1") from None
    except LookupError:
        raise DataError(f"unknown encoding {encoding!r}") from None
    except (UnicodeError, ValueError) as e:  # codecs such as punycode raise their own errors
        raise DataError(f"{name}: cannot be decoded as {encoding} ({e})") from None
    return Source(name, text, hashlib.sha256(raw).hexdigest())


def documents(src: Source, csv_column: str | None = None) -> list[str]:
    """Blank lines separate documents in text; a CSV has one document per cell."""
    if csv_column is None:
        return [d for d in re.split(r"\n[ \t\r\f\v]*\n", src.text) if d.strip()]
    csv.field_size_limit(sys.maxsize)
    reader = csv.reader(io.StringIO(src.text))
    try:
        header = next(reader)
    except (StopIteration, csv.Error) as e:
        raise DataError(f"{src.name}: not a CSV file with a header row ({e})") from None
    if csv_column not in header:
        shown = ", ".join(header[:10]) + (", ..." if len(header) > 10 else "")
        raise DataError(f"{src.name}: no column {csv_column!r} in the CSV header (columns: {shown})")
    col = header.index(csv_column)
    try:
        return [row[col] for row in reader if len(row) > col and row[col].strip()]
    except csv.Error as e:
        raise DataError(f"{src.name}: malformed CSV ({e})") from None
