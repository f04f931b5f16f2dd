"""The output-layer seam: from hidden states to a loss, per-token scores or a
distribution for sampling. Every softmax of rnncli lives here (the class-factored one
beside it, in classsoftmax.py); training, scoring and sampling call it.

    o_t = softmax(V s_t [+ c])          V: (C, H), c: (C,)
    loss = sum over predicted tokens of -log o_t[y_t]

Interface (the class softmax, classsoftmax.py, and a linear read-out follow it too):
    init(rng, dtype, bias)                            -> {"V": ..., ["c": ...]}
    shapes(bias)                                      -> name -> shape, in init's order
    loss_and_grad(p, Hout, y, grads, ws, scale, hbound) -> (summed NLL, dHout (N, H))
    token_nll(p, S, y, ws, out, hbound)               -> (N,) float64
    log_probs(p, s, hbound, ws=None)                  -> (B, C) float64 log-probabilities
``hbound`` bounds |s| (the cell's bound, scaled by dropout): with it the logits are
bounded and can be exponentiated without a max-shift, saving a pass over (N, C).
"""
from __future__ import annotations

import numpy as np

from .layers import uniform

# Logits bounded by this can be exponentiated without a max-shift: exp(60) * 1e6
# words stays finite in float32 and exp(-60) is still a normal number.
_NO_SHIFT_BOUND = {np.dtype(np.float32): 60.0, np.dtype(np.float64): 600.0}


def _exp_(z):
    np.exp(z, out=z)


def _exp_shifted_(z, m):
    np.subtract(z, m[:, None], out=z)
    np.exp(z, out=z)


class FullSoftmax:
    """A softmax over all C words."""

    def __init__(self, C: int, H: int):
        self.C, self.H = C, H

    def init(self, rng: np.random.Generator, dtype, bias: bool = False) -> dict:
        p = {"V": uniform(rng, self.H, (self.C, self.H))}
        if bias:
            p["c"] = np.zeros(self.C)
        return {k: v.astype(dtype) for k, v in p.items()}

    @staticmethod
    def logit_bound(p: dict, hbound: float = 1.0) -> float:
        """max |logit| over all hidden states with |s| <= hbound."""
        b = float(np.abs(p["V"]).sum(axis=1).max()) * hbound
        if "c" in p:
            b += float(np.abs(p["c"]).max())
        return b

    def _exp_logits_(self, p: dict, Hin: np.ndarray, y: np.ndarray, Z: np.ndarray, bound: float, ws):
        """Z = exp(Hin V^T [+ c] - shift) in place. Returns (target logits (N,) float64,
        shift: 0.0 when the logit bound makes exp safe, saving a pass over Z, else (N,))."""
        ws.matmul(Hin, p["V"].T, out=Z)                  # (N, C)  logits
        if "c" in p:
            Z += p["c"]
        zy = Z[np.arange(len(Z)), y].astype(np.float64)
        if bound < _NO_SHIFT_BOUND[Z.dtype]:
            ws.rows_parallel(_exp_, Z)
            return zy, 0.0
        m = Z.max(axis=1)
        ws.rows_parallel(_exp_shifted_, Z, m)
        return zy, m

    def loss_and_grad(self, p: dict, Hout: np.ndarray, y: np.ndarray, grads: dict, ws,
                      scale: float = 1.0, hbound: float = 1.0):
        """Summed NLL of the rows of Hout (N, H) with targets y (N,); fills grads["V"]
        (and "c") with the gradient of ``scale * loss``; returns (nll, dHout)."""
        V = p["V"]
        C, H = V.shape
        N = len(Hout)
        dt = V.dtype
        Z = ws.get("Z", (N, C), dt)                      # (N, C)  exp(logits - shift)
        # one product over the whole batch: for training, row blocks cost more in the
        # product than they save in the exponential (scoring uses blocks, see token_nll)
        zy, shift = self._exp_logits_(p, Hout, y, Z, self.logit_bound(p, hbound), ws)
        rows = np.arange(N)

        # A column of ones next to V makes the same product return P @ V and the
        # softmax denominators r = P @ 1, so the probabilities are never normalised.
        Va = ws.get("Va", (C, H + 1), dt)
        Va[:, :H] = V
        Va[:, H] = 1
        DH = ws.get("DH", (N, H + 1), dt)
        ws.matmul(Z, Va, out=DH)                         # (N, H+1)
        r = DH[:, H].copy()                              # (N,)  sum_j exp(z_j - shift)
        nll = float(np.sum(np.log(r, dtype=np.float64) + shift - zy))

        inv = (scale / r).astype(dt)                     # (N,)
        dh = ws.get("dh", (N, H), dt)
        np.multiply(DH[:, :H], inv[:, None], out=dh)     # scale * softmax @ V
        dh -= scale * V[y]                               # scale * (softmax - onehot) @ V
        Z[rows, y] -= r                                  # rows: r * (softmax - onehot)
        Sn = ws.get("Sn", (N, H + 1), dt)
        np.multiply(Hout, inv[:, None], out=Sn[:, :H])
        Sn[:, H] = inv
        if "c" in p:
            dVa = ws.get("dVa", (C, H + 1), dt)
            ws.matmul(Z.T, Sn, out=dVa)                  # (C, H+1)  [dV | dc]
            grads["V"][...] = dVa[:, :H]
            grads["c"][...] = dVa[:, H]
        else:
            ws.matmul(Z.T, Sn[:, :H], out=grads["V"])    # (C, H)
        return nll, dh

    def token_nll(self, p: dict, S: np.ndarray, y: np.ndarray, ws, out: np.ndarray,
                  hbound: float = 1.0, chunk: int = 128) -> np.ndarray:
        """-log o_t[y_t] for every row of S (N, H), float64, in blocks of ``chunk`` rows:
        small enough that exp runs while the logits are still in cache."""
        V = p["V"]
        C, N = V.shape[0], len(S)
        bound = self.logit_bound(p, hbound)
        ones = np.ones(C, V.dtype)
        for i in range(0, N, chunk):
            j = min(i + chunk, N)
            Z = ws.get("Zc", (j - i, C), V.dtype)
            zy, shift = self._exp_logits_(p, S[i:j], y[i:j], Z, bound, ws)
            r = Z @ ones                                 # (n,)  softmax denominators
            out[i:j] = np.log(r, dtype=np.float64) + shift - zy
        return out

    def log_probs(self, p: dict, s: np.ndarray, hbound: float = 1.0, ws=None) -> np.ndarray:
        """(B, H) -> (B, C) log-probabilities in float64 (sampling needs the small ones);
        ``ws`` (a Workspace) does the product on its threads."""
        if ws is None:
            z = s @ p["V"].T                                           # (B, C)
        else:
            z = ws.matmul(s, p["V"].T, ws.get("logits", (len(s), self.C), np.result_type(s, p["V"])))
        if "c" in p:
            z += p["c"]
        z = z.astype(np.float64)
        z -= z.max(axis=1, keepdims=True)
        z -= np.log(np.exp(z).sum(axis=1, keepdims=True))
        return z

    def shapes(self, bias: bool) -> dict:
        return {"V": (self.C, self.H), **({"c": (self.C,)} if bias else {})}


OUTPUTS = {"full": FullSoftmax}

from . import classsoftmax  # noqa: E402,F401  (builds on FullSoftmax; registers OUTPUTS["class"])
