"""The command line: parse, validate, call the library, report. Every user mistake
ends as one line on standard error and a non-zero exit status.

This module holds the group, the pieces the commands share and the console entry;
lm.py the language-model commands."""
from __future__ import annotations

import os
import sys

import click


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
    f = click.option("--words", type=click.Choice(["treebank", "whitespace"]), default=None,
                     help="treebank: NLTK's Treebank-style word tokenizer; whitespace: split at whitespace "
                          "only, for pre-tokenized text [default: treebank].")(f)
    f = click.option("--sentences", type=click.Choice(["punkt", "lines"]), default=None,
                     help="punkt: NLTK's Punkt sentence splitter; lines: every non-empty line is one "
                          "sentence (PTB, One Billion Word, Europarl) [default: punkt].")(f)
    return f


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



def _load_checkpoint(path):
    from ..checkpoint import CheckpointError, load
    try:
        return load(path)
    except CheckpointError as e:
        _fail(str(e))


def _catching(fn):
    """Library errors become one-line messages."""
    import functools

    @functools.wraps(fn)
    def wrapper(*a, **kw):
        from ..checkpoint import CheckpointError
        from ..errors import DataError
        try:
            return fn(*a, **kw)
        except (DataError, CheckpointError) as e:
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



from . import lm  # noqa: E402,F401  (registers the commands)
