"""The Click options that several commands share, as decorators (as sqlite-utils does),
and the option types they use. A decorator that shows defaults takes the command's
default Config, so help and behaviour cannot drift apart."""
from __future__ import annotations

import math

import click

from ..registry import ACTIVATIONS, CELLS, OPTIMIZERS, SCHEDULES, SENTENCES, WORDS



class FloatRange(click.FloatRange):
    """click.FloatRange that also refuses nan and inf (which pass every comparison)."""

    def convert(self, value, param, ctx):
        rv = super().convert(value, param, ctx)
        if not math.isfinite(rv):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return rv


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