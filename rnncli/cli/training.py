"""A Trainer run from the command line: a progress bar and one line per epoch
(EpochDisplay), Ctrl-C and SIGTERM as a request to stop after the batch (StopOnSignal),
and how each way of ending shows (run_training)."""
from __future__ import annotations

import os
import shlex
import signal
import sys
import time

import click

from .display import Progress
from .errors import fail

STOP_REASONS = {"epochs": "all epochs done", "time": "--max-time reached", "schedule": "the schedule ended training",
                "patience": "early stopping"}


class EpochDisplay:
    """The Trainer's progress hooks: a bar per epoch with the loss, speed and rate, and
    one line when the epoch ends; ``describe_val(record)`` adds the task's own
    validation figure to that line."""

    def __init__(self, prog: Progress, unit: str, describe_val):
        self.prog, self.unit, self.describe_val = prog, unit, describe_val
        self.bar = None

    def epoch_start(self, epoch, n_batches, n_units):
        self.bar = self.prog.bar(total=n_units, unit=self.unit, unit_scale=True, desc=f"epoch {epoch + 1}")
        self.bar.t_start = time.perf_counter()

    def batch(self, n, loss, lr):
        b = self.bar
        b.update(n)
        if b.n and not b.disable:
            b.set_postfix_str(f"loss={loss:.3f} {b.n / (time.perf_counter() - b.t_start):,.0f} "
                              f"{self.unit}/s lr={lr:.3g}", refresh=False)

    def epoch_end(self, r):
        self.close()
        if self.prog.quiet:
            return
        val = (f"val loss {r['val_loss']:.4f} {self.describe_val(r)}".rstrip() if r["val_loss"] is not None
               else "no validation")
        ep = f"epoch {r['epoch']}" + (" (stopped by --max-time)" if r["partial"] else "")
        tps = r["tokens_per_s"] or 0
        click.echo(f"{ep}: train loss {r['train_loss'] or float('nan'):.4f}, {val}, lr {r['lr']:.3g}, "
                   f"{r['seconds']:.1f}s, {tps:,.0f} {self.unit}/s")

    def close(self):
        if self.bar is not None:
            self.bar.close()


class StopOnSignal:
    """SIGINT and SIGTERM, while installed: the first asks training to stop after the
    current batch (``requested``), a second aborts at once."""

    def __init__(self, comm, output: str, quiet: bool):
        self.comm, self.output, self.quiet = comm, output, quiet
        self.count = 0
        self.signum = signal.SIGINT
        self.old = {}

    def requested(self) -> bool:
        return self.count > 0

    def __call__(self, signum, frame):
        self.count += 1
        self.signum = signum
        if self.count > 1 and self.comm.size > 1:
            # the processes are at different points: stop each at once (MPI_Finalize
            # would wait for the others); checkpoints are written atomically
            if self.comm.is_writer:
                click.echo(f"aborted; the last checkpoint written ({self.output}) is intact", err=True)
            os._exit(130)
        if self.count > 1:
            raise KeyboardInterrupt
        if not self.quiet:
            what = "interrupt" if signum == signal.SIGINT else "terminate signal"
            click.echo(f"\n{what}: saving the checkpoint after this batch (Ctrl-C again to abort)", err=True)

    def install(self):
        self.old = {s: signal.signal(s, self) for s in (signal.SIGINT, signal.SIGTERM)}

    def restore(self):
        for sig, handler in self.old.items():
            signal.signal(sig, handler)


def command_line(*words) -> str:
    """A command as the shell must be given it: a hint the user can paste as printed."""
    return " ".join(shlex.quote(str(w)) for w in words)


def run_training(trainer, prog: Progress, describe_val=lambda record: "", resume_command: str | None = None):
    """Run a Trainer with progress bars, one line per epoch and signal handling: Ctrl-C
    (SIGINT) and SIGTERM alike save a checkpoint after the current batch and exit
    128 + the signal's number (130, 143); a second one aborts at once, leaving the
    last written checkpoint intact. Returns its Result. ``describe_val(record)`` adds
    the task's own validation figure to the epoch line; ``resume_command``, the
    command that resumes the run (command_line), is what a stopped run says to run."""
    import warnings

    from ..train import Diverged, Hooks, Interrupted

    display = EpochDisplay(prog, trainer.task.unit, describe_val)
    stop = StopOnSignal(trainer.comm, trainer.output, prog.quiet)
    trainer.hooks = Hooks(epoch_start=display.epoch_start, batch=display.batch, epoch_end=display.epoch_end,
                          note=prog.note, should_stop=stop.requested)
    stop.install()
    try:
        with warnings.catch_warnings():  # overflow on the way to a divergence: the error says it in one line
            warnings.simplefilter("ignore", RuntimeWarning)
            return trainer.run()
    except Interrupted:
        display.close()
        what = "interrupted" if stop.signum == signal.SIGINT else "terminated"
        if trainer.comm.is_writer:
            again = f"`{resume_command}`" if resume_command else f"--resume {trainer.output}"
            click.echo(f"{what}: checkpoint saved to {trainer.output} (resume with {again})", err=True)
        sys.exit(128 + stop.signum)
    except KeyboardInterrupt:
        click.echo(f"aborted; {trainer.output_status()}", err=True)
        sys.exit(128 + stop.signum)
    except Diverged as e:
        display.close()
        fail(str(e))
    finally:
        stop.restore()
