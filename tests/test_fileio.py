"""Atomic writes, temporary files, write locks and .npz headers (rnncli/fileio.py)."""
import errno
import os

import numpy as np
import pytest

from rnncli import fileio


def test_npz_headers_bound_the_total_size(tmp_path):
    np.savez(tmp_path / "a.npz", x=np.zeros(1000))
    assert fileio.npz_headers(str(tmp_path / "a.npz"))["x"] == ((1000,), np.dtype(float))
    with pytest.raises(fileio.NpzError, match="GiB"):
        fileio.npz_headers(str(tmp_path / "a.npz"), max_bytes=4000)


def test_temp_files_of_live_writers_and_other_names_are_kept(tmp_path):
    live = tmp_path / f".m.npz.{os.getppid()}-abcd1234.tmp"       # our parent is alive
    other = tmp_path / ".other.npz.999999999-abcd1234.tmp"
    mine = tmp_path / ".m.npz.notatemp"
    dead = tmp_path / ".m.npz.999999999-abcd1234.tmp"
    for f in (live, other, mine, dead):
        f.write_bytes(b"x")
    fileio.atomic_write_npz(str(tmp_path / "m.npz"), {"a": np.zeros(2)})
    assert live.exists() and other.exists() and mine.exists() and not dead.exists()


def test_lock_without_flock_trusts_a_live_pid(tmp_path, monkeypatch):
    """On a file system without flock (some network ones) the pid in the lock file
    decides: a live holder keeps it, a dead one's stale file is taken over."""
    import fcntl

    def no_flock(fd, op):
        raise OSError(errno.ENOLCK, "No locks available")
    monkeypatch.setattr(fcntl, "flock", no_flock)
    out = str(tmp_path / "m.npz")
    (tmp_path / "m.npz.lock").write_text(f"{os.getppid()}\n")
    with pytest.raises(fileio.LockHeld) as e:
        fileio.WriteLock(out).acquire()
    assert e.value.pid == os.getppid()
    (tmp_path / "m.npz.lock").write_text("999999999\n")
    lock = fileio.WriteLock(out).acquire()
    assert (tmp_path / "m.npz.lock").read_text() == f"{os.getpid()}\n"
    lock.release()
    assert not (tmp_path / "m.npz.lock").exists()
