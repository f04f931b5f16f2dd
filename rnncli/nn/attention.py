"""Attention (Luong et al. 2015, "general" score) of a decoder's top states over an
encoder's top states, and the read-out of the context it gathers. For decoder step k
of a window and the encoder's states e_t (t over the history)::

    a_k = softmax_t(s_k W e_t)          W (H, H), a_k (Th,)
    c_k = sum_t a_k[t] e_t              (H,)
    out_k = V c_k                       V (Y, H), added to the read-out's prediction

Parameters (``p``): W and V (the network names them att.W, att.V). Packed windows as
in seq2seq.py: B windows of constant length, row t*B + b is step t of window b. The
weights of all decoder steps of the batch come from batched products over B, so
attention adds no Python loop to training.
"""
from __future__ import annotations

import numpy as np

from .layers import uniform
from .softmax import softmax


class Attention:
    def __init__(self, H: int, Y: int):
        self.H, self.Y = int(H), int(Y)

    def init(self, rng: np.random.Generator) -> dict:
        """W then V, uniform in +-1/sqrt(H)."""
        return {"W": uniform(rng, self.H, (self.H, self.H)), "V": uniform(rng, self.H, (self.Y, self.H))}

    def shapes(self) -> dict:
        return {"W": (self.H, self.H), "V": (self.Y, self.H)}

    def forward(self, p: dict, S: np.ndarray, E: np.ndarray, B: int):
        """S (Tf*B, H) decoder states, E (Th*B, H) encoder states -> (out (Tf*B, Y),
        cache for ``backward``)."""
        H = self.H
        Tf, Th = len(S) // B, len(E) // B
        Sb = S.reshape(Tf, B, H).transpose(1, 0, 2)      # (B, Tf, H)
        Eb = E.reshape(Th, B, H).transpose(1, 0, 2)      # (B, Th, H)
        Qb = Sb @ p["W"]                                 # (B, Tf, H)
        Ab = softmax(Qb @ Eb.transpose(0, 2, 1))         # (B, Tf, Th)  weights over the history
        Cb = Ab @ Eb                                     # (B, Tf, H)   contexts
        C = Cb.transpose(1, 0, 2).reshape(Tf * B, H)
        return C @ p["V"].T, (Sb, Eb, Qb, Ab, C)

    def backward(self, p: dict, cache: tuple, dY: np.ndarray, grads: dict):
        """dY (Tf*B, Y) the error of ``out`` -> (dS (Tf*B, H), dE (Th*B, H)), new arrays;
        fills grads["W"], grads["V"]."""
        Sb, Eb, Qb, Ab, C = cache
        B, Tf, H = Sb.shape
        Th = Eb.shape[1]
        np.matmul(dY.T, C, out=grads["V"])                                      # (Y, H)
        dCb = (dY @ p["V"]).reshape(Tf, B, H).transpose(1, 0, 2)                # (B, Tf, H)
        dAb = dCb @ Eb.transpose(0, 2, 1)                                       # (B, Tf, Th)
        dEb = Ab.transpose(0, 2, 1) @ dCb                                       # (B, Th, H)  via c = a e
        dZ = Ab * (dAb - np.sum(Ab * dAb, axis=2, keepdims=True))              # softmax backward
        dQb = dZ @ Eb                                                           # (B, Tf, H)
        dEb += dZ.transpose(0, 2, 1) @ Qb                                       # via the scores
        np.matmul(Sb.reshape(-1, H).T, dQb.reshape(-1, H), out=grads["W"])      # (H, H)
        dS = (dQb @ p["W"].T).transpose(1, 0, 2).reshape(Tf * B, H)
        return dS, dEb.transpose(1, 0, 2).reshape(Th * B, H)

    def step(self, p: dict, h: np.ndarray, E: np.ndarray) -> np.ndarray:
        """One decoder step: h (B, H), E (Th*B, H) -> out (B, Y)."""
        E = E.reshape(-1, len(h), self.H)                # (Th, B, H)
        a = softmax(np.einsum("bh,tbh->bt", h @ p["W"], E))    # (B, Th)
        return np.einsum("bt,tbh->bh", a, E) @ p["V"].T
