#!/usr/bin/env python3
"""Data-parallel training under MPI (`mpiexec -n N rnn train`), measured in one run.
Needs pip install 'rnncli[mpi]' (mpi4py and the mpich wheel's mpiexec).

  python benchmarks/mpi_bench.py                     # everything (about 8 minutes on 2 cores)
  python benchmarks/mpi_bench.py --sections speed    # speed, quality, steps, allreduce
  python benchmarks/mpi_bench.py --sections speed --softmax class   # the class softmax's scaling

speed     training tokens/s of `mpiexec -n 2 rnn train --threads 1` and of
          `rnn train --threads 1` on tinyshakespeare in the reference configuration
          (C = 8000, H = 100, batch 32, float32, plain SGD), interleaved rounds, both
          measured in this run; the ratio per round (target: >= 1.7).
quality   validation loss after a fixed number of epochs with N = 2 and N = 1 on the
          bundled data/corpus.txt (target: within 1%).
steps     one process's step time (gradient of its slice of a 32-sentence batch,
          clipping, the optimizer step) when the batch is split N = 1, 2, 8, 32 ways,
          and the scaling efficiency expected with a ring Allreduce over 1, 10 and
          100 Gbit/s links: bytes per step = 4 x parameters x 2(N-1)/N.
allreduce the measured Allreduce of the gradient buffer between 2 processes here.

Absolute figures move with the machine's load; the ratios measured side by side in one
run are what to compare.
"""
import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
C, H, B = 8000, 100, 32
REF = ["--vocab-size", str(C), "--hidden-dim", str(H), "--batch-size", str(B), "--dtype", "float32",
       "--optimizer", "sgd", "--lr", "0.005"]
LINKS = {"1 Gbit/s": (1e9 / 8, 50e-6), "10 Gbit/s": (10e9 / 8, 20e-6), "100 Gbit/s": (100e9 / 8, 5e-6)}


def mpiexec_path():
    return shutil.which("mpiexec", path=os.path.dirname(sys.executable)) or shutil.which("mpiexec")


def run(cmd, cwd):
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd)
    if r.returncode != 0:
        sys.exit(f"mpi_bench: {' '.join(cmd)} failed:\n{r.stderr[-3000:]}")
    return time.perf_counter() - t0


def train(n, corpus, tmp, args, mpiexec):
    """One `rnn train` run (under mpiexec when n > 1); its --log records."""
    d = tempfile.mkdtemp(dir=tmp)
    log = os.path.join(d, "log.jsonl")
    cmd = [sys.executable, "-m", "rnncli", "train", corpus, "-o", os.path.join(d, "m.npz"), "--log", log, "-q",
           *args]
    if n > 1:
        cmd = [mpiexec, "-n", str(n), *cmd]
    run(cmd, REPO)
    return [json.loads(line) for line in open(log)]


def rates(recs):
    """(steps-only tokens/s as the epoch line shows it, whole-epoch tokens/s with
    validation and checkpoint writing)."""
    toks = sum(r["train_tokens"] for r in recs)
    steps = sum(r["train_tokens"] / r["tokens_per_s"] for r in recs)
    whole = sum(r["seconds"] + r["checkpoint_seconds"] for r in recs)
    return toks / steps, toks / whole


def speed(a, tmp, mpiexec):
    corpus = os.path.join(tmp, "tiny.npz")
    run([sys.executable, "-m", "rnncli", "tokenize", a.corpus, "-o", corpus, "--vocab-size", str(C), "-q"], REPO)
    args = REF + ["--softmax", a.softmax, "--threads", "1", "--epochs", str(a.epochs)]
    rows = {1: [], 2: []}
    for k in range(a.rounds):
        for n in ((1, 2) if k % 2 == 0 else (2, 1)):       # interleaved: the load drifts over both alike
            rows[n].append(rates(train(n, corpus, tmp, args, mpiexec)))
            print(f"  round {k + 1}: N={n}: {rows[n][-1][0]:,.0f} tokens/s (steps), "
                  f"{rows[n][-1][1]:,.0f} tokens/s (whole epochs)", flush=True)
    out = {}
    for i, what in enumerate(("steps", "whole epochs")):
        one = [r[i] for r in rows[1]]
        two = [r[i] for r in rows[2]]
        ratios = [t / o for t, o in zip(two, one)]
        out[what] = {"N=1": statistics.median(one), "N=2": statistics.median(two), "ratios": ratios,
                     "ratio_median": statistics.median(ratios)}
        print(f"speed ({what}): N=1 {statistics.median(one):,.0f} tokens/s, N=2 {statistics.median(two):,.0f} "
              f"tokens/s; N=2 / N=1 per round: {', '.join(f'{x:.2f}' for x in ratios)} "
              f"(median {statistics.median(ratios):.2f}, target >= 1.7)", flush=True)
    return out


def quality(a, tmp, mpiexec):
    corpus = os.path.join(REPO, "data", "corpus.txt")
    args = REF + ["--softmax", a.softmax, "--epochs", str(a.quality_epochs), "--cache-dir", os.path.join(tmp, "cache")]
    v1 = train(1, corpus, tmp, args, mpiexec)[-1]["val_loss"]
    v2 = train(2, corpus, tmp, args, mpiexec)[-1]["val_loss"]
    rel = abs(v2 - v1) / v1
    print(f"quality: validation loss after {a.quality_epochs} epochs on data/corpus.txt: N=1 {v1:.6f}, "
          f"N=2 {v2:.6f}, relative difference {100 * rel:.5f}% (target <= 1%)", flush=True)
    return {"epochs": a.quality_epochs, "N=1": v1, "N=2": v2, "relative_difference": rel}


def steps(a, tmp):
    """Per-process step times in one process, the batch split N ways; scaling table."""
    sys.path.insert(0, REPO)
    from threadpoolctl import threadpool_limits

    from rnncli.config import Config
    from rnncli.lm import corpus as lmcorpus
    from rnncli.lm.prepare import network_for
    from rnncli.lm.settings import LMSettings
    from rnncli.lm.task import LanguageModel, LMData
    from rnncli.lm.vocab import build_vocab, encode
    from rnncli.nn.workspace import Workspace
    from rnncli.optim import Optimizer, clip_
    from rnncli.train import flat_zeros_like

    class Quiet:
        def note(self, m):
            pass

        def bar(self, **kw):
            from tqdm import tqdm
            return tqdm(disable=True, **kw)

    threadpool_limits(1, user_api="blas")
    cfg = Config(batch_size=B, dtype="float32", optimizer="sgd", lr=0.005)
    tokens, _, _ = lmcorpus.read_tokens([a.corpus], LMSettings(vocab_size=C), None, True,
                                        os.path.join(tmp, "cache"), Quiet())
    vocab, _, _ = build_vocab(tokens, C)
    enc, _ = encode(tokens, vocab)
    net = network_for({"hidden_dim": H, "softmax": "full"}, len(vocab))
    params = net.init(np.random.default_rng(0), "float32")
    P = sum(v.size for v in params.values())
    task = LanguageModel(net, LMData(vocab), enc, cfg)
    ws = Workspace(1)
    grads, _ = flat_zeros_like(net, params)
    opt = Optimizer("sgd", params)
    batches = task.epoch_batches(0)[:a.steps]
    times = {}
    for n in (1, 2, 8, 32):
        ts = []
        for sel in batches:
            t0 = time.perf_counter()
            task.loss_and_grads(params, sel[0::n], grads, ws, None)
            clip_(grads, 5.0)
            opt.step(params, grads, 0.0)          # the update's cost, parameters unchanged
            ts.append(time.perf_counter() - t0)
        times[n] = statistics.median(ts[1:])
    print(f"steps: one process, --threads 1, {P:,} parameters; median step time with the 32-sentence batch "
          f"split N ways: " + ", ".join(f"N={n}: {1000 * t:.1f} ms" for n, t in times.items()), flush=True)
    table = {}
    for link, (bw, lat) in LINKS.items():
        for n in (2, 8, 32):
            comm = 2 * (n - 1) / n * 4 * P / bw + 2 * (n - 1) * lat + 2 * 2 * math.ceil(math.log2(n)) * lat
            strong = times[1] / (n * (times[n] + comm))    # global batch 32, split N ways
            weak = times[1] / (times[1] + comm)            # 32 sentences per process (--batch-size 32N)
            table[f"{link} N={n}"] = {"comm_ms": 1000 * comm, "strong": strong, "weak": weak}
    print("scaling efficiency (ring Allreduce, no overlap; latency per message 50/20/5 us):")
    print("  link        N   bytes/step  comm ms  batch 32 split N ways  batch 32 per process")
    for link in LINKS:
        for n in (2, 8, 32):
            r = table[f"{link} N={n}"]
            print(f"  {link:<10} {n:>3} {8 * P * (n - 1) / n / 1e6:>8.1f} MB {r['comm_ms']:>8.2f} "
                  f"{100 * r['strong']:>20.0f}% {100 * r['weak']:>20.0f}%")
    return {"parameters": P, "step_seconds": times, "table": table}


ALLREDUCE = """
import sys, time, numpy as np
from mpi4py import MPI
c = MPI.COMM_WORLD
buf = np.ones(int(sys.argv[1]), np.float32)
ts = []
for i in range(30):
    c.Barrier(); t0 = time.perf_counter(); c.Allreduce(MPI.IN_PLACE, buf); ts.append(time.perf_counter() - t0)
if c.rank == 0: print(sorted(ts)[len(ts) // 2])
"""


def allreduce(a, tmp, mpiexec, P):
    r = subprocess.run([mpiexec, "-n", "2", sys.executable, "-c", ALLREDUCE, str(P)], capture_output=True,
                       text=True)
    t = float(r.stdout.split()[0])
    print(f"allreduce: 2 processes on this machine, {4 * P / 1e6:.1f} MB float32: median {1000 * t:.2f} ms",
          flush=True)
    return t


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    shared = os.path.join(REPO, "..", "shared", "corpora", "tinyshakespeare.txt")
    ap.add_argument("--corpus", default=shared if os.path.exists(shared) else os.path.join(REPO, "data", "corpus.txt"))
    ap.add_argument("--rounds", type=int, default=2, help="interleaved N=1 / N=2 rounds")
    ap.add_argument("--epochs", type=int, default=1, help="epochs per speed run")
    ap.add_argument("--quality-epochs", type=int, default=2)
    ap.add_argument("--steps", type=int, default=40, help="batches timed per split in the steps section")
    ap.add_argument("--sections", default="speed,quality,steps,allreduce")
    ap.add_argument("--softmax", choices=["full", "class"], default="full",
                    help="output layer of the speed and quality runs (full: the reference configuration)")
    ap.add_argument("--json", default=os.path.join(HERE, "results", "mpi_latest.json"))
    a = ap.parse_args()
    mpiexec = mpiexec_path()
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        mpiexec = None
    if not mpiexec:
        sys.exit("mpi_bench: needs mpi4py and mpiexec: pip install 'rnncli[mpi]'")
    sections = a.sections.split(",")
    print(f"mpi_bench: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} (other programs share "
          f"this machine: figures are noisy), corpus {a.corpus}", flush=True)
    out = {"cores": os.cpu_count(), "load_average": os.getloadavg()[0]}
    tmp = tempfile.mkdtemp(prefix="rnncli-mpi-bench-")
    try:
        if "speed" in sections:
            out["speed"] = speed(a, tmp, mpiexec)
        if "quality" in sections:
            out["quality"] = quality(a, tmp, mpiexec)
        P = H * C * 2 + H * H
        if "steps" in sections:
            out["steps"] = steps(a, tmp)
            P = out["steps"]["parameters"]
        if "allreduce" in sections:
            out["allreduce_seconds"] = allreduce(a, tmp, mpiexec, P)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(os.path.dirname(a.json), exist_ok=True)
    with open(a.json, "w") as f:
        json.dump(out, f, indent=1, default=str)


if __name__ == "__main__":
    main()
