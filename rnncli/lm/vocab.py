"""The vocabulary, and words to ids: every sentence wrapped in SENTENCE_START ...
SENTENCE_END, words outside the vocabulary mapped to UNKNOWN_TOKEN."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..batching import Encoded
from ..config import END_ID, N_SPECIALS, SPECIALS, START_ID, UNK_ID
from .tokenizer import Tokens, as_array


@dataclass
class Vocab:
    words: list[str]                  # id -> word; ids 0..N_SPECIALS-1 are SPECIALS

    def __post_init__(self):
        self.index = {w: i for i, w in enumerate(self.words)}

    def __len__(self):
        return len(self.words)


def build_vocab(tokens: Tokens, size: int):
    """The ``size - N_SPECIALS`` most frequent words (ties: alphabetical) plus the specials.
    Returns (vocab, stats, note) where note explains a shrunken size."""
    counts = np.bincount(tokens.ids, minlength=len(tokens.words)) if len(tokens.ids) else np.zeros(0, int)
    return vocab_from_counts(tokens.words, counts, size, tokens.n_sentences)


def vocab_from_counts(words: list[str], counts: np.ndarray, size: int, sentences: int):
    """build_vocab from distinct words and their counts (which may be merged from several
    processes' shares: the result depends only on the counts, not on the words' order)."""
    # SENTENCE_END is predicted as often as there are sentences; it is a real entry.
    order = sorted(range(len(words)), key=lambda i: (-int(counts[i]), words[i]))
    order = [i for i in order if words[i] not in SPECIALS]
    note = None
    if size - len(SPECIALS) > len(order):
        note = (f"vocabulary size {size} is larger than the corpus needs; "
                f"using {len(order) + len(SPECIALS)} (every distinct word)")
        size = len(order) + len(SPECIALS)
    kept = order[: size - len(SPECIALS)]
    vocab = Vocab(list(SPECIALS) + [words[i] for i in kept])
    n_tok = int(counts.sum())
    covered = int(counts[kept].sum()) if kept else 0
    stats = {
        "sentences": int(sentences),
        "tokens": n_tok,
        "distinct_words": len(words),
        "coverage": covered / n_tok if n_tok else 0.0,
        "least_frequent_kept": words[kept[-1]] if kept else None,
        "least_frequent_count": int(counts[kept[-1]]) if kept else 0,
        "vocab_size": len(vocab),
    }
    return vocab, stats, note


CHUNK = 1 << 22   # tokens mapped at a time: memory bounded by a chunk, not by the corpus


def encode(tokens: Tokens, vocab: Vocab, spill_dir: str | None = None) -> tuple[Encoded, int]:
    """Map words to vocabulary ids (unknown -> UNKNOWN_TOKEN) and wrap every sentence.
    Returns the encoding and the number of word tokens that became UNKNOWN_TOKEN.
    Works a chunk of sentences at a time; a large result is memory-mapped from a
    temporary file (tokenizer.as_array)."""
    remap = np.full(max(1, len(tokens.words)), UNK_ID, np.int32)
    for i, w in enumerate(tokens.words):
        # a literal special word in the text (possible with --no-lowercase) must not
        # start or end a sentence in the middle of one
        remap[i] = UNK_ID if w in SPECIALS else vocab.index.get(w, UNK_ID)
    S = tokens.n_sentences
    lens = tokens.lengths.astype(np.int32) + 2
    starts = np.zeros(S, np.int64)
    if S:
        np.cumsum(lens[:-1], out=starts[1:])
    n = int(starts[-1] + lens[-1]) if S else 0
    ids = as_array(n, np.int32, spill_dir)
    n_oov = 0
    word_ends = np.cumsum(tokens.lengths, dtype=np.int64)
    a = 0
    while a < S:
        w0 = int(word_ends[a - 1]) if a else 0
        b = max(a + 1, int(np.searchsorted(word_ends, w0 + CHUNK, side="right")))
        b = min(b, S)
        w1 = int(word_ends[b - 1])
        body = remap[tokens.ids[w0:w1]]
        n_oov += int(np.count_nonzero(body == UNK_ID))
        base = int(starts[a])
        st, ln = starts[a:b] - base, lens[a:b]
        out = np.empty(int(st[-1] + ln[-1]), np.int32)
        is_word = np.ones(len(out), bool)      # a byte per token
        is_word[st] = False
        is_word[st + ln - 1] = False
        out[is_word] = body
        out[st] = START_ID
        out[st + ln - 1] = END_ID
        ids[base:base + len(out)] = out
        a = b
    return Encoded(ids, starts, lens), n_oov


def split_validation(enc: Encoded, fraction: float, seed: int = 12345):
    """A deterministic held-out share of sentences (fixed seed, independent of --seed,
    so runs with different seeds are scored on the same sentences). The validation
    sentences are copied (a checkpoint stores them); the training sentences are a view
    of ``enc``'s ids, so a memory-mapped corpus stays mapped."""
    train, val = validation_indices(enc.n_sentences, fraction, seed)
    train_enc = Encoded(enc.ids, enc.starts[train], enc.lens[train]) if len(val) else enc
    return train_enc, (enc.subset(val) if len(val) else None)


def validation_indices(S: int, fraction: float, seed: int = 12345):
    """(training, validation) sentence indices of split_validation, ascending."""
    n_val = int(round(fraction * S)) if fraction > 0 else 0
    if fraction > 0 and S >= 2:
        n_val = max(1, min(n_val, S - 1))
    else:
        n_val = 0
    perm = np.random.default_rng(seed).permutation(S)
    val = np.sort(perm[:n_val])
    train = np.sort(perm[n_val:])
    return train, val


def remap_encoded(enc: Encoded, src_vocab: Vocab, dst_vocab: Vocab,
                  spill_dir: str | None = None) -> tuple[Encoded, int]:
    """Re-express ids of one vocabulary in another (missing words -> UNKNOWN_TOKEN)."""
    remap = np.array([dst_vocab.index.get(w, UNK_ID) for w in src_vocab.words], np.int32)
    remap[:N_SPECIALS] = np.arange(N_SPECIALS)
    ids = as_array(len(enc.ids), np.int32, spill_dir)
    n_oov = 0
    for a in range(0, len(enc.ids), CHUNK):
        part = remap[enc.ids[a:a + CHUNK]]
        n_oov += int(np.count_nonzero(part == UNK_ID))
        ids[a:a + len(part)] = part
    return Encoded(ids, enc.starts, enc.lens), n_oov


def count_words(enc: Encoded) -> tuple[int, int]:
    """(word tokens, of them UNKNOWN_TOKEN): every id but SENTENCE_START/END, by chunks."""
    words = oov = 0
    for a in range(0, len(enc.ids), CHUNK):
        part = enc.ids[a:a + CHUNK]
        body = (part != START_ID) & (part != END_ID)
        words += int(body.sum())
        oov += int(((part == UNK_ID) & body).sum())
    return words, oov
