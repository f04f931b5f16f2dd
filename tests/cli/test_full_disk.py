"""A full disk at every write a command makes (checkpoint, .best, --log, the
tokenization cache, a tokenized corpus, a plot, the lock file, standard output): one
line that names the file and says what is still intact, never a traceback, and no
partial or 0-byte file left behind.

The disk is a real one where it can be: a 64 kB tmpfs mounted for the test (root, and
mounting permitted) and filled up to the room a test asks for. The same tests also run
on a simulated one: writes into the directory (os.write, and the file objects of
open and os.fdopen) fail with ENOSPC once the room is used up. Standard output goes to
/dev/full. Each way skips where the machine cannot give it."""
import builtins
import errno
import os
import pathlib
import subprocess
import sys
import tempfile

import pytest

from rnncli import checkpoint

from ..helpers import TINY, assert_user_error, hourly_series, json_lines, rnn, write_corpus

LINUX_FDS = os.path.isdir("/proc/self/fd")


class FullDisk:
    """``path``: a directory on a disk that ``fill(room)`` leaves ``room`` bytes free."""

    def __init__(self, path, mode, monkeypatch):
        self.path, self.mode, self.monkeypatch = path, mode, monkeypatch
        self.left = None                       # simulated: bytes that can still be written
        self.exempt_locks = False

    def listing(self):
        return sorted(p.name for p in self.path.rglob("*") if p.name != "filler")

    def fill(self, room=0, locks=0):
        """``locks``: write-lock files the command will create on this disk before it
        writes (every output has one, cli/files.py), each given its page, so that the
        disk is full at the write itself."""
        if self.mode == "tmpfs":
            st = os.statvfs(self.path)
            free = st.f_bavail * st.f_frsize
            with open(self.path / "filler", "wb") as f:
                f.write(b"\0" * max(0, free - room - 4096 * locks))
            st = os.statvfs(self.path)
            assert st.f_bavail * st.f_frsize == room + 4096 * locks
        else:
            self.left = room
            self.exempt_locks = bool(locks)
            self._simulate()

    # ------------------------------------------------------------ the simulated disk

    def _inside(self, name) -> bool:
        try:
            real = os.path.realpath(name)
        except (TypeError, ValueError, OSError):
            return False
        root = os.path.realpath(self.path)
        if self.exempt_locks and real.endswith(".lock"):
            return False
        return real == root or real.startswith(root + os.sep)

    def spend(self, n):
        if n > self.left:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.left -= n

    def _simulate(self):
        disk, mp = self, self.monkeypatch
        real_write, real_open, real_fdopen = os.write, builtins.open, os.fdopen

        def write(fd, data):
            try:
                name = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                name = None
            if name and disk._inside(name):
                disk.spend(len(data))
            return real_write(fd, data)

        def wrapped(f, name):
            writing = any(c in getattr(f, "mode", "r") for c in "wax+")
            return OnFullDisk(f, disk) if writing and disk._inside(name) else f

        def open_(file, mode="r", *a, **kw):
            f = real_open(file, mode, *a, **kw)
            return wrapped(f, file) if isinstance(file, (str, bytes, os.PathLike)) else f

        def fdopen(fd, *a, **kw):
            name = os.readlink(f"/proc/self/fd/{fd}")
            return wrapped(real_fdopen(fd, *a, **kw), name)
        real_temporary = tempfile.TemporaryFile

        def temporary(*a, dir=None, **kw):              # opened by _io.open, past open_ and fdopen
            f = real_temporary(*a, dir=dir, **kw)
            return OnFullDisk(f, disk) if dir is not None and disk._inside(dir) else f
        mp.setattr(os, "write", write)
        mp.setattr(builtins, "open", open_)
        mp.setattr(os, "fdopen", fdopen)
        mp.setattr(tempfile, "TemporaryFile", temporary)


class OnFullDisk:
    """A file object whose writes spend the simulated disk's room."""

    def __init__(self, f, disk):
        self._f, self._disk = f, disk

    def write(self, data):
        self._disk.spend(len(data))
        return self._f.write(data)

    def __getattr__(self, name):
        return getattr(self._f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._f.close()


def unmount(d):
    """Unmount the test's tmpfs; a file still open on it (garbage not yet collected)
    would keep it busy: collect, then detach it lazily rather than leave it mounted."""
    import gc
    for args in (["umount", str(d)], ["umount", "-l", str(d)]):
        gc.collect()
        r = subprocess.run(args, capture_output=True, check=False)
        if r.returncode == 0:
            return
    pytest.fail(f"could not unmount {d}: {r.stderr.decode(errors='replace')}")


@pytest.fixture(params=["tmpfs", "simulated"])
def disk(request, tmp_path, monkeypatch):
    if request.param == "tmpfs":
        # the mount point lies outside pytest's numbered directories, which a concurrent
        # pytest session may rename away while this one runs
        d = pathlib.Path(tempfile.mkdtemp(prefix="rnncli-full-disk-"))
        request.addfinalizer(lambda: d.rmdir())
        try:
            r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(d)], capture_output=True,
                               check=False)
        except OSError:
            pytest.skip("no mount command")
        if r.returncode != 0:
            pytest.skip("mounting a tmpfs is not permitted here")
        request.addfinalizer(lambda: unmount(d))
    else:
        if not LINUX_FDS:
            pytest.skip("the simulated disk finds a descriptor's file in /proc/self/fd")
        d = tmp_path / "disk"
        d.mkdir()
    return FullDisk(d, request.param, monkeypatch)


@pytest.fixture
def corpus(tmp_path):
    return write_corpus(tmp_path / "corpus.txt")


def no_traceback(r):
    assert "Traceback" not in r.err and "Traceback" not in r.out, r


# ------------------------------------------------------------------ train and its files


def test_train_onto_a_full_disk_leaves_no_empty_lock(capsys, disk, corpus):
    disk.fill()
    out = disk.path / "m.npz"
    r = rnn(capsys, "train", corpus, "-o", out, *TINY)
    msg = assert_user_error(r, str(out), "no space left on device")
    assert "no file was left behind" in msg
    assert disk.listing() == []


def test_train_with_room_for_the_lock_only_names_the_checkpoint(capsys, disk, corpus):
    disk.fill(locks=2)                             # the checkpoint's and its .best's
    out = disk.path / "m.npz"
    r = rnn(capsys, "train", corpus, "-o", out, *TINY)
    msg = assert_user_error(r, "could not write the checkpoint", "no space left on device")
    assert str(out) in msg and f"no {out} was left behind" in msg
    assert disk.listing() == []                    # no temporary file, no .best, the lock released


def test_a_full_disk_keeps_the_previous_checkpoint(capsys, disk, corpus):
    out = disk.path / "m.npz"
    r = rnn(capsys, "train", corpus, "-o", out, *TINY)
    assert r.code == 0, r
    before = {p: (disk.path / p).read_bytes() for p in disk.listing()}
    disk.fill()
    r = rnn(capsys, "train", corpus, "--resume", out, "-o", out, "--epochs", "2", "-q")
    assert_user_error(r, str(out), "no space left on device", "unchanged")
    assert {p: (disk.path / p).read_bytes() for p in disk.listing()} == before
    assert checkpoint.load(str(out)).state["epoch"] == 1


def test_a_best_file_that_cannot_be_written_still_leaves_the_checkpoint(capsys, corpus, tmp_path, monkeypatch):
    """The best file is written first; when the disk takes the checkpoint but not it (a
    quota, another writer filling the disk between the two), the checkpoint is still
    written, and the line says which file holds the epoch."""
    real = checkpoint.atomic_write_npz

    def best_fails(path, arrays):
        if path.endswith(".best.npz"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path, arrays)
    monkeypatch.setattr(checkpoint, "atomic_write_npz", best_fails)
    out = tmp_path / "m.npz"
    r = rnn(capsys, "train", corpus, "-o", out, *TINY)
    msg = assert_user_error(r, str(tmp_path / "m.best.npz"), "no space left on device")
    assert f"{out} was written and holds this epoch's weights" in msg
    assert checkpoint.load(str(out)).state["epoch"] == 1 and not (tmp_path / "m.best.npz").exists()


def test_log_on_a_full_disk_says_the_checkpoint_was_written(capsys, disk, corpus, tmp_path):
    disk.fill(locks=1)
    log, out = disk.path / "log.jsonl", tmp_path / "m.npz"
    r = rnn(capsys, "train", corpus, "-o", out, "--log", log, *TINY)
    msg = assert_user_error(r, str(log), "--log", "no space left on device", "no log file was left behind")
    assert f"the checkpoint {out} was written (epoch 1)" in msg
    assert checkpoint.load(str(out)).state["epoch"] == 1
    assert disk.listing() == []


def test_log_on_a_full_disk_keeps_its_earlier_lines_whole(capsys, disk, corpus, tmp_path):
    """The next record fits in part (the log ends 100 bytes before a page boundary, and
    the simulated disk has 100 bytes of room): the part written is taken back."""
    log, out = disk.path / "log.jsonl", tmp_path / "m.npz"
    r = rnn(capsys, "train", corpus, "-o", out, "--log", log, *TINY)
    assert r.code == 0, r
    size = log.stat().st_size
    with open(log, "a") as f:                      # a line of another tool, up to 100 bytes before 4 kB
        f.write('{"note": "' + "x" * (4096 - 100 - size - 13) + '"}\n')
    before = log.read_bytes()
    assert len(before) == 3996
    disk.fill(room=0 if disk.mode == "tmpfs" else 100, locks=1)
    r = rnn(capsys, "train", corpus, "--resume", out, "-o", out, "--log", log, "--epochs", "2", "-q")
    assert_user_error(r, str(log), "no space left on device", "holds the records of the epochs before")
    assert log.read_bytes() == before
    assert len(json_lines(before.decode())) == 2


def test_dev_full_as_the_log_is_one_line(capsys, corpus, tmp_path):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    r = rnn(capsys, "train", corpus, "-o", tmp_path / "m.npz", "--log", "/dev/full", *TINY)
    assert_user_error(r, "/dev/full")


def test_tokenization_cache_on_a_full_disk_is_a_note(capsys, disk, corpus, tmp_path):
    cache = disk.path / "cache"
    cache.mkdir()
    disk.fill()
    r = rnn(capsys, "train", corpus, "-o", tmp_path / "m.npz", "--cache-dir", cache,
            "--hidden-dim", "3", "--vocab-size", "12", "--epochs", "1")
    assert r.code == 0, r
    no_traceback(r)
    notes = [ln for ln in r.err.splitlines() if "tokenization cache" in ln]
    assert len(notes) == 1 and str(cache) in notes[0] and "no space left on device" in notes[0].lower(), r.err
    assert disk.listing() == ["cache"]


# ------------------------------------------------------------------ the other writers


def test_tokenize_onto_a_full_disk(capsys, disk, corpus):
    disk.fill(locks=1)
    out = disk.path / "c.npz"
    r = rnn(capsys, "tokenize", corpus, "-o", out, "-q")
    assert_user_error(r, str(out), "could not write the tokenized corpus", "no space left on device",
                      f"no {out} was left behind")
    assert disk.listing() == []


def test_tokenize_over_an_earlier_corpus_on_a_full_disk_keeps_it(capsys, disk, corpus, tmp_path):
    out = disk.path / "c.npz"
    r = rnn(capsys, "tokenize", corpus, "-o", out, "-q")
    assert r.code == 0, r
    before = out.read_bytes()
    disk.fill(locks=1)
    r = rnn(capsys, "tokenize", corpus, "-o", out, "-q", "--vocab-size", "9")
    assert_user_error(r, str(out), f"the previous {out} is unchanged")
    assert out.read_bytes() == before and disk.listing() == ["c.npz"]


def test_temporary_token_ids_on_a_full_disk(capsys, disk, corpus, tmp_path, monkeypatch):
    """A corpus whose ids spill to a temporary file (here from the first sentences) in
    the cache directory, on a full disk: one line naming the directory, nothing left."""
    from rnncli.lm import tokenizer
    monkeypatch.setattr(tokenizer, "SPILL_BYTES", 16)
    cache = disk.path / "cache"
    cache.mkdir()
    disk.fill()
    r = rnn(capsys, "tokenize", corpus, "-o", tmp_path / "c.npz", "--cache-dir", cache, "-q")
    assert_user_error(r, f"cannot write temporary token ids in {cache}", "no space left on device")
    assert disk.listing() == ["cache"] and not (tmp_path / "c.npz").exists()


def test_a_mapped_temporary_file_takes_its_room_first(disk):
    """Token ids written into a memory-mapped temporary file: on a full disk a sparse file
    would kill the process with SIGBUS at the first page it cannot store."""
    if disk.mode != "tmpfs":
        pytest.skip("needs a real full disk")
    disk.fill()
    code = ("import numpy as np\nfrom rnncli.lm import tokenizer\nfrom rnncli.errors import DataError\n"
            "tokenizer.SPILL_BYTES = 16\ntry:\n    a = tokenizer.as_array(100_000, np.int32, %r)\n"
            "    a[:] = 1\nexcept DataError as e:\n    print(e)\n" % str(disk.path))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, env=env, timeout=60, check=False)
    assert p.returncode == 0, p
    assert p.stdout.decode().startswith(f"cannot make a temporary file for token ids in {disk.path} "
                                        f"(No space left on device)"), p




FORECAST = ["--target", "y", "--history", "6", "--horizon", "3", "--hidden-dim", "4", "--epochs", "1", "-q"]


def test_forecast_train_onto_a_full_disk_leaves_no_empty_lock(capsys, disk, tmp_path):
    disk.fill()
    out = disk.path / "f.npz"
    r = rnn(capsys, "forecast", "train", hourly_series(tmp_path / "s.csv"), "-o", out, *FORECAST)
    assert_user_error(r, str(out), "lock file", "no space left on device", "no file was left behind")
    assert disk.listing() == []


def test_plots_onto_a_full_disk(capsys, disk, corpus, tmp_path):
    pytest.importorskip("matplotlib")
    data = hourly_series(tmp_path / "s.csv")
    assert rnn(capsys, "train", corpus, "-o", tmp_path / "m.npz", *TINY).code == 0
    assert rnn(capsys, "forecast", "train", data, "-o", tmp_path / "f.npz", *FORECAST).code == 0
    disk.fill(locks=1)
    png = disk.path / "p.png"
    for args in (["info", "-m", tmp_path / "m.npz", "--plot", png], ["plot", tmp_path / "m.npz", "-o", png],
                 ["forecast", "eval", data, "-m", tmp_path / "f.npz", "--plot", png, "-q"],
                 ["forecast", "predict", data, "-m", tmp_path / "f.npz", "--plot", png, "-q"]):
        r = rnn(capsys, *args)
        msg = r.err.strip().splitlines()[-1] if r.err.strip() else ""
        no_traceback(r)
        assert r.code == 1 and msg.startswith("rnn: error: ") and str(png) in msg, (args, r)
        assert "could not write the plot" in msg and f"no {png} was left behind" in msg
        assert disk.listing() == []


# ------------------------------------------------------------------ standard output


@pytest.mark.parametrize("command", [["generate", "-n", "3"], ["info", "--json"], ["eval"]])
def test_standard_output_on_a_full_disk(tmp_path, corpus, command):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    model = tmp_path / "m.npz"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))

    def run(args, stdout):
        return subprocess.run([sys.executable, "-m", "rnncli", *map(str, args)], stdout=stdout,
                              stderr=subprocess.PIPE, env=env, timeout=120, check=False)
    assert run(["train", corpus, "-o", model, *TINY], subprocess.DEVNULL).returncode == 0
    with open("/dev/full", "w") as full:
        p = run([*command, "-m", model], full)
    err = p.stderr.decode()
    assert p.returncode == 1, err
    assert err.splitlines() == [("rnn: error: standard output: could not write (No space left on device); the "
                                 "output is cut short")], err
