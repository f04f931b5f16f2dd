"""The language-model commands: train, generate, eval, info, tokenize."""
from __future__ import annotations

import json
import math
import time
from types import SimpleNamespace

import click

from ..config import Config
from ..dist import DEFAULT_TIMEOUT, MODES
from ..lm.settings import FULL_SOFTMAX_UP_TO, MODEL, LMSettings
from ..registry import DTYPES, RECURRENT_INITS, SOFTMAXES
from .display import Progress, json_text
from .errors import catching, fail, reported_once
from .files import Paths, load_checkpoint, resumed_output, training_paths
from .options import FloatRange, cell_options, input_options, optimizer_options, run_options, tokenizer_options
from .threads import one_blas_thread, workspace
from .training import STOP_REASONS, command_line, run_training

# Built from the defaults so help text and behaviour cannot drift apart.
D = Config()
L = LMSettings()
M = SimpleNamespace(**MODEL)


def _ppl(loss: float) -> float:
    return math.exp(loss) if loss < 700 else math.inf


# ------------------------------------------------------------------ train


@click.command(short_help="Train a model on text files.")
@click.argument("files", nargs=-1, type=click.Path(), metavar="FILE...")
@input_options
@tokenizer_options
@click.option("--val", "val_files", multiple=True, type=click.Path(), metavar="FILE",
              help="Validation text (repeatable); default: hold out --val-fraction of the sentences.")
@click.option("--val-fraction", type=FloatRange(0, 0.5), default=None,
              help=f"Share of sentences held out for validation when no --val is given [default: {L.val_fraction}].")
@click.option("-o", "--output", type=click.Path(), default="model.npz", show_default=True,
              help="Checkpoint written after every epoch and on Ctrl-C (with --resume and no -o: the "
                   "checkpoint resumed); the best by validation loss also goes to NAME.best.npz.")
@click.option("--resume", type=click.Path(), default=None, metavar="CKPT",
              help="Continue training from a checkpoint (same vocabulary and model; FILE... as before); "
                   "it is written back unless -o names another file.")
@click.option("--vocab-size", type=click.IntRange(min=4), default=None,
              help=f"Vocabulary entries including SENTENCE_START, SENTENCE_END and UNKNOWN_TOKEN [default: {L.vocab_size}].")
@click.option("--lowercase/--no-lowercase", default=None, help="Lowercase the text [default: lowercase].")
@cell_options(M)
@click.option("--recurrent-init", type=click.Choice(RECURRENT_INITS), default=None,
              help="The rnn cell's starting W: uniform, the tutorial's rule; identity, W = I (Le et al. 2015, "
                   f"for --activation relu) [default: {D.recurrent_init}].")
@click.option("--bias/--no-bias", default=None,
              help="Add hidden and output biases (off: the tutorial's model; gated cells always have gate biases).")
@click.option("--dtype", type=click.Choice(DTYPES), default=None,
              help=f"Floating-point precision [default: {D.dtype}].")
@click.option("--softmax", type=click.Choice(SOFTMAXES), default=None,
              help="Output layer: full, a softmax over every word; class, P(class) x P(word | class) with "
                   "words binned into classes by frequency: exactly normalised, many times faster for "
                   f"large vocabularies; auto: full up to {FULL_SOFTMAX_UP_TO:,} vocabulary entries, class above "
                   f"[default: {M.softmax}].")
@click.option("--classes", type=click.IntRange(min=1), default=None,
              help="Number of word classes of --softmax class [default: about the square root of the vocabulary size].")
@click.option("--bptt-truncate", type=click.IntRange(min=-1), default=None,
              help="The error of output t flows back through at most K earlier steps; -1: full BPTT "
                   f"[default: {D.bptt_truncate} for rnn, -1 for gru and lstm].")
@click.option("--batch-size", type=click.IntRange(min=1), default=None,
              help=f"Sentences per update; the gradient is summed over each sentence and averaged over the batch [default: {D.batch_size}].")
@optimizer_options(D, sgd_recipe=True)
@click.option("--dropout", type=FloatRange(0, 1, max_open=True), default=None,
              help="Dropout between layers and on the hidden-to-output path, never on the recurrence [default: 0, off].")
@run_options("tokenizing")
@click.option("--distributed", type=click.Choice(MODES), default="auto", show_default=True,
              help="auto: when an MPI launcher started several processes (mpiexec -n N rnn train ..., srun), "
                   "they train one model together, each on its share of the data; off: every process trains "
                   "on its own; require: refuse to run unless started by an MPI launcher.")
@click.option("--comm-timeout", type=FloatRange(min=1), default=DEFAULT_TIMEOUT, show_default=True,
              metavar="SECONDS",
              help="Under MPI: stop every process when one has not answered for this long (it died, is "
                   "stopped or its host is unreachable).")
@catching
def train(files, val_files, output, resume, log_path, quiet, no_cache, cache_dir, distributed, comm_timeout, **opts):
    """Tokenize FILE... (text, .gz, - for standard input, CSV with --csv-column, or a
    corpus from `rnn tokenize`) and train the RNN language model on it.

    Sentences are split with NLTK's Punkt (the installed punkt_tab model, or one
    trained on the corpus when none is installed; --sentences lines: one per line)
    and words with NLTK's Treebank-style tokenizer (--words whitespace: at
    whitespace); every sentence is wrapped in SENTENCE_START ... SENTENCE_END.
    After each epoch the validation loss is computed, the checkpoint written and
    the learning-rate schedule applied.
    """
    from ..dist import connect
    output = resumed_output(output, resume)
    comm = connect(distributed, comm_timeout)
    with reported_once(comm):
        _train(comm, files, val_files, output, resume, log_path, quiet, no_cache, cache_dir, opts)


def _train(comm, files, val_files, output, resume, log_path, quiet, no_cache, cache_dir, opts):
    from ..checkpoint import best_path
    from ..dist import settle
    from ..lm import corpus, prepare

    prog = Progress(quiet or not comm.is_writer)   # one process shows progress
    if comm.size > 1:
        prog.note(f"distributed: {comm.size} processes ({comm.describe()})")
    if not files:
        fail("no training text given: rnn train FILE... (see rnn train --help)")
    given = {k: v for k, v in opts.items() if v is not None}
    if "val_fraction" in given and val_files:
        fail("--val and --val-fraction exclude each other")
    settle(comm, corpus.check_inputs, tuple(files) + tuple(val_files))  # before minutes of tokenizing, not after
    ck = settle(comm, load_checkpoint, resume, "lm") if resume else None
    settings = settle(comm, prepare.configure, given, ck, resume)
    # this run's --threads, never a resumed checkpoint's
    settings = settings._replace(train=settings.train.replace(threads=opts["threads"]))
    cfg = settings.train
    settle(comm, _claim_output, _train_paths(files, val_files, output, resume, log_path, no_cache, cache_dir),
           comm.is_writer)
    setup = prepare.prepare_training(files, val_files, settings, ck, not no_cache, cache_dir, prog, comm=comm)
    trainer = settle(comm, setup.trainer, output, log_path, comm, oom=prepare.MODEL_OUT_OF_MEMORY)
    again = command_line("rnn", "train", *files, *(a for v in val_files for a in ("--val", v)), "--resume", output,
                         *(("--log", log_path) if log_path else ()))
    result = run_training(trainer, prog, lambda r: f"ppl {r['val_ppl']:.1f}" if r.get("val_ppl") else "", again)
    comm.close()
    if trainer.saved_step is None and comm.is_writer:  # resumed at or past --epochs: not one step to take
        prog.note(f"nothing to do: {resume} has trained {trainer.state['epoch']} epochs already (--epochs "
                  f"{cfg.epochs}); {output} was not written")
        return
    why = STOP_REASONS[result.stopped]
    bv = result.best_val
    best = f"; best validation loss {bv:.4f} (perplexity {_ppl(bv):.1f}) in {best_path(output)}" if bv else ""
    prog.note(f"done ({why}): {output}{best}")


def _train_paths(files, val_files, output, resume, log_path, no_cache, cache_dir) -> Paths:
    paths = training_paths(output, log_path, resume).reads(files, "the training text")
    paths.reads(val_files, "the validation text (--val)")
    return paths.reads(None if no_cache else cache_dir, "the cache directory (--cache-dir)")


def _claim_output(paths: Paths, writer: bool):
    """Before any data is read: the writer checks the checkpoint, its .best and the log
    can be written and locks them; every process keeps BLAS to one thread."""
    if writer:
        paths.claim()
    one_blas_thread()


# ------------------------------------------------------------------ generate


@click.command()
@click.option("-m", "--model", "model_path", type=click.Path(), default="model.npz", show_default=True,
              help="Checkpoint to sample from.")
@click.option("-n", "count", type=int, default=10, show_default=True, help="Number of sentences.")
@click.option("--min-length", type=int, default=7, show_default=True,
              help="SENTENCE_END is not allowed before this many words.")
@click.option("--max-length", type=int, default=50, show_default=True, help="Sentences are cut at this many words.")
@click.option("--temperature", type=float, default=1.0, show_default=True,
              help="Divide the logits by this; 0 picks the most likely word every time.")
@click.option("--top-k", type=click.IntRange(min=0), default=0, show_default=True,
              help="Sample only among the K most likely words; 0: all words.")
@click.option("--seed", type=click.IntRange(min=0), default=None, help="Random seed; the same seed gives the same sentences.")
@click.option("--prefix", default=None, help="Start every sentence with these words and continue them.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of {tokens, text, logprob, ended}.")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="Threads for the large matrix products [default: the cores this process may use].")
@catching
def generate(model_path, count, min_length, max_length, temperature, top_k, seed, prefix, as_json, threads):
    """Sample sentences from a checkpoint. Each starts at SENTENCE_START and is sampled
    word by word until SENTENCE_END; UNKNOWN_TOKEN is never emitted (a --prefix word
    outside the vocabulary is read as UNKNOWN_TOKEN and shown as typed)."""
    import numpy as np

    from ..config import N_SPECIALS
    from ..lm.generate import detokenize, sample

    if count < 1:
        fail("-n must be at least 1")
    if min_length < 0 or max_length < 1:
        fail("--min-length must be >= 0 and --max-length >= 1")
    if min_length > max_length:
        fail(f"--min-length {min_length} is above --max-length {max_length}")
    if temperature < 0 or not math.isfinite(temperature):
        fail("--temperature must be 0 or positive")
    ws = workspace(threads)
    ck = load_checkpoint(model_path, "lm")
    prefix_ids, typed, unknown = [], [], []
    if prefix:
        import dataclasses

        from ..config import UNKNOWN_TOKEN
        from ..lm.tokenizer import Settings, words_of
        settings = Settings.of(ck.task.settings)
        words = words_of(prefix, settings)                 # as the corpus was tokenized
        typed = words_of(prefix, dataclasses.replace(settings, lowercase=False))
        if len(typed) != len(words):                       # lowercasing changed the tokens: show them
            typed = words
        if len(words) > max_length:
            fail(f"--prefix has {len(words)} words, more than --max-length {max_length}")
        vocab = ck.task.vocab
        prefix_ids = [vocab.index[w] if w != UNKNOWN_TOKEN and vocab.index.get(w, 0) >= N_SPECIALS else 0
                      for w in words]
        unknown = [t for t, w, i in zip(typed, words, prefix_ids) if i == 0 and w != UNKNOWN_TOKEN]
        if unknown:
            click.echo(f"warning: not in the model's vocabulary, read as UNKNOWN_TOKEN: {', '.join(unknown)}", err=True)
    net = ck.network()
    _check_sampling_memory(net, count, max_length)
    rng = np.random.default_rng(seed)
    out = sample(net, ck.params, count, rng, min_length, max_length, temperature, top_k, prefix_ids, ws=ws)
    vocab_words = ck.task.vocab.words

    def shown(ids):
        # a prefix word outside the vocabulary is shown as typed, not as UNKNOWN_TOKEN
        return [typed[k] if k < len(typed) and i == 0 else vocab_words[i] for k, i in enumerate(ids)]
    if as_json:
        items = [{"tokens": shown(ids) + (["SENTENCE_END"] if ended else []), "text": detokenize(shown(ids)),
                  "logprob": lp, "ended": ended, **({"unknown_prefix_words": unknown} if unknown else {})}
                 for ids, lp, ended in out]
        click.echo(json_text(items, indent=1))
    else:
        for ids, _, _ in out:
            click.echo(detokenize(shown(ids)))


def _check_sampling_memory(net, count, max_length):
    """-n sentences are sampled at once: refuse a count that cannot fit before sampling."""
    from .. import memory
    per = memory.sampling_bytes(net.C, net.H, net.L, net.gates, max_length)
    free, bound = memory.available()
    if free is not None and count * per > free:
        fail(f"-n {count} needs about {memory.size(count * per)} of memory to sample the sentences together, "
             f"{memory.size(free)} {bound}; give -n {max(1, free // per)} or less (run generate again, with "
             f"another --seed, for more)")


# ------------------------------------------------------------------ eval


@click.command("eval", short_help="Score text: cross-entropy and perplexity.")
@click.argument("files", nargs=-1, type=click.Path(), metavar="[FILE...]")
@click.option("-m", "--model", "model_path", type=click.Path(), default="model.npz", show_default=True,
              help="Checkpoint to score with.")
@input_options
@click.option("--per-sentence", is_flag=True, help="Also print each sentence's log-probability and per-token surprisal.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (with --per-sentence, one per line first).")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="Threads for the large matrix products [default: the cores this process may use].")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or notes.")
@catching
def eval_cmd(files, model_path, encoding, csv_column, no_cache, cache_dir, per_sentence, as_json, threads, quiet):
    """Score text with a checkpoint: cross-entropy and perplexity. With no FILE, the
    validation sentences stored in the checkpoint are scored.

    Convention: every sentence starts from a zero hidden state; every token after
    SENTENCE_START is predicted, SENTENCE_END included; words outside the
    vocabulary are scored as UNKNOWN_TOKEN; cross-entropy = total negative
    log-likelihood / predicted tokens (nats); perplexity = exp(cross-entropy).
    """
    from ..lm import corpus, evaluate
    from ..lm.vocab import count_words

    prog = Progress(quiet)
    ws = workspace(threads)
    ck = load_checkpoint(model_path, "lm")
    stored = ck.task.settings
    data = stored.replace(encoding=encoding or stored.encoding, csv_column=csv_column or stored.csv_column)
    vocab, net = ck.task.vocab, ck.network()
    if files:
        corpus.check_inputs(files)
        enc, _, _ = corpus.encode_files(files, vocab, data, ck.task.splitter, not no_cache, cache_dir, prog,
                                        what="eval")
    else:
        if ck.task.val is None or ck.task.val.n_sentences == 0:
            fail(f"{model_path} holds no validation sentences; give FILE... to score")
        enc = ck.task.val
    words, oov = count_words(enc)
    total, n = 0.0, 0
    t0 = time.perf_counter()
    with prog.bar(total=enc.n_predicted, unit="tok", unit_scale=True, desc="scoring") as bar:
        if per_sentence:
            for i, ids, surprisal in evaluate.per_sentence(net, ck.params, enc, ws):
                total += float(surprisal.sum())
                n += len(surprisal)
                bar.update(len(surprisal))
                toks = [vocab.words[j] for j in ids[1:]]
                if as_json:
                    click.echo(json_text({"sentence": i, "logprob": -float(surprisal.sum()),
                                          "tokens": toks, "surprisal": [round(float(s), 4) for s in surprisal]}))
                else:
                    pairs = " ".join(f"{t}:{s:.2f}" for t, s in zip(toks, surprisal))
                    click.echo(f"{i}\tlogprob {-surprisal.sum():.3f}\t{pairs}")
        else:
            total, n = evaluate.total_nll(net, ck.params, enc, ws, progress=bar.update)
    seconds = time.perf_counter() - t0
    if math.isnan(total):
        fail(f"{model_path}: the model's scores are NaN: its weights are too large for {ck.config.dtype} arithmetic")
    s = evaluate.summary(total, n, enc.n_sentences, oov, words)
    s["seconds"] = round(seconds, 3)
    s["tokens_per_s"] = round(n / seconds, 1) if seconds > 0 else None
    if as_json:
        click.echo(json_text(s))
    else:
        click.echo(f"sentences {s['sentences']:,}  tokens {s['tokens']:,}  oov rate {100 * s['oov_rate']:.2f}%\n"
                   f"cross-entropy {s['cross_entropy']:.4f} nats/token ({s['bits_per_token']:.4f} bits)  "
                   f"perplexity {s['perplexity']:.2f}")


# ------------------------------------------------------------------ info


@click.command()
@click.option("-m", "--model", "model_path", type=click.Path(), default="model.npz", show_default=True,
              help="Checkpoint to describe.")
@click.option("--top", type=click.IntRange(min=0), default=20, show_default=True,
              help="How many of the most frequent vocabulary entries to list.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), default=None, metavar="PNG",
              help="Also draw the loss, validation perplexity and learning rate per epoch to this PNG "
                   "(needs pip install 'rnncli[plot]').")
@catching
def info(model_path, top, as_json, plot_path):
    """Describe a checkpoint: config, sizes, output layer, training history and vocabulary."""
    import numpy as np

    from ..config import N_SPECIALS
    if plot_path is not None:
        Paths().reads(model_path, "the checkpoint described (-m)").writes(plot_path, "the plot", "--plot").claim()
    ck = load_checkpoint(model_path, "lm")
    vocab, val, splitter = ck.task.vocab, ck.task.val, ck.task.splitter
    cfg, run = ck.config, _run_config(ck)
    n_params = int(sum(v.size for v in ck.params.values()))
    st = ck.state
    d = {"model": model_path, "config": run,
         "vocab_size": len(vocab), "hidden_dim": run["hidden_dim"], "parameters": n_params,
         "epochs": st.get("epoch"), "steps": st.get("step"), "best_val_loss": st.get("best_val"),
         "learning_rate": st.get("lr"), "history": st.get("history", []),
         "validation_sentences": val.n_sentences if val is not None else 0,
         "sentence_splitter": splitter.get("kind"),
         "softmax": run["softmax"], "classes": ck.model.get("classes"),
         "vocabulary_head": vocab.words[N_SPECIALS:N_SPECIALS + top]}
    if as_json:
        click.echo(json_text(d, indent=1))
        return
    cell = run["cell"] + (f"({run['activation']})" if run["cell"] == "rnn" else "")
    click.echo(f"{model_path}: C={len(vocab):,} H={run['hidden_dim']} cell={cell} layers={run['layers']} "
               f"bias={run['bias']} {cfg.dtype}, {n_params:,} parameters")
    if d["classes"]:
        sizes = np.bincount(ck.model["class_of"], minlength=d["classes"])
        click.echo(f"softmax: class, {d['classes']} classes of {sizes.min()}-{sizes.max()} words "
                   f"(median {int(np.median(sizes))})")
    else:
        click.echo("softmax: full")
    click.echo(f"trained {st.get('epoch', 0)} epochs ({st.get('step', 0):,} steps); learning rate now "
               f"{st.get('lr', cfg.lr):.4g}; best validation loss "
               + (f"{st['best_val']:.4f} (perplexity {_ppl(st['best_val']):.1f})" if st.get("best_val") else "-"))
    click.echo("config: " + " ".join(f"{k}={v}" for k, v in run.items() if k != "extra"))
    click.echo(f"sentence splitter: {splitter.get('kind')}; validation sentences stored: {d['validation_sentences']:,}")
    if d["history"]:
        from ..plotting import sparkline
        vals = [r.get("val_loss") for r in d["history"]]
        finite = [v for v in vals if isinstance(v, (int, float))]
        if len(finite) > 1:
            click.echo(f"validation loss per epoch: {sparkline(vals)}  ({finite[0]:.4f} -> {finite[-1]:.4f}, "
                       f"lowest {min(finite):.4f})")
        click.echo("epoch  train_loss  val_loss  val_ppl      lr  tokens/s")
        for r in d["history"]:
            fmt = lambda v, f: (f % v) if v is not None else "-"
            g = r.get
            click.echo(f"{g('epoch')!s:>5}  {fmt(g('train_loss'), '%10.4f')}  {fmt(g('val_loss'), '%8.4f')}  "
                       f"{fmt(g('val_ppl'), '%7.1f')}  {fmt(g('lr'), '%6.3g')}  {fmt(g('tokens_per_s'), '%8.0f')}")
    if top:
        click.echo("most frequent words: " + " ".join(d["vocabulary_head"]))
    if plot_path:
        _plot_history(plot_path, d["history"], model_path)


def _run_config(ck) -> dict:
    """Every setting of the run by name, sorted, as `rnn info` shows them under "config":
    the training settings, how text became ids, the model's options (from its
    arguments) and, as "extra", the sentence splitter."""
    from ..lm.settings import model_options
    run = {**json.loads(ck.config.to_json()), **ck.task.settings.to_dict(), **model_options(ck.model),
           "extra": {"splitter": ck.task.splitter.get("kind")}}
    return dict(sorted(run.items()))


def _plot_history(png, history, source):
    from ..plotting import PlotError, plot_history
    try:
        plot_history(png, history, title=source)
    except PlotError as e:
        fail(str(e))


@click.command("plot", short_help="Draw a training history to a PNG.")
@click.argument("source", type=click.Path(), metavar="CKPT|LOG.jsonl")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default="curve.png", show_default=True,
              help="The PNG to write.")
@catching
def plot_cmd(source, output):
    """Draw training and validation loss, validation perplexity and the learning rate per
    epoch from a checkpoint's history or a --log file (one JSON object per line). Needs
    matplotlib: pip install 'rnncli[plot]'."""
    import os
    Paths().reads(source, "the history drawn").writes(output, "the plot", "-o").claim()
    if not os.path.isfile(source):
        fail(f"{source}: no such file")
    if source.endswith(".jsonl") or not _is_zip(source):
        history = []
        with open(source, encoding="utf-8", errors="replace") as f:
            for i, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    fail(f"{source}: line {i} is not JSON (expected a --log file or a checkpoint)")
                if isinstance(rec, dict) and "epoch" in rec:
                    history.append(rec)
    else:
        history = load_checkpoint(source).state.get("history", [])
    _plot_history(output, history, source)
    click.echo(f"wrote {output}", err=True)


def _is_zip(path):
    with open(path, "rb") as f:
        return f.read(4) == b"PK\x03\x04"


# ------------------------------------------------------------------ tokenize


@click.command(short_help="Write a tokenized corpus for train, eval and other tools.")
@click.argument("files", nargs=-1, required=True, type=click.Path(), metavar="FILE...")
@input_options
@tokenizer_options
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True,
              help="The tokenized corpus (.npz) to write.")
@click.option("--vocab-size", type=click.IntRange(min=4), default=L.vocab_size, show_default=True,
              help="Vocabulary entries including the three special tokens.")
@click.option("--lowercase/--no-lowercase", default=True, show_default=True, help="Lowercase the text.")
@click.option("-m", "--model", "model_path", type=click.Path(), default=None,
              help="Use the vocabulary and settings of this checkpoint or tokenized corpus instead of "
                   "building a vocabulary (e.g. to tokenize test text for a training corpus).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or notes.")
@catching
def tokenize(files, encoding, csv_column, no_cache, cache_dir, sentences, words, unk_token, output, vocab_size,
             lowercase, model_path, quiet):
    """Tokenize FILE... once and write the token ids, sentence offsets, vocabulary and
    settings to a .npz that `rnn train` and `rnn eval` (and other tools) read.

    \b
    Format (numpy.load(path, allow_pickle=False)):
      ids       int32 (n,)   vocabulary ids; every sentence is SENTENCE_START .. SENTENCE_END
      offsets   int64 (S+1,) sentence i is ids[offsets[i]:offsets[i+1]]
      vocab     str   (C,)   id -> word; 0 UNKNOWN_TOKEN, 1 SENTENCE_START, 2 SENTENCE_END
      settings  JSON string  lowercase, sentences, words, unk_token, vocab_size, sentence
                             splitter, sources
      format    "rnncli-corpus", version 1
    Members are stored uncompressed: rnncli memory-maps ids (see docs/commands.md).
    """
    from ..lm import corpus
    prog = Progress(quiet)
    paths = Paths().reads(files, "the text to tokenize").reads(model_path, "the vocabulary's source (-m)")
    paths.reads(None if no_cache else cache_dir, "the cache directory (--cache-dir)")
    paths.writes(output, "the tokenized corpus", "-o").claim()
    given = {k: v for k, v in (("sentences", sentences), ("words", words), ("unk_token", unk_token)) if v is not None}
    data, vocab, stored = _tokenizing(model_path, given, lowercase, vocab_size, encoding, csv_column)
    corpus.check_inputs(files)
    if vocab is not None:
        enc, oov, splitter = corpus.encode_files(files, vocab, data, stored, not no_cache, cache_dir, prog)
    else:
        enc, oov, splitter, vocab = _with_new_vocabulary(files, data, not no_cache, cache_dir, prog)
    _write_corpus(output, enc, oov, vocab, splitter, data, files, prog)


def _tokenizing(model_path, given, lowercase, vocab_size, encoding, csv_column):
    """(settings, vocabulary, stored sentence splitter) for tokenize: those of the corpus
    or checkpoint ``model_path``, or, without one, the options' (no vocabulary yet)."""
    from ..config import as_option
    from ..lm import corpusfile
    vocab = stored = None
    if model_path and corpusfile.is_corpus_file(model_path):
        # another tokenized corpus: same vocabulary, settings and sentence splitter
        _, vocab, st = corpusfile.load_corpus(model_path)
        data = LMSettings(encoding=encoding or "utf-8", csv_column=csv_column).of_corpus(st, len(vocab))
        stored = st.get("splitter")
    elif model_path:
        ck = load_checkpoint(model_path, "lm")
        data = ck.task.settings.replace(encoding=encoding or ck.task.settings.encoding, csv_column=csv_column)
        vocab, stored = ck.task.vocab, ck.task.splitter
    else:
        data = LMSettings(lowercase=lowercase, vocab_size=vocab_size, encoding=encoding or "utf-8",
                          csv_column=csv_column, **given)
    for k, v in given.items():
        if getattr(data, k) != v:
            fail(f"{as_option(k, v)} contradicts {model_path} (tokenized with {as_option(k, getattr(data, k))}); "
                 "drop the option")
    return data, vocab, stored


def _with_new_vocabulary(files, data, use_cache, cache_dir, prog):
    """Tokenize FILE..., build the vocabulary of its data.vocab_size most frequent entries
    and encode with it: (encoded, UNKNOWN_TOKEN count, sentence splitter, vocabulary)."""
    from ..lm import corpus
    from ..lm.vocab import build_vocab, encode
    tokens, splitter, _ = corpus.read_tokens(files, data, None, use_cache, cache_dir, prog)
    vocab, _, note = build_vocab(tokens, data.vocab_size)
    if note:
        prog.note("note: " + note)
    enc, oov = encode(tokens, vocab, corpus.spill_dir(use_cache, cache_dir))
    return enc, oov, splitter, vocab


def _write_corpus(output, enc, oov, vocab, splitter, data, files, prog):
    """The .npz of `rnn tokenize` (format in its help) and the one-line summary."""
    from ..lm import corpusfile
    settings = {"lowercase": data.lowercase, "vocab_size": len(vocab), "splitter": splitter,
                "sources": list(files), "csv_column": data.csv_column, "sentences": data.sentences,
                "words": data.words, "unk_token": data.unk_token}
    corpusfile.save_corpus(output, enc, vocab, settings)
    n_words = len(enc.ids) - 2 * enc.n_sentences
    prog.note(f"{output}: {enc.n_sentences:,} sentences, {n_words:,} word tokens "
              f"({100 * oov / max(1, n_words):.2f}% UNKNOWN_TOKEN), vocabulary {len(vocab):,}")


COMMANDS = (train, generate, eval_cmd, info, plot_cmd, tokenize)
