"""The class-factored softmax (Goodman 2001; Mikolov et al. 2011, "Extensions of
recurrent neural network language model"): every word w belongs to exactly one of K
classes, and

    P(w | s) = P(class(w) | s) * P(w | class(w), s)
    P(k | s)  = softmax(Vk s [+ ck])_k                  Vk: (K, H), ck: (K,)
    P(w | k, s) = softmax over the words of class k of (V s [+ c])

so the distribution over all C words is exactly normalised, while a training or
scoring token costs K + |class(y)| logits instead of C. The word layer's parameters
V (C, H) and c (C,) have the full softmax's shapes and names (out.V, out.c); the
class layer adds out.Vk and out.ck.

The class map (``class_of``, (C,) ints) is a constructor argument, not a parameter: the
layer reports it in ``args``, which the network stores with its own (``Network.args``),
so checkpoints restore it and no optimizer ever sees it. ``frequency_classes`` builds
it by frequency binning.

Kernels work on packed batches (see cells.py) with no per-token Python: the class
layer is a full softmax over K "words" (``FullSoftmax``, one product for the batch);
the word layer sorts the batch's rows by their target's class and makes one product
per class present in the batch, against that class's rows of V (a view when the
class's words have consecutive ids, as frequency binning gives; a gather otherwise).
Gradients are written only into the rows of V (and c) of the classes present.
"""
from __future__ import annotations

import numpy as np

from .layers import uniform
from .output import FullSoftmax
from .softmax import NO_SHIFT_BOUND, exp_, word_logits


def frequency_classes(counts, K: int, power: float = 1.0) -> np.ndarray:
    """Mikolov et al.'s frequency binning: words taken in id order (rnncli's vocabulary
    lists the specials first, then words by descending count) are cut into K classes of
    consecutive ids, each holding about 1/K of the total ``counts ** power`` (power 1:
    equal unigram mass; 0.5: equal mass of the square roots). Every class gets at
    least one word. Returns class_of (C,) int64, non-decreasing."""
    w = np.asarray(counts, np.float64) ** power
    C = len(w)
    if not 1 <= K <= C:
        raise ValueError(f"{K} classes for {C} words: need 1 <= classes <= words")
    if w.sum() <= 0:                                 # no counts: classes of equal size
        w = np.ones(C)
    cum = np.cumsum(w)
    total = cum[-1]
    # class j starts at the first word whose cumulative mass passes j/K (word i's mass
    # is counted as starting at cum[i-1]), then starts are spread so none is empty
    starts = np.searchsorted(cum - w, total * np.arange(K) / K, side="left")
    starts[0] = 0
    j = np.arange(K)
    # strictly increasing (starts - j non-decreasing), and K-j words left from class j on
    starts = np.minimum(np.maximum.accumulate(starts - j), C - K) + j
    class_of = np.zeros(C, np.int64)
    class_of[starts[1:]] = 1
    return np.cumsum(class_of)


def default_classes(C: int) -> int:
    """About sqrt(C) classes, which minimises K + C/K logits per token."""
    return max(1, min(C, int(round(np.sqrt(C)))))


class ClassSoftmax:
    """A K-way softmax over classes times a softmax over the target's class."""

    def __init__(self, C: int, H: int, classes: int | None = None, class_of=None):
        if class_of is None:
            raise ValueError("the class softmax needs a class map (class_of)")
        cls = np.asarray(class_of)
        if cls.shape != (C,) or (cls.size and cls.dtype.kind not in "iu"):
            raise ValueError(f"class map must be {C} integers, one per word")
        K = int(classes) if classes is not None else int(cls.max()) + 1
        if not 1 <= K <= max(C, 1):              # every class needs a word (and a checkpoint may lie)
            raise ValueError(f"{K} classes for {C} words: need 1 <= classes <= words")
        if C and (cls.min() < 0 or cls.max() >= K):
            raise ValueError(f"class map holds classes outside 0..{K - 1}")
        sizes = np.bincount(cls, minlength=K)
        if K < 1 or (sizes == 0).any():
            raise ValueError(f"every one of the {K} classes needs at least one word")
        self.C, self.H, self.K = C, H, K
        self.cls = cls.astype(np.intp)                   # (C,) word -> class
        self.order = np.argsort(self.cls, kind="stable")  # (C,) words grouped by class, ids ascending
        self.start = np.r_[0, np.cumsum(sizes)].astype(np.intp)  # class k: order[start[k]:start[k+1]]
        self.pos = np.empty(C, np.intp)                  # (C,) position of each word within its class
        self.pos[self.order] = np.arange(C) - self.start[self.cls[self.order]]
        self.cls_sorted = self.cls[self.order]
        # per class: a slice of V when its words have consecutive ids, else their ids
        self.rows = []
        for k in range(K):
            ids = self.order[self.start[k]:self.start[k + 1]]
            contiguous = ids[-1] - ids[0] == len(ids) - 1
            self.rows.append(slice(int(ids[0]), int(ids[-1]) + 1) if contiguous else ids)
        self.sizes = sizes
        self.class_layer = FullSoftmax(K, H)             # P(k | s): a full softmax over K "words"
        self.args = {"classes": K, "class_of": self.cls.tolist()}

    def shapes(self, bias: bool) -> dict:
        C, H, K = self.C, self.H, self.K
        s = {"V": (C, H), "Vk": (K, H)}
        if bias:
            s.update({"c": (C,), "ck": (K,)})
        return s

    def init(self, rng: np.random.Generator, dtype, bias: bool = False) -> dict:
        p = {"V": uniform(rng, self.H, (self.C, self.H)), "Vk": uniform(rng, self.H, (self.K, self.H))}
        if bias:
            p["c"] = np.zeros(self.C)
            p["ck"] = np.zeros(self.K)
        return {k: v.astype(dtype) for k, v in p.items()}

    @staticmethod
    def class_params(p: dict) -> dict:
        """The class layer's parameters under the full softmax's names."""
        return {"V": p["Vk"], **({"c": p["ck"]} if "ck" in p else {})}

    def _word_logits(self, p: dict, S: np.ndarray, y: np.ndarray, ws):
        """The word layer's forward pass. The rows of S (N, H) are grouped by their target's
        class; the logits of grouped row i against every word of its class lie in one flat
        buffer at L[row[i]:row[i+1]], exponentiated there. Returns a dict with order (N,)
        (grouped row i is row order[i]), Hs (N, H) the grouped rows, bounds (K+1,), the
        classes present, row (N+1,), L, r (N,) the sums of exp over each row's class, and
        the target's log-probability within its class (N,) float64, in grouped order."""
        N, H = S.shape
        dt = p["V"].dtype
        cy = self.cls[y]
        order = np.argsort(cy, kind="stable")
        counts = np.bincount(cy, minlength=self.K)
        bounds = np.r_[0, np.cumsum(counts)]
        present = np.flatnonzero(counts)
        cg = cy[order]                                   # (N,) class of each grouped row
        size = self.sizes[cg]                            # (N,) words in that class
        row = np.zeros(N + 1, np.intp)
        np.cumsum(size, out=row[1:])
        Hs = ws.get("cs.Hs", (N, H), dt)
        np.take(S, order, axis=0, out=Hs)                # (N, H)
        L = ws.get("cs.L", (int(row[-1]),), dt)          # (sum of class sizes over rows,)
        for k in present.tolist():                       # one product per class present
            a, b = int(bounds[k]), int(bounds[k + 1])
            rk = self.rows[k]
            Z = L[row[a]:row[b]].reshape(b - a, -1)      # (n_k, s_k)
            np.matmul(Hs[a:b], p["V"][rk].T, out=Z)
            if "c" in p:
                Z += p["c"][rk]
        zy = L[row[:-1] + self.pos[y[order]]].astype(np.float64)   # (N,)  target logits
        # The shift is skipped when every logit is small enough: checking the batch's own
        # logits costs a pass over L, much less than a bound from all of V (C x H).
        lim = NO_SHIFT_BOUND[np.dtype(dt)]
        if len(L) and max(float(L.max()), -float(L.min())) < lim:
            shift = 0.0
            ws.rows_parallel(exp_, L)
        else:
            shift = np.maximum.reduceat(L, row[:-1]) if N else np.zeros(0, dt)   # (N,) row maxima
            L -= np.repeat(shift, size)
            ws.rows_parallel(exp_, L)
            shift = shift.astype(np.float64)
        r = np.add.reduceat(L, row[:-1]) if N else np.zeros(0, dt)            # (N,)
        logp = zy - shift - np.log(r, dtype=np.float64)
        return {"order": order, "Hs": Hs, "bounds": bounds, "present": present, "row": row, "L": L,
                "r": r, "logp": logp, "target": row[:-1] + self.pos[y[order]]}

    def loss_and_grad(self, p: dict, Hout: np.ndarray, y: np.ndarray, grads: dict, ws,
                      scale: float = 1.0, hbound: float = 1.0):
        """Summed NLL of the rows of Hout (N, H) with targets y (N,); fills grads (V, Vk
        and with biases c, ck) with the gradient of ``scale * loss``; returns (nll, dHout).
        Rows of V (and c) of classes absent from the batch get a zero gradient."""
        N, H = Hout.shape
        dt = p["V"].dtype
        cg = {"V": grads["Vk"], **({"c": grads["ck"]} if "ck" in grads else {})}
        nll, dh = self.class_layer.loss_and_grad(self.class_params(p), Hout, self.cls[y], cg, ws, scale, hbound)

        f = self._word_logits(p, Hout, y, ws)
        order, Hs, bounds, row, L = f["order"], f["Hs"], f["bounds"], f["row"], f["L"]
        nll -= float(f["logp"].sum())
        r = f["r"]
        L[f["target"]] -= r                              # each row: r * (softmax - onehot)
        inv = (scale / r).astype(dt)                     # (N,)
        Hn = ws.get("cs.Hn", (N, H), dt)
        np.multiply(Hs, inv[:, None], out=Hn)            # rows scaled by scale / r
        dHs = ws.get("cs.dHs", (N, H), dt)
        gV, gc = grads["V"], grads.get("c")
        present = f["present"]
        if len(present) < self.K:                        # rows of absent classes: zero
            absent = np.ones(self.K, bool)
            absent[present] = False
            for k in np.flatnonzero(absent).tolist():
                gV[self.rows[k]] = 0
                if gc is not None:
                    gc[self.rows[k]] = 0
        for k in present.tolist():
            a, b = int(bounds[k]), int(bounds[k + 1])
            rk = self.rows[k]
            Z = L[row[a]:row[b]].reshape(b - a, -1)      # (n_k, s_k)  r * (softmax - onehot)
            np.matmul(Z, p["V"][rk], out=dHs[a:b])       # (n_k, H)
            if isinstance(rk, slice):
                np.matmul(Z.T, Hn[a:b], out=gV[rk])      # (s_k, H)   scale * (P - onehot)^T H
            else:
                gV[rk] = Z.T @ Hn[a:b]
            if gc is not None:
                gc[rk] = Z.T @ inv[a:b]
        dHs *= inv[:, None]                              # scale * (P - onehot) V
        dh[order] += dHs                                 # order is a permutation: no repeats
        return nll, dh

    def token_nll(self, p: dict, S: np.ndarray, y: np.ndarray, ws, out: np.ndarray,
                  hbound: float = 1.0) -> np.ndarray:
        """-log P(y_t | s_t) for every row of S (N, H), float64."""
        self.class_layer.token_nll(self.class_params(p), S, self.cls[y], ws, out, hbound)
        f = self._word_logits(p, S, y, ws)
        out[f["order"]] -= f["logp"]
        return out

    def log_probs(self, p: dict, s: np.ndarray, hbound: float = 1.0, ws=None) -> np.ndarray:
        """(B, H) -> (B, C) log-probabilities of every word in float64:
        log P(class(w)) + log P(w | class(w)); ``ws`` does the word product on its threads."""
        lc = self.class_layer.log_probs(self.class_params(p), s, hbound)   # (B, K)
        z = word_logits(s, p["V"], ws)                   # (B, C)
        if "c" in p:
            z += p["c"]
        zs = z.astype(np.float64)[:, self.order]         # (B, C) words grouped by class
        first = self.start[:-1]
        m = np.maximum.reduceat(zs, first, axis=1)       # (B, K) per-class max
        zs -= m[:, self.cls_sorted]
        lse = np.log(np.add.reduceat(np.exp(zs), first, axis=1))   # (B, K)
        zs += (lc - lse)[:, self.cls_sorted]
        out = np.empty_like(zs)
        out[:, self.order] = zs
        return out

