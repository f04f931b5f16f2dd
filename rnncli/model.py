"""The Elman RNN language model as pure math: numpy in, numpy out, no I/O.

    s_t = tanh(U x_t + W s_{t-1} [+ b])      s_{-1} = 0, x_t one-hot
    o_t = softmax(V s_t [+ c])
    loss = sum over predicted tokens of -log o_t[y_t]

U: (H, C), V: (C, H), W: (H, H); b: (H,), c: (C,) only with biases.

Batches arrive *packed* (see ``data.pack``): the sentences of a batch are sorted
by length, longest first, and their time steps are laid out time-major with no
padding: rows ``offsets[t]:offsets[t+1]`` hold step t of the ``n_t`` sentences
still running at t, and because lengths are sorted those are always the first
``n_t`` sentences. Padding therefore never enters a sum, and the output layer
is one matrix product over all N tokens of the batch.

U is kept as the transpose of a C-contiguous (C, H) array, so ``U x_t`` for
a one-hot x_t is a row gather of ``U.T`` and its gradient a row scatter-add;
no one-hot matrix ever exists.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

# Logits bounded by this can be exponentiated without a max-shift: exp(60) * 1e6
# words stays finite in float32 and exp(-60) is still a normal number.
_NO_SHIFT_BOUND = {np.dtype(np.float32): 60.0, np.dtype(np.float64): 600.0}

PARAM_NAMES = ("U", "V", "W", "b", "c")


def init_params(C: int, H: int, rng: np.random.Generator, dtype="float32", bias=False) -> dict:
    """Uniform in [-1/sqrt(n), 1/sqrt(n)], n = the incoming dimension (C for U, H for V, W)."""
    dtype = np.dtype(dtype)
    U = rng.uniform(-1 / np.sqrt(C), 1 / np.sqrt(C), (H, C))
    V = rng.uniform(-1 / np.sqrt(H), 1 / np.sqrt(H), (C, H))
    W = rng.uniform(-1 / np.sqrt(H), 1 / np.sqrt(H), (H, H))
    p = {"U": U, "V": V, "W": W}
    if bias:
        p["b"] = np.zeros(H)
        p["c"] = np.zeros(C)
    return as_layout(p, dtype)


def as_layout(params: dict, dtype=None) -> dict:
    """Copy parameters into the dtype and memory layout the kernels expect."""
    out = {}
    for k, v in params.items():
        v = np.asarray(v, dtype=dtype or v.dtype)
        out[k] = np.ascontiguousarray(v.T).T if k == "U" else np.ascontiguousarray(v)
    return out


def zeros_like_params(params: dict) -> dict:
    return as_layout({k: np.zeros_like(v) for k, v in params.items()})


class Workspace:
    """Work arrays allocated once and reused: glibc hands buffers of 32 MiB and more
    back to the kernel when freed, so fresh (N, C) arrays every step page-fault
    their way in again at about twice the cost of the arithmetic."""

    def __init__(self, threads: int | None = None):
        self._bufs: dict[str, np.ndarray] = {}
        self.threads = max(1, threads or min(os.cpu_count() or 1, 8))
        self._pool = ThreadPoolExecutor(self.threads - 1) if self.threads > 1 else None

    def get(self, name: str, shape: tuple, dtype) -> np.ndarray:
        dtype = np.dtype(dtype)
        size = int(np.prod(shape))
        buf = self._bufs.get(name)
        if buf is None or buf.dtype != dtype or buf.size < size:
            grow = 0 if buf is None or buf.dtype != dtype else buf.size
            buf = self._bufs[name] = np.empty(max(size, grow + grow // 4), dtype)
        return buf[:size].reshape(shape)

    def rows_parallel(self, fn, *arrays):
        """fn(*row_blocks) over row blocks of the arrays, on all threads: numpy's
        elementwise kernels are single-threaded but release the GIL."""
        n = arrays[0].shape[0]
        if self._pool is None or n < 64:
            fn(*arrays)
            return
        cuts = np.linspace(0, n, self.threads + 1).astype(int)
        futs = [self._pool.submit(fn, *(a[i:j] for a in arrays)) for i, j in zip(cuts[1:-1], cuts[2:])]
        fn(*(a[: cuts[1]] for a in arrays))
        for f in futs:
            f.result()


def _exp_(z):
    np.exp(z, out=z)


def _exp_shifted_(z, m):
    np.subtract(z, m[:, None], out=z)
    np.exp(z, out=z)


def logit_bound(params: dict, hscale: float = 1.0) -> float:
    """max |logit| over all hidden states with |s| <= hscale (tanh bounds them by 1)."""
    V = params["V"]
    b = float(np.abs(V).sum(axis=1).max()) * hscale
    if "c" in params:
        b += float(np.abs(params["c"]).max())
    return b


def _exp_logits_(params: dict, Hin: np.ndarray, y: np.ndarray, Z: np.ndarray, bound: float,
                 ws: Workspace):
    """Z = exp(Hin V^T [+ c] - shift) in place. Returns (target logits (N,) float64,
    shift: 0.0 when the logit bound makes exp safe, saving a pass over Z, else (N,))."""
    np.matmul(Hin, params["V"].T, out=Z)                 # (N, C)  logits
    if "c" in params:
        Z += params["c"]
    zy = Z[np.arange(len(Z)), y].astype(np.float64)
    if bound < _NO_SHIFT_BOUND[Z.dtype]:
        ws.rows_parallel(_exp_, Z)
        return zy, 0.0
    m = Z.max(axis=1)
    ws.rows_parallel(_exp_shifted_, Z, m)
    return zy, m


def hidden_states(params: dict, x: np.ndarray, offsets: list, S: np.ndarray, tmp: np.ndarray):
    """Forward recurrence over a packed batch into S (N, H)."""
    U, W = params["U"], params["W"]
    np.take(U.T, x, axis=0, out=S)                       # (N, H)  U x_t, a column gather
    if "b" in params:
        S += params["b"]
    WT = W.T
    for t in range(len(offsets) - 1):
        a, e = offsets[t], offsets[t + 1]
        if t:
            p, n = offsets[t - 1], e - a
            np.matmul(S[p:p + n], WT, out=tmp[:n])       # (n, H)  W s_{t-1}
            S[a:e] += tmp[:n]
        np.tanh(S[a:e], out=S[a:e])
    return S


def loss_and_grads(params: dict, batch, grads: dict, ws: Workspace, bptt_truncate: int = -1,
                   scale: float = 1.0, dropout: float = 0.0, rng=None) -> float:
    """Summed cross-entropy of a packed batch; fills ``grads`` with the gradient of
    ``scale * loss`` (the tutorial's truncated BPTT: the error of output t flows back
    through at most ``bptt_truncate`` earlier steps; -1 means all of them)."""
    U, V, W = params["U"], params["V"], params["W"]
    H, C = U.shape
    dt = U.dtype
    x, y, off = batch.x, batch.y, batch.offsets_list
    N, B, T = len(x), batch.B, len(off) - 1
    tmp = ws.get("tmp", (B, H), dt)
    S = hidden_states(params, x, off, ws.get("S", (N, H), dt), tmp)

    # ---- output layer: one (N, H) x (H, C) product for the whole batch
    hscale = 1.0
    if dropout > 0:
        keep = 1.0 - dropout
        M = ws.get("M", (N, H), dt)
        M[...] = rng.random((N, H), dtype=dt) < keep
        M *= 1.0 / keep
        Hout = ws.get("Hout", (N, H), dt)
        np.multiply(S, M, out=Hout)
        hscale = 1.0 / keep
    else:
        Hout = S
    Z = ws.get("Z", (N, C), dt)                          # (N, C)  exp(logits - shift)
    # one product over the whole batch: for training, row blocks cost more in the
    # product than they save in the exponential (scoring uses blocks, see token_nll)
    zy, shift = _exp_logits_(params, Hout, y, Z, logit_bound(params, hscale), ws)
    rows = np.arange(N)

    # A column of ones next to V makes the same product return P @ V and the
    # softmax denominators r = P @ 1, so the probabilities are never normalised.
    Va = ws.get("Va", (C, H + 1), dt)
    Va[:, :H] = V
    Va[:, H] = 1
    DH = ws.get("DH", (N, H + 1), dt)
    np.matmul(Z, Va, out=DH)                             # (N, H+1)
    r = DH[:, H].copy()                                  # (N,)  sum_j exp(z_j - shift)
    nll = float(np.sum(np.log(r, dtype=np.float64) + shift - zy))

    inv = (scale / r).astype(dt)                         # (N,)
    dh = ws.get("dh", (N, H), dt)
    np.multiply(DH[:, :H], inv[:, None], out=dh)         # scale * softmax @ V
    dh -= scale * V[y]                                   # scale * (softmax - onehot) @ V
    Z[rows, y] -= r                                      # rows: r * (softmax - onehot)
    Sn = ws.get("Sn", (N, H + 1), dt)
    np.multiply(Hout, inv[:, None], out=Sn[:, :H])
    Sn[:, H] = inv
    if "c" in params:
        dVa = ws.get("dVa", (C, H + 1), dt)
        np.matmul(Z.T, Sn, out=dVa)                      # (C, H+1)  [dV | dc]
        grads["V"][...] = dVa[:, :H]
        grads["c"][...] = dVa[:, H]
    else:
        np.matmul(Z.T, Sn[:, :H], out=grads["V"])        # (C, H)
    if dropout > 0:
        dh *= M

    # ---- recurrence, backwards: G[i] = dLoss/da at packed row i (a = pre-tanh)
    D = ws.get("D", (N, H), dt)
    np.multiply(S, S, out=D)
    np.subtract(1, D, out=D)                             # (N, H)  tanh' = 1 - s^2
    G = ws.get("G", (N, H), dt)
    K = bptt_truncate
    if K < 0 or K >= T - 1:
        np.multiply(dh, D, out=G)                        # direct error of every output
        for t in range(T - 1, 0, -1):
            a, p = off[t], off[t - 1]
            n = off[t + 1] - a
            np.matmul(G[a:a + n], W, out=tmp[:n])        # W^T g, in row form
            tmp[:n] *= D[p:p + n]
            G[p:p + n] += tmp[:n]
    else:
        # Truncation keeps one lane per output still within reach: lane j at step t
        # carries the error of output t+j after j steps back. All K+1 lanes move
        # back one step in a single product; a lane that has travelled K steps is
        # overwritten by the next output's own error (slot t mod (K+1)).
        E = ws.get("E", (N, H), dt)
        np.multiply(dh, D, out=E)
        L = K + 1
        R = ws.get("R", (B, L, H), dt)
        R.fill(0)
        tmpR = ws.get("tmpR", (B * L, H), dt)
        for t in range(T - 1, -1, -1):
            a = off[t]
            n = off[t + 1] - a
            Rn = R[:n]
            Rn[:, t % L] = E[a:a + n]
            np.sum(Rn, axis=1, out=G[a:a + n])
            if t:
                p = off[t - 1]
                np.matmul(Rn.reshape(n * L, H), W, out=tmpR[:n * L])
                np.multiply(tmpR[:n * L].reshape(n, L, H), D[p:p + n, None, :], out=Rn)

    # ---- parameter gradients from G, each one product or scatter over all tokens
    Sp = ws.get("Sp", (N - B, H), dt)
    np.take(S, batch.prev, axis=0, out=Sp)               # (N-B, H)  s_{t-1} for rows t >= 1
    np.matmul(G[B:].T, Sp, out=grads["W"])               # (H, H)
    dUt = grads["U"].T                                   # (C, H) view
    dUt.fill(0)
    np.add.at(dUt, x, G)
    if "b" in params:
        np.sum(G, axis=0, out=grads["b"])
    return nll


def token_nll(params: dict, batch, ws: Workspace, out: np.ndarray | None = None,
              chunk: int = 128) -> np.ndarray:
    """Negative log-likelihood of every packed row (N,), float64. Memory is bounded
    by the batch and ``chunk`` rows of logits."""
    U, V = params["U"], params["V"]
    H, C = U.shape
    dt = U.dtype
    x, y, off = batch.x, batch.y, batch.offsets_list
    N = len(x)
    S = hidden_states(params, x, off, ws.get("S", (N, H), dt), ws.get("tmp", (batch.B, H), dt))
    out = np.empty(N) if out is None else out
    bound = logit_bound(params)
    ones = np.ones(C, dt)
    for i in range(0, N, chunk):
        j = min(i + chunk, N)
        Z = ws.get("Zc", (j - i, C), dt)
        # blocks small enough that exp runs while the logits are still in cache
        zy, shift = _exp_logits_(params, S[i:j], y[i:j], Z, bound, ws)
        r = Z @ ones                                     # (n,)  softmax denominators
        out[i:j] = np.log(r, dtype=np.float64) + shift - zy
    return out


def step(params: dict, x: np.ndarray, s: np.ndarray | None) -> np.ndarray:
    """One recurrence step for a batch: x (B,) ids, s (B, H) or None -> (B, H)."""
    a = params["U"].T[x].copy()
    if "b" in params:
        a += params["b"]
    if s is not None:
        a += s @ params["W"].T
    return np.tanh(a, out=a)


def logits(params: dict, s: np.ndarray) -> np.ndarray:
    """(B, H) -> (B, C)"""
    z = s @ params["V"].T
    if "c" in params:
        z += params["c"]
    return z
