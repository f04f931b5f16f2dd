"""The forecaster's encoder-decoder ("sequence to sequence"): a configuration of the
network's parts (network.py), not a network of its own. Pure math, numpy in, numpy out.

    encoder   Dense -> Stack                       over the history
    decoder   Dense -> Stack -> LinearReadout      over the horizon, each stack layer
                                                   starting from the encoder layer's final state
    [attention over the encoder's top states, added to the read-out]

Windows all have the same length, so a batch of B windows is a packed batch with
n_t = B at every step (``batching.constant_offsets``): arrays are time-major, row
t*B + b is step t of window b.

Sizes: B windows, Th history steps, Tf horizon steps, F encoder inputs per step,
Y targets, Fk known-future inputs per horizon step (e.g. calendar; may be 0), H
hidden units, G the cell's gates (1 Elman, 3 GRU, 4 LSTM), layers l = 0..L-1::

    encoder   A = X U_e0^T                  X (Th*B, F), U_e0 (G*H, F): one product, all rows
              S_e = stack_e(A; h = 0)       (Th*B, H) the top layer's states
    decoder   d_k = [y_{k-1}, z_k]          (Y + Fk,) y_{-1}: the last history value (the origin)
              S_d = stack_d(D U_d0^T; h = the encoder's final states, per layer; LSTM: h and c)
    read-out  yhat_k = V s_k + c            V (Y, H), c (Y,), s_k the top decoder layer
    loss      sum over observed entries of (yhat - y)^2 (mse) or |yhat - y| (mae)

With ``attention`` (attention.py: Luong's "general" score over the encoder's top
states e_t): yhat_k += V_a c_k, the context c_k = sum_t softmax_t(s_k W_a e_t) e_t.

Training feeds the decoder the true previous value y_{k-1} (teacher forcing);
``predict`` feeds it its own previous output yhat_{k-1} (free running), one
decoder step at a time. ``loss_and_grads`` also takes the decoder's previous-value
inputs from the caller, so training on self-generated inputs (``free_inputs``) is
teacher forcing on those inputs, with no gradient through them.

Parameters (namespaced, in this order): enc.layerL.U, enc.layerL.W, enc.layerL.b,
dec.layerL.U, dec.layerL.W, dec.layerL.b, out.V, out.c[, att.W, att.V]. Every cell has a bias.
The constructor arguments (``args``, with "network": "seq2seq") rebuild it.
"""
from __future__ import annotations

import numpy as np

from ..batching import constant_offsets
from .attention import Attention
from .cells import Stack
from .layers import Dense
from .network import Assembly, names, prefixed, view
from .output import LinearReadout

# the network's prefixes of its parts' parameters
PARTS = ("enc.layer0.", "enc.", "dec.layer0.", "dec.", "out.", "att.")


def _copied(state):
    """A copy of a state (an array or a tuple of arrays, as a cell's ``final`` gives)."""
    return tuple(s.copy() for s in state) if isinstance(state, tuple) else state.copy()


class Seq2Seq(Assembly):
    def __init__(self, inputs: int, targets: int, known: int = 0, hidden_dim: int = 64, cell: str = "gru",
                 activation: str = "tanh", layers: int = 1, loss: str = "mse", attention: bool = False):
        if min(int(inputs), int(targets), int(hidden_dim), int(layers)) < 1 or int(known) < 0:
            raise ValueError("sizes must be positive")
        self.F, self.Y, self.Fk = int(inputs), int(targets), int(known)
        self.H, self.L, self.loss = int(hidden_dim), int(layers), loss
        self.enc = Stack(cell, self.H, self.L, activation, tag="e")
        self.dec = Stack(cell, self.H, self.L, activation, tag="d")
        self.out = LinearReadout(self.Y, self.H, loss)
        self.attention = bool(attention)
        self.att = Attention(self.H, self.Y) if self.attention else None
        self.cell = self.dec.cells[-1]
        self.gates = self.cell.gates
        GH = self.gates * self.H
        self.enc_in = Dense(self.F, GH, tag="e")
        self.dec_in = Dense(self.Y + self.Fk, GH, tag="d")
        self.args = {"network": "seq2seq", "inputs": self.F, "targets": self.Y, "known": self.Fk,
                     "hidden_dim": self.H, "cell": cell, "activation": activation, "layers": self.L, "loss": loss}
        if self.attention:
            self.args["attention"] = True
        self.bias = True
        shapes = self.shapes()
        self._own = {pre: names(shapes, pre) for pre in PARTS}

    # ------------------------------------------------------------ parameters

    def shapes(self) -> dict:
        """name -> shape of every parameter, in the order ``init`` lists them."""
        return self._listed(self.enc_in.shapes(), self.enc.shapes(True), self.dec_in.shapes(),
                            self.dec.shapes(True), self.out.shapes(True),
                            self.att.shapes() if self.att else {})

    def init(self, rng: np.random.Generator, dtype="float32", recurrent: str = "uniform") -> dict:
        """U uniform in +-1/sqrt(fan-in), the cells' own W and b (LSTM forget bias 1),
        V uniform in +-1/sqrt(H), c = 0; drawn in the order of ``shapes``."""
        if recurrent != "uniform":
            raise ValueError("the forecasting network starts from the uniform rule only")
        enc_in = self.enc_in.init(rng)
        enc = self.enc.init(rng, np.float64, True)
        dec_in = self.dec_in.init(rng)
        dec = self.dec.init(rng, np.float64, True)
        out = self.out.init(rng, np.float64, True)
        att = self.att.init(rng) if self.att else {}
        return self.as_layout(self._listed(enc_in, enc, dec_in, dec, out, att), dtype)

    @staticmethod
    def _listed(enc_in: dict, enc: dict, dec_in: dict, dec: dict, out: dict, att: dict) -> dict:
        """Each side's layers in turn (U, W, b), then the read-out and attention."""
        return {**prefixed("enc.layer0.", enc_in), **prefixed("enc.", enc), **prefixed("dec.layer0.", dec_in),
                **prefixed("dec.", dec), **prefixed("out.", out), **prefixed("att.", att)}

    def _part(self, params: dict, prefix: str) -> dict:
        return view(params, self._own[prefix])

    # ------------------------------------------------------------ packed windows

    def _encode(self, params: dict, x: np.ndarray, ws):
        """x (Th, B, F) -> (E (Th*B, H) the top layer's states, the encoder stack's cache,
        X (Th*B, F), its offsets)."""
        Th, B, _ = x.shape
        off = constant_offsets(Th, B)
        X = x.reshape(Th * B, -1)
        A = self.enc_in.forward(self._part(params, "enc.layer0."), X, ws)
        E, cache = self.enc.forward(self._part(params, "enc."), A, off, ws)
        return E, cache, X, off

    def forward(self, params: dict, x: np.ndarray, dec_in: np.ndarray, ws, free: bool = False):
        """Teacher-forced forward pass. x (Th, B, F) encoder inputs; dec_in (Tf, B, Y+Fk)
        decoder inputs [previous target values, known-future inputs]. ``free``: the
        previous values after the first step are replaced by the decoder's own outputs
        (run free from the same encoder pass, then held fixed). Returns yhat (Tf*B, Y)
        and the records ``loss_and_grads`` needs."""
        B, Tf = x.shape[1], dec_in.shape[0]
        E, enc, X, off_e = self._encode(params, x, ws)
        finals = self.enc.final(enc, off_e)              # per layer, views into the workspace
        if free and Tf > 1:
            Y = self.Y
            fed = self._run_free(params, finals, dec_in[0, :, :Y], dec_in[:, :, Y:], E)   # (Tf, B, Y)
            dec_in = dec_in.copy()
            dec_in[1:, :, :Y] = fed[:-1]
        off_d = constant_offsets(Tf, B)
        D = dec_in.reshape(Tf * B, -1)
        A = self.dec_in.forward(self._part(params, "dec.layer0."), D, ws)
        S, dec = self.dec.forward(self._part(params, "dec."), A, off_d, ws, h0=finals)
        yhat = self.out.forward(self._part(params, "out."), S, ws)   # (Tf*B, Y)
        att = None
        if self.att is not None:
            context, att = self.att.forward(self._part(params, "att."), S, E, B)
            yhat += context
        return yhat, {"X": X, "enc": enc, "off_e": off_e, "D": D, "dec": dec, "off_d": off_d, "S": S, "att": att}

    def loss_and_grads(self, params: dict, x: np.ndarray, dec_in: np.ndarray, y: np.ndarray, mask: np.ndarray,
                       grads: dict, ws, scale: float = 1.0, free: bool = False) -> float:
        """Summed loss over the entries where ``mask`` (Tf, B, Y) is 1; fills ``grads`` with
        the gradient of ``scale * loss``. y (Tf, B, Y) targets (any finite value where
        masked out). See ``forward`` for x, dec_in and free (no gradient flows through
        the fed-back outputs)."""
        yhat, r = self.forward(params, x, dec_in, ws, free)
        loss, dY = self.out.loss_of(yhat, y.reshape(yhat.shape), mask.reshape(yhat.shape), ws, scale)
        S = r["S"]
        dS = self.out.backward(self._part(params, "out."), S, dY, self._part(grads, "out."), ws)   # (Tf*B, H)
        dE = None
        if r["att"] is not None:
            dS_att, dE = self.att.backward(self._part(params, "att."), r["att"], dY, self._part(grads, "att."))
            dS += dS_att
        dA, dfinal = self.dec.backward(self._part(params, "dec."), r["dec"], dS, r["off_d"], -1,
                                       self._part(grads, "dec."), ws)
        self.dec_in.backward(self._part(params, "dec.layer0."), r["D"], dA, self._part(grads, "dec.layer0."), ws)
        if dE is None:
            dE = ws.get("dS", (len(r["X"]), self.H), S.dtype)
            dE.fill(0)                                   # the encoder's outputs feed nothing but its final state
        dA = self.enc.backward(self._part(params, "enc."), r["enc"], dE, r["off_e"], -1,
                               self._part(grads, "enc."), ws, dlast=dfinal)
        self.enc_in.backward(self._part(params, "enc.layer0."), r["X"], dA, self._part(grads, "enc.layer0."), ws)
        return loss

    # ------------------------------------------------------------ free running

    def encode(self, params: dict, x: np.ndarray, ws):
        """x (Th, B, F) -> (the encoder's final state per layer, its top states (Th, B, H)), copies."""
        Th, B, _ = x.shape
        E, cache, _, off = self._encode(params, x, ws)
        return [_copied(f) for f in self.enc.final(cache, off)], E.reshape(Th, B, self.H).copy()

    def predict(self, params: dict, x: np.ndarray, y0: np.ndarray, known: np.ndarray, ws) -> np.ndarray:
        """Free running: each decoder step is fed the previous step's output. x (Th, B, F);
        y0 (B, Y) the targets at the forecast origin; known (Tf, B, Fk) -> yhat (Tf, B, Y)."""
        state, E = self.encode(params, x, ws)
        return self._run_free(params, state, y0, known, E.reshape(-1, self.H))

    def _run_free(self, params: dict, state: list, y0: np.ndarray, known: np.ndarray, E: np.ndarray) -> np.ndarray:
        """The decoder one step at a time from ``state`` (per layer; never modified), fed
        its own outputs: (Tf, B, Y). E (Th*B, H): the encoder's top states (for attention)."""
        Tf, B = known.shape[0], y0.shape[0]
        p_in, p_dec, p_out = (self._part(params, k) for k in ("dec.layer0.", "dec.", "out."))
        p_att = self._part(params, "att.")
        # the input layer's columns: [previous values | known-future inputs], the latter all at once
        ak = self.dec_in.step(p_in, known.reshape(Tf * B, -1), slice(self.Y, None)) if self.Fk else None
        dtype = p_out["V"].dtype
        out = np.empty((Tf, B, self.Y), dtype)
        prev = y0.astype(dtype)
        for k in range(Tf):
            a = self.dec_in.step(p_in, prev, slice(None, self.Y))    # (B, G*H)
            if ak is not None:
                a += ak[k * B:(k + 1) * B]
            state = self.dec.step(p_dec, a, state)
            h = self.dec.output(state)                    # (B, H)
            prev = self.out.predict(p_out, h)             # (B, Y)
            if self.att is not None:
                prev += self.att.step(p_att, h, E)
            out[k] = prev
        return out
