"""The files a command names, checked before the work that needs them: one policy for
every file a command writes (Paths: same file, kind, directory, lock), the checkpoint
a resumed run writes, and reading a checkpoint for the task a command serves."""
from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass

import click

from .errors import fail

# what a path that is not a regular file is, for the one line that refuses it
_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISFIFO, "a named pipe"), (stat.S_ISSOCK, "a socket"))


@dataclass(frozen=True)
class Output:
    path: str
    role: str            # "the checkpoint": what the file would be
    option: str          # "-o": what the user changes to put it elsewhere
    replaces: tuple = ()  # inputs it may overwrite (the checkpoint resumed, once loaded)
    appends: bool = False  # written in place (--log), not by rename
    guards: bool = False   # the lock file of another output (taken by _lock, not replaced)

    @property
    def target(self) -> str:
        """The file actually written: a symbolic link's target (links are written through)."""
        return os.path.realpath(self.path) if os.path.islink(self.path) else self.path


def _identity(path: str):
    """(real path, (st_dev, st_ino) or None): two names are one file when either agrees."""
    try:
        st = os.stat(path)
        ino = (st.st_dev, st.st_ino)
    except OSError:
        ino = None
    return os.path.realpath(path), ino


def _same(a, b) -> bool:
    return a[0] == b[0] or (a[1] is not None and a[1] == b[1])


def _kind(path: str) -> str | None:
    """What ``path`` (a link followed) is when it exists and is not a regular file."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    if stat.S_ISREG(mode):
        return None
    return next((what for test, what in _KINDS if test(mode)), "not a regular file")


class Paths:
    """The files one command reads and writes, declared before any work and claimed
    together (``claim``), for every command that writes:

    - no file is written that the command also reads, or that it writes in another
      role (the checkpoint, its .best, the log, a lock file): two names are one file
      when their real paths are equal or, for files that exist, their (st_dev, st_ino)
      (a hard link is the same file). The one line names the file, both roles and the
      option to change;
    - only regular files are written: an empty name, a directory, a device (/dev/null,
      /dev/full), a named pipe or a socket is refused, as is a missing directory;
    - a symbolic link is written through: the file it points to is replaced (atomically,
      beside the target: fileio.atomic_write) and the link stays. A link is how a stable
      name (latest.npz) is kept for a file that lives elsewhere, the shell's ``>`` and
      editors write through too, and every check here (same file, regular file, lock)
      is made on the file actually written;
    - every file written is locked (fileio.WriteLock: TARGET.lock) until the command
      ends: no two rnn commands, whichever they are, write one file at once.
    Caches are not declared: they are written only inside the cache directory."""

    def __init__(self):
        self.inputs: list[tuple[str, str]] = []      # (path, role)
        self.outputs: list[Output] = []

    def reads(self, paths, role: str) -> "Paths":
        """``paths`` (None, a path or several; '-' is standard input) are read as ``role``."""
        if isinstance(paths, str):
            paths = [paths]
        self.inputs += [(p, role) for p in paths or () if p and p != "-"]
        return self

    def writes(self, path: str, role: str, option: str, replaces=(), appends: bool = False) -> "Paths":
        self.outputs.append(Output(path, role, option, tuple(p for p in replaces if p), appends))
        return self

    def check(self):
        """Every output can be written as the policy says, or one line refusing it."""
        inputs = [(p, role, _identity(p)) for p, role in self.inputs]
        done = []                                           # (Output, identity) claimed so far
        for o in self._with_locks():
            _check_name(o)
            me = _identity(o.path)
            allowed = [_identity(p) for p in o.replaces]
            for p, role, ident in inputs:
                if _same(me, ident) and not any(_same(ident, a) for a in allowed):
                    fail(f"{o.path}: is {role}{_alias(o.path, p)}; {o.role} cannot be written there: "
                         f"choose another {o.option}")
            for other, ident in done:
                if _same(me, ident):
                    fail(f"{o.path}: is {other.role} ({other.option}){_alias(o.path, other.path)}; {o.role} "
                         f"cannot be written there: choose another {o.option}")
            _check_writable(o)
            done.append((o, me))

    def _with_locks(self):
        for o in self.outputs:
            yield o
            yield Output(o.target + ".lock", f"the lock file of {o.role}", o.option, guards=True)

    def claim(self) -> "Paths":
        """Check, then lock every output until the command ends."""
        self.check()
        for o in self.outputs:
            _lock(o)
        return self


def _alias(shown: str, other: str) -> str:
    return "" if os.path.normpath(shown) == os.path.normpath(other) else f" (as {other})"


def _check_name(o: Output):
    if not o.path:
        fail(f"{o.option} is empty: give a file name for {o.role}")
    what = _kind(o.path)
    holder = None if o.guards else _lock_holder(o.path)
    if holder is not None:
        who = f"process {holder}" if holder else "another process"
        fail(f"{o.path}: is the lock file of a running rnn command ({who}); {o.role} cannot be written there: "
             f"choose another {o.option}")
    if what == "a directory":
        fail(f"{o.path}: is a directory; give a file name for {o.role}")
    if what:
        fail(f"{o.path}: is {what}, not a regular file; {o.role} cannot be written there: choose another {o.option}")
    d = os.path.dirname(os.path.abspath(o.target)) or "."
    if not os.path.isdir(d):
        fail(f"{o.path}: directory {d} does not exist (for {o.option})")


def _lock_holder(path: str):
    """The pid (0: unknown) of a live process holding ``path`` as its lock file
    (fileio.WriteLock), or None: replacing it would unlock the file it guards."""
    if not path.endswith(".lock") or not os.path.isfile(path):
        return None
    try:
        import fcntl
        fd = os.open(path, os.O_RDONLY)
    except (ImportError, OSError):
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    except OSError as e:
        from ..fileio import pid_alive
        text = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
        pid = int(text) if text.isdigit() else 0
        if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return pid
        return pid if pid_alive(pid) else None    # no flock here: the pid decides, as in WriteLock
    finally:
        os.close(fd)


def _check_writable(o: Output):
    """The directory takes a new file (the temporary file of an atomic write, the lock)
    and an existing file (written in place) its writes."""
    import tempfile
    d = os.path.dirname(os.path.abspath(o.target)) or "."
    if os.path.exists(o.target) and not os.access(o.target, os.W_OK):
        fail(f"{o.path}: exists and is not writable (for {o.option})")
    try:
        fd, tmp = tempfile.mkstemp(dir=d, prefix=".rnncli-write-test-")
        os.close(fd)
        os.unlink(tmp)
    except OSError as e:
        fail(f"{o.path}: cannot write there ({e.strerror}) (for {o.option})")


def _lock(o: Output):
    """The lock is held until the command ends and released by the kernel if the process dies."""
    from ..fileio import LockHeld, WriteLock
    lock = WriteLock(o.target)
    try:
        lock.acquire()
    except LockHeld as e:
        who = f"process {e.pid}" if e.pid else "another process"
        fail(f"{o.path}: another rnn command ({who}) is writing this file; wait for it to finish "
             f"or choose another {o.option} (lock file {e.lock_path})")
    except OSError as e:      # e.g. a full disk: WriteLock leaves no empty lock file behind
        kept = f"{o.path} is unchanged" if os.path.lexists(o.path) else "no file was left behind"
        fail(f"{o.path}: cannot create the lock file {lock.path} ({e.strerror or e}); nothing was written, {kept}")
    click.get_current_context().call_on_close(lock.release)
    return lock


def training_paths(output: str, log_path: str | None, resume: str | None) -> Paths:
    """The outputs of a training command: the checkpoint (which may replace the one
    resumed), its .best and the --log, with the resumed checkpoint as an input."""
    from ..checkpoint import best_path
    paths = Paths().reads(resume, "the checkpoint resumed (--resume)")
    paths.writes(output, "the checkpoint", "-o", replaces=[resume])
    if output:
        paths.writes(best_path(output), "the best checkpoint", "-o", replaces=[resume])
    if log_path is not None:
        paths.writes(log_path, "the log", "--log", appends=True)
    return paths


def resumed_output(output: str, resume: str | None) -> str:
    """The checkpoint a training command writes: -o when given, else the one it resumes
    (a resumed run continues its file, not the default name's)."""
    from click.core import ParameterSource
    if resume and click.get_current_context().get_parameter_source("output") is ParameterSource.DEFAULT:
        return resume
    return output


def check_matplotlib():
    """matplotlib is there to draw a --plot."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        from ..plotting import INSTALL_HINT
        fail(INSTALL_HINT)


def load_checkpoint(path, kind=None):
    """The checkpoint at ``path``; with ``kind`` ("lm", "forecast"), one trained for that task."""
    from ..checkpoint import CheckpointError, load
    if kind == "forecast" and not os.path.exists(path):
        fail(f"{path}: no such checkpoint (train one with `rnn forecast train DATA.csv --target COL --history H "
             f"--horizon K -o {path}`)")
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
