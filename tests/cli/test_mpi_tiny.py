"""`rnn train` under mpiexec on tiny corpora and with a setup error on one process
(issue 22). A corpus with fewer training sentences than processes trains: a process
computes whole sentences of a batch, and the ones left without any add zero gradients,
so the model is the one a single process trains; rank 0 says once how many have
nothing to do. Every error before training (no sentences, a bad option, a model the
vocabulary cannot hold, a file one process cannot read or sees differently) is one line
from one process and a non-zero exit status, with no lock file left, no traceback and no
MPICH abort text."""
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from rnncli import checkpoint

from ..helpers import MPIEXEC, mpi_env, mpiexec, needs_mpi, rnn

pytestmark = needs_mpi

SENTENCES = ["The cat sat on the mat.", "A dog ran to the park.", "The bird flew over the old house."]
# one sentence a line: no Punkt to train, and the sentence count is exact
FAST = ["--sentences", "lines", "--hidden-dim", "3", "--epochs", "2", "--dtype", "float64"]
# what MPICH (or Python) prints when a process dies badly
NOISE = re.compile(r"Traceback|Abort\(|MPI_Abort|error stack|Fatal error|BAD TERMINATION|Message truncated")


def corpus(path, k):
    """``k`` sentences, one a line; k = 0: blank lines only."""
    path.write_text("".join(s + "\n" for s in SENTENCES[:k]) if k else "\n  \n\n")
    return path


def leftovers(d):
    """Lock files anywhere under ``d``."""
    return [os.path.join(r, f) for r, _, fs in os.walk(d) for f in fs if f.endswith(".lock")]


def assert_one_error(p, d, *needles):
    """Non-zero exit, exactly one line in rnn's error format (so from one process),
    naming each needle; no lock, traceback or MPICH text; no checkpoint."""
    out = p.stdout + p.stderr
    assert p.returncode not in (0, None), out
    assert not NOISE.search(out), out
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and not p.stdout.strip(), out
    assert re.match(r"rnn( train)?: error: ", lines[0]) and "stopping every process" not in lines[0], out
    for n in needles:
        assert n in lines[0], (n, out)
    assert not leftovers(d), leftovers(d)
    assert not [f for f in os.listdir(d) if f.startswith("m.")], os.listdir(d)
    return lines[0]


def mpmd(parts, timeout=120):
    """One mpiexec run of several programs: parts = [(processes, working dir, python args)]."""
    cmd = [MPIEXEC]
    for i, (n, wdir, args) in enumerate(parts):
        cmd += ([":"] if i else []) + ["-n", str(n), "-wdir", str(wdir), sys.executable, *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, env=mpi_env(), timeout=timeout)


# ------------------------------------------------------------------ tiny corpora


@pytest.mark.parametrize("n", [2, 3])
@pytest.mark.parametrize("k", [0, 1, 2, 3])
def test_tiny_corpus_trains_the_one_process_model_or_is_one_line(tmp_path, capsys, monkeypatch, n, k):
    c = corpus(tmp_path / "c.txt", k)
    if k == 0:
        p = mpiexec(n, "-m", "rnncli", "train", c, *FAST, "-o", "m.npz", "-q", cwd=tmp_path)
        assert_one_error(p, tmp_path, "c.txt: no text found")
        return
    p = mpiexec(n, "-m", "rnncli", "train", c, *FAST, "-o", "m.npz", cwd=tmp_path)
    out = p.stdout + p.stderr
    assert p.returncode == 0, out
    assert not NOISE.search(out) and "error" not in out, out
    assert not leftovers(tmp_path)
    n_train = k - (k >= 2)                        # --val-fraction 0.1 holds out one of 2 or 3
    idle = n - n_train
    notes = re.findall(r"note: \d+ training sentences? for \d+ processes: .*", p.stderr)
    if idle > 0:
        assert notes == [f"note: {n_train} training sentence{'s' if n_train > 1 else ''} for {n} processes: "
                         f"{idle} of them will have nothing to compute; the model is the one a single "
                         f"process trains"], out
    else:
        assert notes == [], out
    assert p.stderr.count("done (all epochs done): m.npz") == 1, out
    # the processes without a sentence added zeros: one process trains the same model
    monkeypatch.chdir(tmp_path)
    r = rnn(capsys, "train", c, *FAST, "-o", "one.npz", "-q")
    assert r.code == 0, r
    two, one = checkpoint.load(str(tmp_path / "m.npz")), checkpoint.load(str(tmp_path / "one.npz"))
    assert two.task.vocab.words == one.task.vocab.words
    for key, v in one.params.items():
        assert np.allclose(two.params[key], v, rtol=0, atol=1e-12 * np.abs(v).max()), key


def test_batches_smaller_than_the_processes_train(tmp_path):
    """--batch-size 1 under two processes: rank 1 has nothing to compute in any step
    (before the fix its first empty step summed its gradient densely against rank 0's
    row-sparse sum, and MPICH stopped both on 'Message truncated')."""
    c = corpus(tmp_path / "c.txt", 3)
    p = mpiexec(2, "-m", "rnncli", "train", c, *FAST, "--val-fraction", "0", "--batch-size", "1", "-o", "m.npz",
                cwd=tmp_path)
    out = p.stdout + p.stderr
    assert p.returncode == 0 and not NOISE.search(out), out
    assert p.stderr.count("note: --batch-size 1 for 2 processes: 1 of them will have nothing to compute in any "
                          "step; give --batch-size 2 or more to use every process") == 1, out
    assert checkpoint.load(str(tmp_path / "m.npz")).state["epoch"] == 2
    assert not leftovers(tmp_path)


# ------------------------------------------------------------------ an error before training


@pytest.mark.parametrize("args, needle", [
    (["--val-fraction", "0.9"], "--val-fraction"),                                   # the parser's
    (["--classes", "50"], "--classes 50 is more than the 19 vocabulary entries"),    # the model's, after the data
    (["--val", "blank.txt"], "blank.txt: no text found"),                           # nothing to validate on
])
def test_a_bad_option_is_one_line_from_one_process(tmp_path, args, needle):
    corpus(tmp_path / "c.txt", 3)
    corpus(tmp_path / "blank.txt", 0)
    p = mpiexec(3, "-m", "rnncli", "train", "c.txt", *FAST, *args, "-o", "m.npz", "-q", cwd=tmp_path)
    assert_one_error(p, tmp_path, needle)


# rank 1 and up run rnn with reading c.txt denied (root reads any file, so chmod cannot)
DENIED = """import builtins, errno, os, runpy
real = builtins.open
def denied(f, *a, **kw):
    if isinstance(f, (str, bytes, os.PathLike)) and os.path.basename(os.fsdecode(f)) == "c.txt":
        raise PermissionError(errno.EACCES, "Permission denied", f)
    return real(f, *a, **kw)
builtins.open = denied
runpy.run_module("rnncli", run_name="__main__", alter_sys=True)
"""


@pytest.mark.parametrize("how", ["missing", "a directory", "unreadable", "shorter"])
def test_a_file_one_process_cannot_read_is_one_line(tmp_path, how):
    """Rank 0 reads c.txt in one directory, the others in another where it is missing, a
    directory, cannot be opened, or is shorter (a copy that is not the same file)."""
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    text = "".join(f"{s} {w}\n\n" for w in ("one", "two", "three", "four") for s in SENTENCES)
    (a / "c.txt").write_text(text)
    rest = ["-m", "rnncli"]
    if how == "a directory":
        (b / "c.txt").mkdir()
    elif how == "unreadable":
        b = a
        rest = ["-c", DENIED]
    elif how == "shorter":
        (b / "c.txt").write_text(text[:len(text) // 2])
    args = ["train", "c.txt", *FAST, "-o", "m.npz", "-q"]
    p = mpmd([(1, a, ["-m", "rnncli", *args]), (2, b, [*rest, *args])])
    needle = {"missing": "c.txt: no such file", "a directory": "c.txt: is a directory",
              "unreadable": "c.txt: cannot read (Permission denied)",
              "shorter": f"c.txt: rank 1 sees {len(text) // 2:,} bytes, rank 0 {len(text):,}; every process "
                         "must read the same files"}[how]
    assert_one_error(p, tmp_path, needle)


# rank 0 runs out of memory in its first step: an error that meets one process only
OOM_ON_RANK_0 = """import runpy
from rnncli import train
def step(self, *a):
    raise MemoryError()
train.Trainer._step = step
runpy.run_module("rnncli", run_name="__main__", alter_sys=True)
"""


def test_an_error_on_rank_0_alone_stops_every_process_without_lock_or_mpich_text(tmp_path):
    corpus(tmp_path / "c.txt", 3)
    args = ["train", "c.txt", *FAST, "-o", "m.npz", "-q"]
    p = mpmd([(1, tmp_path, ["-c", OOM_ON_RANK_0, *args]), (1, tmp_path, ["-m", "rnncli", *args])])
    out = p.stdout + p.stderr
    assert p.returncode != 0, out
    assert [ln for ln in out.splitlines() if ln.strip()] == [
        "rnn: error: rank 0: out of memory; try a smaller --batch-size, --vocab-size, --hidden-dim or --layers; "
        "stopping every process"], out
    assert not leftovers(tmp_path)
