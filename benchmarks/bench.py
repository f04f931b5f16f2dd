#!/usr/bin/env python3
"""rnncli's benchmark: every figure of the speed issue measured in one run on this
machine, with the ratios between them (absolute numbers move with the machine's
load; the ratios measured side by side are what to compare).

  python benchmarks/bench.py                 # everything (about 10 minutes on 2 cores)
  python benchmarks/bench.py --skip-memory   # without the 20M-token memory run
  python benchmarks/bench.py --corpus FILE   # default: ../shared/corpora/tinyshakespeare.txt,
                                             # else the bundled data/corpus.txt
  python benchmarks/bench.py --baseline REV  # also train and eval with the code of git revision
                                             # REV, interleaved in the same run (before/after)
  python benchmarks/bench.py --sections cells,baseline   # only some sections

Rows: training tokens/s of `rnn train` (whole epochs, validation and checkpoint writing
included, tokenizing excluded) in the reference configuration (C = 8000, H = 100, plain
SGD, batch 32), full and truncated BPTT, float32 and float64; the slow per-sentence
reference from tests/reference.py; `rnn eval`; tokenizing cold and cached; PyTorch
nn.RNN (if importable); the float32 FLOP bound from numpy's measured GEMM speed
(6CH + 6H^2 FLOPs per token); peak resident memory training on 20M tokens.
"""
import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
C, H = 8000, 100
sys.path.insert(0, HERE)

from corpora import which_rnncli  # noqa: E402


def rnn(*args, env=None, check=True):
    """``python -m rnncli ARGS`` with this tree's code, or another revision's where env sets
    PYTHONPATH. It runs in a neutral directory: ``-m`` puts the working directory first on
    sys.path, ahead of PYTHONPATH, so run from a checkout it would import that checkout's
    code on both sides of a comparison (every path argument is absolute)."""
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "rnncli", *args], capture_output=True, text=True,
                       env=code_env(env), cwd=NEUTRAL)
    if check and r.returncode != 0:
        sys.exit(f"bench: rnn {' '.join(args)} failed:\n{r.stderr}")
    return r, time.perf_counter() - t0


NEUTRAL = tempfile.gettempdir()


def code_env(env=None):
    return dict(os.environ, **{"PYTHONPATH": REPO, **(env or {})})


def check_code(env=None):
    """Refuse to measure unless rnn() with ``env`` imports the code PYTHONPATH names."""
    code = (env or {}).get("PYTHONPATH", REPO)
    found = which_rnncli(code, NEUTRAL)
    if not os.path.realpath(found).startswith(os.path.realpath(code) + os.sep):
        sys.exit(f"bench: PYTHONPATH={code} imports {found}")


# ------------------------------------------------------------------ measurements


def gemm_bound(dtype, N=1120, secs=1.0):
    """tokens/s if the three (N x H x C) output-layer GEMMs and the recurrent GEMMs ran at
    numpy's measured speed; nothing else counted, so an upper bound."""
    rng = np.random.default_rng(0)
    h = rng.standard_normal((N, H)).astype(dtype)
    V = rng.standard_normal((C, H)).astype(dtype)
    g = rng.standard_normal((N, C)).astype(dtype)
    out_z, out_h, out_v = np.empty((N, C), dtype), np.empty((N, H), dtype), np.empty((C, H), dtype)
    ops = [lambda: np.matmul(h, V.T, out=out_z), lambda: np.matmul(g, V, out=out_h),
           lambda: np.matmul(g.T, h, out=out_v)]
    t_tok = 0.0
    for op in ops:
        op()
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < secs or n < 3:
            op()
            n += 1
        rate = n * 2.0 * N * C * H / (time.perf_counter() - t0)
        t_tok += 2.0 * C * H / rate
    rate = 6.0 * C * H / t_tok
    return 1.0 / (t_tok + 6.0 * H * H / rate), rate / 1e9


# The rows measure the full softmax (the tutorial's output layer, what PyTorch's rows and
# the FLOP bound compute); the class softmax, the default since, has benchmarks/class_softmax.py.
FULL = ("--softmax", "full")


def train_rate(corpus, tmp, cache, dtype, truncate, epochs=2, extra=(), env=None, softmax=FULL):
    """softmax=(): the option left out, for a revision that has only the full softmax."""
    d = tempfile.mkdtemp(dir=tmp)
    log = os.path.join(d, "log.jsonl")
    rnn("train", corpus, "-o", os.path.join(d, "m.npz"), "--optimizer", "sgd", "--lr", "0.005",
        "--batch-size", "32", "--vocab-size", str(C), "--hidden-dim", str(H), "--dtype", dtype,
        "--bptt-truncate", str(truncate), "--epochs", str(epochs), "--log", log, "-q", "--cache-dir", cache, *softmax,
        *extra, env=env)
    recs = [json.loads(line) for line in open(log)]
    toks = sum(r["train_tokens"] for r in recs)
    secs = sum(r["seconds"] + r["checkpoint_seconds"] for r in recs)
    return toks / secs, os.path.join(d, "m.npz")


def recipe_rate(corpus, tmp, cache, env=None, epochs=2):
    """Training tokens/s of the default recipe (what `rnn train FILE` runs: the class softmax
    at C = 8000, Adam, weight averaging, BPTT 4), whole epochs as train_rate counts them."""
    d = tempfile.mkdtemp(dir=tmp)
    log = os.path.join(d, "log.jsonl")
    rnn("train", corpus, "-o", os.path.join(d, "m.npz"), "--vocab-size", str(C), "--epochs", str(epochs),
        "--log", log, "-q", "--cache-dir", cache, env=env)
    recs = [json.loads(line) for line in open(log)]
    return sum(r["train_tokens"] for r in recs) / sum(r["seconds"] + r["checkpoint_seconds"] for r in recs)


def forecast_rate(tmp, env=None, epochs=3):
    """Training speed (scored target values/s) of `rnn forecast train` on the bundled series (the demo's model:
    48 h of history, 24 h ahead, calendar inputs; training steps only, from the log)."""
    d = tempfile.mkdtemp(dir=tmp)
    log = os.path.join(d, "log.jsonl")
    rnn("forecast", "train", os.path.join(REPO, "data", "series.csv"), "--target", "demand", "--history", "48",
        "--horizon", "24", "--calendar", "-o", os.path.join(d, "f.npz"), "--epochs", str(epochs), "--patience", "0",
        "--log", log, "-q", env=env)
    recs = [json.loads(line) for line in open(log)]
    return sum(r["train_tokens"] for r in recs) / sum(r["train_tokens"] / r["tokens_per_s"] for r in recs)


def baseline_rows(a, tmp, cache, res):
    """Before/after rows: the same commands with the code of revision a.baseline and of this
    tree, interleaved round by round (medians): the full softmax with plain SGD and full
    BPTT, rnn eval of its model, the default recipe, and forecasting training."""
    base_dir = os.path.join(tmp, "baseline")
    subprocess.run(["git", "-C", REPO, "worktree", "add", "--detach", base_dir, a.baseline],
                   check=True, capture_output=True)
    try:
        env = {"PYTHONPATH": base_dir}
        check_code(env)
        # a revision from before the class softmax has no --softmax option (and only the full one)
        has_softmax = subprocess.run(["git", "-C", REPO, "grep", "-q", '"--softmax"', a.baseline, "--", "rnncli"],
                                     capture_output=True).returncode == 0
        has_forecast = os.path.exists(os.path.join(base_dir, "rnncli", "forecast"))
        sides = {"after": ({}, FULL), "before": (env, FULL if has_softmax else ())}
        got = {n: {"train": [], "eval": [], "recipe": [], "forecast": []} for n in sides}
        for i in range(a.rounds):
            for name, (e, sm) in sides.items():
                v, m = train_rate(a.corpus, tmp, cache, "float32", -1, env=e, softmax=sm)
                got[name]["train"].append(v)
                got[name]["eval"].append(eval_rate(m, a.corpus, cache, env=e))
                if has_softmax:
                    got[name]["recipe"].append(recipe_rate(a.corpus, tmp, cache, env=e))
                if has_forecast:
                    got[name]["forecast"].append(forecast_rate(tmp, env=e))
            print(f"baseline round {i + 1}: " + "; ".join(
                f"{n} " + ", ".join(f"{k} {v[-1]:,.0f}" for k, v in got[n].items() if v) for n in sides), flush=True)
    finally:
        subprocess.run(["git", "-C", REPO, "worktree", "remove", "--force", base_dir], capture_output=True)
    rows = []
    labels = {"train": "rnn train, full softmax, SGD, full BPTT", "eval": "rnn eval (that model)",
              "recipe": "rnn train, default recipe (class softmax, Adam, averaging)",
              "forecast": "rnn forecast train (scored values/s), demo model"}
    for k, label in labels.items():
        if not got["after"][k]:
            continue
        for n in sides:
            res[f"{k} {n}"] = statistics.median(got[n][k])
        rows += [(f"{label}, {a.baseline} (before)", "float32", res[f"{k} before"], ""),
                 (f"{label}, this tree (after)", "float32", res[f"{k} after"],
                  f"{res[f'{k} after'] / res[f'{k} before']:.3f}x before")]
    return rows


def reference_rate(n_sent=12, seed=0):
    sys.path.insert(0, REPO)
    from tests import reference as ref
    rng = np.random.default_rng(seed)
    p = {"U": rng.uniform(-C ** -0.5, C ** -0.5, (H, C)), "V": rng.uniform(-H ** -0.5, H ** -0.5, (C, H)),
         "W": rng.uniform(-H ** -0.5, H ** -0.5, (H, H))}
    lens = np.clip(np.rint(rng.gamma(3.0, 25 / 3.0, n_sent)), 2, 120).astype(int)
    sents = [np.r_[1, rng.integers(3, C, L), 2] for L in lens]
    t0 = time.perf_counter()
    for s in sents:
        for k, g in ref.sentence_grads(p, s, 4).items():
            p[k] -= 0.005 * g
    return sum(len(s) - 1 for s in sents) / (time.perf_counter() - t0)


def eval_rate(model_path, corpus, cache, env=None):
    r, _ = rnn("eval", "-m", model_path, corpus, "--json", "-q", "--cache-dir", cache, env=env)
    return json.loads(r.stdout)["tokens_per_s"]


class Competitor:
    """A CPU-bound process (a busy loop) for the duration of a with-block, bounded by
    ``limit`` seconds in any case: the 'busy machine' of the thread measurements."""

    def __init__(self, limit=900):
        self.limit = limit

    def __enter__(self):
        code = f"import time\nt=time.time()\nwhile time.time()-t<{self.limit}: pass"
        self.p = subprocess.Popen([sys.executable, "-c", code])
        return self

    def __exit__(self, *exc):
        self.p.kill()
        self.p.wait()


def timed_train_rate(corpus, cache, seconds, threads=None, env=None):
    """Training tokens/s over --max-time seconds (reference configuration, adam)."""
    d = tempfile.mkdtemp()
    log = os.path.join(d, "log.jsonl")
    extra = ["--threads", str(threads)] if threads else []
    rnn("train", corpus, "-o", os.path.join(d, "m.npz"), "--vocab-size", str(C), "--hidden-dim", str(H),
        "--max-time", str(seconds), "--log", log, "-q", "--cache-dir", cache, *FULL, *extra, env=env)
    recs = [json.loads(line) for line in open(log)]
    rate = sum(r["train_tokens"] for r in recs) / sum(r["train_tokens"] / r["tokens_per_s"] for r in recs)
    shutil.rmtree(d, ignore_errors=True)
    return rate


def thread_rows(a, cache, model_path, rounds):
    """Training and eval tokens/s with the default threads and each fixed --threads,
    on the machine as it is and with a competing CPU-bound process, interleaved."""
    res = {}
    cores = os.cpu_count() or 1
    choices = [None] + list(range(1, cores + 1))
    for load in ("quiet", "busy"):
        for i in range(rounds):
            for th in choices:
                name = f"{load} threads={th or 'default'}"
                if load == "busy":
                    with Competitor():
                        tr = timed_train_rate(a.corpus, cache, a.thread_seconds, th)
                        r, _ = rnn("eval", "-m", model_path, a.corpus, "--json", "-q", "--cache-dir", cache,
                                   *(["--threads", str(th)] if th else []))
                else:
                    tr = timed_train_rate(a.corpus, cache, a.thread_seconds, th)
                    r, _ = rnn("eval", "-m", model_path, a.corpus, "--json", "-q", "--cache-dir", cache,
                               *(["--threads", str(th)] if th else []))
                res.setdefault(name + " train", []).append(tr)
                res.setdefault(name + " eval", []).append(json.loads(r.stdout)["tokens_per_s"])
                print(f"threads: {name}: train {tr:,.0f} eval {res[name + ' eval'][-1]:,.0f}", flush=True)
    return {k: statistics.median(v) for k, v in res.items()}, choices


def torch_rate(cell="rnn"):
    try:
        import torch  # noqa: F401
    except ImportError:
        return None
    r = subprocess.run([sys.executable, os.path.join(HERE, "torch_baseline.py"), "speed", "--threads", "2",
                        "--cell", cell], capture_output=True, text=True)
    for line in r.stdout.splitlines():
        if line.startswith("tokens_per_s="):
            return float(line.split("=")[1])
    return None


def peak_rss_mb(cmd):
    """Peak resident set size of a child process (MiB), from wait4's rusage."""
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=code_env(),
                         cwd=NEUTRAL)
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    err = p.stderr.read()
    if p.returncode != 0:
        sys.exit(f"bench: {' '.join(cmd)} failed:\n{err}")
    return ru.ru_maxrss / 1024.0


def machine():
    cpu = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    blas = ""
    try:
        from threadpoolctl import threadpool_info
        blas = ", ".join(f"{i.get('internal_api')} {i.get('version')} ({i.get('num_threads')} threads)"
                         for i in threadpool_info())
    except ImportError:
        pass
    return (f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"numpy {np.__version__}, BLAS: {blas or 'unknown'}")


# ------------------------------------------------------------------ main


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    shared = os.path.join(REPO, "..", "shared", "corpora", "tinyshakespeare.txt")
    ap.add_argument("--corpus", default=shared if os.path.exists(shared) else os.path.join(REPO, "data", "corpus.txt"))
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds for the headline rows (median)")
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--memory-tokens", type=float, default=20e6)
    ap.add_argument("--json", default=os.path.join(HERE, "results", "latest.json"))
    ap.add_argument("--baseline", metavar="REV", help="git revision to measure before/after against")
    ap.add_argument("--thread-seconds", type=float, default=20, help="threads section: seconds per training run")
    ap.add_argument("--sections", default="tokenize,headline,baseline,cells,threads,float64,reference,eval,memory",
                    help="comma-separated subset of the sections to run")
    a = ap.parse_args()
    a.corpus = os.path.abspath(a.corpus)       # rnn() runs in another directory
    check_code()
    sections = set(a.sections.split(","))
    if a.skip_memory:
        sections.discard("memory")
    tmp = tempfile.mkdtemp(prefix="rnncli-bench-")
    cache = os.path.join(tmp, "cache")
    print(f"machine: {machine()}")
    print(f"corpus: {a.corpus}", flush=True)
    res, rows = {}, []
    med = statistics.median

    if "tokenize" in sections:  # cold (empty cache) then cached
        out_npz = os.path.join(tmp, "tok.npz")
        r, cold = rnn("tokenize", a.corpus, "-o", out_npz, "--cache-dir", cache)
        with np.load(out_npz) as z:
            n_words = int(len(z["ids"]) - 2 * (len(z["offsets"]) - 1))
        r, warm = rnn("tokenize", a.corpus, "-o", out_npz, "--cache-dir", cache)
        res["tokenize_cold"] = n_words / cold
        res["tokenize_cached"] = n_words / warm
        print(f"tokenizing: {n_words:,} words, cold {cold:.2f}s, cached {warm:.2f}s (process wall time)", flush=True)
        rows += [("tokenizing, cold (NLTK, all cores)", "-", res["tokenize_cold"], ""),
                 ("tokenizing, cached", "-", res["tokenize_cached"],
                  f"{res['tokenize_cached'] / res['tokenize_cold']:.0f}x cold")]

    model_path = None
    if "headline" in sections:  # interleaved so slow spells hit all of them
        heads = {"rnncli float32 full": [], "rnncli float32 trunc4": [], "torch": [], "bound32": []}
        for i in range(a.rounds):
            v, model_path = train_rate(a.corpus, tmp, cache, "float32", -1)
            heads["rnncli float32 full"].append(v)
            v, _ = train_rate(a.corpus, tmp, cache, "float32", 4)
            heads["rnncli float32 trunc4"].append(v)
            t = torch_rate()
            if t:
                heads["torch"].append(t)
            heads["bound32"].append(gemm_bound(np.float32)[0])
            print(f"round {i + 1}: " + ", ".join(f"{k} {v[-1]:,.0f}" for k, v in heads.items() if v), flush=True)
        res.update({k: med(v) for k, v in heads.items() if v})
        f32 = res["rnncli float32 full"]
        rows += [("rnncli train, full BPTT", "float32", f32, ""),
                 ("rnncli train, --bptt-truncate 4", "float32", res["rnncli float32 trunc4"],
                  f"{res['rnncli float32 trunc4'] / f32:.2f}x full BPTT")]
        if "torch" in res:
            rows.append(("PyTorch nn.RNN, 2 threads, 32x35", "float32", res["torch"],
                         f"rnncli float32 full is {f32 / res['torch']:.2f}x"))
        rows.append(("FLOP bound at numpy GEMM speed", "float32", res["bound32"],
                     f"rnncli float32 full is {100 * f32 / res['bound32']:.0f}%"))

    if "baseline" in sections and a.baseline:  # the same commands with another revision's code, interleaved
        rows += baseline_rows(a, tmp, cache, res)

    if "cells" in sections:  # gated cells, full BPTT, against PyTorch's nn.GRU / nn.LSTM
        for cell in ("gru", "lstm"):
            ours, theirs = [], []
            for i in range(a.rounds):
                ours.append(train_rate(a.corpus, tmp, cache, "float32", -1, extra=("--cell", cell))[0])
                t = torch_rate(cell)
                if t:
                    theirs.append(t)
            res[f"rnncli {cell}"] = med(ours)
            rows.append((f"rnn train --cell {cell}, full BPTT", "float32", res[f"rnncli {cell}"], ""))
            if theirs:
                res[f"torch {cell}"] = med(theirs)
                rows.append((f"PyTorch nn.{cell.upper()}, 2 threads, 32x35", "float32", res[f"torch {cell}"],
                             f"rnncli {cell} is {res[f'rnncli {cell}'] / res[f'torch {cell}']:.2f}x"))
            print(f"cells: {cell} rnncli {res[f'rnncli {cell}']:,.0f}" +
                  (f", torch {res[f'torch {cell}']:,.0f}" if theirs else ""), flush=True)

    if "threads" in sections:  # default threads against every fixed --threads, quiet and busy
        if model_path is None:
            _, model_path = train_rate(a.corpus, tmp, cache, "float32", 4, epochs=1)
        th, choices = thread_rows(a, cache, model_path, a.rounds)
        res.update({"threads " + k: v for k, v in th.items()})
        for load in ("quiet", "busy"):
            for what in ("train", "eval"):
                best = max(th[f"{load} threads={c} {what}"] for c in choices[1:])
                d = th[f"{load} threads=default {what}"]
                rows.append((f"{what}, {load} machine, default threads", "float32", d,
                             f"{best / d:.2f}x slower than the best fixed --threads" if best > d else
                             "as fast as the best fixed --threads or faster"))
                for c in choices[1:]:
                    rows.append((f"{what}, {load} machine, --threads {c}", "float32", th[f"{load} threads={c} {what}"], ""))

    if "float64" in sections:
        res["rnncli float64 full"], _ = train_rate(a.corpus, tmp, cache, "float64", -1)
        res["rnncli float64 trunc4"], _ = train_rate(a.corpus, tmp, cache, "float64", 4)
        res["bound64"] = gemm_bound(np.float64)[0]
        rows += [("rnncli train, full BPTT", "float64", res["rnncli float64 full"], ""),
                 ("rnncli train, --bptt-truncate 4", "float64", res["rnncli float64 trunc4"], ""),
                 ("FLOP bound at numpy GEMM speed", "float64", res["bound64"],
                  f"rnncli float64 full is {100 * res['rnncli float64 full'] / res['bound64']:.0f}%")]
    if "reference" in sections:
        res["reference"] = reference_rate()
        ratio = f"rnncli float32 full is {res['rnncli float32 full'] / res['reference']:.0f}x" \
            if "rnncli float32 full" in res else ""
        rows.append(("per-sentence reference (tests/reference.py)", "float64", res["reference"], ratio))
    if "eval" in sections and model_path:
        res["eval"] = eval_rate(model_path, a.corpus, cache)
        rows.append(("rnn eval", "float32", res["eval"], f"{res['eval'] / res['rnncli float32 full']:.2f}x training"))

    if "memory" in sections:
        big = os.path.join(tmp, "big.txt")
        src = open(os.path.join(REPO, "data", "corpus.txt")).read()
        per_copy = len(src.split())
        copies = int(np.ceil(a.memory_tokens / per_copy))
        with open(big, "w") as f:
            for _ in range(copies):
                f.write(src)
                f.write("\n\n")
        print(f"memory: {copies} copies of data/corpus.txt, {copies * per_copy / 1e6:.1f}M words", flush=True)
        t0 = time.perf_counter()
        rss = peak_rss_mb([sys.executable, "-m", "rnncli", "train", big, "-o", os.path.join(tmp, "big.npz"),
                           "--epochs", "1", "--max-time", "30", "-q", "--cache-dir", cache])
        res["peak_rss_mb_20M_cold"] = rss
        res["memory_run_seconds"] = time.perf_counter() - t0
        rss2 = peak_rss_mb([sys.executable, "-m", "rnncli", "train", big, "-o", os.path.join(tmp, "big.npz"),
                            "--epochs", "1", "--max-time", "30", "-q", "--cache-dir", cache])
        res["peak_rss_mb_20M_cached"] = rss2

    print()
    print(f"| {'what':46s} | {'dtype':7s} | {'tokens/s':>10s} | ratio |")
    print(f"|{'-' * 48}|{'-' * 9}|{'-' * 12}|-------|")
    for name, dt, v, note in rows:
        print(f"| {name:46s} | {dt:7s} | {v:10,.0f} | {note} |")
    if "peak_rss_mb_20M_cold" in res:
        print(f"\npeak resident memory, `rnn train` on {a.memory_tokens / 1e6:.0f}M tokens: "
              f"{res['peak_rss_mb_20M_cold']:.0f} MiB (tokenizing cold), "
              f"{res['peak_rss_mb_20M_cached']:.0f} MiB (from the cache); "
              f"cold run {res['memory_run_seconds']:.0f}s")
    os.makedirs(os.path.dirname(a.json), exist_ok=True)
    with open(a.json, "w") as f:
        json.dump({"machine": machine(), "corpus": a.corpus, **res}, f, indent=1)
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
