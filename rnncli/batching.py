"""Ragged sequences of ids and packed minibatches. Task-neutral: knows nothing about
words or models.

A packed batch holds sequences sorted by length, longest first, time-major with no
padding (see nn/cells.py)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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


@dataclass
class Packed:
    """One minibatch, time-major without padding (see nn/cells.py)."""
    x: np.ndarray            # (N,) input ids
    y: np.ndarray            # (N,) target ids
    offsets: np.ndarray      # (T+1,) rows of step t are offsets[t]:offsets[t+1]
    offsets_list: list
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
    return Packed(enc.ids[src].astype(np.intp), enc.ids[src + 1].astype(np.intp), offsets,
                  offsets.tolist(), order, int(n[0]))


def prev_rows(off: list) -> np.ndarray:
    """(N-B,) the row of the same sequence one step earlier, for packed rows B..N-1."""
    n = np.diff(np.asarray(off, dtype=np.int64))
    t = np.repeat(np.arange(len(n)), n)
    B = int(n[0])
    return np.arange(B, int(off[-1])) - n[t[B:] - 1]


def last_rows(off: list) -> np.ndarray:
    """(B,) the row of each sequence's last step (sequence b runs while n_t > b)."""
    n = np.diff(np.asarray(off, dtype=np.int64))
    B = int(n[0])
    steps = np.searchsorted(-n, -np.arange(B), side="left")   # (B,) steps of sequence b
    return np.asarray(off, dtype=np.int64)[steps - 1] + np.arange(B)


def add_last(dS: np.ndarray, dlast: np.ndarray, off: list, out: np.ndarray) -> np.ndarray:
    """A copy of dS (N, H) in ``out`` with dlast (B, H) added at each sequence's last row."""
    out[...] = dS
    if off[-2] + (off[1] - off[0]) == off[-1]:
        out[off[-2]:] += dlast                           # every sequence ends at the last step
    else:
        out[last_rows(off)] += dlast
    return out


def take_last(X: np.ndarray, off: list) -> np.ndarray:
    """(B, ...) the rows of X (N, ...) at each sequence's last step: a view when every
    sequence ends at the last step, else a copy."""
    if off[-2] + (off[1] - off[0]) == off[-1]:
        return X[off[-2]:]
    return X[last_rows(off)]


def constant_offsets(T: int, B: int) -> list:
    """``off`` of a packed batch of B sequences that all have T steps: rows t*B..(t+1)*B-1
    hold step t, so a time-major (T, B, ...) array reshaped to (T*B, ...) is packed."""
    return list(range(0, (T + 1) * B, B))


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
