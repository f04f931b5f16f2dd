"""The command line: parse, validate, call the library, report. Every user mistake
ends as one line on standard error and a non-zero exit status.

  __init__.py  the group `rnn` (the commands of lm.py and forecast.py) and the console entry main
  lm.py        the language-model commands: train, generate, eval, info, plot, tokenize
  forecast.py  the forecasting commands: rnn forecast train | predict | eval
  options.py   the Click options several commands share, as decorators, and their types
  errors.py    UserError, library errors as one line, MPI error reports, SIGTERM as an exception
  files.py     the output-path policy (Paths: same file, regular files, links, locks), loading a checkpoint
  training.py  a Trainer run: progress and epoch lines, Ctrl-C and SIGTERM, how it ends
  threads.py   --threads: the Workspace of a command that computes, BLAS on one thread
  display.py   progress bars and notes on standard error, JSON every parser reads
"""
from __future__ import annotations

import sys

import click

from . import forecast, lm
from .errors import Terminated, one_line, sigterm_raises


@click.group(commands=[*lm.COMMANDS, forecast.forecast],
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="rnncli", message="rnncli %(version)s")
def cli():
    """Train word-level recurrent neural network language models on NumPy,
    sample sentences from them and score text with them.

    \b
      rnn train corpus.txt          # writes model.npz (and model.best.npz)
      rnn generate -n 5             # sentences from model.npz
      rnn eval held-out.txt         # perplexity of new text
    """


def main(argv=None):
    """Console entry: click's errors and ours as one line 'rnn: error: ...'. Under an
    MPI launcher every process meets an error in the options alike: rank 0 says it."""
    from ..dist import launch_rank
    with sigterm_raises():
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
                click.echo(f"{cmd}: error: {one_line(e.format_message())} (see '{cmd} --help')", err=True)
            sys.exit(2)
        except click.ClickException as e:
            if not launch_rank():
                click.echo(f"rnn: error: {one_line(e.format_message())}", err=True)
            sys.exit(e.exit_code)
        except BrokenPipeError:
            sys.exit(0)
        except OSError as e:
            if not _printing(e):
                raise
            _drop_stdout()
            click.echo(f"rnn: error: standard output: could not write ({e.strerror or e}); the output is cut short",
                       err=True)
            sys.exit(1)
    sys.exit(rv if isinstance(rv, int) else 0)


def _printing(e: OSError) -> bool:
    """Whether ``e`` came from printing a command's output (click.echo to standard output),
    e.g. on a full disk that output was redirected to."""
    tb = e.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    frame = tb.tb_frame if tb is not None else None
    return (frame is not None and frame.f_code.co_name == "echo" and "click" in frame.f_code.co_filename
            and not frame.f_locals.get("err"))


def _drop_stdout():
    """Standard output goes to /dev/null from here: the text the failed write left in its
    buffer would fail again when Python flushes it at exit, in a second message."""
    import os
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):    # not a real file (tests capture it)
        return
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, fd)
    os.close(null)
