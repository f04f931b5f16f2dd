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
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))


def rnncli_run(d, label, args, budget, threads):
    out, log = os.path.join(d, f"run-{label}.npz"), os.path.join(d, f"run-{label}.jsonl")
    if os.path.exists(log):
        os.unlink(log)
    t0 = time.perf_counter()
    extra = ["--threads", str(threads)] if threads else []
    r = subprocess.run([sys.executable, "-m", "rnncli", "train", os.path.join(d, "train.npz"), "-o", out,
                        "--max-time", str(budget), "--log", log, "-q", *extra, *args], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"floors: rnn train ({label}) failed:\n{r.stderr}")
    minutes = (time.perf_counter() - t0) / 60
    recs = [json.loads(line) for line in open(log)]
    r = subprocess.run([sys.executable, "-m", "rnncli", "eval", "-m", out, os.path.join(d, "test.npz"), "--json",
                        "-q", *extra], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"floors: rnn eval ({label}) failed:\n{r.stderr}")
    return {"run": f"rnncli {label}", "epochs": recs[-1]["epoch"], "minutes": round(minutes, 2),
            "stopped_at_min": round(sum(x["seconds"] for x in recs) / 60, 2),
            "test_ppl": json.loads(r.stdout)["perplexity"]}


def torch_run(d, cell, budget, threads):
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, os.path.join(HERE, "torch_baseline.py"), "quality",
                        "--train", os.path.join(d, "train.npz"), "--test", os.path.join(d, "test.npz"),
                        "--max-time", str(budget), "--threads", str(threads or 2), "--cell", cell],
                       capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"floors: torch baseline failed:\n{r.stderr}")
    res = json.loads(r.stdout.strip().splitlines()[-1])
    minutes = round((time.perf_counter() - t0) / 60, 2)
    return {"run": f"pytorch {cell} adam", "epochs": res["epochs"], "minutes": minutes, "stopped_at_min": minutes,
            "test_ppl": res["test_ppl"]}


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
    threads = 1 if a.pairs else None
    jobs = [lambda lab=lab, args=args: rnncli_run(a.dir, lab, args.split(), a.budget, threads)
            for lab, args in (r.split("=", 1) for r in (a.recipe or ["default="]))]
    if not a.no_torch:
        try:
            import torch  # noqa: F401
            jobs += [lambda c=c: torch_run(a.dir, c, a.budget, threads) for c in a.torch_cells.split(",")]
        except ImportError:
            print("floors: PyTorch not importable, its rows are skipped", flush=True)
    with ThreadPoolExecutor(2 if a.pairs else 1) as ex:
        rows = list(ex.map(lambda j: j(), jobs))
    print(f"\nfloor (the source's test perplexity): {floor:.2f}; budget {a.budget:g} s"
          f"{'; two runs at a time, one thread each' if a.pairs else ''}")
    print("| run | epochs | stopped after (min) | test ppl | above the floor |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['run']} | {r['epochs']} | {r['stopped_at_min']} | {r['test_ppl']:.2f} | "
              f"{100 * (r['test_ppl'] / floor - 1):.1f}% |")


if __name__ == "__main__":
    main()
