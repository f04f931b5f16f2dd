"""The network (rnncli/nn/network.py): every cell, activation and layer count against the slow
references and finite differences; initialisation and dropout."""
import numpy as np
import pytest

from rnncli.batching import pack
from rnncli.nn.network import Network
from rnncli.nn.workspace import Workspace

from .. import reference as ref
from .. import reference_gated as refg
from .. import tutorial as model
from ..helpers import numeric, random_batch, random_params

CELLS = [("rnn", "tanh"), ("rnn", "relu"), ("gru", "tanh"), ("lstm", "tanh")]


def slow_network(net, p, sents, truncate):
    """Loss and gradients, one sentence at a time, composed from the per-cell
    references: embedding column, layers bottom to top, softmax per token, then the
    errors back down; each layer's incoming error flows back ``truncate`` steps."""
    cell, act, L = net.args["cell"], net.args["activation"], net.L
    fwd = {"rnn": lambda q, a: ref.elman_forward(q, a, act), "gru": refg.gru_forward,
           "lstm": lambda q, a: refg.lstm_forward(q, a)[0]}[cell]
    bwd = {"rnn": lambda q, a, d, k: ref.elman_grads(q, a, d, k, act), "gru": refg.gru_grads,
           "lstm": refg.lstm_grads}[cell]
    g = {k: np.zeros_like(v) for k, v in p.items()}
    total = 0.0
    for s in sents:
        x, y = s[:-1], s[1:]
        lp = [{k.split(".", 1)[1]: v for k, v in p.items() if k.startswith(f"layer{i}.")} for i in range(L)]
        a = [p["layer0.U"][:, x].T]              # (T, G*H)
        hs = []
        for i in range(L):
            hs.append(fwd(lp[i], a[i]))
            if i + 1 < L:
                a.append(hs[i] @ p[f"layer{i + 1}.U"].T)
        dh = np.zeros_like(hs[-1])
        for t in range(len(y)):
            z = p["out.V"] @ hs[-1][t] + (p["out.c"] if "out.c" in p else 0)
            o = np.exp(z - z.max())
            o /= o.sum()
            total -= np.log(o[y[t]])
            o[y[t]] -= 1
            g["out.V"] += np.outer(o, hs[-1][t])
            if "out.c" in g:
                g["out.c"] += o
            dh[t] = p["out.V"].T @ o
        for i in range(L - 1, -1, -1):
            dA, dW, db = bwd(lp[i], a[i], dh, truncate)
            g[f"layer{i}.W"] += dW
            if f"layer{i}.b" in g:
                g[f"layer{i}.b"] += db
            if i == 0:
                for t in range(len(x)):
                    g["layer0.U"][:, x[t]] += dA[t]
            else:
                g[f"layer{i}.U"] += dA.T @ hs[i - 1]
                dh = dA @ p[f"layer{i}.U"]
    return total, g


@pytest.mark.parametrize("cell,activation", CELLS)
@pytest.mark.parametrize("layers", [1, 2, 3])
@pytest.mark.parametrize("truncate", [-1, 0, 2])
def test_network_equals_slow_composition_of_references(cell, activation, layers, truncate):
    rng = np.random.default_rng(7 * layers + truncate + len(cell))
    C, H = 11, 4
    net = Network(C, H, cell, activation, layers, bias=True)
    p = random_params(net, rng, scale=0.4)
    enc, sents = random_batch(rng, C, [6, 2, 6, 0, 3])
    b = pack(enc, np.arange(enc.n_sentences))
    grads = net.zeros_like(p)
    nll = net.loss_and_grads(p, b, grads, Workspace(threads=2), truncate, scale=1.0)
    want_nll, want = slow_network(net, p, sents, truncate)
    assert nll == pytest.approx(want_nll, rel=1e-12)
    for k in p:
        np.testing.assert_allclose(grads[k], want[k], rtol=0, atol=1e-10, err_msg=k)
    scored = net.token_nll(p, b, Workspace(threads=1))
    assert scored.sum() == pytest.approx(want_nll, rel=1e-12)


@pytest.mark.parametrize("cell,activation", CELLS)
@pytest.mark.parametrize("layers", [1, 2])
def test_network_full_bptt_finite_differences(cell, activation, layers):
    rng = np.random.default_rng(3 + layers)
    C, H = 7, 3
    net = Network(C, H, cell, activation, layers, bias=True)
    p = random_params(net, rng, scale=0.5)
    enc, _ = random_batch(rng, C, [4, 2, 1])
    b = pack(enc, np.arange(enc.n_sentences))
    grads = net.zeros_like(p)
    net.loss_and_grads(p, b, grads, Workspace(threads=1), -1, scale=1.0)
    h = 1e-6
    for k in p:
        for idx in list(np.ndindex(p[k].shape))[::2]:
            old = p[k][idx]
            p[k][idx] = old + h
            lp = net.token_nll(p, b, Workspace(threads=1)).sum()
            p[k][idx] = old - h
            lm = net.token_nll(p, b, Workspace(threads=1)).sum()
            p[k][idx] = old
            assert (lp - lm) / (2 * h) == pytest.approx(grads[k][idx], rel=1e-5, abs=1e-8), (k, idx)


@pytest.mark.parametrize("cell,activation", CELLS)
def test_dropout_between_layers_is_the_gradient_under_the_drawn_masks(cell, activation):
    rng = np.random.default_rng(5)
    net = Network(9, 4, cell, activation, 2, bias=True)
    p = random_params(net, rng, scale=0.4)
    enc, _ = random_batch(rng, 9, [5, 3])
    b = pack(enc, np.arange(2))

    def run():
        g = net.zeros_like(p)
        nll = net.loss_and_grads(p, b, g, Workspace(threads=1), -1, dropout=0.4, rng=np.random.default_rng(42))
        return nll, g
    nll, g = run()
    assert run()[0] == nll
    h = 1e-6
    for k in ("layer1.U", "layer0.W", "out.V"):
        idx = (1, 2)
        old = p[k][idx]
        p[k][idx] = old + h
        lp = run()[0]
        p[k][idx] = old - h
        lm = run()[0]
        p[k][idx] = old
        assert (lp - lm) / (2 * h) == pytest.approx(g[k][idx], rel=1e-5, abs=1e-9)


@pytest.mark.parametrize("cell,activation", CELLS)
@pytest.mark.parametrize("layers", [1, 3])
def test_step_by_step_log_probs_equal_scoring(cell, activation, layers):
    """Sampling's one-step path (start, step, log_probs) scores a sentence exactly as
    the packed forward pass does."""
    rng = np.random.default_rng(9)
    net = Network(10, 5, cell, activation, layers, bias=True)
    p = random_params(net, rng, scale=0.5)
    enc, sents = random_batch(rng, 10, [7])
    b = pack(enc, np.arange(1))
    scored = net.token_nll(p, b, Workspace(threads=1))
    s, total = net.start(1), 0.0
    for t in range(len(sents[0]) - 1):
        s = net.step(p, np.array([sents[0][t]]), s)
        total -= net.log_probs(p, s)[0, sents[0][t + 1]]
    assert total == pytest.approx(scored.sum(), rel=1e-12)


def test_relu_has_no_hidden_bound_and_shifts_the_softmax():
    net = Network(6, 3, "rnn", "relu")
    assert net.cell.bound == np.inf and Network(6, 3).cell.bound == 1.0
    p = net.init(np.random.default_rng(0), "float32")
    p["layer0.U"][...] = 30.0                     # relu states far above 1: exp would overflow unshifted
    enc, _ = random_batch(np.random.default_rng(1), 6, [4])
    nll = net.token_nll(p, pack(enc, np.arange(1)), Workspace(threads=1))
    assert np.all(np.isfinite(nll))


def test_shapes_and_init_order():
    net = Network(50, 6, "lstm", layers=2, bias=True)
    p = net.init(np.random.default_rng(0), "float64")
    assert list(p) == list(net.shapes()) == ["layer0.U", "out.V", "layer0.W", "layer1.U", "layer1.W",
                                             "layer0.b", "layer1.b", "out.c"]
    assert {k: v.shape for k, v in p.items()} == net.shapes()
    assert p["layer0.U"].shape == (24, 50) and p["layer0.U"].T.flags.c_contiguous
    np.testing.assert_array_equal(p["layer0.b"][6:12], 1.0)      # LSTM forget gate [i|f|o|g]
    with pytest.raises(ValueError):
        Network(50, 6, "gru", activation="relu")


def test_identity_recurrent_init_sets_w_to_i_and_leaves_every_other_draw():
    """--recurrent-init identity (Le et al. 2015): every Elman layer's W starts as I; the
    other parameters are the uniform rule's, drawn in the same order."""
    net = Network(20, 6, "rnn", "relu", 2, bias=True)
    a = net.init(np.random.default_rng(3), "float64")
    b = net.init(np.random.default_rng(3), "float64", "identity")
    for k in a:
        if k.endswith(".W"):
            assert np.array_equal(b[k], np.eye(6)) and not np.array_equal(a[k], b[k])
        else:
            assert np.array_equal(a[k], b[k])
    with pytest.raises(ValueError):
        Network(20, 6, "gru").init(np.random.default_rng(0), "float64", "identity")


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
        num = numeric(lambda: truncated_objective(p, sents, truncate, s_fixed), p[k], h)
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
