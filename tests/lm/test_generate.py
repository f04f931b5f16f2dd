"""Sampling sentences (rnncli/lm/generate.py): bounds, UNKNOWN_TOKEN never emitted, temperature, top-k,
prefixes and the model's own log-probabilities."""
import json
import math

import numpy as np
import pytest

from rnncli import checkpoint
from rnncli.config import END_ID, START_ID, UNK_ID
from rnncli.lm.generate import sample as lm_sample

from .. import reference as ref
from ..helpers import class_checkpoint, make_checkpoint, random_model, rnn


def chi2_upper(df, z=3.719):
    """Wilson-Hilferty approximation of the chi-square quantile at standard normal z
    (3.719: the 0.9999 quantile): a test that fails by chance once in 10,000 seeds."""
    return df * (1 - 2 / (9 * df) + z * math.sqrt(2 / (9 * df))) ** 3


@pytest.mark.parametrize("temperature,top_k,prefix", [(1.0, 0, []), (0.6, 0, [5]), (1.7, 4, [3, 7])])
def test_generation_statistics_match_the_models_distribution(tmp_path, temperature, top_k, prefix):
    """The first sampled word's frequencies against the model's own distribution over all
    words (from the reference), with UNKNOWN_TOKEN and SENTENCE_START removed, then
    temperature and top-k applied to it: a chi-square test with a fixed seed."""
    t, cmap, _ = class_checkpoint(tmp_path / "m.npz", C=12, H=4, K=4, scale=1.0, seed=11)
    ck = checkpoint.load(str(tmp_path / "m.npz"))
    n = 40000
    out = lm_sample(ck.network(), ck.params, n, np.random.default_rng(5), min_length=0,
                 max_length=len(prefix) + 1, temperature=temperature, top_k=top_k, prefix=prefix)
    first = np.array([ws[len(prefix)] if len(ws) > len(prefix) else END_ID for ws, _, _ in out])
    # the model's distribution after START + prefix, from the reference recurrence
    s, _ = ref.forward({"U": t["U"], "W": t["W"], "V": t["Vk"]}, [START_ID] + prefix)
    pw = ref.class_distribution(t, cmap, s[-1])
    q = np.log(pw)
    q[[UNK_ID, START_ID]] = -np.inf
    q /= temperature
    if top_k:
        q[q < np.sort(q)[-top_k]] = -np.inf
    expect = np.exp(q - q.max())
    expect /= expect.sum()
    counts = np.bincount(first, minlength=len(pw))
    assert counts[expect == 0].sum() == 0
    live = expect > 0
    stat = float((((counts[live] - n * expect[live]) ** 2) / (n * expect[live])).sum())
    assert stat < chi2_upper(live.sum() - 1), (stat, counts, n * expect)
    # the reported log-probability is the model's own, at temperature 1
    ws, lp, ended = out[0]
    seq = [START_ID] + ws + ([END_ID] if ended else [])
    s_all, _ = ref.forward({"U": t["U"], "W": t["W"], "V": t["Vk"]}, seq[:-1])
    want = sum(np.log(ref.class_distribution(t, cmap, s_all[i])[seq[i + 1]]) for i in range(len(seq) - 1))
    assert lp == pytest.approx(want, rel=1e-10)


def sample(ck, *args, **kw):
    """rnncli.lm.generate.sample with the network and parameters of a checkpoint."""
    return lm_sample(ck.network(), ck.params, *args, **kw)


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


@pytest.mark.parametrize("temperature", ["1e-320", "5e-324", "1e-300", "1e300"])
def test_generate_with_extreme_temperatures_never_emits_unknown(capsys, trained, temperature):
    """Found by the fuzz suite: a subnormal temperature turned every logit into -inf and
    the sampler fell back to id 0, UNKNOWN_TOKEN. A tiny temperature is the argmax path."""
    r = rnn(capsys, "generate", "-m", trained, "-n", "3", "--json", "--seed", "2", "--temperature", temperature)
    assert r.code == 0, r
    for item in json.loads(r.out):
        assert "UNKNOWN_TOKEN" not in item["tokens"] and item["tokens"]
    if float(temperature) < 1e-200:
        greedy = rnn(capsys, "generate", "-m", trained, "-n", "3", "--json", "--temperature", "0")
        assert [i["tokens"] for i in json.loads(r.out)] == [i["tokens"] for i in json.loads(greedy.out)]
