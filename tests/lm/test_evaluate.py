"""Scoring text (rnncli/lm/evaluate.py): hand-built models, the slow reference, stored validation
sentences, long sentences in small batches."""
import json
import math

import numpy as np
import pytest

from rnncli.config import END_ID, START_ID, UNK_ID
from rnncli.lm import evaluate

from .. import reference as ref
from .. import tutorial as model
from ..helpers import (
    HAND_U,
    HAND_V,
    HAND_W,
    class_checkpoint,
    encoded_sentences,
    json_lines,
    make_checkpoint,
    random_model,
    rnn,
)


def test_eval_of_a_very_long_sentence_is_exact_in_small_batches(monkeypatch):
    monkeypatch.setattr(evaluate, "EVAL_TOKENS", 64)
    enc, sents = encoded_sentences([400, 3, 70, 2], C=20, seed=2)
    p = model.init_params(20, 5, np.random.default_rng(3), "float64")
    for k in p:
        p[k][...] = np.random.default_rng(4).normal(0, 0.5, p[k].shape)
    p = model.as_layout(p)
    nll, n = evaluate.total_nll(model.network(p), model.namespaced(p), enc, model.Workspace())
    assert n == enc.n_predicted
    assert nll == pytest.approx(sum(ref.sentence_loss(p, s) for s in sents), rel=1e-12)


@pytest.mark.parametrize("seed,bias", [(0, False), (1, True)])
def test_eval_with_the_class_softmax_equals_reference_forward_pass(capsys, tmp_path, seed, bias):
    t, cmap, words = class_checkpoint(tmp_path / "m.npz", bias=bias, seed=seed)
    rng = np.random.default_rng(100 + seed)
    sents, docs = [], []
    for _ in range(25):
        ids = rng.integers(3, len(words) + 4, int(rng.integers(1, 13)))  # len(words)+3: outside the vocabulary
        docs.append(" ".join(words[i - 3] if i < len(words) + 3 else "outside" for i in ids))
        sents.append([START_ID] + [int(i) if i < len(words) + 3 else UNK_ID for i in ids] + [END_ID])
    f = tmp_path / "text.txt"
    f.write_text("\n\n".join(docs) + "\n")
    r = rnn(capsys, "eval", "-m", tmp_path / "m.npz", "--per-sentence", "--json", "-q", f)
    assert r.code == 0, r
    *rows, summary = json_lines(r.out)
    losses = [ref.class_sentence_loss(t, cmap, np.array(s)) for s in sents]
    assert [row["logprob"] for row in rows] == pytest.approx([-x for x in losses], rel=1e-10)
    assert summary["nll"] == pytest.approx(sum(losses), rel=1e-10)
    assert summary["tokens"] == sum(len(s) - 1 for s in sents)


def test_eval_with_the_class_softmax_of_stored_validation_sentences(capsys, tmp_path):
    rng = np.random.default_rng(7)
    val = [[START_ID, *rng.integers(3, 15, int(rng.integers(0, 9))).tolist(), END_ID] for _ in range(300)]
    t, cmap, _ = class_checkpoint(tmp_path / "m.npz", val_sents=val, seed=3)
    r = rnn(capsys, "eval", "-m", tmp_path / "m.npz", "--json", "-q")
    assert r.code == 0, r
    got = json.loads(r.out)
    assert got["nll"] == pytest.approx(sum(ref.class_sentence_loss(t, cmap, np.array(s)) for s in val), rel=1e-10)


SUMMARY_KEYS = {"sentences", "tokens", "oov_rate", "nll", "cross_entropy", "bits_per_token", "perplexity"}


# ------------------------------------------------------------------ eval by hand


def surprisals_by_hand(seq):
    """-log p of every token after the first, written out: s_t = tanh(U x_t + W s_{t-1}),
    z = V s_t, p = exp(z_y) / sum_k exp(z_k)."""
    s = [0.0, 0.0]
    out = []
    for x, y in zip(seq[:-1], seq[1:]):
        s = [math.tanh(HAND_U[i][x] + HAND_W[i][0] * s[0] + HAND_W[i][1] * s[1]) for i in range(2)]
        z = [HAND_V[k][0] * s[0] + HAND_V[k][1] * s[1] for k in range(5)]
        denominator = sum(math.exp(zk) for zk in z)
        out.append(-math.log(math.exp(z[y]) / denominator))
    return out


def test_eval_hand_built_model_equals_hand_computation(capsys, tmp_path, hand_model):
    f = tmp_path / "one.txt"
    f.write_text("A zebra b\n")              # -> SENTENCE_START a UNKNOWN_TOKEN b SENTENCE_END
    A, B = 3, 4
    expect = surprisals_by_hand([START_ID, A, UNK_ID, B, END_ID])
    nll = sum(expect)
    assert 3 < nll < 12                       # a non-trivial number
    r = rnn(capsys, "eval", "-m", hand_model, "--json", "-q", f)
    assert r.code == 0, r
    got = json.loads(r.out)
    assert SUMMARY_KEYS <= set(got)
    assert got["sentences"] == 1 and got["tokens"] == 4
    assert got["oov_rate"] == pytest.approx(1 / 3)
    assert got["nll"] == pytest.approx(nll, rel=1e-12)
    assert got["cross_entropy"] == pytest.approx(nll / 4, rel=1e-12)
    assert got["bits_per_token"] == pytest.approx(nll / 4 / math.log(2), rel=1e-12)
    assert got["perplexity"] == pytest.approx(math.exp(nll / 4), rel=1e-12)

    r = rnn(capsys, "eval", "-m", hand_model, "-q", f)
    assert r.code == 0, r
    assert f"cross-entropy {nll / 4:.4f} nats/token ({nll / 4 / math.log(2):.4f} bits)" in r.out
    assert f"perplexity {math.exp(nll / 4):.2f}" in r.out
    assert "oov rate 33.33%" in r.out


def test_eval_per_sentence_hand_built(capsys, tmp_path, hand_model):
    f = tmp_path / "two.txt"
    f.write_text("a b\n\nb b a\n")
    seqs = [[START_ID, 3, 4, END_ID], [START_ID, 4, 4, 3, END_ID]]
    r = rnn(capsys, "eval", "-m", hand_model, "--per-sentence", "--json", "-q", f)
    assert r.code == 0, r
    *rows, summary = json_lines(r.out)
    assert [row["sentence"] for row in rows] == [0, 1]
    for row, seq in zip(rows, seqs):
        expect = surprisals_by_hand(seq)
        assert row["tokens"] == [["UNKNOWN_TOKEN", "SENTENCE_START", "SENTENCE_END", "a", "b"][i] for i in seq[1:]]
        assert row["surprisal"] == pytest.approx(expect, abs=1e-4)
        assert row["logprob"] == pytest.approx(-sum(expect), rel=1e-12)
    assert summary["nll"] == pytest.approx(sum(sum(surprisals_by_hand(s)) for s in seqs), rel=1e-12)

    r = rnn(capsys, "eval", "-m", hand_model, "--per-sentence", "-q", f)
    lines = r.out.splitlines()
    expect = surprisals_by_hand(seqs[0])
    assert lines[0] == "0\tlogprob {:.3f}\t{}".format(-sum(expect), " ".join(
        f"{t}:{s:.2f}" for t, s in zip(["a", "b", "SENTENCE_END"], expect)))
    assert lines[1].startswith("1\tlogprob ")


# ------------------------------------------------------------------ eval against the reference


@pytest.mark.parametrize("seed,bias", [(0, False), (1, True), (2, False)])
def test_eval_equals_reference_forward_pass(capsys, tmp_path, seed, bias):
    p, words = random_model(tmp_path / "m.npz", seed, bias=bias)
    rng = np.random.default_rng(100 + seed)
    sents, docs = [], []
    for _ in range(25):
        n = int(rng.integers(1, 13))
        ids = rng.integers(3, len(words) + 4, n)         # len(words)+3 is a word outside the vocabulary
        docs.append(" ".join(words[i - 3] if i < len(words) + 3 else "outside" for i in ids))
        sents.append([START_ID] + [int(i) if i < len(words) + 3 else UNK_ID for i in ids] + [END_ID])
    f = tmp_path / "text.txt"
    f.write_text("\n\n".join(docs) + "\n")
    r = rnn(capsys, "eval", "-m", tmp_path / "m.npz", "--per-sentence", "--json", "-q", f)
    assert r.code == 0, r
    *rows, summary = json_lines(r.out)
    losses = [ref.sentence_loss(p, np.array(s)) for s in sents]
    assert [row["logprob"] for row in rows] == pytest.approx([-x for x in losses], rel=1e-10)
    assert summary["nll"] == pytest.approx(sum(losses), rel=1e-10)
    assert summary["tokens"] == sum(len(s) - 1 for s in sents)
    assert summary["sentences"] == 25
    n_words = sum(len(s) - 2 for s in sents)
    assert summary["oov_rate"] == pytest.approx(sum(s[1:-1].count(UNK_ID) for s in sents) / n_words)


def test_eval_without_file_scores_stored_validation_sentences(capsys, tmp_path):
    """Over 256 stored sentences, so scoring runs in more than one batch."""
    rng = np.random.default_rng(7)
    C = 15
    val = [[START_ID, *rng.integers(0, C, int(rng.integers(0, 9))).tolist(), END_ID] for _ in range(300)]
    val = [[START_ID] + [w if w not in (START_ID, END_ID) else UNK_ID for w in s[1:-1]] + [END_ID] for s in val]
    p, _ = random_model(tmp_path / "m.npz", 3, C=C, val_sents=val)
    r = rnn(capsys, "eval", "-m", tmp_path / "m.npz", "--json", "-q")
    assert r.code == 0, r
    got = json.loads(r.out)
    assert got["sentences"] == 300 and got["tokens"] == sum(len(s) - 1 for s in val)
    assert got["nll"] == pytest.approx(sum(ref.sentence_loss(p, np.array(s)) for s in val), rel=1e-10)


def test_json_output_is_valid_when_perplexity_overflows(capsys, tmp_path):
    """Finite but huge weights: cross-entropy above 700 nats, so perplexity is infinite.
    The JSON says null, and why."""
    C, H = 6, 2
    V = np.zeros((C, H))
    V[3] = 600.0                      # every hidden state pushes all mass onto word 3
    val = [[1, 4, 2], [1, 5, 5, 2]]
    make_checkpoint(tmp_path / "m.npz", ["a", "b", "c"], np.full((H, C), 3.0), V, np.zeros((H, H)), val_sents=val)
    r = rnn(capsys, "eval", "-m", tmp_path / "m.npz", "--json", "-q")
    assert r.code == 0, r
    got = json.loads(r.out, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    assert got["cross_entropy"] > 700 and got["perplexity"] is None
    assert got["non_finite"] == {"perplexity": "inf"}
    r = rnn(capsys, "eval", "-m", tmp_path / "m.npz", "--json", "--per-sentence", "-q")
    assert r.code == 0, r
    for line in r.out.splitlines():
        json.loads(line, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
