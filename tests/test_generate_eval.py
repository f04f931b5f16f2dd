"""rnn eval, rnn generate and rnn info on checkpoints whose answers are known: hand-built
weights, the slow reference forward pass and an independent greedy decoder."""
import json
import math
import os

import numpy as np
import pytest

from rnncli import checkpoint
from rnncli.config import END_ID, START_ID, UNK_ID
from rnncli.lm.generate import sample as lm_sample

from . import reference as ref
from .helpers import (TINY, assert_user_error, isolated_cache, json_lines, make_checkpoint, rnn,  # noqa: F401
                      write_corpus)


def sample(ck, *args, **kw):
    """rnncli.lm.generate.sample with the network and parameters of a checkpoint."""
    return lm_sample(ck.network(), ck.params, *args, **kw)

SUMMARY_KEYS = {"sentences", "tokens", "oov_rate", "nll", "cross_entropy", "bits_per_token", "perplexity"}

# ------------------------------------------------------------------ eval by hand

# C = 5: UNKNOWN_TOKEN, SENTENCE_START, SENTENCE_END, a, b; H = 2
HAND_WORDS = ["a", "b"]
HAND_U = [[0.1, 0.5, 0.0, 1.0, -0.7],      # (H, C): column j is U x_t for word j
          [-0.2, 0.3, 0.0, -0.5, 0.8]]
HAND_W = [[0.4, -0.3],
          [0.2, 0.6]]
HAND_V = [[0.3, 0.1],                        # (C, H): row k gives the logit of word k
          [-1.0, -1.0],
          [0.5, -0.4],
          [1.2, 0.3],
          [-0.6, 1.1]]


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


@pytest.fixture
def hand_model(tmp_path):
    return make_checkpoint(tmp_path / "hand.npz", HAND_WORDS, HAND_U, HAND_V, HAND_W)


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


def random_model(path, seed, C=15, H=6, bias=False, scale=0.6, val_sents=None):
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(3, C)]
    p = {"U": rng.normal(0, scale, (H, C)), "V": rng.normal(0, scale, (C, H)), "W": rng.normal(0, scale, (H, H))}
    if bias:
        p["b"], p["c"] = rng.normal(0, 0.3, H), rng.normal(0, 0.3, C)
    make_checkpoint(path, words, p["U"], p["V"], p["W"], val_sents=val_sents, b=p.get("b"), c=p.get("c"))
    return p, words


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


# ------------------------------------------------------------------ generation: bounds and UNKNOWN_TOKEN


def skewed_model(path, end_logit):
    """Every hidden state is about (1, 1): UNKNOWN_TOKEN and SENTENCE_START have by far
    the largest logits, SENTENCE_END the next (end_logit > 0) or a tiny one (< 0)."""
    C, H = 8, 2
    U = np.full((H, C), 3.0)
    W = np.zeros((H, H))
    V = np.zeros((C, H))
    V[UNK_ID] = 8.0
    V[START_ID] = 7.0
    V[END_ID] = end_logit / 2
    V[3:] = np.random.default_rng(0).normal(0, 0.5, (C - 3, H))   # the five words: small logits
    make_checkpoint(path, ["a", "b", "c", "d", "e"], U, V, W)
    return checkpoint.load(str(path))


@pytest.mark.parametrize("min_len,max_len", [(0, 1), (1, 1), (3, 5), (7, 50), (12, 12)])
def test_generation_respects_bounds_and_never_emits_unknown(tmp_path, min_len, max_len):
    likely_end = skewed_model(tmp_path / "end.npz", 12.0)
    never_end = skewed_model(tmp_path / "long.npz", -12.0)
    for seed in range(40):
        for ws, lp, ended in sample(likely_end, 10, np.random.default_rng(seed), min_len, max_len):
            assert not {UNK_ID, START_ID, END_ID} & set(ws)
            assert min_len <= len(ws) <= max_len
            assert ended == (len(ws) == min_len) or len(ws) == max_len   # ends as soon as allowed
            assert np.isfinite(lp)
        for ws, lp, ended in sample(never_end, 10, np.random.default_rng(seed), min_len, max_len, top_k=3):
            assert not {UNK_ID, START_ID, END_ID} & set(ws)
            assert len(ws) == max_len and not ended                   # cut at --max-length


def test_generate_cli_never_prints_unknown(capsys, tmp_path):
    skewed_model(tmp_path / "m.npz", 12.0)
    for seed in range(5):
        r = rnn(capsys, "generate", "-m", tmp_path / "m.npz", "-n", "20", "--seed", seed, "--min-length", "4",
                "--max-length", "6", "--json")
        assert r.code == 0, r
        items = json.loads(r.out)
        assert len(items) == 20
        for it in items:
            assert "UNKNOWN_TOKEN" not in it["tokens"] and "SENTENCE_START" not in it["tokens"]
            assert it["ended"] and it["tokens"][-1] == "SENTENCE_END" and len(it["tokens"]) == 5
        r = rnn(capsys, "generate", "-m", tmp_path / "m.npz", "-n", "20", "--seed", seed, "--min-length", "4")
        assert r.code == 0 and len(r.out.splitlines()) == 20
        assert "UNKNOWN_TOKEN" not in r.out and "SENTENCE" not in r.out


def test_top_k_samples_only_among_the_k_most_likely(tmp_path):
    """A constant hidden state (W = 0, equal U columns) makes the distribution fixed."""
    C, H = 10, 2
    V = np.zeros((C, H))
    V[3:, 0] = np.arange(7) * 0.3          # word 9 most likely, then 8, 7, ...
    V[UNK_ID, 0] = 5.0                     # excluded before the top-k cut
    make_checkpoint(tmp_path / "m.npz", list("abcdefg"), np.full((H, C), 2.0), V, np.zeros((H, H)))
    p = checkpoint.load(str(tmp_path / "m.npz"))
    seen = set()
    for seed in range(20):
        for ws, _, _ in sample(p, 10, np.random.default_rng(seed), 5, 5, top_k=2):
            seen |= set(ws)
    assert seen == {8, 9}
    seen_all = set()
    for ws, _, _ in sample(p, 50, np.random.default_rng(0), 5, 5):
        seen_all |= set(ws)
    assert len(seen_all) > 3


# ------------------------------------------------------------------ temperature 0 and seeds


def greedy_path(p, min_len, max_len, prefix=()):
    """Independent greedy decoder in plain numpy."""
    U, V, W = (np.asarray(p[k], np.float64) for k in ("U", "V", "W"))
    s = np.tanh(U[:, START_ID])
    words = []
    for w in prefix:
        words.append(w)
        s = np.tanh(U[:, w] + W @ s)
    while len(words) < max_len:
        z = V @ s
        z[[UNK_ID, START_ID]] = -np.inf
        if len(words) < min_len:
            z[END_ID] = -np.inf
        w = int(np.argmax(z))
        if w == END_ID:
            return words, True
        words.append(w)
        s = np.tanh(U[:, w] + W @ s)
    return words, False


def test_temperature_zero_is_the_argmax_path(capsys, tmp_path):
    p, words = random_model(tmp_path / "m.npz", 2, C=12, H=4, scale=1.5)
    vocab = ["UNKNOWN_TOKEN", "SENTENCE_START", "SENTENCE_END"] + words
    cases = [(0, 30, ()), (4, 30, ()), (2, 3, ()), (0, 30, (5, 6)), (3, 30, (11,))]
    for min_len, max_len, prefix in cases:
        want, ended = greedy_path(p, min_len, max_len, prefix)
        assert len(set(want)) >= 3                       # the path is not a trivial repetition
        outs = []
        extra = ["--prefix", " ".join(vocab[i] for i in prefix)] if prefix else []
        for seed in (1, 2):
            r = rnn(capsys, "generate", "-m", tmp_path / "m.npz", "-n", "3", "--temperature", "0", "--seed", seed,
                    "--min-length", min_len, "--max-length", max_len, "--json", *extra)
            assert r.code == 0, r
            outs.append(r.out)
            for it in json.loads(r.out):
                assert it["tokens"] == [vocab[i] for i in want] + (["SENTENCE_END"] if ended else [])
                assert it["ended"] == ended
                if ended:
                    assert it["logprob"] == pytest.approx(
                        -ref.sentence_loss(p, np.array([START_ID, *want, END_ID])), rel=1e-9)
        assert outs[0] == outs[1]


def test_same_seed_same_sentences(capsys, tmp_path):
    random_model(tmp_path / "m.npz", 12, C=30, H=5, scale=0.3)
    args = ("generate", "-m", tmp_path / "m.npz", "-n", "6", "--min-length", "3", "--max-length", "12")
    a = rnn(capsys, *args, "--seed", "5")
    b = rnn(capsys, *args, "--seed", "5")
    c = rnn(capsys, *args, "--seed", "6")
    assert a.code == b.code == c.code == 0
    assert a.out == b.out and len(a.out.splitlines()) == 6
    assert a.out != c.out


def test_sampled_logprob_is_the_models_own(tmp_path):
    p, _ = random_model(tmp_path / "m.npz", 13, C=10, H=3, scale=0.8)
    params = checkpoint.load(str(tmp_path / "m.npz"))
    out = sample(params, 30, np.random.default_rng(0), 0, 8, temperature=1.7, top_k=5)
    assert any(e for _, _, e in out) and any(not e for _, _, e in out)
    for ws, lp, ended in out:
        seq = [START_ID, *ws] + ([END_ID] if ended else [])
        if ended:
            assert lp == pytest.approx(-ref.sentence_loss(p, np.array(seq)), rel=1e-9)
        else:   # cut: the words only, no SENTENCE_END scored
            _, o = ref.forward(p, np.array(seq[:-1]))
            assert lp == pytest.approx(sum(np.log(o[t, seq[t + 1]]) for t in range(len(ws))), rel=1e-9)


# ------------------------------------------------------------------ prefixes


@pytest.fixture
def chain_model(tmp_path):
    """The hidden state is (almost) the one-hot of the last input word (U = 4 I, W = 0),
    and V wires the successors: START -> c -> d -> e -> END and a -> b -> e -> END."""
    words = ["a", "b", "c", "d", "e"]
    C = H = 8
    ix = {w: 3 + i for i, w in enumerate(words)}
    V = np.zeros((C, H))
    for prev, nxt in ((START_ID, ix["c"]), (ix["c"], ix["d"]), (ix["d"], ix["e"]), (ix["a"], ix["b"]),
                      (ix["b"], ix["e"]), (ix["e"], END_ID)):
        V[nxt, prev] = 25.0
    path = make_checkpoint(tmp_path / "chain.npz", words, 4 * np.eye(C), V, np.zeros((H, H)))
    return path, {"U": 4 * np.eye(C), "V": V, "W": np.zeros((H, H))}


@pytest.mark.parametrize("temperature", ["0", "1"])
def test_prefix_changes_the_continuation(capsys, chain_model, temperature):
    path, _ = chain_model
    common = ("generate", "-m", path, "-n", "4", "--min-length", "0", "--max-length", "10", "--seed", "3",
              "--temperature", temperature, "--json")

    def tokens(*extra):
        r = rnn(capsys, *common, *extra)
        assert r.code == 0 and r.err == "", r
        return [it["tokens"] for it in json.loads(r.out)]
    assert tokens() == [["c", "d", "e", "SENTENCE_END"]] * 4
    assert tokens("--prefix", "a") == [["a", "b", "e", "SENTENCE_END"]] * 4
    assert tokens("--prefix", "A") == [["a", "b", "e", "SENTENCE_END"]] * 4   # the checkpoint lowercases
    assert tokens("--prefix", "c d") == [["c", "d", "e", "SENTENCE_END"]] * 4
    assert tokens("--prefix", "b") == [["b", "e", "SENTENCE_END"]] * 4


def test_prefix_text_output_and_logprob(capsys, chain_model):
    path, p = chain_model
    r = rnn(capsys, "generate", "-m", path, "-n", "2", "--min-length", "0", "--prefix", "a", "--seed", "0")
    assert r.code == 0, r
    assert r.out.splitlines() == ["A b e", "A b e"]
    r = rnn(capsys, "generate", "-m", path, "-n", "1", "--min-length", "0", "--prefix", "a", "--json")
    (it,) = json.loads(r.out)
    seq = [START_ID, 3, 4, 7, END_ID]
    assert it["logprob"] == pytest.approx(-ref.sentence_loss(p, np.array(seq)), rel=1e-9)


def test_prefix_with_unknown_word_warns(capsys, chain_model):
    path, _ = chain_model
    r = rnn(capsys, "generate", "-m", path, "-n", "2", "--min-length", "0", "--prefix", "a zebra", "--json",
            "--seed", "1")
    assert r.code == 0, r
    assert "warning" in r.err and "zebra" in r.err
    for it in json.loads(r.out):
        assert it["tokens"][:2] == ["a", "zebra"] and it["unknown_prefix_words"] == ["zebra"]
        assert "UNKNOWN_TOKEN" not in it["tokens"]
    r = rnn(capsys, "generate", "-m", path, "-n", "2", "--min-length", "0", "--prefix", "A Zebra", "--seed", "1")
    assert r.code == 0 and "UNKNOWN_TOKEN" not in r.out, r
    assert all(line.startswith("A Zebra ") for line in r.out.splitlines()), r


# ------------------------------------------------------------------ info


def test_info_prints_config_history_and_vocabulary(capsys, tmp_path):
    f = write_corpus(tmp_path / "c.txt")
    m = tmp_path / "m.npz"
    r = rnn(capsys, "train", f, "-o", m, "--hidden-dim", "3", "--vocab-size", "12", "--epochs", "2", "--softmax", "full",
            "-q")
    assert r.code == 0, r
    ck = checkpoint.load(str(m))
    r = rnn(capsys, "info", "-m", m)
    assert r.code == 0, r
    out = r.out
    assert f"C={len(ck.task.vocab)} H=3" in out and f"{3 * len(ck.task.vocab) * 2 + 9} parameters" in out
    assert "trained 2 epochs" in out
    assert "config: " in out and "hidden_dim=3" in out and "vocab_size=12" in out and "lowercase=True" in out
    table = out[out.index("epoch  train_loss"):].splitlines()
    assert [ln.split()[0] for ln in table[1:3]] == ["1", "2"]
    for rec, ln in zip(ck.state["history"], table[1:3]):
        assert f"{rec['train_loss']:.4f}" in ln and f"{rec['val_loss']:.4f}" in ln
    assert "most frequent words: " + " ".join(ck.task.vocab.words[3:23]) in out
    assert ck.task.vocab.words[3] == "the"

    r = rnn(capsys, "info", "-m", m, "--json", "--top", "2")
    d = json.loads(r.out)
    assert d["vocabulary_head"] == ck.task.vocab.words[3:5]
    assert d["config"]["hidden_dim"] == 3 and d["epochs"] == 2 and len(d["history"]) == 2
    assert d["vocab_size"] == len(ck.task.vocab) and d["parameters"] == 6 * len(ck.task.vocab) + 9


def test_info_on_a_checkpoint_without_history(capsys, hand_model):
    r = rnn(capsys, "info", "-m", hand_model)
    assert r.code == 0, r
    assert "C=5 H=2" in r.out and "trained 0 epochs" in r.out and "most frequent words: a b" in r.out


# ------------------------------------------------------------------ pictures


def test_plot_from_checkpoint_and_log(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    corpus = write_corpus(tmp_path / "c.txt")
    m, log = tmp_path / "m.npz", tmp_path / "log.jsonl"
    assert rnn(capsys, "train", corpus, "-o", m, *TINY[:4], "--epochs", "3", "-q", "--log", log).code == 0
    r = rnn(capsys, "info", "-m", m, "--plot", tmp_path / "a.png")
    assert r.code == 0 and "validation loss per epoch: " in r.out, r
    r = rnn(capsys, "plot", log, "-o", tmp_path / "b.png")
    assert r.code == 0, r
    r = rnn(capsys, "plot", m, "-o", tmp_path / "c.png")
    assert r.code == 0, r
    for name in "abc":
        data = (tmp_path / f"{name}.png").read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".png") and f.startswith(".")]


def test_plot_without_matplotlib_is_one_line_naming_the_extra(capsys, tmp_path, monkeypatch):
    import builtins
    corpus = write_corpus(tmp_path / "c.txt")
    m = tmp_path / "m.npz"
    assert rnn(capsys, "train", corpus, "-o", m, *TINY).code == 0
    real_import = builtins.__import__

    def no_matplotlib(name, *a, **k):
        if name.startswith("matplotlib"):
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *a, **k)
    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    r = rnn(capsys, "plot", m, "-o", tmp_path / "x.png")
    assert_user_error(r, "rnncli[plot]")
    assert not (tmp_path / "x.png").exists()


def test_plot_of_a_file_that_is_neither_log_nor_checkpoint(capsys, tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("hello\n")
    assert_user_error(rnn(capsys, "plot", bad, "-o", tmp_path / "x.png"), "notes.txt", "line 1")
