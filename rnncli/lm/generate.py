"""Sampling sentences from a model, all requested sentences advancing together."""
from __future__ import annotations

import numpy as np

from ..config import END_ID, START_ID, UNK_ID
from ..errors import DataError
from ..nn.network import Network


def sample(net: Network, params: dict, n: int, rng: np.random.Generator, min_length: int = 7, max_length: int = 50,
           temperature: float = 1.0, top_k: int = 0, prefix: list[int] | None = None, ws=None):
    """Returns n (word ids, log-probability, ended) tuples. Word ids exclude START/END.

    UNKNOWN_TOKEN is removed from the distribution before sampling (never emitted,
    no rejection loop); SENTENCE_END is removed while a sentence is shorter than
    ``min_length`` words; a sentence still open at ``max_length`` words is cut.
    The log-probability is the model's own (temperature 1, nothing removed) of the
    words, plus SENTENCE_END when the sentence ended, given SENTENCE_START:
    the number ``rnn eval --per-sentence`` reports for the same sentence. ``ws`` (a
    Workspace) does the products with the output layer on its threads."""
    prefix = list(prefix or [])
    s = net.step(params, np.full(n, START_ID), net.start(n))
    logp_total = np.zeros(n)
    words = [list(prefix) for _ in range(n)]
    for w in prefix:
        logp_total += net.log_probs(params, s, ws)[:, w]
        s = net.step(params, np.full(n, w), s)
    done = np.zeros(n, bool)
    ended = np.zeros(n, bool)
    length = len(prefix)
    while length < max_length and not done.all():
        logp = net.log_probs(params, s, ws)                          # (n, C) float64
        if np.isnan(logp).any():
            raise DataError(f"the model's next-word probabilities are NaN: its weights are too large for "
                            f"{next(iter(params.values())).dtype} arithmetic; cannot sample")
        q = logp.copy()
        q[:, [UNK_ID, START_ID]] = -np.inf
        if length < min_length:
            q[:, END_ID] = -np.inf
        if temperature == 0:
            nxt = q.argmax(axis=1)
        else:
            q -= q.max(axis=1, keepdims=True)  # first: a tiny temperature would make every entry -inf
            with np.errstate(over="ignore"):               # -inf: probability 0, as intended
                q /= temperature
            if top_k and top_k < q.shape[1]:
                kth = np.partition(q, -top_k, axis=1)[:, -top_k][:, None]
                q[q < kth] = -np.inf
            q -= q.max(axis=1, keepdims=True)
            p = np.exp(q)                                            # excluded ids: exactly 0
            c = np.cumsum(p, axis=1)
            u = rng.random(n) * c[:, -1]
            nxt = (c <= u[:, None]).sum(axis=1)
            # rounding at the top edge could step past the last allowed id
            bad = (nxt >= q.shape[1]) | (p[np.arange(n), np.minimum(nxt, q.shape[1] - 1)] == 0)
            if bad.any():
                nxt[bad] = p[bad].argmax(axis=1)
        live = ~done
        logp_total[live] += logp[live, nxt[live]]
        is_end = (nxt == END_ID) & live
        ended |= is_end
        for i in np.flatnonzero(live & ~is_end):
            words[i].append(int(nxt[i]))
        done |= is_end
        length += 1
        s = net.step(params, nxt, s)
    # sentences still open at max_length are cut: no SENTENCE_END, and none scored
    return [(words[i], float(logp_total[i]), bool(ended[i])) for i in range(n)]


def detokenize(words: list[str]) -> str:
    """Treebank detokenization, first letter and a lone 'i' capitalised."""
    from nltk.tokenize.treebank import TreebankWordDetokenizer
    text = TreebankWordDetokenizer().detokenize(["I" if w == "i" else w for w in words])
    return text[:1].upper() + text[1:]
