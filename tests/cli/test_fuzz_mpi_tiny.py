"""The fuzz suite's class "MPI with tiny corpora" (issue 22): random process counts,
corpus sizes, batch sizes and validation fractions under mpiexec. The property: exit
status 0 with the model one process trains and, when some processes have nothing to
compute, one note about it; or a non-zero status with one line from one process. Never
a traceback, MPICH abort text or a lock file left. Each example starts mpiexec, so the
default run draws a few (tests/conftest.py: the same ones every time); the slow run more."""
import os

import numpy as np
import pytest

from rnncli import checkpoint

from ..helpers import mpiexec, needs_mpi, rnn
from .test_mpi_tiny import FAST, NOISE, assert_one_error, corpus, leftovers

pytest.importorskip("hypothesis", reason="the fuzz suite needs hypothesis: pip install -e '.[test]'")

from hypothesis import given, note, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

pytestmark = needs_mpi

FAST_RUNS, SLOW_RUNS = 4, 40     # examples: default run, slow run

runs = st.fixed_dictionaries({"n": st.integers(2, 4), "k": st.integers(0, 3),
                              "batch": st.sampled_from([1, 2, 3, 32]), "val": st.sampled_from([0.0, 0.1, 0.5])})


def tiny_run(tmp_path, capsys, monkeypatch, run):
    note(repr(run))
    d = tmp_path / f"run{len(os.listdir(tmp_path))}"
    d.mkdir()
    c = corpus(d / "c.txt", run["k"])
    args = ["train", c, *FAST, "--batch-size", run["batch"], "--val-fraction", run["val"]]
    quiet = ["-q"] if run["k"] == 0 else []
    p = mpiexec(run["n"], "-m", "rnncli", *args, "-o", "m.npz", *quiet, cwd=d)
    if run["k"] == 0:
        assert_one_error(p, d, "no text found")
        return
    out = p.stdout + p.stderr
    assert p.returncode == 0 and not NOISE.search(out) and "error" not in out, out
    assert not leftovers(d)
    k, val = run["k"], run["val"]
    n_train = k - (max(1, min(round(val * k), k - 1)) if val and k >= 2 else 0)
    busy = min(run["batch"], n_train)
    assert p.stderr.count("will have nothing to compute") == (busy < run["n"]), out
    monkeypatch.chdir(d)
    r = rnn(capsys, *args, "-o", "one.npz", "-q")
    assert r.code == 0, r
    many, one = checkpoint.load(str(d / "m.npz")), checkpoint.load(str(d / "one.npz"))
    for key, v in one.params.items():
        assert np.allclose(many.params[key], v, rtol=0, atol=1e-12 * np.abs(v).max()), key


@settings(max_examples=FAST_RUNS)
@given(run=runs)
def test_fuzz_mpi_tiny_corpora(tmp_path, capsys, monkeypatch, run):
    tiny_run(tmp_path, capsys, monkeypatch, run)


@pytest.mark.slow
@settings(max_examples=SLOW_RUNS)
@given(run=runs)
def test_fuzz_mpi_tiny_corpora_long(tmp_path, capsys, monkeypatch, run):
    tiny_run(tmp_path, capsys, monkeypatch, run)
