#!/usr/bin/env python3
"""The class softmax against the full softmax (and PyTorch's adaptive softmax, when
PyTorch is importable), measured side by side in one run: absolute figures move with
the machine's load, the ratios measured in the same round are what to compare.

  python benchmarks/class_softmax.py                  # speed: training and eval, C = 8000 and 32,000
  python benchmarks/class_softmax.py --threads 1      # one BLAS thread per process (a loaded machine)
  python benchmarks/class_softmax.py quality          # perplexity in a fixed time, full vs class
  python benchmarks/class_softmax.py binning          # equal unigram mass vs equal sqrt mass

speed: `rnn train` on tokenized corpora (`rnn tokenize`), the reference configuration
(H = 100, float32, batch 32, full BPTT, plain SGD), for --seconds of training per run
(`--max-time`), tokens/s of the training steps from the `--log` record; rounds
interleave full, class and PyTorch so slow spells hit all of them. C = 8000:
tinyshakespeare; C = 32,000: every file of ../shared/corpora concatenated. Eval:
`rnn eval` of each trained model on held-out text (WikiText-2 test for C = 32,000, the
last 10% of tinyshakespeare's lines for C = 8000; tokenized with the model's
vocabulary). PyTorch: nn.RNN with nn.AdaptiveLogSoftmaxWithLoss (head and two tail
clusters, div_value 4) and with a full softmax, same batches (benchmarks/torch_adaptive.py).

quality: `rnn train` with its default recipe and --softmax full or class for --budget
seconds on each corpus (splits as benchmarks/quality.py), test perplexity by `rnn eval`.
Add --big-tokens N for the large-corpus comparison: N tokens sampled from an order-2
n-gram of all the shared corpora (benchmarks/synthetic.py; no real corpus here has 10
million distinct tokens, and repeating one is not a large corpus), tested on a sample
of the same source whose floor (the source's own perplexity) is printed.

binning: `rnn train --softmax class` with classes of equal unigram mass (what rnncli
uses) and of equal square-root mass, same budget: tokens/s, epochs and test perplexity.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
SHARED = os.path.join(REPO, "..", "shared", "corpora")
ALL = ["tinyshakespeare.txt", "gutenberg/austen-emma.txt", "gutenberg/carroll-alice.txt",
       "gutenberg/melville-moby_dick.txt", "wikitext-2/valid.txt", "wikitext-2/test.txt"]
REFERENCE = ["--hidden-dim", "100", "--dtype", "float32", "--batch-size", "32", "--bptt-truncate", "-1",
             "--optimizer", "sgd", "--lr", "0.005", "--patience", "0"]


def run(*args, env=None):
    r = subprocess.run([sys.executable, *args], capture_output=True, text=True, env=dict(os.environ, **(env or {})))
    if r.returncode != 0:
        sys.exit(f"class_softmax: {' '.join(args)} failed:\n{r.stderr}")
    return r.stdout


def rnn(*args, power=None):
    if power is None:
        return run("-m", "rnncli", *args)
    # the binning experiment only: the same command with another class-binning power
    code = ("import sys, rnncli.lm.prepare as p; p.CLASS_POWER = float(sys.argv[1]); "
            "from rnncli.cli import main; main(sys.argv[2:])")
    return run("-c", code, str(power), *args)


def split_lines(src, d, frac=0.9):
    lines = open(src, encoding="utf-8").read().splitlines(keepends=True)
    cut = int(len(lines) * frac)
    tr, te = os.path.join(d, "train.txt"), os.path.join(d, "test.txt")
    open(tr, "w").writelines(lines[:cut])
    open(te, "w").writelines(lines[cut:])
    return tr, te


def corpora(work, cache, which=("8k", "32k")):
    """name -> (training corpus .npz, held-out .npz with its vocabulary, vocabulary size)"""
    out = {}
    if "8k" in which:
        d = os.path.join(work, "8k")
        os.makedirs(d, exist_ok=True)
        tr, te = split_lines(os.path.join(SHARED, "tinyshakespeare.txt"), d)
        rnn("tokenize", tr, "-o", os.path.join(d, "train.npz"), "--vocab-size", "8000", "--cache-dir", cache, "-q")
        rnn("tokenize", te, "-m", os.path.join(d, "train.npz"), "-o", os.path.join(d, "test.npz"),
            "--cache-dir", cache, "-q")
        out["8k"] = (os.path.join(d, "train.npz"), os.path.join(d, "test.npz"), 8000)
    if "32k" in which:
        d = os.path.join(work, "32k")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "all.txt"), "w", encoding="utf-8") as f:
            for rel in ALL:
                f.write(open(os.path.join(SHARED, rel), encoding="utf-8").read())
                f.write("\n\n")
        rnn("tokenize", os.path.join(d, "all.txt"), "-o", os.path.join(d, "train.npz"), "--vocab-size", "32000",
            "--cache-dir", cache, "-q")
        rnn("tokenize", os.path.join(SHARED, "wikitext-2", "test.txt"), "-m", os.path.join(d, "train.npz"),
            "-o", os.path.join(d, "test.npz"), "--cache-dir", cache, "-q")
        out["32k"] = (os.path.join(d, "train.npz"), os.path.join(d, "test.npz"), 32000)
    return out


def train_speed(work, train_npz, softmax, seconds, threads, tag):
    out, log = os.path.join(work, f"{tag}.npz"), os.path.join(work, f"{tag}.jsonl")
    if os.path.exists(log):
        os.unlink(log)
    rnn("train", train_npz, "-o", out, "--softmax", softmax, "--max-time", str(seconds), "--epochs", "1",
        "--log", log, "--threads", str(threads), "-q", *REFERENCE)
    rec = json.loads(open(log).read().splitlines()[-1])
    return rec["tokens_per_s"], out


def eval_speed(model, test_npz, threads):
    return json.loads(rnn("eval", "-m", model, test_npz, "--json", "-q", "--threads", str(threads)))["tokens_per_s"]


def torch_speed(train_npz, output, cutoffs, seconds, threads):
    try:
        import torch  # noqa: F401
    except ImportError:
        return None
    args = [os.path.join(HERE, "torch_adaptive.py"), train_npz, "--output", output, "--max-time", str(seconds),
            "--threads", str(threads)]
    if cutoffs:
        args += ["--cutoffs", cutoffs]
    return json.loads(run(*args).strip().splitlines()[-1])["tokens_per_s"]


CUTOFFS = {8000: "500,2000", 32000: "2000,8000"}


def speed(a, work, cache):
    data = corpora(work, cache, a.corpora)
    res = {name: {} for name in data}
    for rnd in range(a.rounds):
        for name, (tr, te, C) in data.items():
            r = res[name]
            for sm in ("full", "class"):
                v, model = train_speed(work, tr, sm, a.seconds, a.threads, f"{name}-{sm}")
                r.setdefault(f"rnncli {sm}", []).append(v)
                r.setdefault(f"rnncli eval {sm}", []).append(eval_speed(model, te, a.threads))
            t = torch_speed(tr, "adaptive", CUTOFFS[C], a.seconds, a.torch_threads)
            if t:
                r.setdefault("torch adaptive", []).append(t)
                if C <= 8000 or a.torch_full_32k:
                    r.setdefault("torch full", []).append(torch_speed(tr, "full", None, a.seconds, a.torch_threads))
            print(f"round {rnd + 1} C={C}: " + ", ".join(f"{k} {v[-1]:,.0f}" for k, v in r.items()), flush=True)
    print()
    print(f"threads: rnncli {a.threads}, PyTorch {a.torch_threads}; {a.seconds:g} s of training per run; "
          f"median of {a.rounds} interleaved rounds; ratios of the medians")
    print("| C | what | tokens/s | ratio |")
    print("|---:|---|---:|---|")
    summary = {}
    for name, (tr, te, C) in data.items():
        m = {k: statistics.median(v) for k, v in res[name].items()}
        summary[name] = {"C": C, **m, "rounds": res[name]}
        f, c = m["rnncli full"], m["rnncli class"]
        print(f"| {C} | rnn train --softmax full | {f:,.0f} | |")
        print(f"| {C} | rnn train --softmax class | {c:,.0f} | {c / f:.1f}x full |")
        print(f"| {C} | rnn eval, full | {m['rnncli eval full']:,.0f} | |")
        print(f"| {C} | rnn eval, class | {m['rnncli eval class']:,.0f} | "
              f"{m['rnncli eval class'] / m['rnncli eval full']:.1f}x full |")
        if "torch adaptive" in m:
            print(f"| {C} | PyTorch nn.RNN + AdaptiveLogSoftmaxWithLoss (cutoffs {CUTOFFS[C]}) | "
                  f"{m['torch adaptive']:,.0f} | rnncli class is {c / m['torch adaptive']:.2f}x |")
        if "torch full" in m:
            print(f"| {C} | PyTorch nn.RNN, full softmax | {m['torch full']:,.0f} | "
                  f"rnncli full is {f / m['torch full']:.2f}x |")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(summary, f, indent=1)


def train_and_test(d, train_npz, test_npz, label, args, budget, power=None):
    out, log = os.path.join(d, f"{label}.npz"), os.path.join(d, f"{label}.jsonl")
    if os.path.exists(log):
        os.unlink(log)
    rnn("train", train_npz, "-o", out, "--max-time", str(budget), "--log", log, "-q", *args, power=power)
    recs = [json.loads(line) for line in open(log)]
    test = json.loads(rnn("eval", "-m", out, test_npz, "--json", "-q"))
    toks = sum(r["train_tokens"] for r in recs)
    minutes = sum(r["seconds"] for r in recs) / 60           # training and validation
    return {"label": label, "epochs": recs[-1]["epoch"], "train_tokens": toks, "minutes": round(minutes, 2),
            "tokens_per_s": round(toks / sum(r["train_tokens"] / r["tokens_per_s"] for r in recs if r["tokens_per_s"])),
            "best_val_ppl": min(r["val_ppl"] for r in recs if r["val_ppl"]), "test_ppl": round(test["perplexity"], 2)}


QUALITY = {"wikitext-2": ("wikitext-2/valid.txt", "wikitext-2/test.txt"),
           "tinyshakespeare": ("tinyshakespeare.txt", None),
           "austen-emma": ("gutenberg/austen-emma.txt", None)}


def quality_corpus(name, work, cache, vocab_size=8000):
    train_rel, test_rel = QUALITY[name]
    d = os.path.join(work, name)
    os.makedirs(d, exist_ok=True)
    if test_rel:
        tr, te = os.path.join(SHARED, train_rel), os.path.join(SHARED, test_rel)
    else:
        tr, te = split_lines(os.path.join(SHARED, train_rel), d)
    rnn("tokenize", tr, "-o", os.path.join(d, "train.npz"), "--vocab-size", str(vocab_size), "--cache-dir", cache, "-q")
    rnn("tokenize", te, "-m", os.path.join(d, "train.npz"), "-o", os.path.join(d, "test.npz"), "--cache-dir", cache,
        "-q")
    return d, os.path.join(d, "train.npz"), os.path.join(d, "test.npz")


def big_corpus(work, cache, tokens):
    """A corpus of ``tokens`` distinct sampled tokens: benchmarks/synthetic.py's order-2
    n-gram of every shared corpus (tokenized together, vocabulary 8000), with a test set
    from the same source and the source's own test perplexity (the floor). Repeating
    the shared corpora instead gives every pass the same sentences (measured: the
    model learns the copies and early stopping never sees it)."""
    d = os.path.join(work, "big")
    os.makedirs(d, exist_ok=True)
    src = os.path.join(d, "source.npz")
    rnn("tokenize", *[os.path.join(SHARED, rel) for rel in ALL], "-o", src, "--vocab-size", "8000",
        "--cache-dir", cache, "-q")
    run(os.path.join(HERE, "synthetic.py"), "ngram", src, d, "--tokens", str(tokens))
    floor = json.load(open(os.path.join(d, "floor.json")))
    print(f"big corpus: {floor['train_tokens']:,} tokens sampled from an order-2 n-gram of the shared corpora; "
          f"the source's test perplexity (floor) {floor['test_floor_perplexity']:.2f}", flush=True)
    return d, os.path.join(d, "train.npz"), os.path.join(d, "test.npz")


def quality(a, work, cache):
    rows = []
    sets = [(n, *quality_corpus(n, work, cache)) for n in a.quality_corpora]
    if a.big_tokens:
        sets.append(("big", *big_corpus(work, cache, a.big_tokens)))
    for name, d, tr, te in sets:
        for sm in ("full", "class"):
            r = dict(train_and_test(d, tr, te, sm, ["--softmax", sm, *a.extra.split()], a.budget),
                     corpus=name)
            rows.append(r)
            print(json.dumps(r), flush=True)
    print(f"\n| corpus | softmax | epochs | train tokens | tokens/s | minutes | best val ppl | test ppl |  "
          f"(--max-time {a.budget:g} {a.extra})")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['corpus']} | {r['label']} | {r['epochs']} | {r['train_tokens']:,} | {r['tokens_per_s']:,} | "
              f"{r['minutes']} | {r['best_val_ppl']:.1f} | {r['test_ppl']:.1f} |")


def binning(a, work, cache):
    rows = []
    for name in a.quality_corpora:
        d, tr, te = quality_corpus(name, work, cache)
        for label, power in (("mass", 1.0), ("sqrt", 0.5)):
            r = dict(train_and_test(d, tr, te, label, ["--softmax", "class", *a.extra.split()], a.budget, power=power),
                     corpus=name)
            rows.append(r)
            print(json.dumps(r), flush=True)
    print(f"\n| corpus | classes of equal | epochs | tokens/s | minutes | best val ppl | test ppl |  "
          f"(--max-time {a.budget:g} {a.extra})")
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['corpus']} | {r['label']} | {r['epochs']} | {r['tokens_per_s']:,} | {r['minutes']} | "
              f"{r['best_val_ppl']:.1f} | {r['test_ppl']:.1f} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", nargs="?", default="speed", choices=["speed", "quality", "binning"])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=20, help="speed: seconds of training per run")
    ap.add_argument("--threads", type=int, default=2, help="rnncli's --threads")
    ap.add_argument("--torch-threads", type=int, default=2)
    ap.add_argument("--torch-full-32k", action="store_true", help="also PyTorch's full softmax at C = 32,000")
    ap.add_argument("--corpora", nargs="*", default=["8k", "32k"], choices=["8k", "32k"])
    ap.add_argument("--budget", type=float, default=300, help="quality/binning: seconds of training per run")
    ap.add_argument("--quality-corpora", nargs="*", default=list(QUALITY), choices=list(QUALITY))
    ap.add_argument("--extra", default="", help="quality/binning: more `rnn train` options, e.g. '--threads 1'")
    ap.add_argument("--big-tokens", type=float, default=0, help="quality: also a corpus of this many tokens")
    ap.add_argument("--json", default=None, help="speed: write the figures here")
    ap.add_argument("--work", default=None)
    a = ap.parse_args()
    if not os.path.isdir(SHARED):
        sys.exit(f"class_softmax: {SHARED} not found (the shared corpora are not part of the product)")
    work = a.work or tempfile.mkdtemp(prefix="rnncli-class-")
    cache = os.path.join(work, "cache")
    {"speed": speed, "quality": quality, "binning": binning}[a.mode](a, work, cache)


if __name__ == "__main__":
    main()
