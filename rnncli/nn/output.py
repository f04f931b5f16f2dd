"""The output-layer seam: from hidden states to a loss and its gradient. The full
softmax and the linear read-out live here, the class-factored softmax beside them
(classsoftmax.py); the network (network.py) picks one by name.

    full softmax     o_t = softmax(V s_t [+ c])          V: (C, H), c: (C,)
                     loss = sum over predicted tokens of -log o_t[y_t]
    linear read-out  yhat_t = V s_t + c                  V: (Y, H), c: (Y,)
                     loss = sum over observed entries of (yhat - y)^2 (mse) or |yhat - y| (mae)

Interface of every output layer (the assembly calls only these):
    args                                              its own constructor options (class softmax:
                                                      the class map), stored with the network's
    init(rng, dtype, bias)                            -> {"V": ..., ["c": ...], ...}
    shapes(bias)                                      -> name -> shape, in init's order
    loss_and_grad(p, Hout, y, grads, ws, scale, hbound) -> (summed loss, dHout (N, H))
The softmaxes also score and sample:
    token_nll(p, S, y, ws, out, hbound)               -> (N,) float64
    log_probs(p, s, hbound, ws=None)                  -> (B, C) float64 log-probabilities
``hbound`` bounds |s| (the cell's bound, scaled by dropout): with it the logits are
bounded and can be exponentiated without a max-shift, saving a pass over (N, C).
The read-out also runs in its three parts, for a network that adds to its prediction
(attention, see seq2seq.py): forward -> loss_of -> backward, and predict(p, s) one step.
"""
from __future__ import annotations

import numpy as np

from .layers import uniform
from .softmax import NO_SHIFT_BOUND, exp_, exp_shifted_, word_logits

LOSSES = ("mse", "mae")


class FullSoftmax:
    """A softmax over all C words."""

    def __init__(self, C: int, H: int):
        self.C, self.H = C, H
        self.args = {}                                   # no options of its own

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
        if bound < NO_SHIFT_BOUND[Z.dtype]:
            ws.rows_parallel(exp_, Z)
            return zy, 0.0
        m = Z.max(axis=1)
        ws.rows_parallel(exp_shifted_, Z, m)
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
        z = word_logits(s, p["V"], ws)                   # (B, C)
        if "c" in p:
            z += p["c"]
        z = z.astype(np.float64)
        z -= z.max(axis=1, keepdims=True)
        z -= np.log(np.exp(z).sum(axis=1, keepdims=True))
        return z

    def shapes(self, bias: bool) -> dict:
        return {"V": (self.C, self.H), **({"c": (self.C,)} if bias else {})}


class LinearReadout:
    """Real values from hidden states: yhat = V s + c, and its loss over the observed
    entries (mse: squared errors, mae: absolute errors, summed)."""

    def __init__(self, Y: int, H: int, loss: str = "mse"):
        if loss not in LOSSES:
            raise ValueError(f"unknown loss {loss!r}")
        self.Y, self.H, self.loss = Y, H, loss
        self.args = {"loss": loss}

    def init(self, rng: np.random.Generator, dtype, bias: bool = True) -> dict:
        p = {"V": uniform(rng, self.H, (self.Y, self.H))}
        if bias:
            p["c"] = np.zeros(self.Y)
        return {k: v.astype(dtype) for k, v in p.items()}

    def shapes(self, bias: bool = True) -> dict:
        return {"V": (self.Y, self.H), **({"c": (self.Y,)} if bias else {})}

    def forward(self, p: dict, S: np.ndarray, ws) -> np.ndarray:
        """yhat (N, Y) for the rows of S (N, H), a workspace buffer."""
        V = p["V"]
        yhat = ws.get("yhat", (len(S), self.Y), V.dtype)
        np.matmul(S, V.T, out=yhat)                      # (N, Y)
        if "c" in p:
            yhat += p["c"]
        return yhat

    def loss_of(self, yhat: np.ndarray, y: np.ndarray, mask: np.ndarray | None, ws, scale: float = 1.0):
        """(summed loss, dyhat (N, Y) of ``scale * loss``): y (N, Y) the targets (any
        finite value where masked out), mask (N, Y) 1 where observed, or None: all."""
        err = ws.get("err", yhat.shape, yhat.dtype)
        np.subtract(yhat, y, out=err)
        if mask is not None:
            err *= mask                                  # (N, Y)  0 where not observed
        if self.loss == "mse":
            loss = float(np.dot(err.ravel(), err.ravel()))
            err *= 2.0 * scale                           # d/dyhat of scale * sum err^2
        else:
            loss = float(np.abs(err).sum())
            np.sign(err, out=err)
            err *= scale
        return loss, err

    def backward(self, p: dict, S: np.ndarray, dY: np.ndarray, grads: dict, ws) -> np.ndarray:
        """Fills grads["V"] (and "c") from dyhat (N, Y); returns dS (N, H), a workspace buffer."""
        np.matmul(dY.T, S, out=grads["V"])               # (Y, H)
        if "c" in grads:
            np.sum(dY, axis=0, out=grads["c"])
        dS = ws.get("dS", S.shape, S.dtype)
        np.matmul(dY, p["V"], out=dS)                    # (N, H)
        return dS

    def loss_and_grad(self, p: dict, Hout: np.ndarray, y: np.ndarray, grads: dict, ws,
                      scale: float = 1.0, hbound: float = 1.0, mask: np.ndarray | None = None):
        """The output-layer interface: forward, loss, backward (``hbound`` is unused)."""
        loss, dY = self.loss_of(self.forward(p, Hout, ws), y, mask, ws, scale)
        return loss, self.backward(p, Hout, dY, grads, ws)

    @staticmethod
    def predict(p: dict, s: np.ndarray) -> np.ndarray:
        """(B, H) -> (B, Y), one step."""
        return s @ p["V"].T + p["c"] if "c" in p else s @ p["V"].T
