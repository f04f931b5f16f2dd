"""A network: input (embedding row gather) -> cell -> output layer, over packed
batches. Parameters are one flat dict with namespaced keys:

    layer0.U  (G*H, C)  input projection of word ids (kept transposed, see layers.py)
    layer0.W  (G*H, H)  recurrent weights        layer0.b  (G*H,)  with --bias
    out.V     (C, H)    output weights           out.c     (C,)    with --bias
    out.Vk    (K, H)    class weights            out.ck    (K,)    with --bias  (class softmax)

The constructor arguments (``Network.args``) are all a checkpoint needs to rebuild the
network: no caller has to know which cell or output layer it holds.
"""
from __future__ import annotations

import numpy as np

from . import layers
from .cells import CELLS
from .output import OUTPUTS


class Network:
    def __init__(self, vocab_size: int, hidden_dim: int, cell: str = "rnn", activation: str = "tanh",
                 bias: bool = False, output: str = "full", classes: int | None = None, class_of=None):
        if cell not in CELLS:
            raise ValueError(f"unknown cell {cell!r}")
        if output not in OUTPUTS:
            raise ValueError(f"unknown output layer {output!r}")
        self.args = {"vocab_size": int(vocab_size), "hidden_dim": int(hidden_dim), "cell": cell,
                     "activation": activation, "bias": bool(bias), "output": output}
        C, H = self.C, self.H = int(vocab_size), int(hidden_dim)
        self.cell = CELLS[cell](H, activation) if cell == "rnn" else CELLS[cell](H)
        if output == "class":
            # the class map is an argument, never a parameter: checkpoints restore it with
            # the network and no optimizer or gradient code ever sees it
            self.out = OUTPUTS[output](C, H, classes, class_of)
            self.args.update(classes=self.out.K, class_of=self.out.cls.tolist())
        else:
            self.out = OUTPUTS[output](C, H)
        self.bias = bool(bias)
        self.embeddings = ("layer0.U",)

    # ------------------------------------------------------------ parameters

    def init(self, rng: np.random.Generator, dtype="float32") -> dict:
        """The tutorial's initialisation, drawn in its order U, V, W, and listed in the
        order U, V, W, b, c: the global gradient norm sums in dict order, so this keeps
        runs bitwise reproducible across versions."""
        GH = self.cell.gates * self.H
        U = layers.uniform(rng, self.C, (GH, self.C))
        out = self.out.init(rng, np.float64, self.bias)
        cell = self.cell.init(rng, np.float64, self.bias)
        p = {"layer0.U": U, "out.V": out.pop("V"), "layer0.W": cell.pop("W")}
        p.update({f"layer0.{k}": v for k, v in cell.items()})
        p.update({f"out.{k}": v for k, v in out.items()})
        return self.as_layout(p, dtype)

    def shapes(self) -> dict:
        """name -> shape of every parameter this network has."""
        GH, H, C = self.cell.gates * self.H, self.H, self.C
        s = {"layer0.U": (GH, C), "out.V": (C, H), "layer0.W": (GH, H)}
        if self.bias or self.cell.gates > 1:
            s["layer0.b"] = (GH,)
        s.update({f"out.{k}": v for k, v in self.out.shapes(self.bias).items() if k != "V"})
        return s

    def as_layout(self, params: dict, dtype=None) -> dict:
        """Copies in the dtype and memory layout the kernels expect (embeddings are
        transposes of C-contiguous arrays, so a column of U is a contiguous row)."""
        out = {}
        for k, v in params.items():
            v = np.asarray(v, dtype=dtype or v.dtype)
            out[k] = np.ascontiguousarray(v.T).T if k in self.embeddings else np.ascontiguousarray(v)
        return out

    def zeros_like(self, params: dict) -> dict:
        return self.as_layout({k: np.zeros_like(v) for k, v in params.items()})

    @staticmethod
    def _part(params: dict, prefix: str) -> dict:
        n = len(prefix)
        return {k[n:]: v for k, v in params.items() if k.startswith(prefix)}

    # ------------------------------------------------------------ packed batches

    def hidden_states(self, params: dict, batch, ws):
        """The cell's outputs S (N, H) for every packed row, and the cell's cache."""
        U = params["layer0.U"]
        A = ws.get("A", (batch.N, U.shape[0]), U.dtype)
        layers.embed_forward(U, batch.x, A)              # (N, G*H)  U x_t
        return self.cell.forward(self._part(params, "layer0."), A, batch, ws)

    def loss_and_grads(self, params: dict, batch, grads: dict, ws, bptt_truncate: int = -1,
                       scale: float = 1.0, dropout: float = 0.0, rng=None) -> float:
        """Summed cross-entropy of a packed batch; fills ``grads`` with the gradient of
        ``scale * loss`` (the error of output t flows back through at most
        ``bptt_truncate`` earlier steps; -1 means all of them)."""
        N, H = batch.N, self.H
        S, cache = self.hidden_states(params, batch, ws)
        dt = S.dtype
        hbound = self.cell.bound
        if dropout > 0:                                  # on the hidden-to-output path only
            keep = 1.0 - dropout
            M = ws.get("M", (N, H), dt)
            M[...] = rng.random((N, H), dtype=dt) < keep
            M *= 1.0 / keep
            Hout = ws.get("Hout", (N, H), dt)
            np.multiply(S, M, out=Hout)
            hbound /= keep
        else:
            Hout = S
        og = self._part(grads, "out.")
        nll, dS = self.out.loss_and_grad(self._part(params, "out."), Hout, batch.y, og, ws, scale, hbound)
        if dropout > 0:
            dS *= M
        cg = {k[7:]: v for k, v in grads.items() if k.startswith("layer0.") and k != "layer0.U"}
        dA = self.cell.backward(self._part(params, "layer0."), cache, dS, batch, bptt_truncate, cg, ws)
        layers.embed_backward(grads["layer0.U"], batch.x, dA)
        return nll

    def token_nll(self, params: dict, batch, ws, out: np.ndarray | None = None) -> np.ndarray:
        """Negative log-likelihood of every packed row (N,), float64; memory is bounded
        by the batch and a block of logits."""
        S, _ = self.hidden_states(params, batch, ws)
        out = np.empty(batch.N) if out is None else out
        return self.out.token_nll(self._part(params, "out."), S, batch.y, ws, out, self.cell.bound)

    # ------------------------------------------------------------ one step at a time

    def start(self, n: int):
        return self.cell.start(n)

    def step(self, params: dict, x: np.ndarray, state):
        """Feed ids x (B,) -> the next state."""
        a = params["layer0.U"].T[x]                      # (B, G*H)
        return self.cell.step(self._part(params, "layer0."), a, state)

    def log_probs(self, params: dict, state) -> np.ndarray:
        """(B, C) float64 log-probabilities of the next word."""
        return self.out.log_probs(self._part(params, "out."), self.cell.output(state), self.cell.bound)
