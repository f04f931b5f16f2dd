"""GRU and LSTM recurrent cells as pure math over packed batches: numpy in, numpy
out, no I/O. The network owns inputs, outputs and vocabularies; a cell only turns
input projections into hidden states and errors on hidden states back into errors
on input projections and its own gradients.

Rows are packed as in ``rnncli.nn.cells``: ``off`` (T+1 ints) cuts the N rows into
time steps, rows ``off[t]:off[t+1]`` hold step t of the n_t sentences still
running (always the first n_t of the batch), so row ``off[t]+i`` continues row
``off[t-1]+i``. B = n_0 sentences. ``A`` (N, gates*H) holds the input projections
``U x_t`` of every row, without bias. Each gate block of W, b, A is H wide.

GRU (Cho et al. 2014, in the form of PyTorch and cuDNN: the reset gate multiplies
W_n h, not h, so one (n_t, H) x (H, 3H) product serves all gates of a step)::

    r  = sigmoid(A_r + b_r + W_r h)                     # (n_t, H) each
    z  = sigmoid(A_z + b_z + W_z h)
    n  = tanh(A_n + b_n + r * (W_n h))
    h' = (1 - z) * n + z * h                            # h_{-1} = 0

    W: (3H, H), b: (3H,), gate order [r | z | n] (PyTorch's)

b_n sits outside the reset gate (PyTorch's b_in, with its b_hn = 0), so every bias
is added to A once over all N rows before the time loop.

LSTM (Hochreiter and Schmidhuber 1997, with forget gate, no peepholes)::

    i, f, o = sigmoid(A_{i,f,o} + b_{i,f,o} + W_{i,f,o} h)
    g  = tanh(A_g + b_g + W_g h)
    c' = f * c + i * g                                  # c_{-1} = 0
    h' = o * tanh(c')                                   # h_{-1} = 0

    W: (4H, H), b: (4H,), gate order [i | f | o | g]

(PyTorch orders i, f, g, o; the three sigmoid blocks are kept adjacent here so one
call covers them.) b starts at 0 except the forget block b_f = 1 (Jozefowicz et al.
2015). Both cells bound |h| by 1.

sigmoid(x) = (1 + tanh(x/2)) / 2. The halving is folded once per batch into the
sigmoid columns of A (with b added) and of a copy of W, so a step's gates cost one
tanh and one affine map. Halving is exact in binary floating point.

Backward. The error arriving at h_t (and c_t) is linear in everything else, so
every per-row factor that depends only on forward values (gate derivatives,
h_{t-1} - n, ...) is computed for all N rows at once before the time loop; the loop
then does one broadcast multiply, one (n_t, gates*H) x (gates*H, H) product and a
few additions per step. dW = sum_t dP_t^T h_{t-1} is one product over all rows after
the loop, db one sum. Truncated BPTT uses the lanes of ``rnncli.nn.cells.Elman``: lane j at
step t carries the error of output t+j after j steps back (for LSTM both dh and dc);
all lanes move back a step in one product.

BLAS runs on one thread inside the time loops (see ``_one_blas_thread``).

Buffers come from the caller's ``Workspace`` under names prefixed by the cell's
``tag`` (default its name): S and the cache live there and are overwritten by the
next ``forward`` of a cell with the same tag, and ``forward`` overwrites A in place
with the gate activations, which the cache keeps. Two layers sharing a workspace
need different tags.
"""
from __future__ import annotations

import contextlib

import numpy as np

from ..batching import add_last, prev_rows, take_last

_blas = None


def _one_blas_thread():
    """Context running BLAS on one thread. A step's product (n_t, H) x (H, gates*H) is
    large enough for OpenBLAS to split across threads and far too small to gain from
    it: on 2 cores one (32, 100) x (100, 300) product took 55 us on one thread and
    0.3 to 8 ms on two. The products over all N rows after the loops keep all threads."""
    global _blas
    if _blas is None:
        try:
            from threadpoolctl import ThreadpoolController
            _blas = ThreadpoolController().select(user_api="blas")
        except ImportError:  # threadpoolctl is a dependency; without it just run
            _blas = False
    return _blas.limit(limits=1) if _blas else contextlib.nullcontext()


def _check(p: dict, A: np.ndarray, off: list, G: int, H: int):
    W = p["W"]
    if W.shape != (G * H, H) or p["b"].shape != (G * H,):
        raise ValueError(f"W must be {(G * H, H)} and b {(G * H,)}, got {W.shape} and {p['b'].shape}")
    if A.shape != (off[-1], G * H) or A.dtype != W.dtype:
        raise ValueError(f"A must be {(off[-1], G * H)} {W.dtype}, got {A.shape} {A.dtype}")


def _bias_halve_(A, b, nsig):
    """A += b, then the sigmoid columns halved (see the module docstring)."""
    A += b
    A[:, :nsig] *= 0.5


def _halved_WT(W: np.ndarray, nsig: int, buf: np.ndarray) -> np.ndarray:
    buf[...] = W.T                                       # (H, G*H)
    buf[:, :nsig] *= 0.5
    return buf


def _gather_prev(X: np.ndarray, prev: np.ndarray, out: np.ndarray, B: int, first=None) -> np.ndarray:
    """out[r] = X[row of the same sentence one step before r]; for the first step
    ``first`` (B, H) (the initial state), or 0."""
    out[:B] = 0 if first is None else first
    np.take(X, prev, axis=0, out=out[B:])
    return out


def _check_state(s, B: int, H: int, dtype):
    if s is not None and (s.shape != (B, H) or s.dtype != dtype):
        raise ValueError(f"an initial state must be {(B, H)} {dtype}, got {s.shape} {s.dtype}")


class _Cell:
    name = ""
    gates = 0
    bound = 1.0
    forget_bias = None      # index of the gate block initialised to 1, if any

    def __init__(self, H: int, tag: str | None = None):
        self.H = int(H)
        self.tag = tag or self.name

    def _buf(self, ws, name, shape, dtype):
        return ws.get(f"{self.tag}.{name}", shape, dtype)

    def init(self, rng: np.random.Generator, dtype="float32", bias=True, recurrent: str = "uniform") -> dict:
        """W uniform in [-1/sqrt(H), 1/sqrt(H)] (one ``rng.uniform`` call), b = 0 except
        the LSTM forget block = 1. Gated cells always have b: ``bias`` is accepted
        for a uniform signature with the Elman model and ignored; so is ``recurrent``,
        which has only the uniform rule here."""
        if recurrent != "uniform":
            raise ValueError(f"recurrent init {recurrent} applies to the rnn cell only")
        H, G = self.H, self.gates
        k = 1 / np.sqrt(H)
        W = rng.uniform(-k, k, (G * H, H))
        b = np.zeros(G * H)
        if self.forget_bias is not None:
            b[self.forget_bias * H:(self.forget_bias + 1) * H] = 1.0
        dtype = np.dtype(dtype)
        return {"W": np.ascontiguousarray(W, dtype), "b": np.ascontiguousarray(b, dtype)}

    def start(self, n: int):
        """The state before the first step: None stands for zeros."""
        return None

    @staticmethod
    def final(cache: dict, off: list):
        """Each sequence's final state h (B, H) after ``forward``, a view into the
        workspace when every sequence ends at the last step (valid until the next
        forward of a cell with the same tag)."""
        return take_last(cache["S"], off)

    @staticmethod
    def output(state):
        raise NotImplementedError


class GRU(_Cell):
    """Gated recurrent unit over packed batches; see the module docstring."""
    name = "gru"
    gates = 3
    bound = 1.0

    def forward(self, p: dict, A: np.ndarray, off: list, ws, h0: np.ndarray | None = None):
        """A (N, 3H) input projections, overwritten with the gates [r | z | n]; h0 (B, H)
        the state before step 0, or None (zeros). Returns S (N, H) = h_t of every row
        and the cache for ``backward``: {"S": S, "gates": A, "Hn": (N, H) W_n h_{t-1}
        (W_n h0 or 0 at t = 0)[, "h0": h0]}."""
        W, b = p["W"], p["b"]
        H = self.H
        _check(p, A, off, 3, H)
        dt = W.dtype
        N, B, T = off[-1], off[1] - off[0], len(off) - 1
        _check_state(h0, B, H, dt)
        ws.rows_parallel(lambda a: _bias_halve_(a, b, 2 * H), A)
        WT = _halved_WT(W, 2 * H, self._buf(ws, "WT", (H, 3 * H), dt))
        S = self._buf(ws, "S", (N, H), dt)
        P = self._buf(ws, "P", (N, 3 * H), dt)           # (N, 3H)  W' h_{t-1}; [:, 2H:] = W_n h
        P[:B, 2 * H:] = 0
        tmp = self._buf(ws, "tmp", (B, H), dt)
        with _one_blas_thread():
            for t in range(T):
                a, e = off[t], off[t + 1]
                n = e - a
                At = A[a:e]
                rz, nn = At[:, :2 * H], At[:, 2 * H:]
                r, z = At[:, :H], At[:, H:2 * H]
                if t:
                    q = off[t - 1]
                    hp = S[q:q + n]
                else:
                    hp = h0                                  # None: h_{-1} = 0, no product
                if hp is not None:
                    np.matmul(hp, WT, out=P[a:e])            # (n, 3H)  the step's one product
                    rz += P[a:e, :2 * H]
                np.tanh(rz, out=rz)
                rz *= 0.5
                rz += 0.5                                    # r, z
                if hp is not None:
                    np.multiply(r, P[a:e, 2 * H:], out=tmp[:n])
                    nn += tmp[:n]
                np.tanh(nn, out=nn)                          # n
                St = S[a:e]
                if hp is not None:
                    np.subtract(hp, nn, out=St)
                    St *= z
                    St += nn                                 # n + z (h - n)
                else:
                    np.multiply(z, nn, out=St)
                    np.subtract(nn, St, out=St)
        cache = {"S": S, "gates": A, "Hn": P[:, 2 * H:]}
        if h0 is not None:
            cache["h0"] = h0
        return S, cache


    def _factors(self, gates, Hn, Hp, Cp, cn):
        """Per-row factors over a block of rows, from forward values only:
        dP = dh * Cp blockwise, with dP the error of the pre-activations that W h_{t-1}
        enters, [dA_r, dA_z, dA_n * r]; and dA_n = dh * cn."""
        H = self.H
        r, z, n = gates[:, :H], gates[:, H:2 * H], gates[:, 2 * H:]
        cr, cz, cnr = Cp[:, :H], Cp[:, H:2 * H], Cp[:, 2 * H:]
        np.subtract(Hp, n, out=cn)                       # cn as a temporary: h_{t-1} - n
        np.subtract(1, z, out=cz)
        cz *= z
        cz *= cn                                         # (h_{t-1} - n) z (1 - z)
        np.multiply(n, n, out=cn)
        np.subtract(1, cn, out=cn)
        np.subtract(1, z, out=cnr)
        cn *= cnr                                        # (1 - z)(1 - n^2)
        np.multiply(cn, r, out=cnr)                      # (1 - z)(1 - n^2) r
        np.subtract(1, r, out=cr)
        cr *= cnr
        cr *= Hn                                         # (1 - z)(1 - n^2) r (1 - r) W_n h

    def backward(self, p: dict, cache: dict, dS: np.ndarray, off: list, truncate: int,
                 grads: dict, ws, dlast: np.ndarray | None = None):
        """dS (N, H) = dLoss/dh_t per row (not modified); dlast (B, H) or None: more error
        on each sentence's last h. Overwrites grads["W"] (3H, H) and grads["b"] (3H,);
        returns dA (N, 3H), a workspace buffer, or (dA, dh0 (B, H)) when the forward
        pass had an h0. ``truncate``: -1 full BPTT, K >= 0 the error of output t reaches
        steps t-K..t only."""
        W = p["W"]
        H = self.H
        dt = W.dtype
        N, B, T = off[-1], off[1] - off[0], len(off) - 1
        gates, Hn = cache["gates"], cache["Hn"]
        h0 = cache.get("h0")
        if dlast is not None:
            dS = add_last(dS, dlast, off, self._buf(ws, "dSl", (N, H), dt))
        z = gates[:, H:2 * H]
        Hp = _gather_prev(cache["S"], prev_rows(off), self._buf(ws, "Hp", (N, H), dt), B, h0)
        Cp = self._buf(ws, "Cp", (N, 3 * H), dt)
        cn = self._buf(ws, "cn", (N, H), dt)
        ws.rows_parallel(self._factors, gates, Hn, Hp, Cp, cn)
        DH = self._buf(ws, "DH", (N, H), dt)             # (N, H)  total dLoss/dh_t per row
        dA = self._buf(ws, "dA", (N, 3 * H), dt)         # holds dP until after dW
        if truncate < 0 or truncate >= T - 1:
            self._through_time(W, dS, Cp, z, off, DH, dA, ws)
        else:
            self._through_time_truncated(W, dS, Cp, z, off, truncate, DH, dA, ws)
        np.matmul(dA[B:].T, Hp[B:], out=grads["W"])      # (3H, H)  sum_t dP_t^T h_{t-1}
        if h0 is not None:
            grads["W"] += dA[:B].T @ h0                  # the t = 0 term
            dh0 = dA[:B] @ W + DH[:B] * z[:B]            # as the loop's step to t - 1, from t = 0
        np.multiply(DH, cn, out=dA[:, 2 * H:])           # dP_n = dA_n r  ->  dA_n
        np.sum(dA, axis=0, out=grads["b"])
        return dA if h0 is None else (dA, dh0)

    def _through_time(self, W, dS, Cp, z, off, DH, dA, ws):
        """Full BPTT: DH = the total error of every h_t, dA = dP (see ``_factors``)."""
        H, dt = self.H, W.dtype
        B, T = off[1] - off[0], len(off) - 1
        Cp3, dA3 = Cp.reshape(-1, 3, H), dA.reshape(-1, 3, H)
        DH[...] = dS
        tmp = self._buf(ws, "tmp", (B, H), dt)
        tmp2 = self._buf(ws, "tmp2", (B, H), dt)
        with _one_blas_thread():
            for t in range(T - 1, -1, -1):
                a, e = off[t], off[t + 1]
                n = e - a
                dh = DH[a:e]
                np.multiply(dh[:, None, :], Cp3[a:e], out=dA3[a:e])   # (n, 3, H)  dP
                if t:
                    q = off[t - 1]
                    np.matmul(dA[a:e], W, out=tmp[:n])                  # (n, H)  W^T dP
                    np.multiply(dh, z[a:e], out=tmp2[:n])
                    tmp[:n] += tmp2[:n]
                    DH[q:q + n] += tmp[:n]

    def _through_time_truncated(self, W, dS, Cp, z, off, K, DH, dA, ws):
        """Truncated BPTT in lanes as in ``cells.Elman.backward``: DH[row] = the sum of
        the lanes = the total error of h_t; then dA = dP (see ``_factors``)."""
        H, dt = self.H, W.dtype
        B, T = off[1] - off[0], len(off) - 1
        Cp3, dA3 = Cp.reshape(-1, 3, H), dA.reshape(-1, 3, H)
        L = K + 1
        R = self._buf(ws, "R", (B, L, H), dt)
        R.fill(0)
        Pl = self._buf(ws, "Pl", (B * L, 3 * H), dt)
        tmpR = self._buf(ws, "tmpR", (B * L, H), dt)
        with _one_blas_thread():
            for t in range(T - 1, -1, -1):
                a, e = off[t], off[t + 1]
                n = e - a
                Rn = R[:n]
                Rn[:, t % L] = dS[a:e]
                np.sum(Rn, axis=1, out=DH[a:e])
                if t:
                    np.multiply(Rn[:, :, None, :], Cp3[a:e, None], out=Pl[:n * L].reshape(n, L, 3, H))
                    np.matmul(Pl[:n * L], W, out=tmpR[:n * L])          # all lanes, one product
                    Rn *= z[a:e, None, :]
                    Rn += tmpR[:n * L].reshape(n, L, H)
        ws.rows_parallel(lambda d, c, o: np.multiply(d[:, None, :], c, out=o), DH, Cp3, dA3)

    def step(self, p: dict, a: np.ndarray, state):
        """One step for sampling: a (B, 3H) input projections without bias (not
        modified), state (B, H) or None at t = 0 -> the new state h (B, H)."""
        H = self.H
        x = a + p["b"]
        Wh = state @ p["W"].T if state is not None else np.zeros_like(x)
        x[:, :2 * H] += Wh[:, :2 * H]
        r, z = _sigmoid(x[:, :H]), _sigmoid(x[:, H:2 * H])
        n = np.tanh(x[:, 2 * H:] + r * Wh[:, 2 * H:])
        h = state if state is not None else np.zeros_like(n)
        return n + z * (h - n)

    @staticmethod
    def output(state):
        return state


class LSTM(_Cell):
    """Long short-term memory over packed batches; see the module docstring."""
    name = "lstm"
    gates = 4
    bound = 1.0
    forget_bias = 1

    def forward(self, p: dict, A: np.ndarray, off: list, ws, h0: tuple | None = None):
        """A (N, 4H) input projections, overwritten with the gates [i | f | o | g]; h0 a
        pair (h0, c0) of (B, H), the state before step 0, or None (zeros).
        Returns S (N, H) = h_t of every row and the cache for ``backward``:
        {"S": S, "gates": A, "C": (N, H) cell states c_t, "Tc": (N, H) tanh(c_t)[, "h0": h0]}."""
        W, b = p["W"], p["b"]
        H = self.H
        _check(p, A, off, 4, H)
        dt = W.dtype
        N, B, T = off[-1], off[1] - off[0], len(off) - 1
        if h0 is not None:
            _check_state(h0[0], B, H, dt)
            _check_state(h0[1], B, H, dt)
        ws.rows_parallel(lambda a: _bias_halve_(a, b, 3 * H), A)
        WT = _halved_WT(W, 3 * H, self._buf(ws, "WT", (H, 4 * H), dt))
        S = self._buf(ws, "S", (N, H), dt)
        C = self._buf(ws, "C", (N, H), dt)
        Tc = self._buf(ws, "Tc", (N, H), dt)
        P = self._buf(ws, "P", (B, 4 * H), dt)
        tmp = self._buf(ws, "tmp", (B, H), dt)
        with _one_blas_thread():
            for t in range(T):
                a, e = off[t], off[t + 1]
                n = e - a
                At = A[a:e]
                i, f, o, g = At[:, :H], At[:, H:2 * H], At[:, 2 * H:3 * H], At[:, 3 * H:]
                if t:
                    q = off[t - 1]
                    hp, cp = S[q:q + n], C[q:q + n]
                else:
                    hp, cp = (None, None) if h0 is None else h0   # None: zeros, no product
                if hp is not None:
                    np.matmul(hp, WT, out=P[:n])             # (n, 4H)  the step's one product
                    At += P[:n]
                np.tanh(At, out=At)
                sg = At[:, :3 * H]
                sg *= 0.5
                sg += 0.5                                    # i, f, o
                Ct = C[a:e]
                if cp is not None:
                    np.multiply(f, cp, out=Ct)
                    np.multiply(i, g, out=tmp[:n])
                    Ct += tmp[:n]
                else:
                    np.multiply(i, g, out=Ct)
                np.tanh(Ct, out=Tc[a:e])
                np.multiply(o, Tc[a:e], out=S[a:e])
        cache = {"S": S, "gates": A, "C": C, "Tc": Tc}
        if h0 is not None:
            cache["h0"] = h0
        return S, cache

    def _factors(self, gates, Tc, Cprev, Cx, Kc):
        """Per-row factors over a block of rows, from forward values only:
        dc_t = dc_carry + dh * Kc; dA = dc * Cx blockwise, except dA_o = dh * Cx_o."""
        H = self.H
        s, i, g, o = gates[:, :3 * H], gates[:, :H], gates[:, 3 * H:], gates[:, 2 * H:3 * H]
        cs, cg = Cx[:, :3 * H], Cx[:, 3 * H:]
        np.subtract(1, s, out=cs)
        cs *= s                                          # sigmoid' for i, f, o
        Cx[:, :H] *= g                                   # g i (1 - i)
        Cx[:, H:2 * H] *= Cprev                          # c_{t-1} f (1 - f)
        Cx[:, 2 * H:3 * H] *= Tc                         # tanh(c) o (1 - o)
        np.multiply(g, g, out=cg)
        np.subtract(1, cg, out=cg)
        cg *= i                                          # i (1 - g^2)
        np.multiply(Tc, Tc, out=Kc)
        np.subtract(1, Kc, out=Kc)
        Kc *= o                                          # o (1 - tanh(c)^2)

    def backward(self, p: dict, cache: dict, dS: np.ndarray, off: list, truncate: int,
                 grads: dict, ws, dlast: tuple | None = None):
        """dS (N, H) = dLoss/dh_t per row (not modified); dlast a pair (dh, dc) of (B, H)
        or None: more error on each sentence's last h and c. Overwrites grads["W"]
        (4H, H) and grads["b"] (4H,); returns dA (N, 4H), a workspace buffer, or
        (dA, (dh0, dc0)) when the forward pass had an h0. ``truncate``: -1 full BPTT,
        K >= 0 the error of output t reaches steps t-K..t only, through both h and c."""
        W = p["W"]
        H = self.H
        dt = W.dtype
        N, B, T = off[-1], off[1] - off[0], len(off) - 1
        gates = cache["gates"]
        h0 = cache.get("h0")
        dc_last = None
        if dlast is not None:
            dS = add_last(dS, dlast[0], off, self._buf(ws, "dSl", (N, H), dt))
            dc_last = dlast[1]
        f = gates[:, H:2 * H]
        prev = prev_rows(off)
        Hp = _gather_prev(cache["S"], prev, self._buf(ws, "Hp", (N, H), dt), B, None if h0 is None else h0[0])
        Cprev = _gather_prev(cache["C"], prev, self._buf(ws, "Cprev", (N, H), dt), B,
                             None if h0 is None else h0[1])
        Cx = self._buf(ws, "Cx", (N, 4 * H), dt)
        Kc = self._buf(ws, "Kc", (N, H), dt)
        ws.rows_parallel(self._factors, gates, cache["Tc"], Cprev, Cx, Kc)
        DH = self._buf(ws, "DH", (N, H), dt)             # (N, H)  total dLoss/dh_t per row
        DC = self._buf(ws, "DC", (N, H), dt)             # (N, H)  total dLoss/dc_t per row
        dA = self._buf(ws, "dA", (N, 4 * H), dt)
        factors = (Cx, Kc, f)
        if truncate < 0 or truncate >= T - 1:
            self._through_time(W, dS, dc_last, factors, off, DH, DC, dA, ws)
        else:
            self._through_time_truncated(W, dS, dc_last, factors, off, truncate, DH, DC, dA, ws)
        np.matmul(dA[B:].T, Hp[B:], out=grads["W"])      # (4H, H)  sum_t dA_t^T h_{t-1}
        np.sum(dA, axis=0, out=grads["b"])
        if h0 is None:
            return dA
        grads["W"] += dA[:B].T @ h0[0]                   # the t = 0 term
        return dA, (dA[:B] @ W, DC[:B] * f[:B])          # dh0 = W^T dA_0, dc0 = dc_0 f_0

    def _through_time(self, W, dS, dc_last, factors, off, DH, DC, dA, ws):
        """Full BPTT: DH, DC = the total errors of every h_t and c_t, and dA."""
        Cx, Kc, f = factors
        H, dt = self.H, W.dtype
        B, T = off[1] - off[0], len(off) - 1
        Cx3, Co = Cx.reshape(-1, 4, H), Cx[:, 2 * H:3 * H]
        dA3, dAo = dA.reshape(-1, 4, H), dA[:, 2 * H:3 * H]
        DH[...] = dS
        DC.fill(0)
        if dc_last is not None:
            add_last(DC, dc_last, off, DC)
        tmp = self._buf(ws, "tmp", (B, H), dt)
        with _one_blas_thread():
            for t in range(T - 1, -1, -1):
                a, e = off[t], off[t + 1]
                n = e - a
                dh, dc = DH[a:e], DC[a:e]
                np.multiply(dh, Kc[a:e], out=tmp[:n])
                dc += tmp[:n]                                           # through tanh(c)
                np.multiply(dc[:, None, :], Cx3[a:e], out=dA3[a:e])     # (n, 4, H)
                np.multiply(dh, Co[a:e], out=dAo[a:e])
                if t:
                    q = off[t - 1]
                    np.matmul(dA[a:e], W, out=tmp[:n])                  # (n, H)  W^T dA
                    DH[q:q + n] += tmp[:n]
                    np.multiply(dc, f[a:e], out=DC[q:q + n])

    def _through_time_truncated(self, W, dS, dc_last, factors, off, K, DH, DC, dA, ws):
        """Truncated BPTT in lanes as in ``cells.Elman.backward``, each carrying (dh, dc);
        DH and DC get the sums over lanes, from which dA follows after the loop."""
        Cx, Kc, f = factors
        H, dt = self.H, W.dtype
        B, T = off[1] - off[0], len(off) - 1
        Cx3, Co = Cx.reshape(-1, 4, H), Cx[:, 2 * H:3 * H]
        L = K + 1
        Rh = self._buf(ws, "Rh", (B, L, H), dt)
        Rc = self._buf(ws, "Rc", (B, L, H), dt)
        Rh.fill(0)
        Rc.fill(0)
        Dl = self._buf(ws, "Dl", (B, L, H), dt)
        Pl = self._buf(ws, "Pl", (B * L, 4 * H), dt)
        with _one_blas_thread():
            for t in range(T - 1, -1, -1):
                a, e = off[t], off[t + 1]
                n = e - a
                Rhn, Rcn, dcl = Rh[:n], Rc[:n], Dl[:n]
                Rhn[:, t % L] = dS[a:e]
                Rcn[:, t % L] = 0
                if dc_last is not None:                                 # sentences ending at t
                    n_next = off[t + 2] - off[t + 1] if t + 1 < T else 0
                    Rcn[n_next:, t % L] = dc_last[n_next:n]
                np.sum(Rhn, axis=1, out=DH[a:e])
                np.multiply(Rhn, Kc[a:e, None, :], out=dcl)
                dcl += Rcn                                              # (n, L, H)  dc per lane
                np.sum(dcl, axis=1, out=DC[a:e])
                if t:
                    Pn = Pl[:n * L].reshape(n, L, 4, H)
                    np.multiply(dcl[:, :, None, :], Cx3[a:e, None], out=Pn)
                    np.multiply(Rhn, Co[a:e, None, :], out=Pn[:, :, 2])
                    np.matmul(Pl[:n * L], W, out=Rhn.reshape(n * L, H))  # all lanes, one product
                    np.multiply(dcl, f[a:e, None, :], out=Rcn)

        def fill(dh, dc, cx, co, out, outo):
            np.multiply(dc[:, None, :], cx, out=out)
            np.multiply(dh, co, out=outo)
        ws.rows_parallel(fill, DH, DC, Cx3, Co, dA.reshape(-1, 4, H), dA[:, 2 * H:3 * H])

    def step(self, p: dict, a: np.ndarray, state):
        """One step for sampling: a (B, 4H) input projections without bias (not
        modified), state (h, c) or None at t = 0 -> the new state (h, c), (B, H) each."""
        H = self.H
        x = a + p["b"]
        if state is not None:
            x += state[0] @ p["W"].T
        i, f, o = _sigmoid(x[:, :H]), _sigmoid(x[:, H:2 * H]), _sigmoid(x[:, 2 * H:3 * H])
        g = np.tanh(x[:, 3 * H:])
        c = i * g if state is None else f * state[1] + i * g
        return o * np.tanh(c), c

    @staticmethod
    def final(cache: dict, off: list):
        """Each sequence's final state (h, c), (B, H) each; views as in ``_Cell.final``."""
        return take_last(cache["S"], off), take_last(cache["C"], off)

    @staticmethod
    def output(state):
        return state[0]


def _sigmoid(x):
    return 0.5 + 0.5 * np.tanh(0.5 * x)


CELLS = {"gru": GRU, "lstm": LSTM}
