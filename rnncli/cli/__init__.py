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
    sys.exit(rv if isinstance(rv, int) else 0)
