"""Reading text, tokenizing it, the vocabulary, the tokenized-corpus cache and
packed minibatches. Knows nothing about the model.

A corpus moves through three forms:
  Sources  -> raw text of each input (file, stdin, .gz, CSV column)
  Tokens   -> corpus-local word ids (int32) and words per sentence; the only
              Python strings kept are the distinct words, so a corpus of tens of
              millions of tokens stays small
  Encoded  -> vocabulary ids with SENTENCE_START/SENTENCE_END around every
              sentence, as one flat int32 array plus sentence starts
"""
from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import multiprocessing
import os
import re
import sys
import tempfile
import zipfile
from dataclasses import dataclass

import numpy as np

from .config import END_ID, SPECIALS, START_ID, UNK_ID

CACHE_VERSION = 2  # 2: sentences without a letter or digit are dropped
CORPUS_FORMAT = "rnncli-corpus"
CORPUS_VERSION = 1


class DataError(Exception):
    """A problem with the user's input, worded as one line that says what to do."""


# ---------------------------------------------------------------- reading


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


# ---------------------------------------------------------------- sentence splitting


def punkt_tab_available() -> bool:
    import nltk.data
    try:
        nltk.data.find("tokenizers/punkt_tab/english/")
        return True
    except (LookupError, OSError, ValueError):
        return False


def punkt_to_json(params) -> str:
    return json.dumps({
        "abbrev_types": sorted(params.abbrev_types),
        "collocations": sorted(list(c) for c in params.collocations),
        "sent_starters": sorted(params.sent_starters),
        "ortho_context": dict(sorted(params.ortho_context.items())),
    })


def punkt_from_json(text: str):
    from nltk.tokenize.punkt import PunktParameters
    raw = json.loads(text)
    p = PunktParameters()
    p.abbrev_types = set(raw["abbrev_types"])
    p.collocations = {tuple(c) for c in raw["collocations"]}
    p.sent_starters = set(raw["sent_starters"])
    for k, v in raw["ortho_context"].items():
        p.ortho_context[k] = int(v)
    return p


@dataclass
class Splitter:
    """The sentence splitter and how it was obtained, so a checkpoint can rebuild it."""
    kind: str                 # "punkt_tab" (installed English model) or "trained"
    params_json: str | None   # the trained Punkt parameters
    tokenizer: object = None

    def describe(self) -> str:
        if self.kind == "punkt_tab":
            return "NLTK Punkt, installed English punkt_tab model"
        return "NLTK Punkt, trained unsupervised on the corpus (punkt_tab model not installed)"

    def signature(self) -> str:
        return self.kind + ":" + hashlib.sha256((self.params_json or "").encode()).hexdigest()


PUNKT_TRAIN_CHARS = 4_000_000  # Punkt's statistics settle long before this


def make_splitter(texts: list[str], stored: dict | None = None) -> Splitter:
    """The installed punkt_tab model if there is one; otherwise parameters stored in a
    checkpoint; otherwise Punkt trained on the text itself. Never downloads."""
    from nltk.tokenize.punkt import PunktSentenceTokenizer, PunktTrainer
    if stored and stored.get("kind") == "trained" and stored.get("params_json"):
        params_json = stored["params_json"]
        return Splitter("trained", params_json, PunktSentenceTokenizer(punkt_from_json(params_json)))
    if punkt_tab_available():
        from nltk.tokenize.punkt import PunktTokenizer
        try:
            return Splitter("punkt_tab", None, PunktTokenizer("english"))
        except (LookupError, OSError, ValueError):
            pass
    sample, size = [], 0
    for t in texts:
        sample.append(t[: PUNKT_TRAIN_CHARS - size])
        size += len(sample[-1])
        if size >= PUNKT_TRAIN_CHARS:
            break
    trainer = PunktTrainer()
    trainer.train("\n\n".join(sample), finalize=True)
    params = trainer.get_params()
    return Splitter("trained", punkt_to_json(params), PunktSentenceTokenizer(params))


# ---------------------------------------------------------------- tokenizing

_worker: dict = {}
_HAS_WORD = re.compile(r"[^\W_]")  # a letter or digit in any script


def _tokenize_docs(docs: list[str]):
    """Worker: documents -> (local words, int32 ids, int32 words per sentence)."""
    split = _worker["splitter"].tokenize
    words_of = _worker["word_tokenizer"].tokenize
    lower = _worker["lowercase"]
    index: dict[str, int] = {}
    ids: list[int] = []
    lens: list[int] = []
    for doc in docs:
        if lower:
            doc = doc.lower()
        # Punkt decides on case cues, so it sees the text as the user wrote it when
        # case is kept; lowercased text splits slightly worse but consistently.
        for sent in split(doc):
            if not _HAS_WORD.search(sent):
                continue  # only punctuation or symbols ("* * *", "..."): not a sentence
            ws = words_of(sent)
            if not ws:
                continue
            for w in ws:
                ids.append(index.setdefault(w, len(index)))
            lens.append(len(ws))
    return list(index), np.array(ids, np.int32), np.array(lens, np.int32)


@dataclass
class Tokens:
    words: list[str]          # corpus-local dictionary
    ids: np.ndarray           # (n_tokens,) int32 into words
    lengths: np.ndarray       # (n_sentences,) int32 words per sentence

    @property
    def n_sentences(self) -> int:
        return len(self.lengths)


def _chunks(docs: list[str], target_chars: int):
    chunk, size = [], 0
    for d in docs:
        chunk.append(d)
        size += len(d)
        if size >= target_chars:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


def tokenize(docs: list[str], splitter: Splitter, lowercase: bool = True,
             workers: int | None = None, progress=None) -> Tokens:
    """Sentences with Punkt, words with NLTK's Treebank-style tokenizer, on all cores."""
    from nltk.tokenize.destructive import NLTKWordTokenizer
    _worker.update(splitter=splitter.tokenizer, word_tokenizer=NLTKWordTokenizer(), lowercase=lowercase)
    total = sum(len(d) for d in docs)
    workers = workers or os.cpu_count() or 1
    if total < 1_000_000:
        workers = 1
    chunks = list(_chunks(docs, max(50_000, min(2_000_000, total // (8 * workers) + 1))))
    index: dict[str, int] = {}
    words: list[str] = []
    id_parts, len_parts = [], []

    def merge(result, n_chars):
        lw, lids, llens = result
        remap = np.empty(len(lw), np.int32)
        for i, w in enumerate(lw):
            j = index.get(w)
            if j is None:
                j = index[w] = len(words)
                words.append(w)
            remap[i] = j
        id_parts.append(remap[lids] if len(lids) else lids)
        len_parts.append(llens)
        if progress:
            progress(n_chars)

    if workers > 1 and len(chunks) > 1 and "fork" in multiprocessing.get_all_start_methods():
        # fork: the workers inherit the splitter, nothing large is pickled on the way in
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            for chunk, res in zip(chunks, pool.imap(_tokenize_docs, chunks)):
                merge(res, sum(len(d) for d in chunk))
    else:
        for chunk in chunks:
            merge(_tokenize_docs(chunk), sum(len(d) for d in chunk))
    ids = np.concatenate(id_parts) if id_parts else np.zeros(0, np.int32)
    lens = np.concatenate(len_parts) if len_parts else np.zeros(0, np.int32)
    return Tokens(words, ids.astype(np.int32, copy=False), lens.astype(np.int32, copy=False))


# ---------------------------------------------------------------- cache


def default_cache_dir() -> str:
    if os.environ.get("RNNCLI_CACHE_DIR"):
        return os.environ["RNNCLI_CACHE_DIR"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "rnncli")


def atomic_write_npz(path: str, arrays: dict):
    """Write to a temporary file beside ``path``, fsync, then rename over it: a crash,
    Ctrl-C or full disk at any moment leaves the previous file intact."""
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=d)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file normal permissions
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def cache_key(sources: list[Source], lowercase: bool, csv_column, splitter_sig: str) -> str:
    h = hashlib.sha256()
    h.update(json.dumps([CACHE_VERSION, lowercase, csv_column, splitter_sig,
                         [s.digest for s in sources]]).encode())
    return h.hexdigest()[:32]


def load_cached(path: str):
    try:
        with np.load(path, allow_pickle=False) as z:
            t = Tokens(z["words"].tolist(), z["ids"].astype(np.int32), z["lengths"].astype(np.int32))
            meta = json.loads(str(z["meta"]))
        return t, meta
    except Exception:  # a damaged cache entry is only a miss
        return None


def save_cached(path: str, tokens: Tokens, meta: dict):
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        atomic_write_npz(path, {"words": np.array(tokens.words, dtype=str) if tokens.words else np.zeros(0, "U1"),
                                "ids": tokens.ids, "lengths": tokens.lengths,
                                "meta": np.array(json.dumps(meta))})
        return True
    except OSError:
        return False


# ---------------------------------------------------------------- vocabulary and encoding


@dataclass
class Vocab:
    words: list[str]                  # id -> word; ids 0..2 are SPECIALS

    def __post_init__(self):
        self.index = {w: i for i, w in enumerate(self.words)}

    def __len__(self):
        return len(self.words)


def build_vocab(tokens: Tokens, size: int):
    """The ``size - 3`` most frequent words (ties: alphabetical) plus the specials.
    Returns (vocab, stats, note) where note explains a shrunken size."""
    counts = np.bincount(tokens.ids, minlength=len(tokens.words)) if len(tokens.ids) else np.zeros(0, int)
    # SENTENCE_END is predicted as often as there are sentences; it is a real entry.
    order = sorted(range(len(tokens.words)), key=lambda i: (-int(counts[i]), tokens.words[i]))
    order = [i for i in order if tokens.words[i] not in SPECIALS]
    note = None
    if size - len(SPECIALS) > len(order):
        note = (f"vocabulary size {size} is larger than the corpus needs; "
                f"using {len(order) + len(SPECIALS)} (every distinct word)")
        size = len(order) + len(SPECIALS)
    kept = order[: size - len(SPECIALS)]
    vocab = Vocab(list(SPECIALS) + [tokens.words[i] for i in kept])
    n_tok = int(len(tokens.ids))
    covered = int(counts[kept].sum()) if kept else 0
    stats = {
        "sentences": int(tokens.n_sentences),
        "tokens": n_tok,
        "distinct_words": len(tokens.words),
        "coverage": covered / n_tok if n_tok else 0.0,
        "least_frequent_kept": tokens.words[kept[-1]] if kept else None,
        "least_frequent_count": int(counts[kept[-1]]) if kept else 0,
        "vocab_size": len(vocab),
    }
    return vocab, stats, note


@dataclass
class Encoded:
    """Sentences as vocabulary ids, each wrapped in START ... END, in one flat array."""
    ids: np.ndarray          # (n,) int32
    starts: np.ndarray       # (S,) int64, index of each sentence's START
    lens: np.ndarray         # (S,) int32, ids per sentence including START and END

    @property
    def n_sentences(self):
        return len(self.starts)

    @property
    def n_predicted(self):
        return int(self.lens.sum()) - self.n_sentences

    def subset(self, idx: np.ndarray) -> "Encoded":
        """Sentences ``idx`` (ascending, no repeats) as a new compact encoding."""
        idx = np.asarray(idx, dtype=np.int64)
        lens = self.lens[idx]
        starts = np.zeros(len(idx), np.int64)
        np.cumsum(lens[:-1], out=starts[1:])
        if len(idx) == 0:
            return Encoded(np.zeros(0, np.int32), starts, lens)
        contiguous = np.all(self.starts[1:] == self.starts[:-1] + self.lens[:-1])
        if contiguous and len(idx) > 1 and np.all(np.diff(idx) > 0):
            # a token mask costs one byte per token, where gathered positions cost eight
            keep = np.zeros(self.n_sentences, bool)
            keep[idx] = True
            ids = self.ids[self.starts[0]:self.starts[0] + int(self.lens.sum())][np.repeat(keep, self.lens)]
        else:
            pos = np.arange(int(lens.sum()), dtype=np.int64) - np.repeat(starts - self.starts[idx], lens)
            ids = self.ids[pos]
        return Encoded(ids, starts, lens)

    @staticmethod
    def from_offsets(ids, offsets) -> "Encoded":
        offsets = np.asarray(offsets, np.int64)
        return Encoded(np.asarray(ids, np.int32), offsets[:-1].copy(), np.diff(offsets).astype(np.int32))

    def offsets(self) -> np.ndarray:
        return np.append(self.starts, self.starts[-1] + self.lens[-1] if len(self.starts) else 0)


def encode(tokens: Tokens, vocab: Vocab) -> tuple[Encoded, int]:
    """Map words to vocabulary ids (unknown -> UNKNOWN_TOKEN) and wrap every sentence.
    Returns the encoding and the number of word tokens that became UNKNOWN_TOKEN."""
    remap = np.full(max(1, len(tokens.words)), UNK_ID, np.int32)
    for i, w in enumerate(tokens.words):
        # a literal special word in the text (possible with --no-lowercase) must not
        # start or end a sentence in the middle of one
        remap[i] = UNK_ID if w in SPECIALS else vocab.index.get(w, UNK_ID)
    body = remap[tokens.ids] if len(tokens.ids) else np.zeros(0, np.int32)
    n_oov = int(np.count_nonzero(body == UNK_ID))
    S = tokens.n_sentences
    lens = tokens.lengths.astype(np.int32) + 2
    starts = np.zeros(S, np.int64)
    if S:
        np.cumsum(lens[:-1], out=starts[1:])
    ids = np.empty(int(lens.sum()), np.int32)
    is_word = np.ones(len(ids), bool)      # a byte per token: 20M tokens stay small
    is_word[starts] = False
    is_word[starts + lens - 1] = False
    ids[is_word] = body
    ids[starts] = START_ID
    ids[starts + lens - 1] = END_ID
    return Encoded(ids, starts, lens), n_oov


def split_validation(enc: Encoded, fraction: float, seed: int = 12345):
    """A deterministic held-out share of sentences (fixed seed, independent of --seed,
    so runs with different seeds are scored on the same sentences)."""
    S = enc.n_sentences
    n_val = int(round(fraction * S)) if fraction > 0 else 0
    if fraction > 0 and S >= 2:
        n_val = max(1, min(n_val, S - 1))
    else:
        n_val = 0
    perm = np.random.default_rng(seed).permutation(S)
    val = np.sort(perm[:n_val])
    train = np.sort(perm[n_val:])
    return enc.subset(train), (enc.subset(val) if n_val else None)


# ---------------------------------------------------------------- tokenized-corpus files


def is_corpus_file(path: str) -> bool:
    if path == "-" or not path.endswith(".npz") or not os.path.isfile(path):
        return False
    try:
        with np.load(path, allow_pickle=False) as z:
            return "format" in z.files and str(z["format"]) == CORPUS_FORMAT
    except Exception:
        return False


def save_corpus(path: str, enc: Encoded, vocab: Vocab, settings: dict):
    """Documented format (README): ids int32 flat with START/END around each sentence,
    offsets int64 (S+1) so sentence i is ids[offsets[i]:offsets[i+1]], vocab str array
    (id -> word), settings JSON, format/version."""
    atomic_write_npz(path, {
        "format": np.array(CORPUS_FORMAT), "version": np.array(CORPUS_VERSION),
        "ids": enc.ids, "offsets": enc.offsets(), "vocab": np.array(vocab.words, dtype=str),
        "settings": np.array(json.dumps(settings, sort_keys=True)),
    })


def load_corpus(path: str):
    try:
        with np.load(path, allow_pickle=False) as z:
            if int(z["version"]) > CORPUS_VERSION:
                raise DataError(f"{path}: tokenized corpus version {int(z['version'])} is newer than this "
                                f"rnncli reads ({CORPUS_VERSION}); upgrade rnncli")
            vocab = Vocab(z["vocab"].tolist())
            enc = Encoded.from_offsets(z["ids"], z["offsets"])
            settings = json.loads(str(z["settings"]))
    except DataError:
        raise
    except Exception as e:
        raise DataError(f"{path}: not a readable rnncli tokenized corpus ({e})") from None
    if list(vocab.words[:3]) != list(SPECIALS) or (len(enc.ids) and (enc.ids.min() < 0 or enc.ids.max() >= len(vocab))):
        raise DataError(f"{path}: tokenized corpus is inconsistent (bad vocabulary or ids)")
    return enc, vocab, settings


def remap_encoded(enc: Encoded, src_vocab: Vocab, dst_vocab: Vocab) -> tuple[Encoded, int]:
    """Re-express ids of one vocabulary in another (missing words -> UNKNOWN_TOKEN)."""
    remap = np.array([dst_vocab.index.get(w, UNK_ID) for w in src_vocab.words], np.int32)
    remap[:3] = np.arange(3)
    ids = remap[enc.ids]
    n_oov = int(np.count_nonzero(ids == UNK_ID))
    return Encoded(ids, enc.starts, enc.lens), n_oov


# ---------------------------------------------------------------- batches


@dataclass
class Packed:
    """One minibatch, time-major without padding (see model.py)."""
    x: np.ndarray            # (N,) input ids
    y: np.ndarray            # (N,) target ids
    offsets: np.ndarray      # (T+1,) rows of step t are offsets[t]:offsets[t+1]
    offsets_list: list
    prev: np.ndarray         # (N-B,) row of the same sentence one step earlier, rows B..N-1
    order: np.ndarray        # (B,) batch position b -> index into the selection given
    B: int

    @property
    def N(self):
        return len(self.x)

    def sentence_of_row(self) -> np.ndarray:
        """(N,) batch position b of each packed row."""
        n = np.diff(self.offsets)
        t = np.repeat(np.arange(len(n)), n)
        return np.arange(self.N) - self.offsets[t]


def pack(enc: Encoded, sel: np.ndarray) -> Packed:
    """Sentences ``sel`` of ``enc`` as a packed batch: inputs ids[:-1], targets ids[1:]."""
    sel = np.asarray(sel, dtype=np.int64)
    T_b = enc.lens[sel].astype(np.int64) - 1              # predicted tokens per sentence
    order = np.argsort(-T_b, kind="stable")
    T_b = T_b[order]
    starts = enc.starts[sel[order]]
    T = int(T_b[0])
    n = np.searchsorted(-T_b, -np.arange(T), side="left")  # (T,) sentences running at t
    offsets = np.zeros(T + 1, np.int64)
    np.cumsum(n, out=offsets[1:])
    N = int(offsets[-1])
    t = np.repeat(np.arange(T), n)
    b = np.arange(N) - offsets[t]
    src = starts[b] + t
    B = int(n[0])
    prev = np.arange(B, N) - n[t[B:] - 1]
    return Packed(enc.ids[src].astype(np.intp), enc.ids[src + 1].astype(np.intp), offsets,
                  offsets.tolist(), prev, order, B)


def split_long(enc: Encoded, max_pred: int) -> Encoded:
    """Sentences with more than ``max_pred`` predicted tokens as consecutive pieces of at
    most ``max_pred``, for training only: text without sentence punctuation would
    otherwise make one batch the size of the corpus. Each piece's first input is the
    previous piece's last target (the spans share one id); its hidden state starts at
    zero, so context further back than a piece is not seen in training."""
    T = enc.lens.astype(np.int64) - 1
    if len(T) == 0 or T.max() <= max_pred:
        return enc
    pieces = np.maximum(1, -(-T // max_pred))
    sent = np.repeat(np.arange(len(T)), pieces)
    k = np.arange(len(sent)) - np.repeat(np.cumsum(pieces) - pieces, pieces)
    pred = np.minimum(max_pred, T[sent] - k * max_pred)
    return Encoded(enc.ids, enc.starts[sent] + k * max_pred, (pred + 1).astype(np.int32))


def batch_by_tokens(lens: np.ndarray, max_sentences: int, max_tokens: int):
    """Consecutive sentences, at most ``max_sentences`` and ``max_tokens`` ids per batch
    (a longer sentence goes alone): memory bounded by the batch, in corpus order."""
    csum = np.cumsum(lens, dtype=np.int64)
    out, start, S = [], 0, len(lens)
    while start < S:
        base = csum[start - 1] if start else 0
        end = int(np.searchsorted(csum, base + max_tokens, side="right"))
        end = max(start + 1, min(end, start + max_sentences, S))
        out.append(np.arange(start, end))
        start = end
    return out


def batch_indices(lens: np.ndarray, batch_size: int, rng: np.random.Generator | None):
    """Sentence indices per batch. Shuffled, then sorted by length inside windows of
    50 batches so a batch's sentences are of similar length (fewer sequential steps);
    batch order shuffled again. rng=None keeps corpus order (evaluation)."""
    S = len(lens)
    if rng is None:
        return [np.arange(i, min(i + batch_size, S)) for i in range(0, S, batch_size)]
    perm = rng.permutation(S)
    win = 50 * batch_size
    out = []
    for i in range(0, S, win):
        w = perm[i:i + win]
        w = w[np.argsort(lens[w], kind="stable")]
        out.extend(w[j:j + batch_size] for j in range(0, len(w), batch_size))
    return [out[k] for k in rng.permutation(len(out))]
