"""A slow, obviously-correct reference for rnncli.nn.seq2seq, written from the equations
in its docstring: one window at a time, Python loops over layers and time steps,
float64, the cells' reference steps (tests/reference_gated.py; Elman inline)."""
import numpy as np

from . import reference_gated as ref


def step_fn(cell, activation):
    if cell == "gru":
        return ref.gru_step
    if cell == "lstm":
        return ref.lstm_step
    f = np.tanh if activation == "tanh" else (lambda a: np.maximum(a, 0))
    return lambda p, a, h: f(a + p["b"] + p["W"] @ h)


def _layer(params, side, i):
    return {"W": params[f"{side}.layer{i}.W"], "b": params[f"{side}.layer{i}.b"]}


def _out(state, lstm):
    return state[0] if lstm else state


def encode(params, args, x):
    """x (Th, F) of one window -> the final state of every encoder layer, and the top
    layer's outputs (Th, H)."""
    step, L, H = step_fn(args["cell"], args["activation"]), args["layers"], args["hidden_dim"]
    lstm = args["cell"] == "lstm"
    states = [(np.zeros(H), np.zeros(H)) if lstm else np.zeros(H) for _ in range(L)]
    tops = []
    for t in range(len(x)):
        inp = x[t]
        for i in range(L):
            a = params[f"enc.layer{i}.U"] @ inp
            states[i] = step(_layer(params, "enc", i), a, states[i])
            inp = _out(states[i], lstm)
        tops.append(inp)
    return states, np.array(tops)


def decode(params, args, encoded, y0, known, targets=None):
    """One window's decoder from the encoder's final states. y0 (Y,) the value at the
    origin; known (Tf, Fk); targets (Tf, Y) given: teacher forcing (the true previous
    value is fed), None: free running (the previous output is fed). -> yhat (Tf, Y)."""
    step, L = step_fn(args["cell"], args["activation"]), args["layers"]
    lstm = args["cell"] == "lstm"
    states, tops = encoded
    states = list(states)
    prev = y0
    out = []
    for k in range(len(known)):
        inp = np.concatenate([prev, known[k]])
        for i in range(L):
            a = params[f"dec.layer{i}.U"] @ inp
            states[i] = step(_layer(params, "dec", i), a, states[i])
            inp = _out(states[i], lstm)
        yhat = params["out.V"] @ inp + params["out.c"]
        if args.get("attention"):
            yhat = yhat + attend(params["att.W"], params["att.V"], inp, tops)
        out.append(yhat)
        prev = targets[k] if targets is not None else yhat
    return np.array(out)


def attend(W, V, s, tops):
    """Luong's "general" attention of one decoder state s (H,) over the encoder's top
    states tops (Th, H), read out: V (sum_t a_t e_t), a = softmax_t(s W e_t)."""
    scores = np.array([s @ W @ e for e in tops])
    w = np.exp(scores - scores.max())
    w /= w.sum()
    context = sum(w[t] * tops[t] for t in range(len(tops)))
    return V @ context


def readout_loss(V, c, S, y, mask, loss):
    """The linear read-out's loss, one row at a time: the sum over observed entries
    (mask 1) of (V s + c - y)^2 (mse) or |V s + c - y| (mae)."""
    total = 0.0
    for s, t, m in zip(S, y, mask):
        e = (V @ s + c - t) * m
        total += float(np.sum(e ** 2) if loss == "mse" else np.sum(np.abs(e)))
    return total


def window_loss(params, args, x, y0, known, y, mask, inputs=None):
    """Teacher-forced loss of one window: sum over observed entries of the squared
    (mse) or absolute (mae) error. ``inputs`` (Tf, Y): the values fed after each
    step instead of the targets (e.g. self-generated ones): step k + 1 gets inputs[k]."""
    feed = y if inputs is None else inputs
    yhat = decode(params, args, encode(params, args, x), y0, known, targets=feed)
    e = (yhat - y) * mask
    return float(np.sum(e ** 2) if args["loss"] == "mse" else np.sum(np.abs(e)))


def predict(params, args, x, y0, known):
    return decode(params, args, encode(params, args, x), y0, known)
