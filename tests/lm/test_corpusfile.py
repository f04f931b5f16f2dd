"""Tokenized-corpus files (rnncli/lm/corpusfile.py): what `rnn tokenize` writes, train and eval reading
it, memory-mapped ids."""
import json

import numpy as np
import pytest

from rnncli import checkpoint, fileio
from rnncli.cli.display import Progress
from rnncli.lm import corpus as lmcorpus
from rnncli.lm import corpusfile, sources, splitting, tokenizer
from rnncli.lm import vocab as vocabulary
from rnncli.lm.settings import LMSettings

from ..helpers import rnn, simple_sentences, write_corpus


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
