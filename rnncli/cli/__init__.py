"""The command line: parse, validate, call the library, report. Every user mistake
ends as one line on standard error and a non-zero exit status.

This module holds the group, the pieces the commands share and the console entry;
lm.py the language-model commands."""
from __future__ import annotations

import contextlib
import math
import os
import sys

import click

from ..registry import ACTIVATIONS, CELLS, OPTIMIZERS, SCHEDULES, SENTENCES, WORDS


class UserError(click.ClickException):
    """One line, exit status 1."""


def _fail(msg):
    raise UserError(msg)


# ------------------------------------------------------------------ shared pieces


class FloatRange(click.FloatRange):
    """click.FloatRange that also refuses nan and inf (which pass every comparison)."""

    def convert(self, value, param, ctx):
        rv = super().convert(value, param, ctx)
        if not math.isfinite(rv):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return rv


def json_text(obj, **kw) -> str:
    """JSON that every parser reads: a non-finite number becomes null, and the object
    holding it gains "non_finite": {field: "inf" | "-inf" | "nan"} saying what it was."""
    import json

    def clean(o):
        if isinstance(o, float) and not math.isfinite(o):
            return None
        if isinstance(o, dict):
            bad = {str(k): repr(v) for k, v in o.items() if isinstance(v, float) and not math.isfinite(v)}
            out = {k: clean(v) for k, v in o.items()}
            if bad:
                out["non_finite"] = bad
            return out
        if isinstance(o, (list, tuple)):
            return [clean(v) for v in o]
        return o
    return json.dumps(clean(obj), allow_nan=False, **kw)


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


def _unk_token(ctx, param, value):
    if value is not None and (not value or any(c.isspace() for c in value)):
        raise click.BadParameter("give one word without whitespace, e.g. --unk-token '<unk>'")
    return value


def tokenizer_options(f):
    """How text becomes sentences and words (train and tokenize; stored in the checkpoint
    or corpus, and applied from there by eval, generate --prefix and tokenize -m)."""
    f = click.option("--unk-token", default=None, metavar="WORD", callback=_unk_token,
                     help="The corpus's own unknown-word marker (PTB: '<unk>'), read as UNKNOWN_TOKEN: "
                          "not a vocabulary word, counted in eval's OOV rate.")(f)
    f = click.option("--words", type=click.Choice(WORDS), default=None,
                     help="treebank: NLTK's Treebank-style word tokenizer; whitespace: split at whitespace "
                          "only, for pre-tokenized text [default: treebank].")(f)
    f = click.option("--sentences", type=click.Choice(SENTENCES), default=None,
                     help="punkt: NLTK's Punkt sentence splitter; lines: every non-empty line is one "
                          "sentence (PTB, One Billion Word, Europarl) [default: punkt].")(f)
    return f


def optimizer_options(D, sgd_recipe: bool = False):
    """The update rule, schedule, early stopping and clipping, shared by every training
    command; D is the command's default Config (help shows its values). ``sgd_recipe``:
    --optimizer sgd switches to the tutorial's rate and schedule (the language model)."""
    lr_note = " for adam; 0.005 for sgd, as in the tutorial" if sgd_recipe else ""
    sched_note = "; halve for sgd" if sgd_recipe else ""
    avg_note = "; 0 for sgd" if sgd_recipe else ""

    def deco(f):
        for opt in reversed([
            click.option("--optimizer", type=click.Choice(OPTIMIZERS), default=None,
                         help=f"Update rule [default: {D.optimizer}]."),
            click.option("--lr", type=FloatRange(min=0, min_open=True), default=None,
                         help=f"Learning rate [default: {D.lr}{lr_note}]."),
            click.option("--momentum", type=FloatRange(0, 1, max_open=True), default=None,
                         help=f"Momentum factor [default: {D.momentum}]."),
            click.option("--beta1", type=FloatRange(0, 1, max_open=True), default=None,
                         help=f"Adam's first-moment decay [default: {D.beta1}]."),
            click.option("--beta2", type=FloatRange(0, 1, max_open=True), default=None,
                         help=f"Adam's second-moment decay [default: {D.beta2}]."),
            click.option("--eps", type=FloatRange(min=0, min_open=True), default=None,
                         help=f"Denominator guard for adam/adagrad/rmsprop [default: {D.eps}]."),
            click.option("--decay", type=FloatRange(0, 1, max_open=True), default=None,
                         help=f"RMSprop's moving-average factor [default: {D.decay}]."),
            click.option("--lr-schedule", type=click.Choice(SCHEDULES), default=None,
                         help="halve: when validation loss rises (the tutorial); mikolov: halve once gains fall "
                              "below --min-gain, stop at the next; plateau: multiply by --lr-factor when validation "
                              "stalls; cosine/linear: decay to zero over --epochs or --max-time; constant "
                              f"[default: {D.lr_schedule}{sched_note}]."),
            click.option("--lr-factor", type=FloatRange(0, 1, min_open=True, max_open=True), default=None,
                         help=f"plateau: factor applied to the rate [default: {D.lr_factor}]."),
            click.option("--min-gain", type=FloatRange(min=0), default=None,
                         help=f"plateau/--patience: relative validation gain that counts as progress, over "
                              f"the rest of the run (an epoch's gain counts if, kept up for the epochs --epochs "
                              f"or --max-time still allow, it adds up to this); mikolov: per epoch "
                              f"[default: {D.min_gain}]."),
            click.option("--patience", type=click.IntRange(min=0), default=None,
                         help="Stop after this many epochs without a validation gain of --min-gain and "
                              f"restore the best weights; 0: off [default: {D.patience}]."),
            click.option("--weight-decay", type=FloatRange(min=0), default=None,
                         help="L2 regularisation strength [default: 0]."),
            click.option("--clip", type=FloatRange(min=0), default=None,
                         help=f"Bound on the global gradient norm; 0: no clipping [default: {D.clip}]."),
            click.option("--average", type=FloatRange(0, 1, max_open=True), default=None, metavar="DECAY",
                         help="The model is an exponential moving average of the trained weights with this decay "
                              "per step (validated, saved, restored by early stopping); 0: off "
                              f"[default: {D.average:g}{avg_note}]."),
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
            click.option("--max-time", type=FloatRange(min=0, min_open=True), default=None, metavar="SECONDS",
                         help=f"Bound on training, validation and checkpoint writing in seconds ({prep} "
                              "excluded); alone, trains until "
                              "the time is up."),
            click.option("--seed", type=click.IntRange(min=0), default=None,
                         help="Random seed: the same command and seed give identical parameters [default: 0]."),
            click.option("--threads", type=click.IntRange(min=1), default=None,
                         help="Threads for the large matrix products and elementwise work [default: the cores "
                              "this process may use]."),
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
            click.option("--cell", type=click.Choice(CELLS), default=None,
                         help="rnn: the tutorial's Elman cell; gru: Cho et al. 2014; lstm: with the forget-gate "
                              f"bias at 1 [default: {D.cell}]."),
            click.option("--activation", type=click.Choice(ACTIVATIONS), default=None,
                         help="Nonlinearity of the rnn cell; relu starts from the same uniform weights "
                              f"[default: {D.activation}]."),
            click.option("--hidden-dim", type=click.IntRange(min=1), default=None,
                         help=f"Hidden units H [default: {D.hidden_dim}]."),
            click.option("--layers", type=click.IntRange(min=1), default=None,
                         help=f"Stacked recurrent layers [default: {D.layers}]."),
        ]):
            f = opt(f)
        return f
    return deco


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
    """BLAS on one thread: rnncli parallelises its large products itself, on ``n``
    threads (default: the cores it may use), see nn/workspace.py."""
    from threadpoolctl import threadpool_limits
    threadpool_limits(1, user_api="blas")




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



def _check_log(path):
    """--log is appended to after every epoch: fail now, not after the first epoch."""
    d = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(d):
        _fail(f"{path}: directory {d} does not exist (for --log)")
    if os.path.exists(path) and not os.access(path, os.W_OK):
        _fail(f"{path}: exists and is not writable (for --log)")
    if not os.path.exists(path) and not os.access(d, os.W_OK | os.X_OK):
        _fail(f"{path}: cannot create the --log file in {d} (permission denied)")


def _lock_output(path):
    """One `rnn train` at a time writes a checkpoint (and its .best): the lock is held
    until the command ends and released by the kernel if the process dies."""
    from ..fileio import LockHeld, WriteLock
    lock = WriteLock(path)
    try:
        lock.acquire()
    except LockHeld as e:
        who = f"process {e.pid}" if e.pid else "another process"
        _fail(f"{path}: another `rnn train` ({who}) is writing this checkpoint; wait for it to finish "
              f"or choose another -o (lock file {e.lock_path})")
    except OSError as e:
        _fail(f"{path}: cannot create the lock file {lock.path} ({e.strerror or e})")
    click.get_current_context().call_on_close(lock.release)
    return lock


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
        from ..checkpoint import CheckpointError
        from ..errors import DataError
        if isinstance(e, (DataError, CheckpointError)):
            msg = str(e)
        elif isinstance(e, MemoryError):
            msg = "out of memory; try a smaller --batch-size, --vocab-size or --hidden-dim"
        else:
            import traceback
            traceback.print_exc()
            msg = f"internal error ({type(e).__name__}: {e})"
        comm.abort(f"rnn: error: rank {comm.rank}: {msg}; stopping every process")


def run_training(trainer, prog: Progress, describe_val=lambda record: ""):
    """Run a Trainer with progress bars, one line per epoch and signal handling: Ctrl-C
    (SIGINT) and SIGTERM alike save a checkpoint after the current batch and exit
    128 + the signal's number (130, 143); a second one aborts at once, leaving the
    last written checkpoint intact. Returns its Result. ``describe_val(record)`` adds
    the task's own validation figure to the epoch line."""
    import signal
    import time
    import warnings

    from ..train import Diverged, Hooks, Interrupted

    output = trainer.output
    comm = trainer.comm
    bar = [None]

    def close_bar():
        if bar[0] is not None:
            bar[0].close()

    def epoch_start(epoch, n_batches, n_units):
        bar[0] = prog.bar(total=n_units, unit=trainer.task.unit, unit_scale=True, desc=f"epoch {epoch + 1}")
        bar[0].t_start = time.perf_counter()

    def on_batch(n, loss, lr):
        b = bar[0]
        b.update(n)
        if b.n and not b.disable:
            b.set_postfix_str(f"loss={loss:.3f} {b.n / (time.perf_counter() - b.t_start):,.0f} "
                              f"{trainer.task.unit}/s lr={lr:.3g}", refresh=False)

    def epoch_end(r):
        close_bar()
        if prog.quiet:
            return
        val = (f"val loss {r['val_loss']:.4f} {describe_val(r)}".rstrip() if r["val_loss"] is not None
               else "no validation")
        ep = f"epoch {r['epoch']}" + (" (stopped by --max-time)" if r["partial"] else "")
        tps = r["tokens_per_s"] or 0
        click.echo(f"{ep}: train loss {r['train_loss'] or float('nan'):.4f}, {val}, lr {r['lr']:.3g}, "
                   f"{r['seconds']:.1f}s, {tps:,.0f} {trainer.task.unit}/s")

    stop_flag = {"n": 0, "signal": signal.SIGINT}

    def on_signal(signum, frame):
        stop_flag["n"] += 1
        stop_flag["signal"] = signum
        if stop_flag["n"] > 1 and comm.size > 1:
            # the processes are at different points: stop each at once (MPI_Finalize
            # would wait for the others); checkpoints are written atomically
            if comm.is_writer:
                click.echo(f"aborted; the last checkpoint written ({output}) is intact", err=True)
            os._exit(130)
        if stop_flag["n"] > 1:
            raise KeyboardInterrupt
        if not prog.quiet:
            what = "interrupt" if signum == signal.SIGINT else "terminate signal"
            click.echo(f"\n{what}: saving the checkpoint after this batch (Ctrl-C again to abort)", err=True)

    trainer.hooks = Hooks(epoch_start=epoch_start, batch=on_batch, epoch_end=epoch_end, note=prog.note,
                          should_stop=lambda: stop_flag["n"] > 0)
    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        with warnings.catch_warnings():  # overflow on the way to a divergence: the error says it in one line
            warnings.simplefilter("ignore", RuntimeWarning)
            return trainer.run()
    except Interrupted:
        close_bar()
        what = "interrupted" if stop_flag["signal"] == signal.SIGINT else "terminated"
        if comm.is_writer:
            click.echo(f"{what}: checkpoint saved to {output} (resume with --resume {output})", err=True)
        sys.exit(128 + stop_flag["signal"])
    except KeyboardInterrupt:
        click.echo(f"aborted; {trainer.output_status()}", err=True)
        sys.exit(128 + stop_flag["signal"])
    except Diverged as e:
        close_bar()
        _fail(str(e))
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


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


class Terminated(KeyboardInterrupt):
    """SIGTERM as an exception, so that files are closed, locks released and temporary
    files removed on the way out, as for Ctrl-C (`rnn train` checkpoints first)."""


def _on_sigterm(signum, frame):
    if os.getpid() != _on_sigterm.owner:  # a forked worker: die as SIGTERM would have it
        import signal
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return
    raise Terminated()


def _one_line(msg: str) -> str:
    """Control characters that a message quotes from its input (a file name, a key in a
    checkpoint) shown as escapes: the message stays one line."""
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in msg.strip())


def main(argv=None):
    """Console entry: click's errors and ours as one line 'rnn: error: ...'. Under an
    MPI launcher every process meets an error in the options alike: rank 0 says it."""
    import signal
    import threading

    from ..dist import launch_rank
    installed = threading.current_thread() is threading.main_thread()
    if installed:
        _on_sigterm.owner = os.getpid()
        old = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        rv = cli.main(args=argv, prog_name="rnn", standalone_mode=False)
    except click.exceptions.Abort as e:
        if isinstance(e.__cause__, Terminated):
            click.echo("rnn: terminated", err=True)
            sys.exit(143)
        click.echo("rnn: aborted", err=True)
        sys.exit(130)
    except click.UsageError as e:
        cmd = e.ctx.command_path if e.ctx else "rnn"
        if not launch_rank():
            click.echo(f"{cmd}: error: {_one_line(e.format_message())} (see '{cmd} --help')", err=True)
        sys.exit(2)
    except click.ClickException as e:
        if not launch_rank():
            click.echo(f"rnn: error: {_one_line(e.format_message())}", err=True)
        sys.exit(e.exit_code)
    except BrokenPipeError:
        sys.exit(0)
    finally:
        if installed:
            signal.signal(signal.SIGTERM, old if old is not None else signal.SIG_DFL)
    sys.exit(rv if isinstance(rv, int) else 0)



from . import forecast, lm  # noqa: E402,F401  (registers the commands)
