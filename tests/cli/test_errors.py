"""One line for every failure a user can meet (rnncli/cli/errors.py): signals, locks, a full disk,
divergence, exit statuses."""
import errno
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from rnncli import checkpoint, fileio
from rnncli.lm import cache as tcache

from ..helpers import TINY, assert_user_error, rnn, rnn_proc, wait_for_file, with_json, write_text


def test_no_files(capsys, tmp_path):
    r = rnn(capsys, "train", "-o", tmp_path / "m.npz")
    assert_user_error(r, "FILE")


# ------------------------------------------------------------------ full disk


def _full_disk_on(monkeypatch, target_name, fail_from_call):
    """np.savez writes a little, then fails with ENOSPC, on the Nth and later saves of
    files named ``target_name`` (inside rnncli.fileio.atomic_write_npz, which writes to
    a temporary file from tempfile.mkstemp: that is how the target is recognised)."""
    import tempfile
    real_savez, real_mkstemp = np.savez, tempfile.mkstemp
    tmp_of_fd = {}
    calls = {"n": 0}

    def mkstemp(*a, **kw):
        fd, path = real_mkstemp(*a, **kw)
        tmp_of_fd[fd] = path
        return fd, path

    def savez(file, *args, **kw):
        tmp = tmp_of_fd.get(file.fileno(), "") if hasattr(file, "fileno") else ""
        if os.path.basename(tmp).startswith("." + target_name + "."):
            calls["n"] += 1
            if calls["n"] >= fail_from_call:
                file.write(b"PK\x03\x04 half a checkpoint")
                raise OSError(errno.ENOSPC, "No space left on device")
        return real_savez(file, *args, **kw)
    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    monkeypatch.setattr(fileio.np, "savez", savez)
    return calls


def _no_temp_files(d):
    left = [p.name for p in d.iterdir() if p.name.endswith(".tmp") or p.name.startswith(".")]
    assert left == [], left


def test_full_disk_on_second_save_keeps_previous_checkpoint(capsys, tmp_path, corpus, monkeypatch):
    out_dir = tmp_path / "run"
    out_dir.mkdir()
    out = out_dir / "model.npz"
    calls = _full_disk_on(monkeypatch, "model.npz", fail_from_call=2)
    r = rnn(capsys, "train", corpus, "-o", out, "--hidden-dim", "3", "--vocab-size", "12", "--epochs", "3", "-q")
    assert calls["n"] == 2
    assert_user_error(r, str(out), "no space left on device", "unchanged")
    ck = checkpoint.load(str(out))           # the epoch-1 checkpoint, intact
    assert ck.state["epoch"] == 1
    _no_temp_files(out_dir)


def test_full_disk_while_resuming_keeps_checkpoint(capsys, tmp_path, corpus, monkeypatch):
    out_dir = tmp_path / "run"
    out_dir.mkdir()
    out = out_dir / "model.npz"
    r = rnn(capsys, "train", corpus, "-o", out, *TINY)
    assert r.code == 0, r
    before = out.read_bytes()
    _full_disk_on(monkeypatch, "model.npz", fail_from_call=1)
    r = rnn(capsys, "train", corpus, "--resume", out, "-o", out, "--epochs", "2", "-q")
    assert_user_error(r, "no space left on device")
    assert out.read_bytes() == before
    assert checkpoint.load(str(out)).state["epoch"] == 1
    _no_temp_files(out_dir)


# ------------------------------------------------------------------ as a real process


def test_real_process_exit_statuses(tmp_path, trained):
    r = rnn_proc("train", tmp_path / "nope.txt", "-o", tmp_path / "m.npz")
    assert r.code == 1
    assert_user_error(r, "nope.txt")
    r = rnn_proc("train", tmp_path / "nope.txt", "--hidden-dim", "0")
    assert r.code == 2
    assert_user_error(r, "--hidden-dim")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(trained.read_bytes()[:200])
    r = rnn_proc("generate", "-m", bad)
    assert r.code == 1
    assert_user_error(r, "bad.npz", "corrupt")
    assert r.out == ""


def test_real_process_empty_stdin(tmp_path):
    r = rnn_proc("train", "-", "-o", tmp_path / "m.npz", "-q", input=b"")
    assert_user_error(r, "<stdin>", "empty")
    assert not (tmp_path / "m.npz").exists()


# A prelude for `python SCRIPT rnn-args...`: numpy.savez, when it writes the Nth temporary
# file of NAME (* for any file), sends the given signals to its own process from inside the zip writing,
# then goes on writing: while the array KEY is converted, or with KEY "@close" while
# the zip member's handle is being closed (where an exception leaves the zip unclosable).
SIGNAL_IN_WRITE = r'''
import os, sys, zipfile, numpy as np
NAME, NTH, KEY, SIGS = sys.argv[1], int(sys.argv[2]), sys.argv[3], [int(s) for s in sys.argv[4].split(",")]
real, real_close, count, armed = np.savez, zipfile._ZipWriteFile.close, [0], [False]

def fire():
    for s in SIGS:
        os.kill(os.getpid(), s)

class Bomb:
    def __init__(self, a):
        self.a = a
    def __array__(self, dtype=None, copy=None):
        fire()
        return np.asarray(self.a, dtype=dtype)

def close(self):
    if armed[0] and not self.closed:
        armed[0] = False
        fire()
    return real_close(self)

def savez(f, **arrays):
    tmp = os.path.basename(os.readlink(f"/proc/self/fd/{f.fileno()}"))
    if NAME == "*" or tmp.startswith("." + NAME + "."):
        count[0] += 1
        if count[0] == NTH:
            if KEY == "@close":
                armed[0] = True
            else:
                arrays[KEY] = Bomb(arrays[KEY])
    return real(f, **arrays)

def streamed(real_write):
    def write_npz(f, members):
        tmp = os.path.basename(os.readlink(f"/proc/self/fd/{f.fileno()}"))
        if (NAME == "*" or tmp.startswith("." + NAME + ".")) and KEY == "@close":
            count[0] += 1
            if count[0] == NTH:
                armed[0] = True
        return real_write(f, members)
    return write_npz

np.savez = savez
zipfile._ZipWriteFile.close = close
import rnncli.fileio
rnncli.fileio.write_npz = streamed(rnncli.fileio.write_npz)   # the tokenization cache's writer
from rnncli.cli import main
main(sys.argv[5:])
'''


def _run_signalled(tmp_path, name, nth, key, sigs, *args):
    script = tmp_path / "signal_in_write.py"
    script.write_text(SIGNAL_IN_WRITE)
    p = subprocess.run([sys.executable, str(script), name, str(nth), key, ",".join(str(int(s)) for s in sigs),
                        *[str(a) for a in args]], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, RNNCLI_CACHE_DIR=str(tmp_path / "cache")))
    return p


def _temps(d):
    return sorted(p.name for p in d.iterdir() if p.name.endswith(".tmp"))


@pytest.mark.skipif(not os.path.exists("/proc/self/fd"), reason="finds the file being written through /proc")
@pytest.mark.parametrize("where", ["param.out.V", "@close"])
def test_second_ctrl_c_during_a_checkpoint_write(tmp_path, corpus, where):
    """Both Ctrl-Cs land while the second checkpoint is being zipped: the write
    finishes, then the first asks for a stop and the second aborts, with no traceback."""
    p = _run_signalled(tmp_path, "m.npz", 2, where, [signal.SIGINT, signal.SIGINT],
                       "train", corpus, "-o", "m.npz", "--no-cache", "--hidden-dim", "3", "--epochs", "4")
    assert p.returncode == 130, p.stderr
    assert "Traceback" not in p.stderr and "ZIP" not in p.stderr, p.stderr
    ck = checkpoint.load(str(tmp_path / "m.npz"))
    assert ck.state["epoch"] == 2
    assert f"aborted; the last good checkpoint m.npz (step {ck.state['step']}) is unchanged" in p.stderr
    assert _temps(tmp_path) == []


def test_double_ctrl_c_before_the_first_save(capsys, tmp_path, corpus, monkeypatch):
    """Both Ctrl-Cs during the first batch: nothing was saved, and the message says so."""
    from rnncli.lm.task import LanguageModel
    real = LanguageModel.loss_and_grads

    def interrupted_twice(self, *a, **kw):
        signal.raise_signal(signal.SIGINT)
        signal.raise_signal(signal.SIGINT)
        return real(self, *a, **kw)
    monkeypatch.setattr(LanguageModel, "loss_and_grads", interrupted_twice)
    r = rnn(capsys, "train", corpus, "-o", tmp_path / "m.npz", *TINY)
    assert r.code == 130, r
    assert "no checkpoint was written" in r.err and "intact" not in r.err and "unchanged" not in r.err, r
    assert not (tmp_path / "m.npz").exists() and not (tmp_path / "m.npz.lock").exists()


def test_huge_learning_rate_prints_one_line_without_numpy_warnings(tmp_path, corpus):
    r = rnn_proc("train", corpus, "-o", tmp_path / "m.npz", "--hidden-dim", "4", "--epochs", "2",
                 "--lr", "1e300", "-q", env={"RNNCLI_CACHE_DIR": str(tmp_path / "cache")})
    assert "RuntimeWarning" not in r.err
    assert_user_error(r, "diverged", "no checkpoint was written")


def test_sigterm_saves_a_checkpoint_and_exits_143(tmp_path):
    corpus = tmp_path / "c.txt"
    write_text(corpus, n=3000)
    p = subprocess.Popen([sys.executable, "-m", "rnncli", "train", str(corpus), "-o", "m.npz", "--epochs", "1000",
                          "--hidden-dim", "16", "--batch-size", "2"], cwd=tmp_path,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=dict(os.environ, RNNCLI_CACHE_DIR=str(tmp_path / "cache")))
    wait_for_file(tmp_path / "m.npz", p)
    first = checkpoint.load(str(tmp_path / "m.npz")).state
    time.sleep(0.5)
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 143, err
    assert "Traceback" not in err and "terminated: checkpoint saved to m.npz" in err
    ck = checkpoint.load(str(tmp_path / "m.npz"))
    assert ck.state["step"] > first["step"]
    assert _temps(tmp_path) == [] and not (tmp_path / "m.npz.lock").exists()


@pytest.mark.skipif(not os.path.exists("/proc/self/fd"), reason="finds the file being written through /proc")
def test_sigterm_during_a_write_finishes_it_then_stops(tmp_path, corpus):
    p = _run_signalled(tmp_path, "m.npz", 2, "param.out.V", [signal.SIGTERM],
                       "train", corpus, "-o", "m.npz", "--no-cache", "--hidden-dim", "3", "--epochs", "4")
    assert p.returncode == 143, p.stderr
    assert "Traceback" not in p.stderr and "terminated: checkpoint saved to m.npz" in p.stderr
    ck = checkpoint.load(str(tmp_path / "m.npz"))
    assert ck.state["epoch"] == 2 and ck.state["batch_in_epoch"] == 0
    assert _temps(tmp_path) == []


@pytest.mark.skipif(not os.path.exists("/proc/self/fd"), reason="finds the file being written through /proc")
def test_sigkill_during_a_write_keeps_the_previous_checkpoint_and_the_next_run_cleans_up(tmp_path, corpus):
    p = _run_signalled(tmp_path, "m.npz", 2, "param.out.V", [signal.SIGKILL],
                       "train", corpus, "-o", "m.npz", "--no-cache", "--hidden-dim", "3", "--epochs", "4")
    assert p.returncode == -signal.SIGKILL
    left = _temps(tmp_path)
    assert len(left) == 1 and left[0].startswith(".m.npz."), left     # the half-written file
    assert checkpoint.load(str(tmp_path / "m.npz")).state["epoch"] == 1  # the previous checkpoint
    r = rnn_proc("train", corpus, "--resume", "m.npz", "-o", "m.npz", "--epochs", "2", "--no-cache", "-q",
                 cwd=tmp_path)
    assert r.code == 0, r
    assert checkpoint.load(str(tmp_path / "m.npz")).state["epoch"] == 2
    assert _temps(tmp_path) == [] and not (tmp_path / "m.npz.lock").exists()


def test_second_writer_on_the_same_output_is_refused(capsys, tmp_path, corpus):
    lock = fileio.WriteLock(str(tmp_path / "m.npz")).acquire()
    try:
        r = rnn(capsys, "train", corpus, "-o", tmp_path / "m.npz", *TINY)
        assert_user_error(r, "m.npz", "another rnn command", f"process {os.getpid()}")
        assert not (tmp_path / "m.npz").exists()
    finally:
        lock.release()
    r = rnn(capsys, "train", corpus, "-o", tmp_path / "m.npz", *TINY)
    assert r.code == 0, r
    assert not (tmp_path / "m.npz.lock").exists()


def test_second_writer_is_refused_across_processes(tmp_path, corpus):
    """A real second process while the first trains, and a stale lock file (its holder
    is gone) that is simply taken over."""
    write_text(tmp_path / "big.txt", n=3000)
    p = subprocess.Popen([sys.executable, "-m", "rnncli", "train", "big.txt", "-o", "m.npz", "--epochs", "1000",
                          "--hidden-dim", "8", "-q"], cwd=tmp_path, stderr=subprocess.PIPE, text=True,
                         env=dict(os.environ, RNNCLI_CACHE_DIR=str(tmp_path / "cache")))
    try:
        wait_for_file(tmp_path / "m.npz.lock", p)
        r = rnn_proc("train", corpus, "-o", "m.npz", *TINY, cwd=tmp_path)
        assert_user_error(r, "m.npz", f"process {p.pid}")
    finally:
        p.kill()
        p.communicate()
    assert (tmp_path / "m.npz.lock").exists()   # left by the killed process, unlocked
    r = rnn_proc("train", corpus, "-o", "m.npz", *TINY, cwd=tmp_path)
    assert r.code == 0, r
    assert not (tmp_path / "m.npz.lock").exists()


def test_full_disk_with_room_for_the_best_checkpoint_only_says_so(capsys, tmp_path, corpus, monkeypatch):
    real = checkpoint.atomic_write_npz

    def only_best_fits(path, arrays):
        if path.endswith("m.npz"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path, arrays)
    monkeypatch.setattr(checkpoint, "atomic_write_npz", only_best_fits)
    r = rnn(capsys, "train", corpus, "-o", tmp_path / "m.npz", *TINY)
    msg = assert_user_error(r, "no space left on device")
    assert f"{tmp_path / 'm.best.npz'} was written" in msg
    assert (tmp_path / "m.best.npz").exists() and not (tmp_path / "m.npz").exists()


@pytest.mark.skipif(not os.path.exists("/proc/self/fd"), reason="finds the file being written through /proc")
def test_sigterm_before_training_ends_cleanly(tmp_path, corpus):
    """SIGTERM while the tokenization cache is written (before training): the entry is
    finished, then the command ends with one line and 143, releasing its lock."""
    p = _run_signalled(tmp_path, "*", 1, "@close", [signal.SIGTERM],
                       "train", corpus, "-o", "m.npz", "--hidden-dim", "3", "--epochs", "1", "-q")
    assert p.returncode == 143, p.stderr
    assert p.stderr.strip() == "rnn: terminated"
    assert not (tmp_path / "m.npz").exists() and not (tmp_path / "m.npz.lock").exists()
    entries = list((tmp_path / "cache").rglob("*.npz"))
    assert len(entries) == 1 and tcache.load_cached(str(entries[0])) is not None
    assert not list((tmp_path / "cache").rglob("*.tmp"))


def test_messages_quoting_control_characters_stay_one_line(capsys, tmp_path, trained):
    """Found by the fuzz suite: a checkpoint key holding a carriage return split the
    error message over two lines. Any message that quotes its input escapes them."""
    bad = with_json(trained, tmp_path / "cr.npz", "model", **{"\r": 1})
    r = rnn(capsys, "info", "-m", bad)
    assert_user_error(r, "cr.npz", "unknown model argument", "'\\r'")
    odd = tmp_path / "new\nline.txt"
    r = rnn(capsys, "eval", "-m", trained, "-q", odd)
    assert_user_error(r, "new\\nline.txt", "no such file")
