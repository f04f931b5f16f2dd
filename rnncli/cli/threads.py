"""--threads, one meaning in every command that computes (train, eval, generate,
forecast train | predict | eval): the large matrix products and elementwise work run
on that many threads of a Workspace's pool (None, no --threads: the cores this process
may use), the value given to this command, never one stored in a checkpoint. BLAS
itself runs on one thread; nn/workspace.py says why."""
from __future__ import annotations


def one_blas_thread():
    from threadpoolctl import threadpool_limits
    threadpool_limits(1, user_api="blas")


def workspace(threads: int | None):
    """The Workspace for a command that does not train (training builds its own from
    Config.threads), with BLAS on one thread."""
    from ..nn.workspace import Workspace
    one_blas_thread()
    return Workspace(threads)
