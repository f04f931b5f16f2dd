"""Work arrays reused across steps, and the thread pool that parallelises the big matrix
products and elementwise work.

BLAS runs on one thread (the CLI sets it so): OpenBLAS's worker threads spin while
they wait for each other, and on a machine where another program takes a core they
spin against it; eval was measured 10x slower with 2 BLAS threads than with 1 on a
busy 2-core machine. The large products are instead cut into row blocks that the
pool's threads multiply at the same time (numpy releases the GIL); a thread that
waits here blocks instead of spinning."""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity), not all cores of the machine."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class Workspace:
    """Work arrays allocated once and reused: glibc hands buffers of 32 MiB and more
    back to the kernel when freed, so fresh (N, C) arrays every step page-fault
    their way in again at about twice the cost of the arithmetic."""

    def __init__(self, threads: int | None = None):
        self._bufs: dict[str, np.ndarray] = {}
        cores = available_cores()
        # more threads than cores buys nothing, and a huge --threads would cost memory
        self.threads = max(1, min(threads, max(cores, 8)) if threads else min(cores, 8))
        self._pool = ThreadPoolExecutor(self.threads - 1) if self.threads > 1 else None

    def get(self, name: str, shape: tuple, dtype) -> np.ndarray:
        dtype = np.dtype(dtype)
        size = int(np.prod(shape))
        buf = self._bufs.get(name)
        if buf is None or buf.dtype != dtype or buf.size < size:
            grow = 0 if buf is None or buf.dtype != dtype else buf.size
            buf = self._bufs[name] = np.empty(max(size, grow + grow // 4), dtype)
        return buf[:size].reshape(shape)

    def matmul(self, a: np.ndarray, b: np.ndarray, out: np.ndarray) -> np.ndarray:
        """out = a @ b with the rows of a (and out) in blocks, one per thread."""
        if self._pool is None or a.shape[0] * b.shape[0] * b.shape[1] < 4_000_000:
            return np.matmul(a, b, out=out)
        self.rows_parallel(lambda ab, ob: np.matmul(ab, b, out=ob), a, out)
        return out

    def rows_parallel(self, fn, *arrays):
        """fn(*row_blocks) over row blocks of the arrays, on all threads: numpy's
        elementwise kernels are single-threaded but release the GIL."""
        n = arrays[0].shape[0]
        if self._pool is None or n < 64:
            fn(*arrays)
            return
        cuts = np.linspace(0, n, self.threads + 1).astype(int)
        futs = [self._pool.submit(fn, *(a[i:j] for a in arrays)) for i, j in zip(cuts[1:-1], cuts[2:])]
        fn(*(a[: cuts[1]] for a in arrays))
        for f in futs:
            f.result()
