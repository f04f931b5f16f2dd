"""Sentence splitting (rnncli/lm/splitting.py): Punkt with and without NLTK data, pieces cut between
words, errors inside NLTK."""
import os
import random
import re
import subprocess
import sys

import nltk
import nltk.data
import nltk.downloader
import pytest

from rnncli import checkpoint
from rnncli.lm import corpusfile, sources, splitting, tokenizer

from ..helpers import (
    BUNDLED,
    CORPUS,
    HAVE_PUNKT_TAB,
    REPO,
    SHARED_NLTK,
    assert_user_error,
    rnn,
    sentences_of,
    simple_sentences,
    splitter_for,
    time_limit,
    write_corpus,
)


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
def punkt_tab_required(monkeypatch):
    if not HAVE_PUNKT_TAB:
        pytest.skip(f"no English punkt_tab in {SHARED_NLTK}")
    path = os.path.abspath(SHARED_NLTK)
    monkeypatch.setenv("NLTK_DATA", path)
    monkeypatch.setattr(nltk.data, "path", [path])
    return path


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


def test_with_punkt_tab_splits_abbreviations(punkt_tab_required):
    assert splitting.punkt_tab_available()
    sp = splitting.make_splitter([MR_SMITH])
    assert sp.kind == "punkt_tab" and sp.params_json is None
    assert "punkt_tab" in sp.describe()
    assert sp.tokenizer.tokenize(MR_SMITH) == ["Mr. Smith went to Washington.", "He left."]
    assert sentences_of(tokenizer.tokenize([MR_SMITH], sp)) == [
        ["mr.", "smith", "went", "to", "washington", "."], ["he", "left", "."]]
    assert sentences_of(tokenizer.tokenize([MR_SMITH], sp, lowercase=False)) == [
        ["Mr.", "Smith", "went", "to", "Washington", "."], ["He", "left", "."]]


def test_with_punkt_tab_cli_reports_it(capsys, tmp_path, punkt_tab_required):
    f = write_corpus(tmp_path / "c.txt")
    out = tmp_path / "m.npz"
    r = rnn(capsys, "train", f, "-o", out, "--hidden-dim", "3", "--epochs", "1")
    assert r.code == 0, r
    assert "installed English punkt_tab model" in r.err
    r = rnn(capsys, "info", "-m", out)
    assert "sentence splitter: punkt_tab" in r.out


SHARED_CORPORA = os.path.join(REPO, "..", "shared", "corpora")


# ------------------------------------------------------------------ bounded pieces for Punkt


def _any_splitter():
    return splitter_for(" ".join(simple_sentences(200)))


def test_cut_points_never_split_a_word():
    rng = random.Random(5)
    words = ["cat", "Mr.", "end.", "why?", "\"Yes!\"", "x" * 40, "--", "(a)", "\u00e9t\u00e9"]
    seps = [" ", "\n", "  ", "\t", " \n "]
    for _ in range(200):
        text = "".join(rng.choice(words) + rng.choice(seps) for _ in range(rng.randint(1, 300)))
        lo = rng.randint(0, max(0, len(text) - 2))
        hi = rng.randint(lo + 1, len(text))
        p = splitting.safe_cut(text, lo, hi)
        assert lo < p <= hi
        if any(c.isspace() for c in text[lo:hi]):
            assert text[p - 1].isspace(), (text[lo:hi], p)
        for limit in (20, 64, 500):
            cut_l = splitting.line_cut(text, limit) if len(text) > limit else None
            if cut_l is not None:
                assert limit // 2 < cut_l <= limit
                if any(c.isspace() for c in text[limit // 2:limit]):
                    assert text[cut_l - 1].isspace()


def test_pieces_are_the_document_cut_between_words():
    sp = _any_splitter()
    rng = random.Random(7)
    sents = simple_sentences(3000, seed=1)
    layouts = {
        "line per sentence": "\n".join(sents),
        "no line break": " ".join(sents),
        "hard-wrapped": re.sub(r"(.{60,70}) ", "\\1\n", " ".join(sents)),
        "no punctuation": " ".join(s[:-1] for s in sents),
        "no whitespace": "".join(s.replace(" ", "") for s in sents)[:20_000],
    }
    for name, doc in layouts.items():
        for limit in (1000, 5000):
            frs = [sources.Fragment(doc[i:i + 777], i == 0, 0, 0) for i in range(0, len(doc), 777)]
            pieces = [p.text for p in splitting.bounded_pieces(
                frs, lambda t, lim: splitting.punkt_cut(sp.tokenizer, t, lim, True), limit)]
            assert "".join(pieces) == doc, name
            assert all(len(p) <= limit for p in pieces), name
            for p in pieces[:-1]:
                if name != "no whitespace":
                    assert p[-1].isspace(), (name, p[-30:])
            # the same pieces however the document arrives
            cuts = sorted(set(rng.sample(range(1, len(doc)), 30))) + [len(doc)]
            frs2 = [sources.Fragment(doc[a:b], a == 0, 0, 0) for a, b in zip([0] + cuts[:-1], cuts)]
            again = [p.text for p in splitting.bounded_pieces(
                frs2, lambda t, lim: splitting.punkt_cut(sp.tokenizer, t, lim, True), limit)]
            assert again == pieces, name


def _corpus_documents():
    """Long documents to compare cut and uncut Punkt on: the bundled corpus and, where
    present, the shared corpora, each as one document without blank lines."""
    texts = [open(BUNDLED).read()]
    for rel in ("tinyshakespeare.txt", "gutenberg/austen-emma.txt", "wikitext-2/valid.txt"):
        p = os.path.join(SHARED_CORPORA, rel)
        if os.path.exists(p):
            texts.append(open(p).read())
    # 200,000 characters each: uncut Punkt finishes well inside NLTK's 5-second limit
    return [re.sub(r"\n[ \t]*\n", "\n", t)[:200_000] for t in texts]


def test_cuts_at_real_sentence_boundaries_equal_the_uncut_tokenization(punkt_tab):
    docs = _corpus_documents()
    for doc in docs:
        low = doc.lower()
        sp = splitting.make_splitter([doc])
        uncut = list(sp.tokenizer.span_tokenize(low))
        for window in (2000, 9000):
            assert splitting.sentence_spans(sp.tokenizer, low, window) == uncut
        # the whole pipeline with small pieces and windows, worker processes included
        want = tokenizer.tokenize([doc], sp, True, workers=1)
        if doc is docs[0]:   # uncut Punkt, then NLTK's word tokenizer sentence by sentence
            tb = tokenizer.TreebankWords()
            assert sentences_of(want) == [tb.one(low[s:e]) for s, e in uncut if re.search(r"[^\W_]", low[s:e])]
        with pytest.MonkeyPatch.context() as m:
            m.setattr(splitting, "WINDOW", 3000)
            m.setattr(splitting, "UNIT", 20_000)
            got = tokenizer.tokenize([doc], sp, True, workers=2)
        assert sentences_of(got) == sentences_of(want)


def test_five_megabyte_document_without_a_blank_line(punkt_tab):
    """The layout that made NLTK time out: 5 MB, one sentence per line, no blank line."""
    sents = simple_sentences(175_000, seed=2)
    doc = "\n".join(sents)
    assert len(doc) >= 5_000_000
    sp = splitting.make_splitter([doc[:50_000]])
    with time_limit(120):
        # Punkt is what timed out; words at whitespace keep the test quick (the slow test
        # below and the benchmark run the Treebank tokenizer over such documents)
        t = tokenizer.tokenize([doc], sp, True, words="whitespace")
    assert t.n_sentences == len(sents)
    assert sentences_of(t)[-1] == sents[-1].lower().split()


@pytest.mark.slow
def test_five_megabyte_document_through_the_cli(capsys, tmp_path, punkt_tab):
    f = tmp_path / "big.txt"
    f.write_text("\n".join(simple_sentences(175_000, seed=4)))
    r = rnn(capsys, "tokenize", f, "-o", tmp_path / "t.npz", "-q", "--no-cache")
    assert r.code == 0, r
    enc, _, _ = corpusfile.load_corpus(str(tmp_path / "t.npz"))
    assert enc.n_sentences == 175_000


def test_an_exception_inside_nltk_is_one_line_naming_the_file(capsys, tmp_path, monkeypatch):
    def timeout(*a, **k):
        raise TimeoutError("regular-expression match exceeded its 5.0s time limit; the pattern " + "x" * 5000)
    monkeypatch.setattr(splitting, "sentence_spans", timeout)
    f = write_corpus(tmp_path / "c.txt")
    r = rnn(capsys, "tokenize", f, "-o", tmp_path / "t.npz", "-q")
    msg = assert_user_error(r, "c.txt", "TimeoutError")
    assert len(msg) < 400 and not (tmp_path / "t.npz").exists()
