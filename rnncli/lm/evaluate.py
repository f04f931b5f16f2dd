"""Scoring text with a model: total negative log-likelihood over sentences, in
batches, so memory is bounded by a batch and never by the corpus.

Convention: every sentence starts from a zero hidden state; every token after
SENTENCE_START is predicted, SENTENCE_END included; words outside the vocabulary
are scored as UNKNOWN_TOKEN; cross-entropy = total NLL / predicted tokens;
perplexity = exp(cross-entropy)."""
from __future__ import annotations

import math

import numpy as np

from ..batching import Encoded, batch_by_tokens, pack
from ..nn.network import Network
from ..nn.workspace import Workspace

EVAL_BATCH = 256      # sentences; larger batches mean fewer sequential steps per token
EVAL_TOKENS = 32768   # and at most this many tokens, so memory is bounded by a batch


def score_batches(net: Network, params: dict, enc: Encoded, ws: Workspace, batch_size: int = EVAL_BATCH):
    """Yields (sentence indices, packed batch, per-row NLL) batch by batch, in corpus order."""
    for sel in batch_by_tokens(enc.lens, batch_size, EVAL_TOKENS):
        b = pack(enc, sel)
        nll = net.token_nll(params, b, ws, ws.get("nll", (b.N,), np.float64))
        yield sel, b, nll


def total_nll(net: Network, params: dict, enc: Encoded, ws: Workspace, progress=None) -> tuple[float, int]:
    total, n = 0.0, 0
    for _, b, nll in score_batches(net, params, enc, ws):
        total += float(nll.sum())
        n += b.N
        if progress:
            progress(b.N)
    return total, n


def summary(nll: float, tokens: int, sentences: int, oov: int, words: int) -> dict:
    ce = nll / tokens if tokens else float("nan")
    return {
        "sentences": sentences,
        "tokens": tokens,
        "oov_rate": oov / words if words else 0.0,
        "nll": nll,
        "cross_entropy": ce,
        "bits_per_token": ce / math.log(2),
        "perplexity": math.exp(ce) if ce < 700 else float("inf"),
    }


def per_sentence(net: Network, params: dict, enc: Encoded, ws: Workspace):
    """Yields (sentence index, ids, per-token surprisal in nats) in corpus order."""
    for sel, b, nll in score_batches(net, params, enc, ws):
        n = np.diff(b.offsets)
        sent_rows = b.order[b.sentence_of_row()]       # (N,) position within sel
        order = np.lexsort((np.repeat(np.arange(len(n)), n), sent_rows))
        surprisal = nll[order]                          # grouped by sentence, time-ascending
        counts = np.bincount(sent_rows, minlength=len(sel))
        bounds = np.r_[0, np.cumsum(counts)]
        for k, i in enumerate(sel):
            s = enc.starts[i]
            yield int(i), enc.ids[s:s + enc.lens[i]], surprisal[bounds[k]:bounds[k + 1]].copy()
