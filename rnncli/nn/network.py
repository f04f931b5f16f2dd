"""The network assembly: an input layer -> a stack of cells -> an output layer, over
packed batches (layers.py, cells.py, output.py). The language model's ``Network`` is
this assembly with an embedding of word ids and a softmax; the forecaster's
encoder-decoder (seq2seq.py) is a configuration of the same parts.

Parameters are one flat dict with namespaced keys; each part reads them under its own
names (``view``). The language model's (G = the cell's gates: 1 for the Elman cell,
3 for GRU, 4 for LSTM):

    layer0.U  (G*H, C)  input projection of word ids (kept transposed, see layers.py)
    layerL.U  (G*H, H)  input projection of the layer below's output, L >= 1
    layerL.W  (G*H, H)  recurrent weights        layerL.b  (G*H,)  with --bias or a gated cell
    out.V     (C, H)    output weights           out.c     (C,)    with --bias
    out.Vk    (K, H)    class weights            out.ck    (K,)    with --bias  (class softmax)

Dropout (Zaremba et al. 2014) applies between layers (in the stack) and before the
output layer, never on the recurrent connection.

The constructor arguments (``Network.args``, with the output layer's own, e.g. the
class map) are all a checkpoint needs to rebuild the network: no caller has to know
which cell or output layer it holds.
"""
from __future__ import annotations

import numpy as np

from .cells import Stack
from .classsoftmax import ClassSoftmax
from .layers import Embedding, apply_dropout
from .output import FullSoftmax

# the language model's output layers, by the name in its arguments ("output")
OUTPUTS = {"full": FullSoftmax, "class": ClassSoftmax}


def prefixed(prefix: str, params: dict) -> dict:
    return {prefix + k: v for k, v in params.items()}


def names(shapes: dict, prefix: str) -> dict:
    """A part's own parameter names -> the network's, for the names under ``prefix``."""
    n = len(prefix)
    return {k[n:]: k for k in shapes if k.startswith(prefix)}


def view(params: dict, own: dict) -> dict:
    """A part's parameters (or gradients) under its own names (``own`` from ``names``)."""
    return {k: params[n] for k, n in own.items() if n in params}


class Assembly:
    """What every network does with its parameter dict, whatever its parts."""
    embeddings: tuple = ()                               # names kept transposed (see layers.py)

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


class Network(Assembly):
    """The language model: embedding -> stack of cells -> full or class softmax.
    ``options`` are the output layer's own constructor arguments (the class softmax's
    ``classes`` and ``class_of``); the layer reports them back into ``args``."""

    def __init__(self, vocab_size: int, hidden_dim: int, cell: str = "rnn", activation: str = "tanh",
                 layers: int = 1, bias: bool = False, output: str = "full", **options):
        if output not in OUTPUTS:
            raise ValueError(f"unknown output layer {output!r}")
        if int(layers) < 1 or int(vocab_size) < 1 or int(hidden_dim) < 1:
            raise ValueError("sizes must be positive")
        C, H = self.C, self.H = int(vocab_size), int(hidden_dim)
        self.L = int(layers)
        self.stack = Stack(cell, H, self.L, activation, tag="l")
        self.cell = self.stack.cells[-1]
        self.gates = self.stack.gates
        self.input = Embedding(C, self.gates * H, tag="l")
        self.out = OUTPUTS[output](C, H, **options)
        self.bias = bool(bias)
        self.args = {"vocab_size": C, "hidden_dim": H, "cell": cell, "activation": activation, "layers": self.L,
                     "bias": self.bias, "output": output, **self.out.args}
        self.embeddings = ("layer0.U",)
        self._out = names(self.shapes(), "out.")

    # ------------------------------------------------------------ parameters

    def init(self, rng: np.random.Generator, dtype="float32", recurrent: str = "uniform") -> dict:
        """The tutorial's initialisation, drawn in its order U, V, W (then the upper
        layers' U, W), and listed as ``shapes``. recurrent="identity": the Elman
        cells' W start as I."""
        U = self.input.init(rng)
        out = self.out.init(rng, np.float64, self.bias)
        stack = self.stack.init(rng, np.float64, self.bias, recurrent)
        return self.as_layout(self._listed(U, out, stack), dtype)

    def shapes(self) -> dict:
        """name -> shape of every parameter, in the order ``init`` lists them."""
        return self._listed(self.input.shapes(), self.out.shapes(self.bias), self.stack.shapes(self.bias))

    @staticmethod
    def _listed(inp: dict, out: dict, stack: dict) -> dict:
        """Version 1's order U, V, W, ..., biases, then the output layer's other
        parameters: the global gradient norm sums in dict order, so this keeps
        version-1 runs bitwise reproducible."""
        out = prefixed("out.", out)
        listed = {"layer0.U": inp["U"], "out.V": out.pop("out.V")}
        listed.update((k, v) for k, v in stack.items() if not k.endswith(".b"))
        listed.update((k, v) for k, v in stack.items() if k.endswith(".b"))
        listed.update(out)
        return listed

    # ------------------------------------------------------------ packed batches

    def hidden_states(self, params: dict, batch, ws):
        """The top layer's outputs S (N, H) for every packed row."""
        A = self.input.forward({"U": params["layer0.U"]}, batch.x, ws)
        S, _ = self.stack.forward(params, A, batch.offsets_list, ws)
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
        U = {"U": params["layer0.U"]}
        A = self.input.forward(U, batch.x, ws)           # (N, G*H)
        S, cache = self.stack.forward(params, A, off, ws, dropout=dropout, rng=rng)
        hbound = self.cell.bound
        if dropout > 0:
            Hout, M = apply_dropout(S, "", ws, dropout, rng)
            hbound /= 1.0 - dropout
        else:
            Hout = S
        nll, dS = self.out.loss_and_grad(view(params, self._out), Hout, batch.y, view(grads, self._out), ws,
                                         scale, hbound)
        if dropout > 0:
            dS *= M
        dA = self.stack.backward(params, cache, dS, off, bptt_truncate, grads, ws)
        dU = {"U": grads["layer0.U"]}
        if rows is None:
            self.input.backward(U, batch.x, dA, dU, ws)
        else:
            self.input.backward(U, batch.x, dA, dU, ws, rows.get("layer0.U"))
            rows["layer0.U"] = np.unique(batch.x)
        return nll

    def token_nll(self, params: dict, batch, ws, out: np.ndarray | None = None) -> np.ndarray:
        """Negative log-likelihood of every packed row (N,), float64; memory is bounded
        by the batch and a block of logits."""
        S = self.hidden_states(params, batch, ws)
        out = np.empty(batch.N) if out is None else out
        return self.out.token_nll(view(params, self._out), S, batch.y, ws, out, self.cell.bound)

    # ------------------------------------------------------------ one step at a time

    def start(self, n: int):
        return self.stack.start(n)

    def step(self, params: dict, x: np.ndarray, state: list) -> list:
        """Feed ids x (B,) -> the next state (one entry per layer)."""
        return self.stack.step(params, self.input.step({"U": params["layer0.U"]}, x), state)

    def log_probs(self, params: dict, state: list, ws=None) -> np.ndarray:
        """(B, C) float64 log-probabilities of the next word; ``ws`` (a Workspace) does the
        (B, H) x (H, C) product on its threads."""
        return self.out.log_probs(view(params, self._out), self.stack.output(state), self.cell.bound, ws)
