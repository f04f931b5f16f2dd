#!/usr/bin/env python3
"""How close each trainer gets to a synthetic source's floor (the best achievable test
perplexity) in a fixed time: rnncli recipes and PyTorch (Adam, same token ids, same
time) on a corpus made by benchmarks/synthetic.py.

  python benchmarks/synthetic.py ngram SOURCE.npz /tmp/syn --order 1 --lambdas 0.1,0.9,0 --tokens 1e6
  python benchmarks/floors.py /tmp/syn --budget 300 --recipe default= --torch-cells rnn
  python benchmarks/synthetic.py longdep /tmp/ld --tokens 5e5
  python benchmarks/floors.py /tmp/ld --budget 120 --recipe "rnn-trunc4=" --recipe "gru=--cell gru" --no-torch

--pairs runs the runs two at a time with one thread each (`--threads 1`, PyTorch one
thread): on a 2-core machine that halves the wall time and gives every run one core.
The excess is test perplexity / floor - 1.
"""
import argparse
import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from quality import run_rnncli, run_torch  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", help="a benchmarks/synthetic.py output directory")
    ap.add_argument("--budget", type=float, default=300, help="seconds of training per run")
    ap.add_argument("--recipe", action="append", default=[], metavar="LABEL=ARGS")
    ap.add_argument("--torch-cells", default="rnn")
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--pairs", action="store_true", help="two runs at a time, one thread each")
    a = ap.parse_args()
    floor = json.load(open(os.path.join(a.dir, "floor.json")))["test_floor_perplexity"]
    tr, te = os.path.join(a.dir, "train.npz"), os.path.join(a.dir, "test.npz")
    jobs = [lambda lab=lab, args=args: dict(run_rnncli(a.dir, tr, te, f"run-{lab}", args.split(), a.budget,
                                                       1 if a.pairs else None), recipe=f"rnncli {lab}")
            for lab, args in (r.split("=", 1) for r in (a.recipe or ["default="]))]
    if not a.no_torch:
        jobs += [lambda c=c: run_torch(a.dir, tr, te, a.budget, c, 1 if a.pairs else 2)
                 for c in a.torch_cells.split(",")]
    with ThreadPoolExecutor(2 if a.pairs else 1) as ex:
        rows = [r for r in ex.map(lambda j: j(), jobs) if r]
    if not a.no_torch and len(rows) < len(jobs):
        print("floors: PyTorch not importable, its rows are skipped", flush=True)
    print(f"\nfloor (the source's test perplexity): {floor:.2f}; budget {a.budget:g} s"
          f"{'; two runs at a time, one thread each' if a.pairs else ''}")
    print("| run | epochs | stopped after (min) | test ppl | above the floor |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['recipe']} | {r['epochs']} | {r.get('train_minutes', r['minutes'])} | {r['test_ppl']:.2f} | "
              f"{100 * (r['test_ppl'] / floor - 1):.1f}% |")


if __name__ == "__main__":
    main()
