"""Same command and seed -> the same parameters; old checkpoints -> the same results.

  python benchmarks/same_results.py REV              # git revision REV against this tree
  python benchmarks/same_results.py DIR [NEW_DIR]    # two source trees
  python benchmarks/same_results.py REV --only default,fc

Trains every configuration of CONFIGS (language models: every cell, both softmaxes,
averaging on and off, SGD/momentum/Adam, dropout, two layers, resume; forecasters:
GRU, LSTM with attention, Elman) with the code of both trees (one thread, from a
neutral directory, PYTHONPATH naming the tree) and compares every param.* and opt.*
array of the two checkpoints bit for bit; then loads the baseline's checkpoints with
the new code and compares what eval, generate, info, forecast eval and forecast
predict print with what the baseline code prints for them (timings left out). A
refactoring must print IDENTICAL and "same" for every configuration; "(info)" lines
name stored JSON that differs. Exit status 1 on any difference. Bitwise equality
holds between two runs on one machine only (BLAS kernels differ between CPUs)."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

PY = sys.executable
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(REPO, "data")


def lm(name, *opts, resume=False):
    return name, "lm", list(opts), resume


CONFIGS = [
    lm("default", "--vocab-size", "500", "--epochs", "2"),
    lm("class", "--softmax", "class", "--vocab-size", "500", "--epochs", "2"),
    lm("gru2", "--cell", "gru", "--layers", "2", "--dropout", "0.2", "--vocab-size", "300", "--hidden-dim", "32",
       "--epochs", "2"),
    lm("lstmclass", "--cell", "lstm", "--softmax", "class", "--classes", "10", "--vocab-size", "300",
       "--hidden-dim", "24", "--epochs", "1"),
    lm("sgd", "--optimizer", "sgd", "--vocab-size", "400", "--epochs", "2"),
    lm("relu", "--activation", "relu", "--recurrent-init", "identity", "--bias", "--lr", "0.001", "--epochs", "1",
       "--vocab-size", "300"),
    lm("momwd", "--optimizer", "momentum", "--weight-decay", "1e-4", "--softmax", "class", "--vocab-size", "300",
       "--epochs", "1", "--lr", "0.05"),
    lm("resume", "--vocab-size", "300", "--epochs", "1", "--cell", "gru", "--hidden-dim", "20", resume=True),
    ("fc", "forecast", ["--target", "demand", "--history", "24", "--horizon", "6", "--calendar", "--epochs", "2"], False),
    ("fcatt", "forecast", ["--target", "demand", "--history", "16", "--horizon", "4", "--attention", "--cell", "lstm",
                           "--layers", "2", "--decoder-training", "teacher", "--epochs", "2"], False),
    ("fcrnn", "forecast", ["--target", "demand", "--features", "temp", "--history", "12", "--horizon", "3",
                           "--cell", "rnn", "--epochs", "1"], True),
]


def rnn(tree, cwd, *args):
    env = dict(os.environ, PYTHONPATH=tree, RNNCLI_CACHE_DIR=os.path.join(cwd, "cache"), OPENBLAS_NUM_THREADS="1")
    env.pop("NLTK_DATA", None)
    p = subprocess.run([PY, "-m", "rnncli", *args], cwd=cwd, env=env, capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def train(tree, work, name, kind, opts, resume):
    out = os.path.join(work, name + ".npz")
    if kind == "lm":
        base = ["train", os.path.join(work, "small.txt"), "-o", out, "--threads", "1", "--seed", "3", "-q", "--no-cache"]
    else:
        base = ["forecast", "train", os.path.join(DATA, "series.csv"), "-o", out, "--threads", "1", "--seed", "3",
                "-q"]
    rc, o, e = rnn(tree, work, *base, *opts)
    if rc:
        raise SystemExit(f"{name}: train failed with {tree}: {e.strip()[-500:]}")
    if resume:
        more = [a if a != "1" or i == 0 or opts[i - 1] != "--epochs" else "2" for i, a in enumerate(opts)]
        base2 = [a for a in base]
        rc, o, e = rnn(tree, work, *base2, "--resume", out, *more)
        if rc:
            raise SystemExit(f"{name}: resume failed with {tree}: {e.strip()[-500:]}")
    return out


def arrays(path):
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def untimed(r):
    rc, o, e = r
    try:
        d = json.loads(o)
    except ValueError:
        return r
    return rc, json.dumps({k: v for k, v in d.items() if k not in ("seconds", "tokens_per_s")}), e


def uses(tree, kind, ck, work):
    """What the code of ``tree`` prints for checkpoint ck."""
    out = {}
    if kind == "lm":
        out["eval"] = rnn(tree, work, "eval", "-m", ck, os.path.join(work, "held.txt"), "--threads", "1", "--no-cache")
        out["eval_json"] = untimed(rnn(tree, work, "eval", "-m", ck, os.path.join(work, "held.txt"), "--json",
                                       "--no-cache"))
        out["generate"] = rnn(tree, work, "generate", "-m", ck, "-n", "3", "--seed", "1")
        out["info"] = rnn(tree, work, "info", "-m", ck)
    else:
        csv = os.path.join(DATA, "series.csv")
        out["feval"] = untimed(rnn(tree, work, "forecast", "eval", "-m", ck, csv, "--json", "--threads", "1"))
        out["fpredict"] = rnn(tree, work, "forecast", "predict", "-m", ck, csv, "--threads", "1")
        out["info"] = rnn(tree, work, "info", "-m", ck)
    return out


def main():
    args = [a for i, a in enumerate(sys.argv[1:]) if a != "--only" and (i == 0 or sys.argv[i] != "--only")]
    only = sys.argv[sys.argv.index("--only") + 1].split(",") if "--only" in sys.argv else None
    root = tempfile.mkdtemp(prefix="same-results-")
    base, new = args[0], args[1] if len(args) > 1 else REPO
    worktree = None
    if not os.path.isdir(base):        # a git revision: its code in a temporary worktree
        worktree = base = os.path.join(root, "baseline")
        subprocess.run(["git", "-C", REPO, "worktree", "add", "--detach", base, args[0]], check=True,
                       capture_output=True)
    try:
        bad = compare(base, new, only, root)
    finally:
        if worktree:
            subprocess.run(["git", "-C", REPO, "worktree", "remove", "--force", worktree], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
    sys.exit(1 if bad else 0)


def compare(base, new, only, root) -> int:
    lines = open(os.path.join(DATA, "corpus.txt")).read().splitlines()
    bad = 0
    for name, kind, opts, resume in CONFIGS:
        if only and name not in only:
            continue
        ws = {}
        for side, tree in (("base", base), ("new", new)):
            w = ws[side] = os.path.join(root, name, side)
            os.makedirs(w)
            open(os.path.join(w, "small.txt"), "w").write("\n".join(lines[:1200]) + "\n")
            open(os.path.join(w, "held.txt"), "w").write("\n".join(lines[8000:8200]) + "\n")
        cb = train(base, ws["base"], name, kind, opts, resume)
        cn = train(new, ws["new"], name, kind, opts, resume)
        a, b = arrays(cb), arrays(cn)
        keys = sorted(k for k in a if k.startswith(("param.", "opt.")))
        keys_n = sorted(k for k in b if k.startswith(("param.", "opt.")))
        diff = []
        if keys != keys_n:
            diff.append(f"array names differ: {sorted(set(keys) ^ set(keys_n))}")
        for k in keys:
            if k in b and (a[k].dtype != b[k].dtype or a[k].shape != b[k].shape or a[k].tobytes() != b[k].tobytes()):
                diff.append(f"{k} differs (max abs {np.max(np.abs(a[k].astype(float) - b[k].astype(float))):.3g})")
        for k in ("model", "task"):
            if k in a and k in b and json.loads(str(a[k])) != json.loads(str(b[k])):
                diff.append(f"(info) {k} JSON differs")
        ua, ub = uses(base, kind, cb, ws["base"]), uses(new, kind, cb, ws["base"])
        for k in ua:
            if ua[k] != ub[k]:
                diff.append(f"{k} on the baseline checkpoint: baseline rc={ua[k][0]} {ua[k][1][-300:]!r} {ua[k][2][-300:]!r}"
                            f"\n      new rc={ub[k][0]} {ub[k][1][-300:]!r} {ub[k][2][-300:]!r}")
        hard = [d for d in diff if not d.startswith("(info)")]
        bad += bool(hard)
        print(f"{name}: {len(keys)} arrays {'IDENTICAL' if not any('differ' in d and not d.startswith('(info)') for d in diff) else 'DIFFER'}; "
              f"uses on the baseline checkpoint {'same' if not any(' on the baseline' in d for d in diff) else 'DIFFER'}",
              flush=True)
        for d in diff:
            print("   ", d)
    return bad


if __name__ == "__main__":
    main()
