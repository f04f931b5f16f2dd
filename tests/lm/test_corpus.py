"""Reading a corpus into token ids (rnncli/lm/corpus.py): the streamed path equals the in-memory one,
standard input, progress."""
import io
import os
import sys

import nltk
import nltk.data
import numpy as np

from rnncli.cli.display import Progress
from rnncli.lm import corpus as lmcorpus
from rnncli.lm import sources, splitting, tokenizer
from rnncli.lm import vocab as vocabulary
from rnncli.lm.settings import LMSettings

from ..helpers import BUNDLED, sentences_of, simple_sentences


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
