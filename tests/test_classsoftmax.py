"""The class-factored softmax: fast kernels against finite differences and the slow
per-sentence reference (tests/reference.py), the exact full distribution, the class
map (frequency binning, checkpoints), eval, generation statistics and every command."""
import json
import math
import os

import numpy as np
import pytest

from rnncli import checkpoint, registry
from rnncli.batching import Encoded, pack
from rnncli.config import END_ID, START_ID, UNK_ID, Config
from rnncli.lm.generate import sample
from rnncli.lm.task import LanguageModel, LMData
from rnncli.nn.classsoftmax import ClassSoftmax, default_classes, frequency_classes
from rnncli.nn.network import Network
from rnncli.nn.workspace import Workspace
from rnncli.train import Trainer

from . import reference as ref
from .helpers import assert_user_error, isolated_cache, json_lines, rnn, write_corpus  # noqa: F401
from .test_model import random_batch
from .test_train import small_cfg, toy_corpus

TUT = {"U": "layer0.U", "W": "layer0.W", "b": "layer0.b", "V": "out.V", "c": "out.c", "Vk": "out.Vk",
       "ck": "out.ck"}


def zipf_counts(C, rng=None):
    c = np.round(1e5 / np.arange(1, C + 1)).astype(np.int64)
    return c if rng is None else c + rng.integers(0, 3, C)


def class_maps(C, K, rng):
    """A frequency-binned map (consecutive ids per class) and a scattered random one."""
    binned = frequency_classes(zipf_counts(C), K)
    scattered = rng.permutation(np.r_[np.arange(K), rng.integers(0, K, C - K)])
    return {"binned": binned, "scattered": scattered}


def class_net(C, H, class_of, bias=False):
    return Network(C, H, bias=bias, output="class", classes=int(np.max(class_of)) + 1, class_of=class_of)


def random_params(net, rng, scale=0.5, dtype="float64"):
    p = net.init(rng, dtype)
    for k in p:                      # larger than at initialisation: every term counts
        p[k][...] = rng.normal(0, scale, p[k].shape)
    return net.as_layout(p)


def tutorial_names(p):
    back = {v: k for k, v in TUT.items()}
    return {back[k]: v for k, v in p.items()}


def fast(net, p, enc, truncate, scale=1.0):
    g = net.zeros_like(p)
    nll = net.loss_and_grads(p, pack(enc, np.arange(enc.n_sentences)), g, Workspace(threads=2), truncate,
                             scale=scale)
    return nll, tutorial_names(g)


def slow(p, class_of, sents, truncate, scale=1.0):
    t = tutorial_names(p)
    g = {k: np.zeros_like(v) for k, v in t.items()}
    nll = 0.0
    for s in sents:
        nll += ref.class_sentence_loss(t, class_of, s)
        for k, v in ref.class_sentence_grads(t, class_of, s, truncate).items():
            g[k] += scale * v
    return nll, g


# ------------------------------------------------------------------ kernels


@pytest.mark.parametrize("kind", ["binned", "scattered"])
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("truncate", [-1, 0, 1, 4, 7])
def test_fast_equals_reference(truncate, bias, kind):
    rng = np.random.default_rng(2 + truncate + 10 * bias + 3 * (kind == "binned"))
    C, H, K = 23, 6, 5
    cmap = class_maps(C, K, rng)[kind]
    net = class_net(C, H, cmap, bias)
    p = random_params(net, rng)
    enc, sents = random_batch(rng, C, [0, 5, 1, 12, 3, 12, 8])  # mixed lengths, ties, empty
    nll_f, g_f = fast(net, p, enc, truncate, scale=0.25)
    nll_s, g_s = slow(p, cmap, sents, truncate, scale=0.25)
    assert abs(nll_f - nll_s) < 1e-10
    assert set(g_f) == set(g_s)
    for k in g_s:
        np.testing.assert_allclose(g_f[k], g_s[k], rtol=0, atol=1e-10, err_msg=k)


def truncated_objective(t, cmap, sents, truncate, s_fixed):
    """A function whose exact gradient is the truncated-BPTT gradient (see test_model):
    output t recomputed from s_{t-K-1}, held fixed, through K+1 steps; the output layer
    is the class-factored softmax written from its equations."""
    total = 0.0
    H = t["W"].shape[0]
    for s, states in zip(sents, s_fixed):
        x, y = s[:-1], s[1:]
        for i in range(len(y)):
            k0 = 0 if truncate < 0 else max(0, i - truncate)
            h = states[k0 - 1] if k0 > 0 else np.zeros(H)
            for k in range(k0, i + 1):
                h = np.tanh(t["U"][:, x[k]] + t["W"] @ h + (t["b"] if "b" in t else 0))
            zk = t["Vk"] @ h + (t["ck"] if "ck" in t else 0)
            members = np.flatnonzero(cmap == cmap[y[i]])
            zw = t["V"][members] @ h + (t["c"][members] if "c" in t else 0)
            total += (np.log(np.exp(zk - zk.max()).sum()) + zk.max() - zk[cmap[y[i]]]
                      + np.log(np.exp(zw - zw.max()).sum()) + zw.max() - zw[list(members).index(y[i])])
    return total


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("truncate", [-1, 0, 2, 4])
def test_gradient_check_finite_differences(truncate, bias):
    rng = np.random.default_rng(200 + truncate + 7 * bias)
    C, H, K = 11, 4, 3
    cmap = class_maps(C, K, rng)["scattered"]
    net = class_net(C, H, cmap, bias)
    p = random_params(net, rng)
    t = tutorial_names(p)
    enc, sents = random_batch(rng, C, [6, 2, 9, 0])  # a packed batch of mixed lengths
    s_fixed = [ref.forward({"U": t["U"], "W": t["W"], "V": t["Vk"], **({"b": t["b"]} if bias else {})},
                           s[:-1])[0] for s in sents]
    nll, g = fast(net, p, enc, truncate)
    assert nll == pytest.approx(truncated_objective(t, cmap, sents, -1, s_fixed), rel=1e-12)
    h = 1e-6
    for k in t:
        num = np.zeros(t[k].shape)
        for idx in np.ndindex(t[k].shape):
            old = t[k][idx]
            t[k][idx] = old + h
            lp = truncated_objective(t, cmap, sents, truncate, s_fixed)
            t[k][idx] = old - h
            lm = truncated_objective(t, cmap, sents, truncate, s_fixed)
            t[k][idx] = old
            num[idx] = (lp - lm) / (2 * h)
        err = np.abs(num - g[k]).max() / max(1e-8, np.abs(num).max())
        assert err < 1e-6, (k, err)


def test_dropout_gradient_matches_fixed_mask():
    """With dropout the gradient is that of the loss under the sampled mask (dropout
    divides the hidden bound of the class layer's no-shift exponent by the keep rate)."""
    rng = np.random.default_rng(8)
    C, H = 13, 5
    net = class_net(C, H, frequency_classes(zipf_counts(C), 4), bias=True)
    p = random_params(net, rng)
    enc, _ = random_batch(rng, C, [4, 6, 3])
    b = pack(enc, np.arange(3))

    def run():
        g = net.zeros_like(p)
        nll = net.loss_and_grads(p, b, g, Workspace(), -1, dropout=0.3, rng=np.random.default_rng(42))
        return nll, g

    nll, g = run()
    h = 1e-6
    for k, idx in (("out.V", (5, 2)), ("out.Vk", (1, 3)), ("out.c", (7,)), ("layer0.W", (1, 2))):
        old = p[k][idx]
        p[k][idx] = old + h
        lp, _ = run()
        p[k][idx] = old - h
        lm, _ = run()
        p[k][idx] = old
        assert g[k][idx] != 0 and (lp - lm) / (2 * h) == pytest.approx(g[k][idx], rel=1e-5, abs=1e-9), k


def test_absent_classes_get_zero_gradient_and_only_used_rows_are_written():
    rng = np.random.default_rng(1)
    C, H, K = 30, 5, 6
    cmap = frequency_classes(zipf_counts(C), K)
    net = class_net(C, H, cmap)
    p = random_params(net, rng)
    # targets only from classes 0 and 2 (and START as input)
    words = np.flatnonzero((cmap == 0) | (cmap == 2))
    words = words[words != START_ID]
    sents = [np.r_[START_ID, rng.choice(words, 6)] for _ in range(3)]
    lens = np.array([len(s) for s in sents], np.int32)
    enc = Encoded(np.concatenate(sents).astype(np.int32), np.r_[0, np.cumsum(lens)[:-1]].astype(np.int64), lens)
    g = net.zeros_like(p)
    for v in g.values():
        v[...] = 7.0                                    # stale values from an earlier batch
    net.loss_and_grads(p, pack(enc, np.arange(3)), g, Workspace(), -1)
    used = (cmap == 0) | (cmap == 2)
    assert np.all(g["out.V"][~used] == 0)               # stale values gone, nothing written
    _, ref_g = slow(p, cmap, sents, -1)
    np.testing.assert_allclose(g["out.V"], ref_g["V"], atol=1e-10)


def test_float32_close_to_float64_and_large_logits_use_the_shift():
    rng = np.random.default_rng(3)
    C, H, K = 60, 8, 7
    cmap = frequency_classes(zipf_counts(C), K)
    net = class_net(C, H, cmap, bias=True)
    enc, sents = random_batch(rng, C, [10, 4, 7, 7, 1])
    for scale in (0.3, 40.0):                             # 40: logits far beyond exp's range
        p64 = random_params(net, np.random.default_rng(4), scale)
        p32 = net.as_layout(p64, np.float32)
        n64, g64 = fast(net, p64, enc, 4)
        n32, g32 = fast(net, p32, enc, 4)
        n_ref, _ = slow(p64, cmap, sents, 4)
        assert np.isfinite(n32) and n64 == pytest.approx(n_ref, rel=1e-12)
        assert n32 == pytest.approx(n64, rel=1e-5)
        for k in g64:
            assert np.all(np.isfinite(g32[k]))
            if scale < 1:
                np.testing.assert_allclose(g32[k], g64[k], atol=1e-5)


@pytest.mark.parametrize("kind", ["binned", "scattered"])
@pytest.mark.parametrize("bias", [False, True])
def test_token_nll_equals_reference(bias, kind):
    rng = np.random.default_rng(7 + bias)
    C, H, K = 40, 7, 6
    cmap = class_maps(C, K, rng)[kind]
    net = class_net(C, H, cmap, bias)
    p = random_params(net, rng, 0.4)
    enc, sents = random_batch(rng, C, [3, 9, 0, 4, 17])
    b = pack(enc, np.arange(enc.n_sentences))
    nll = net.token_nll(p, b, Workspace())
    per_sent = np.bincount(b.order[b.sentence_of_row()], weights=nll, minlength=len(sents))
    t = tutorial_names(p)
    for i, s in enumerate(sents):
        assert abs(per_sent[i] - ref.class_sentence_loss(t, cmap, s)) < 1e-10


@pytest.mark.parametrize("seed", range(4))
def test_full_distribution_sums_to_one_and_equals_reference(seed):
    rng = np.random.default_rng(seed)
    C, H = int(rng.integers(8, 60)), int(rng.integers(2, 9))
    K = int(rng.integers(1, C + 1))
    cmap = class_maps(C, K, rng)["scattered" if seed % 2 else "binned"]
    net = class_net(C, H, cmap, bias=bool(seed % 2))
    p = random_params(net, rng, scale=[0.5, 3.0, 20.0, 1.0][seed])
    state = net.step(p, rng.integers(0, C, 5), net.start(5))
    lp = net.log_probs(p, state)                           # (5, C) float64
    assert lp.shape == (5, C) and lp.dtype == np.float64
    assert np.abs(np.exp(lp).sum(axis=1) - 1).max() < 1e-12
    t = tutorial_names(p)
    for i in range(5):
        np.testing.assert_allclose(np.exp(lp[i]), ref.class_distribution(t, cmap, state[-1][i]), rtol=1e-9, atol=1e-300)


# ------------------------------------------------------------------ the class map


@pytest.mark.parametrize("power", [1.0, 0.5])
@pytest.mark.parametrize("C,K", [(1000, 31), (5000, 71), (200, 200), (50, 1), (300, 7)])
def test_frequency_classes_cover_every_word_once_with_equal_mass(C, K, power):
    counts = zipf_counts(C, np.random.default_rng(C))
    cmap = frequency_classes(counts, K, power)
    assert cmap.shape == (C,) and cmap.min() == 0 and cmap.max() == K - 1
    assert np.all(np.diff(cmap) >= 0)                    # consecutive ids, in frequency order
    sizes = np.bincount(cmap, minlength=K)
    assert sizes.min() >= 1 and sizes.sum() == C
    w = counts.astype(float) ** power
    mass = np.bincount(cmap, weights=w, minlength=K)
    if C >= 5 * K:                                       # room to cut where the mass says
        assert np.abs(mass - w.sum() / K).max() <= w.max()
    out = ClassSoftmax(C, 3, K, cmap)
    members = np.concatenate([np.arange(C)[r] for r in out.rows])
    assert sorted(members.tolist()) == list(range(C))     # every word in exactly one class
    assert np.array_equal(out.cls[members], np.repeat(np.arange(K), sizes))


def test_frequency_classes_edge_cases():
    assert frequency_classes(np.zeros(5), 2).tolist() == [0, 0, 0, 1, 1]    # no counts: equal sizes
    assert frequency_classes([10, 0, 5, 1], 4).tolist() == [0, 1, 2, 3]
    assert default_classes(8000) == 89 and default_classes(32000) == 179 and default_classes(2) == 1
    with pytest.raises(ValueError):
        frequency_classes([1, 2], 3)


@pytest.mark.parametrize("cmap,K", [([0, 0, 2], 3), ([0, 1], 2), ([0, 1, 5], 3), ([-1, 0, 1], 2),
                                    ([0, 1, 2], 4), ([0, 1, 2], 10 ** 30), ([0, 1, 2], 0)])
def test_bad_class_maps_are_refused(cmap, K):
    with pytest.raises(ValueError):
        ClassSoftmax(3, 2, K, cmap)


def test_class_map_is_not_a_parameter():
    net = class_net(20, 4, frequency_classes(zipf_counts(20), 4), bias=True)
    p = net.init(np.random.default_rng(0))
    assert list(p) == list(net.shapes()) == ["layer0.U", "out.V", "layer0.W", "layer0.b", "out.Vk", "out.c",
                                             "out.ck"]
    assert net.args["class_of"] == net.out.cls.tolist() and net.args["classes"] == 4
    assert Network(**json.loads(json.dumps(net.args))).out.cls.tolist() == net.args["class_of"]


# ------------------------------------------------------------------ training and checkpoints


def class_trainer(tmp_path, cfg, params=None, state=None, opt_state=None, name="m.npz", net=None, classes=4,
                  bias=False):
    """A Trainer of a class-softmax Network(C, 8, bias=bias) of ``classes`` classes (or ``net``)."""
    enc, vocab = toy_corpus()
    train, val = enc.subset(np.arange(100)), enc.subset(np.arange(100, 120))
    if net is None:
        counts = np.bincount(train.ids, minlength=len(vocab))
        net = Network(len(vocab), 8, bias=bias, output="class", classes=classes,
                      class_of=frequency_classes(counts, classes))
    if params is None:
        params = net.init(np.random.default_rng(cfg.seed), cfg.dtype)
    task = LanguageModel(net, LMData(vocab, val, {"kind": "trained"}), train, cfg)
    return Trainer(cfg, net, params, task, str(tmp_path / name), state, opt_state)


@pytest.mark.parametrize("opt", registry.OPTIMIZERS)
def test_each_optimizer_lowers_loss_and_resume_equals_uninterrupted(tmp_path, opt):
    lr = {"sgd": 0.1, "momentum": 0.05, "adagrad": 0.1, "rmsprop": 0.01, "adam": 0.01}[opt]
    cfg = small_cfg(optimizer=opt, lr=lr, epochs=3, dropout=0.2, bptt_truncate=-1)
    full = class_trainer(tmp_path, cfg, name="full.npz", classes=5, bias=True)
    before = full.validation_loss()
    full.run()
    assert full.validation_loss() < before - 0.2
    class_trainer(tmp_path, cfg.replace(epochs=1), name="part.npz", classes=5, bias=True).run()
    ck = checkpoint.load(str(tmp_path / "part.npz"))
    assert ck.model["output"] == "class" and ck.model["class_of"] == full.net.args["class_of"]
    assert not any("class_of" in k for k in list(ck.params) + list(ck.opt_state))
    resumed = class_trainer(tmp_path, ck.config.replace(epochs=3), ck.params, ck.state, ck.opt_state,
                            name="part.npz", net=ck.network())
    resumed.run()
    for k in full.params:
        np.testing.assert_array_equal(resumed.params[k], full.params[k])


def test_corrupt_class_map_is_refused(tmp_path):
    cfg = small_cfg(epochs=1)
    class_trainer(tmp_path, cfg, classes=4).run()
    path = str(tmp_path / "m.npz")
    with np.load(path, allow_pickle=False) as z:
        arrays = dict(z)
    model = json.loads(str(arrays["model"]))
    model["class_of"][5] = 99
    arrays["model"] = np.array(json.dumps(model))
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(checkpoint.CheckpointError, match="corrupt checkpoint.*class"):
        checkpoint.load(str(tmp_path / "bad.npz"))
    model["class_of"][5] = 1
    model["classes"] = 10 ** 30                          # found by the slow fuzz test: an OverflowError
    arrays["model"] = np.array(json.dumps(model))
    np.savez(tmp_path / "huge.npz", **arrays)
    with pytest.raises(checkpoint.CheckpointError, match="corrupt checkpoint.*classes"):
        checkpoint.load(str(tmp_path / "huge.npz"))
    model["output"] = "full"                             # config says class: inconsistent
    arrays["model"] = np.array(json.dumps({k: v for k, v in model.items() if k not in ("classes", "class_of")}))
    np.savez(tmp_path / "bad2.npz", **arrays)
    with pytest.raises(checkpoint.CheckpointError):
        checkpoint.load(str(tmp_path / "bad2.npz"))


# ------------------------------------------------------------------ eval and generation


def class_checkpoint(path, C=15, H=6, K=4, bias=False, seed=0, scale=0.6, val_sents=None):
    """A class-softmax checkpoint with random weights and a scattered class map."""
    from rnncli.lm.vocab import Vocab
    from rnncli.config import SPECIALS
    rng = np.random.default_rng(seed)
    cmap = class_maps(C, K, rng)["scattered"]
    net = class_net(C, H, cmap, bias)
    p = random_params(net, rng, scale)
    words = [f"w{i}" for i in range(3, C)]
    val = None
    if val_sents is not None:
        lens = np.array([len(s) for s in val_sents], np.int32)
        val = Encoded(np.concatenate(val_sents).astype(np.int32), np.r_[0, np.cumsum(lens)[:-1]].astype(np.int64),
                      lens)
    checkpoint.save(str(path), checkpoint.Checkpoint(Config(dtype="float64"), net.args, p,
                                                     LMData(Vocab(list(SPECIALS) + words), val, {})))
    return tutorial_names(p), cmap, words


@pytest.mark.parametrize("seed,bias", [(0, False), (1, True)])
def test_eval_equals_reference_forward_pass(capsys, tmp_path, seed, bias):
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


def test_eval_of_stored_validation_sentences(capsys, tmp_path):
    rng = np.random.default_rng(7)
    val = [[START_ID, *rng.integers(3, 15, int(rng.integers(0, 9))).tolist(), END_ID] for _ in range(300)]
    t, cmap, _ = class_checkpoint(tmp_path / "m.npz", val_sents=val, seed=3)
    r = rnn(capsys, "eval", "-m", tmp_path / "m.npz", "--json", "-q")
    assert r.code == 0, r
    got = json.loads(r.out)
    assert got["nll"] == pytest.approx(sum(ref.class_sentence_loss(t, cmap, np.array(s)) for s in val), rel=1e-10)


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
    out = sample(ck.network(), ck.params, n, np.random.default_rng(5), min_length=0,
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


# ------------------------------------------------------------------ every command


def test_every_command_with_class_softmax(capsys, tmp_path):
    corpus = write_corpus(tmp_path / "c.txt")
    m = tmp_path / "m.npz"
    args = ["--hidden-dim", "4", "--epochs", "2", "-q", "--softmax", "class", "--classes", "3"]
    r = rnn(capsys, "train", corpus, "-o", m, "--bias", "--dropout", "0.2", "--bptt-truncate", "-1", *args)
    assert r.code == 0, r
    ck = checkpoint.load(str(m))
    assert ck.model["output"] == "class" and ck.model["classes"] == 3
    assert {"out.Vk", "out.ck"} <= set(ck.params)
    r = rnn(capsys, "train", corpus, "--resume", m, "-o", m, "--epochs", "3", "-q")
    assert r.code == 0, r
    assert checkpoint.load(str(m)).model["class_of"] == ck.model["class_of"]
    r = rnn(capsys, "eval", "-m", m, corpus, "--json", "-q")
    assert r.code == 0 and json.loads(r.out)["perplexity"] > 1, r
    r = rnn(capsys, "eval", "-m", m, corpus, "--per-sentence", "-q")
    assert r.code == 0 and r.out.count("logprob") == 8, r
    r = rnn(capsys, "generate", "-m", m, "-n", "3", "--seed", "1", "--json", "--prefix", "the cat",
            "--temperature", "0.8", "--top-k", "5")
    assert r.code == 0 and all(x["tokens"][:2] == ["the", "cat"] for x in json.loads(r.out)), r
    r = rnn(capsys, "generate", "-m", m, "-n", "2", "--temperature", "0")
    assert r.code == 0 and len(r.out.splitlines()) == 2, r
    r = rnn(capsys, "info", "-m", m)
    assert r.code == 0 and "softmax: class, 3 classes" in r.out, r
    r = rnn(capsys, "info", "-m", m, "--json")
    d = json.loads(r.out)
    assert d["softmax"] == "class" and d["classes"] == 3
    r = rnn(capsys, "tokenize", corpus, "-m", m, "-o", tmp_path / "t.npz", "-q")
    assert r.code == 0, r
    r = rnn(capsys, "train", tmp_path / "t.npz", "-o", tmp_path / "m2.npz", "--hidden-dim", "4", "--epochs", "1",
            "-q", "--softmax", "class")                 # default classes: about sqrt(C)
    assert r.code == 0, r
    ck2 = checkpoint.load(str(tmp_path / "m2.npz"))
    assert ck2.model["classes"] == default_classes(len(ck2.task.vocab))


def test_class_options_refused_where_they_contradict(capsys, tmp_path):
    corpus = write_corpus(tmp_path / "c.txt")
    m = tmp_path / "m.npz"
    assert rnn(capsys, "train", corpus, "-o", m, "--hidden-dim", "3", "--epochs", "1", "-q", "--softmax", "class",
               "--classes", "3").code == 0
    assert_user_error(rnn(capsys, "train", corpus, "--resume", m, "-o", m, "--softmax", "full", "-q"),
                      "--softmax full", "--softmax class")
    assert_user_error(rnn(capsys, "train", corpus, "--resume", m, "-o", m, "--classes", "4", "-q"),
                      "--classes 4", "--classes 3")
    assert_user_error(rnn(capsys, "train", corpus, "-o", m, "--softmax", "full", "--classes", "4", "-q"),
                      "--softmax class")
    assert_user_error(rnn(capsys, "train", corpus, "-o", tmp_path / "x.npz", "--softmax", "class",
                          "--classes", "500", "-q"), "--classes 500")
    full = tmp_path / "full.npz"
    assert rnn(capsys, "train", corpus, "-o", full, "--hidden-dim", "3", "--epochs", "1", "-q", "--softmax",
               "full").code == 0
    assert_user_error(rnn(capsys, "train", corpus, "--resume", full, "-o", full, "--softmax", "class", "-q"),
                      "--softmax class", "--softmax full")


def test_classes_are_binned_on_the_training_sentences_only():
    """The training sentences are a view of the whole corpus's ids: the class counts
    must not include the validation sentences (MPI, which holds compact shares, bins
    the same counts as one process only then)."""
    from rnncli.lm.prepare import target_counts
    from rnncli.lm.vocab import split_validation
    enc, vocab = toy_corpus()
    train, val = split_validation(enc, 0.3)
    assert int(train.lens.sum()) < len(train.ids)            # a view, as in training
    compact = train.subset(np.arange(train.n_sentences))
    want = np.bincount(compact.ids, minlength=len(vocab))
    want[START_ID] = 0
    got = target_counts(train, len(vocab))
    assert np.array_equal(got, want) and got[END_ID] == train.n_sentences
    assert np.array_equal(target_counts(train, len(vocab)) + target_counts(val, len(vocab)),
                          target_counts(enc, len(vocab)))


def test_softmax_auto_by_vocabulary_size_and_older_checkpoints_stay_full():
    """The default output layer is auto: full up to FULL_SOFTMAX_UP_TO vocabulary entries,
    class above; a stored config without a softmax entry was written when the full
    softmax was the default, and means it (tests/fixtures/v1_model.npz)."""
    from rnncli.lm.prepare import network_for
    from rnncli.lm.settings import FULL_SOFTMAX_UP_TO, MODEL, resolved_softmax
    assert MODEL["softmax"] == "auto"
    n = FULL_SOFTMAX_UP_TO
    assert resolved_softmax("auto", n) == "full" and resolved_softmax("auto", n + 1) == "class"
    assert resolved_softmax("class", 10) == "class" and resolved_softmax("full", 10 * n) == "full"
    assert network_for(MODEL, n).args["output"] == "full"
    assert network_for({}, n + 1).args["output"] == "class"
    assert Config.from_json(Config().to_json()) == Config()
    ck = checkpoint.load(os.path.join(os.path.dirname(__file__), "fixtures", "v1_model.npz"))
    assert "output" not in ck.model and ck.network().args["output"] == "full"


def test_cli_softmax_auto_is_stored_resolved(tmp_path, capsys, isolated_cache):
    """`rnn train` stores what auto resolved to, by the vocabulary the corpus gives: a
    small vocabulary gets the full softmax, one over FULL_SOFTMAX_UP_TO entries the class
    softmax; --classes alone asks for the class softmax; an explicit --softmax auto on
    resume agrees with the checkpoint's resolved layer."""
    from rnncli.lm.settings import FULL_SOFTMAX_UP_TO
    small = write_corpus(tmp_path / "small.txt")
    common = ["--hidden-dim", "4", "--epochs", "1", "-q", "--sentences", "lines", "--words", "whitespace"]
    assert rnn(capsys, "train", small, "-o", tmp_path / "s.npz", *common).code == 0
    assert checkpoint.load(str(tmp_path / "s.npz")).model["output"] == "full"
    assert rnn(capsys, "train", small, "-o", tmp_path / "k.npz", "--classes", "3", *common).code == 0
    ck = checkpoint.load(str(tmp_path / "k.npz"))
    assert ck.model["output"] == "class" and ck.network().args["output"] == "class"
    assert rnn(capsys, "train", small, "--resume", tmp_path / "s.npz", "-o", tmp_path / "s2.npz", "--softmax", "auto",
               "--epochs", "2", "-q").code == 0
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(FULL_SOFTMAX_UP_TO + 200)]
    lines = [" ".join(rng.choice(words, 12)) for _ in range(2000)] + [" ".join(words)]
    big = tmp_path / "big.txt"
    big.write_text("\n".join(lines) + "\n", encoding="utf-8")
    r = rnn(capsys, "train", big, "-o", tmp_path / "b.npz", "--vocab-size", FULL_SOFTMAX_UP_TO + 100, *common)
    assert r.code == 0, r
    ck = checkpoint.load(str(tmp_path / "b.npz"))
    assert len(ck.task.vocab) == FULL_SOFTMAX_UP_TO + 100 and ck.model["output"] == "class"
