"""Atomic writes of .npz files."""
from __future__ import annotations

import os
import tempfile

import numpy as np


def atomic_write_npz(path: str, arrays: dict):
    """Write to a temporary file beside ``path``, fsync, then rename over it: a crash,
    Ctrl-C or full disk at any moment leaves the previous file intact."""
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=d)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file normal permissions
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


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


def atomic_write_npz_streamed(path: str, members: dict):
    """write_npz to a temporary file beside ``path``, fsync, rename (as atomic_write_npz)."""
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=d)
    try:
        os.chmod(tmp, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            write_npz(f, members)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


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
