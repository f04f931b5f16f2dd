"""Tokenizing (rnncli/lm/tokenizer.py): sentences and words in every mode, lowercasing, huge lines,
worker processes, fuzzed input."""
import json
import os
import random
import signal

import numpy as np
import pytest

from rnncli import checkpoint
from rnncli.errors import DataError
from rnncli.lm import corpusfile, sources, splitting, tokenizer
from rnncli.lm import vocab as vocabulary

from ..helpers import (
    BUNDLED,
    PTB,
    assert_user_error,
    rnn,
    sentences_of,
    simple_sentences,
    splitter_for,
    time_limit,
    tokenize_text,
    write_corpus,
)


def test_a_sentence_never_spans_documents():
    # without a full stop Punkt would keep all four words in one sentence
    assert sentences_of(tokenize_text("the cat\nsat down")) == [["the", "cat", "sat", "down"]]
    assert sentences_of(tokenize_text("the cat\n\nsat down")) == [["the", "cat"], ["sat", "down"]]


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


# ------------------------------------------------------------------ Treebank over many sentences


FUZZ_CHARS = list("abcXYZ .,:;'\"`?!()[]{}<>-*#@$%&\n\r\t\x0b\x0c\x1c\x1f\x85\xa0\u2028\u3000"
                  "«»“”‘’„\u2013\u2014" "0123456789İıſK")
FUZZ_CHARS += ["can", "not", "wanna", "'t", "is", "'s", "n't", "'ll", "...", "--", "''", "``", "gonna", "'tis",
               " '", "' "]


def test_treebank_over_many_sentences_equals_nltk_one_by_one():
    tb = tokenizer.TreebankWords()
    assert tb.batched, "the installed NLTK's word tokenizer changed: update tokenizer._NLTK_RULES"
    rng = random.Random(11)
    sents = ["".join(rng.choice(FUZZ_CHARS) for _ in range(rng.randint(0, 40))) for _ in range(5000)]
    docs = sources.documents(sources.read_source(BUNDLED))
    sp = splitting.make_splitter(docs[:50])
    sents += [s for d in docs[:400] for s in sp.tokenizer.tokenize(d)]
    assert tb.many(sents) == [tb.one(s) for s in sents]


# ------------------------------------------------------------------ lines, whitespace, --unk-token


def test_lines_and_whitespace_read_the_text_as_given():
    t = tokenizer.tokenize([PTB], None, True, sentences="lines", words="whitespace", unk_token="<unk>")
    s = sentences_of(t)
    assert len(s) == 6
    assert s[0] == ["the", "UNKNOWN_TOKEN", "company", "said", "it", "expects", "n", "sales"]
    assert s[1][:2] == ["mr.", "UNKNOWN_TOKEN"] and "'s" in s[2] and "$" in s[5]
    # treebank words keep the marker whole as well
    t = tokenizer.tokenize([PTB], None, True, sentences="lines", unk_token="<unk>")
    assert sentences_of(t)[0][:2] == ["the", "UNKNOWN_TOKEN"]
    assert "<" not in t.words and "unk" not in t.words


def test_lines_whitespace_unk_round_trip(capsys, tmp_path):
    corpus = write_corpus(tmp_path / "ptb.train.txt", PTB * 5)
    test = write_corpus(tmp_path / "ptb.test.txt", " the <unk> said it would meet\n the zebra sales rose\n")
    model = tmp_path / "m.npz"
    opts = ["--sentences", "lines", "--words", "whitespace", "--unk-token", "<unk>"]
    r = rnn(capsys, "train", corpus, "-o", model, *opts, "--hidden-dim", "4", "--epochs", "1", "-q")
    assert r.code == 0, r
    ck = checkpoint.load(str(model))
    st = ck.task.settings
    assert (st.sentences, st.words, st.unk_token) == ("lines", "whitespace", "<unk>")
    assert "<unk>" not in ck.task.vocab.words and "'s" in ck.task.vocab.words and "mr." in ck.task.vocab.words
    # eval applies the stored settings: 2 sentences, <unk> and zebra are the unknown words
    r = rnn(capsys, "eval", "-m", model, "--json", "-q", test)
    assert r.code == 0, r
    s = json.loads(r.out)
    assert s["sentences"] == 2 and s["oov_rate"] == pytest.approx(2 / 10)
    # tokenize -m applies them too
    r = rnn(capsys, "tokenize", test, "-m", model, "-o", tmp_path / "t.npz", "-q")
    assert r.code == 0, r
    enc, vocab, settings = corpusfile.load_corpus(str(tmp_path / "t.npz"))
    assert (settings["sentences"], settings["words"], settings["unk_token"]) == ("lines", "whitespace", "<unk>")
    assert enc.n_sentences == 2 and vocab.words == ck.task.vocab.words
    assert [vocab.words[i] for i in enc.ids[:4]] == ["SENTENCE_START", "the", "UNKNOWN_TOKEN", "said"]
    # a corpus file remembers them for the next tokenize -m
    r = rnn(capsys, "tokenize", test, "-m", tmp_path / "t.npz", "-o", tmp_path / "t2.npz", "-q")
    assert r.code == 0, r
    np.testing.assert_array_equal(corpusfile.load_corpus(str(tmp_path / "t2.npz"))[0].ids, enc.ids)
    r = rnn(capsys, "tokenize", test, "-m", model, "-o", tmp_path / "t3.npz", "-q", "--words", "treebank")
    assert_user_error(r, "--words treebank", "contradicts", "--words whitespace")
    # generate --prefix: the marker is UNKNOWN_TOKEN, not an unknown word
    r = rnn(capsys, "generate", "-m", model, "-n", "1", "--prefix", "the <unk>", "--json", "--min-length", "0",
            "--max-length", "5")
    assert r.code == 0 and "warning" not in r.err, r
    assert json.loads(r.out)[0]["tokens"][:2] == ["the", "UNKNOWN_TOKEN"]
    # resuming with a contradicting setting is refused, nothing written
    for opt, stored in ((["--sentences", "punkt"], "--sentences lines"),
                        (["--words", "treebank"], "--words whitespace"),
                        (["--unk-token", "<UNK>"], "--unk-token <unk>")):
        r = rnn(capsys, "train", corpus, "--resume", model, "-o", tmp_path / "r.npz", "--epochs", "2", "-q", *opt)
        assert_user_error(r, " ".join(opt) + " contradicts the checkpoint", stored)
        assert not (tmp_path / "r.npz").exists()
    r = rnn(capsys, "train", corpus, "--resume", model, "-o", tmp_path / "r.npz", "--epochs", "2", "-q", *opts)
    assert r.code == 0, r
    # and a corpus from `rnn tokenize` trains with its own settings
    r = rnn(capsys, "tokenize", corpus, *opts, "-o", tmp_path / "c.npz", "-q")
    assert r.code == 0, r
    r = rnn(capsys, "train", tmp_path / "c.npz", "-o", tmp_path / "m2.npz", "--hidden-dim", "4", "--epochs", "1", "-q")
    assert r.code == 0, r
    assert checkpoint.load(str(tmp_path / "m2.npz")).task.settings.words == "whitespace"


@pytest.mark.parametrize("value", ["", " ", "a b"])
def test_bad_unk_token(capsys, tmp_path, value):
    f = write_corpus(tmp_path / "c.txt")
    for cmd in ("train", "tokenize"):
        r = rnn(capsys, cmd, f, "-o", tmp_path / "out.npz", "--unk-token", value, "-q")
        assert_user_error(r, "--unk-token")
        assert r.code == 2 and not (tmp_path / "out.npz").exists()


def test_huge_line_in_every_mode(tmp_path):
    """A 1.2 MB line (benchmarks/corpora.py runs 100 MB): tokenized in bounded pieces, no
    sentence longer than the window, nothing lost."""
    line = " ".join(simple_sentences(40_000, seed=9))
    assert len(line) > 2 * splitting.UNIT
    sp = splitter_for(line[:20_000])
    with time_limit(120):
        for sentences, words in (("punkt", "whitespace"), ("lines", "whitespace")):
            t = tokenizer.tokenize([line], sp, True, sentences=sentences, words=words)
            assert int(t.lengths.sum()) >= line.count(" ")
            assert t.lengths.max() <= splitting.WINDOW // 2
        nospace = tokenizer.tokenize(["x" * 300_000], sp, True, sentences="lines", words="whitespace")
        assert sentences_of(nospace) == [["UNKNOWN_TOKEN"]] * (300_000 // splitting.WINDOW + 1)


# ------------------------------------------------------------------ seeded fuzz


def _random_text(rng: random.Random) -> bytes:
    kind = rng.choice(["bytes", "unicode", "layout", "huge-line", "ascii-punct"])
    if kind == "bytes":
        return bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 3000)))
    if kind == "unicode":
        cps = [rng.choice([rng.randint(32, 126), rng.randint(0x80, 0x2FFF), rng.randint(0x3000, 0xD7FF),
                           rng.randint(0xE000, 0x10FFFF), rng.choice([0, 9, 10, 13, 0x85, 0x2028, 0xFEFF, 0xFDD0])])
               for _ in range(rng.randint(0, 2000))]
        return "".join(map(chr, cps)).encode("utf-8", "surrogatepass")
    if kind == "layout":
        parts = [rng.choice(FUZZ_CHARS) for _ in range(rng.randint(0, 4000))]
        return "".join(parts).encode()
    if kind == "huge-line":
        unit = rng.choice(["word ", "a.b.c.", "Mr. X. ", "x", "?! ", "'s n't ", "\t"])
        return (unit * (200_000 // len(unit))).encode()
    return "".join(rng.choice(".?!,;:'\"() \n") for _ in range(rng.randint(0, 5000))).encode()


@pytest.mark.parametrize("seed", range(2))
def test_fuzz_reading_splitting_tokenizing_encoding(tmp_path, seed, monkeypatch):
    """Random bytes, random Unicode, random layouts and huge lines: every input ends in
    tokens or a DataError (one line), never another exception, never a hang."""
    monkeypatch.setattr(sources, "BLOCK", 4096)
    rng = random.Random(seed)
    sp = splitter_for(" ".join(simple_sentences(100)))
    outcomes = {"tokens": 0, "error": 0}
    with time_limit(150):
        for i in range(12):
            data = _random_text(rng)
            f = tmp_path / f"f{i}.txt"
            f.write_bytes(data)
            for sentences, words in (("punkt", "treebank"), ("lines", "whitespace"), ("lines", "treebank")):
                unk = rng.choice([None, "<unk>", "x"])
                try:
                    inp = sources.Input(str(f), rng.choice(["utf-8", "latin-1"]))
                    inp.check()
                    inp.digest()
                    t = tokenizer.tokenize(sources.fragments([inp]), sp, rng.random() < 0.8, workers=1,
                                           sentences=sentences, words=words, unk_token=unk)
                    vocab, _, _ = vocabulary.build_vocab(t, 50) if t.n_sentences else (None, None, None)
                    if vocab is not None:
                        enc, _ = vocabulary.encode(t, vocab)
                        assert enc.n_sentences == t.n_sentences
                        assert all(w and not any(c.isspace() for c in w) and "\x00" not in w
                                   and sources.PLACEHOLDER not in w for w in t.words)
                    outcomes["tokens"] += 1
                except DataError as e:
                    assert "\n" not in str(e) and len(str(e)) < 400
                    outcomes["error"] += 1
    assert outcomes["tokens"] > 0


def _unit_reporting_signals(job):
    """Stands in for tokenizer._safe_unit inside the (forked) workers."""
    if os.getpid() == _PARENT[0]:
        return _REAL_SAFE_UNIT(job)
    _PARENT.append("worker ran")      # only the worker's copy of the list grows
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL, "worker kept a Python SIGTERM handler"
    assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    return _REAL_SAFE_UNIT(job)


_REAL_SAFE_UNIT = tokenizer._safe_unit
_PARENT = [None]


def test_tokenizing_workers_die_on_sigterm_without_a_python_handler(monkeypatch):
    """The CLI installs a Python SIGTERM handler; forked workers must not keep it: one
    that only runs between bytecodes lost the SIGTERM of Pool.terminate() when it landed
    just before a worker blocked on the task queue, and `rnn tokenize` hung for good."""
    old = signal.signal(signal.SIGTERM, lambda *a: None)
    _PARENT[0] = os.getpid()
    try:
        monkeypatch.setattr(tokenizer, "_safe_unit", _unit_reporting_signals)
        monkeypatch.setattr(tokenizer, "PARALLEL_CHARS", 10_000)
        monkeypatch.setattr(splitting, "UNIT", 20_000)
        text = "\n".join(simple_sentences(6000, seed=4))
        want = tokenizer.tokenize([text], None, True, workers=1, sentences="lines")
        got = tokenizer.tokenize([text], None, True, workers=2, sentences="lines")
        assert sentences_of(got) == sentences_of(want)
        assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL   # the parent's is untouched
    finally:
        signal.signal(signal.SIGTERM, old)
