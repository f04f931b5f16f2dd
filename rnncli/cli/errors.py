"""How a failure reaches the user: one line on standard error and an exit status, never
a traceback. UserError is a mistake of the user's; ``library_message`` is the one place
the library's errors become that line (``catching`` for a command, ``reported_once``
under several MPI processes); SIGTERM becomes an exception, so that files are closed
on the way out; ``one_line`` keeps quoted input from breaking the line."""
from __future__ import annotations

import contextlib
import functools
import os
import sys

import click

# the options that make each command need less memory, as an out-of-memory message
# suggests them; a resumed run keeps its model's sizes (RESUMED_KEEPS)
SMALLER = {"train": ("--batch-size", "--vocab-size", "--hidden-dim", "--layers"),
           "forecast train": ("--batch-size", "--hidden-dim", "--layers", "--history", "--horizon"),
           "generate": ("-n",)}
RESUMED_KEEPS = ("--vocab-size", "--hidden-dim", "--layers", "--history", "--horizon")


def out_of_memory() -> str:
    """The line for a MemoryError: the options of the running command that would make
    it need less, or, where it has none, that the input is too large."""
    ctx = click.get_current_context(silent=True)
    opts = ()
    if ctx is not None:
        names, c = [], ctx
        while c is not None and c.parent is not None:    # the command's path, the group `rnn` left out
            names.insert(0, c.command.name)
            c = c.parent
        opts = SMALLER.get(" ".join(names), ())
        if ctx.params.get("resume"):
            opts = tuple(o for o in opts if o not in RESUMED_KEEPS)
    if not opts:
        return "out of memory: the model or the data is too large for this machine's memory"
    from ..memory import listed
    return f"out of memory; try a smaller {listed(opts)}"


class UserError(click.ClickException):
    """One line, exit status 1."""


def fail(msg):
    raise UserError(msg)


def library_message(e: BaseException) -> str | None:
    """The line a library error shows the user (bad input, a bad checkpoint, a series
    or plot that cannot be made, a file that cannot be written, memory), or None: an
    error of rnncli itself."""
    if isinstance(e, MemoryError):
        return out_of_memory()
    from ..checkpoint import CheckpointError
    from ..errors import DataError, WriteError
    from ..plotting import PlotError
    if isinstance(e, (DataError, CheckpointError, PlotError, WriteError)):
        return str(e)
    return None


def catching(fn):
    """A command whose library errors become one-line messages."""
    @functools.wraps(fn)
    def wrapper(*a, **kw):
        try:
            return fn(*a, **kw)
        except Exception as e:
            msg = library_message(e)
            if msg is None:
                raise
            raise UserError(msg) from None
    return wrapper


@contextlib.contextmanager
def reported_once(comm):
    """Under several processes (dist.py), an error that every process meets alike (the
    options, the data preparation, divergence: SharedError or the CLI's one-line
    errors) is reported by rank 0 alone, the others exit with the same status; any
    other error is reported by the process that meets it, naming its rank, and stops
    every process (MPI Abort)."""
    from ..dist import SharedError
    if comm.size == 1:
        yield
        return
    try:
        yield
    except SystemExit:
        raise                                   # Ctrl-C: every process agreed to stop
    except KeyboardInterrupt:                   # Ctrl-C before training: each process stops at once
        if comm.is_writer:
            click.echo("rnn: aborted", err=True)
        os._exit(130)
    except (SharedError, click.ClickException) as e:
        if not comm.is_writer:
            sys.exit(getattr(e, "exit_code", 1))
        raise UserError(str(e) if isinstance(e, SharedError) else e.format_message()) from None
    except BaseException as e:
        msg = library_message(e)
        if msg is None:
            import traceback
            traceback.print_exc()
            msg = f"internal error ({type(e).__name__}: {e})"
        ctx = click.get_current_context(silent=True)
        try:
            if ctx is not None:
                ctx.close()     # MPI Abort skips the command's cleanup: release its write lock now
        except Exception:
            pass                # the others wait in a collective: stopping them comes first
        comm.abort(f"rnn: error: rank {comm.rank}: {msg}; stopping every process")


class Terminated(KeyboardInterrupt):
    """SIGTERM as an exception, so that files are closed, locks released and temporary
    files removed on the way out, as for Ctrl-C (`rnn train` checkpoints first)."""


@contextlib.contextmanager
def sigterm_raises():
    """While the block runs, SIGTERM raises Terminated in this process (from the main
    thread only: Python runs handlers there). A forked worker that inherits the
    handler dies as SIGTERM would have it."""
    import signal
    import threading
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    owner = os.getpid()

    def on_sigterm(signum, frame):
        if os.getpid() != owner:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        raise Terminated()

    old = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old if old is not None else signal.SIG_DFL)


def one_line(msg: str) -> str:
    """Control characters that a message quotes from its input (a file name, a key in a
    checkpoint) shown as escapes: the message stays one line."""
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in msg.strip())
