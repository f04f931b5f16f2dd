"""The cell seam: a recurrence over a packed batch, with explicit forward and backward;
the Elman cell (the gated ones are in gated.py), and the stack of cells, itself a cell.

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
    final(cache, off)        -> each sequence's final state (B, H) (LSTM: a pair (h, c)),
                             what a caller may need of the cache (nothing else reads it)
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

from ..batching import add_last, prev_rows, take_last
from .gated import GRU, LSTM
from .layers import apply_dropout, uniform


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

    @staticmethod
    def final(cache: dict, off: list) -> np.ndarray:
        """Each sequence's final state (B, H), a view into the workspace when every
        sequence ends at the last step (valid until the next forward with this tag)."""
        return take_last(cache["S"], off)

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


class Stack:
    """L cells of one kind: layer 0 reads the input projection A, layer i > 0 the
    output of the layer below through its own U_i (G*H, H), with inverted dropout
    between layers (Zaremba et al. 2014: never on the recurrent connection). A stack
    of cells is a cell: the interface above, over the stack's parameters

        layer{i}.U (G*H, H), i >= 1     layer{i}.W (G*H, H)     layer{i}.b (G*H,)

    (p may hold more: only these are read), where h0, dlast, dh0 and a state hold one
    entry per layer, and forward takes ``dropout`` (the rate) and its ``rng``. Its
    cache is its own: per layer (input to the layer, dropout mask, the cell's cache).
    Workspace buffers are named after ``tag``; two stacks sharing a workspace need
    different tags."""

    def __init__(self, cell: str, H: int, layers: int = 1, activation: str = "tanh", tag: str = "l"):
        if cell not in CELLS:
            raise ValueError(f"unknown cell {cell!r}")
        if cell != "rnn" and activation != "tanh":
            raise ValueError(f"--activation applies to the rnn cell only, not {cell}")
        kw = {"activation": activation} if cell == "rnn" else {}
        self.H, self.L, self.tag = int(H), int(layers), tag
        self.cells = [CELLS[cell](self.H, tag=f"{tag}{i}", **kw) for i in range(self.L)]
        self.gates = self.cells[0].gates
        self.bound = self.cells[-1].bound
        # each cell's parameters under the cell's names
        self._keys = [{"W": f"layer{i}.W", "b": f"layer{i}.b"} for i in range(self.L)]

    def _cell_part(self, p: dict, i: int) -> dict:
        return {k: p[n] for k, n in self._keys[i].items() if n in p}

    def init(self, rng: np.random.Generator, dtype, bias: bool = False, recurrent: str = "uniform") -> dict:
        """Drawn layer by layer: U_i (i >= 1, uniform in +-1/sqrt(H)), then the cell's own."""
        p = {}
        for i, cell in enumerate(self.cells):
            if i:
                p[f"layer{i}.U"] = uniform(rng, self.H, (self.gates * self.H, self.H)).astype(dtype)
            p.update({f"layer{i}.{k}": v for k, v in cell.init(rng, dtype, bias, recurrent).items()})
        return p

    def shapes(self, bias: bool = False) -> dict:
        """name -> shape, in init's order (gated cells always have b)."""
        GH, H = self.gates * self.H, self.H
        s = {}
        for i in range(self.L):
            if i:
                s[f"layer{i}.U"] = (GH, H)
            s[f"layer{i}.W"] = (GH, H)
            if bias or self.gates > 1:
                s[f"layer{i}.b"] = (GH,)
        return s

    def forward(self, p: dict, A: np.ndarray, off: list, ws, h0: list | None = None,
                dropout: float = 0.0, rng=None):
        """A (N, G*H) layer 0's input projection (overwritten) -> (S (N, H) the top
        layer's outputs, cache)."""
        S, cache = self.cells[0].forward(self._cell_part(p, 0), A, off, ws, h0=None if h0 is None else h0[0])
        records = [(None, None, cache)]
        for i in range(1, self.L):
            Hin, M = apply_dropout(S, f"{self.tag}.{i}", ws, dropout, rng) if dropout > 0 else (S, None)
            U = p[f"layer{i}.U"]
            A = ws.get(f"{self.tag}.A{i}", (off[-1], U.shape[0]), U.dtype)
            np.matmul(Hin, U.T, out=A)                   # (N, G*H)  U h_t of the layer below
            S, cache = self.cells[i].forward(self._cell_part(p, i), A, off, ws,
                                             h0=None if h0 is None else h0[i])
            records.append((Hin, M, cache))
        return S, {"layers": records, "h0": h0 is not None}

    def backward(self, p: dict, cache: dict, dS: np.ndarray, off: list, truncate: int, grads: dict, ws,
                 dlast: list | None = None):
        """dS (N, H) the top layer's error -> dA (N, G*H) layer 0's, or (dA, dh0 per
        layer) when forward had an h0; fills the stack's gradients."""
        dh0 = [None] * self.L
        for i in range(self.L - 1, -1, -1):
            Hin, Min, c = cache["layers"][i]
            out = self.cells[i].backward(self._cell_part(p, i), c, dS, off, truncate, self._cell_part(grads, i), ws,
                                         dlast=None if dlast is None else dlast[i])
            if cache["h0"]:
                dA, dh0[i] = out
            else:
                dA = out
            if i == 0:
                break
            U = p[f"layer{i}.U"]
            np.matmul(dA.T, Hin, out=grads[f"layer{i}.U"])   # (G*H, H)
            dS = ws.get(f"{self.tag}.dS", (off[-1], self.H), dA.dtype)
            np.matmul(dA, U, out=dS)                     # (N, H)  to the layer below
            if Min is not None:
                dS *= Min
        return (dA, dh0) if cache["h0"] else dA

    def final(self, cache: dict, off: list) -> list:
        """Each layer's final states (its cell's ``final``)."""
        return [cell.final(c, off) for cell, (_, _, c) in zip(self.cells, cache["layers"])]

    def start(self, n: int) -> list:
        return [cell.start(n) for cell in self.cells]

    def step(self, p: dict, a: np.ndarray, state: list) -> list:
        """a (B, G*H) layer 0's input projection, state per layer -> the next state per layer."""
        new = []
        for i, cell in enumerate(self.cells):
            s = cell.step(self._cell_part(p, i), a, state[i])
            new.append(s)
            if i + 1 < self.L:
                a = cell.output(s) @ p[f"layer{i + 1}.U"].T
        return new

    def output(self, state: list) -> np.ndarray:
        """The top layer's h (B, H)."""
        return self.cells[-1].output(state[-1])
