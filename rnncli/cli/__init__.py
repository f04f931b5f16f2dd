"""The command line: parse, validate, call the library, report. Every user mistake
ends as one line on standard error and a non-zero exit status.

This module holds the group, the pieces the commands share and the console entry;
lm.py the language-model commands."""
from __future__ import annotations

import os
import sys

import click

from ..config import OPTIMIZERS, SCHEDULES

CELL_NAMES = ("rnn", "gru", "lstm")   # nn.cells.CELLS, without importing numpy for --help

class UserError(click.ClickException):
    """One line, exit status 1."""


def _fail(msg):
    raise UserError(msg)


# ------------------------------------------------------------------ shared pieces


def input_options(f):
    """FILE... plus the reading options shared by train, eval and tokenize."""
    f = click.option("--no-cache", is_flag=True, help="Tokenize afresh; neither read nor write the "
                     "tokenized-corpus cache.")(f)
    f = click.option("--cache-dir", type=click.Path(file_okay=False), default=None,
                     help="Where tokenized corpora are cached [default: $RNNCLI_CACHE_DIR, else "
                     "$XDG_CACHE_HOME/rnncli, else ~/.cache/rnncli].")(f)
    f = click.option("--csv-column", default=None, metavar="NAME",
                     help="Read CSV files with a header row, one document per cell of column NAME.")(f)
    f = click.option("--encoding", default=None, help="Text encoding of the inputs [default: utf-8].")(f)
    return f


def optimizer_options(D, sgd_recipe: bool = False):
    """The update rule, schedule, early stopping and clipping, shared by every training
    command; D is the command's default Config (help shows its values). ``sgd_recipe``:
    --optimizer sgd switches to the tutorial's rate and schedule (the language model)."""
    lr_note = " for adam; 0.005 for sgd, as in the tutorial" if sgd_recipe else ""
    sched_note = "; halve for sgd" if sgd_recipe else ""

    def deco(f):
        for opt in reversed([
            click.option("--optimizer", type=click.Choice(OPTIMIZERS), default=None,
                         help=f"Update rule [default: {D.optimizer}]."),
            click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=None,
                         help=f"Learning rate [default: {D.lr}{lr_note}]."),
            click.option("--momentum", type=click.FloatRange(0, 1, max_open=True), default=None,
                         help=f"Momentum factor [default: {D.momentum}]."),
            click.option("--beta1", type=click.FloatRange(0, 1, max_open=True), default=None,
                         help=f"Adam's first-moment decay [default: {D.beta1}]."),
            click.option("--beta2", type=click.FloatRange(0, 1, max_open=True), default=None,
                         help=f"Adam's second-moment decay [default: {D.beta2}]."),
            click.option("--eps", type=click.FloatRange(min=0, min_open=True), default=None,
                         help=f"Denominator guard for adam/adagrad/rmsprop [default: {D.eps}]."),
            click.option("--decay", type=click.FloatRange(0, 1, max_open=True), default=None,
                         help=f"RMSprop's moving-average factor [default: {D.decay}]."),
            click.option("--lr-schedule", type=click.Choice(SCHEDULES), default=None,
                         help="halve: when validation loss rises (the tutorial); mikolov: halve once gains fall "
                              "below --min-gain, stop at the next; plateau: multiply by --lr-factor when validation "
                              "stalls; cosine/linear: decay to zero over --epochs or --max-time; constant "
                              f"[default: {D.lr_schedule}{sched_note}]."),
            click.option("--lr-factor", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=None,
                         help=f"plateau: factor applied to the rate [default: {D.lr_factor}]."),
            click.option("--min-gain", type=click.FloatRange(min=0), default=None,
                         help=f"mikolov/plateau/--patience: relative validation gain that counts as progress "
                              f"[default: {D.min_gain}]."),
            click.option("--patience", type=click.IntRange(min=0), default=None,
                         help="Stop after this many epochs without a validation gain of --min-gain and restore "
                              f"the best weights; 0: off [default: {D.patience}]."),
            click.option("--weight-decay", type=click.FloatRange(min=0), default=None,
                         help="L2 regularisation strength [default: 0]."),
            click.option("--clip", type=click.FloatRange(min=0), default=None,
                         help=f"Bound on the global gradient norm; 0: no clipping [default: {D.clip}]."),
            click.option("--average", type=click.FloatRange(0, 1, max_open=True), default=None, metavar="DECAY",
                         help="The model is an exponential moving average of the trained weights with this decay "
                              "per step (validated, saved, restored by early stopping); 0: off "
                              f"[default: {D.average:g}]."),
        ]):
            f = opt(f)
        return f
    return deco


def run_options(prep: str = "tokenizing"):
    """How long to train, the seed, threads, the log and quiet, shared by every training
    command; ``prep`` names the work before training that --max-time does not count."""
    def deco(f):
        for opt in reversed([
            click.option("--epochs", type=click.IntRange(min=1), default=None,
                         help="Total epochs (a resumed run trains up to this many) [default: 10, or until --max-time]."),
            click.option("--max-time", type=click.FloatRange(min=0, min_open=True), default=None, metavar="SECONDS",
                         help=f"Stop training after this many seconds ({prep} excluded); alone, trains until "
                              "the time is up."),
            click.option("--seed", type=int, default=None,
                         help="Random seed: the same command and seed give identical parameters [default: 0]."),
            click.option("--threads", type=click.IntRange(min=1), default=None,
                         help="Limit the CPU threads used [default: the BLAS default]."),
            click.option("--log", "log_path", type=click.Path(dir_okay=False), default=None,
                         help="Append one JSON object per epoch to this file."),
            click.option("-q", "--quiet", is_flag=True, help="Only errors; no progress bars or summaries."),
        ]):
            f = opt(f)
        return f
    return deco


def cell_options(D):
    """The recurrent cell, its size and depth."""
    def deco(f):
        for opt in reversed([
            click.option("--cell", type=click.Choice(list(CELL_NAMES)), default=None,
                         help=f"Recurrent cell: rnn (Elman), gru or lstm [default: {D.cell}]."),
            click.option("--activation", type=click.Choice(["tanh", "relu"]), default=None,
                         help=f"The rnn cell's nonlinearity [default: {D.activation}]."),
            click.option("--hidden-dim", type=click.IntRange(min=1), default=None,
                         help=f"Hidden units H [default: {D.hidden_dim}]."),
            click.option("--layers", type=click.IntRange(min=1), default=None,
                         help=f"Stacked recurrent layers [default: {D.layers}]."),
        ]):
            f = opt(f)
        return f
    return deco


def run_training(make_trainer, output: str, quiet: bool, prog, unit: str, describe_val):
    """Run a Trainer with progress bars, one line per epoch and Ctrl-C handling: the first
    Ctrl-C saves the checkpoint after the current batch and exits 130, a second aborts
    (the last checkpoint written stays intact). ``make_trainer(hooks)`` builds the
    Trainer; ``describe_val(record)`` words an epoch's validation result."""
    import signal
    import time

    from ..train import Diverged, Hooks, Interrupted

    bar = [None]

    def epoch_start(epoch, n_batches, n_units):
        bar[0] = prog.bar(total=n_units, unit=unit, unit_scale=True, desc=f"epoch {epoch + 1}")
        bar[0].t_start = time.perf_counter()

    def on_batch(n, loss, lr):
        b = bar[0]
        b.update(n)
        if b.n and not b.disable:
            b.set_postfix_str(f"loss={loss:.3f} {b.n / (time.perf_counter() - b.t_start):,.0f} {unit}/s lr={lr:.3g}",
                              refresh=False)

    def epoch_end(r):
        if bar[0] is not None:
            bar[0].close()
        if quiet:
            return
        ep = f"epoch {r['epoch']}" + (" (stopped by --max-time)" if r["partial"] else "")
        tps = r["tokens_per_s"] or 0
        click.echo(f"{ep}: train loss {r['train_loss'] or float('nan'):.4f}, {describe_val(r)}, lr {r['lr']:.3g}, "
                   f"{r['seconds']:.1f}s, {tps:,.0f} {unit}/s")

    stop_flag = {"n": 0}

    def on_sigint(signum, frame):
        stop_flag["n"] += 1
        if stop_flag["n"] > 1:
            raise KeyboardInterrupt
        if not quiet:
            click.echo("\ninterrupt: saving the checkpoint after this batch (Ctrl-C again to abort)", err=True)

    hooks = Hooks(epoch_start=epoch_start, batch=on_batch, epoch_end=epoch_end, note=prog.note,
                  should_stop=lambda: stop_flag["n"] > 0)
    trainer = make_trainer(hooks)
    old = signal.signal(signal.SIGINT, on_sigint)
    try:
        return trainer.run()
    except Interrupted:
        if bar[0] is not None:
            bar[0].close()
        click.echo(f"interrupted: checkpoint saved to {output} (resume with --resume {output})", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        click.echo(f"aborted; the last checkpoint written ({output}) is intact", err=True)
        sys.exit(130)
    except Diverged as e:
        if bar[0] is not None:
            bar[0].close()
        _fail(str(e))
    finally:
        signal.signal(signal.SIGINT, old)


STOP_REASONS = {"epochs": "all epochs done", "time": "--max-time reached", "schedule": "the schedule ended training",
                "patience": "early stopping"}


class Progress:
    """tqdm bars on standard error; silent with --quiet or when stderr is not a terminal."""

    def __init__(self, quiet: bool):
        self.quiet = quiet

    def bar(self, **kw):
        from tqdm import tqdm
        return tqdm(file=sys.stderr, disable=True if self.quiet else None, dynamic_ncols=True,
                    leave=False, **kw)

    def note(self, msg):
        if not self.quiet:
            click.echo(msg, err=True)


def _threads(n):
    """Limit BLAS threads (and our own elementwise threads) to n; None keeps the BLAS default."""
    if n:
        from threadpoolctl import threadpool_limits
        threadpool_limits(n)




def _check_writable(path):
    d = os.path.dirname(os.path.abspath(path)) or "."
    if os.path.isdir(path):
        _fail(f"{path}: is a directory; give a file name for the checkpoint")
    if not os.path.isdir(d):
        _fail(f"{path}: directory {d} does not exist")
    import tempfile
    try:
        fd, tmp = tempfile.mkstemp(dir=d, prefix=".rnncli-write-test-")
        os.close(fd)
        os.unlink(tmp)
    except OSError as e:
        _fail(f"{path}: cannot write there ({e.strerror})")
    if os.path.exists(path) and not os.access(path, os.W_OK):
        _fail(f"{path}: exists and is not writable")



def _load_checkpoint(path, kind=None):
    """The checkpoint at ``path``; with ``kind`` ("lm", "forecast"), one trained for that task."""
    from ..checkpoint import CheckpointError, load
    try:
        ck = load(path)
    except CheckpointError as e:
        _fail(str(e))
    if kind is not None and ck.kind != kind:
        if ck.kind == "forecast":
            _fail(f"{path}: is a forecasting checkpoint (from `rnn forecast train`); use it with "
                  f"`rnn forecast predict` or `rnn forecast eval`")
        _fail(f"{path}: is a language-model checkpoint (from `rnn train`); `rnn forecast` needs one "
              f"written by `rnn forecast train`")
    return ck


def _catching(fn):
    """Library errors become one-line messages."""
    import functools

    @functools.wraps(fn)
    def wrapper(*a, **kw):
        from ..checkpoint import CheckpointError
        from ..errors import DataError
        from ..forecast.plots import PlotError
        from ..forecast.series import SeriesError
        try:
            return fn(*a, **kw)
        except (DataError, CheckpointError, SeriesError, PlotError) as e:
            raise UserError(str(e)) from None
        except MemoryError:
            raise UserError("out of memory; try a smaller --batch-size, --vocab-size or --hidden-dim") from None
    return wrapper


# ------------------------------------------------------------------ the group


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="rnncli", message="rnncli %(version)s")
def cli():
    """Train word-level recurrent neural network language models on NumPy,
    sample sentences from them and score text with them.

    \b
      rnn train corpus.txt          # writes model.npz (and model.best.npz)
      rnn generate -n 5             # sentences from model.npz
      rnn eval held-out.txt         # perplexity of new text
    """



# ------------------------------------------------------------------ entry point


def main(argv=None):
    """Console entry: click's errors and ours as one line 'rnn: error: ...'."""
    try:
        rv = cli.main(args=argv, prog_name="rnn", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("rnn: aborted", err=True)
        sys.exit(130)
    except click.UsageError as e:
        cmd = e.ctx.command_path if e.ctx else "rnn"
        click.echo(f"{cmd}: error: {e.format_message()} (see '{cmd} --help')", err=True)
        sys.exit(2)
    except click.ClickException as e:
        click.echo(f"rnn: error: {e.format_message()}", err=True)
        sys.exit(e.exit_code)
    except BrokenPipeError:
        sys.exit(0)
    sys.exit(rv if isinstance(rv, int) else 0)



from . import forecast, lm  # noqa: E402,F401  (registers the commands)
