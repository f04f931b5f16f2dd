#!/usr/bin/env python3
"""Speed sanity check of the GRU and LSTM cells alone (rnncli/nn/gated.py): forward +
backward over one packed batch of B = 32 sentences, N = 1120 rows (lengths 20..50),
H = 100, float32, full BPTT by default. Prints cell tokens/s (rows per second); the
input projection and output layer a network adds are not included. A few seconds.

  python benchmarks/gated_speed.py [--seconds 1.5] [--truncate -1] [--threads N]
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from rnncli.nn.workspace import Workspace  # noqa: E402
from rnncli.nn.gated import GRU, LSTM  # noqa: E402


def offsets(lengths):
    lengths = np.sort(np.asarray(lengths))[::-1]
    n = [int(np.sum(lengths > t)) for t in range(int(lengths[0]))]
    return np.r_[0, np.cumsum(n)].tolist()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=1.5, help="timed seconds per cell")
    ap.add_argument("--truncate", type=int, default=-1, help="BPTT truncation (-1: full)")
    ap.add_argument("--hidden", type=int, default=100, help="H")
    ap.add_argument("--threads", type=int, default=None, help="Workspace threads (default: cores, at most 8)")
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    B, H = 32, a.hidden
    lengths = rng.integers(20, 51, B)
    lengths[0] += 1120 - lengths.sum()                   # N = 1120 exactly
    lengths = np.clip(lengths, 1, None)
    off = offsets(lengths)
    N = off[-1]
    ws = Workspace(a.threads)
    print(f"B={B} N={N} T={len(off) - 1} H={H} float32 truncate={a.truncate} threads={ws.threads}")
    for cls in (GRU, LSTM):
        cell = cls(H)
        p = cell.init(rng, np.float32)
        G = cell.gates * H
        A0 = rng.normal(0, 1, (N, G)).astype(np.float32)
        dS = rng.normal(0, 1, (N, H)).astype(np.float32)
        grads = {k: np.zeros_like(v) for k, v in p.items()}
        A = ws.get("bench.A", (N, G), np.float32)
        times = []
        t_end = time.perf_counter() + a.seconds
        for i in range(1000):
            A[...] = A0                                  # the caller's gather, untimed
            t0 = time.perf_counter()
            _, cache = cell.forward(p, A, off, ws)
            cell.backward(p, cache, dS, off, a.truncate, grads, ws)
            times.append(time.perf_counter() - t0)
            if i >= 3 and time.perf_counter() > t_end:
                break
        best, med = min(times[2:]), float(np.median(times[2:]))
        print(f"{cell.name:5s} forward+backward: median {med * 1e3:6.2f} ms  best {best * 1e3:6.2f} ms"
              f"  -> {N / med:9,.0f} tokens/s (median), {N / best:9,.0f} (best), {len(times)} runs")


if __name__ == "__main__":
    main()
