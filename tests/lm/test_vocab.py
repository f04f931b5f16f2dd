"""The vocabulary (rnncli/lm/vocab.py): order, unknown words, START and END, the validation split."""
import numpy as np
import pytest

from rnncli import checkpoint
from rnncli.config import END_ID, SPECIALS, START_ID, UNK_ID
from rnncli.lm import tokenizer
from rnncli.lm import vocab as vocabulary

from ..helpers import CORPUS, TINY, rnn, sentences_of, tokenize_text, write_corpus


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
