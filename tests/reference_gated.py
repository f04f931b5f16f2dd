"""A slow, obviously-correct reference for the GRU and LSTM cells, written straight
from the equations in rnncli/nn/gated.py: one sentence at a time, Python loops over
time, float64, per-gate weight blocks, no tricks. ``a`` is one sentence's input
projections (T, gates*H) without bias."""
import numpy as np


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def blocks(v, k):
    """The k gate blocks of a (k*H, ...) array, H rows each."""
    H = v.shape[0] // k
    return [v[j * H:(j + 1) * H] for j in range(k)]


# ---------------------------------------------------------------- GRU, gates [r | z | n]


def gru_step(p, a, h):
    Wr, Wz, Wn = blocks(p["W"], 3)
    br, bz, bn = blocks(p["b"], 3)
    ar, az, an = blocks(a, 3)
    r = sigmoid(ar + br + Wr @ h)
    z = sigmoid(az + bz + Wz @ h)
    n = np.tanh(an + bn + r * (Wn @ h))
    return (1 - z) * n + z * h


def gru_forward(p, a):
    """Hidden states h[0..T-1] of one sentence."""
    H = p["W"].shape[1]
    h = np.zeros(H)
    hs = []
    for t in range(len(a)):
        h = gru_step(p, a[t], h)
        hs.append(h)
    return np.array(hs).reshape(len(a), H)


def gru_grads(p, a, dh_out, truncate):
    """Gradients of sum_t dh_out[t] . h_t with the error of output t sent back through
    steps t, t-1, ..., t-truncate only (-1: all). Returns dA (T, 3H), dW, db."""
    Wr, Wz, Wn = blocks(p["W"], 3)
    br, bz, bn = blocks(p["b"], 3)
    H = Wr.shape[1]
    T = len(a)
    hs = gru_forward(p, a)
    dA = np.zeros_like(a)
    dW = np.zeros_like(p["W"])
    db = np.zeros_like(p["b"])
    for t in reversed(range(T)):
        dh = dh_out[t].copy()
        lowest = 0 if truncate < 0 else max(0, t - truncate)
        for k in range(t, lowest - 1, -1):
            hp = hs[k - 1] if k > 0 else np.zeros(H)
            ar, az, an = blocks(a[k], 3)
            r = sigmoid(ar + br + Wr @ hp)
            z = sigmoid(az + bz + Wz @ hp)
            n = np.tanh(an + bn + r * (Wn @ hp))
            # h = (1 - z) n + z hp
            dn = dh * (1 - z)
            dz = dh * (hp - n)
            dn_pre = dn * (1 - n ** 2)
            dr = dn_pre * (Wn @ hp)
            dr_pre = dr * r * (1 - r)
            dz_pre = dz * z * (1 - z)
            d = np.concatenate([dr_pre, dz_pre, dn_pre])
            dA[k] += d
            db += d
            dW[:H] += np.outer(dr_pre, hp)
            dW[H:2 * H] += np.outer(dz_pre, hp)
            dW[2 * H:] += np.outer(dn_pre * r, hp)
            dh = dh * z + Wr.T @ dr_pre + Wz.T @ dz_pre + Wn.T @ (dn_pre * r)
    return dA, dW, db


# ---------------------------------------------------------------- LSTM, gates [i | f | o | g]


def lstm_step(p, a, state):
    """state (h, c) -> (h, c)"""
    h, c = state
    Wi, Wf, Wo, Wg = blocks(p["W"], 4)
    bi, bf, bo, bg = blocks(p["b"], 4)
    ai, af, ao, ag = blocks(a, 4)
    i = sigmoid(ai + bi + Wi @ h)
    f = sigmoid(af + bf + Wf @ h)
    o = sigmoid(ao + bo + Wo @ h)
    g = np.tanh(ag + bg + Wg @ h)
    c = f * c + i * g
    return o * np.tanh(c), c


def lstm_forward(p, a):
    """Hidden states h[0..T-1] and cell states c[0..T-1] of one sentence."""
    H = p["W"].shape[1]
    state = (np.zeros(H), np.zeros(H))
    hs, cs = [], []
    for t in range(len(a)):
        state = lstm_step(p, a[t], state)
        hs.append(state[0])
        cs.append(state[1])
    return np.array(hs).reshape(len(a), H), np.array(cs).reshape(len(a), H)


def lstm_grads(p, a, dh_out, truncate):
    """As gru_grads; the truncated error flows back through both h and c."""
    Wi, Wf, Wo, Wg = blocks(p["W"], 4)
    bi, bf, bo, bg = blocks(p["b"], 4)
    H = Wi.shape[1]
    T = len(a)
    hs, cs = lstm_forward(p, a)
    dA = np.zeros_like(a)
    dW = np.zeros_like(p["W"])
    db = np.zeros_like(p["b"])
    for t in reversed(range(T)):
        dh = dh_out[t].copy()
        dc = np.zeros(H)
        lowest = 0 if truncate < 0 else max(0, t - truncate)
        for k in range(t, lowest - 1, -1):
            hp = hs[k - 1] if k > 0 else np.zeros(H)
            cp = cs[k - 1] if k > 0 else np.zeros(H)
            ai, af, ao, ag = blocks(a[k], 4)
            i = sigmoid(ai + bi + Wi @ hp)
            f = sigmoid(af + bf + Wf @ hp)
            o = sigmoid(ao + bo + Wo @ hp)
            g = np.tanh(ag + bg + Wg @ hp)
            c = f * cp + i * g
            tc = np.tanh(c)
            # h = o tanh(c)
            do = dh * tc
            dc = dc + dh * o * (1 - tc ** 2)
            di, df, dg = dc * g, dc * cp, dc * i
            d = np.concatenate([di * i * (1 - i), df * f * (1 - f), do * o * (1 - o), dg * (1 - g ** 2)])
            dA[k] += d
            db += d
            dW += np.outer(d, hp)
            dh = p["W"].T @ d
            dc = dc * f
    return dA, dW, db
