#!/usr/bin/env python3
"""Where a class-softmax training step spends its time: CPU milliseconds per batch of
each part (hidden states, class layer, word layer, cell backward, embedding scatter,
clipping norm, SGD update), one thread, on real batches of a tokenized corpus.

  OPENBLAS_NUM_THREADS=1 python benchmarks/class_profile.py CORPUS.npz [--classes K] [--power 0.5]

CPU time (time.process_time) rather than wall time, so that other processes on a
shared machine do not count; with one BLAS thread it measures the work itself.
"""
import argparse
import time

import numpy as np

from rnncli.batching import Encoded, batch_indices, pack, split_long
from rnncli.nn import layers
from rnncli.nn.classsoftmax import default_classes, frequency_classes
from rnncli.nn.network import Network, names, view
from rnncli.nn.workspace import Workspace
from rnncli.optim import Optimizer, clip_
from rnncli.train import flat_zeros_like


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpus")
    ap.add_argument("--classes", type=int, default=None)
    ap.add_argument("--power", type=float, default=1.0, help="class binning: 1 equal mass, 0.5 equal sqrt mass")
    ap.add_argument("--batches", type=int, default=60)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    with np.load(a.corpus, allow_pickle=False) as z:
        enc = split_long(Encoded.from_offsets(z["ids"], z["offsets"]), 128)
        C = len(z["vocab"])
    counts = np.bincount(enc.ids, minlength=C)
    counts[1] = 0
    K = a.classes or default_classes(C)
    net = Network(C, 100, output="class", classes=K, class_of=frequency_classes(counts, K, a.power))
    p = net.init(np.random.default_rng(0), "float32")
    g, _ = flat_zeros_like(net, p)
    opt = Optimizer("sgd", p)
    ws = Workspace(1)
    batches = [pack(enc, sel) for sel in batch_indices(enc.lens, 32, np.random.default_rng(0))[:a.batches]]
    op, og = view(p, names(p, "out.")), view(g, names(g, "out."))
    T = dict.fromkeys(["hidden", "class layer", "word layer", "cell backward", "embedding", "clip norm", "sgd",
                       "whole step"], 0.0)
    n_tok = 0
    clock = time.process_time
    for _ in range(a.repeats):
        for b in batches:
            t0 = clock()
            A = net.input.forward({"U": p["layer0.U"]}, b.x, ws)
            S, cache = net.stack.forward(p, A, b.offsets_list, ws)
            t1 = clock()
            _, dh = net.out.class_layer.loss_and_grad(net.out.class_params(op), S, net.out.cls[b.y],
                                                      {"V": og["Vk"]}, ws, 1 / 32, 1.0)
            t2 = clock()
            net.out.loss_and_grad(op, S, b.y, og, ws, 1 / 32, 1.0)   # class layer and word layer
            t3 = clock()
            dA = net.stack.backward(p, cache, dh, b.offsets_list, -1, g, ws)
            t4 = clock()
            layers.embed_backward(g["layer0.U"], b.x, dA)
            t5 = clock()
            clip_(g, 5.0)
            t6 = clock()
            opt.step(p, g, 0.0)
            t7 = clock()
            net.loss_and_grads(p, b, g, ws, -1, 1 / 32)
            clip_(g, 5.0)
            opt.step(p, g, 0.0)
            t8 = clock()
            for k, v in zip(T, [t1 - t0, t2 - t1, (t3 - t2) - (t2 - t1), t4 - t3, t5 - t4, t6 - t5, t7 - t6, t8 - t7]):
                T[k] += v
            n_tok += b.N
    nb = a.repeats * len(batches)
    print(f"C={C} K={K} power={a.power}: {n_tok / nb:.0f} tokens per batch; CPU ms per batch: "
          + ", ".join(f"{k} {1e3 * v / nb:.2f}" for k, v in T.items())
          + f"; {n_tok / T['whole step']:,.0f} tokens per CPU second")


if __name__ == "__main__":
    main()
