"""Text to words, streamed, on all cores: sentences (Punkt or one per line), then words
(NLTK's Treebank-style tokenizer or whitespace). The only Python strings kept are the
distinct words; token ids go to a file once they pass SPILL_BYTES.

The Treebank tokenizer runs over many sentences at once: NLTK's own regular
expressions, rewritten so that sentences joined by line breaks are tokenized exactly
as one by one (checked against NLTK sentence by sentence in the tests). If the
installed NLTK's expressions differ from the ones rewritten here, NLTK's tokenizer
is used sentence by sentence instead."""
from __future__ import annotations

import errno
import multiprocessing
import os
import re
import signal
import tempfile
import time
from collections import deque
from dataclasses import dataclass
from itertools import chain

import numpy as np

from ..config import UNKNOWN_TOKEN
from ..errors import DataError
from . import splitting
from .sources import PLACEHOLDER
from .splitting import Splitter

_worker: dict = {}
_HAS_WORD = re.compile(r"[^\W_]")  # a letter or digit in any script

SENTENCES = ("punkt", "lines")
WORDS = ("treebank", "whitespace")
MAX_WORD = 1000        # characters; a longer token is no word and is read as UNKNOWN_TOKEN
BATCH_CHARS = 1 << 16  # sentences tokenized together by the Treebank rules
SPILL_BYTES = 64 << 20 # token ids beyond this live in a temporary file, memory-mapped
PARALLEL_CHARS = 1_000_000  # inputs larger than this use every core


# ------------------------------------------------------------------ Treebank words, many sentences at once

# NLTK 3.9-3.10's NLTKWordTokenizer, in order: (pattern, flags, replacement). The joined
# form differs where a sentence's start or end matters: ^ and $ match at every line
# break (MULTILINE), and classes that could match the line break between two
# sentences exclude it.
_NLTK_RULES = [
    ("([«“‘„]|[`]+)", " \\1 "),
    ('^\\"', "``"),
    ("(``)", " \\1 "),
    ('([ \\(\\[{<])(\\"|\\\'{2})', "\\1 `` "),
    ("(?i)(?<!\\w)(\\')(?!(?:re|ve|ll|m|t|s|d|n)\\b)(?=\\w)", "\\1 "),
    ('([^\\.])(\\.)([\\]\\)}>"\\\'»”’ ]*+)\\s*$', "\\1 \\2 \\3 "),
    ("([:,])([^\\d])", " \\1 \\2"),
    ("([:,])$", " \\1 "),
    ("\\.{2,}", " \\g<0> "),
    ("[;@#$%&]", " \\g<0> "),
    ("[\\u2012-\\u2015]", " \\g<0> "),
    ('([^\\.])(\\.)([\\]\\)}>"\\\']*)\\s*$', "\\1 \\2\\3 "),
    ("[?!]", " \\g<0> "),
    ("([^'])' ", "\\1 ' "),
    ("[*]", " \\g<0> "),
    ("[\\]\\[\\(\\)\\{\\}\\<\\>]", " \\g<0> "),
    ("--", " -- "),
    ("([»”’])", " \\1 "),
    ("''", " '' "),
    ('"', " '' "),
    ("\\s+", " "),
    ("([^' ])('[sS]|'[mM]|'[dD]|') ", "\\1 \\2 "),
    ("([^' ])('ll|'LL|'re|'RE|'ve|'VE|n't|N'T) ", "\\1 \\2 "),
]
_PAD_AT = 17   # rules before this index run before NLTK pads the sentence with spaces

_JOINED = {   # NLTK pattern -> (joined-form pattern, replacement)
    '^\\"': ('(?m)^\\"', "``"),
    '([^\\.])(\\.)([\\]\\)}>"\\\'»”’ ]*+)\\s*$':
        ('(?m)([^\\.\\n])(\\.)([\\]\\)}>"\\\'»”’ ]*+)[^\\S\\n]*$', "\\1 \\2 \\3 "),
    "([:,])([^\\d])": ("([:,])([^\\d\\n])", " \\1 \\2"),
    "([:,])$": ("(?m)([:,])$", " \\1 "),
    '([^\\.])(\\.)([\\]\\)}>"\\\']*)\\s*$': ('(?m)([^\\.\\n])(\\.)([\\]\\)}>"\\\']*)[^\\S\\n]*$', "\\1 \\2\\3 "),
    "([^'])' ": ("([^'\\n])' ", "\\1 ' "),
    "\\s+": ("[^\\S\\n]+", " "),
    # The two clitic rules, with the character before the clitic as a lookbehind: the
    # same matches (a match ends in a space, which the next one cannot start after),
    # found ten times faster since the engine can look for the clitic first.
    "([^' ])('[sS]|'[mM]|'[dD]|') ": ("(?<=[^' ])('[sS]|'[mM]|'[dD]|') ", " \\1 "),
    "([^' ])('ll|'LL|'re|'RE|'ve|'VE|n't|N'T) ": ("(?<=[^' ])('ll|'LL|'re|'RE|'ve|'VE|n't|N'T) ", " \\1 "),
}
_SPACES_AT = 20   # the whitespace rule: plain replace() when the only whitespace is " " and "\\n"

# Substrings without which a rule cannot match (None: always run). Checking them is a
# fast scan; most rules find nothing to do in most batches.
_NEEDS = [
    ("«", "“", "‘", "„", "`"), ('"',), ("``",), ('"', "''"), ("'",), (".",), (":", ","), (":", ","),
    ("..",), (";", "@", "#", "$", "%", "&"), ("\u2012", "\u2013", "\u2014", "\u2015"), (".",), ("?", "!"),
    ("' ",), ("*",), ("]", "[", "(", ")", "{", "}", "<", ">"), ("--",),
    ("»", "”", "’"), ("''",), ('"',), None, ("'s ", "'S ", "'m ", "'M ", "'d ", "'D ", "' "),
    ("'ll ", "'LL ", "'re ", "'RE ", "'ve ", "'VE ", "n't ", "N'T "),
]
_CONTRACTIONS = [
    "(?i)\\b(can)(?#X)(not)\\b", "(?i)\\b(d)(?#X)('ye)\\b", "(?i)\\b(gim)(?#X)(me)\\b", "(?i)\\b(gon)(?#X)(na)\\b",
    "(?i)\\b(got)(?#X)(ta)\\b", "(?i)\\b(lem)(?#X)(me)\\b", "(?i)\\b(more)(?#X)('n)\\b", "(?i)\\b(wan)(?#X)(na)(?=\\s)",
    "(?i) ('t)(?#X)(is)\\b", "(?i) ('t)(?#X)(was)\\b",
]
_CONTRACTION_NEEDS = ["cannot", "d'ye", "gimme", "gonna", "gotta", "lemme", "more'n", "wanna", "'tis", "'twas"]


class TreebankWords:
    """NLTK's NLTKWordTokenizer over a list of sentences at once."""

    def __init__(self):
        from nltk import redos
        from nltk.tokenize.destructive import NLTKWordTokenizer
        self.nltk = NLTKWordTokenizer()
        W = NLTKWordTokenizer
        nltk_rules = (list(W.STARTING_QUOTES) + list(W.PUNCTUATION) + [W.PARENS_BRACKETS, W.DOUBLE_DASHES]
                      + list(W.ENDING_QUOTES))
        found = [(getattr(p, "pattern", None), r) for p, r in nltk_rules]
        contractions = [c.pattern for c in W.CONTRACTIONS2 + W.CONTRACTIONS3]
        self.batched = (found == _NLTK_RULES and contractions == _CONTRACTIONS
                        and all(hasattr(p, "_rx") for p, _ in nltk_rules))   # nltk.redos patterns
        if not self.batched:
            return
        self.rules = []
        for (p, r), (pat, _), needs in zip(nltk_rules, _NLTK_RULES, _NEEDS):
            if pat in _JOINED:
                joined, r = _JOINED[pat]
                p = redos.compile(joined, p.flags)
            self.rules.append((p, r, needs))
        self.other_space = redos.compile(r"[^\S \n]", self.rules[0][0].flags)
        self.contractions = list(zip(W.CONTRACTIONS2 + W.CONTRACTIONS3, _CONTRACTION_NEEDS))

    def one(self, sentence: str) -> list[str]:
        return self.nltk.tokenize(sentence)

    def many(self, sentences: list[str]) -> list[list[str]]:
        """Each sentence's words, exactly as NLTKWordTokenizer().tokenize(sentence)."""
        if not self.batched:
            return [self.nltk.tokenize(s) for s in sentences]
        out: list[list[str]] = []
        batch: list[str] = []
        size = 0
        for s in sentences:
            if s.endswith("\n"):      # "$" would match before it: not expressible joined
                out.extend(self._joined(batch))
                batch, size = [], 0
                out.append(self.nltk.tokenize(s))
                continue
            batch.append(s)
            size += len(s) + 1
            if size >= BATCH_CHARS:
                out.extend(self._joined(batch))
                batch, size = [], 0
        out.extend(self._joined(batch))
        return out

    def _joined(self, sentences: list[str]) -> list[list[str]]:
        if not sentences:
            return []
        text = "\n".join(sentences)
        if text.count("\n") != len(sentences) - 1:
            # a line break inside a sentence acts as any other whitespace except at
            # the end, which no sentence here has; CR behaves the same way
            text = "\n".join(s.replace("\n", "\r") for s in sentences)
        rules = self.rules
        for i, (rx, rep, needs) in enumerate(rules):
            if i == _PAD_AT:
                text = " " + text.replace("\n", " \n ") + " "
            if i == _SPACES_AT:
                text = self._spaces(text)
            elif needs is None or any(n in text for n in needs):
                text = rx.sub(rep, text)
        low = text.lower() if text.isascii() else None
        for rx, need in self.contractions:
            if low is None or need in low:
                text = rx.sub(r" \1 \2 ", text)
        return [part.split() for part in text.split("\n")]

    def _spaces(self, text: str) -> str:
        """NLTK's whitespace rule (every run of \\s to one space), line breaks kept; with
        str.replace where the only whitespace left is the space."""
        for c in "\t\x0b\x0c\r":
            if c in text:
                text = text.replace(c, " ")
        if self.other_space.search(text):
            return self.rules[_SPACES_AT][0].sub(" ", text)
        while "  " in text:
            text = text.replace("  ", " ")
        return text


# ------------------------------------------------------------------ one unit of work


@dataclass(frozen=True)
class Settings:
    """How text becomes words (stored in checkpoints and tokenized corpora)."""
    lowercase: bool = True
    sentences: str = "punkt"
    words: str = "treebank"
    unk_token: str | None = None

    @classmethod
    def of(cls, cfg) -> "Settings":
        return cls(cfg.lowercase, getattr(cfg, "sentences", "punkt"), getattr(cfg, "words", "treebank"),
                   getattr(cfg, "unk_token", None))

    def unk(self) -> str | None:
        if not self.unk_token:
            return None
        return self.unk_token.lower() if self.lowercase else self.unk_token


def sentences_of(text: str, settings: Settings, punkt) -> list[str]:
    """The sentences of one piece of (already lowercased, if so set) text that hold a
    letter or digit."""
    if settings.sentences == "lines":
        sents = splitting.capped_lines(text)
    else:
        sents = [text[s:e] for s, e in splitting.sentence_spans(punkt, text)]
    # only punctuation or symbols ("* * *", "..."): not a sentence
    return [s for s in sents if _HAS_WORD.search(s)]


def words_of_sentences(sents: list[str], settings: Settings, treebank: TreebankWords | None) -> list[list[str]]:
    unk = settings.unk()
    if settings.words == "whitespace":
        out = [s.split() for s in sents]
        if unk is not None:
            out = [[UNKNOWN_TOKEN if w == unk else w for w in ws] for ws in out]
    else:
        if unk is not None:
            rx = re.compile(r"(?<!\S)" + re.escape(unk) + r"(?!\S)")
            sents = [rx.sub(PLACEHOLDER, s) if unk in s else s for s in sents]
        out = treebank.many(sents)
        if unk is not None:
            out = [[UNKNOWN_TOKEN if w == PLACEHOLDER else w for w in ws] for ws in out]
    return out


def _tokenize_unit(unit: list[str]):
    """Worker: pieces of text -> (local words, int32 ids, int32 words per sentence)."""
    st: Settings = _worker["settings"]
    punkt = _worker["punkt"]
    treebank = _worker["treebank"]
    sents: list[str] = []
    for text in unit:
        if st.lowercase:
            # Punkt decides on case cues, so it sees the text as the user wrote it when
            # case is kept; lowercased text splits slightly worse but consistently.
            text = text.lower()
        sents.extend(sentences_of(text, st, punkt))
    words = [ws for ws in words_of_sentences(sents, st, treebank) if ws]
    flat = list(chain.from_iterable(words))
    index = {w: i for i, w in enumerate(dict.fromkeys(flat))}
    ids = np.fromiter(map(index.__getitem__, flat), np.int32, len(flat))
    lengths = np.fromiter(map(len, words), np.int32, len(words))
    return list(index), ids, lengths


def _safe_unit(job):
    """Worker entry: exceptions come back as a message (never a traceback)."""
    unit, where = job
    try:
        return _tokenize_unit(unit)
    except Exception as e:  # NLTK's limits, or anything else raised by a library
        return f"{where}: tokenizing failed ({type(e).__name__}: {str(e)[:200]})"


# ------------------------------------------------------------------ results


@dataclass
class Tokens:
    words: list[str]          # corpus-local dictionary
    ids: np.ndarray           # (n_tokens,) int32 into words (maybe memory-mapped)
    lengths: np.ndarray       # (n_sentences,) int32 words per sentence

    @property
    def n_sentences(self) -> int:
        return len(self.lengths)


class IdSink:
    """An int32 array built in parts: in memory up to SPILL_BYTES, then in an unlinked
    temporary file in ``spill_dir`` that ``array()`` memory-maps."""

    def __init__(self, spill_dir: str | None = None, dtype=np.int32):
        self.parts, self.n, self.file = [], 0, None
        self.dtype, self.spill_dir, self.spill_bytes = np.dtype(dtype), spill_dir, SPILL_BYTES

    def append(self, a: np.ndarray):
        a = np.ascontiguousarray(a, self.dtype)
        self.n += len(a)
        if self.file is None:
            self.parts.append(a)
            if self.n * self.dtype.itemsize > self.spill_bytes:
                self._spill()
        elif len(a):
            self._write(a)

    def _spill(self):
        self.where = self.spill_dir
        try:
            self.file = tempfile.TemporaryFile(dir=self.spill_dir, prefix="rnncli-ids-")
        except OSError:
            self.where = None
            self.file = tempfile.TemporaryFile(prefix="rnncli-ids-")
        for p in self.parts:
            if len(p):
                self._write(p)
        self.parts = []

    def _write(self, a: np.ndarray):
        try:
            self.file.write(memoryview(a).cast("B"))
        except OSError as e:
            self._failed(e)

    def _failed(self, e: OSError):
        """The temporary file (unlinked: nothing is left behind) met a full disk."""
        raise DataError(f"cannot write temporary token ids in {self.where or tempfile.gettempdir()} "
                        f"({e.strerror}); set TMPDIR or --cache-dir to a disk with room") from None

    def array(self) -> np.ndarray:
        if self.file is None:
            return np.concatenate(self.parts) if self.parts else np.zeros(0, self.dtype)
        try:
            self.file.flush()
        except OSError as e:
            self._failed(e)
        if self.n == 0:
            return np.zeros(0, self.dtype)
        arr = np.memmap(self.file, dtype=self.dtype, mode="r", shape=(self.n,))
        self.file.close()     # the mapping keeps the (unlinked) file alive
        self.file = None
        self.parts = [arr]
        return arr


def as_array(n: int, dtype, spill_dir: str | None = None) -> np.ndarray:
    """An uninitialised array of n items: in memory up to SPILL_BYTES, else mapped from
    an unlinked temporary file."""
    dtype = np.dtype(dtype)
    if n * dtype.itemsize <= SPILL_BYTES or n == 0:
        return np.empty(n, dtype)
    where = spill_dir
    try:
        f = tempfile.TemporaryFile(dir=spill_dir, prefix="rnncli-ids-")
    except OSError:
        where = None
        f = tempfile.TemporaryFile(prefix="rnncli-ids-")
    with f:
        try:
            _reserve(f, n * dtype.itemsize)
        except OSError as e:
            raise DataError(f"cannot make a temporary file for token ids in {where or tempfile.gettempdir()} "
                            f"({e.strerror}); set TMPDIR or --cache-dir to a disk with room") from None
        return np.memmap(f, dtype=dtype, mode="r+", shape=(n,))


def _reserve(f, nbytes: int):
    """Give ``f`` ``nbytes`` of disk now: a sparse file mapped into memory on a full disk
    would kill the process (SIGBUS) at the first page it cannot store, instead of
    failing here with ENOSPC."""
    try:
        os.posix_fallocate(f.fileno(), 0, nbytes)
        return
    except AttributeError:                               # not POSIX
        pass
    except OSError as e:
        if e.errno not in (errno.EINVAL, errno.EOPNOTSUPP, errno.ENOSYS):
            raise
    f.truncate(nbytes)


# ------------------------------------------------------------------ the pipeline


def _as_pieces(docs):
    """Plain strings (whole documents) or sources.Fragment items -> splitting.Piece
    items, cutting long documents at the places the settings allow."""
    from .sources import Fragment
    st: Settings = _worker["settings"]
    punkt = _worker["punkt"]
    if st.sentences == "lines":
        def cut(text, limit):
            return splitting.line_cut(text, limit)
    else:
        def cut(text, limit):
            return splitting.punkt_cut(punkt, text, limit, st.lowercase)

    def frags():
        for d in docs:
            yield d if isinstance(d, Fragment) else Fragment(d, True, 0, 0)
    return splitting.bounded_pieces(frags(), cut)


def _units(pieces, target: int):
    unit, size = [], 0
    for p in pieces:
        unit.append(p)
        size += len(p.text)
        if size >= target:
            yield unit
            unit, size = [], 0
    if unit:
        yield unit


def tokenize(docs, splitter: Splitter | None, lowercase: bool = True, workers: int | None = None,
             progress=None, *, sentences: str = "punkt", words: str = "treebank", unk_token: str | None = None,
             spill_dir: str | None = None, names: list[str] | None = None, total_chars: int | None = None) -> Tokens:
    """Documents (strings, or sources.Fragment items from a stream) to Tokens.

    Sentences with Punkt (``splitter``) or one per line, words with NLTK's Treebank-style
    tokenizer or whitespace, on all cores when there is more than PARALLEL_CHARS of
    text. ``progress(raw_bytes_done, words_done)`` is called as pieces finish (raw
    positions come from Fragment items). Results do not depend on the number of workers."""
    settings = Settings(lowercase, sentences, words, unk_token)
    if settings.sentences not in SENTENCES or settings.words not in WORDS:
        raise ValueError(f"unknown tokenizer settings {settings}")
    if settings.sentences == "punkt" and (splitter is None or splitter.tokenizer is None):
        raise ValueError("--sentences punkt needs a Punkt splitter")
    _worker.update(settings=settings, punkt=splitter.tokenizer if splitter is not None else None,
                   treebank=TreebankWords() if settings.words == "treebank" else None)
    names = names or ["input"]
    unit_chars = splitting.UNIT // 2

    def jobs():
        for unit in _units(_as_pieces(docs), unit_chars):
            src = unit[-1].source
            name = names[src] if src < len(names) else names[-1]
            yield [p.text for p in unit], unit[-1].raw_pos, name

    merged = _Merged(spill_dir, progress)
    _run_units(jobs(), merged.add, workers or os.cpu_count() or 1, total_chars)
    return merged.tokens()


class _Merged:
    """The units' results joined in input order: one word list for the corpus (each unit's
    local word ids remapped onto it), the ids and the sentence lengths."""

    def __init__(self, spill_dir, progress):
        self.index: dict[str, int] = {}
        self.words: list[str] = []
        self.ids, self.lens = IdSink(spill_dir), IdSink(spill_dir)
        self.progress, self.done = progress, 0

    def add(self, result, raw_pos):
        if isinstance(result, str):
            raise DataError(result)
        lw, lids, llens = result
        remap = np.empty(len(lw), np.int32)
        for i, w in enumerate(lw):
            if len(w) > MAX_WORD:
                w = UNKNOWN_TOKEN
            j = self.index.get(w)
            if j is None:
                j = self.index[w] = len(self.words)
                self.words.append(w)
            remap[i] = j
        self.ids.append(remap[lids] if len(lids) else lids)
        self.lens.append(llens)
        self.done += len(lids)
        if self.progress:
            self.progress(raw_pos, self.done)

    def tokens(self) -> Tokens:
        return Tokens(self.words, self.ids.array(), self.lens.array())


def _run_units(it, add, workers: int, total_chars: int | None):
    """Tokenize the units of ``it`` ((texts, raw position, source name) each) and hand
    each result to ``add(result, raw_position)`` in input order: in forked worker
    processes when a first look finds more than PARALLEL_CHARS of text, else here."""
    head, size = [], 0
    if total_chars is None or total_chars > PARALLEL_CHARS:
        for job in it:
            head.append(job)
            size += sum(len(t) for t in job[0])
            if size > PARALLEL_CHARS:
                break
    parallel = (workers > 1 and size > PARALLEL_CHARS and "fork" in multiprocessing.get_all_start_methods())
    all_jobs = chain(head, it)
    if not parallel:
        for unit, raw_pos, name in all_jobs:
            add(_safe_unit((unit, name)), raw_pos)
        return
    # fork: the workers inherit the splitter; at most 2 units per worker are in
    # flight, so memory stays bounded however long the input is
    pool = multiprocessing.get_context("fork").Pool(workers, initializer=_worker_signals)
    try:
        pending: deque = deque()
        for unit, raw_pos, name in all_jobs:
            pending.append((pool.apply_async(_safe_unit, ((unit, name),)), raw_pos))
            while len(pending) >= 2 * workers:
                r, p = pending.popleft()
                add(r.get(), p)
        while pending:
            r, p = pending.popleft()
            add(r.get(), p)
        pool.close()     # the workers exit on their own; terminate() only on errors
        pool.join()
    finally:
        pool.terminate()


def _worker_signals():
    """In a tokenizing worker: SIGTERM kills at once, SIGINT is left to the parent.
    A Python-level SIGTERM handler (inherited from the CLI) only runs between
    bytecodes, and a SIGTERM from Pool.terminate() that lands just before a worker
    blocks on the task queue's lock was lost that way: the worker waited forever
    and so did `rnn tokenize` (seen once in a benchmark run)."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def words_of(text: str, settings: Settings) -> list[str]:
    """The words of one short text (a --prefix) as the corpus would have them."""
    if settings.lowercase:
        text = text.lower()
    tb = TreebankWords() if settings.words == "treebank" else None
    return [w for ws in words_of_sentences([text], settings, tb) for w in ws]


class Rate:
    """Words per second for a progress bar's postfix."""

    def __init__(self):
        self.t0 = time.perf_counter()

    def __call__(self, n_words: int) -> str:
        dt = time.perf_counter() - self.t0
        return f"{n_words / dt:,.0f} words/s" if dt > 0 else ""
