"""Each process's share of the input (rnncli/lm/shard.py): shares together are one process's tokens,
cut points, errors, the validation split."""
import gzip

import numpy as np
import pytest

from rnncli.errors import DataError
from rnncli.lm import shard, sources, splitting, tokenizer

from ..helpers import text_corpus


def tokens_of(docs, sp):
    t = tokenizer.tokenize(docs, sp, True, workers=1)
    return [t.words[i] for i in t.ids], list(t.lengths)


@pytest.mark.parametrize("n", [2, 3, 5, 40])
def test_shares_together_give_one_process_tokens(tmp_path, n):
    a = tmp_path / "a.txt"
    a.write_text(text_corpus(seed=1))
    b = tmp_path / "b.txt"
    b.write_text(text_corpus(seed=2))
    c = tmp_path / "c.txt.gz"                       # cannot be cut: read whole by one share
    c.write_bytes(gzip.compress(text_corpus(seed=3).encode()))
    files = [str(a), str(c), str(b)]
    one = []
    for f in files:
        one.extend(sources.documents(sources.read_source(f)))
    sp = splitting.make_splitter(one)
    shares = shard.plan(files, n)
    assert len(shares) == n
    docs = [shard.read_docs(s) for s in shares]
    assert tokens_of(sum(docs, []), sp) == tokens_of(one, sp)
    assert sum(1 for d in docs if d) >= min(n, 5)    # the work is spread
    for s in shares:
        for p in s:
            assert p.end is not None or p.path.endswith(".gz")


def test_share_cut_without_blank_lines_falls_at_a_line_break(tmp_path, monkeypatch):
    monkeypatch.setattr(shard, "SCAN", 1000)            # bytes searched for a blank line
    f = tmp_path / "lines.txt"
    f.write_text("".join(f"Line number {i} has words.\n" for i in range(400)))
    shares = shard.plan([str(f)], 3)
    assert all(shares)
    raw = f.read_bytes()
    for s in shares[1:]:
        assert raw[s[0].start - 1:s[0].start] == b"\n"
    assert sum(p.end - p.start for s in shares for p in s) == len(raw)


def test_share_errors_are_one_line(tmp_path):
    with pytest.raises(DataError, match="standard input"):
        shard.plan(["-"], 2)
    e = tmp_path / "e.txt"
    e.write_text("")
    with pytest.raises(DataError, match="is empty"):
        shard.plan([str(e)], 2)
    bad = tmp_path / "bad.txt"
    raw = b"The first document is long enough to hold the cut.\n\nThen a bad \xff byte.\n"
    bad.write_bytes(raw)
    s = shard.plan([str(bad)], 2)
    at = raw.index(b"\xff")
    with pytest.raises(DataError, match=rf"bad.txt: byte {at} is not valid utf-8"):
        shard.read_docs(s[1])


def test_split_share_matches_one_process_split():
    from rnncli.batching import Encoded
    from rnncli.lm.vocab import split_validation
    rng = np.random.default_rng(0)
    lens = rng.integers(3, 9, 50).astype(np.int32)
    starts = np.r_[0, np.cumsum(lens)[:-1]].astype(np.int64)
    enc = Encoded(rng.integers(0, 20, int(lens.sum())).astype(np.int32), starts, lens)
    tr1, va1 = split_validation(enc, 0.2)
    parts = [enc.subset(np.arange(a, b)) for a, b in ((0, 13), (13, 31), (31, 50))]
    firsts = (0, 13, 31)
    tr = [shard.split_share(p, f, 50, 0.2) for p, f in zip(parts, firsts)]
    cat = lambda es: np.concatenate([e.ids[s:s + n] for e in es for s, n in zip(e.starts, e.lens)])
    assert np.array_equal(cat([t for t, _ in tr]), cat([tr1]))
    assert np.array_equal(cat([v for _, v in tr]), cat([va1]))
