"""A slow, obviously-correct reference written straight from the equations:
one sentence at a time, Python loops over time, float64, no tricks. The fast
batched kernels in rnncli.nn must agree with it."""
import numpy as np


def softmax(z):
    e = np.exp(z - np.max(z))
    return e / e.sum()


def forward(p, x):
    """x: input ids of one sentence. Returns hidden states s[0..T-1] and outputs o."""
    U, V, W = p["U"], p["V"], p["W"]
    H = W.shape[0]
    T = len(x)
    s = np.zeros((T, H))
    o = np.zeros((T, V.shape[0]))
    prev = np.zeros(H)
    for t in range(T):
        onehot = np.zeros(U.shape[1])
        onehot[x[t]] = 1.0
        a = U @ onehot + W @ prev
        if "b" in p:
            a = a + p["b"]
        s[t] = np.tanh(a)
        z = V @ s[t]
        if "c" in p:
            z = z + p["c"]
        o[t] = softmax(z)
        prev = s[t]
    return s, o


def sentence_loss(p, ids):
    """Summed cross-entropy of one sentence given as ids START w1 .. wn END."""
    x, y = ids[:-1], ids[1:]
    _, o = forward(p, x)
    return -sum(np.log(o[t, y[t]]) for t in range(len(y)))


def sentence_grads(p, ids, truncate):
    """The tutorial's truncated BPTT: the error of output t flows back through at most
    ``truncate`` earlier steps (-1: all)."""
    x, y = ids[:-1], ids[1:]
    T = len(y)
    s, o = forward(p, x)
    g = {k: np.zeros_like(v) for k, v in p.items()}
    H = p["W"].shape[0]
    for t in reversed(range(T)):
        d_o = o[t].copy()
        d_o[y[t]] -= 1.0
        g["V"] += np.outer(d_o, s[t])
        if "c" in g:
            g["c"] += d_o
        delta = (p["V"].T @ d_o) * (1 - s[t] ** 2)
        lowest = 0 if truncate < 0 else max(0, t - truncate)
        for k in range(t, lowest - 1, -1):
            s_prev = s[k - 1] if k > 0 else np.zeros(H)
            g["W"] += np.outer(delta, s_prev)
            g["U"][:, x[k]] += delta
            if "b" in g:
                g["b"] += delta
            delta = (p["W"].T @ delta) * (1 - s_prev ** 2)
    return g


# ---------------------------------------------------------------- the Elman cell alone


def elman_forward(p, a, activation="tanh"):
    """Hidden states s[0..T-1] of one sentence from its input projections a (T, H)
    (U x_t, without bias): s_t = f(a_t + W s_{t-1} [+ b])."""
    f = np.tanh if activation == "tanh" else (lambda z: np.maximum(z, 0.0))
    H = p["W"].shape[0]
    s = np.zeros((len(a), H))
    prev = np.zeros(H)
    for t in range(len(a)):
        z = a[t] + p["W"] @ prev + (p["b"] if "b" in p else 0.0)
        s[t] = f(z)
        prev = s[t]
    return s


def elman_grads(p, a, dh_out, truncate, activation="tanh"):
    """Gradients of sum_t dh_out[t] . s_t with the error of output t sent back through
    steps t, t-1, ..., t-truncate only (-1: all). Returns dA (T, H), dW, db."""
    s = elman_forward(p, a, activation)
    H = p["W"].shape[0]
    dA, dW, db = np.zeros_like(a), np.zeros_like(p["W"]), np.zeros(H)
    deriv = (lambda v: 1 - v ** 2) if activation == "tanh" else (lambda v: (v > 0).astype(float))
    for t in reversed(range(len(a))):
        delta = dh_out[t] * deriv(s[t])
        lowest = 0 if truncate < 0 else max(0, t - truncate)
        for k in range(t, lowest - 1, -1):
            s_prev = s[k - 1] if k > 0 else np.zeros(H)
            dA[k] += delta
            db += delta
            dW += np.outer(delta, s_prev)
            delta = (p["W"].T @ delta) * deriv(s_prev)
    return dA, dW, db


# ---------------------------------------------------------------- dense input layer

def dense(U, X):
    """a_t = U x_t for every row x_t of X (N, F)."""
    return np.array([U @ x for x in X])


# ---------------------------------------------------------------- class-factored softmax
# P(w | s) = P(k | s) P(w | k, s), k = class_of[w]; P(k | s) = softmax(Vk s + ck)_k;
# P(w | k, s) = softmax over the words j of class k of (V_j s + c_j).


def class_word_probs(p, class_of, s, k):
    """(ids of class k, P(. | k, s) over them)."""
    ids = np.flatnonzero(np.asarray(class_of) == k)
    z = p["V"][ids] @ s
    if "c" in p:
        z = z + p["c"][ids]
    return ids, softmax(z)


def class_probs(p, s):
    z = p["Vk"] @ s
    if "ck" in p:
        z = z + p["ck"]
    return softmax(z)


def class_distribution(p, class_of, s):
    """P(w | s) for every word w, one word at a time."""
    pk = class_probs(p, s)
    out = np.zeros(p["V"].shape[0])
    for w in range(len(out)):
        k = class_of[w]
        ids, pw = class_word_probs(p, class_of, s, k)
        out[w] = pk[k] * pw[list(ids).index(w)]
    return out


def class_sentence_loss(p, class_of, ids):
    x, y = ids[:-1], ids[1:]
    s, _ = forward({k: p[k] for k in ("U", "W", "b") if k in p} | {"V": p["Vk"]}, x)
    total = 0.0
    for t in range(len(y)):
        k = class_of[y[t]]
        members, pw = class_word_probs(p, class_of, s[t], k)
        total -= np.log(class_probs(p, s[t])[k]) + np.log(pw[list(members).index(y[t])])
    return total


def class_sentence_grads(p, class_of, ids, truncate):
    """The tutorial's truncated BPTT with the class-factored output layer."""
    x, y = ids[:-1], ids[1:]
    T = len(y)
    s, _ = forward({k: p[k] for k in ("U", "W", "b") if k in p} | {"V": p["Vk"]}, x)
    g = {k: np.zeros_like(v) for k, v in p.items()}
    H = p["W"].shape[0]
    for t in reversed(range(T)):
        k = class_of[y[t]]
        d_k = class_probs(p, s[t])                        # dLoss/d(class logits)
        d_k[k] -= 1.0
        members, pw = class_word_probs(p, class_of, s[t], k)
        d_w = pw.copy()                                   # dLoss/d(logits of class k's words)
        d_w[list(members).index(y[t])] -= 1.0
        g["Vk"] += np.outer(d_k, s[t])
        g["V"][members] += np.outer(d_w, s[t])
        if "c" in g:
            g["ck"] += d_k
            g["c"][members] += d_w
        delta = (p["Vk"].T @ d_k + p["V"][members].T @ d_w) * (1 - s[t] ** 2)
        lowest = 0 if truncate < 0 else max(0, t - truncate)
        for j in range(t, lowest - 1, -1):
            s_prev = s[j - 1] if j > 0 else np.zeros(H)
            g["W"] += np.outer(delta, s_prev)
            g["U"][:, x[j]] += delta
            if "b" in g:
                g["b"] += delta
            delta = (p["W"].T @ delta) * (1 - s_prev ** 2)
    return g
