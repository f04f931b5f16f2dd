"""A network: input (embedding row gather) -> L stacked cells -> output layer, over
packed batches. Parameters are one flat dict with namespaced keys (G = the cell's
gates: 1 for the Elman cell, 3 for GRU, 4 for LSTM):

    layer0.U  (G*H, C)  input projection of word ids (kept transposed, see layers.py)
    layerL.U  (G*H, H)  input projection of the layer below's output, L >= 1
    layerL.W  (G*H, H)  recurrent weights        layerL.b  (G*H,)  with --bias or a gated cell
    out.V     (C, H)    output weights           out.c     (C,)    with --bias
    out.Vk    (K, H)    class weights            out.ck    (K,)    with --bias  (class softmax)

Dropout (Zaremba et al. 2014) applies between layers and before the output layer,
never on the recurrent connection.

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
                 layers: int = 1, bias: bool = False, output: str = "full", classes: int | None = None,
                 class_of=None):
        if cell not in CELLS:
            raise ValueError(f"unknown cell {cell!r}")
        if output not in OUTPUTS:
            raise ValueError(f"unknown output layer {output!r}")
        if int(layers) < 1 or int(vocab_size) < 1 or int(hidden_dim) < 1:
            raise ValueError("sizes must be positive")
        if cell != "rnn" and activation != "tanh":
            raise ValueError(f"--activation applies to the rnn cell only, not {cell}")
        self.args = {"vocab_size": int(vocab_size), "hidden_dim": int(hidden_dim), "cell": cell,
                     "activation": activation, "layers": int(layers), "bias": bool(bias), "output": output}
        C, H = self.C, self.H = int(vocab_size), int(hidden_dim)
        self.L = int(layers)
        kw = {"activation": activation} if cell == "rnn" else {}
        self.cells = [CELLS[cell](H, tag=f"l{i}", **kw) for i in range(self.L)]
        self.cell = self.cells[-1]
        self.gates = self.cell.gates
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

    def init(self, rng: np.random.Generator, dtype="float32", recurrent: str = "uniform") -> dict:
        """The tutorial's initialisation, drawn in its order U, V, W (then the upper
        layers' U, W), and listed in the order U, V, W, ..., biases: the global
        gradient norm sums in dict order, so this keeps version-1 runs bitwise
        reproducible. recurrent="identity": the Elman cells' W start as I."""
        GH, H, C = self.gates * self.H, self.H, self.C
        weights = {"layer0.U": layers.uniform(rng, C, (GH, C))}
        out = self.out.init(rng, np.float64, self.bias)
        weights["out.V"] = out.pop("V")
        biases = {}
        for i, cell in enumerate(self.cells):
            if i:
                weights[f"layer{i}.U"] = layers.uniform(rng, H, (GH, H))
            p = cell.init(rng, np.float64, self.bias, recurrent)
            weights[f"layer{i}.W"] = p.pop("W")
            biases.update({f"layer{i}.{k}": v for k, v in p.items()})
        biases.update({f"out.{k}": v for k, v in out.items()})
        return self.as_layout({**weights, **biases}, dtype)

    def shapes(self) -> dict:
        """name -> shape of every parameter, in the order ``init`` lists them."""
        GH, H, C = self.gates * self.H, self.H, self.C
        s = {"layer0.U": (GH, C), "out.V": (C, H)}
        for i in range(self.L):
            if i:
                s[f"layer{i}.U"] = (GH, H)
            s[f"layer{i}.W"] = (GH, H)
        if self.bias or self.gates > 1:
            s.update({f"layer{i}.b": (GH,) for i in range(self.L)})
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

    def _dropout(self, S, name, ws, dropout, rng):
        """(S * mask / keep, mask / keep); the mask is drawn from ``rng``."""
        keep = 1.0 - dropout
        M = ws.get("M" + name, S.shape, S.dtype)
        M[...] = rng.random(S.shape, dtype=S.dtype) < keep
        M *= 1.0 / keep
        out = ws.get("Hout" + name, S.shape, S.dtype)
        np.multiply(S, M, out=out)
        return out, M

    def _forward(self, params: dict, batch, ws, dropout=0.0, rng=None):
        """Layer by layer: (output of the top layer after dropout, per-layer records
        (input to the layer, dropout mask applied to that input, cell cache))."""
        off = batch.offsets_list
        U = params["layer0.U"]
        A = ws.get("A0", (batch.N, U.shape[0]), U.dtype)
        layers.embed_forward(U, batch.x, A)              # (N, G*H)  U x_t
        S, cache = self.cells[0].forward(self._part(params, "layer0."), A, off, ws)
        records = [(None, None, cache)]
        for i in range(1, self.L):
            Hin, M = self._dropout(S, str(i), ws, dropout, rng) if dropout > 0 else (S, None)
            U = params[f"layer{i}.U"]
            A = ws.get(f"A{i}", (batch.N, U.shape[0]), U.dtype)
            np.matmul(Hin, U.T, out=A)                   # (N, G*H)  U h_t of the layer below
            S, cache = self.cells[i].forward(self._part(params, f"layer{i}."), A, off, ws)
            records.append((Hin, M, cache))
        return S, records

    def hidden_states(self, params: dict, batch, ws):
        """The top layer's outputs S (N, H) for every packed row."""
        S, _ = self._forward(params, batch, ws)
        return S

    def loss_and_grads(self, params: dict, batch, grads: dict, ws, bptt_truncate: int = -1,
                       scale: float = 1.0, dropout: float = 0.0, rng=None, rows: dict | None = None) -> float:
        """Summed cross-entropy of a packed batch; fills ``grads`` with the gradient of
        ``scale * loss`` (the error of output t flows back through at most
        ``bptt_truncate`` earlier steps; -1 means all of them).

        ``rows``, a dict the caller keeps between calls on the same ``grads`` (and in
        which nobody else writes other rows of the embedding gradient), makes that
        gradient row-sparse: rows["layer0.U"] names the columns of grads["layer0.U"]
        that can be nonzero (absent: any), and is set to this batch's distinct ids."""
        off = batch.offsets_list
        S, records = self._forward(params, batch, ws, dropout, rng)
        hbound = self.cell.bound
        if dropout > 0:
            Hout, M = self._dropout(S, "", ws, dropout, rng)
            hbound /= 1.0 - dropout
        else:
            Hout = S
        nll, dS = self.out.loss_and_grad(self._part(params, "out."), Hout, batch.y,
                                         self._part(grads, "out."), ws, scale, hbound)
        if dropout > 0:
            dS *= M
        for i in range(self.L - 1, -1, -1):
            Hin, Min, cache = records[i]
            dA = self.cells[i].backward(self._part(params, f"layer{i}."), cache, dS, off, bptt_truncate,
                                        {k: v for k, v in self._part(grads, f"layer{i}.").items() if k != "U"}, ws)
            if i == 0:
                if rows is None:
                    layers.embed_backward(grads["layer0.U"], batch.x, dA)
                else:
                    layers.embed_backward(grads["layer0.U"], batch.x, dA, rows.get("layer0.U"))
                    rows["layer0.U"] = np.unique(batch.x)
                break
            U = params[f"layer{i}.U"]
            np.matmul(dA.T, Hin, out=grads[f"layer{i}.U"])   # (G*H, H)
            dS = ws.get("dS", (batch.N, self.H), dA.dtype)
            np.matmul(dA, U, out=dS)                     # (N, H)  to the layer below
            if Min is not None:
                dS *= Min
        return nll

    def token_nll(self, params: dict, batch, ws, out: np.ndarray | None = None) -> np.ndarray:
        """Negative log-likelihood of every packed row (N,), float64; memory is bounded
        by the batch and a block of logits."""
        S = self.hidden_states(params, batch, ws)
        out = np.empty(batch.N) if out is None else out
        return self.out.token_nll(self._part(params, "out."), S, batch.y, ws, out, self.cell.bound)

    # ------------------------------------------------------------ one step at a time

    def start(self, n: int):
        return [cell.start(n) for cell in self.cells]

    def step(self, params: dict, x: np.ndarray, state: list) -> list:
        """Feed ids x (B,) -> the next state (one entry per layer)."""
        a = params["layer0.U"].T[x]                      # (B, G*H)
        new = []
        for i, cell in enumerate(self.cells):
            s = cell.step(self._part(params, f"layer{i}."), a, state[i])
            new.append(s)
            if i + 1 < self.L:
                a = cell.output(s) @ params[f"layer{i + 1}.U"].T
        return new

    def log_probs(self, params: dict, state: list, ws=None) -> np.ndarray:
        """(B, C) float64 log-probabilities of the next word; ``ws`` (a Workspace) does the
        (B, H) x (H, C) product on its threads."""
        return self.out.log_probs(self._part(params, "out."), self.cell.output(state[-1]), self.cell.bound, ws)
