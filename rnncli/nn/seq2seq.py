"""An encoder-decoder ("sequence to sequence") network for forecasting: pure math,
numpy in, numpy out. The cells are those of the language model (``cells.CELLS``:
Elman tanh|relu, GRU, LSTM), stacked ``layers`` deep, over packed batches in which
every window has the same length, so a batch of B windows is a packed batch with
n_t = B at every step (``batching.constant_offsets``): arrays are time-major,
row t*B + b is step t of window b.

Sizes: B windows, Th history steps, Tf horizon steps, F encoder inputs per step,
Y targets, Fk known-future inputs per horizon step (e.g. calendar; may be 0), H
hidden units, G the cell's gates (1 Elman, 3 GRU, 4 LSTM), layers l = 0..L-1::

    encoder   A = X U_e0^T                  X (Th*B, F), U_e0 (G*H, F): one product, all rows
              S_e0 = cell_e0(A; h = 0)      (Th*B, H); layer l > 0 reads S_e(l-1) through U_el (G*H, H)
    decoder   d_k = [y_{k-1}, z_k]          (Y + Fk,) y_{-1}: the last history value (the origin)
              S_d0 = cell_d0(D U_d0^T; h = final state of encoder layer 0)   D (Tf*B, Y+Fk)
              layer l starts from encoder layer l's final state (LSTM: h and c)
    read-out  yhat_k = V s_k + c            V (Y, H), c (Y,), s_k the top decoder layer
    loss      sum over observed entries of (yhat - y)^2 (mse) or |yhat - y| (mae)

With ``attention`` (Luong et al. 2015, "general" score, after the decoder step): the
decoder's top state s_k looks up the encoder's top states e_t (t over the history)::

    a_k = softmax_t(s_k W_a e_t)            W_a (H, H), a_k (Th,)
    c_k = sum_t a_k[t] e_t                  (H,)
    yhat_k = V s_k + V_a c_k + c            V_a (Y, H)

The weights are computed for all decoder steps of the batch at once (batched
products over B), so attention adds no Python loop to training.

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
from . import layers
from .cells import CELLS

LOSSES = ("mse", "mae")


def _softmax(z: np.ndarray) -> np.ndarray:
    """Softmax over the last axis."""
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


class Seq2Seq:
    def __init__(self, inputs: int, targets: int, known: int = 0, hidden_dim: int = 64, cell: str = "gru",
                 activation: str = "tanh", layers: int = 1, loss: str = "mse", attention: bool = False):
        if cell not in CELLS:
            raise ValueError(f"unknown cell {cell!r}")
        if loss not in LOSSES:
            raise ValueError(f"unknown loss {loss!r}")
        if cell != "rnn" and activation != "tanh":
            raise ValueError(f"--activation applies to the rnn cell only, not {cell}")
        if min(int(inputs), int(targets), int(hidden_dim), int(layers)) < 1 or int(known) < 0:
            raise ValueError("sizes must be positive")
        self.args = {"network": "seq2seq", "inputs": int(inputs), "targets": int(targets), "known": int(known),
                     "hidden_dim": int(hidden_dim), "cell": cell, "activation": activation,
                     "layers": int(layers), "loss": loss}
        self.F, self.Y, self.Fk = int(inputs), int(targets), int(known)
        self.H, self.L, self.loss = int(hidden_dim), int(layers), loss
        self.attention = bool(attention)
        if self.attention:
            self.args["attention"] = True
        kw = {"activation": activation} if cell == "rnn" else {}
        self.enc = [CELLS[cell](self.H, tag=f"e{i}", **kw) for i in range(self.L)]
        self.dec = [CELLS[cell](self.H, tag=f"d{i}", **kw) for i in range(self.L)]
        self.cell = self.dec[-1]
        self.gates = self.cell.gates
        self.pair = cell == "lstm"                       # the state is (h, c)
        self.bias = True
        self.embeddings = ()

    # ------------------------------------------------------------ parameters

    def shapes(self) -> dict:
        """name -> shape of every parameter, in the order ``init`` lists them."""
        GH, H = self.gates * self.H, self.H
        s = {}
        for side, n_in in (("enc", self.F), ("dec", self.Y + self.Fk)):
            for i in range(self.L):
                s[f"{side}.layer{i}.U"] = (GH, n_in if i == 0 else H)
                s[f"{side}.layer{i}.W"] = (GH, H)
                s[f"{side}.layer{i}.b"] = (GH,)
        s["out.V"] = (self.Y, H)
        s["out.c"] = (self.Y,)
        if self.attention:
            s["att.W"] = (H, H)
            s["att.V"] = (self.Y, H)
        return s

    def init(self, rng: np.random.Generator, dtype="float32", recurrent: str = "uniform") -> dict:
        """U uniform in +-1/sqrt(fan-in), the cells' own W and b (LSTM forget bias 1),
        V uniform in +-1/sqrt(H), c = 0; drawn in the order of ``shapes``."""
        if recurrent != "uniform":
            raise ValueError("the forecasting network starts from the uniform rule only")
        p = {}
        for side, cells in (("enc", self.enc), ("dec", self.dec)):
            for i, cell in enumerate(cells):
                n_in = self.H if i else (self.F if side == "enc" else self.Y + self.Fk)
                p[f"{side}.layer{i}.U"] = layers.uniform(rng, n_in, (self.gates * self.H, n_in))
                c = cell.init(rng, np.float64, True)
                p[f"{side}.layer{i}.W"], p[f"{side}.layer{i}.b"] = c["W"], c["b"]
        p["out.V"] = layers.uniform(rng, self.H, (self.Y, self.H))
        p["out.c"] = np.zeros(self.Y)
        if self.attention:
            p["att.W"] = layers.uniform(rng, self.H, (self.H, self.H))
            p["att.V"] = layers.uniform(rng, self.H, (self.Y, self.H))
        return self.as_layout(p, dtype)

    def as_layout(self, params: dict, dtype=None) -> dict:
        return {k: np.ascontiguousarray(np.asarray(v, dtype=dtype or np.asarray(v).dtype)) for k, v in params.items()}

    def zeros_like(self, params: dict) -> dict:
        return {k: np.zeros_like(v) for k, v in params.items()}

    @staticmethod
    def _part(params: dict, prefix: str) -> dict:
        n = len(prefix)
        return {k[n:]: v for k, v in params.items() if k.startswith(prefix) and not k.endswith(".U")}

    # ------------------------------------------------------------ packed windows

    def _stack(self, side: str, params: dict, X: np.ndarray, T: int, B: int, ws, h0s=None):
        """Layers of one side over X (T*B, n_in): the top layer's states (T*B, H), per-layer
        (input, cache) records, and each layer's final state (views into the workspace)."""
        off = constant_offsets(T, B)
        cells = self.enc if side == "enc" else self.dec
        inp, records, finals = X, [], []
        for i, cell in enumerate(cells):
            U = params[f"{side}.layer{i}.U"]
            A = ws.get(f"{side}.A{i}", (T * B, U.shape[0]), U.dtype)
            np.matmul(inp, U.T, out=A)                   # (T*B, G*H)  one product over all rows
            S, cache = cell.forward(self._part(params, f"{side}.layer{i}."), A, off, ws,
                                    h0=None if h0s is None else h0s[i])
            records.append((inp, cache))
            last = S[(T - 1) * B:]                       # (B, H)  the final step's rows
            finals.append((last, cache["C"][(T - 1) * B:]) if self.pair else last)
            inp = S
        return inp, records, finals

    def forward(self, params: dict, x: np.ndarray, dec_in: np.ndarray, ws, free: bool = False):
        """Teacher-forced forward pass. x (Th, B, F) encoder inputs; dec_in (Tf, B, Y+Fk)
        decoder inputs [previous target values, known-future inputs]. ``free``: the
        previous values after the first step are replaced by the decoder's own outputs
        (run free from the same encoder pass, then held fixed). Returns yhat (Tf*B, Y)
        and the records ``backward`` needs."""
        Th, B, _ = x.shape
        Tf = dec_in.shape[0]
        E, enc_rec, finals = self._stack("enc", params, x.reshape(Th * B, -1), Th, B, ws)
        E = E.reshape(Th, B, self.H)                     # the encoder's top states, for attention
        if free and Tf > 1:
            Y = self.Y
            fed = self._run_free(params, list(finals), dec_in[0, :, :Y], dec_in[:, :, Y:], E)   # (Tf, B, Y)
            dec_in = dec_in.copy()
            dec_in[1:, :, :Y] = fed[:-1]
        S, dec_rec, _ = self._stack("dec", params, dec_in.reshape(Tf * B, -1), Tf, B, ws, finals)
        V = params["out.V"]
        yhat = ws.get("yhat", (Tf * B, self.Y), V.dtype)
        np.matmul(S, V.T, out=yhat)                      # (Tf*B, Y)
        yhat += params["out.c"]
        att = None
        if self.attention:
            Sb = S.reshape(Tf, B, self.H).transpose(1, 0, 2)          # (B, Tf, H)
            Eb = E.transpose(1, 0, 2)                                 # (B, Th, H)
            Qb = Sb @ params["att.W"]                                 # (B, Tf, H)
            Ab = _softmax(Qb @ Eb.transpose(0, 2, 1))                 # (B, Tf, Th)  weights over the history
            Cb = Ab @ Eb                                              # (B, Tf, H)   contexts
            C = Cb.transpose(1, 0, 2).reshape(Tf * B, self.H)
            yhat += C @ params["att.V"].T
            att = (Sb, Eb, Qb, Ab, C)
        return yhat, (Th, Tf, B, enc_rec, dec_rec, S, att)

    def loss_and_grads(self, params: dict, x: np.ndarray, dec_in: np.ndarray, y: np.ndarray, mask: np.ndarray,
                       grads: dict, ws, scale: float = 1.0, free: bool = False) -> float:
        """Summed loss over the entries where ``mask`` (Tf, B, Y) is 1; fills ``grads`` with
        the gradient of ``scale * loss``. y (Tf, B, Y) targets (any finite value where
        masked out). See ``forward`` for x, dec_in and free (no gradient flows through
        the fed-back outputs)."""
        yhat, rec = self.forward(params, x, dec_in, ws, free)
        Th, Tf, B, enc_rec, dec_rec, S, att = rec
        err = ws.get("err", yhat.shape, yhat.dtype)
        np.subtract(yhat, y.reshape(yhat.shape), out=err)
        m = mask.reshape(yhat.shape)
        err *= m                                          # (Tf*B, Y)  0 where not observed
        if self.loss == "mse":
            loss = float(np.dot(err.ravel(), err.ravel()))
            err *= 2.0 * scale                            # d/dyhat of scale * sum err^2
        else:
            loss = float(np.abs(err).sum())
            np.sign(err, out=err)
            err *= scale
        dY = err
        np.matmul(dY.T, S, out=grads["out.V"])            # (Y, H)
        np.sum(dY, axis=0, out=grads["out.c"])
        dS = ws.get("dS", S.shape, S.dtype)
        np.matmul(dY, params["out.V"], out=dS)            # (Tf*B, H)
        dE = None
        if att is not None:
            Sb, Eb, Qb, Ab, C = att
            np.matmul(dY.T, C, out=grads["att.V"])        # (Y, H)
            dCb = (dY @ params["att.V"]).reshape(Tf, B, self.H).transpose(1, 0, 2)   # (B, Tf, H)
            dAb = dCb @ Eb.transpose(0, 2, 1)                                       # (B, Tf, Th)
            dEb = Ab.transpose(0, 2, 1) @ dCb                                       # (B, Th, H)  via c = a e
            dZ = Ab * (dAb - np.sum(Ab * dAb, axis=2, keepdims=True))              # softmax backward
            dQb = dZ @ Eb                                                           # (B, Tf, H)
            dEb += dZ.transpose(0, 2, 1) @ Qb                                       # via the scores
            np.matmul(Sb.reshape(-1, self.H).T, dQb.reshape(-1, self.H), out=grads["att.W"])
            dS += (dQb @ params["att.W"].T).transpose(1, 0, 2).reshape(Tf * B, self.H)
            dE = dEb.transpose(1, 0, 2).reshape(Th * B, self.H)
        dfinal = self._backward_stack("dec", params, dec_rec, dS, Tf, B, grads, ws, None)
        if dE is None:
            dE = ws.get("dS", (Th * B, self.H), S.dtype)
            dE.fill(0)                                    # the encoder's outputs feed nothing but its final state
        self._backward_stack("enc", params, enc_rec, dE, Th, B, grads, ws, dfinal)
        return loss

    def _backward_stack(self, side, params, records, dS, T, B, grads, ws, dlast):
        """Backward through one side from the top layer's error dS (T*B, H); dlast: per
        layer, the error of its final state (or None). Returns per layer the error of
        its initial state (decoder) or None (encoder)."""
        off = constant_offsets(T, B)
        cells = self.enc if side == "enc" else self.dec
        dh0s = [None] * self.L
        for i in range(self.L - 1, -1, -1):
            inp, cache = records[i]
            pre = f"{side}.layer{i}."
            g = {"W": grads[pre + "W"], "b": grads[pre + "b"]}
            out = cells[i].backward(self._part(params, pre), cache, dS, off, -1, g, ws,
                                    dlast=None if dlast is None else dlast[i])
            if "h0" in cache:
                dA, dh0s[i] = out
            else:
                dA = out
            np.matmul(dA.T, inp, out=grads[pre + "U"])   # (G*H, n_in)
            if i:
                dS = ws.get(f"{side}.dS{i}", (T * B, self.H), dA.dtype)
                np.matmul(dA, params[pre + "U"], out=dS)  # (T*B, H)  to the layer below
        return dh0s

    # ------------------------------------------------------------ free running

    def encode(self, params: dict, x: np.ndarray, ws):
        """x (Th, B, F) -> (the encoder's final state per layer, its top states (Th, B, H)), copies."""
        Th, B, _ = x.shape
        E, _, finals = self._stack("enc", params, x.reshape(Th * B, -1), Th, B, ws)
        return ([tuple(s.copy() for s in f) if self.pair else f.copy() for f in finals],
                E.reshape(Th, B, self.H).copy())

    def predict(self, params: dict, x: np.ndarray, y0: np.ndarray, known: np.ndarray, ws) -> np.ndarray:
        """Free running: each decoder step is fed the previous step's output. x (Th, B, F);
        y0 (B, Y) the targets at the forecast origin; known (Tf, B, Fk) -> yhat (Tf, B, Y)."""
        state, E = self.encode(params, x, ws)
        return self._run_free(params, state, y0, known, E)

    def _run_free(self, params: dict, state: list, y0: np.ndarray, known: np.ndarray, E: np.ndarray) -> np.ndarray:
        """The decoder one step at a time from ``state`` (per layer; replaced, never
        modified in place), fed its own outputs: (Tf, B, Y). E (Th, B, H): the encoder's
        top states (for attention)."""
        Tf, B = known.shape[0], y0.shape[0]
        V, c = params["out.V"], params["out.c"]
        U0 = params["dec.layer0.U"]
        Uy, Uk = U0[:, :self.Y], U0[:, self.Y:]
        ak = known.reshape(Tf * B, -1) @ Uk.T if self.Fk else None    # (Tf*B, G*H) known parts at once
        out = np.empty((Tf, B, self.Y), V.dtype)
        prev = y0.astype(V.dtype)
        parts = [self._part(params, f"dec.layer{i}.") for i in range(self.L)]
        for k in range(Tf):
            a = prev @ Uy.T                               # (B, G*H)
            if ak is not None:
                a += ak[k * B:(k + 1) * B]
            for i, cell in enumerate(self.dec):
                state[i] = cell.step(parts[i], a, state[i])
                if i + 1 < self.L:
                    a = cell.output(state[i]) @ params[f"dec.layer{i + 1}.U"].T
            h = self.cell.output(state[-1])               # (B, H)
            prev = h @ V.T + c                            # (B, Y)
            if self.attention:
                a = _softmax(np.einsum("bh,tbh->bt", h @ params["att.W"], E))     # (B, Th)
                prev += np.einsum("bt,tbh->bh", a, E) @ params["att.V"].T
            out[k] = prev
        return out
