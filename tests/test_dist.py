"""Training on several processes (rnncli/dist.py): the communicator seam and, where mpi4py and mpiexec
are installed, real runs under `mpiexec -n 2`."""
import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from rnncli import checkpoint, dist
from rnncli.errors import DataError
from rnncli.lm.prepare import configure, prepare_training
from rnncli.registry import OPTIMIZERS
from rnncli.train import Trainer, flat_zeros_like

from .helpers import HAVE_MPI4PY, MPIEXEC, REPO, assert_user_error, mpi_env, mpiexec, needs_mpi, rnn, text_corpus
from .mpi_worker import GIVEN, Quiet


def test_checksum_sees_one_bit():
    p = {"a": np.arange(6.0).reshape(2, 3), "b": np.ones((3, 2)).T}
    q = {k: v.copy() for k, v in p.items()}
    assert dist.checksum(p) == dist.checksum(q)
    q["a"].view(np.uint64)[1, 1] ^= 1
    assert dist.checksum(p) != dist.checksum(q)


def test_launch_detection_and_modes():
    assert dist.launch_size({}) is None and dist.launch_rank({}) == 0
    assert dist.launch_size({"PMI_RANK": "1", "PMI_SIZE": "4"}) == 4
    assert dist.launch_rank({"OMPI_COMM_WORLD_RANK": "3"}) == 3
    assert dist.launch_size({"PMIX_RANK": "0"}) == 0           # launched, size unknown until MPI says
    assert isinstance(dist.connect("auto", env={}), dist.SingleProcess)
    assert isinstance(dist.connect("off", env={"PMI_RANK": "0", "PMI_SIZE": "2"}), dist.SingleProcess)
    assert isinstance(dist.connect("auto", env={"PMI_RANK": "0", "PMI_SIZE": "1"}), dist.SingleProcess)
    with pytest.raises(DataError, match="not started by an MPI launcher"):
        dist.connect("require", env={})


def test_launched_without_mpi4py_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "mpi4py", None)      # import mpi4py fails
    monkeypatch.setenv("PMI_SIZE", "2")
    monkeypatch.setenv("PMI_RANK", "0")
    f = tmp_path / "c.txt"
    f.write_text(text_corpus())
    r = rnn(capsys, "train", f, "-o", tmp_path / "m.npz", "-q")
    assert_user_error(r, "mpi4py is not installed", "rnncli[mpi]")
    monkeypatch.setenv("PMI_RANK", "1")                   # the other processes stay silent
    r = rnn(capsys, "train", f, "-o", tmp_path / "m.npz", "-q")
    assert r.code == 1 and r.err == ""


def test_plain_training_never_imports_mpi4py(tmp_path):
    f = tmp_path / "c.txt"
    f.write_text(text_corpus())
    env = mpi_env()                                  # no launcher's variables; this checkout's code
    code = ("import sys\nfrom rnncli.cli import main\n"
            "try:\n    main(sys.argv[1:])\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
            "print('mpi4py' in sys.modules)")
    p = subprocess.run([sys.executable, "-c", code, "train", str(f), "-o", str(tmp_path / "m.npz"), "--hidden-dim", "3",
                        "--epochs", "1", "-q"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip().splitlines()[-1] == "False"


# ------------------------------------------------------------------ under mpiexec


def one_process(files, opt, outdir):
    s = prepare_training(files, [], configure(dict(GIVEN, optimizer=opt)), None, False, None, Quiet())
    Trainer(s.cfg, s.net, s.params, s.task, str(outdir / f"{opt}.npz"), save_best=False).run()
    return s


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    """One `mpiexec -n 2 python tests/mpi_worker.py` run: its JSON result, the corpus
    and the directory of its files."""
    if not (HAVE_MPI4PY and MPIEXEC):
        pytest.skip("needs mpi4py and mpiexec: pip install 'rnncli[mpi]'")
    d = tmp_path_factory.mktemp("mpi")
    files = []
    for i in range(2):
        f = d / f"part{i}.txt"
        f.write_text(text_corpus(n_par=10, seed=10 + i))
        files.append(str(f))
    p = mpiexec(2, os.path.join(REPO, "tests", "mpi_worker.py"), d, *files, cwd=d)
    assert p.returncode == 0, p.stderr[-3000:]
    with open(d / "result.json") as f:
        return json.load(f), files, d


@needs_mpi
def test_each_rank_reads_a_different_share_and_builds_the_same_vocabulary(two_ranks):
    res, files, _ = two_ranks
    assert res["size"] == 2
    (a0, b0), (a1, b1) = res["shares"]
    assert a0 == 0 and b0 == a1 and b0 > 0 and b1 > a1          # disjoint byte ranges, both non-empty
    assert all(n > 0 for n in res["owned_pieces"])
    v0, v1 = res["vocabs"]
    assert v0 == v1
    s = prepare_training(files, [], configure(dict(GIVEN)), None, False, None, Quiet())
    assert v0 == s.task.data.vocab.words                        # and the one one process builds


@needs_mpi
@pytest.mark.parametrize("opt", OPTIMIZERS)
def test_two_ranks_step_like_one_process(two_ranks, tmp_path, opt):
    """The same global batches, gradients summed by Allreduce: the parameters after an
    epoch of a few steps agree with one process's to 1e-12 (float64), for every optimizer;
    so do the checkpoints' vocabulary, validation sentences and history."""
    _, files, d = two_ranks
    s = one_process(files, opt, tmp_path)
    assert s.task.n_batches() >= 3
    with np.load(d / f"{opt}.params.npz") as z:
        for k, v in s.params.items():
            rel = np.abs(z[k] - v).max() / np.abs(v).max()
            assert rel < 1e-12, (k, rel)
    c1, c2 = checkpoint.load(str(tmp_path / f"{opt}.npz")), checkpoint.load(str(d / f"{opt}.npz"))
    assert c1.task.vocab.words == c2.task.vocab.words
    assert np.array_equal(c1.task.val.ids, c2.task.val.ids) and np.array_equal(c1.task.val.lens, c2.task.val.lens)
    h1, h2 = c1.state["history"][0], c2.state["history"][0]
    assert h1["train_tokens"] == h2["train_tokens"]
    assert h1["train_loss"] == pytest.approx(h2["train_loss"], rel=1e-12)
    assert h1["val_loss"] == pytest.approx(h2["val_loss"], rel=1e-12)


@needs_mpi
def test_two_ranks_sum_a_row_sparse_gradient_over_the_union_of_their_rows(two_ranks):
    res, _, _ = two_ranks
    assert res["sparse_sum"] == [[True, [1, 4, 7]], [True, [1, 4, 7]]]


def test_one_process_sums_nothing():
    params = {"W": np.zeros((3, 4)), "U": np.zeros((9, 4)).T}
    grads, flat = flat_zeros_like(type("Net", (), {"embeddings": ("U",)}), params)
    flat[...] = np.arange(flat.size)
    rows = {"U": np.array([2, 5])}
    dist.SingleProcess().sum_gradients(flat, grads, rows)
    np.testing.assert_array_equal(flat, np.arange(flat.size))
    np.testing.assert_array_equal(rows["U"], [2, 5])


@needs_mpi
def test_only_rank_0_writes(two_ranks):
    _, _, d = two_ranks
    assert {"rank0.npz", "rank0.best.npz", "rank0.jsonl"} <= set(os.listdir(d))
    assert not [f for f in os.listdir(d) if f.startswith("rank1")]
    assert checkpoint.load(str(d / "rank0.npz")).state["epoch"] == 1


@needs_mpi
def test_checksum_mismatch_stops_every_rank(two_ranks):
    res, _, _ = two_ranks
    errs = res["checksum_errors"]
    assert all(e and "rank 1 differ from rank 0's at the end of epoch 1" in e for e in errs), errs
    assert not res["nudged_written"]                             # nothing saved from diverged replicas


@needs_mpi
def test_cli_two_ranks_rank0_writes_and_one_process_resumes(tmp_path, capsys, monkeypatch):
    f = tmp_path / "c.txt"
    f.write_text(text_corpus(n_par=16))
    args = ["train", f, "--hidden-dim", "4", "--vocab-size", "25", "--batch-size", "6", "--dtype", "float64"]
    p = mpiexec(2, "-m", "rnncli", *args, "--epochs", "1", "-o", "two.npz", "--log", "two.jsonl", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert sorted(x for x in os.listdir(tmp_path) if x != "rnncli-cache") == \
        ["c.txt", "two.best.npz", "two.jsonl", "two.npz"]
    assert len(open(tmp_path / "two.jsonl").read().splitlines()) == 1          # one writer
    assert p.stderr.count("epoch 1:") + p.stdout.count("epoch 1:") == 1
    assert p.stderr.count("model: C=") == 1
    assert re.search(r"distributed: 2 processes \(rank 0 = pid \d+ on .*, rank 1 = pid \d+", p.stderr)
    # the checkpoint does not depend on N: one process writes the same one
    monkeypatch.chdir(tmp_path)
    r = rnn(capsys, *args, "--epochs", "1", "-o", "one.npz", "-q")
    assert r.code == 0, r
    two, one = checkpoint.load(str(tmp_path / "two.npz")), checkpoint.load(str(tmp_path / "one.npz"))
    assert two.task.vocab.words == one.task.vocab.words and two.config == one.config
    for k in one.params:
        assert np.allclose(two.params[k], one.params[k], rtol=0, atol=1e-12 * np.abs(one.params[k]).max())
    # and one process resumes it
    r = rnn(capsys, *args, "--resume", "two.npz", "-o", "two.npz", "--epochs", "2", "-q")
    assert r.code == 0, r
    assert checkpoint.load(str(tmp_path / "two.npz")).state["epoch"] == 2


@needs_mpi
def test_bad_input_on_one_rank_is_reported_once(tmp_path):
    good, bad = tmp_path / "good.txt", tmp_path / "bad.txt"
    good.write_text(text_corpus(n_par=10))
    bad.write_bytes(text_corpus(n_par=10, seed=5).encode() + b"broken \xff byte.\n")
    p = mpiexec(2, "-m", "rnncli", "train", good, bad, "-o", "m.npz", "-q", cwd=tmp_path)
    assert p.returncode == 1
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and re.fullmatch(r"rnn: error: .*bad\.txt: byte \d+ is not valid utf-8 .*", lines[0]), \
        p.stderr
    assert not (tmp_path / "m.npz").exists()


def start_training(tmp_path, *extra):
    """`mpiexec -n 2 rnn train` on a corpus that takes a while; returns the process and
    the PIDs of rank 0 and rank 1 once the first epoch has been written. Its standard
    output and error (and the launcher's) go to err.txt."""
    f = tmp_path / "c.txt"
    f.write_text(text_corpus(n_par=40))
    err = open(tmp_path / "err.txt", "w")
    p = subprocess.Popen([MPIEXEC, "-n", "2", sys.executable, "-m", "rnncli", "train", str(f), "--hidden-dim", "8",
                          "--vocab-size", "30", "--batch-size", "2", "--epochs", "100000", "-o", "m.npz",
                          "--log", "log.jsonl", *extra], stdout=err, stderr=subprocess.STDOUT, env=mpi_env(),
                         cwd=tmp_path)
    t0 = time.monotonic()
    while not (tmp_path / "log.jsonl").exists() or not open(tmp_path / "log.jsonl").read().strip():
        assert p.poll() is None, open(tmp_path / "err.txt").read()
        assert time.monotonic() - t0 < 90, "training did not start"
        time.sleep(0.2)
    text = open(tmp_path / "err.txt").read()
    pids = [int(x) for x in re.search(r"rank 0 = pid (\d+) .*rank 1 = pid (\d+)", text).groups()]
    return p, pids


def finish(p, tmp_path, limit):
    t0 = time.monotonic()
    try:
        p.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        p.kill()
        pytest.fail(f"mpiexec still running {limit}s after the fault")
    return time.monotonic() - t0, open(tmp_path / "err.txt").read()


@needs_mpi
def test_a_stopped_rank_is_named_and_every_process_exits(tmp_path):
    """A rank that stops answering (SIGSTOP: as a hung or unreachable process) is
    named by the other, which stops every process within the --comm-timeout bound."""
    p, (_, pid1) = start_training(tmp_path, "--comm-timeout", "2")
    os.kill(pid1, signal.SIGSTOP)
    try:
        took, err = finish(p, tmp_path, 60)
    finally:
        try:
            os.kill(pid1, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert p.returncode != 0
    assert re.search(rf"rnn: error: rank 0: rank 1 \(pid {pid1} on [^)]*stopped\) did not answer for 2s", err), err
    checkpoint.load(str(tmp_path / "m.npz"))                     # rank 0's last checkpoint is intact


@needs_mpi
def test_a_killed_rank_stops_the_others(tmp_path):
    """SIGKILL (the OOM killer): MPICH's mpiexec stops the other process at once and
    names the dead one's PID, which the start-up line maps to its rank; the watchdog
    covers launchers that do not."""
    p, (_, pid1) = start_training(tmp_path, "--comm-timeout", "5")
    os.kill(pid1, signal.SIGKILL)
    took, err = finish(p, tmp_path, 60)
    assert p.returncode != 0
    assert f"rank 1 = pid {pid1}" in err
    # MPICH: "PID n RUNNING AT host"; Open MPI: "process rank 1 with PID n"; else the watchdog
    assert re.search(rf"(PID {pid1} RUNNING AT|rank 1 with PID {pid1}\b|rank 1 \(pid {pid1}\b)", err), err
    checkpoint.load(str(tmp_path / "m.npz"))


@needs_mpi
def test_ctrl_c_on_mpiexec_saves_and_exits_130(tmp_path, capsys):
    p, _ = start_training(tmp_path)
    p.send_signal(signal.SIGINT)
    took, err = finish(p, tmp_path, 60)
    assert p.returncode == 130, err
    assert err.count("interrupted: checkpoint saved to m.npz") == 1
    ck = checkpoint.load(str(tmp_path / "m.npz"))
    assert ck.state["epoch"] >= 1
