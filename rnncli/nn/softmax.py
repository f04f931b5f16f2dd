"""Softmax kernels shared by the full and the class-factored softmax (output.py,
classsoftmax.py) and by attention (attention.py): in-place exponentials over row
blocks, and the bound under which logits need no max-shift."""
from __future__ import annotations

import numpy as np

# Logits bounded by this can be exponentiated without a max-shift: exp(60) * 1e6
# words stays finite in float32 and exp(-60) is still a normal number.
NO_SHIFT_BOUND = {np.dtype(np.float32): 60.0, np.dtype(np.float64): 600.0}


def exp_(z: np.ndarray):
    """z = exp(z) in place."""
    np.exp(z, out=z)


def exp_shifted_(z: np.ndarray, m: np.ndarray):
    """z (n, C) = exp(z - m[:, None]) in place; m (n,) the row maxima."""
    np.subtract(z, m[:, None], out=z)
    np.exp(z, out=z)


def softmax(z: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, max-shifted (a new array)."""
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def word_logits(s: np.ndarray, V: np.ndarray, ws=None) -> np.ndarray:
    """s (B, H) -> V s (B, C) for sampling: a new array, or with ``ws`` (a Workspace) a
    buffer of it, the product cut into row blocks on its threads."""
    if ws is None:
        return s @ V.T
    return ws.matmul(s, V.T, ws.get("logits", (len(s), V.shape[0]), np.result_type(s, V)))
