"""Packing, long-sentence pieces, token-bounded batches and the packed-row helpers
(rnncli/batching.py)."""
import numpy as np
import pytest

from rnncli.batching import (
    add_last,
    batch_by_tokens,
    batch_indices,
    constant_offsets,
    last_rows,
    pack,
    prev_rows,
    split_long,
)

from .helpers import encoded_sentences, packed


def pairs(enc):
    """Multiset of (input, target, position-in-corpus) over all predicted tokens."""
    out = []
    for s, L in zip(enc.starts, enc.lens):
        out += [(int(enc.ids[s + i]), int(enc.ids[s + i + 1]), int(s + i + 1)) for i in range(L - 1)]
    return sorted(out)


def test_split_long_partitions_predicted_tokens():
    enc, _ = encoded_sentences([3, 300, 0, 129, 128, 127])
    pieces = split_long(enc, 128)
    assert (pieces.lens - 1).max() <= 128
    assert pairs(pieces) == pairs(enc)
    assert pieces.n_predicted == enc.n_predicted
    assert split_long(enc, 1000) is enc


def test_pack_layout():
    enc, sents = encoded_sentences([4, 1, 6, 4])
    b = pack(enc, np.arange(4))
    n = np.diff(b.offsets)
    assert list(n) == sorted(n, reverse=True) and b.B == 4 and b.N == enc.n_predicted
    rows = b.sentence_of_row()
    t = np.repeat(np.arange(len(n)), n)
    for i in range(b.N):
        s = sents[b.order[rows[i]]]
        assert b.x[i] == s[t[i]] and b.y[i] == s[t[i] + 1]
    for i in range(b.B, b.N):  # prev points at the same sentence one step earlier
        j = prev_rows(b.offsets_list)[i - b.B]
        assert rows[j] == rows[i] and t[j] == t[i] - 1


def test_batch_by_tokens_bounds_and_order():
    lens = np.array([5, 5, 50, 5, 200, 5, 5, 5], np.int32)
    batches = batch_by_tokens(lens, 3, 60)
    assert np.array_equal(np.concatenate(batches), np.arange(len(lens)))
    for b in batches:
        assert len(b) <= 3 and (lens[b].sum() <= 60 or len(b) == 1)


def test_training_batches_cover_every_sentence_once():
    lens = np.random.default_rng(0).integers(2, 40, 1000).astype(np.int32)
    batches = batch_indices(lens, 32, np.random.default_rng(1))
    assert np.array_equal(np.sort(np.concatenate(batches)), np.arange(1000))
    assert max(len(b) for b in batches) == 32


@pytest.mark.parametrize("idx", [[0, 2, 3], [1], [], [0, 1, 2, 3, 4]])
def test_subset_keeps_sentences(idx):
    enc, sents = encoded_sentences([3, 0, 7, 2, 5])
    for e in (enc, split_long(enc, 3)):  # contiguous (mask path) and overlapping spans
        sub = e.subset(np.array(idx, dtype=np.int64))
        assert sub.n_sentences == len(idx)
        for k, i in enumerate(idx):
            a = e.ids[e.starts[i]:e.starts[i] + e.lens[i]]
            b = sub.ids[sub.starts[k]:sub.starts[k] + sub.lens[k]]
            assert np.array_equal(a, b)


def test_last_rows_and_add_last():
    off, rows = packed([5, 3, 3, 1])
    assert list(last_rows(off)) == [r[-1] for r in rows]
    off2 = constant_offsets(3, 2)
    assert off2 == [0, 2, 4, 6] and list(last_rows(off2)) == [4, 5]
    dS = np.arange(off[-1] * 2, dtype=float).reshape(-1, 2)
    out = add_last(dS, np.ones((4, 2)), off, np.empty_like(dS))
    want = dS.copy()
    want[[r[-1] for r in rows]] += 1
    np.testing.assert_array_equal(out, want)
