"""The seams on their own and together: the Elman cell, the dense input layer and the
full softmax each against finite differences, and the whole network (every cell, activation and layer
count, with biases, several truncations) against a slow composition of the per-cell
references written straight from the equations."""
import numpy as np
import pytest

from rnncli.batching import Encoded, pack
from rnncli.nn.cells import Elman
from rnncli.nn.layers import Dense
from rnncli.nn.network import Network
from rnncli.nn.output import FullSoftmax
from rnncli.nn.workspace import Workspace

from . import reference as ref
from . import reference_gated as refg

CELLS = [("rnn", "tanh"), ("rnn", "relu"), ("gru", "tanh"), ("lstm", "tanh")]


def random_batch(rng, C, lengths):
    sents = [np.r_[1, rng.integers(0, C, n), 2] for n in lengths]
    lens = np.array([len(s) for s in sents], np.int32)
    starts = np.r_[0, np.cumsum(lens)[:-1]].astype(np.int64)
    return Encoded(np.concatenate(sents).astype(np.int32), starts, lens), sents


def random_params(net, rng, scale=0.5):
    p = net.init(rng, "float64")
    for k in p:
        p[k][...] = rng.normal(0, scale, p[k].shape)
    return p


# ---------------------------------------------------------------- the cell seam alone


@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("truncate", [-1, 0, 2])
def test_elman_cell_alone_against_reference_and_finite_differences(activation, truncate):
    rng = np.random.default_rng(11 + truncate)
    H, lengths = 4, [6, 4, 4, 1]
    cell = Elman(H, activation)
    p = {"W": rng.normal(0, 0.6, (H, H)), "b": rng.normal(0, 0.3, H)}
    enc, _ = random_batch(rng, 5, [n - 1 for n in lengths])
    b = pack(enc, np.arange(len(lengths)))
    off = b.offsets_list
    A = rng.normal(0, 0.8, (b.N, H))
    R = rng.normal(0, 1.0, (b.N, H))             # loss = sum(S * R)
    ws = Workspace(threads=1)
    S, cache = cell.forward(p, A.copy(), off, ws)
    grads = {"W": np.full((H, H), np.nan), "b": np.full(H, np.nan)}
    dA = cell.backward(p, cache, R, off, truncate, grads, ws).copy()
    rows = [np.array([off[t] + i for t in range(L)]) for i, L in enumerate(lengths)]
    want = {"W": 0, "b": 0}
    for r in rows:
        np.testing.assert_allclose(S[r], ref.elman_forward(p, A[r], activation), atol=1e-12)
        dA_r, dW, db = ref.elman_grads(p, A[r], R[r], truncate, activation)
        np.testing.assert_allclose(dA[r], dA_r, atol=1e-10)
        want["W"] = want["W"] + dW
        want["b"] = want["b"] + db
    for k in want:
        np.testing.assert_allclose(grads[k], want[k], atol=1e-10)
    if truncate != -1:
        return
    # full BPTT is the true gradient of sum(S * R): finite differences
    h = 1e-6

    def loss():
        return float((cell.forward(p, A.copy(), off, Workspace(threads=1))[0] * R).sum())
    for k in p:
        for idx in np.ndindex(p[k].shape):
            old = p[k][idx]
            p[k][idx] = old + h
            lp = loss()
            p[k][idx] = old - h
            lm = loss()
            p[k][idx] = old
            assert (lp - lm) / (2 * h) == pytest.approx(grads[k][idx], rel=1e-6, abs=1e-8), (k, idx)


# ---------------------------------------------------------------- the input seam alone


def test_dense_input_alone_against_reference_and_finite_differences():
    """A = X U^T over all rows, its gradient dU = dA^T X, and one step through a part
    of the columns (a decoder's fed-back values) adding up to the whole."""
    rng = np.random.default_rng(13)
    F, GH, N = 3, 8, 5
    layer = Dense(F, GH, tag="t")
    p = layer.init(rng)
    assert p["U"].shape == layer.shapes()["U"] == (GH, F) and np.abs(p["U"]).max() <= 1 / np.sqrt(F)
    X = rng.normal(0, 1, (N, F))
    R = rng.normal(0, 1, (N, GH))                # loss = sum(A * R)
    ws = Workspace(threads=1)
    A = layer.forward(p, X, ws).copy()
    np.testing.assert_allclose(A, ref.dense(p["U"], X), rtol=0, atol=1e-12)
    parts = layer.step(p, X[:, :2], slice(None, 2)) + layer.step(p, X[:, 2:], slice(2, None))
    np.testing.assert_allclose(parts, A, rtol=0, atol=1e-12)
    grads = {"U": np.full_like(p["U"], np.nan)}
    layer.backward(p, X, R, grads, ws)
    h = 1e-6
    U = p["U"]
    for idx in np.ndindex(U.shape):
        old = U[idx]
        U[idx] = old + h
        lp = float((ref.dense(U, X) * R).sum())
        U[idx] = old - h
        lm = float((ref.dense(U, X) * R).sum())
        U[idx] = old
        assert (lp - lm) / (2 * h) == pytest.approx(grads["U"][idx], rel=1e-6, abs=1e-9), idx


# ---------------------------------------------------------------- the output seam alone


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("scale", [0.5, 40.0])   # 40: logits past the no-shift bound
def test_full_softmax_alone_finite_differences(bias, scale):
    rng = np.random.default_rng(21)
    C, H, N = 9, 4, 7
    out = FullSoftmax(C, H)
    p = {"V": rng.normal(0, scale, (C, H))}
    if bias:
        p["c"] = rng.normal(0, 0.5, C)
    Hin = np.tanh(rng.normal(0, 1, (N, H)))
    y = rng.integers(0, C, N)
    ws = Workspace(threads=1)
    grads = {k: np.zeros_like(v) for k, v in p.items()}
    nll, dh = out.loss_and_grad(p, Hin, y, grads, ws, scale=0.5)
    dh = dh.copy()

    def loss():
        z = Hin @ p["V"].T + (p["c"] if bias else 0)
        m = z.max(axis=1, keepdims=True)
        return float((np.log(np.exp(z - m).sum(axis=1)) + m[:, 0] - z[np.arange(N), y]).sum())
    assert nll == pytest.approx(loss(), rel=1e-12)
    scored = out.token_nll(p, Hin, y, ws, np.empty(N), chunk=3)
    assert scored.sum() == pytest.approx(nll, rel=1e-12)
    lp = out.log_probs(p, Hin)
    np.testing.assert_allclose(np.exp(lp).sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(-lp[np.arange(N), y], scored, rtol=1e-10, atol=1e-12)
    h = 1e-6
    for arr, g in [(p[k], grads[k]) for k in p] + [(Hin, dh)]:
        for idx in list(np.ndindex(arr.shape))[::3]:
            old = arr[idx]
            arr[idx] = old + h
            l1 = loss()
            arr[idx] = old - h
            l2 = loss()
            arr[idx] = old
            # central differences of a loss of size ~|L| carry rounding noise ~1e-16 |L| / h
            assert 0.5 * (l1 - l2) / (2 * h) == pytest.approx(g[idx], rel=1e-5, abs=1e-6)


# ---------------------------------------------------------------- the whole network


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


def test_cli_recurrent_init(tmp_path, capsys):
    from rnncli import checkpoint
    from .helpers import assert_user_error, rnn, write_corpus
    f = write_corpus(tmp_path / "c.txt")
    m = tmp_path / "m.npz"
    r = rnn(capsys, "train", f, "-o", m, "--hidden-dim", "4", "--vocab-size", "20", "--epochs", "1",
            "--activation", "relu", "--recurrent-init", "identity", "-q")
    assert r.code == 0, r
    assert checkpoint.load(str(m)).config.recurrent_init == "identity"
    assert_user_error(rnn(capsys, "train", f, "-o", tmp_path / "g.npz", "--cell", "gru", "--recurrent-init",
                          "identity", "-q"), "applies to the rnn cell only")
