"""Reading inputs: files, standard input, .gz and CSV columns, streamed as decoded text
blocks of about a megabyte, and from there as documents (blank lines separate them;
a CSV has one per cell). No function here holds more than a block or one CSV row of
raw text, except the in-memory helpers ``read_source`` and ``documents`` that tests
and small inputs use.

Text is normalised as it is decoded: a byte-order mark is dropped (a UTF-16 or UTF-32
one also selects that encoding), CR LF and lone CR become LF, and NUL bytes become
spaces (they are never part of a word)."""
from __future__ import annotations

import codecs
import csv
import gzip
import hashlib
import os
import re
import sys
import zlib
from dataclasses import dataclass
from typing import Iterator

from ..errors import DataError

BLOCK = 1 << 20          # raw bytes read at a time
SAMPLE_REPLAY = 8 << 20  # standard input: text kept for a second pass (the Punkt training sample)
PLACEHOLDER = "\ufdd0"   # a noncharacter the tokenizer uses internally; read as a space

_BLANK = re.compile(r"\n[ \t\r\f\v]*\n")   # the separator between documents (as before streaming)


def _clip(s: str, n: int = 60) -> str:
    """A piece of input quoted in a message, bounded."""
    s = s.replace("\n", " ")
    return s if len(s) <= n else s[:n] + "..."


@dataclass
class Source:
    """A whole input in memory (tests and small inputs; the streaming path uses Input)."""
    name: str
    text: str
    digest: str      # sha256 of the raw (decompressed) bytes


@dataclass
class Fragment:
    """Consecutive text of one document; ``new_doc`` marks the first fragment of a document."""
    text: str
    new_doc: bool
    source: int          # index of the input it came from
    raw_pos: int         # bytes of all inputs read when this fragment was complete (progress)


def decode_error(name: str, enc: str, e: UnicodeError, base: int, where: str = "") -> DataError:
    """The one-line error for text that cannot be read as ``enc``: the offset (``base`` +
    the error's start) and value of the first bad byte, or, for a plain UnicodeError
    (utf-16 / utf-32 without a byte-order mark), what the codec said."""
    if isinstance(e, UnicodeDecodeError):
        bad = e.object[e.start] if e.start < len(e.object) else 0
        return DataError(f"{name}: byte {base + e.start} {where}is not valid {enc} (0x{bad:02x}); "
                         f"pass --encoding, e.g. --encoding latin-1")
    return DataError(f"{name}: cannot be read as {enc} ({e}); pass another --encoding, "
                     f"e.g. utf-16-le or utf-16-be for UTF-16 without a byte-order mark")


class Input:
    """One input: a file, a .gz file or '-' (standard input), read in blocks."""

    def __init__(self, path: str, encoding: str | None = "utf-8"):
        self.path = path
        self.name = "<stdin>" if path == "-" else path
        self.encoding = encoding or "utf-8"
        self.detected = None         # an encoding chosen from a byte-order mark
        self.seen_text = False       # some non-whitespace text was read
        self._digest = None
        self._replay: list | None = []   # standard input: blocks a later pass is served again
        self._stdin_live = None          # standard input's decoding generator, between passes
        self.size = None             # bytes on disk (the compressed size for .gz)
        self._stat = None            # the file as check() found it: a read must end on the same file
        self.stream = path == "-"    # read once (standard input, a pipe): no digest, no cache

    # -------------------------------------------------------------- checks

    def check(self):
        """Existence, type and the encoding's name: before minutes of tokenizing."""
        try:
            info = codecs.lookup(self.encoding)
        except (LookupError, ValueError):   # ValueError: a NUL in the name
            raise DataError(f"unknown encoding {_clip(self.encoding)!r}") from None
        if not getattr(info, "_is_text_encoding", True):
            raise DataError(f"--encoding {_clip(self.encoding)}: not a text encoding")
        if self.path == "-":
            return
        if not os.path.exists(self.path):
            raise DataError(f"{self.path}: no such file")
        if os.path.isdir(self.path):
            raise DataError(f"{self.path}: is a directory; give the text files inside it")
        try:
            if os.path.isfile(self.path):
                self._stat = os.stat(self.path)
                self.size = self._stat.st_size
            else:
                self.stream = True   # a named pipe or <(zcat ...): it can be read only once
        except OSError as e:
            raise DataError(f"{self.path}: cannot read ({e.strerror})") from None

    # -------------------------------------------------------------- raw bytes

    def _raw(self) -> Iterator[tuple[bytes, int]]:
        """(raw decompressed bytes, bytes of the file read so far)."""
        if self.path == "-":
            pos = 0
            while True:
                b = sys.stdin.buffer.read(BLOCK)
                if not b:
                    return
                pos += len(b)
                yield b, pos
        try:
            f = open(self.path, "rb")   # a stream's is opened once: its generator is kept (blocks)
        except OSError as e:
            raise DataError(f"{self.path}: cannot read ({e.strerror})") from None
        with f:
            if self.path.endswith(".gz"):
                yield from self._gunzip(f)
                return
            pos = 0
            while True:
                try:
                    b = f.read(BLOCK)
                except OSError as e:
                    self._check_unchanged(f)
                    raise DataError(f"{self.path}: cannot read at byte {pos} ({e.strerror})") from None
                if not b:
                    self._check_unchanged(f, pos)
                    return
                pos += len(b)
                yield b, pos

    def _gunzip(self, f):
        """(decompressed bytes, compressed bytes read) in blocks of BLOCK. Damage is
        reported with the text delivered before it, what zcat recovers: each read1 is
        one decompression step, so a failing step loses nothing already decompressed."""
        gz = gzip.GzipFile(fileobj=f, mode="rb")
        out, buf = 0, bytearray()        # text delivered; the part of it not yet yielded
        while True:
            try:
                b = gz.read1(BLOCK - len(buf))
            except (gzip.BadGzipFile, EOFError, zlib.error) as e:
                self._check_unchanged(f)
                if out == 0 and isinstance(e, gzip.BadGzipFile):
                    raise DataError(f"{self.path}: not a valid gzip file ({_clip(str(e), 80)})") from None
                raise DataError(f"{self.path}: damaged gzip data after {out:,} bytes of text "
                                f"({_clip(str(e), 80)})") from None
            except OSError as e:
                raise DataError(f"{self.path}: cannot read ({e.strerror or _clip(str(e), 80)})") from None
            out += len(b)
            buf += b
            if buf and (not b or len(buf) >= BLOCK):
                yield bytes(buf), out if self.stream else f.tell()   # progress in compressed bytes of a file
                buf.clear()
            if not b:
                self._check_unchanged(f, f.tell())
                return

    def _check_unchanged(self, f, end: int | None = None):
        """A file that changed while it was read (cut short, grown, rewritten, replaced)
        would be trained on as whatever part was read: refused. ``end``: the bytes read
        when the read reached its end, which must be the size check() found."""
        was = self._stat
        if was is None or self.stream:
            return
        try:
            now = os.fstat(f.fileno())
        except (OSError, ValueError):
            return
        if (now.st_dev, now.st_ino) != (was.st_dev, was.st_ino):
            what = "it was replaced by another file"
        elif now.st_size != was.st_size:
            what = f"{was.st_size:,} bytes when it was opened, {now.st_size:,} now"
        elif end is not None and end != was.st_size:
            what = f"{end:,} of its {was.st_size:,} bytes could be read"
        elif now.st_mtime_ns != was.st_mtime_ns:
            what = "it was modified"
        else:
            return
        raise DataError(f"{self.path}: changed while it was being read ({what}); run the command again once "
                        f"the file is complete")

    # -------------------------------------------------------------- decoding

    def _choose_encoding(self, head: bytes) -> str:
        enc = self.encoding
        if head.startswith(b"\x1f\x8b"):
            raise DataError(f"{self.name}: is gzip-compressed data; give the file a .gz name or decompress it")
        if codecs.lookup(enc).name not in ("utf-8", "utf-8-sig"):
            return enc
        if head.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
            self.detected = "utf-32"
        elif head.startswith((b"\xff\xfe", b"\xfe\xff")):
            self.detected = "utf-16"
        else:
            sample = head[:4096]
            if len(sample) >= 64:
                even, odd = sample[0::2].count(0), sample[1::2].count(0)
                half = len(sample) / 2
                if max(even, odd) > 0.4 * half and min(even, odd) < 0.05 * half:
                    which = "le" if odd > even else "be"
                    raise DataError(f"{self.name}: looks like UTF-16 text without a byte-order mark (every "
                                    f"other byte is 0); pass --encoding utf-16-{which}")
        return self.detected or enc

    def _decoded(self, raw, progress=None) -> Iterator[tuple[str, int]]:
        """(normalised text block, raw position) from (bytes, raw position) pairs."""
        dec = None
        enc = self.encoding
        fed = 0              # bytes given to the decoder so far
        first = True         # no text yielded yet: a byte-order mark is dropped
        cr = False           # the previous block ended in CR (maybe half of CR LF)
        last = 0
        for b, pos in raw:
            if progress:
                progress(pos - last)
            last = pos
            if dec is None:
                enc = self._choose_encoding(b)
                dec = codecs.getincrementaldecoder(enc)("strict")
            try:
                pending = len(dec.getstate()[0])
            except Exception:
                pending = 0
            try:
                text = dec.decode(b)
            except UnicodeError as e:
                where = "of the decompressed text " if self.path.endswith(".gz") else ""
                raise decode_error(self.name, enc, e, fed - pending, where) from None
            fed += len(b)
            text, cr = _normalise(text, cr, first)
            if text:
                first = False
                if not self.seen_text and text.strip():
                    self.seen_text = True
                yield text, pos
        if dec is not None:
            try:
                text = dec.decode(b"", final=True)
            except UnicodeError:
                raise DataError(f"{self.name}: ends inside a {enc} character (the file is cut short?)") from None
            text, _ = _normalise(text, cr, first, final=True)
            if text:
                yield text, last

    # -------------------------------------------------------------- passes

    def digest(self, progress=None) -> str | None:
        """SHA-256 of the raw (decompressed) bytes, reading the whole input once and
        checking that it decodes and is not empty; None for a stream (never cached)."""
        if self.stream:
            return None
        if self._digest is None:
            h = hashlib.sha256()

            def hashed():
                for b, pos in self._raw():
                    h.update(b)
                    yield b, pos
            for _ in self._decoded(hashed(), progress):
                pass
            if not self.seen_text:
                raise DataError(f"{self.name}: is empty")
            self._digest = h.hexdigest()
        return self._digest

    def blocks(self, progress=None) -> Iterator[tuple[str, int]]:
        """Decoded, normalised text blocks with the raw position reached. A stream
        (standard input, a pipe) can be read twice when the first pass stops early
        (within SAMPLE_REPLAY): what that pass read is served again."""
        if not self.stream:
            yield from self._decoded(self._raw(), progress)
            return
        if self._replay is None:
            raise DataError(f"{self.name}: a stream cannot be read twice")
        if self._stdin_live is None:
            self._stdin_live = self._decoded(self._raw(), progress)
        yield from list(self._replay)
        size = sum(len(t) for t, _ in self._replay)
        for text, pos in self._stdin_live:
            if self._replay is not None:
                size += len(text)
                if size <= SAMPLE_REPLAY:
                    self._replay.append((text, pos))
                else:
                    self._replay = None      # this pass reads on: no later pass can start over
            yield text, pos


def _normalise(text: str, cr: bool, first: bool, final: bool = False) -> tuple[str, bool]:
    if cr:
        text = "\r" + text
    cr = text.endswith("\r") and not final
    if cr:
        text = text[:-1]
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "\x00" in text:
        text = text.replace("\x00", " ")
    if PLACEHOLDER in text:
        text = text.replace(PLACEHOLDER, " ")
    if first and text.startswith("\ufeff"):
        text = text[1:]
    return text, cr


# ------------------------------------------------------------------ documents


def text_fragments(blocks, source: int = 0) -> Iterator[Fragment]:
    """Blank-line separated documents of a stream of text blocks, in fragments: the same
    documents as re.split(_BLANK, whole_text), without ever holding the whole text."""
    carry, new_doc, pos = "", True, 0
    for text, pos in blocks:
        buf = carry + text
        start = 0
        for m in _BLANK.finditer(buf):
            yield Fragment(buf[start:m.start()], new_doc, source, pos)
            new_doc, start = True, m.end()
        tail = buf[start:]
        k = tail.rfind("\n")
        if k >= 0 and not tail[k + 1:].strip(" \t\r\f\v"):
            # a separator may begin at this line break and end in the next block
            frag, carry = tail[:k], tail[k:]
        else:
            frag, carry = tail, ""
        if frag:
            yield Fragment(frag, new_doc, source, pos)
            new_doc = False
    if carry:
        yield Fragment(carry, new_doc, source, pos)


def _lines(blocks) -> Iterator[str]:
    """Lines with their line ends (csv needs them) from text blocks."""
    rest = ""
    for text, _ in blocks:
        parts = (rest + text).split("\n")
        rest = parts.pop()
        for p in parts:
            yield p + "\n"
    if rest:
        yield rest


def csv_fragments(inp: Input, blocks, column: str, source: int = 0) -> Iterator[Fragment]:
    """One document per non-empty cell of ``column`` (a header row names the columns)."""
    csv.field_size_limit(sys.maxsize)
    pos = [0]

    def lines():
        for text, p in blocks:
            pos[0] = p
            yield text, p
    reader = csv.reader(_lines(lines()))
    try:
        header = next(reader)
    except StopIteration:
        raise DataError(f"{inp.name}: not a CSV file with a header row (no rows)") from None
    except csv.Error as e:
        raise DataError(f"{inp.name}: not a CSV file with a header row ({_clip(str(e))})") from None
    if column not in header:
        shown = ", ".join(repr(_clip(h, 30)) for h in header[:10]) + (", ..." if len(header) > 10 else "")
        hint = ""
        if len(header) == 1 and len(header[0]) > 200:
            hint = "; is it a CSV file? its first line is one long field"
        raise DataError(f"{inp.name}: no column {_clip(column, 40)!r} in the CSV header "
                        f"(columns: {_clip(shown, 200)}){hint}")
    col = header.index(column)
    try:
        for row in reader:
            if len(row) > col and row[col].strip():
                yield Fragment(row[col], True, source, pos[0])
    except csv.Error as e:
        raise DataError(f"{inp.name}: malformed CSV near line {reader.line_num} ({_clip(str(e))})") from None


def fragments(inputs: list[Input], csv_column: str | None = None, progress=None) -> Iterator[Fragment]:
    """All inputs as document fragments, in order; a document never spans two inputs."""
    base = 0
    for i, inp in enumerate(inputs):
        def blocks(inp=inp, base=base):
            for text, pos in inp.blocks(progress):
                yield text, base + pos
        if csv_column is None:
            yield from text_fragments(blocks(), i)
        else:
            yield from csv_fragments(inp, blocks(), csv_column, i)
        base += inp.size or 0


def documents_text(inputs: list[Input], csv_column: str | None, n_chars: int) -> str:
    """The first ``n_chars`` characters of the non-blank documents joined by blank lines
    (what Punkt is trained on when no punkt_tab model is installed): exactly
    "\\n\\n".join(doc[:n_chars - size] ...) over whole documents, reading no further
    than that needs."""
    sample: list[str] = []
    size = 0
    cur = None            # [parts, length kept, room, non-blank]

    def finish():
        nonlocal size
        if cur is not None and cur[3]:
            sample.append("".join(cur[0]))
            size += cur[1]

    for fr in fragments(inputs, csv_column):
        if fr.new_doc:
            finish()
            cur = None
            if size >= n_chars:
                break
            cur = [[], 0, n_chars - size, False]
        take = fr.text[: cur[2] - cur[1]]
        cur[0].append(take)
        cur[1] += len(take)
        cur[3] = cur[3] or bool(fr.text.strip())
        if cur[3] and cur[1] >= cur[2]:
            break
    finish()
    return "\n\n".join(sample)


# ------------------------------------------------------------------ in memory


def read_source(path: str, encoding: str = "utf-8") -> Source:
    """A whole input in memory ('-' is standard input; .gz is decompressed)."""
    inp = Input(path, encoding)
    inp.check()
    h = hashlib.sha256()

    def hashed():
        for b, pos in inp._raw():
            h.update(b)
            yield b, pos
    text = "".join(t for t, _ in inp._decoded(hashed()))
    if not text.strip():
        raise DataError(f"{inp.name}: is empty")
    return Source(inp.name, text, h.hexdigest())


def documents(src: Source, csv_column: str | None = None) -> list[str]:
    """Blank lines separate documents in text; a CSV has one document per cell."""
    blocks = [(src.text, len(src.text))]
    if csv_column is None:
        docs: list[str] = []
        for fr in text_fragments(blocks):
            if fr.new_doc:
                docs.append(fr.text)
            else:
                docs[-1] += fr.text
        return [d for d in docs if d.strip()]
    inp = Input("-")
    inp.name = src.name
    return [fr.text for fr in csv_fragments(inp, blocks, csv_column)]
