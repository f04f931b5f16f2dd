#!/usr/bin/env python3
"""Synthetic corpora whose best achievable perplexity is known: sentences sampled from
an interpolated n-gram model estimated on a real tokenized corpus, written as
tokenized corpora (`rnn tokenize`'s format, so `rnn train`/`rnn eval` read the ids
directly and no tokenizer stands between the source and the model).

  python benchmarks/synthetic.py ngram SOURCE.npz OUTDIR --tokens 1e6 [--order 2] [--seed 0]
  python benchmarks/synthetic.py longdep OUTDIR --tokens 2e5 [--keys 8 --fillers 40 --gap 8,16]
  python benchmarks/synthetic.py teacher OUTDIR --tokens 1e6 [--vocab 2000 --hidden 32]

SOURCE.npz is any `rnn tokenize` output (its vocabulary becomes the synthetic one).
The source model, with c() counts in SOURCE's id stream (sentences back to back, so
the context of a first word is (SENTENCE_END, SENTENCE_START)):

  order 2:  P(w | u, v) = l3 c(u,v,w)/c(u,v) + l2 c(v,w)/c(v) + l1 c(w)/N
  order 1:  P(w | v)    = (l3 + l2) c(v,w)/c(v) + l1 c(w)/N

(l1, l2, l3 = --lambdas; where c(u,v) = 0 its weight goes to the bigram term; the
unigram never emits SENTENCE_START). Sampling is exact: a term is chosen with its
weight, then a random occurrence of the context in SOURCE gives the next id.

longdep: a dependency across many tokens. Each sentence is
  SENTENCE_START key_k f_1 ... f_L partner_k SENTENCE_END
with k uniform over --keys keys, L uniform over the --gap range, fillers i.i.d. uniform
over --fillers words; partner_k is decided by the key L+1 tokens earlier. The best
model pays log(keys) for the key, log(fillers) per filler and the exact stopping
hazard P(L = i | L >= i) after the i-th filler, and nothing for the partner or the end;
a model that has forgotten the key pays log(keys) again at the partner.

teacher: sentences sampled from a random Elman RNN (the "teacher"),
  h_t = tanh(U[:, w_{t-1}] + W h_{t-1}),  P(w_t | history) = softmax(V h_t + b),
with h_0 = 0 and w_0 = SENTENCE_START; U, V Gaussian, W a random orthogonal matrix
times --memory, b a Zipf profile over the words (b_w = -log rank) and SENTENCE_END's
bias set so that sentences average --mean-len words. Unlike an n-gram of a real text,
a student RNN can represent this source exactly (its hidden size covers the teacher's),
so what separates a trained model from the floor is data and optimisation, not
capacity.

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
from rnncli.config import END_ID as END, SPECIALS, START_ID as START  # noqa: E402
from rnncli.lm.corpusfile import load_corpus, save_corpus  # noqa: E402
from rnncli.lm.vocab import Vocab  # noqa: E402


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


def longdep_sentences(n_tokens, keys, fillers, gap, rng):
    """(sentences, vocabulary words): ids 3.. are key_0.., partner_0.., f_0.."""
    lo, hi = gap
    mean = 3 + (lo + hi) / 2                   # key, fillers, partner, end
    n = max(1, int(round(n_tokens / mean)))
    k = rng.integers(0, keys, n)
    L = rng.integers(lo, hi + 1, n)
    key0, part0, fill0 = 3, 3 + keys, 3 + 2 * keys
    sents = [np.array([START, key0 + k[i], *(fill0 + rng.integers(0, fillers, L[i])), part0 + k[i], END],
                      np.int32) for i in range(n)]
    words = [f"key{i}" for i in range(keys)] + [f"partner{i}" for i in range(keys)] + \
        [f"f{i}" for i in range(fillers)]
    return sents, words


def longdep_floor(sents, keys, fillers, gap):
    """Cross-entropy (nats/token) of the generating process on these sentences."""
    lo, hi = gap
    span = hi - lo + 1
    nll, m = 0.0, 0
    for s in sents:
        L = len(s) - 4
        nll += math.log(keys)                       # the key
        for i in range(L + 1):                      # after i fillers: stop (partner) or go on
            p_stop = 0.0 if i < lo else 1.0 / (hi + 1 - i)     # P(L = i | L >= i), uniform L
            if i < L:
                nll -= math.log((1 - p_stop) / fillers)
            else:
                nll -= math.log(p_stop)             # the partner itself is certain given the key
        m += L + 3                                  # key, fillers, partner, end (certain)
    return nll / m, m


class TeacherRNN:
    """A random Elman RNN over C ids (0 = UNKNOWN_TOKEN and 1 = SENTENCE_START are
    never emitted) that samples sentences and scores them exactly."""

    def __init__(self, C, H, rng, logit_scale=1.0, memory=0.9, mean_len=20.0):
        self.C, self.H = C, H
        self.U = rng.standard_normal((H, C))                               # (H, C)
        q, _ = np.linalg.qr(rng.standard_normal((H, H)))
        self.W = memory * q                                                # (H, H)
        self.V = rng.standard_normal((C, H)) * logit_scale / math.sqrt(H)  # (C, H)
        self.b = np.zeros(C)
        self.b[3:] = -np.log(np.arange(1, C - 2))                          # Zipf: word 3 the most frequent
        self.b[[0, START]] = -np.inf
        for _ in range(4):                      # END's bias: a rate of 1/mean_len per step, near enough
            _, _, lp = self._run(512, 3 * int(mean_len), rng)
            rate = np.exp(lp[:, :, END]).mean()
            self.b[END] += math.log((1 / (mean_len + 1)) / rate)

    def step(self, h, x):
        """h (S, H), x (S,) -> next h (S, H), log P(next | ...) (S, C)."""
        h = np.tanh(self.U[:, x].T + h @ self.W.T)
        z = h @ self.V.T + self.b
        z -= z.max(axis=1, keepdims=True)
        return h, z - np.log(np.exp(z).sum(axis=1, keepdims=True))

    def _run(self, S, T, rng):
        """S free-running streams for T steps (END does not stop them): for calibration."""
        h, x = np.zeros((S, self.H)), np.full(S, START)
        out = []
        for _ in range(T):
            h, lp = self.step(h, x)
            out.append(lp)
            x = sample_rows(np.exp(lp), rng)
        return h, x, np.stack(out, 1)

    def sentences(self, n_tokens, rng, streams=1024, max_len=2000):
        """Sentences (START ... END) totalling about n_tokens predicted tokens, and
        their exact cross-entropy under the teacher: (sentences, (nats/token, tokens))."""
        sents, nll, m = [], 0.0, 0
        while m < n_tokens:
            h, x = np.zeros((streams, self.H)), np.full(streams, START)
            cur = [[] for _ in range(streams)]
            live = np.arange(streams)
            for _ in range(max_len):
                h, lp = self.step(h, x)
                x = sample_rows(np.exp(lp), rng)
                nll -= float(lp[np.arange(len(x)), x].sum())
                m += len(x)
                for i, w in zip(live.tolist(), x.tolist()):
                    cur[i].append(w)
                done = x == END
                for i in live[done].tolist():
                    sents.append(np.array([START, *cur[i]], np.int32))
                h, x, live = h[~done], x[~done], live[~done]
                if not len(live):
                    break
            if len(live):
                sys.exit("synthetic: a teacher sentence ran past max_len; give --mean-len a smaller value")
        return sents, (nll / m, m)

    def score(self, sentences):
        """Cross-entropy (nats/token) of these sentences, one sentence at a time."""
        nll, m = 0.0, 0
        for s in sentences:
            h = np.zeros((1, self.H))
            for prev, w in zip(s[:-1], s[1:]):
                h, lp = self.step(h, np.array([prev]))
                nll -= lp[0, w]
                m += 1
        return nll / m, m


def sample_rows(p, rng):
    """One draw from each row of p (S, C) (rows sum to 1)."""
    c = np.cumsum(p, axis=1)
    u = rng.random(len(p)) * c[:, -1]
    return np.minimum((c < u[:, None]).sum(axis=1), p.shape[1] - 1)


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
    sub = ap.add_subparsers(dest="kind", required=True)
    ng = sub.add_parser("ngram", help="an interpolated n-gram of a real corpus")
    ng.add_argument("source", help="a tokenized corpus (rnn tokenize output)")
    ng.add_argument("--order", type=int, default=2, choices=[1, 2])
    ng.add_argument("--lambdas", default="0.1,0.3,0.6", help="unigram, bigram, trigram weights")
    ld = sub.add_parser("longdep", help="a word decided many tokens earlier")
    ld.add_argument("--keys", type=int, default=8)
    ld.add_argument("--fillers", type=int, default=40)
    ld.add_argument("--gap", default="8,16", help="fillers between key and partner: MIN,MAX")
    te = sub.add_parser("teacher", help="a random RNN that a student can represent exactly")
    te.add_argument("--vocab", type=int, default=2000, help="ids, the three specials included")
    te.add_argument("--hidden", type=int, default=32, help="the teacher's hidden size")
    te.add_argument("--logit-scale", type=float, default=4.0, help="spread of the teacher's logits V h")
    te.add_argument("--memory", type=float, default=0.9, help="the recurrent matrix's gain (orthogonal x this)")
    te.add_argument("--mean-len", type=float, default=20.0, help="mean words per sentence")
    for p in (ng, ld, te):
        p.add_argument("outdir")
        p.add_argument("--tokens", type=float, default=1e6, help="predicted tokens in train.npz")
        p.add_argument("--test-fraction", type=float, default=0.05)
        p.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    os.makedirs(a.outdir, exist_ok=True)
    result = {"kind": a.kind, "seed": a.seed}
    if a.kind == "ngram":
        lambdas = tuple(float(x) for x in a.lambdas.split(","))
        if len(lambdas) != 3 or min(lambdas) < 0 or abs(sum(lambdas) - 1) > 1e-9 or lambdas[0] <= 0:
            sys.exit("synthetic: --lambdas must be three non-negative weights summing to 1, the first > 0")
        enc, vocab, settings = load_corpus(a.source)
        stream = np.asarray(enc.ids[enc.starts[0]:int(enc.starts[-1] + enc.lens[-1])])
        src = NGramSource(stream, len(vocab.words), a.order, lambdas)
        mean_len = float(np.mean(enc.lens)) - 1   # predicted tokens per source sentence
        settings = dict(settings, sources=[f"synthetic order-{a.order} n-gram of {os.path.abspath(a.source)}, "
                                           f"lambdas {a.lambdas}, seed {a.seed}"])
        result.update(source=os.path.abspath(a.source), order=a.order, lambdas=lambdas)

        def make(n):
            sents = generate(src, n, mean_len, rng)
            return sents, floor(src, sents)
    elif a.kind == "teacher":
        if a.vocab < 5 or a.hidden < 1 or a.mean_len <= 0:
            sys.exit("synthetic: --vocab >= 5, --hidden >= 1, --mean-len > 0")
        teacher = TeacherRNN(a.vocab, a.hidden, rng, a.logit_scale, a.memory, a.mean_len)
        vocab = Vocab(list(SPECIALS) + [f"w{i}" for i in range(3, a.vocab)])
        settings = {"lowercase": True, "sentences": "lines", "words": "whitespace", "unk_token": None,
                    "vocab_size": a.vocab, "splitter": {}, "csv_column": None,
                    "sources": [f"synthetic teacher RNN vocab {a.vocab} hidden {a.hidden} logit scale "
                                f"{a.logit_scale} memory {a.memory} mean length {a.mean_len} seed {a.seed}"]}
        result.update(vocab=a.vocab, hidden=a.hidden, logit_scale=a.logit_scale, memory=a.memory,
                      mean_len=a.mean_len)

        def make(n):
            return teacher.sentences(n, rng)
    else:
        gap = tuple(int(x) for x in a.gap.split(","))
        if len(gap) != 2 or not 0 <= gap[0] <= gap[1] or a.keys < 1 or a.fillers < 1:
            sys.exit("synthetic: --gap MIN,MAX with 0 <= MIN <= MAX; --keys and --fillers >= 1")
        _, words = longdep_sentences(1, a.keys, a.fillers, gap, np.random.default_rng(0))
        vocab = Vocab(list(SPECIALS) + words)
        settings = {"lowercase": True, "sentences": "lines", "words": "whitespace", "unk_token": None,
                    "vocab_size": len(vocab.words), "splitter": {}, "csv_column": None,
                    "sources": [f"synthetic longdep keys {a.keys} fillers {a.fillers} gap {a.gap} seed {a.seed}"]}
        result.update(keys=a.keys, fillers=a.fillers, gap=gap)

        def make(n):
            sents, _ = longdep_sentences(n, a.keys, a.fillers, gap, rng)
            return sents, longdep_floor(sents, a.keys, a.fillers, gap)
    result["vocab_size"] = len(vocab.words)
    for name, n in (("train", a.tokens), ("test", a.tokens * a.test_fraction)):
        sents, (ce, m) = make(n)
        save_corpus(os.path.join(a.outdir, f"{name}.npz"), encode(sents), vocab, settings)
        result[f"{name}_tokens"] = m
        result[f"{name}_sentences"] = len(sents)
        result[f"{name}_floor_cross_entropy"] = ce
        result[f"{name}_floor_perplexity"] = math.exp(ce)
        print(f"{name}: {len(sents):,} sentences, {m:,} predicted tokens, source perplexity {math.exp(ce):.3f}",
              flush=True)
    with open(os.path.join(a.outdir, "floor.json"), "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
