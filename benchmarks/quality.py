#!/usr/bin/env python3
"""Perplexity reached in a fixed time: rnncli recipes (and PyTorch with Adam on the
same token ids, when PyTorch is importable) on the corpora of ../shared/corpora.

  python benchmarks/quality.py                          # default recipe + torch, 300 s each
  python benchmarks/quality.py --budget 90 --recipe "adam-cosine=--optimizer adam --lr-schedule cosine"
  python benchmarks/quality.py --corpora tinyshakespeare --no-torch
  python benchmarks/quality.py --recipe rnn= --recipe gru="--cell gru" --torch-cells gru,lstm
  python benchmarks/quality.py --pairs ...              # two runs at a time, one thread each

Splits: WikiText-2 trains on valid.txt and tests on test.txt; tinyshakespeare and the
Gutenberg book hold out their last 10% of lines as test text. Each corpus is tokenized
once with `rnn tokenize` (vocabulary 8000 from the training text; the test text with
the same vocabulary), so every trainer sees exactly the same token ids. rnncli holds
out --val-fraction of the training sentences for validation; PyTorch trains on all.
The model evaluated is model.npz, what `rnn train` leaves by default.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
SHARED = os.path.join(REPO, "..", "shared", "corpora")
CORPORA = {
    "wikitext-2": ("wikitext-2/valid.txt", "wikitext-2/test.txt"),
    "tinyshakespeare": ("tinyshakespeare.txt", None),
    "austen-emma": ("gutenberg/austen-emma.txt", None),
}


def rnn(*args):
    r = subprocess.run([sys.executable, "-m", "rnncli", *args], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"quality: rnn {' '.join(args)} failed:\n{r.stderr}")
    return r.stdout


def prepare(name, work, cache):
    train_rel, test_rel = CORPORA[name]
    src = os.path.join(SHARED, train_rel)
    d = os.path.join(work, name)
    os.makedirs(d, exist_ok=True)
    if test_rel:
        train_txt, test_txt = src, os.path.join(SHARED, test_rel)
    else:
        lines = open(src, encoding="utf-8").read().splitlines(keepends=True)
        cut = int(len(lines) * 0.9)
        train_txt, test_txt = os.path.join(d, "train.txt"), os.path.join(d, "test.txt")
        open(train_txt, "w").writelines(lines[:cut])
        open(test_txt, "w").writelines(lines[cut:])
    train_npz, test_npz = os.path.join(d, "train.npz"), os.path.join(d, "test.npz")
    rnn("tokenize", train_txt, "-o", train_npz, "--cache-dir", cache, "-q")
    rnn("tokenize", test_txt, "-m", train_npz, "-o", test_npz, "--cache-dir", cache, "-q")
    return d, train_npz, test_npz


def run_rnncli(d, train_npz, test_npz, label, args, budget, threads=None):
    """`rnn train` for ``budget`` seconds, then `rnn eval` on the test corpus; ``threads``
    (None: the default) goes to both."""
    out = os.path.join(d, f"{label}.npz")
    log = os.path.join(d, f"{label}.jsonl")
    if os.path.exists(log):
        os.unlink(log)
    th = ["--threads", str(threads)] if threads else []
    t0 = time.perf_counter()
    rnn("train", train_npz, "-o", out, "--max-time", str(budget), "--log", log, "-q", *th, *args)
    minutes = (time.perf_counter() - t0) / 60
    recs = [json.loads(line) for line in open(log)]
    last = recs[-1]
    test = json.loads(rnn("eval", "-m", out, test_npz, "--json", "-q", *th))
    return {"recipe": label, "epochs": last["epoch"], "val_ppl": last["val_ppl"],
            "best_val_ppl": min(r["val_ppl"] for r in recs if r["val_ppl"]),
            "test_ppl": test["perplexity"], "minutes": round(minutes, 2),
            "train_minutes": round(sum(r["seconds"] for r in recs) / 60, 2)}   # training and validation


def run_torch(d, train_npz, test_npz, budget, cell="rnn", threads=2):
    try:
        import torch  # noqa: F401
    except ImportError:
        return None
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, os.path.join(HERE, "torch_baseline.py"), "quality", "--train", train_npz,
                        "--test", test_npz, "--max-time", str(budget), "--threads", str(threads), "--cell", cell],
                       capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"quality: torch baseline failed:\n{r.stderr}")
    res = json.loads(r.stdout.strip().splitlines()[-1])
    return {"recipe": f"pytorch {cell} adam lr 1e-3", "epochs": res["epochs"], "val_ppl": None, "best_val_ppl": None,
            "test_ppl": res["test_ppl"], "minutes": round((time.perf_counter() - t0) / 60, 2)}


def _with(row, **more):
    return dict(row, **more) if row else None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--budget", type=float, default=300, help="seconds of training per run")
    ap.add_argument("--corpora", nargs="*", default=list(CORPORA))
    ap.add_argument("--recipe", action="append", default=[], metavar="LABEL=ARGS",
                    help="an rnncli recipe to run (repeatable); default: the default recipe only")
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--torch-cells", default="rnn", help="comma-separated cells for the PyTorch runs (rnn, gru, lstm)")
    ap.add_argument("--work", default=None)
    ap.add_argument("--pairs", action="store_true",
                    help="two runs at a time, one thread each (rnncli --threads 1, PyTorch one thread): on a "
                         "2-core machine that halves the wall time and gives every run one core")
    a = ap.parse_args()
    if not os.path.isdir(SHARED):
        sys.exit(f"quality: {SHARED} not found (the shared corpora are not part of the product)")
    recipes = [r.split("=", 1) for r in a.recipe] or [["default", ""]]
    work = a.work or tempfile.mkdtemp(prefix="rnncli-quality-")
    cache = os.path.join(work, "cache")
    threads = 1 if a.pairs else None
    jobs = []
    for name in a.corpora:
        d, tr, te = prepare(name, work, cache)
        jobs += [lambda d=d, tr=tr, te=te, name=name, label=label, args=args:
                 dict(run_rnncli(d, tr, te, label, args.split(), a.budget, threads), corpus=name)
                 for label, args in recipes]
        jobs += [lambda d=d, tr=tr, te=te, name=name, cell=cell:
                 _with(run_torch(d, tr, te, a.budget, cell, threads or 2), corpus=name)
                 for cell in ([] if a.no_torch else a.torch_cells.split(","))]

    def run(job):
        r = job()
        if r:
            print(json.dumps(r), flush=True)
        return r

    with ThreadPoolExecutor(2 if a.pairs else 1) as ex:
        rows = [r for r in ex.map(run, jobs) if r]
    print(f"\nbudget {a.budget:g} s per run{'; two runs at a time, one thread each' if a.pairs else ''}")
    print("| corpus | recipe | epochs | val ppl (best) | test ppl | minutes |")
    print("|---|---|---:|---:|---:|---:|")
    for r in rows:
        bv = f"{r['best_val_ppl']:.1f}" if r["best_val_ppl"] else "-"
        print(f"| {r['corpus']} | {r['recipe']} | {r['epochs']} | {bv} | {r['test_ppl']:.1f} | {r['minutes']} |")


if __name__ == "__main__":
    main()
