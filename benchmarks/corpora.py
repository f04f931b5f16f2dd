#!/usr/bin/env python3
"""Issue 9's figures in one run: first-time tokenizing speed per mode, against the code
of commit 9f7c345 (the path before streaming) measured side by side, and peak
resident memory of `rnn tokenize` and `rnn train` on a 100-million-token corpus.

  python benchmarks/corpora.py                  # everything (about 30 minutes on 2 busy cores)
  python benchmarks/corpora.py --skip-big       # only the small-corpus comparison
  python benchmarks/corpora.py --rounds 1

Every figure is process wall time of a fresh `python -m rnncli tokenize ... --no-cache`
(imports, reading, Punkt, words, vocabulary, writing the .npz), words = word tokens in
the written corpus. CPU% is the processes' user+system time over wall time (200% = both
cores busy); words per CPU-second divide by that time instead, which a machine shared
with other work disturbs far less than wall time. The old-vs-new rows report the
fastest of --rounds runs of each (the run least disturbed by other work), the median
of the rounds' paired ratios (old and new back to back, alternating order) and the
ratio per CPU-second. Peak memory is the peak resident set size of the process tree (wait4's
rusage: the largest of the process and its workers).

Corpora, built in a temporary directory and deleted afterwards:
  small   ../shared/corpora/tinyshakespeare.txt (else data/corpus.txt)
  10 MB   data/corpus.txt repeated as it is (paragraphs separated by blank lines): the
          old code's fixed costs (interpreter, imports, Punkt model) weigh less here
  100MB   data/corpus.txt repeated, one paragraph per line, no blank line: one 100 MB document
  line    the same text as a single 100 MB line (no line break at all)
  100M    data/corpus.txt repeated until 100 million whitespace tokens (about 550 MB)

The old code is run from a `git worktree add /tmp/corpora-base 9f7c345` checkout (made
here if missing) with PYTHONPATH pointing at it; both sides use the same interpreter,
NLTK and machine, interleaved round by round. With --nltk-data both sides use the
punkt_tab model found there; without it, no NLTK data is visible and both train Punkt
on the corpus (rnncli's default where no punkt_tab is installed); both settings run.
"""
import argparse
import json
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
BASE_COMMIT = "9f7c345"
BASE_DIR = "/tmp/corpora-base"


def run(cmd, env, check=True):
    """(wall seconds, cpu seconds, peak RSS MiB, stderr) of a child process tree. It runs in
    the temporary directory: `python -m` puts the current directory first on sys.path,
    which would otherwise import the checkout the benchmark was started from."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=env["RNNCLI_BENCH_CWD"])
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    err = p.stderr.read().decode("utf-8", "replace")
    p.stderr.close()
    code = os.waitstatus_to_exitcode(status)
    if check and code != 0:
        sys.exit(f"bench: {' '.join(map(str, cmd))} failed ({code}):\n{err[-3000:]}")
    return wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024.0, err, code


def words_in(npz):
    with np.load(npz) as z:
        return int(len(z["ids"]) - 2 * (len(z["offsets"]) - 1))


def which_rnncli(code_dir, cwd):
    env = dict(os.environ, PYTHONPATH=code_dir)
    return subprocess.run([sys.executable, "-c", "import rnncli; print(rnncli.__file__)"], env=env, cwd=cwd,
                          capture_output=True, text=True, check=True).stdout.strip()


def tokenize(code_dir, corpus, out, nltk, mode=(), extra_env=None):
    env = dict(os.environ, PYTHONPATH=code_dir, NLTK_DATA=nltk, RNNCLI_CACHE_DIR=os.path.dirname(out),
               RNNCLI_BENCH_CWD=os.path.dirname(out))
    env.update(extra_env or {})
    wall, cpu, rss, err, _ = run([sys.executable, "-m", "rnncli", "tokenize", corpus, "-o", out, "--no-cache",
                                  "-q", *mode], env)
    n = words_in(out)
    os.unlink(out)
    return {"words": n, "seconds": wall, "words_per_s": n / wall, "cpu_pct": 100 * cpu / wall, "peak_rss_mb": rss}


def ensure_base():
    if os.path.isdir(os.path.join(BASE_DIR, "rnncli")):
        return False
    subprocess.run(["git", "-C", REPO, "worktree", "add", "--detach", "-f", BASE_DIR, BASE_COMMIT], check=True,
                   capture_output=True)
    return True


def build(path, target_bytes=None, target_tokens=None, layout="paragraph-per-line"):
    """data/corpus.txt repeated; returns (bytes, whitespace tokens)."""
    src = open(os.path.join(REPO, "data", "corpus.txt"), encoding="utf-8").read()
    paras = [p.replace("\n", " ").strip() for p in src.split("\n\n") if p.strip()]
    if layout == "paragraph-per-line":
        unit = "\n".join(paras) + "\n"
    elif layout == "one-line":
        unit = " ".join(paras) + " "
    else:
        unit = src + "\n\n"
    per = len(unit.split())
    size = len(unit.encode("utf-8"))
    copies = int(np.ceil(target_tokens / per)) if target_tokens else int(np.ceil(target_bytes / size))
    with open(path, "w", encoding="utf-8") as f:
        for _ in range(copies):
            f.write(unit)
    if layout == "one-line":
        with open(path, "rb+") as f:        # no line break at all, not even at the end
            f.seek(-1, 2)
            f.truncate()
    return copies * size, copies * per


MODES = {"punkt+treebank": (), "lines+treebank": ("--sentences", "lines"),
         "lines+whitespace": ("--sentences", "lines", "--words", "whitespace")}


def fmt(r):
    return (f"{r['words']:>11,} words {r['seconds']:7.1f} s {r['words_per_s']:>11,.0f} words/s "
            f"CPU {r['cpu_pct']:4.0f}%  peak {r['peak_rss_mb']:6.0f} MiB")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    shared = os.path.join(REPO, "..", "shared")
    small = os.path.join(shared, "corpora", "tinyshakespeare.txt")
    ap.add_argument("--small", default=small if os.path.exists(small) else os.path.join(REPO, "data", "corpus.txt"))
    ap.add_argument("--nltk-data", default=os.path.join(shared, "nltk_data"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--mid-mb", type=float, default=10, help="size of the second old-vs-new corpus (0: none)")
    ap.add_argument("--skip-big", action="store_true", help="only the old-vs-new comparisons")
    ap.add_argument("--skip-compare", action="store_true", help="only the 100 MB and 100M-token runs")
    ap.add_argument("--json", default=os.path.join(HERE, "results", "corpora.json"))
    a = ap.parse_args()
    made_base = ensure_base()
    tmp = tempfile.mkdtemp(prefix="rnncli-corpora-")
    empty_nltk = os.path.join(tmp, "no-nltk-data")
    os.makedirs(empty_nltk)
    settings = {"punkt_tab": os.path.abspath(a.nltk_data), "trained Punkt": empty_nltk}
    if not os.path.isdir(os.path.join(a.nltk_data, "tokenizers", "punkt_tab")):
        del settings["punkt_tab"]
    res = {"machine": f"{os.cpu_count()} cores, Python {sys.version.split()[0]}", "small": a.small}
    print(f"machine: {res['machine']}; small corpus: {a.small}", flush=True)
    for code in (BASE_DIR, REPO):
        found = which_rnncli(code, tmp)
        if not os.path.realpath(found).startswith(os.path.realpath(code)):
            sys.exit(f"bench: PYTHONPATH={code} imports {found}")
        print(f"  PYTHONPATH={code}: {found}", flush=True)
    try:
        # ---------------------------------------------------------- old and new side by side
        out = os.path.join(tmp, "t.npz")
        comparisons = [("small", a.small)]
        if a.mid_mb and not a.skip_compare:
            mid = os.path.join(tmp, "mid.txt")
            nbytes, _ = build(mid, target_bytes=a.mid_mb * 1e6, layout="as-is")
            comparisons.append((f"{nbytes / 1e6:.0f} MB", mid))
        if a.skip_compare:
            comparisons = []
        for (cname, cpath), (name, nltk) in ((c, st) for c in comparisons for st in settings.items()):
            rows = {"old punkt+treebank": [], **{m: [] for m in MODES}}
            paired = []
            for i in range(a.rounds):
                # old and new punkt+treebank back to back, in alternating order, so a slow
                # spell of the shared machine hits both sides of a round's ratio
                pair = [("old", BASE_DIR, ()), ("new", REPO, ())]
                got = {}
                for side, code, opts in (pair if i % 2 == 0 else pair[::-1]):
                    got[side] = tokenize(code, cpath, out, nltk, opts)
                rows["old punkt+treebank"].append(got["old"])
                rows["punkt+treebank"].append(got["new"])
                paired.append(got["new"]["words_per_s"] / got["old"]["words_per_s"])
                for m, opts in MODES.items():
                    if m != "punkt+treebank":
                        rows[m].append(tokenize(REPO, cpath, out, nltk, opts))
                print(f"  [{cname}, {name}] round {i + 1}: old {got['old']['words_per_s']:,.0f}, "
                      + ", ".join(f"{m} {rows[m][-1]['words_per_s']:,.0f}" for m in MODES)
                      + f" words/s; new/old {paired[-1]:.2f}", flush=True)
            best = {k: max(v, key=lambda r: r["words_per_s"]) for k, v in rows.items()}
            cpu = {k: statistics.median(r["words"] / (r["seconds"] * r["cpu_pct"] / 100) for r in v)
                   for k, v in rows.items()}
            res[f"{cname}, {name}"] = {"best": best, "words_per_cpu_s": cpu, "paired_ratios": paired,
                                       "ratio_best": best["punkt+treebank"]["words_per_s"]
                                       / best["old punkt+treebank"]["words_per_s"],
                                       "ratio_median_paired": statistics.median(paired)}
            r = res[f"{cname}, {name}"]
            print(f"\n{cname} corpus ({cpath}), {name}: fastest of {a.rounds} runs each (process wall time), "
                  "and words per CPU-second (median):")
            for k in rows:
                print(f"  {k:20s} {fmt(best[k])}  {cpu[k]:>9,.0f} words/CPU-s")
            print(f"  punkt+treebank new / old: {r['ratio_best']:.2f}x (fastest runs), "
                  f"{r['ratio_median_paired']:.2f}x (median of the rounds' ratios), "
                  f"{cpu['punkt+treebank'] / cpu['old punkt+treebank']:.2f}x (per CPU-second)\n", flush=True)

        if not a.skip_big:
            nltk = settings.get("punkt_tab", empty_nltk)
            # ------------------------------------------------------ 100 MB document, every mode
            big = os.path.join(tmp, "big.txt")
            nbytes, _ = build(big, target_bytes=100e6)
            print(f"100 MB corpus: {nbytes / 1e6:.0f} MB, one paragraph per line, no blank line", flush=True)
            for m, opts in MODES.items():
                r = tokenize(REPO, big, out, nltk, opts)
                res[f"100MB {m}"] = r
                print(f"  {m:20s} {fmt(r)}", flush=True)
            os.unlink(big)
            # ------------------------------------------------------ one 100 MB line
            line = os.path.join(tmp, "line.txt")
            nbytes, _ = build(line, target_bytes=100e6, layout="one-line")
            print(f"one line of {nbytes / 1e6:.0f} MB (no line break):", flush=True)
            for m in ("punkt+treebank", "lines+whitespace"):
                r = tokenize(REPO, line, out, nltk, MODES[m])
                res[f"100MB line {m}"] = r
                print(f"  {m:20s} {fmt(r)}", flush=True)
            os.unlink(line)
            # ------------------------------------------------------ 100 million tokens: tokenize, then train
            huge = os.path.join(tmp, "huge.txt")
            nbytes, ntok = build(huge, target_tokens=100e6)
            print(f"100M-token corpus: {nbytes / 1e6:.0f} MB, {ntok / 1e6:.1f}M whitespace tokens", flush=True)
            cdir = os.path.join(tmp, "cache")
            env = dict(os.environ, PYTHONPATH=REPO, NLTK_DATA=nltk, RNNCLI_CACHE_DIR=cdir, RNNCLI_BENCH_CWD=tmp)
            opts = MODES["lines+whitespace"]
            corpus_npz = os.path.join(tmp, "huge.npz")
            wall, cpu, rss, _, _ = run([sys.executable, "-m", "rnncli", "tokenize", huge, "-o", corpus_npz,
                                        "--vocab-size", "10000", "-q", *opts], env)
            n = words_in(corpus_npz)
            res["100M tokenize lines+whitespace"] = r = {"words": n, "seconds": wall, "words_per_s": n / wall,
                                                         "cpu_pct": 100 * cpu / wall, "peak_rss_mb": rss}
            print(f"  rnn tokenize (cache written)  {fmt(r)}", flush=True)
            for what, args in (("rnn train on the text (tokens from the cache)", [huge, *opts]),
                               ("rnn train on the rnn tokenize corpus", [corpus_npz])):
                wall, cpu, rss, err, _ = run([sys.executable, "-m", "rnncli", "train", *args, "-o",
                                              os.path.join(tmp, "m.npz"), "--vocab-size", "10000",
                                              "--max-time", "60", "--val-fraction", "0.001", "-q"], env)
                res[f"100M {what}"] = {"seconds": wall, "peak_rss_mb": rss}
                print(f"  {what}: {wall:.0f} s, peak {rss:.0f} MiB (training stopped by --max-time 60)", flush=True)
            os.unlink(huge)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if made_base:
            subprocess.run(["git", "-C", REPO, "worktree", "remove", "--force", BASE_DIR], capture_output=True)
    os.makedirs(os.path.dirname(a.json), exist_ok=True)
    with open(a.json, "w") as f:
        json.dump(res, f, indent=1)
    print(f"written {a.json}")


if __name__ == "__main__":
    main()
