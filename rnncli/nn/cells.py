"""The cell seam: a recurrence over a packed batch, with explicit forward and backward.

Packed batches (see ``rnncli.batching.pack``): the sentences of a batch are sorted by
length, longest first, and their time steps are laid out time-major with no padding:
rows ``off[t]:off[t+1]`` hold step t of the ``n_t`` sentences still running at t, and
because lengths are sorted those are always the first ``n_t`` sentences, so row
``off[t] + i`` continues row ``off[t-1] + i``. Padding never enters a sum.

Every cell has the same interface (``off`` is the batch's list of T+1 row offsets):

    gates                    G: the input projection A has G*H columns
    bound                    max |h| over all inputs (tanh: 1; ReLU: inf); the softmax's
                             no-shift exponent relies on it
    init(rng, dtype, bias)   -> {"W": (G*H, H)[, "b": (G*H,)]}
    forward(p, A, off, ws, h0=None)
                             -> (S (N, H), cache); A (N, G*H) = U x_t without bias,
                             a workspace buffer the cell may overwrite; h0: the state
                             before step 0 of each of the B sequences (None: zeros;
                             LSTM: a pair (h0, c0)), e.g. an encoder's final state
    backward(p, cache, dS, off, truncate, grads, ws, dlast=None)
                             -> dA (N, G*H); fills grads. dlast: the error of each
                             sequence's final state (as h0: (B, H), LSTM a pair) from
                             outside dS, e.g. from a decoder that starts from it.
                             When forward had an h0, returns (dA, dh0) instead, dh0
                             shaped like h0: the caller who passed it asks for it.
    start(n)                 -> the state before the first step (None: zeros)
    step(p, a, state)        -> the next state, for sampling one step at a time
    output(state)            -> h (B, H)

Truncation is the tutorial's: the error of output t flows back through at most
``truncate`` earlier steps; -1 means all of them. dlast counts as an output of the
last step, and h0 as the state of step -1: it gets the error of output t when
t <= truncate (all of them with -1).

Without h0 and dlast (the language model) every cell runs exactly the operations
it ran before they existed.
"""
from __future__ import annotations

import math

import numpy as np

from ..batching import add_last, prev_rows
from .gated import GRU, LSTM
from .layers import uniform


ACTIVATIONS = ("tanh", "relu")               # the Elman cell's nonlinearities
RECURRENT_INITS = ("uniform", "identity")    # the Elman cell's starting W (Elman.init)


def _relu_(a):
    np.maximum(a, 0, out=a)
    return a


class Elman:
    """s_t = f(U x_t + W s_{t-1} [+ b]), f = tanh or ReLU; W: (H, H), b: (H,)."""
    gates = 1

    def __init__(self, H: int, activation: str = "tanh", tag: str = "elman"):
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}")
        self.H, self.activation, self.tag = H, activation, tag
        self.bound = 1.0 if activation == "tanh" else math.inf
        self._f = np.tanh if activation == "tanh" else (lambda a, out: _relu_(out))

    def init(self, rng: np.random.Generator, dtype, bias: bool = False, recurrent: str = "uniform") -> dict:
        """recurrent: uniform, the tutorial's rule; identity, W = I (Le et al. 2015, for
        ReLU: the state is carried unchanged until the inputs learn to change it)."""
        H = self.H
        p = {"W": uniform(rng, H, (H, H))}       # drawn either way: later draws stay the same
        if recurrent == "identity":
            p["W"] = np.eye(H)
        if bias:
            p["b"] = np.zeros(H)
        return {k: v.astype(dtype) for k, v in p.items()}

    def forward(self, p: dict, A: np.ndarray, off: list, ws, h0: np.ndarray | None = None):
        """A (N, H) becomes the hidden states S in place; h0 (B, H) or None (zeros)."""
        S = A
        if "b" in p:
            S += p["b"]
        f, WT = self._f, p["W"].T
        tmp = ws.get(self.tag + ".tmp", (off[1] - off[0], self.H), S.dtype)
        for t in range(len(off) - 1):
            a, e = off[t], off[t + 1]
            if t:
                q, n = off[t - 1], e - a
                np.matmul(S[q:q + n], WT, out=tmp[:n])   # (n, H)  W s_{t-1}
                S[a:e] += tmp[:n]
            elif h0 is not None:
                np.matmul(h0, WT, out=tmp[:e - a])       # (B, H)  W h0
                S[a:e] += tmp[:e - a]
            f(S[a:e], out=S[a:e])
        return S, ({"S": S} if h0 is None else {"S": S, "h0": h0})

    def derivative(self, S: np.ndarray, out: np.ndarray) -> np.ndarray:
        """f'(a) from s = f(a): tanh' = 1 - s^2, ReLU' = [s > 0]."""
        if self.activation == "tanh":
            np.multiply(S, S, out=out)
            return np.subtract(1, out, out=out)
        return np.greater(S, 0, out=out)

    def backward(self, p: dict, cache: dict, dS: np.ndarray, off: list, truncate: int, grads: dict,
                 ws, dlast: np.ndarray | None = None):
        """G (N, H) = dLoss/da at every packed row (a = the pre-activation); with an h0
        in the forward pass, (G, dh0 (B, H))."""
        S, W = cache["S"], p["W"]
        B, H, dt = off[1] - off[0], self.H, S.dtype
        N, T = len(S), len(off) - 1
        if dlast is not None:
            dS = add_last(dS, dlast, off, ws.get(self.tag + ".dS", (N, H), dt))
        D = self.derivative(S, ws.get(self.tag + ".D", (N, H), dt))   # (N, H)  f'(a)
        G = ws.get(self.tag + ".G", (N, H), dt)
        tmp = ws.get(self.tag + ".tmp", (B, H), dt)
        K = truncate
        if K < 0 or K >= T - 1:
            np.multiply(dS, D, out=G)                    # direct error of every output
            for t in range(T - 1, 0, -1):
                a, q = off[t], off[t - 1]
                n = off[t + 1] - a
                np.matmul(G[a:a + n], W, out=tmp[:n])    # W^T g, in row form
                tmp[:n] *= D[q:q + n]
                G[q:q + n] += tmp[:n]
        else:
            # Truncation keeps one lane per output still within reach: lane j at step t
            # carries the error of output t+j after j steps back. All K+1 lanes move
            # back one step in a single product; a lane that has travelled K steps is
            # overwritten by the next output's own error (slot t mod (K+1)).
            E = ws.get(self.tag + ".E", (N, H), dt)
            np.multiply(dS, D, out=E)
            L = K + 1
            R = ws.get(self.tag + ".R", (B, L, H), dt)
            R.fill(0)
            tmpR = ws.get(self.tag + ".tmpR", (B * L, H), dt)
            for t in range(T - 1, -1, -1):
                a = off[t]
                n = off[t + 1] - a
                Rn = R[:n]
                Rn[:, t % L] = E[a:a + n]
                np.sum(Rn, axis=1, out=G[a:a + n])
                if t:
                    q = off[t - 1]
                    np.matmul(Rn.reshape(n * L, H), W, out=tmpR[:n * L])
                    np.multiply(tmpR[:n * L].reshape(n, L, H), D[q:q + n, None, :], out=Rn)
        Sp = ws.get(self.tag + ".Sp", (N - B, H), dt)
        np.take(S, prev_rows(off), axis=0, out=Sp)           # (N-B, H)  s_{t-1} for rows t >= 1
        np.matmul(G[B:].T, Sp, out=grads["W"])           # (H, H)
        if "b" in p:
            np.sum(G, axis=0, out=grads["b"])
        h0 = cache.get("h0")
        if h0 is None:
            return G
        grads["W"] += G[:B].T @ h0                       # step 0's term of sum_t g_t s_{t-1}^T
        return G, G[:B] @ W                              # dh0 = W^T g_0, in row form

    def start(self, n: int):
        return None

    def step(self, p: dict, a: np.ndarray, s):
        """a (B, H) = U x_t, s (B, H) or None -> s_t (B, H)."""
        a = a.copy()
        if "b" in p:
            a += p["b"]
        if s is not None:
            a += s @ p["W"].T
        return self._f(a, out=a)

    @staticmethod
    def output(state) -> np.ndarray:
        return state


CELLS = {"rnn": Elman, "gru": GRU, "lstm": LSTM}
