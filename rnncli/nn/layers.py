"""The input seam. A word enters as an index: ``U x_t`` for a one-hot x_t is row x_t of
``U.T``, so the forward pass is a row gather and the gradient a row scatter-add; no
one-hot matrix ever exists. U is kept as the transpose of a C-contiguous (C, G*H)
array (``as_layout``) so both are contiguous row operations."""
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
