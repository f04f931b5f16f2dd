"""The GRU and LSTM cells (rnncli/nn/gated.py) against the slow reference, finite differences,
step-by-step sampling, float32 and initialisation."""
import numpy as np
import pytest

from rnncli.batching import Encoded, pack
from rnncli.nn.gated import GRU, LSTM
from rnncli.nn.workspace import Workspace

from .. import reference_gated as ref
from ..helpers import numeric

CELLS = {"gru": GRU, "lstm": LSTM}
REF = {"gru": (ref.gru_forward, ref.gru_grads, ref.gru_step),
       "lstm": (ref.lstm_forward, ref.lstm_grads, ref.lstm_step)}


def packed_offsets(lengths):
    """``off`` of a packed batch of sentences with these numbers of steps, built by
    data.pack itself. Returns (off, rows) with rows[i] the packed rows of sentence i
    in the order given (which must be longest first, so pack keeps it)."""
    lens = np.asarray(lengths, np.int32) + 1               # ids per sentence
    starts = np.r_[0, np.cumsum(lens)[:-1]].astype(np.int64)
    enc = Encoded(np.zeros(int(lens.sum()), np.int32), starts, lens)
    b = pack(enc, np.arange(len(lengths)))
    assert list(b.order) == list(range(len(lengths)))
    off = b.offsets_list
    rows = [np.array([off[t] + i for t in range(L)]) for i, L in enumerate(lengths)]
    return off, rows


def setup(kind, H, lengths, seed, dtype=np.float64, scale=0.6):
    """A cell, parameters larger than at initialisation (so every term counts, with
    non-zero biases), input projections A and an output error R."""
    rng = np.random.default_rng(seed)
    cell = CELLS[kind](H)
    p = cell.init(rng, dtype)
    p["W"][...] = rng.normal(0, scale, p["W"].shape)
    p["b"][...] = rng.normal(0, scale, p["b"].shape)
    off, rows = packed_offsets(lengths)
    N = off[-1]
    A = rng.normal(0, 1, (N, cell.gates * H)).astype(dtype)
    R = rng.normal(0, 1, (N, H)).astype(dtype)
    return cell, p, off, rows, A, R


def run_fast(cell, p, A, R, off, truncate, ws=None):
    ws = ws or Workspace(threads=2)
    grads = {k: np.full_like(v, np.nan) for k, v in p.items()}   # must be overwritten
    Ain = A.copy()
    S, cache = cell.forward(p, Ain, off, ws)
    S = S.copy()
    R0 = R.copy()
    dA = cell.backward(p, cache, R, off, truncate, grads, ws)
    assert np.array_equal(R, R0), "backward modified dS"
    return S, dA.copy(), grads


LENGTHS = [9, 7, 7, 4, 2, 1]                               # mixed, ties, a length-1 sentence


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_forward_equals_reference(kind):
    cell, p, off, rows, A, R = setup(kind, 5, LENGTHS, 1)
    S, _ = cell.forward(p, A.copy(), off, Workspace(threads=2))
    fwd = REF[kind][0]
    for r in rows:
        h = fwd(p, A[r])
        h = h[0] if kind == "lstm" else h
        np.testing.assert_allclose(S[r], h, rtol=0, atol=1e-12)


@pytest.mark.parametrize("kind", ["gru", "lstm"])
@pytest.mark.parametrize("truncate", [-1, 0, 1, 3, 7, 8, 50])
def test_backward_equals_reference(kind, truncate):
    cell, p, off, rows, A, R = setup(kind, 5, LENGTHS, 10 + truncate)
    # a larger batch first through the same workspace: stale, larger buffers must not leak in
    ws = Workspace(threads=2)
    c2, p2, off2, _, A2, R2 = setup(kind, 5, [12, 11, 11, 8, 3, 3, 3, 2, 1], 99)
    run_fast(cell, p2, A2, R2, off2, 5, ws)
    run_fast(cell, p2, A2, R2, off2, -1, ws)
    S, dA, g = run_fast(cell, p, A, R, off, truncate, ws)

    grads = REF[kind][1]
    dA_ref = np.zeros_like(A)
    dW_ref = np.zeros_like(p["W"])
    db_ref = np.zeros_like(p["b"])
    for r in rows:
        da, dw, db = grads(p, A[r], R[r], truncate)
        dA_ref[r] = da
        dW_ref += dw
        db_ref += db
    np.testing.assert_allclose(dA, dA_ref, rtol=0, atol=1e-10, err_msg="dA")
    np.testing.assert_allclose(g["W"], dW_ref, rtol=0, atol=1e-10, err_msg="W")
    np.testing.assert_allclose(g["b"], db_ref, rtol=0, atol=1e-10, err_msg="b")


def states_of(kind, p, a):
    """The unperturbed state after every step of one sentence."""
    step = REF[kind][2]
    H = p["W"].shape[1]
    state = np.zeros(H) if kind == "gru" else (np.zeros(H), np.zeros(H))
    out = []
    for t in range(len(a)):
        state = step(p, a[t], state)
        out.append(state)
    return out


def truncated_objective(kind, p, A, R, rows, truncate, fixed):
    """sum_t R_t . h_t, where h_t is computed by running the recurrence from the state
    at t-K-1 held at its unperturbed value (a stop-gradient) for K+1 steps: its exact
    gradient is the truncated-BPTT gradient. truncate=-1: the plain objective."""
    step = REF[kind][2]
    H = p["W"].shape[1]
    zero = np.zeros(H) if kind == "gru" else (np.zeros(H), np.zeros(H))
    total = 0.0
    for r, states in zip(rows, fixed):
        a = A[r]
        for t in range(len(r)):
            k0 = 0 if truncate < 0 else max(0, t - truncate)
            state = states[k0 - 1] if k0 > 0 else zero
            for k in range(k0, t + 1):
                state = step(p, a[k], state)
            h = state if kind == "gru" else state[0]
            total += float(h @ R[r[t]])
    return total


@pytest.mark.parametrize("kind", ["gru", "lstm"])
@pytest.mark.parametrize("truncate", [-1, 0, 2])
def test_gradient_check_finite_differences(kind, truncate):
    cell, p, off, rows, A, R = setup(kind, 3, [6, 4, 4, 2, 1], 200 + truncate)
    fixed = [states_of(kind, p, A[r]) for r in rows]
    S, dA, g = run_fast(cell, p, A, R, off, truncate)
    assert float(np.sum(S * R)) == pytest.approx(
        truncated_objective(kind, p, A, R, rows, -1, fixed), rel=1e-12)
    h = 1e-6
    targets = {"W": (p["W"], g["W"]), "b": (p["b"], g["b"]), "A": (A, dA)}
    for name, (x, grad) in targets.items():
        num = numeric(lambda: truncated_objective(kind, p, A, R, rows, truncate, fixed), x, h)
        err = np.abs(num - grad).max() / max(1e-8, np.abs(num).max())
        assert err < 1e-6, (name, err)


def take_rows(state, n):
    return state[:n] if isinstance(state, np.ndarray) else tuple(s[:n] for s in state)


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_step_reproduces_forward(kind):
    cell, p, off, rows, A, R = setup(kind, 6, LENGTHS, 3)
    S, _ = cell.forward(p, A.copy(), off, Workspace(threads=2))
    state = None
    for t in range(len(off) - 1):
        a = A[off[t]:off[t + 1]]
        a0 = a.copy()
        state = cell.step(p, a, None if state is None else take_rows(state, len(a)))
        assert np.array_equal(a, a0), "step modified its input"
        np.testing.assert_allclose(cell.output(state), S[off[t]:off[t + 1]], rtol=0, atol=1e-12)
    # one sentence alone, as sampling runs it
    r = rows[1]
    state = None
    for t in r:
        state = cell.step(p, A[t:t + 1], state)
        np.testing.assert_allclose(cell.output(state), S[t:t + 1], rtol=0, atol=1e-12)


@pytest.mark.parametrize("kind", ["gru", "lstm"])
@pytest.mark.parametrize("truncate", [-1, 3])
def test_float32_close_to_float64(kind, truncate):
    lengths = [15, 12, 9, 9, 5, 1]
    cell, p64, off, rows, A64, R64 = setup(kind, 16, lengths, 4, scale=0.3)
    p32 = {k: v.astype(np.float32) for k, v in p64.items()}
    A32, R32 = A64.astype(np.float32), R64.astype(np.float32)
    S64, dA64, g64 = run_fast(cell, p64, A64, R64, off, truncate)
    S32, dA32, g32 = run_fast(cell, p32, A32, R32, off, truncate)
    assert S32.dtype == dA32.dtype == g32["W"].dtype == g32["b"].dtype == np.float32
    np.testing.assert_allclose(S32, S64, rtol=0, atol=1e-5)
    np.testing.assert_allclose(dA32, dA64, rtol=0, atol=1e-4 * np.abs(dA64).max())
    for k in ("W", "b"):
        np.testing.assert_allclose(g32[k], g64[k], rtol=0, atol=1e-4 * np.abs(g64[k]).max(), err_msg=k)


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_outputs_bounded_by_one(kind):
    cell, p, off, rows, A, R = setup(kind, 8, LENGTHS, 5, scale=5.0)
    S, _ = cell.forward(p, 10 * A, off, Workspace(threads=2))
    assert cell.bound == 1.0 and np.all(np.isfinite(S)) and np.abs(S).max() <= cell.bound


@pytest.mark.parametrize("kind", ["gru", "lstm"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_init_shapes_ranges_and_forget_bias(kind, dtype):
    H = 40
    cell = CELLS[kind](H)
    G = {"gru": 3, "lstm": 4}[kind]
    assert cell.name == kind and cell.gates == G
    p = cell.init(np.random.default_rng(6), dtype)
    assert set(p) == {"W", "b"}
    assert p["W"].shape == (G * H, H) and p["b"].shape == (G * H,)
    assert p["W"].dtype == p["b"].dtype == dtype
    assert p["W"].flags.c_contiguous
    k = 1 / np.sqrt(H)
    assert np.abs(p["W"]).max() <= k and np.abs(p["W"]).max() > 0.9 * k
    # one uniform draw of the whole matrix
    expect = np.random.default_rng(6).uniform(-k, k, (G * H, H)).astype(dtype)
    np.testing.assert_array_equal(p["W"], expect)
    b = np.zeros(G * H)
    if kind == "lstm":
        b[H:2 * H] = 1.0                                    # forget gate, block [i | f | o | g]
    np.testing.assert_array_equal(p["b"], b)
    # gated cells always have a bias
    assert set(cell.init(np.random.default_rng(6), dtype, bias=False)) == {"W", "b"}


def test_wrong_shapes_or_dtype_are_refused():
    cell, p, off, rows, A, R = setup("gru", 4, [3, 2], 7)
    with pytest.raises(ValueError):
        cell.forward(p, A.astype(np.float32), off, Workspace(threads=1))
    with pytest.raises(ValueError):
        cell.forward(p, A[:, :-1].copy(), off, Workspace(threads=1))


@pytest.mark.parametrize("kind", ["gru", "lstm"])
@pytest.mark.parametrize("lengths", [[1, 1, 1], [6], [3, 1]])
@pytest.mark.parametrize("truncate", [-1, 0, 2])
def test_edge_batches_equal_reference(kind, lengths, truncate):
    """One step only (no recurrence, no W gradient), a single sentence, B = 2."""
    cell, p, off, rows, A, R = setup(kind, 4, lengths, 300 + len(lengths))
    S, dA, g = run_fast(cell, p, A, R, off, truncate)
    fwd, grads = REF[kind][:2]
    dW_ref = np.zeros_like(p["W"])
    db_ref = np.zeros_like(p["b"])
    for r in rows:
        h = fwd(p, A[r])
        np.testing.assert_allclose(S[r], h[0] if kind == "lstm" else h, rtol=0, atol=1e-12)
        da, dw, db = grads(p, A[r], R[r], truncate)
        np.testing.assert_allclose(dA[r], da, rtol=0, atol=1e-10)
        dW_ref += dw
        db_ref += db
    np.testing.assert_allclose(g["W"], dW_ref, rtol=0, atol=1e-10)
    np.testing.assert_allclose(g["b"], db_ref, rtol=0, atol=1e-10)
