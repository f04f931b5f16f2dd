"""The language-model commands: train, generate, eval, info, tokenize."""
from __future__ import annotations

import json
import math
import time

import click

from ..config import Config
from . import (STOP_REASONS, Progress, _catching, _check_writable, _fail, _load_checkpoint, _threads, cli,
               input_options, optimizer_options, run_options, run_training)

# Built from the Config defaults so help text and behaviour cannot drift apart.
D = Config()

# ------------------------------------------------------------------ train


@cli.command(short_help="Train a model on text files.")
@click.argument("files", nargs=-1, type=click.Path(), metavar="FILE...")
@input_options
@click.option("--val", "val_files", multiple=True, type=click.Path(), metavar="FILE",
              help="Validation text (repeatable); default: hold out --val-fraction of the sentences.")
@click.option("--val-fraction", type=click.FloatRange(0, 0.5), default=None,
              help=f"Share of sentences held out for validation when no --val is given [default: {D.val_fraction}].")
@click.option("-o", "--output", type=click.Path(), default="model.npz", show_default=True,
              help="Checkpoint written after every epoch and on Ctrl-C; the best by validation loss "
                   "also goes to NAME.best.npz.")
@click.option("--resume", type=click.Path(), default=None, metavar="CKPT",
              help="Continue training from a checkpoint (same vocabulary and model; FILE... as before).")
@click.option("--vocab-size", type=click.IntRange(min=4), default=None,
              help=f"Vocabulary entries including SENTENCE_START, SENTENCE_END and UNKNOWN_TOKEN [default: {D.vocab_size}].")
@click.option("--lowercase/--no-lowercase", default=None, help="Lowercase the text [default: lowercase].")
@click.option("--hidden-dim", type=click.IntRange(min=1), default=None, help=f"Hidden units H [default: {D.hidden_dim}].")
@click.option("--bias/--no-bias", default=None, help="Add hidden and output biases (off: the tutorial's model).")
@click.option("--dtype", type=click.Choice(["float32", "float64"]), default=None,
              help=f"Floating-point precision [default: {D.dtype}].")
@click.option("--bptt-truncate", type=click.IntRange(min=-1), default=None,
              help=f"The error of output t flows back through at most K earlier steps; -1: full BPTT [default: {D.bptt_truncate}].")
@click.option("--batch-size", type=click.IntRange(min=1), default=None,
              help=f"Sentences per update; the gradient is summed over each sentence and averaged over the batch [default: {D.batch_size}].")
@optimizer_options(D, sgd_recipe=True)
@click.option("--dropout", type=click.FloatRange(0, 1, max_open=True), default=None,
              help="Dropout on the hidden-to-output path [default: 0, off].")
@run_options("tokenizing")
@_catching
def train(files, val_files, output, resume, log_path, quiet, no_cache, cache_dir, **opts):
    """Tokenize FILE... (text, .gz, - for standard input, CSV with --csv-column, or a
    corpus from `rnn tokenize`) and train the RNN language model on it.

    Sentences are split with NLTK's Punkt (the installed punkt_tab model, or one
    trained on the corpus when none is installed) and words with NLTK's
    Treebank-style tokenizer; every sentence is wrapped in SENTENCE_START ...
    SENTENCE_END. After each epoch the validation loss is computed, the checkpoint
    written and the learning-rate schedule applied.
    """
    from ..checkpoint import best_path
    from ..lm import corpus, prepare
    from ..train import Trainer

    prog = Progress(quiet)
    if not files:
        _fail("no training text given: rnn train FILE... (see rnn train --help)")
    given = {k: v for k, v in opts.items() if v is not None}
    if "val_fraction" in given and val_files:
        _fail("--val and --val-fraction exclude each other")
    corpus.check_inputs(tuple(files) + tuple(val_files))  # before minutes of tokenizing, not after
    ck = _load_checkpoint(resume, "lm") if resume else None
    cfg = prepare.configure(given, ck, resume)
    _check_writable(output)
    _threads(cfg.threads)
    setup = prepare.prepare_training(files, val_files, cfg, ck, not no_cache, cache_dir, prog)
    cfg = setup.cfg

    def describe_val(r):
        return f"val loss {r['val_loss']:.4f} ppl {r['val_ppl']:.1f}" if r["val_loss"] is not None else "no validation"

    result = run_training(lambda hooks: Trainer(cfg, setup.net, setup.params, setup.task, output, setup.state,
                                                setup.opt_state, hooks, log_path),
                          output, quiet, prog, "tok", describe_val)
    why = STOP_REASONS[result.stopped]
    bv = result.best_val
    best = f"; best validation loss {bv:.4f} (perplexity {math.exp(bv):.1f}) in {best_path(output)}" if bv else ""
    prog.note(f"done ({why}): {output}{best}")


# ------------------------------------------------------------------ generate


@cli.command()
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
@click.option("--seed", type=int, default=None, help="Random seed; the same seed gives the same sentences.")
@click.option("--prefix", default=None, help="Start every sentence with these words and continue them.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of {tokens, text, logprob, ended}.")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="Limit the CPU threads used.")
@_catching
def generate(model_path, count, min_length, max_length, temperature, top_k, seed, prefix, as_json, threads):
    """Sample sentences from a checkpoint. Each starts at SENTENCE_START and is sampled
    word by word until SENTENCE_END; UNKNOWN_TOKEN is never emitted."""
    import numpy as np

    from ..config import N_SPECIALS
    from ..lm.generate import detokenize, sample

    if count < 1:
        _fail("-n must be at least 1")
    if min_length < 0 or max_length < 1:
        _fail("--min-length must be >= 0 and --max-length >= 1")
    if min_length > max_length:
        _fail(f"--min-length {min_length} is above --max-length {max_length}")
    if temperature < 0 or not math.isfinite(temperature):
        _fail("--temperature must be 0 or positive")
    _threads(threads)
    ck = _load_checkpoint(model_path, "lm")
    prefix_ids = []
    if prefix:
        from nltk.tokenize.destructive import NLTKWordTokenizer
        text = prefix.lower() if ck.config.lowercase else prefix
        words = NLTKWordTokenizer().tokenize(text)
        if len(words) > max_length:
            _fail(f"--prefix has {len(words)} words, more than --max-length {max_length}")
        vocab = ck.task.vocab
        unknown = [w for w in words if w not in vocab.index or vocab.index[w] < N_SPECIALS]
        if unknown:
            click.echo(f"warning: not in the model's vocabulary, read as UNKNOWN_TOKEN: {', '.join(unknown)}", err=True)
        prefix_ids = [vocab.index[w] if w not in unknown else 0 for w in words]
    rng = np.random.default_rng(seed)
    out = sample(ck.network(), ck.params, count, rng, min_length, max_length, temperature, top_k, prefix_ids)
    words_of = ck.task.vocab.words
    if as_json:
        items = [{"tokens": [words_of[i] for i in ws] + (["SENTENCE_END"] if ended else []),
                  "text": detokenize([words_of[i] for i in ws]), "logprob": lp, "ended": ended}
                 for ws, lp, ended in out]
        click.echo(json.dumps(items, indent=1))
    else:
        for ws, _, _ in out:
            click.echo(detokenize([words_of[i] for i in ws]))


# ------------------------------------------------------------------ eval


@cli.command("eval", short_help="Score text: cross-entropy and perplexity.")
@click.argument("files", nargs=-1, type=click.Path(), metavar="[FILE...]")
@click.option("-m", "--model", "model_path", type=click.Path(), default="model.npz", show_default=True,
              help="Checkpoint to score with.")
@input_options
@click.option("--per-sentence", is_flag=True, help="Also print each sentence's log-probability and per-token surprisal.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (with --per-sentence, one per line first).")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="Limit the CPU threads used.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or notes.")
@_catching
def eval_cmd(files, model_path, encoding, csv_column, no_cache, cache_dir, per_sentence, as_json, threads, quiet):
    """Score text with a checkpoint: cross-entropy and perplexity. With no FILE, the
    validation sentences stored in the checkpoint are scored.

    Convention: every sentence starts from a zero hidden state; every token after
    SENTENCE_START is predicted, SENTENCE_END included; words outside the
    vocabulary are scored as UNKNOWN_TOKEN; cross-entropy = total negative
    log-likelihood / predicted tokens (nats); perplexity = exp(cross-entropy).
    """
    from ..config import END_ID, START_ID, UNK_ID
    from ..lm import corpus, evaluate
    from ..nn.workspace import Workspace

    prog = Progress(quiet)
    _threads(threads)
    ck = _load_checkpoint(model_path, "lm")
    cfg = ck.config.replace(encoding=encoding or ck.config.encoding, csv_column=csv_column or ck.config.csv_column)
    vocab, net = ck.task.vocab, ck.network()
    if files:
        enc, _, _ = corpus.encode_files(files, vocab, cfg, ck.task.splitter, not no_cache, cache_dir, prog, what="eval")
    else:
        if ck.task.val is None or ck.task.val.n_sentences == 0:
            _fail(f"{model_path} holds no validation sentences; give FILE... to score")
        enc = ck.task.val
    body = (enc.ids != START_ID) & (enc.ids != END_ID)
    words = int(body.sum())
    oov = int(((enc.ids == UNK_ID) & body).sum())
    ws = Workspace(threads)
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
                    click.echo(json.dumps({"sentence": i, "logprob": -float(surprisal.sum()),
                                           "tokens": toks, "surprisal": [round(float(s), 4) for s in surprisal]}))
                else:
                    pairs = " ".join(f"{t}:{s:.2f}" for t, s in zip(toks, surprisal))
                    click.echo(f"{i}\tlogprob {-surprisal.sum():.3f}\t{pairs}")
        else:
            total, n = evaluate.total_nll(net, ck.params, enc, ws, progress=bar.update)
    seconds = time.perf_counter() - t0
    s = evaluate.summary(total, n, enc.n_sentences, oov, words)
    s["seconds"] = round(seconds, 3)
    s["tokens_per_s"] = round(n / seconds, 1) if seconds > 0 else None
    if as_json:
        click.echo(json.dumps(s))
    else:
        click.echo(f"sentences {s['sentences']:,}  tokens {s['tokens']:,}  oov rate {100 * s['oov_rate']:.2f}%\n"
                   f"cross-entropy {s['cross_entropy']:.4f} nats/token ({s['bits_per_token']:.4f} bits)  "
                   f"perplexity {s['perplexity']:.2f}")


# ------------------------------------------------------------------ info


@cli.command()
@click.option("-m", "--model", "model_path", type=click.Path(), default="model.npz", show_default=True,
              help="Checkpoint to describe.")
@click.option("--top", type=click.IntRange(min=0), default=20, show_default=True,
              help="How many of the most frequent vocabulary entries to list.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@_catching
def info(model_path, top, as_json):
    """Describe a checkpoint: config, sizes, training history and vocabulary."""
    from ..config import N_SPECIALS
    ck = _load_checkpoint(model_path, "lm")
    vocab, val, splitter = ck.task.vocab, ck.task.val, ck.task.splitter
    cfg = ck.config
    n_params = int(sum(v.size for v in ck.params.values()))
    st = ck.state
    d = {"model": model_path, "config": json.loads(cfg.to_json()),
         "vocab_size": len(vocab), "hidden_dim": cfg.hidden_dim, "parameters": n_params,
         "epochs": st.get("epoch"), "steps": st.get("step"), "best_val_loss": st.get("best_val"),
         "learning_rate": st.get("lr"), "history": st.get("history", []),
         "validation_sentences": val.n_sentences if val is not None else 0,
         "sentence_splitter": splitter.get("kind"),
         "vocabulary_head": vocab.words[N_SPECIALS:N_SPECIALS + top]}
    if as_json:
        click.echo(json.dumps(d, indent=1))
        return
    click.echo(f"{model_path}: C={len(vocab):,} H={cfg.hidden_dim} bias={cfg.bias} {cfg.dtype}, "
               f"{n_params:,} parameters")
    click.echo(f"trained {st.get('epoch', 0)} epochs ({st.get('step', 0):,} steps); learning rate now "
               f"{st.get('lr', cfg.lr):.4g}; best validation loss "
               + (f"{st['best_val']:.4f} (perplexity {math.exp(st['best_val']):.1f})" if st.get("best_val") else "-"))
    click.echo("config: " + " ".join(f"{k}={v}" for k, v in sorted(json.loads(cfg.to_json()).items()) if k != "extra"))
    click.echo(f"sentence splitter: {splitter.get('kind')}; validation sentences stored: {d['validation_sentences']:,}")
    if d["history"]:
        click.echo("epoch  train_loss  val_loss  val_ppl      lr  tokens/s")
        for r in d["history"]:
            fmt = lambda v, f: (f % v) if v is not None else "-"
            click.echo(f"{r['epoch']!s:>5}  {fmt(r['train_loss'], '%10.4f')}  {fmt(r['val_loss'], '%8.4f')}  "
                       f"{fmt(r['val_ppl'], '%7.1f')}  {fmt(r['lr'], '%6.3g')}  {fmt(r.get('tokens_per_s'), '%8.0f')}")
    click.echo("most frequent words: " + " ".join(d["vocabulary_head"]))


# ------------------------------------------------------------------ tokenize


@cli.command(short_help="Write a tokenized corpus for train, eval and other tools.")
@click.argument("files", nargs=-1, required=True, type=click.Path(), metavar="FILE...")
@input_options
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True,
              help="The tokenized corpus (.npz) to write.")
@click.option("--vocab-size", type=click.IntRange(min=4), default=D.vocab_size, show_default=True,
              help="Vocabulary entries including the three special tokens.")
@click.option("--lowercase/--no-lowercase", default=True, show_default=True, help="Lowercase the text.")
@click.option("-m", "--model", "model_path", type=click.Path(), default=None,
              help="Use the vocabulary and settings of this checkpoint or tokenized corpus instead of "
                   "building a vocabulary (e.g. to tokenize test text for a training corpus).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or notes.")
@_catching
def tokenize(files, encoding, csv_column, no_cache, cache_dir, output, vocab_size, lowercase, model_path, quiet):
    """Tokenize FILE... once and write the token ids, sentence offsets, vocabulary and
    settings to a .npz that `rnn train` and `rnn eval` (and other tools) read.

    \b
    Format (numpy.load(path, allow_pickle=False)):
      ids       int32 (n,)   vocabulary ids; every sentence is SENTENCE_START .. SENTENCE_END
      offsets   int64 (S+1,) sentence i is ids[offsets[i]:offsets[i+1]]
      vocab     str   (C,)   id -> word; 0 UNKNOWN_TOKEN, 1 SENTENCE_START, 2 SENTENCE_END
      settings  JSON string  lowercase, vocab_size, sentence splitter, sources
      format    "rnncli-corpus", version 1
    """
    from ..lm import corpus, corpusfile
    from ..lm.vocab import build_vocab, encode
    prog = Progress(quiet)
    _check_writable(output)
    vocab = stored = None
    if model_path and corpusfile.is_corpus_file(model_path):
        # another tokenized corpus: same vocabulary, settings and sentence splitter
        _, vocab, st = corpusfile.load_corpus(model_path)
        cfg = Config(lowercase=st.get("lowercase", True), encoding=encoding or "utf-8", csv_column=csv_column)
        stored = st.get("splitter")
    elif model_path:
        ck = _load_checkpoint(model_path, "lm")
        cfg = ck.config.replace(encoding=encoding or ck.config.encoding, csv_column=csv_column)
        vocab, stored = ck.task.vocab, ck.task.splitter
    else:
        cfg = Config(lowercase=lowercase, vocab_size=vocab_size, encoding=encoding or "utf-8", csv_column=csv_column)
    if vocab is not None:
        enc, oov, splitter = corpus.encode_files(files, vocab, cfg, stored, not no_cache, cache_dir, prog)
    else:
        tokens, splitter, _ = corpus.read_tokens(files, cfg, None, not no_cache, cache_dir, prog)
        vocab, _, note = build_vocab(tokens, vocab_size)
        if note:
            prog.note("note: " + note)
        enc, oov = encode(tokens, vocab)
        del tokens
    settings = {"lowercase": cfg.lowercase, "vocab_size": len(vocab), "splitter": splitter,
                "sources": list(files), "csv_column": csv_column}
    corpusfile.save_corpus(output, enc, vocab, settings)
    n_words = len(enc.ids) - 2 * enc.n_sentences
    prog.note(f"{output}: {enc.n_sentences:,} sentences, {n_words:,} word tokens "
              f"({100 * oov / max(1, n_words):.2f}% UNKNOWN_TOKEN), vocabulary {len(vocab):,}")
