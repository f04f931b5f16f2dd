"""The Elman cell and what every cell does (rnncli/nn/cells.py): the slow reference, finite
differences, initial states and final-state errors."""
import numpy as np
import pytest

from rnncli.batching import pack
from rnncli.nn.cells import CELLS, Elman, Stack
from rnncli.nn.workspace import Workspace

from .. import reference as ref
from .. import reference_gated as refg
from ..helpers import numeric, packed, random_batch

KINDS = [("rnn", "tanh"), ("rnn", "relu"), ("gru", "tanh"), ("lstm", "tanh")]


def elman_step(act):
    f = np.tanh if act == "tanh" else (lambda a: np.maximum(a, 0))

    def step(p, a, h):
        return f(a + p["b"] + p["W"] @ h)
    return step


def ref_step(kind, act):
    return {"rnn": elman_step(act), "gru": refg.gru_step, "lstm": refg.lstm_step}[kind]


def setup(kind, act, H, lengths, seed):
    rng = np.random.default_rng(seed)
    cell = CELLS[kind](H, activation=act) if kind == "rnn" else CELLS[kind](H)
    p = cell.init(rng, np.float64, bias=True)
    p["W"][...] = rng.normal(0, 0.6, p["W"].shape)
    p["b"][...] = rng.normal(0, 0.3, p["b"].shape)
    off, rows = packed(lengths)
    B, N = len(lengths), off[-1]
    A = rng.normal(0, 1, (N, cell.gates * H))
    R = rng.normal(0, 1, (N, H))
    pair = kind == "lstm"
    h0 = tuple(rng.normal(0, 0.5, (B, H)) for _ in range(2)) if pair else rng.normal(0, 0.5, (B, H))
    dlast = tuple(rng.normal(0, 1, (B, H)) for _ in range(2)) if pair else rng.normal(0, 1, (B, H))
    return cell, p, off, rows, A, R, h0, dlast


def objective(kind, act, p, A, R, rows, h0, dlast, truncate, fixed):
    """sum_t R_t . h_t + dlast . (final state), each term computed by running the
    recurrence from the state K+1 steps earlier held at its unperturbed value (a
    stop-gradient) or from h0 when that is no further back: its exact gradient is
    the truncated-BPTT gradient. ``fixed``: the unperturbed states per sequence."""
    step = ref_step(kind, act)
    pair = kind == "lstm"
    total = 0.0
    for b, (r, states) in enumerate(zip(rows, fixed)):
        start = (h0[0][b], h0[1][b]) if pair else h0[b]
        T = len(r)
        for t in range(T):
            k0 = 0 if truncate < 0 else max(0, t - truncate)
            state = states[k0 - 1] if k0 > 0 else start
            for k in range(k0, t + 1):
                state = step(p, A[r[k]], state)
            h = state[0] if pair else state
            total += float(h @ R[r[t]])
            if t == T - 1:
                if pair:
                    total += float(state[0] @ dlast[0][b] + state[1] @ dlast[1][b])
                else:
                    total += float(state @ dlast[b])
    return total


def unperturbed_states(kind, act, p, A, rows, h0):
    step = ref_step(kind, act)
    out = []
    for b, r in enumerate(rows):
        state = (h0[0][b], h0[1][b]) if kind == "lstm" else h0[b]
        seq = []
        for k in r:
            state = step(p, A[k], state)
            seq.append(state)
        out.append(seq)
    return out


@pytest.mark.parametrize("kind,act", KINDS)
@pytest.mark.parametrize("lengths,truncate", [([5, 3, 3, 1], -1), ([5, 3, 3, 1], 1), ([4, 4, 4], -1), ([4, 4, 4], 0)])
def test_initial_state_and_final_error_gradients(kind, act, lengths, truncate):
    cell, p, off, rows, A, R, h0, dlast = setup(kind, act, 3, lengths, 7 + len(lengths) + truncate)
    pair = kind == "lstm"
    ws = Workspace(threads=2)
    S, cache = cell.forward(p, A.copy(), off, ws, h0=h0)
    fixed = unperturbed_states(kind, act, p, A, rows, h0)
    for b, r in enumerate(rows):                          # forward from h0 equals the reference
        got = S[r]
        want = np.array([s[0] if pair else s for s in fixed[b]])
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    grads = {k: np.full_like(v, np.nan) for k, v in p.items()}
    R0 = R.copy()
    dA, dh0 = cell.backward(p, cache, R, off, truncate, grads, ws, dlast=dlast)
    assert np.array_equal(R, R0), "backward modified dS"

    def f():
        return objective(kind, act, p, A, R, rows, h0, dlast, truncate, fixed)
    checks = {"W": (p["W"], grads["W"]), "b": (p["b"], grads["b"]), "A": (A, dA)}
    if pair:
        checks.update({"h0": (h0[0], dh0[0]), "c0": (h0[1], dh0[1])})
    else:
        checks["h0"] = (h0, dh0)
    for name, (x, g) in checks.items():
        num = numeric(f, x)
        err = np.abs(num - g).max() / max(1e-8, np.abs(num).max())
        assert err < 1e-6, (kind, act, name, err)


@pytest.mark.parametrize("kind,act", KINDS)
@pytest.mark.parametrize("truncate", [-1, 2])
def test_without_state_the_cells_are_unchanged(kind, act, truncate):
    """No h0 and no dlast: exactly the old results; a zero h0 and zero dlast: the same
    values (the zero state is the default), and for Elman and LSTM dh0 = W^T dA_0."""
    cell, p, off, rows, A, R, h0, dlast = setup(kind, act, 4, [6, 4, 4, 1], 11)
    ws = Workspace(threads=2)
    S, cache = cell.forward(p, A.copy(), off, ws)
    S = S.copy()
    g = {k: np.zeros_like(v) for k, v in p.items()}
    dA = cell.backward(p, cache, R, off, truncate, g, ws).copy()
    assert isinstance(dA, np.ndarray)
    pair = kind == "lstm"
    B, H = 4, 4
    zero = (np.zeros((B, H)), np.zeros((B, H))) if pair else np.zeros((B, H))
    S2, cache2 = cell.forward(p, A.copy(), off, ws, h0=zero)
    np.testing.assert_allclose(S2, S, rtol=0, atol=1e-15)
    g2 = {k: np.zeros_like(v) for k, v in p.items()}
    dA2, dh0 = cell.backward(p, cache2, R, off, truncate, g2, ws, dlast=zero)
    np.testing.assert_allclose(dA2, dA, rtol=0, atol=1e-13)
    for k in p:
        np.testing.assert_allclose(g2[k], g[k], rtol=0, atol=1e-13)
    if kind != "gru":                                     # GRU's h_{t-1} also enters z * h directly
        np.testing.assert_allclose(dh0[0] if pair else dh0, dA[:B] @ p["W"], rtol=0, atol=1e-13)


def stack_reference(kind, act, p, A, rows, h0, L):
    """Per sequence, layer by layer: layer 0 reads A, layer i the layer below's h through
    layer{i}.U, each from its h0. -> (the top layer's h per packed row, each layer's
    final state per sequence)."""
    step = ref_step(kind, act)
    pair = kind == "lstm"
    top, finals = {}, [[None] * len(rows) for _ in range(L)]
    for b, r in enumerate(rows):
        states = [(h0[i][0][b], h0[i][1][b]) if pair else h0[i][b] for i in range(L)]
        for row in r:
            a = A[row]
            for i in range(L):
                if i:
                    a = p[f"layer{i}.U"] @ (states[i - 1][0] if pair else states[i - 1])
                states[i] = step({"W": p[f"layer{i}.W"], "b": p[f"layer{i}.b"]}, a, states[i])
            top[row] = states[-1][0] if pair else states[-1]
        for i in range(L):
            finals[i][b] = states[i]
    return top, finals


@pytest.mark.parametrize("kind,act", KINDS)
@pytest.mark.parametrize("lengths", [[5, 3, 3, 1], [4, 4, 4]])
def test_stack_initial_states_and_final_errors(kind, act, lengths):
    """Two layers, each from its own h0, an error on each layer's final state: the top
    layer's outputs and ``final`` equal the reference; full-BPTT gradients (every
    parameter, A, every h0) equal finite differences of sum_t R_t . h_t + dlast . final."""
    rng = np.random.default_rng(17 + len(lengths))
    H, L = 3, 2
    pair = kind == "lstm"
    stack = Stack(kind, H, L, act, tag="s")
    p = stack.init(rng, np.float64, bias=True)
    assert list(p) == list(stack.shapes(True))
    for k, v in p.items():
        v[...] = rng.normal(0, 0.3 if k.endswith(".b") else 0.6, v.shape)
    off, rows = packed(lengths)
    B, N = len(lengths), off[-1]
    A = rng.normal(0, 1, (N, stack.gates * H))
    R = rng.normal(0, 1, (N, H))

    def state(sd):
        return tuple(rng.normal(0, sd, (B, H)) for _ in range(2)) if pair else rng.normal(0, sd, (B, H))
    h0, dlast = [state(0.5) for _ in range(L)], [state(1.0) for _ in range(L)]
    ws = Workspace(threads=2)
    S, cache = stack.forward(p, A.copy(), off, ws, h0=h0)
    top, finals = stack_reference(kind, act, p, A, rows, h0, L)
    np.testing.assert_allclose(S, np.array([top[r] for r in range(N)]), rtol=0, atol=1e-12)
    for i, got in enumerate(stack.final(cache, off)):
        want = finals[i]
        for j, g in enumerate(got if pair else (got,)):
            np.testing.assert_allclose(g, np.array([w[j] if pair else w for w in want]), rtol=0, atol=1e-12)
    grads = {k: np.full_like(v, np.nan) for k, v in p.items()}
    dA, dh0 = stack.backward(p, cache, R, off, -1, grads, ws, dlast=dlast)

    def f():
        top, finals = stack_reference(kind, act, p, A, rows, h0, L)
        total = sum(float(R[r] @ top[r]) for r in range(N))
        for i in range(L):
            for b in range(B):
                parts = zip(finals[i][b], dlast[i]) if pair else [(finals[i][b], dlast[i])]
                total += sum(float(s @ d[b]) for s, d in parts)
        return total
    checks = [(k, p[k], grads[k]) for k in p] + [("A", A, dA)]
    for i in range(L):
        checks += [(f"h0[{i}]", h0[i][0], dh0[i][0]), (f"c0[{i}]", h0[i][1], dh0[i][1])] if pair else \
            [(f"h0[{i}]", h0[i], dh0[i])]
    for name, x, g in checks:
        num = numeric(f, x)
        err = np.abs(num - g).max() / max(1e-8, np.abs(num).max())
        assert err < 1e-6, (kind, act, name, err)


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
