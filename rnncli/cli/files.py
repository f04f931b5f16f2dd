"""The files a command names, checked before the work that needs them (a checkpoint or
plot path that cannot be written fails now, not after an epoch); the lock that keeps two
`rnn train` off one checkpoint; reading a checkpoint for the task a command serves."""
from __future__ import annotations

import os

import click

from .errors import fail


def check_writable(path):
    d = os.path.dirname(os.path.abspath(path)) or "."
    if os.path.isdir(path):
        fail(f"{path}: is a directory; give a file name for the checkpoint")
    if not os.path.isdir(d):
        fail(f"{path}: directory {d} does not exist")
    import tempfile
    try:
        fd, tmp = tempfile.mkstemp(dir=d, prefix=".rnncli-write-test-")
        os.close(fd)
        os.unlink(tmp)
    except OSError as e:
        fail(f"{path}: cannot write there ({e.strerror})")
    if os.path.exists(path) and not os.access(path, os.W_OK):
        fail(f"{path}: exists and is not writable")


def check_log(path):
    """--log is appended to after every epoch: fail now, not after the first epoch."""
    d = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(d):
        fail(f"{path}: directory {d} does not exist (for --log)")
    if os.path.exists(path) and not os.access(path, os.W_OK):
        fail(f"{path}: exists and is not writable (for --log)")
    if not os.path.exists(path) and not os.access(d, os.W_OK | os.X_OK):
        fail(f"{path}: cannot create the --log file in {d} (permission denied)")


def check_plot(path):
    """A --plot PNG can be written, and matplotlib is there to draw it."""
    d = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        fail(f"{path}: is a directory; give a file name for the plot")
    if not os.path.isdir(d):
        fail(f"{path}: directory {d} does not exist")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        from ..plotting import INSTALL_HINT
        fail(INSTALL_HINT)


def lock_output(path):
    """One `rnn train` at a time writes a checkpoint (and its .best): the lock is held
    until the command ends and released by the kernel if the process dies."""
    from ..fileio import LockHeld, WriteLock
    lock = WriteLock(path)
    try:
        lock.acquire()
    except LockHeld as e:
        who = f"process {e.pid}" if e.pid else "another process"
        fail(f"{path}: another `rnn train` ({who}) is writing this checkpoint; wait for it to finish "
             f"or choose another -o (lock file {e.lock_path})")
    except OSError as e:
        kept = f"{path} is unchanged" if os.path.lexists(path) else "no file was left behind"
        fail(f"{path}: cannot create the lock file {lock.path} ({e.strerror or e}); nothing was written, {kept}")
    click.get_current_context().call_on_close(lock.release)
    return lock


def load_checkpoint(path, kind=None):
    """The checkpoint at ``path``; with ``kind`` ("lm", "forecast"), one trained for that task."""
    from ..checkpoint import CheckpointError, load
    try:
        ck = load(path)
    except CheckpointError as e:
        fail(str(e))
    if kind is not None and ck.kind != kind:
        if ck.kind == "forecast":
            fail(f"{path}: is a forecasting checkpoint (from `rnn forecast train`); use it with "
                 f"`rnn forecast predict` or `rnn forecast eval`")
        fail(f"{path}: is a language-model checkpoint (from `rnn train`); `rnn forecast` needs one "
             f"written by `rnn forecast train`")
    return ck
