"""Writing and reading .npz files safely: atomic writes that a signal cannot cut in
half, leftovers of killed writers cleaned up, an advisory lock for a file that one
process at a time may write, and the arrays an .npz declares checked before any is
allocated."""
from __future__ import annotations

import contextlib
import errno
import math
import os
import re
import signal
import tempfile
import threading
import time
import zipfile

import numpy as np

DEFERRED_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def signals_deferred():
    """SIGINT and SIGTERM that arrive inside the block are delivered when it ends, to
    the handlers that were in place: a second Ctrl-C cannot cut a write in half (and
    leave a zip that cannot be closed). Nests; a no-op outside the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    got, old = [], {}
    for s in DEFERRED_SIGNALS:
        h = signal.getsignal(s)
        if h in (signal.SIG_IGN, None):
            continue
        old[s] = h
        signal.signal(s, lambda signum, frame: got.append(signum))
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        for s in got:
            signal.raise_signal(s)  # runs the restored handler now


# A temporary file is named .NAME.PID-RANDOM.tmp beside NAME: the writer's pid tells a
# leftover of a killed writer (pid gone) from a write in progress in another process.
_TMP_SUFFIX = ".tmp"


_LEGACY_AGE = 600  # seconds: rnncli 0.1 named them .NAME.RANDOM.tmp, without the pid


def _tmp_pattern(base: str):
    return re.compile(r"\." + re.escape(base) + r"\.(?:(\d+)-[a-z0-9_]+|[a-z0-9_]{8})" + re.escape(_TMP_SUFFIX) + r"\Z")


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True   # someone else's process
    except OverflowError:
        return False
    return True


def clean_stale_temps(path: str) -> list[str]:
    """Remove temporary files that killed writers of ``path`` left beside it (our own
    naming pattern only, and only where the writing process is gone); returns them."""
    d = os.path.dirname(os.path.abspath(path))
    pat = _tmp_pattern(os.path.basename(path))
    removed = []
    try:
        names = os.listdir(d)
    except OSError:
        return removed
    now = time.time()
    for name in names:
        m = pat.match(name)
        if not m:
            continue
        full = os.path.join(d, name)
        try:
            if m.group(1) is not None:
                stale = int(m.group(1)) != os.getpid() and not pid_alive(int(m.group(1)))
            else:
                stale = now - os.stat(full).st_mtime > _LEGACY_AGE
            if stale:
                os.unlink(full)
                removed.append(name)
        except OSError:
            pass
    return removed


def atomic_write(path: str, write, follow_symlinks: bool = True):
    """Call ``write(f)`` on a temporary file beside ``path``, fsync, then rename it over
    ``path``: a crash, Ctrl-C or full disk at any moment leaves the previous file
    intact. SIGINT and SIGTERM wait until the write is done; leftovers of killed
    writers are removed. A symbolic link at ``path`` is written through (its target is
    replaced, the link stays: cli/files.Paths says why) unless ``follow_symlinks`` is
    False (then the link itself is replaced)."""
    if follow_symlinks and os.path.islink(path):
        path = os.path.realpath(path)
    clean_stale_temps(path)
    d = os.path.dirname(os.path.abspath(path))
    with signals_deferred():
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.{os.getpid()}-", suffix=_TMP_SUFFIX, dir=d)
        try:
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file normal permissions
            with os.fdopen(fd, "wb") as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise


def write_failed(path: str, what: str, e: OSError) -> str:
    """The line for ``what`` (e.g. "the checkpoint") that an atomic write could not put at
    ``path``: why, and what is there now: the previous file, intact, or nothing."""
    kept = f"the previous {path} is unchanged" if os.path.lexists(path) else f"no {path} was left behind"
    return f"{path}: could not write {what} ({e.strerror or e}); {kept}"


def atomic_write_npz(path: str, arrays: dict):
    """``arrays`` as an .npz at ``path``, written atomically (atomic_write)."""
    atomic_write(path, lambda f: np.savez(f, **arrays))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# ------------------------------------------------------------------ one writer per file


class LockHeld(Exception):
    """Another live process holds the lock; ``pid`` is its process id (or None)."""

    def __init__(self, lock_path: str, pid):
        super().__init__(lock_path)
        self.lock_path, self.pid = lock_path, pid


class WriteLock:
    """An advisory lock on NAME, held as NAME.lock with the holder's pid in it. The
    lock itself is flock(2), which the kernel drops when the holder dies, so a lock file
    left by a killed process is stale and simply taken over. Where flock is not
    supported, the pid in the file decides: a live pid holds the lock."""

    def __init__(self, path: str):
        self.path = path + ".lock"
        self.fd = None

    def acquire(self):
        try:
            import fcntl
        except ImportError:  # not POSIX: the pid alone decides
            fcntl = None
        for _ in range(10):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                if fcntl is None:
                    raise OSError(errno.ENOSYS, "no flock")
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    # no flock here (some network file systems): trust a live pid
                    pid = self._read_pid(fd)
                    if pid is not None and pid != os.getpid() and pid_alive(pid):
                        os.close(fd)
                        raise LockHeld(self.path, pid) from None
                else:
                    pid = self._read_pid(fd)
                    os.close(fd)
                    raise LockHeld(self.path, pid) from None
            try:  # the holder before us may have removed the file while we waited to open it
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except OSError:
                same = False
            if not same:
                os.close(fd)
                continue
            try:
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode())
            except OSError:
                # a full disk has room for the name but not the pid: leave no empty lock behind
                self.fd = fd
                self.release()
                raise
            self.fd = fd
            return self
        raise OSError(errno.EAGAIN, f"could not take the lock {self.path}")

    @staticmethod
    def _read_pid(fd):
        try:
            text = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
            return int(text) if text.isdigit() else None
        except (OSError, ValueError):
            return None

    def release(self):
        if self.fd is None:
            return
        try:
            os.unlink(self.path)  # while still holding it: nobody can take a lock on it in between
        except OSError:
            pass
        os.close(self.fd)
        self.fd = None


# ------------------------------------------------------------------ reading untrusted .npz


class NpzError(ValueError):
    """An .npz whose declared contents are unusable; the message is a phrase."""


def memory_bytes() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 1 << 40


def npz_headers(path: str, allowed_kinds: str = "biufU", max_bytes: int | None = None) -> dict:
    """name -> (shape, dtype) of every array in the .npz at ``path``, read from the .npy
    headers only, before anything is allocated. Raises NpzError when a header is
    unreadable, an array's dtype kind is not in ``allowed_kinds`` (objects would need
    unpickling), the data the header declares is not the data stored, or the arrays
    together are larger than ``max_bytes`` (default: this machine's memory)."""
    limit = memory_bytes() if max_bytes is None else max_bytes
    out, total = {}, 0
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            if not info.filename.endswith(".npy"):
                continue
            name = info.filename[:-4]
            total += info.file_size
            if total > limit:
                raise NpzError(f"its arrays declare {total / 2**30:.1f} GiB, more than this machine's "
                               f"{limit / 2**30:.1f} GiB of memory")
            with zf.open(info) as f:
                try:
                    version = np.lib.format.read_magic(f)
                    if version == (1, 0):
                        shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
                    elif version == (2, 0):
                        shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
                    else:
                        raise ValueError(f"unsupported .npy version {version}")
                except (ValueError, TypeError, SyntaxError, EOFError) as e:
                    raise NpzError(f"array {name}: unreadable header ({e})") from None
                header_len = f.tell()
            if dtype.hasobject or dtype.kind not in allowed_kinds or dtype.fields is not None:
                raise NpzError(f"array {name} has an unsupported type {dtype}")
            declared = math.prod(shape) * dtype.itemsize
            if declared != info.file_size - header_len:
                raise NpzError(f"array {name} declares shape {shape} ({declared:,} bytes) but holds "
                               f"{info.file_size - header_len:,} bytes")
            out[name] = (shape, dtype)
    return out


# ------------------------------------------------------------------ streamed .npz members
#
# np.savez stores every member uncompressed (ZIP_STORED), so a member's array data sits
# at a fixed offset inside the file and can be memory-mapped there; np.load reads it
# into memory instead. write_npz below writes members chunk by chunk (an array larger
# than memory never has to exist) and pads each header so the data is 64-byte aligned;
# npz_member maps a member read-only, for any .npz whose member is stored uncompressed.

_PAD_ID = 0x7272  # zip extra-field id of the alignment padding ("rr"); readers skip unknown ids


class ArrayChunks:
    """A member given as dtype, shape and an iterable of arrays whose concatenation is
    the data (C order)."""

    def __init__(self, dtype, shape, chunks):
        self.dtype, self.shape, self.chunks = np.dtype(dtype), tuple(shape), chunks


def _npy_header(dtype, shape) -> bytes:
    import io
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": np.lib.format.dtype_to_descr(dtype),
                                               "fortran_order": False, "shape": tuple(shape)})
    return buf.getvalue()


def write_npz(f, members: dict):
    """Write ``members`` (name -> array or ArrayChunks) to the open binary file ``f`` as
    an .npz that np.load reads, every member stored uncompressed with 64-byte aligned data."""
    import struct
    import zipfile
    with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, value in members.items():
            if isinstance(value, ArrayChunks):
                dtype, shape, chunks = value.dtype, value.shape, value.chunks
            else:
                arr = np.asarray(value)
                if arr.dtype.hasobject:
                    raise ValueError(f"{name}: object arrays are not stored")
                dtype, shape, chunks = arr.dtype, arr.shape, [arr]
            header = _npy_header(dtype, shape)
            zi = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            zi.compress_type = zipfile.ZIP_STORED
            zi.external_attr = 0o644 << 16
            fname = zi.filename.encode("utf-8")
            # local header (30) + name + padding extra + zip64 extra (20) + npy header
            base = zf.start_dir + 30 + len(fname) + 20 + len(header)
            pad = (-base) % 64
            if pad:
                pad += 64 if pad < 4 else 0          # an extra field takes at least 4 bytes
                zi.extra = struct.pack("<HH", _PAD_ID, pad - 4) + b"\0" * (pad - 4)
            with zf.open(zi, "w", force_zip64=True) as w:
                w.write(header)
                for c in chunks:
                    c = np.ascontiguousarray(c, dtype=dtype)
                    if c.size:
                        w.write(memoryview(c.reshape(-1)).cast("B"))


def atomic_write_npz_streamed(path: str, members: dict, follow_symlinks: bool = True):
    """write_npz to ``path`` atomically (atomic_write)."""
    atomic_write(path, lambda f: write_npz(f, members), follow_symlinks)


def npz_member(path: str, name: str, mmap: bool = True):
    """Member ``name`` of the .npz at ``path``: memory-mapped read-only where it is stored
    uncompressed (as np.savez and write_npz store it), otherwise read into memory.
    Raises ValueError (or zipfile.BadZipFile, OSError) for a damaged file."""
    import struct
    import zipfile
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(name + ".npy")
        if not mmap or info.compress_type != zipfile.ZIP_STORED:
            with zf.open(info) as m:
                return np.lib.format.read_array(m, allow_pickle=False)
    with open(path, "rb") as f:
        f.seek(info.header_offset)
        local = f.read(30)
        if len(local) != 30 or local[:4] != b"PK\x03\x04":
            raise ValueError(f"bad local header for {name}")
        n, m = struct.unpack("<HH", local[26:30])
        start = info.header_offset + 30 + n + m
        f.seek(start)
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        offset = f.tell()
    if dtype.hasobject:
        raise ValueError(f"{name} holds pickled objects")
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if offset - start + nbytes != info.file_size:
        raise ValueError(f"{name}: member size does not match its header")
    if nbytes == 0:
        return np.zeros(shape, dtype)
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape,
                     order="F" if fortran else "C")
