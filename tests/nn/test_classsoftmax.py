"""The class-factored softmax (rnncli/nn/classsoftmax.py): kernels against finite differences and the
slow reference, the exact distribution, the class map."""
import json

import numpy as np
import pytest

from rnncli.batching import Encoded, pack
from rnncli.config import START_ID
from rnncli.nn.classsoftmax import ClassSoftmax, default_classes, frequency_classes
from rnncli.nn.network import Network
from rnncli.nn.workspace import Workspace

from .. import reference as ref
from ..helpers import class_maps, class_net, numeric, random_batch, random_params, tutorial_names, zipf_counts


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
        num = numeric(lambda: truncated_objective(t, cmap, sents, truncate, s_fixed), t[k], h)
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
