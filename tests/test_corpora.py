"""Real corpora at any size (issue 9): streamed reading, bounded pieces for Punkt,
line-per-sentence and pre-tokenized text, memory-mapped token ids, bad and odd input."""
import codecs
import gzip
import io
import json
import os
import random
import re
import signal
import sys
from contextlib import contextmanager

import nltk
import nltk.data
import numpy as np
import pytest

from rnncli import checkpoint, fileio
from rnncli.cli.display import Progress
from rnncli.errors import DataError
from rnncli.lm import corpus as lmcorpus
from rnncli.lm import corpusfile, sources, splitting, tokenizer
from rnncli.lm import vocab as vocabulary
from rnncli.lm.settings import LMSettings

from .helpers import (REPO, SHARED_NLTK, TINY, assert_user_error, isolated_cache, rnn,  # noqa: F401
                      rnn_proc, write_corpus)

BUNDLED = os.path.join(REPO, "data", "corpus.txt")
SHARED_CORPORA = os.path.join(REPO, "..", "shared", "corpora")
HAVE_PUNKT_TAB = os.path.isdir(os.path.join(SHARED_NLTK, "tokenizers", "punkt_tab", "english"))


@pytest.fixture
def punkt_tab(monkeypatch):
    """The English punkt_tab model where the shared NLTK data has it, else nothing
    installed (Punkt is then trained on a small sample by the tests that need one)."""
    path = os.path.abspath(SHARED_NLTK) if HAVE_PUNKT_TAB else "/nonexistent-nltk-data"
    monkeypatch.setattr(nltk.data, "path", [path])
    return HAVE_PUNKT_TAB


def splitter_for(sample: str):
    return splitting.make_splitter([sample])


@contextmanager
def time_limit(seconds):
    """Fails the test instead of hanging."""
    def boom(signum, frame):
        raise AssertionError(f"took longer than {seconds}s")
    old = signal.signal(signal.SIGALRM, boom)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def sentences_of(tokens):
    out, i = [], 0
    for n in tokens.lengths:
        out.append([tokens.words[j] for j in tokens.ids[i:i + n]])
        i += n
    return out


def simple_sentences(n, seed=0):
    """Unambiguous sentences (no abbreviations, no initials): each is one Punkt sentence."""
    rng = random.Random(seed)
    subj = ["The cat", "A dog", "My sister", "The old miller", "Every farmer", "The baker"]
    verb = ["sat on", "looked at", "carried", "painted", "forgot", "sold"]
    obj = ["the mat", "a red boat", "the bridge", "seven apples", "the quiet harbour", "a letter"]
    end = [".", ".", ".", "!", "?"]
    return [f"{rng.choice(subj)} {rng.choice(verb)} {rng.choice(obj)}{rng.choice(end)}" for _ in range(n)]


# ------------------------------------------------------------------ streaming reading


def test_fragments_equal_whole_text_split_for_any_block_size():
    rng = random.Random(3)
    pieces = ["word", " ", "\n", "\n\n", "\n \t\n", "\n\n\n", "x.", "  ", "\f", "\r"]
    for _ in range(300):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 40)))
        want = [d for d in re.split(r"\n[ \t\r\f\v]*\n", text)]
        for block in (1, 2, 3, 7, 1000):
            blocks = [(text[i:i + block], i + block) for i in range(0, len(text), block)]
            docs = []
            for fr in sources.text_fragments(blocks):
                if fr.new_doc:
                    docs.append(fr.text)
                else:
                    docs[-1] += fr.text
            assert [d for d in docs if d.strip()] == [d for d in want if d.strip()], (text, block)


def test_streaming_path_equals_in_memory_path_on_the_bundled_corpus(punkt_tab, tmp_path, monkeypatch):
    """read_tokens (blocks of the file, pieces, worker processes, the cache) gives the same
    tokens as tokenizing the whole text in memory, for any block size and worker count."""
    src = sources.read_source(BUNDLED)
    docs = sources.documents(src)
    sp = splitting.make_splitter(docs)
    want = tokenizer.tokenize(docs, sp, True, workers=1)
    prog = Progress(True)
    pools = []
    real = tokenizer.multiprocessing.get_context

    def spy(method):
        ctx = real(method)
        pools.append(method)
        return ctx
    monkeypatch.setattr(tokenizer.multiprocessing, "get_context", spy)
    for block, workers in ((8192, 2),):
        monkeypatch.setattr(sources, "BLOCK", block)
        monkeypatch.setattr(os, "cpu_count", lambda: workers)
        got, meta, hit = lmcorpus.read_tokens([BUNDLED], LMSettings(), None, True, str(tmp_path / f"c{block}"), prog)
        assert not hit and meta["kind"] == sp.kind
        assert sentences_of(got) == sentences_of(want)
        assert got.words == want.words
        np.testing.assert_array_equal(got.ids, want.ids)
    assert pools == ["fork"]    # more than 1 MB of text: worker processes on every core
    # and the encoded ids (what training sees) are the same
    vocab, _, _ = vocabulary.build_vocab(want, 8000)
    a, _ = vocabulary.encode(want, vocab)
    b, _ = vocabulary.encode(got, vocab)
    np.testing.assert_array_equal(a.ids, b.ids)


def test_stdin_streams_and_is_read_twice_for_the_punkt_sample(tmp_path, monkeypatch):
    """Standard input is never held whole: the Punkt training sample is kept and served
    again; the tokens equal reading the same bytes from a file."""
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path)])       # no punkt_tab: Punkt is trained
    monkeypatch.setattr(sources, "BLOCK", 2048)
    monkeypatch.setattr(sources, "SAMPLE_REPLAY", 20_000)
    monkeypatch.setattr(splitting, "PUNKT_TRAIN_CHARS", 8_000)
    text = "\n\n".join(" ".join(simple_sentences(5, seed=i)) for i in range(400))
    f = tmp_path / "t.txt"
    f.write_text(text)

    class Stdin:
        buffer = io.BytesIO(text.encode())
    monkeypatch.setattr(sys, "stdin", Stdin)
    prog = Progress(True)
    a, ma, _ = lmcorpus.read_tokens(["-"], LMSettings(), None, True, str(tmp_path / "c"), prog)
    b, mb, _ = lmcorpus.read_tokens([str(f)], LMSettings(), None, False, None, prog)
    assert ma == mb and ma["kind"] == "trained"
    assert sentences_of(a) == sentences_of(b) and a.n_sentences > 1000


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes")
def test_a_named_pipe_is_read_once(capsys, tmp_path):
    """<(zcat corpus.gz) and other pipes: read as a stream (no digest pass, no cache),
    the Punkt sample served again from memory."""
    import threading
    text = "\n\n".join(" ".join(simple_sentences(4, seed=i)) for i in range(300))
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)

    def writer():
        with open(fifo, "w") as f:
            f.write(text)
    th = threading.Thread(target=writer)
    th.start()
    r = rnn(capsys, "tokenize", fifo, "-o", tmp_path / "p.npz", "-q")
    th.join()
    assert r.code == 0, r
    f = tmp_path / "t.txt"
    f.write_text(text)
    r = rnn(capsys, "tokenize", f, "-o", tmp_path / "f.npz", "-q")
    assert r.code == 0, r
    np.testing.assert_array_equal(corpusfile.load_corpus(str(tmp_path / "p.npz"))[0].ids,
                                  corpusfile.load_corpus(str(tmp_path / "f.npz"))[0].ids)
    f.write_bytes(gzip.compress(text.encode()))
    r = rnn(capsys, "tokenize", f, "-o", tmp_path / "g.npz", "-q")
    assert_user_error(r, "t.txt", "gzip", ".gz")


def test_gz_streams(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "BLOCK", 1000)
    text = "\n".join(simple_sentences(3000))
    gz = tmp_path / "t.txt.gz"
    gz.write_bytes(gzip.compress(text.encode()))
    inp = sources.Input(str(gz))
    inp.check()
    blocks = list(inp.blocks())
    assert len(blocks) > 50 and "".join(t for t, _ in blocks) == text
    assert blocks[-1][1] == os.path.getsize(gz)    # progress counts compressed bytes


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

PTB = """ the <unk> company said it expects N sales
 mr. <unk> is chairman of the board
 the company 's shares fell N cents
 analysts said the <unk> was expected
 the board said it would meet in N
 sales rose N N to $ N million
"""


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


# ------------------------------------------------------------------ bad and odd input


def _tokens_of(capsys, tmp_path, path, *opts):
    out = tmp_path / "o.npz"
    r = rnn(capsys, "tokenize", path, "-o", out, "-q", "--no-cache", *opts)
    assert r.code == 0, r
    enc, vocab, _ = corpusfile.load_corpus(str(out))
    out.unlink()
    return [[vocab.words[i] for i in enc.ids[s + 1:s + n - 1]] for s, n in zip(enc.starts, enc.lens)]


def test_byte_order_marks_and_utf16(capsys, tmp_path):
    text = "Laurence had a boat. The tide was going out.\n"
    want = [["laurence", "had", "a", "boat", "."], ["the", "tide", "was", "going", "out", "."]]
    for name, data in (("bom8", codecs.BOM_UTF8 + text.encode()), ("utf16", text.encode("utf-16")),
                       ("utf16be", codecs.BOM_UTF16_BE + text.encode("utf-16-be")), ("utf32", text.encode("utf-32"))):
        f = tmp_path / f"{name}.txt"
        f.write_bytes(data)
        assert _tokens_of(capsys, tmp_path, f) == want, name
    f = tmp_path / "utf16le-no-bom.txt"
    f.write_bytes(((text + "\n") * 3).encode("utf-16-le"))
    r = rnn(capsys, "tokenize", f, "-o", tmp_path / "x.npz", "-q")
    assert_user_error(r, "utf16le-no-bom.txt", "--encoding utf-16-le")
    assert not (tmp_path / "x.npz").exists()
    assert _tokens_of(capsys, tmp_path, f, "--encoding", "utf-16-le") == want * 3


def test_cr_and_crlf_line_ends(capsys, tmp_path):
    want = [["the", "cat", "sat", "."], ["the", "dog", "ran", "."], ["a", "new", "paragraph", "."]]
    for name, data in (("cr", b"The cat sat.\rThe dog ran.\r\rA new paragraph.\r"),
                       ("crlf", b"The cat sat.\r\nThe dog ran.\r\n\r\nA new paragraph.\r\n")):
        f = tmp_path / f"{name}.txt"
        f.write_bytes(data)
        assert _tokens_of(capsys, tmp_path, f, "--sentences", "lines") == want, name
        assert _tokens_of(capsys, tmp_path, f, "--sentences", "lines", "--words", "whitespace") == [
            ["the", "cat", "sat."], ["the", "dog", "ran."], ["a", "new", "paragraph."]]
        assert _tokens_of(capsys, tmp_path, f) == want, name
    # a CR split across two blocks of the stream is still one line end
    blocks = [("a\r", 2), ("\nb\r", 5), ("c", 6)]
    inp = sources.Input("x")
    assert [t for t, _ in inp._decoded(((b.encode(), p) for b, p in blocks))] == ["a", "\nb", "\nc"]


def test_nul_bytes_are_not_part_of_words(capsys, tmp_path):
    f = tmp_path / "nul.txt"
    f.write_bytes(b"The c\x00at sat.\x00The dog ran.\n")
    words = [w for s in _tokens_of(capsys, tmp_path, f) for w in s]
    assert not any("\x00" in w for w in words) and "dog" in words


def test_corrupt_gzip_is_one_line(capsys, tmp_path):
    data = bytearray(gzip.compress(("The cat sat on the mat. " * 20000).encode()))
    for i in range(len(data) // 2, len(data) // 2 + 40):
        data[i] ^= 0x55
    f = tmp_path / "corpus.txt.gz"
    f.write_bytes(bytes(data))
    trunc = tmp_path / "cut.txt.gz"
    trunc.write_bytes(bytes(data[:len(data) // 3]))
    for path in (f, trunc):
        for cmd in (["tokenize", "-o", tmp_path / "t.npz"], ["train", "-o", tmp_path / "m.npz", *TINY]):
            r = rnn(capsys, *cmd, path, "-q")
            assert_user_error(r, path.name, "gzip")
            assert not (tmp_path / "t.npz").exists() and not (tmp_path / "m.npz").exists()


def test_csv_with_quoted_newlines(capsys, tmp_path):
    f = tmp_path / "q.csv"
    f.write_text('id,text\n1,"The cat sat.\nThe dog ran."\n2,"A ""quoted"" word, here."\n')
    assert _tokens_of(capsys, tmp_path, f, "--csv-column", "text") == [
        ["the", "cat", "sat", "."], ["the", "dog", "ran", "."], ["a", "``", "quoted", "''", "word", ",", "here", "."]]


def test_not_a_csv_file_gets_a_short_message(capsys, tmp_path):
    f = tmp_path / "plain.txt"
    f.write_text("word " * 1_000_000)
    r = rnn(capsys, "tokenize", f, "--csv-column", "text", "-o", tmp_path / "t.npz")
    msg = assert_user_error(r, "plain.txt", "'text'", "csv")
    assert len(msg) < 400
    assert not (tmp_path / "t.npz").exists()


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


def test_not_valid_utf8_far_into_a_file_names_the_byte(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "BLOCK", 1000)
    f = tmp_path / "late.txt"
    f.write_bytes(b"The cat sat. " * 500 + b"caf\xe9 " + b"The end. " * 10)
    r = rnn(capsys, "tokenize", f, "-o", tmp_path / "t.npz", "-q")
    msg = assert_user_error(r, "late.txt", "--encoding")
    assert f"byte {13 * 500 + 3} " in msg and "0xe9" in msg


def test_an_exception_inside_nltk_is_one_line_naming_the_file(capsys, tmp_path, monkeypatch):
    def timeout(*a, **k):
        raise TimeoutError("regular-expression match exceeded its 5.0s time limit; the pattern " + "x" * 5000)
    monkeypatch.setattr(splitting, "sentence_spans", timeout)
    f = write_corpus(tmp_path / "c.txt")
    r = rnn(capsys, "tokenize", f, "-o", tmp_path / "t.npz", "-q")
    msg = assert_user_error(r, "c.txt", "TimeoutError")
    assert len(msg) < 400 and not (tmp_path / "t.npz").exists()


def test_empty_stdin_through_lines_mode(tmp_path):
    r = rnn_proc("tokenize", "-", "-o", tmp_path / "t.npz", "-q", "--sentences", "lines", input=b" \n\n ")
    assert_user_error(r, "<stdin>", "empty")
    assert not (tmp_path / "t.npz").exists()


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


# ------------------------------------------------------------------ cache and memory-mapped ids


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


def mapped(a) -> bool:
    """Whether the array's memory is a file mapping (np.asarray of a memmap is a plain
    ndarray over the same mapping)."""
    import mmap
    while a is not None:
        if isinstance(a, (np.memmap, mmap.mmap)):
            return True
        a = getattr(a, "base", None)
    return False


def test_large_ids_live_in_files_that_are_memory_mapped(tmp_path, monkeypatch):
    monkeypatch.setattr(tokenizer, "SPILL_BYTES", 4096)
    f = tmp_path / "c.txt"
    f.write_text("\n".join(simple_sentences(3000)))
    prog = Progress(True)
    t, _, _ = lmcorpus.read_tokens([str(f)], LMSettings(sentences="lines"), None, True, str(tmp_path / "c"), prog)
    assert mapped(t.ids)                            # spilled while tokenizing
    hit, _, was_hit = lmcorpus.read_tokens([str(f)], LMSettings(sentences="lines"), None, True,
                                           str(tmp_path / "c"), prog)
    assert was_hit and mapped(hit.ids) and mapped(hit.lengths)
    np.testing.assert_array_equal(hit.ids, t.ids)
    vocab, _, _ = vocabulary.build_vocab(t, 100)
    enc, _ = vocabulary.encode(t, vocab, str(tmp_path))
    assert mapped(enc.ids)
    out = tmp_path / "corpus.npz"
    corpusfile.save_corpus(str(out), enc, vocab, {})
    loaded, _, _ = corpusfile.load_corpus(str(out))
    assert mapped(loaded.ids) and loaded.ids.ctypes.data % 64 == 0
    with np.load(out) as z:                         # still a plain .npz for other tools
        np.testing.assert_array_equal(z["ids"], enc.ids)
        np.testing.assert_array_equal(z["offsets"], enc.offsets())
    # np.savez's own files map too (tokenized corpora of earlier versions)
    np.savez(tmp_path / "old.npz", ids=np.arange(10, dtype=np.int32))
    np.testing.assert_array_equal(fileio.npz_member(str(tmp_path / "old.npz"), "ids"), np.arange(10))


def test_progress_shows_megabytes_and_words_per_second(tmp_path):
    f = tmp_path / "c.txt"
    f.write_text("\n".join(simple_sentences(2000)))
    bars = []

    class Bar:
        def __init__(self, **kw):
            self.kw, self.n, self.postfix, self.disable = kw, 0, "", False
            bars.append(self)

        def update(self, n):
            self.n += n

        def set_postfix_str(self, s, refresh=True):
            self.postfix = s

        def __enter__(self):
            return self

        def __exit__(self, *a):
            return False

    class Prog:
        def bar(self, **kw):
            return Bar(**kw)

        def note(self, msg):
            pass
    lmcorpus.read_tokens([str(f)], LMSettings(sentences="lines"), None, False, None, Prog())
    tok = [b for b in bars if b.kw["desc"] == "tokenizing"][0]
    assert tok.kw["unit"] == "B" and tok.kw["unit_scale"] and tok.n == os.path.getsize(f)
    assert tok.postfix.endswith("words/s")


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
