"""The fast batched kernels against finite differences and the slow reference."""
import numpy as np
import pytest

from rnncli.batching import Encoded, pack

from . import reference as ref
from . import tutorial as model


def random_batch(rng, C, lengths):
    """Sentences START w.. END with the given numbers of words (ids 3..C-1 and UNK)."""
    sents = [np.r_[1, rng.integers(0, C, n), 2] for n in lengths]
    lens = np.array([len(s) for s in sents], np.int32)
    starts = np.r_[0, np.cumsum(lens)[:-1]].astype(np.int64)
    return Encoded(np.concatenate(sents).astype(np.int32), starts, lens), sents


def fast(params, enc, truncate, scale=1.0):
    ws = model.Workspace(threads=2)
    grads = model.zeros_like_params(params)
    b = pack(enc, np.arange(enc.n_sentences))
    nll = model.loss_and_grads(params, b, grads, ws, truncate, scale=scale)
    return nll, grads


def slow(params, sents, truncate, scale=1.0):
    g = {k: np.zeros_like(v) for k, v in params.items()}
    nll = 0.0
    for s in sents:
        nll += ref.sentence_loss(params, s)
        for k, v in ref.sentence_grads(params, s, truncate).items():
            g[k] += scale * v
    return nll, g


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("truncate", [-1, 0, 1, 4, 7])
def test_fast_equals_reference(truncate, bias):
    rng = np.random.default_rng(truncate + 10 * bias + 5)
    C, H = 23, 6
    p = model.init_params(C, H, rng, "float64", bias=bias)
    if bias:  # non-zero biases so their paths are exercised
        p["b"][:] = rng.normal(0, 0.3, H)
        p["c"][:] = rng.normal(0, 0.3, C)
    enc, sents = random_batch(rng, C, [0, 5, 1, 12, 3, 12, 8])  # mixed lengths, ties, empty
    nll_f, g_f = fast(p, enc, truncate, scale=0.25)
    nll_s, g_s = slow(p, sents, truncate, scale=0.25)
    assert nll_f == pytest.approx(nll_s, rel=1e-12)
    for k in p:
        np.testing.assert_allclose(g_f[k], g_s[k], rtol=0, atol=1e-10, err_msg=k)


def truncated_objective(p, sents, truncate, s_fixed):
    """A function whose exact gradient is the truncated-BPTT gradient: output t is
    computed by running the recurrence from s_{t-K-1}, held at its unperturbed value
    (a stop-gradient), for K+1 steps."""
    total = 0.0
    for s, states in zip(sents, s_fixed):
        x, y = s[:-1], s[1:]
        H = p["W"].shape[0]
        for t in range(len(y)):
            k0 = 0 if truncate < 0 else max(0, t - truncate)
            h = states[k0 - 1] if k0 > 0 else np.zeros(H)
            for k in range(k0, t + 1):
                a = p["U"][:, x[k]] + p["W"] @ h + (p["b"] if "b" in p else 0)
                h = np.tanh(a)
            z = p["V"] @ h + (p["c"] if "c" in p else 0)
            total += np.log(np.exp(z - z.max()).sum()) + z.max() - z[y[t]]
    return total


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("truncate", [-1, 0, 2, 4])
def test_gradient_check_finite_differences(truncate, bias):
    rng = np.random.default_rng(100 + truncate + 7 * bias)
    C, H = 11, 4
    p = model.init_params(C, H, rng, "float64", bias=bias)
    for k in p:  # larger weights than at initialisation make every term count
        p[k][...] = rng.normal(0, 0.5, p[k].shape)
    p = model.as_layout(p)
    enc, sents = random_batch(rng, C, [6, 2, 9, 0])  # a padded (packed) batch
    s_fixed = [ref.forward(p, s[:-1])[0] for s in sents]
    nll, g = fast(p, enc, truncate)
    assert nll == pytest.approx(truncated_objective(p, sents, -1, s_fixed), rel=1e-12)
    h = 1e-6
    for k in p:
        num = np.zeros(p[k].shape)
        for idx in np.ndindex(p[k].shape):
            old = p[k][idx]
            p[k][idx] = old + h
            lp = truncated_objective(p, sents, truncate, s_fixed)
            p[k][idx] = old - h
            lm = truncated_objective(p, sents, truncate, s_fixed)
            p[k][idx] = old
            num[idx] = (lp - lm) / (2 * h)
        err = np.abs(num - g[k]).max() / max(1e-8, np.abs(num).max())
        assert err < 1e-6, (k, err)


def test_float32_close_to_float64():
    rng = np.random.default_rng(3)
    C, H = 50, 8
    p64 = model.init_params(C, H, rng, "float64")
    p32 = model.as_layout(p64, np.float32)
    enc, _ = random_batch(rng, C, [10, 4, 7, 7, 1])
    n64, g64 = fast(p64, enc, 4)
    n32, g32 = fast(p32, enc, 4)
    assert n32 == pytest.approx(n64, rel=1e-5)
    for k in p64:
        np.testing.assert_allclose(g32[k], g64[k], atol=1e-5)


def test_large_logits_use_shifted_softmax():
    """Weights so large that exp() would overflow without the max shift."""
    rng = np.random.default_rng(4)
    C, H = 30, 5
    p = model.init_params(C, H, rng, "float32")
    p["V"] *= 200.0
    enc, sents = random_batch(rng, C, [5, 3])
    assert model.logit_bound(p) > 60
    nll, g = fast(p, enc, -1)
    p64 = model.as_layout(p, np.float64)
    nll_s, g_s = slow(p64, sents, -1)
    assert np.isfinite(nll) and nll == pytest.approx(nll_s, rel=1e-4)
    for k in p:
        assert np.all(np.isfinite(g[k]))


def test_initial_loss_close_to_log_C():
    rng = np.random.default_rng(5)
    C, H = 8000, 100
    p = model.init_params(C, H, rng, "float32")
    enc, _ = random_batch(rng, C, rng.integers(3, 30, 64))
    ws = model.Workspace()
    nll = model.token_nll(p, pack(enc, np.arange(enc.n_sentences)), ws)
    assert nll.mean() == pytest.approx(np.log(C), rel=0.01)


def test_init_ranges_and_shapes():
    rng = np.random.default_rng(6)
    p = model.init_params(500, 40, rng, "float64")
    assert p["U"].shape == (40, 500) and p["V"].shape == (500, 40) and p["W"].shape == (40, 40)
    assert np.abs(p["U"]).max() <= 1 / np.sqrt(500)
    assert np.abs(p["V"]).max() <= 1 / np.sqrt(40) and np.abs(p["W"]).max() <= 1 / np.sqrt(40)
    assert np.abs(p["U"]).max() > 0.9 / np.sqrt(500)


@pytest.mark.parametrize("bias", [False, True])
def test_token_nll_equals_reference(bias):
    rng = np.random.default_rng(7)
    C, H = 40, 7
    p = model.init_params(C, H, rng, "float64", bias=bias)
    for k in p:
        p[k][...] = rng.normal(0, 0.4, p[k].shape)
    p = model.as_layout(p)
    enc, sents = random_batch(rng, C, [3, 9, 0, 4])
    b = pack(enc, np.arange(enc.n_sentences))
    nll = model.token_nll(p, b, model.Workspace(), chunk=5)
    per_sent = np.bincount(b.order[b.sentence_of_row()], weights=nll, minlength=len(sents))
    for i, s in enumerate(sents):
        assert per_sent[i] == pytest.approx(ref.sentence_loss(p, s), rel=1e-12)


def test_dropout_gradient_matches_fixed_mask():
    """With dropout the gradient is that of the loss under the sampled mask: rerunning
    with the same generator state must give the same loss and gradient, and a finite
    difference under that fixed mask must match."""
    rng = np.random.default_rng(8)
    C, H = 13, 5
    p = model.init_params(C, H, rng, "float64")
    enc, _ = random_batch(rng, C, [4, 6])
    b = pack(enc, np.arange(2))

    def run(params):
        g = model.zeros_like_params(params)
        nll = model.loss_and_grads(params, b, g, model.Workspace(), -1, dropout=0.3,
                                   rng=np.random.default_rng(42))
        return nll, g

    nll, g = run(p)
    h = 1e-6
    for k in ("V", "W"):
        idx = (1, 2)
        old = p[k][idx]
        p[k][idx] = old + h
        lp, _ = run(p)
        p[k][idx] = old - h
        lm, _ = run(p)
        p[k][idx] = old
        assert (lp - lm) / (2 * h) == pytest.approx(g[k][idx], rel=1e-5, abs=1e-9)
