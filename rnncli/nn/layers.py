"""The input layers, which turn a packed batch's inputs into the first cell's input
projection A (N, G*H), and dropout.

Embedding, for word ids: ``U x_t`` for a one-hot x_t is row x_t of ``U.T``, so the
forward pass is a row gather and the gradient a row scatter-add; no one-hot matrix
ever exists. U is kept as the transpose of a C-contiguous (C, G*H) array
(``transposed``; the network's ``as_layout``) so both are contiguous row operations.

Dense, for real-valued inputs X (N, F): A = X U^T, U (G*H, F).

Both have the same interface (``p`` = {"U": ...}):
    transposed               U kept as the transpose of a C-contiguous array
    init(rng)                -> {"U": (G*H, n_in) uniform in +-1/sqrt(n_in)}
    shapes()                 -> {"U": (G*H, n_in)}
    forward(p, x, ws)        -> A (N, G*H), a workspace buffer (the cell may overwrite it)
    backward(p, x, dA, grads, ws)  fills grads["U"]; no error flows to the inputs
    step(p, x)               -> (B, G*H), one step, a new array
"""
from __future__ import annotations

import numpy as np


def uniform(rng: np.random.Generator, n_in: int, shape: tuple) -> np.ndarray:
    """The tutorial's initialisation: uniform in [-1/sqrt(n), 1/sqrt(n)], n = incoming dimension."""
    return rng.uniform(-1 / np.sqrt(n_in), 1 / np.sqrt(n_in), shape)


def embed_forward(U: np.ndarray, x: np.ndarray, out: np.ndarray) -> np.ndarray:
    """out (N, G*H) = rows x of U.T; U: (G*H, C), x: (N,) ids."""
    return np.take(U.T, x, axis=0, out=out)


def embed_backward(dU: np.ndarray, x: np.ndarray, dA: np.ndarray, nonzero: np.ndarray | None = None):
    """dU (G*H, C) = the scatter-add of dA (N, G*H) into the columns x.

    ``nonzero`` (sorted distinct ids): the only columns of dU that can be nonzero now;
    then only those are cleared, the rest being zero still. A batch touches a few
    hundred of C columns, and clearing all of them cost as much as a large product at
    C = 32,000. None clears every column."""
    dUt = dU.T                                           # (C, G*H) view
    if nonzero is None:
        dUt.fill(0)
    else:
        dUt[nonzero] = 0
    np.add.at(dUt, x, dA)


def apply_dropout(S: np.ndarray, name: str, ws, rate: float, rng: np.random.Generator):
    """Inverted dropout (Zaremba et al. 2014): (S * mask / keep, mask / keep), both
    (N, H) workspace buffers named after ``name``; the mask is drawn from ``rng``."""
    keep = 1.0 - rate
    M = ws.get("M" + name, S.shape, S.dtype)
    M[...] = rng.random(S.shape, dtype=S.dtype) < keep
    M *= 1.0 / keep
    out = ws.get("Hout" + name, S.shape, S.dtype)
    np.multiply(S, M, out=out)
    return out, M


class Embedding:
    """Word ids (N,) -> A = rows of U.T; U (G*H, C). See the module docstring."""
    transposed = True

    def __init__(self, C: int, GH: int, tag: str = ""):
        self.C, self.GH, self.tag = int(C), int(GH), tag

    def init(self, rng: np.random.Generator) -> dict:
        return {"U": uniform(rng, self.C, (self.GH, self.C))}

    def shapes(self) -> dict:
        return {"U": (self.GH, self.C)}

    def forward(self, p: dict, x: np.ndarray, ws) -> np.ndarray:
        U = p["U"]
        A = ws.get(self.tag + "A0", (len(x), U.shape[0]), U.dtype)
        return embed_forward(U, x, A)                    # (N, G*H)  U x_t

    @staticmethod
    def backward(p: dict, x: np.ndarray, dA: np.ndarray, grads: dict, ws, nonzero: np.ndarray | None = None):
        """grads["U"] = the scatter-add of dA; ``nonzero`` as in ``embed_backward``."""
        embed_backward(grads["U"], x, dA, nonzero)

    @staticmethod
    def step(p: dict, x: np.ndarray) -> np.ndarray:
        return p["U"].T[x]                               # (B, G*H)


class Dense:
    """Real-valued inputs X (N, n_in) -> A = X U^T; U (G*H, n_in)."""
    transposed = False

    def __init__(self, n_in: int, GH: int, tag: str = ""):
        self.n_in, self.GH, self.tag = int(n_in), int(GH), tag

    def init(self, rng: np.random.Generator) -> dict:
        return {"U": uniform(rng, self.n_in, (self.GH, self.n_in))}

    def shapes(self) -> dict:
        return {"U": (self.GH, self.n_in)}

    def forward(self, p: dict, X: np.ndarray, ws) -> np.ndarray:
        U = p["U"]
        A = ws.get(self.tag + "A0", (len(X), U.shape[0]), U.dtype)
        np.matmul(X, U.T, out=A)                         # (N, G*H)  one product over all rows
        return A

    @staticmethod
    def backward(p: dict, X: np.ndarray, dA: np.ndarray, grads: dict, ws):
        np.matmul(dA.T, X, out=grads["U"])               # (G*H, n_in)

    @staticmethod
    def step(p: dict, x: np.ndarray, cols: slice = slice(None)) -> np.ndarray:
        """x (B, k) -> (B, G*H) through the columns ``cols`` of U only (the part of the
        input x holds, e.g. a decoder's fed-back values)."""
        return x @ p["U"][:, cols].T
