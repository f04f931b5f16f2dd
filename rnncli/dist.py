"""The communicator seam: what the training loop needs from the processes it runs in.

    rank, size        this process and how many train together
    is_writer         whether this process writes checkpoints, logs and progress
    allreduce_(x)     sum a flat float buffer over all processes, in place
    sum_gradients(flat, grads, rows)
                      sum the step's gradients (dense, and a row-sparse embedding
                      gradient over the union of the rows used), in place
    agree(flag)       True on every process if it is True on any (stop decisions)
    broadcast(obj)    rank 0's value of a small JSON-able object, on every process
    allgather(obj)    every process's value of a small object, in rank order
    allgather_array(a), alltoallv(a, counts)
                      1-D arrays concatenated in rank order; sent in pieces to each rank
    threads           the default --threads of one process (None: all its cores)

One process is the identity (SingleProcess). MPIComm implements the same methods with
mpi4py's collectives; it is built only when an MPI launcher started the process
(``connect``), so mpi4py is never imported otherwise.

Faults under MPI: every collective runs under a watchdog thread. While this process
has waited in a collective for more than a few seconds, the watchdog asks the other
processes' watchdogs whether they are alive; a process that does not answer within
the timeout (it died, is stopped, or its host is unreachable) is named in a one-line
message and every process is stopped (MPI Abort). A process that is alive but slow
is waited for. MPICH's mpiexec also stops every process at once when one is killed,
naming its PID (the PIDs of the ranks are listed when training starts).
"""
from __future__ import annotations

import atexit
import os
import socket
import sys
import threading
import time

import numpy as np

from .errors import DataError

# Set by the common MPI launchers in every process they start. Slurm's srun sets
# PMI_* (--mpi=pmi2) or PMIX_* (--mpi=pmix); SLURM_PROCID alone (also set in a
# batch script) does not count as an MPI launch.
RANK_VARS = ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK", "MV2_COMM_WORLD_RANK")
SIZE_VARS = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")
MODES = ("auto", "off", "require")
DEFAULT_TIMEOUT = 60.0   # seconds a process may go without answering the others' watchdogs


def launch_rank(env=None) -> int:
    """This process's rank according to the launcher's environment (0 when none)."""
    env = os.environ if env is None else env
    for k in RANK_VARS:
        if env.get(k, "").strip().isdigit():
            return int(env[k])
    return 0


def launch_size(env=None) -> int | None:
    """How many processes the launcher started: None when no MPI launcher started
    this one, 0 when one did but did not say how many."""
    env = os.environ if env is None else env
    if not any(k in env for k in RANK_VARS):
        return None
    for k in SIZE_VARS:
        if env.get(k, "").strip().isdigit():
            return int(env[k])
    return 0


def connect(mode: str = "auto", timeout: float = DEFAULT_TIMEOUT, env=None):
    """The communicator for ``--distributed MODE``. auto: MPI when an MPI launcher
    started more than one process, else one process; off: one process (N launched
    copies train independently); require: MPI, or an error when not launched by one."""
    if mode == "off":
        return SingleProcess()
    size = launch_size(env)
    if size is None:
        if mode == "require":
            raise DataError("--distributed require: not started by an MPI launcher; run "
                            "mpiexec -n N rnn train ... (or srun --mpi=pmi2 rnn train ...)")
        return SingleProcess()
    if size == 1 and mode == "auto":
        return SingleProcess()
    try:
        from mpi4py import MPI
    except ImportError:
        var = next(k for k in RANK_VARS if k in (os.environ if env is None else env))
        raise DataError(f"started by an MPI launcher ({var} is set) but mpi4py is not installed: "
                        "pip install 'rnncli[mpi]', or pass --distributed off to train independent copies") from None
    if MPI.COMM_WORLD.Get_size() == 1 and mode == "auto":
        return SingleProcess()
    return MPIComm(MPI.COMM_WORLD, timeout)


class SingleProcess:
    rank = 0
    size = 1
    is_writer = True
    threads = None

    def allreduce_(self, buf: np.ndarray) -> np.ndarray:
        return buf

    def sum_gradients(self, flat: np.ndarray, grads: dict, rows: dict | None = None):
        """One process's gradients are the sum (MPIComm.sum_gradients)."""

    def agree(self, flag: bool) -> bool:
        return bool(flag)

    def broadcast(self, obj):
        return obj

    def allgather(self, obj) -> list:
        return [obj]

    def allgather_array(self, a: np.ndarray) -> np.ndarray:
        return np.array(a, copy=True)

    def alltoallv(self, a: np.ndarray, counts) -> np.ndarray:
        return np.array(a, copy=True)

    def close(self):
        pass


def checksum(params: dict) -> str:
    """A digest of the parameters' bytes (names in sorted order): processes whose
    parameters differ in any bit get different digests."""
    import hashlib
    h = hashlib.blake2b(digest_size=16)
    for k in sorted(params):
        v = params[k]
        h.update(k.encode())
        h.update(np.ascontiguousarray(v.ravel(order="K")).view(np.uint8))
    return h.hexdigest()


class SharedError(DataError):
    """An error that every process raises alike (one process found it, all learned of
    it at the same point), so one process reports it. Its message is one line."""


def settle(comm, fn, *args, oom: str = "out of memory; try more processes or a smaller --vocab-size"):
    """Run ``fn(*args)``, a piece of work each process does on its own, then learn
    from every process how it went: if any failed, every process raises SharedError
    with the message of the lowest failing rank (an error in the user's input is
    worded as it is, running out of memory as ``oom`` says; another exception is
    printed with its traceback by the process that met it). Collectives must not run
    inside ``fn``: a process that failed before one would leave the others waiting in it."""
    from .checkpoint import CheckpointError
    if comm.size == 1:
        return fn(*args)
    err = result = None
    try:
        result = fn(*args)
    except (DataError, CheckpointError) as e:
        err = str(e)
    except MemoryError:
        err = f"rank {comm.rank}: {oom}"
    except Exception as e:
        if hasattr(e, "format_message"):      # the CLI's one-line errors (click.ClickException)
            err = e.format_message()
        else:                                 # a bug or a resource error: this process says where
            import traceback
            traceback.print_exc()
            err = f"rank {comm.rank}: internal error ({type(e).__name__}: {e}); see its traceback above"
    errs = comm.allgather(err)
    err = next((e for e in errs if e), None)
    if err:
        raise SharedError(err)
    return result


class MPIComm:
    """The processes started by an MPI launcher, through mpi4py's collectives."""

    def __init__(self, world, timeout: float = DEFAULT_TIMEOUT):
        from mpi4py import MPI
        self.MPI = MPI
        self.world = world
        self.comm = world.Dup()
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        self.is_writer = self.rank == 0
        self.where = self.comm.allgather((socket.gethostname(), os.getpid()))
        host = self.where[self.rank][0]
        self.local_size = sum(h == host for h, _ in self.where)
        from .nn.workspace import available_cores
        # processes on one host share its cores
        self.threads = max(1, min(available_cores(), (os.cpu_count() or 1) // self.local_size))
        self.watchdog = _Watchdog(world.Dup(), self.rank, self.size, self.where, timeout, world)
        self.watchdog.start()
        atexit.register(self.watchdog.stop)   # before mpi4py's MPI_Finalize (atexit runs last-in first-out)

    def describe(self) -> str:
        return ", ".join(f"rank {r} = pid {pid} on {h}" for r, (h, pid) in enumerate(self.where))

    def _watched(self, what, fn, *args):
        w = self.watchdog
        w.busy = (what, time.monotonic())
        try:
            return fn(*args)
        finally:
            w.busy = None

    def allreduce_(self, buf: np.ndarray) -> np.ndarray:
        self._watched("allreduce", self.comm.Allreduce, self.MPI.IN_PLACE, buf, self.MPI.SUM)
        return buf

    def sum_gradients(self, flat: np.ndarray, grads: dict, rows: dict | None = None):
        """Sum the processes' gradients in place: ``flat`` is the buffer every array of
        ``grads`` is a view into (train.flat_zeros_like), with any slots at its end.
        ``rows``, the trainer's row record (optim.clip_'s format), names at most one
        row-sparse gradient, the input embedding's: {name: rows of grads[name].T outside
        which it is zero on this process}. That gradient is summed over the union of the
        rows the processes used only (its other rows are zero everywhere), and
        rows[name] becomes that union. Passing the whole (C, G*H) matrix through the
        Allreduce, and through dense clearing, norm and update afterwards, cost as much as
        the half step a second process saves (docs/mpi.md)."""
        if not rows:
            self.allreduce_(flat)
            return
        (name, mine), = rows.items()
        gt = grads[name].T                       # (C, G*H), a contiguous stretch of flat
        a = (gt.ctypes.data - flat.ctypes.data) // flat.itemsize
        used = np.zeros(len(gt), flat.dtype)
        used[mine] = 1
        union = np.flatnonzero(self.allreduce_(used))
        for part in (flat[:a], flat[a + gt.size:]):
            if part.size:
                self.allreduce_(part)
        packed = gt[union]
        gt[union] = self.allreduce_(packed)
        rows[name] = union                       # the rows that may be nonzero now

    def agree(self, flag: bool) -> bool:
        f = np.array([1 if flag else 0], np.int32)
        self._watched("agree", self.comm.Allreduce, self.MPI.IN_PLACE, f, self.MPI.MAX)
        return bool(f[0])

    def broadcast(self, obj):
        return self._watched("broadcast", self.comm.bcast, obj, 0)

    def allgather(self, obj) -> list:
        return self._watched("allgather", self.comm.allgather, obj)

    def allgather_array(self, a: np.ndarray) -> np.ndarray:
        a = np.ascontiguousarray(a)
        counts = np.array(self.allgather(len(a)), np.int64)
        out = np.empty(int(counts.sum()), a.dtype)
        displ = np.r_[0, np.cumsum(counts)[:-1]]
        self._watched("allgather", self.comm.Allgatherv, a, [out, (counts, displ)])
        return out

    def alltoallv(self, a: np.ndarray, counts) -> np.ndarray:
        """Elements counts[0] of ``a`` to rank 0, the next counts[1] to rank 1, ...;
        returns what every rank sent here, in rank order."""
        a = np.ascontiguousarray(a)
        counts = np.asarray(counts, np.int64)
        rcounts = np.empty(self.size, np.int64)
        self._watched("alltoall", self.comm.Alltoall, counts, rcounts)
        out = np.empty(int(rcounts.sum()), a.dtype)
        sd = np.r_[0, np.cumsum(counts)[:-1]]
        rd = np.r_[0, np.cumsum(rcounts)[:-1]]
        self._watched("alltoallv", self.comm.Alltoallv, [a, (counts, sd)], [out, (rcounts, rd)])
        return out

    def abort(self, message: str, code: int = 1):
        """Say why on this process's standard error and stop every process."""
        _say_and_abort(message, self.world, code)

    def close(self):
        """The end of a run: wait for every process (under the watchdog), then stop it,
        so no process sits unwatched in MPI_Finalize."""
        self._watched("finish", self.comm.Barrier)
        self.watchdog.stop()


_PROBE, _REPLY = 7101, 7102


class _Watchdog(threading.Thread):
    """Answers the other processes' 'are you alive?' and asks them the same while the
    main thread has waited in a collective for ``interval`` seconds; a process that
    has not answered within ``timeout`` seconds is named, and every process stopped."""

    def __init__(self, comm, rank, size, where, timeout, world):
        super().__init__(name="rnncli-watchdog", daemon=True)
        self.comm, self.rank, self.size, self.where, self.world = comm, rank, size, where, world
        self.timeout = float(timeout)
        self.interval = min(10.0, self.timeout)
        self.busy = None                 # (what, since) while the main thread is in a collective
        self._halt = threading.Event()
        self._done = threading.Event()

    def stop(self):
        if self.is_alive() and not self._halt.is_set():
            self._halt.set()
            self._done.wait(5.0)

    def run(self):
        from mpi4py import MPI
        comm = self.comm
        inbox = np.zeros(1, np.int64)
        incoming = comm.Irecv(inbox, MPI.ANY_SOURCE, _PROBE)
        status = MPI.Status()
        sends = []
        ping = np.zeros(1, np.int64)
        probe = None                      # (started, {rank: request}) of the round in flight
        last_round = 0.0
        try:
            while not self._halt.wait(0.05):
                while incoming.Test(status):     # answer whoever asked
                    sends.append(comm.Isend(ping, status.Get_source(), _REPLY))
                    incoming = comm.Irecv(inbox, MPI.ANY_SOURCE, _PROBE)
                sends = [s for s in sends if not s.Test()]
                busy, now = self.busy, time.monotonic()
                if probe is None:
                    if busy and now - busy[1] >= self.interval and now - last_round >= self.interval:
                        peers = [r for r in range(self.size) if r != self.rank]
                        replies = {}
                        for r in peers:
                            sends.append(comm.Isend(ping, r, _PROBE))
                            replies[r] = comm.Irecv(np.zeros(1, np.int64), r, _REPLY)
                        probe = (now, replies)
                else:
                    started, replies = probe
                    for r in [r for r, q in replies.items() if q.Test()]:
                        del replies[r]
                    if not replies:
                        probe, last_round = None, now
                    elif now - started >= self.timeout:
                        self._fail(sorted(replies), busy)
        finally:
            self._done.set()
            if not self._halt.is_set():
                return
            try:
                incoming.Cancel()
                incoming.Wait()
                if probe is not None:
                    for q in probe[1].values():
                        q.Cancel()
                        q.Wait()
            except Exception:
                pass

    def _fail(self, silent, busy):
        what = f"waiting in {busy[0]} for {time.monotonic() - busy[1]:.0f}s" if busy else "waiting"
        names = ", ".join(_describe(r, *self.where[r]) for r in silent)
        msg = (f"rnn: error: rank {self.rank}: {names} did not answer for {self.timeout:g}s while this process was "
               f"{what}: it died, hangs or its host is unreachable; stopping every process")
        _say_and_abort(msg, self.world, 1)


def _say_and_abort(message, world, code):
    try:
        sys.stderr.write(message.rstrip("\n") + "\n")
        sys.stderr.flush()
        # the launcher forwards output through a pipe and stops forwarding once Abort
        # reaches it: give it a moment to pass the message on
        time.sleep(0.5)
        # MPI Abort prints its own lines (MPICH: "Abort(1) on node ..."): the message
        # above is the one the user needs
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
    finally:
        world.Abort(code)


def _describe(rank, host, pid) -> str:
    state = ""
    if host == socket.gethostname() and os.path.isdir("/proc"):
        try:
            with open(f"/proc/{pid}/stat") as f:
                s = f.read().rsplit(")", 1)[1].split()[0]
            state = {"T": ", stopped", "t": ", stopped", "Z": ", exited", "X": ", exited"}.get(s, "")
        except OSError:
            state = ", exited"
    return f"rank {rank} (pid {pid} on {host}{state})"
