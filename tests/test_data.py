"""Reading, tokenizing (with and without NLTK data), the vocabulary, the validation
split, the tokenization cache and tokenized-corpus files."""
import gzip
import json
import os
import subprocess
import sys

import nltk
import nltk.data
import nltk.downloader
import numpy as np
import pytest

from rnncli import checkpoint
from rnncli.cli.display import Progress
from rnncli.lm import corpus as lmcorpus
from rnncli.lm import corpusfile, sources, splitting, tokenizer
from rnncli.lm import vocab as vocabulary
from rnncli.config import END_ID, SPECIALS, START_ID, UNK_ID
from rnncli.lm.settings import LMSettings

from .helpers import CORPUS, SHARED_NLTK, TINY, isolated_cache, rnn, write_corpus  # noqa: F401

HAVE_PUNKT_TAB = os.path.isdir(os.path.join(SHARED_NLTK, "tokenizers", "punkt_tab", "english"))


def sentences_of(tokens: tokenizer.Tokens):
    """Tokens -> list of sentences, each a list of words."""
    out, i = [], 0
    for n in tokens.lengths:
        out.append([tokens.words[j] for j in tokens.ids[i:i + n]])
        i += n
    return out


def tokenize_text(text, lowercase=True, splitter=None):
    docs = sources.documents(sources.Source("x", text, ""))
    splitter = splitter or splitting.make_splitter(docs)
    return tokenizer.tokenize(docs, splitter, lowercase)


@pytest.fixture
def no_nltk_data(tmp_path, monkeypatch):
    """No NLTK data anywhere, and any download attempt fails the test."""
    empty = tmp_path / "nltk_data"
    empty.mkdir()
    monkeypatch.setenv("NLTK_DATA", str(empty))
    monkeypatch.setattr(nltk.data, "path", [str(empty)])

    def no_download(*a, **k):
        raise AssertionError("an NLTK download was attempted")
    monkeypatch.setattr(nltk, "download", no_download)
    monkeypatch.setattr(nltk.downloader, "download", no_download)
    monkeypatch.setattr(nltk.downloader.Downloader, "download", no_download)
    return empty


@pytest.fixture
def punkt_tab(monkeypatch):
    if not HAVE_PUNKT_TAB:
        pytest.skip(f"no English punkt_tab in {SHARED_NLTK}")
    path = os.path.abspath(SHARED_NLTK)
    monkeypatch.setenv("NLTK_DATA", path)
    monkeypatch.setattr(nltk.data, "path", [path])
    return path


# ------------------------------------------------------------------ reading


def test_gz_is_read_transparently(tmp_path):
    plain = write_corpus(tmp_path / "c.txt")
    gz = tmp_path / "c.txt.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    a, b = sources.read_source(str(plain)), sources.read_source(str(gz))
    assert a.text == b.text == CORPUS
    assert a.digest == b.digest


def test_gz_through_the_cli_equals_plain(capsys, tmp_path):
    plain = write_corpus(tmp_path / "c.txt")
    gz = tmp_path / "c.txt.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    for src, out in ((plain, "a.npz"), (gz, "b.npz")):
        r = rnn(capsys, "tokenize", src, "-o", tmp_path / out, "--no-cache", "-q")
        assert r.code == 0, r
    ea, va, _ = corpusfile.load_corpus(str(tmp_path / "a.npz"))
    eb, vb, _ = corpusfile.load_corpus(str(tmp_path / "b.npz"))
    assert va.words == vb.words
    np.testing.assert_array_equal(ea.ids, eb.ids)


def test_stdin_dash(tmp_path):
    """`-` reads standard input (a real process), equal to reading the file; never cached."""
    f = write_corpus(tmp_path / "c.txt")
    cache = tmp_path / "cache"
    env = dict(os.environ, RNNCLI_CACHE_DIR=str(cache))
    p = subprocess.run([sys.executable, "-m", "rnncli", "tokenize", "-", "-o", str(tmp_path / "s.npz"), "-q"],
                       input=CORPUS.encode(), capture_output=True, env=env, timeout=120)
    assert p.returncode == 0, p.stderr
    p2 = subprocess.run([sys.executable, "-m", "rnncli", "tokenize", str(f), "-o", str(tmp_path / "f.npz"),
                         "-q", "--no-cache"], capture_output=True, env=env, timeout=120)
    assert p2.returncode == 0, p2.stderr
    es, vs, ss = corpusfile.load_corpus(str(tmp_path / "s.npz"))
    ef, vf, _ = corpusfile.load_corpus(str(tmp_path / "f.npz"))
    assert vs.words == vf.words
    np.testing.assert_array_equal(es.ids, ef.ids)
    assert ss["sources"] == ["-"]
    assert not cache.exists() or not any(cache.iterdir())


def test_blank_lines_separate_documents():
    text = "One doc\nstill one.\n\nTwo.\r\n\r\nThree\n \t \nFour\n\n\n\n"
    docs = sources.documents(sources.Source("x", text, ""))
    assert [d.strip() for d in docs] == ["One doc\nstill one.", "Two.", "Three", "Four"]


def test_a_sentence_never_spans_documents():
    # without a full stop Punkt would keep all four words in one sentence
    assert sentences_of(tokenize_text("the cat\nsat down")) == [["the", "cat", "sat", "down"]]
    assert sentences_of(tokenize_text("the cat\n\nsat down")) == [["the", "cat"], ["sat", "down"]]


def test_csv_column(tmp_path):
    f = tmp_path / "comments.csv"
    f.write_text('id,body,score\n1,"The cat sat.",3\n2,,4\n3,"Line one.\n\nLine two, with a comma.",5\n4\n')
    docs = sources.documents(sources.read_source(str(f)), "body")
    assert docs == ["The cat sat.", "Line one.\n\nLine two, with a comma."]


def test_csv_column_through_the_cli(capsys, tmp_path):
    f = tmp_path / "comments.csv"
    rows = ["The cat sat on the mat.", "The dog sat on the log.", "A bird flew over the house.",
            "The cat saw the bird.", "The dog ran to the park."]
    f.write_text("id,body\n" + "".join(f'{i},"{r}"\n' for i, r in enumerate(rows)))
    out = tmp_path / "m.npz"
    r = rnn(capsys, "train", f, "--csv-column", "body", "-o", out, *TINY)
    assert r.code == 0, r
    ck = checkpoint.load(str(out))
    assert ck.task.settings.csv_column == "body"
    assert "id" not in ck.task.vocab.words and "body" not in ck.task.vocab.words and "cat" in ck.task.vocab.words
    r = rnn(capsys, "eval", "-m", out, "--csv-column", "body", "--json", "-q", f)
    assert r.code == 0, r
    assert json.loads(r.out)["sentences"] == len(rows)


# ------------------------------------------------------------------ tokenizing without and with NLTK data

MR_SMITH = "Mr. Smith went to Washington. He left."


def test_without_nltk_data_punkt_is_trained_on_the_corpus(no_nltk_data):
    assert not splitting.punkt_tab_available()
    docs = sources.documents(sources.Source("c", CORPUS, ""))
    sp = splitting.make_splitter(docs)
    assert sp.kind == "trained" and sp.params_json
    assert "trained" in sp.describe()
    t = tokenizer.tokenize(docs, sp)
    sents = sentences_of(t)
    assert sents[0] == ["the", "cat", "sat", "on", "the", "mat", "."]
    assert len(sents) == 8
    # the trained parameters rebuild the same splitter (what a checkpoint stores)
    sp2 = splitting.make_splitter(["unrelated text"], {"kind": "trained", "params_json": sp.params_json})
    assert sp2.kind == "trained" and sp2.params_json == sp.params_json


def test_without_nltk_data_cli_trains_and_says_so(capsys, tmp_path, no_nltk_data):
    f = write_corpus(tmp_path / "c.txt")
    out = tmp_path / "m.npz"
    r = rnn(capsys, "train", f, "-o", out, "--hidden-dim", "3", "--epochs", "1")
    assert r.code == 0, r
    assert "LookupError" not in r.err and "nltk.download" not in r.err
    assert "trained unsupervised on the corpus" in r.err
    assert checkpoint.load(str(out)).task.splitter["kind"] == "trained"


# A real process whose NLTK search path is exactly one directory and whose downloader
# fails loudly: NLTK_DATA alone cannot remove the default locations.
NLTK_WRAPPER = """
import sys, nltk, nltk.data, nltk.downloader
nltk.data.path[:] = [sys.argv[1]]
def no_download(*a, **k):
    sys.stderr.write("DOWNLOAD ATTEMPTED\\n")
    sys.exit(99)
nltk.download = nltk.downloader.download = nltk.downloader.Downloader.download = no_download
from rnncli.cli import main
main(sys.argv[2:])
"""


def _run_with_nltk_path(nltk_path, *args, cache):
    env = dict(os.environ, NLTK_DATA=str(nltk_path), RNNCLI_CACHE_DIR=str(cache))
    return subprocess.run([sys.executable, "-c", NLTK_WRAPPER, str(nltk_path), *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=120)


def test_without_nltk_data_real_process(tmp_path):
    empty = tmp_path / "nltk_data"
    empty.mkdir()
    f = write_corpus(tmp_path / "c.txt")
    p = _run_with_nltk_path(empty, "train", f, "-o", tmp_path / "m.npz", "--hidden-dim", "3", "--epochs", "1",
                            cache=tmp_path / "cache")
    assert p.returncode == 0, p.stderr
    assert "Traceback" not in p.stderr and "DOWNLOAD" not in p.stderr and "LookupError" not in p.stderr
    assert "trained unsupervised" in p.stderr
    assert "punkt_tab model not installed" in p.stderr


def test_with_punkt_tab_real_process(tmp_path):
    if not HAVE_PUNKT_TAB:
        pytest.skip(f"no English punkt_tab in {SHARED_NLTK}")
    f = write_corpus(tmp_path / "c.txt", MR_SMITH + "\n\nThe cat sat. The dog ran.\n")
    out = tmp_path / "m.npz"
    p = _run_with_nltk_path(os.path.abspath(SHARED_NLTK), "train", f, "-o", out, "--hidden-dim", "3",
                            "--epochs", "1", cache=tmp_path / "cache")
    assert p.returncode == 0, p.stderr
    assert "installed English punkt_tab model" in p.stderr
    assert checkpoint.load(str(out)).task.splitter["kind"] == "punkt_tab"


def test_with_punkt_tab_splits_abbreviations(punkt_tab):
    assert splitting.punkt_tab_available()
    sp = splitting.make_splitter([MR_SMITH])
    assert sp.kind == "punkt_tab" and sp.params_json is None
    assert "punkt_tab" in sp.describe()
    assert sp.tokenizer.tokenize(MR_SMITH) == ["Mr. Smith went to Washington.", "He left."]
    assert sentences_of(tokenizer.tokenize([MR_SMITH], sp)) == [
        ["mr.", "smith", "went", "to", "washington", "."], ["he", "left", "."]]
    assert sentences_of(tokenizer.tokenize([MR_SMITH], sp, lowercase=False)) == [
        ["Mr.", "Smith", "went", "to", "Washington", "."], ["He", "left", "."]]


def test_with_punkt_tab_cli_reports_it(capsys, tmp_path, punkt_tab):
    f = write_corpus(tmp_path / "c.txt")
    out = tmp_path / "m.npz"
    r = rnn(capsys, "train", f, "-o", out, "--hidden-dim", "3", "--epochs", "1")
    assert r.code == 0, r
    assert "installed English punkt_tab model" in r.err
    r = rnn(capsys, "info", "-m", out)
    assert "sentence splitter: punkt_tab" in r.out


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


# ------------------------------------------------------------------ case and sentence wrapping


def test_lowercase_default_and_no_lowercase():
    text = "The Cat sat. The DOG ran."
    lower = tokenize_text(text)
    assert all(w == w.lower() for w in lower.words)
    kept = tokenize_text(text, lowercase=False)
    assert {"The", "Cat", "DOG"} <= set(kept.words)


def test_no_lowercase_through_the_cli(capsys, tmp_path):
    f = write_corpus(tmp_path / "c.txt")
    for flag, name in (([], "low.npz"), (["--no-lowercase"], "keep.npz")):
        r = rnn(capsys, "train", f, "-o", tmp_path / name, "--hidden-dim", "3", "--epochs", "1", "-q", *flag)
        assert r.code == 0, r
    low, keep = checkpoint.load(str(tmp_path / "low.npz")), checkpoint.load(str(tmp_path / "keep.npz"))
    assert low.task.settings.lowercase and not keep.task.settings.lowercase
    assert "The" in keep.task.vocab.words and "The" not in low.task.vocab.words and "the" in low.task.vocab.words


def test_every_sentence_is_wrapped_in_start_and_end():
    t = tokenize_text(CORPUS)
    vocab, _, _ = vocabulary.build_vocab(t, 10)
    enc, _ = vocabulary.encode(t, vocab)
    assert enc.n_sentences == t.n_sentences == 8
    pos = 0
    for k, (s, n) in enumerate(zip(enc.starts, enc.lens)):
        assert s == pos
        sent = enc.ids[s:s + n]
        assert sent[0] == START_ID and sent[-1] == END_ID
        assert not np.isin(sent[1:-1], [START_ID, END_ID]).any()
        words = sentences_of(t)[k]
        assert [vocab.words[i] for i in sent[1:-1]] == [w if w in vocab.index else "UNKNOWN_TOKEN" for w in words]
        pos += n
    assert pos == len(enc.ids)


def test_special_words_in_the_text_do_not_end_sentences():
    t = tokenize_text("The SENTENCE_END token and SENTENCE_START here.", lowercase=False)
    vocab, _, _ = vocabulary.build_vocab(t, 100)
    assert vocab.words.count("SENTENCE_END") == 1 and vocab.words.count("SENTENCE_START") == 1
    enc, n_oov = vocabulary.encode(t, vocab)
    assert list(enc.ids[[0, -1]]) == [START_ID, END_ID]
    assert np.count_nonzero(enc.ids == END_ID) == 1 and np.count_nonzero(enc.ids == START_ID) == 1
    assert n_oov == 2


# ------------------------------------------------------------------ vocabulary


def _tokens(words_with_counts, order=None):
    """Tokens of one sentence holding each word ``count`` times, corpus-local ids in ``order``."""
    words = order or [w for w, _ in words_with_counts]
    index = {w: i for i, w in enumerate(words)}
    ids = np.array([index[w] for w, n in words_with_counts for _ in range(n)], np.int32)
    return tokenizer.Tokens(list(words), ids, np.array([len(ids)], np.int32))


COUNTS = [("b", 3), ("e", 1), ("a", 3), ("c", 2), ("d", 1)]


def test_vocabulary_most_frequent_first_ties_alphabetical():
    vocab, stats, note = vocabulary.build_vocab(_tokens(COUNTS), 7)
    assert vocab.words == list(SPECIALS) + ["a", "b", "c", "d"]
    assert len(vocab) == 7 and note is None
    assert stats["coverage"] == pytest.approx(9 / 10)
    assert (stats["least_frequent_kept"], stats["least_frequent_count"]) == ("d", 1)
    assert (stats["tokens"], stats["distinct_words"], stats["sentences"]) == (10, 5, 1)
    assert vocabulary.build_vocab(_tokens(COUNTS), 4)[0].words == list(SPECIALS) + ["a"]


def test_vocabulary_does_not_depend_on_first_occurrence():
    for order in (["e", "d", "c", "b", "a"], ["c", "a", "e", "b", "d"]):
        assert vocabulary.build_vocab(_tokens(COUNTS, order), 6)[0].words == list(SPECIALS) + ["a", "b", "c"]


def test_words_outside_the_vocabulary_become_unknown():
    t = _tokens(COUNTS)
    vocab, _, _ = vocabulary.build_vocab(t, 5)
    enc, n_oov = vocabulary.encode(t, vocab)
    assert n_oov == 4  # c c d e
    body = enc.ids[1:-1]
    assert [vocab.words[i] for i in body] == ["b"] * 3 + ["UNKNOWN_TOKEN"] + ["a"] * 3 + ["UNKNOWN_TOKEN"] * 3
    assert np.count_nonzero(body == UNK_ID) == n_oov


def test_too_large_vocabulary_shrinks_with_a_note():
    vocab, stats, note = vocabulary.build_vocab(_tokens(COUNTS), 100)
    assert len(vocab) == 8 and stats["coverage"] == 1.0
    assert "100" in note and "8" in note


def test_vocabulary_report_in_the_cli(capsys, tmp_path):
    f = write_corpus(tmp_path / "c.txt")
    r = rnn(capsys, "train", f, "-o", tmp_path / "m.npz", "--vocab-size", "100000", "--hidden-dim", "3",
            "--epochs", "1")
    assert r.code == 0, r
    t = tokenize_text(CORPUS)
    n = len(t.words) + 3
    assert f"vocabulary size 100000 is larger than the corpus needs; using {n}" in r.err
    assert f"corpus: 8 sentences, {len(t.ids)} tokens, {len(t.words)} distinct words" in r.err
    assert "covers 100.00% of tokens; least frequent word kept" in r.err
    assert len(checkpoint.load(str(tmp_path / "m.npz")).task.vocab) == n


# ------------------------------------------------------------------ validation split


def test_validation_split_is_deterministic_and_a_partition():
    t = tokenize_text("\n\n".join(f"Sentence number {w} here." for w in "abcdefghijklmnopqrst"))
    vocab, _, _ = vocabulary.build_vocab(t, 1000)
    enc, _ = vocabulary.encode(t, vocab)
    assert enc.n_sentences == 20
    tr1, va1 = vocabulary.split_validation(enc, 0.25)
    tr2, va2 = vocabulary.split_validation(enc, 0.25)
    np.testing.assert_array_equal(va1.ids, va2.ids)
    np.testing.assert_array_equal(tr1.ids, tr2.ids)
    assert (tr1.n_sentences, va1.n_sentences) == (15, 5)

    def sents(e):
        return sorted(tuple(e.ids[s:s + n]) for s, n in zip(e.starts, e.lens))
    assert sorted(sents(tr1) + sents(va1)) == sents(enc)
    assert not set(sents(tr1)) & set(sents(va1))
    tr0, va0 = vocabulary.split_validation(enc, 0.0)
    assert va0 is None and tr0.n_sentences == 20


def test_validation_split_independent_of_seed(capsys, tmp_path):
    f = write_corpus(tmp_path / "c.txt", "\n\n".join(f"The {w} sat on a mat." for w in "abcdefghijklmnopqrstuvwxy"))
    for seed in (1, 2):
        r = rnn(capsys, "train", f, "-o", tmp_path / f"m{seed}.npz", "--seed", str(seed), "--val-fraction", "0.2",
                *TINY)
        assert r.code == 0, r
    a, b = (checkpoint.load(str(tmp_path / f"m{s}.npz")) for s in (1, 2))
    assert a.task.val.n_sentences == 5
    np.testing.assert_array_equal(a.task.val.ids, b.task.val.ids)
    assert not np.array_equal(a.params["layer0.U"], b.params["layer0.U"])


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


# ------------------------------------------------------------------ tokenized-corpus files


def test_tokenize_output_equals_in_memory_tokenization(capsys, tmp_path):
    f = write_corpus(tmp_path / "c.txt")
    out = tmp_path / "corpus.npz"
    r = rnn(capsys, "tokenize", f, "-o", out, "--vocab-size", "10", "-q")
    assert r.code == 0, r
    with np.load(out, allow_pickle=False) as z:
        assert str(z["format"]) == "rnncli-corpus" and z["ids"].dtype == np.int32
    enc, vocab, settings = corpusfile.load_corpus(str(out))

    docs = sources.documents(sources.read_source(str(f)))
    splitter = splitting.make_splitter(docs)
    tokens = tokenizer.tokenize(docs, splitter, True)
    want_vocab, _, _ = vocabulary.build_vocab(tokens, 10)
    want, _ = vocabulary.encode(tokens, want_vocab)
    assert vocab.words == want_vocab.words
    np.testing.assert_array_equal(enc.ids, want.ids)
    np.testing.assert_array_equal(enc.starts, want.starts)
    np.testing.assert_array_equal(enc.lens, want.lens)
    assert settings["lowercase"] is True and settings["vocab_size"] == 10
    assert settings["splitter"]["kind"] == splitter.kind


def test_train_and_eval_accept_a_tokenized_corpus(capsys, tmp_path):
    f = write_corpus(tmp_path / "c.txt")
    corpus = tmp_path / "corpus.npz"
    assert rnn(capsys, "tokenize", f, "-o", corpus, "--vocab-size", "10", "-q").code == 0
    model = tmp_path / "m.npz"
    r = rnn(capsys, "train", corpus, "-o", model, "--hidden-dim", "3", "--epochs", "1", "-q")
    assert r.code == 0, r
    ck = checkpoint.load(str(model))
    assert ck.task.vocab.words == corpusfile.load_corpus(str(corpus))[1].words
    from_npz = rnn(capsys, "eval", "-m", model, "--json", "-q", corpus)
    from_txt = rnn(capsys, "eval", "-m", model, "--json", "-q", f)
    assert from_npz.code == 0 and from_txt.code == 0, (from_npz, from_txt)
    a, b = json.loads(from_npz.out), json.loads(from_txt.out)
    assert a["sentences"] == b["sentences"] == 8
    assert a["tokens"] == b["tokens"]
    assert a["nll"] == pytest.approx(b["nll"], rel=1e-9)


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
