#!/usr/bin/env python3
"""Synthetic corpora whose best achievable perplexity is known: sentences sampled from
an interpolated n-gram model estimated on a real tokenized corpus, written as
tokenized corpora (`rnn tokenize`'s format, so `rnn train`/`rnn eval` read the ids
directly and no tokenizer stands between the source and the model).

  python benchmarks/synthetic.py SOURCE.npz OUTDIR --tokens 1e6 [--order 2] [--seed 0]

SOURCE.npz is any `rnn tokenize` output (its vocabulary becomes the synthetic one).
The source model, with c() counts in SOURCE's id stream (sentences back to back, so
the context of a first word is (SENTENCE_END, SENTENCE_START)):

  order 2:  P(w | u, v) = l3 c(u,v,w)/c(u,v) + l2 c(v,w)/c(v) + l1 c(w)/N
  order 1:  P(w | v)    = (l3 + l2) c(v,w)/c(v) + l1 c(w)/N

(l1, l2, l3 = --lambdas; where c(u,v) = 0 its weight goes to the bigram term; the
unigram never emits SENTENCE_START). Sampling is exact: a term is chosen with its
weight, then a random occurrence of the context in SOURCE gives the next id.

OUTDIR gets train.npz (--tokens predicted tokens) and test.npz (--test-fraction of
that), and floor.json: the source's own cross-entropy on test.npz under rnncli's
evaluation convention (every token after SENTENCE_START is predicted, SENTENCE_END
included), i.e. the perplexity that no model can beat in expectation.
"""
import argparse
import json
import math
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from rnncli.batching import Encoded  # noqa: E402
from rnncli.config import END_ID as END, START_ID as START  # noqa: E402
from rnncli.lm.corpusfile import load_corpus, save_corpus  # noqa: E402


class NGramSource:
    """Counts of SOURCE's id stream, kept as sorted keys so that counts and random
    occurrences are binary searches (no C x C table)."""

    def __init__(self, stream, C, order, lambdas):
        s = np.asarray(stream, dtype=np.int64)
        self.s, self.C, self.order = s, C, order
        self.l1, self.l2, self.l3 = lambdas
        n = len(s)
        # contexts with a successor: positions 0 .. n-2 (bigram), 0 .. n-3 (trigram)
        self.k1 = s[:n - 1]
        self.p1 = np.argsort(self.k1, kind="stable")
        self.k1s = self.k1[self.p1]
        k2 = s[:n - 2] * C + s[1:n - 1]
        self.p2 = np.argsort(k2, kind="stable")
        self.k2s = k2[self.p2]
        self.k3s = np.sort((s[:n - 2] * C + s[1:n - 1]) * C + s[2:])
        self.b2s = np.sort(s[:n - 1] * C + s[1:])
        self.uni_pos = np.flatnonzero(s != START)          # the unigram never emits START
        self.uni = np.bincount(s[self.uni_pos], minlength=C).astype(np.float64) / len(self.uni_pos)

    @staticmethod
    def _count(sorted_keys, keys):
        return np.searchsorted(sorted_keys, keys, "right") - np.searchsorted(sorted_keys, keys, "left")

    def prob(self, u, v, w):
        """P(w | u, v) for arrays of contexts and words."""
        C = self.C
        c1 = self._count(self.k1s, v).astype(np.float64)
        big = self._count(self.b2s, v * C + w) / np.maximum(c1, 1)
        l2, l3 = self.l2, self.l3
        if self.order == 2:
            c2 = self._count(self.k2s, u * C + v).astype(np.float64)
            tri = self._count(self.k3s, (u * C + v) * C + w) / np.maximum(c2, 1)
            p = np.where(c2 > 0, l3 * tri + l2 * big, (l2 + l3) * big)
        else:
            p = (l2 + l3) * big
        return p + self.l1 * self.uni[w]

    def sample(self, u, v, rng):
        """One next id for each context (u, v)."""
        m = len(v)
        r = rng.random(m)
        out = np.empty(m, np.int64)
        uni = r < self.l1
        out[uni] = self.s[self.uni_pos[rng.integers(0, len(self.uni_pos), uni.sum())]]
        rest = ~uni
        use3 = np.zeros(m, bool)
        if self.order == 2:
            k = u * self.C + v
            lo, hi = np.searchsorted(self.k2s, k, "left"), np.searchsorted(self.k2s, k, "right")
            use3 = rest & (r >= self.l1 + self.l2) & (hi > lo)
            j = lo[use3] + (rng.random(use3.sum()) * (hi[use3] - lo[use3])).astype(np.int64)
            out[use3] = self.s[self.p2[j] + 2]
        use2 = rest & ~use3
        lo, hi = np.searchsorted(self.k1s, v[use2], "left"), np.searchsorted(self.k1s, v[use2], "right")
        j = lo + (rng.random(use2.sum()) * (hi - lo)).astype(np.int64)
        out[use2] = self.s[self.p1[j] + 1]
        return out


def generate(src, n_tokens, mean_len, rng, max_len=10_000):
    """Whole sentences (START ... END), about n_tokens predicted tokens in all. Many are
    sampled at once, one per stream, and every stream makes the same fixed number of
    sentences: stopping at a token count instead would keep the sentences that end
    early, a sample biased towards short ones."""
    streams = int(min(4096, max(16, n_tokens // (50 * mean_len))))
    per_stream = max(1, math.ceil(n_tokens / (streams * mean_len)))
    left = np.full(streams, per_stream)
    u = np.full(streams, END, np.int64)
    v = np.full(streams, START, np.int64)
    cur = [[] for _ in range(streams)]
    sentences = []
    active = np.arange(streams)
    while len(active):
        w = src.sample(u[active], v[active], rng)
        for i, wi in zip(active.tolist(), w.tolist()):
            if wi == END:
                sentences.append(np.array([START, *cur[i], END], np.int32))
                cur[i] = []
                left[i] -= 1
            else:
                cur[i].append(wi)
                if len(cur[i]) >= max_len:
                    sys.exit("synthetic: a sentence ran past max_len; give the unigram term more weight")
        ended = w == END
        u[active] = np.where(ended, END, v[active])
        v[active] = np.where(ended, START, w)
        active = active[left[active] > 0]
    return sentences


def encode(sentences):
    ids = np.concatenate(sentences).astype(np.int32)
    offsets = np.zeros(len(sentences) + 1, np.int64)
    np.cumsum([len(s) for s in sentences], out=offsets[1:])
    return Encoded.from_offsets(ids, offsets)


def floor(src, sentences):
    """Cross-entropy (nats/token) of the source on these sentences, rnncli's convention."""
    us, vs, ws = [], [], []
    for s in sentences:
        s = s.astype(np.int64)
        ctx = np.concatenate([[END], s])        # the context of the first word is (END, START)
        ws.append(s[1:])
        vs.append(s[:-1])
        us.append(ctx[:-2])
    u, v, w = (np.concatenate(x) for x in (us, vs, ws))
    p = src.prob(u, v, w)
    return float(-np.log(p).mean()), len(w)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("source", help="a tokenized corpus (rnn tokenize output)")
    ap.add_argument("outdir")
    ap.add_argument("--tokens", type=float, default=1e6, help="predicted tokens in train.npz")
    ap.add_argument("--test-fraction", type=float, default=0.05)
    ap.add_argument("--order", type=int, default=2, choices=[1, 2])
    ap.add_argument("--lambdas", default="0.1,0.3,0.6", help="unigram, bigram, trigram weights")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    lambdas = tuple(float(x) for x in a.lambdas.split(","))
    if len(lambdas) != 3 or min(lambdas) < 0 or abs(sum(lambdas) - 1) > 1e-9 or lambdas[0] <= 0:
        sys.exit("synthetic: --lambdas must be three non-negative weights summing to 1, the first > 0")
    enc, vocab, settings = load_corpus(a.source)
    stream = np.asarray(enc.ids[enc.starts[0]:int(enc.starts[-1] + enc.lens[-1])])
    src = NGramSource(stream, len(vocab.words), a.order, lambdas)
    rng = np.random.default_rng(a.seed)
    mean_len = float(np.mean(enc.lens)) - 1   # predicted tokens per source sentence
    os.makedirs(a.outdir, exist_ok=True)
    settings = dict(settings, sources=[f"synthetic order-{a.order} n-gram of {os.path.abspath(a.source)}, "
                                       f"lambdas {a.lambdas}, seed {a.seed}"])
    result = {"source": os.path.abspath(a.source), "order": a.order, "lambdas": lambdas, "seed": a.seed,
              "vocab_size": len(vocab.words)}
    for name, n in (("train", a.tokens), ("test", a.tokens * a.test_fraction)):
        sents = generate(src, n, mean_len, rng)
        save_corpus(os.path.join(a.outdir, f"{name}.npz"), encode(sents), vocab, settings)
        ce, m = floor(src, sents)
        result[f"{name}_tokens"] = m
        result[f"{name}_sentences"] = len(sents)
        result[f"{name}_floor_cross_entropy"] = ce
        result[f"{name}_floor_perplexity"] = math.exp(ce)
        print(f"{name}: {len(sents):,} sentences, {m:,} predicted tokens, source perplexity {math.exp(ce):.2f}",
              flush=True)
    with open(os.path.join(a.outdir, "floor.json"), "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
