"""The communicator seam: what the training loop needs from the processes it runs in.

    rank, size      this process and how many train together
    is_writer       whether this process writes checkpoints, logs and progress
    allreduce_(x)   sum a flat float buffer over all processes, in place
    agree(flag)     True on every process if it is True on any (stop decisions)
    broadcast(obj)  rank 0's value of a small JSON-able object, on every process

One process is the identity. An MPI communicator implements the same methods.
"""
from __future__ import annotations

import numpy as np


class SingleProcess:
    rank = 0
    size = 1
    is_writer = True

    def allreduce_(self, buf: np.ndarray) -> np.ndarray:
        return buf

    def agree(self, flag: bool) -> bool:
        return bool(flag)

    def broadcast(self, obj):
        return obj
