#!/usr/bin/env python3
"""The class softmax's word layer two ways, on real batches (the products only):

  grouped  rows sorted by target class, one (n_k x H) x (H x s_k) product per class
           present (what rnncli.nn.classsoftmax does)
  padded   one batched product over the classes present, every class padded to the
           largest row count and class size in the batch, (K', n_max, H) x (K', H, s_max)

  python benchmarks/class_kernels.py CORPUS.npz     # from `rnn tokenize`; C from its vocabulary

Prints milliseconds per batch (median over the batches, interleaved) and the padded
product's arithmetic over the grouped one's.
"""
import argparse
import statistics
import time

import numpy as np

from rnncli.batching import Encoded, batch_indices, pack, split_long
from rnncli.nn.classsoftmax import ClassSoftmax, default_classes, frequency_classes


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpus")
    ap.add_argument("--H", type=int, default=100)
    ap.add_argument("--batches", type=int, default=40)
    a = ap.parse_args()
    with np.load(a.corpus, allow_pickle=False) as z:
        enc = split_long(Encoded.from_offsets(z["ids"], z["offsets"]), 128)
        C = len(z["vocab"])
    counts = np.bincount(enc.ids, minlength=C)
    counts[1] = 0
    K = default_classes(C)
    out = ClassSoftmax(C, a.H, K, frequency_classes(counts, K))
    rng = np.random.default_rng(0)
    V = rng.standard_normal((C, a.H)).astype(np.float32)
    t_g, t_p, work = [], [], []
    for sel in batch_indices(enc.lens, 32, rng)[:a.batches]:
        y = pack(enc, sel).y
        S = rng.standard_normal((len(y), a.H)).astype(np.float32)
        cy = out.cls[y]
        order = np.argsort(cy, kind="stable")
        counts_b = np.bincount(cy, minlength=K)
        bounds = np.r_[0, np.cumsum(counts_b)]
        present = np.flatnonzero(counts_b)
        Hs = S[order]
        sizes = out.sizes[present]
        L = np.empty(int(counts_b[present] @ sizes), np.float32)

        t0 = time.perf_counter()
        i = 0
        for k in present.tolist():
            a_, b_ = bounds[k], bounds[k + 1]
            Z = L[i:i + (b_ - a_) * out.sizes[k]].reshape(b_ - a_, -1)
            np.matmul(Hs[a_:b_], V[out.rows[k]].T, out=Z)
            i += Z.size
        t1 = time.perf_counter()
        n_max, s_max = int(counts_b.max()), int(sizes.max())
        Hp = np.zeros((len(present), n_max, a.H), np.float32)
        Vp = np.zeros((len(present), a.H, s_max), np.float32)
        for j, k in enumerate(present.tolist()):
            Hp[j, :counts_b[k]] = Hs[bounds[k]:bounds[k + 1]]
            Vp[j, :, :out.sizes[k]] = V[out.rows[k]].T
        Zp = np.matmul(Hp, Vp)                         # (K', n_max, s_max)
        t2 = time.perf_counter()
        del Zp
        t_g.append(t1 - t0)
        t_p.append(t2 - t1)
        work.append(len(present) * n_max * s_max / L.size)
    g, p = statistics.median(t_g) * 1e3, statistics.median(t_p) * 1e3
    print(f"C={C} K={K} H={a.H}: grouped {g:.2f} ms/batch, padded {p:.2f} ms/batch (padding included) "
          f"= {p / g:.1f}x; the padded product does {statistics.median(work):.0f}x the arithmetic")


if __name__ == "__main__":
    main()
