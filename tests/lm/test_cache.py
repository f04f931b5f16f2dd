"""The tokenization cache (rnncli/lm/cache.py): its key, hits and misses, and damaged entries read as
misses and rewritten."""
import json
import os

import nltk
import nltk.data
import nltk.downloader
import numpy as np
import pytest

from rnncli.cli.display import Progress
from rnncli.lm import cache as tcache
from rnncli.lm import corpus as lmcorpus
from rnncli.lm import splitting, tokenizer
from rnncli.lm.settings import LMSettings

from ..helpers import CORPUS, HAVE_PUNKT_TAB, PTB, SHARED_NLTK, TINY, rnn, sentences_of, write_corpus


def test_nltk_data_presence_changes_the_cache_key(capsys, tmp_path, monkeypatch):
    """Tokens cached with a trained splitter are not reused once punkt_tab is installed."""
    if not HAVE_PUNKT_TAB:
        pytest.skip(f"no English punkt_tab in {SHARED_NLTK}")
    f = write_corpus(tmp_path / "c.txt")
    cache = tmp_path / "cache"
    cfg = LMSettings()
    prog = Progress(True)
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path)])
    _, meta, hit = lmcorpus.read_tokens([str(f)], cfg, None, True, str(cache), prog)
    assert (meta["kind"], hit) == ("trained", False)
    monkeypatch.setattr(nltk.data, "path", [os.path.abspath(SHARED_NLTK)])
    _, meta, hit = lmcorpus.read_tokens([str(f)], cfg, None, True, str(cache), prog)
    assert (meta["kind"], hit) == ("punkt_tab", False)
    _, meta, hit = lmcorpus.read_tokens([str(f)], cfg, None, True, str(cache), prog)
    assert (meta["kind"], hit) == ("punkt_tab", True)


# ------------------------------------------------------------------ tokenization cache


@pytest.fixture
def counting(monkeypatch):
    """Counts calls to NLTK-backed tokenizing (tokenizer.tokenize and splitting.make_splitter)."""
    calls = {"tokenize": 0, "make_splitter": 0}
    real_tok, real_split = tokenizer.tokenize, splitting.make_splitter

    def tok(*a, **k):
        calls["tokenize"] += 1
        return real_tok(*a, **k)

    def split(*a, **k):
        calls["make_splitter"] += 1
        return real_split(*a, **k)
    monkeypatch.setattr(tokenizer, "tokenize", tok)
    monkeypatch.setattr(splitting, "make_splitter", split)
    return calls


def _load(path, cache_dir, cache=True, lowercase=True):
    return lmcorpus.read_tokens([str(path)], LMSettings(lowercase=lowercase), None, cache, str(cache_dir),
                                Progress(True))


def test_cache_hit_does_not_call_nltk(tmp_path, monkeypatch):
    f = write_corpus(tmp_path / "c.txt")
    cache = tmp_path / "cache"
    t1, meta1, hit = _load(f, cache)
    assert not hit and len(list(cache.iterdir())) == 1

    def boom(*a, **k):
        raise AssertionError("NLTK called although the corpus is cached")
    monkeypatch.setattr(tokenizer, "tokenize", boom)
    monkeypatch.setattr(splitting, "make_splitter", boom)
    t2, meta2, hit = _load(f, cache)
    assert hit and meta2 == meta1
    assert t2.words == t1.words
    np.testing.assert_array_equal(t2.ids, t1.ids)
    np.testing.assert_array_equal(t2.lengths, t1.lengths)


def test_cache_misses_on_changed_content_and_lowercase(tmp_path, counting):
    f = write_corpus(tmp_path / "c.txt")
    cache = tmp_path / "cache"
    assert not _load(f, cache)[2] and counting["tokenize"] == 1
    assert _load(f, cache)[2] and counting["tokenize"] == 1
    f.write_text(CORPUS + "\nOne more sentence.\n")
    t, _, hit = _load(f, cache)
    assert not hit and counting["tokenize"] == 2
    assert sentences_of(t)[-1] == ["one", "more", "sentence", "."]
    t, _, hit = _load(f, cache, lowercase=False)
    assert not hit and counting["tokenize"] == 3 and "One" in t.words
    assert _load(f, cache, lowercase=False)[2] and counting["tokenize"] == 3
    assert len(list(cache.iterdir())) == 3


def test_no_cache_bypasses_the_cache(tmp_path, counting):
    f = write_corpus(tmp_path / "c.txt")
    cache = tmp_path / "cache"
    _load(f, cache)
    before = sorted(p.name for p in cache.iterdir())
    _, _, hit = _load(f, cache, cache=False)
    assert not hit and counting["tokenize"] == 2
    f.write_text(CORPUS + "\nAnother one.\n")
    _load(f, cache, cache=False)
    assert sorted(p.name for p in cache.iterdir()) == before


def test_damaged_cache_entry_is_a_miss(tmp_path, counting):
    f = write_corpus(tmp_path / "c.txt")
    cache = tmp_path / "cache"
    t1, _, _ = _load(f, cache)
    (entry,) = cache.iterdir()
    entry.write_bytes(entry.read_bytes()[:100])
    t2, _, hit = _load(f, cache)
    assert not hit and counting["tokenize"] == 2
    np.testing.assert_array_equal(t2.ids, t1.ids)


def test_cache_through_the_cli(capsys, tmp_path):
    f = write_corpus(tmp_path / "c.txt")
    cache = tmp_path / "cache"
    args = ("tokenize", f, "-o", tmp_path / "t.npz", "--cache-dir", cache)
    r = rnn(capsys, *args)
    assert r.code == 0 and "read from the cache" not in r.err, r
    r = rnn(capsys, *args)
    assert r.code == 0 and "read from the cache" in r.err, r
    r = rnn(capsys, *args, "--no-cache")
    assert r.code == 0 and "read from the cache" not in r.err, r
    r = rnn(capsys, *args, "--no-lowercase")
    assert r.code == 0 and "read from the cache" not in r.err, r


def test_train_then_eval_of_the_same_file_reads_the_cache(capsys, tmp_path, monkeypatch):
    """Without punkt_tab, train caches the text under the Punkt it trains on it; eval of
    the same file with that checkpoint (which stores that Punkt) reuses the entry."""
    monkeypatch.setattr(splitting, "punkt_tab_available", lambda: False)
    f = write_corpus(tmp_path / "c.txt")
    m = tmp_path / "m.npz"
    assert rnn(capsys, "train", f, "-o", m, *TINY).code == 0
    calls = {"n": 0}
    real = tokenizer.tokenize

    def counting(*a, **k):
        calls["n"] += 1
        return real(*a, **k)
    monkeypatch.setattr(tokenizer, "tokenize", counting)
    r = rnn(capsys, "eval", "-m", m, f, "--json", "-q")
    assert r.code == 0 and calls["n"] == 0, r          # NLTK was not called
    r = rnn(capsys, "tokenize", f, "-m", m, "-o", tmp_path / "t.npz", "-q")
    assert r.code == 0 and calls["n"] == 0, r
    other = write_corpus(tmp_path / "d.txt", CORPUS + "\nA new sentence here.\n")
    assert rnn(capsys, "eval", "-m", m, other, "-q").code == 0 and calls["n"] == 1   # another text: tokenized


def test_cache_key_includes_the_encoding(tmp_path):
    f = tmp_path / "greek.txt"
    f.write_bytes(b"The caf\xe9 is open. The cat sat there.\n")
    prog = Progress(True)
    a, _, hit_a = lmcorpus.read_tokens([str(f)], LMSettings(encoding="latin-1"), None, True, str(tmp_path / "c"),
                                       prog)
    b, _, hit_b = lmcorpus.read_tokens([str(f)], LMSettings(encoding="iso8859-7"), None, True, str(tmp_path / "c"),
                                       prog)
    assert not hit_a and not hit_b
    assert "café" in a.words and "cafι" in b.words
    assert lmcorpus.read_tokens([str(f)], LMSettings(encoding="latin-1"), None, True, str(tmp_path / "c"), prog)[2]


def test_cache_key_includes_the_new_settings(tmp_path):
    f = write_corpus(tmp_path / "c.txt", PTB)
    prog = Progress(True)
    seen = set()
    for kw in ({}, {"sentences": "lines"}, {"words": "whitespace"}, {"unk_token": "<unk>"}):
        _, _, hit = lmcorpus.read_tokens([str(f)], LMSettings(**kw), None, True, str(tmp_path / "c"), prog)
        assert not hit
        seen.add(len(os.listdir(tmp_path / "c")))
    assert seen == {1, 2, 3, 4}


# ------------------------------------------------------------------ wrong result without an error


def test_cache_key_includes_the_encoding_through_the_cli(capsys, tmp_path):
    f = tmp_path / "latin.txt"
    f.write_bytes("The café is open. The cat sat in the café.\n\nThe dog sat.\n".encode("latin-1"))
    r = rnn(capsys, "tokenize", f, "-o", tmp_path / "a.npz", "--encoding", "cp1251", "-q")
    assert r.code == 0, r
    r = rnn(capsys, "tokenize", f, "-o", tmp_path / "b.npz", "--encoding", "latin-1", "-q")
    assert r.code == 0, r
    with np.load(tmp_path / "b.npz") as z:
        assert "café" in z["vocab"].tolist()


def _the_cache_entry(cache_dir):
    entries = [p for p in cache_dir.rglob("*.npz")]
    assert len(entries) == 1, entries
    return entries[0]


@pytest.mark.parametrize("change", ["ids-out-of-range", "lengths-sum", "meta-no-kind", "meta-not-json",
                                    "words-2d", "ids-float", "splitter-broken", "missing-key"])
def test_bad_cache_entry_is_a_miss_and_is_rewritten(capsys, tmp_path, corpus, trained, isolated_cache, change):
    args = ["eval", "-m", trained, "-q", "--json", corpus]
    r = rnn(capsys, *args)
    assert r.code == 0, r
    clean = json.loads(r.out)
    entry = _the_cache_entry(isolated_cache)
    good = entry.read_bytes()
    with np.load(entry) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(str(arrays["meta"]))
    if change == "ids-out-of-range":
        arrays["ids"] = arrays["ids"] + len(arrays["words"])
    elif change == "lengths-sum":
        arrays["lengths"] = arrays["lengths"] + 1
    elif change == "meta-no-kind":
        arrays["meta"] = np.array(json.dumps({"params_json": None}))
    elif change == "meta-not-json":
        arrays["meta"] = np.array("{oops")
    elif change == "words-2d":
        arrays["words"] = arrays["words"][None, :]
    elif change == "ids-float":
        arrays["ids"] = arrays["ids"].astype(np.float64)
    elif change == "splitter-broken":
        arrays["meta"] = np.array(json.dumps(dict(meta, kind="trained", params_json='{"abbrev_types": 3}')))
    elif change == "missing-key":
        del arrays["lengths"]
    np.savez(entry, **arrays)
    for _ in range(2):  # the second run reads the rewritten entry
        r = rnn(capsys, *args)
        assert r.code == 0 and r.err == "", r
        got = json.loads(r.out)
        keys = ("nll", "tokens", "sentences")
        assert {k: got[k] for k in keys} == {k: clean[k] for k in keys}
    assert entry.read_bytes() == good  # rebuilt exactly as a fresh tokenization writes it
    assert tcache.load_cached(str(entry)) is not None
