"""The vocabulary, and words to ids: every sentence wrapped in SENTENCE_START ...
SENTENCE_END, words outside the vocabulary mapped to UNKNOWN_TOKEN."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..batching import Encoded
from ..config import END_ID, N_SPECIALS, SPECIALS, START_ID, UNK_ID
from .tokenizer import Tokens


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
    train, val = validation_indices(enc.n_sentences, fraction, seed)
    return enc.subset(train), (enc.subset(val) if len(val) else None)


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


def remap_encoded(enc: Encoded, src_vocab: Vocab, dst_vocab: Vocab) -> tuple[Encoded, int]:
    """Re-express ids of one vocabulary in another (missing words -> UNKNOWN_TOKEN)."""
    remap = np.array([dst_vocab.index.get(w, UNK_ID) for w in src_vocab.words], np.int32)
    remap[:N_SPECIALS] = np.arange(N_SPECIALS)
    ids = remap[enc.ids]
    n_oov = int(np.count_nonzero(ids == UNK_ID))
    return Encoded(ids, enc.starts, enc.lens), n_oov
