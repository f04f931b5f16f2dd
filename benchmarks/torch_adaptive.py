#!/usr/bin/env python3
"""Training speed of the same Elman model in PyTorch with a full softmax or with
``nn.AdaptiveLogSoftmaxWithLoss``, on the token ids of an `rnn tokenize` corpus, for
comparison with `rnn train --softmax class` (PyTorch is never a dependency).

Batches as rnncli's: 32 sentences grouped by length, each from a zero state, the whole
sentence back-propagated (full BPTT), the output layer applied to real tokens only
(packed sequences); plain SGD. Prints one JSON line with tokens_per_s (training steps,
after 3 warm-up batches).

  python benchmarks/torch_adaptive.py corpus.npz --output adaptive --cutoffs 2000,6000
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_baseline import ElmanLM, load_corpus, make_batch, sentence_batches  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpus")
    ap.add_argument("--output", choices=["full", "adaptive"], default="adaptive")
    ap.add_argument("--cutoffs", default=None, help="comma-separated AdaptiveLogSoftmaxWithLoss cutoffs")
    ap.add_argument("--div-value", type=float, default=4.0)
    ap.add_argument("--H", type=int, default=100)
    ap.add_argument("--B", type=int, default=32)
    ap.add_argument("--lr", type=float, default=0.005)
    ap.add_argument("--max-time", type=float, default=20.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    ids, offsets, C = load_corpus(a.corpus)
    m = ElmanLM(C, a.H)
    if a.output == "adaptive":
        cutoffs = [int(c) for c in a.cutoffs.split(",")]
        m.V = nn.AdaptiveLogSoftmaxWithLoss(a.H, C, cutoffs, div_value=a.div_value, head_bias=False)
    params = [p for p in m.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=a.lr)
    rng = np.random.default_rng(a.seed)
    toks, t0, n = 0, None, 0
    while True:
        for sel in sentence_batches(offsets, a.B, rng):
            if n == 3:
                t0, toks = time.perf_counter(), 0
            if t0 is not None and time.perf_counter() - t0 >= a.max_time:
                break
            x, y, lens = make_batch(ids, offsets, sel)
            pe = nn.utils.rnn.pack_padded_sequence(m.U(x), lens, batch_first=True, enforce_sorted=False)
            out, _ = m.rnn(pe)
            py = nn.utils.rnn.pack_padded_sequence(y, lens, batch_first=True, enforce_sorted=False)
            if a.output == "adaptive":
                loss = m.V(out.data, py.data).loss * len(py.data) / len(sel)   # .loss is the mean
            else:
                loss = F.cross_entropy(m.V(out.data), py.data, reduction="sum") / len(sel)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            toks += int(lens.sum())
            n += 1
        else:
            continue
        break
    dt = time.perf_counter() - t0
    print(json.dumps({"output": a.output, "cutoffs": a.cutoffs, "C": C, "tokens": toks, "seconds": round(dt, 2),
                      "tokens_per_s": round(toks / dt, 1), "torch": torch.__version__, "threads": a.threads}))


if __name__ == "__main__":
    main()
