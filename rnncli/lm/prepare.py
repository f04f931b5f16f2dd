"""Everything `rnn train` needs before the first step: the configuration (new, or a
checkpoint's with the options given), corpus, vocabulary, validation split, network,
parameters and the task. Resuming with options that would train a different model
is refused here."""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..config import FULL_SOFTMAX_UP_TO, MODEL_DEFINING, START_ID, Config, as_option
from ..errors import DataError
from ..train import starting_point
from ..nn.classsoftmax import default_classes, frequency_classes
from ..nn.network import Network
from . import corpus, corpusfile
from .task import LanguageModel, LMData, ShardedLanguageModel
from .vocab import build_vocab, encode, remap_encoded, split_validation


@dataclass
class Setup:
    cfg: Config
    net: Network
    params: dict
    task: LanguageModel
    state: dict | None
    opt_state: dict | None


# Class softmax: classes hold equal shares of the unigram mass (power 1) rather than of
# its square root (0.5); README "Class softmax" has the measurements behind the choice.
CLASS_POWER = 1.0


def describe_corpus(stats: dict, vocab) -> str:
    """The corpus line `rnn train` prints, from build_vocab's statistics."""
    return (f"corpus: {stats['sentences']:,} sentences, {stats['tokens']:,} tokens, "
            f"{stats['distinct_words']:,} distinct words; vocabulary {len(vocab):,} covers "
            f"{100 * stats['coverage']:.2f}% of tokens; least frequent word kept: "
            f"{stats['least_frequent_kept']!r} ({stats['least_frequent_count']}x)")


def resolved_softmax(softmax: str, vocab_size: int) -> str:
    """The output layer --softmax names: auto becomes full or class by the vocabulary size."""
    if softmax != "auto":
        return softmax
    return "full" if vocab_size <= FULL_SOFTMAX_UP_TO else "class"


def network_for(cfg: Config, vocab_size: int, counts=None) -> Network:
    """The network ``cfg`` describes. The class softmax bins words into classes by their
    ``counts`` (vocab_size,) in the training text (Mikolov et al. 2011)."""
    if resolved_softmax(cfg.softmax, vocab_size) != "class":
        return Network(vocab_size, cfg.hidden_dim, cfg.cell, cfg.activation, cfg.layers, cfg.bias)
    K = cfg.classes or default_classes(vocab_size)
    if K > vocab_size:
        raise DataError(f"--classes {K} is more than the {vocab_size} vocabulary entries; "
                        f"give at most --classes {vocab_size}")
    if counts is None:
        counts = np.ones(vocab_size)
    return Network(vocab_size, cfg.hidden_dim, cfg.cell, cfg.activation, cfg.layers, cfg.bias, output="class", classes=K,
                   class_of=frequency_classes(counts, K, CLASS_POWER))


def target_counts(enc, vocab_size: int) -> np.ndarray:
    """How often each id is predicted in ``enc``'s sentences (SENTENCE_START never is).
    The training sentences are a view of the whole corpus's ids (split_validation), so
    only their spans count: the validation sentences' words must not shape the classes."""
    ids = enc.ids
    if enc.n_sentences and int(enc.lens.sum()) != len(ids):
        inside = np.zeros(len(ids) + 1, np.int8)     # +1 at each START, -1 after each END
        inside[enc.starts] += 1                      # sentences do not overlap: no index repeats
        inside[enc.starts + enc.lens] -= 1
        ids = ids[np.cumsum(inside[:-1], dtype=np.int8).astype(bool)]
    counts = np.bincount(ids, minlength=vocab_size)
    counts[START_ID] = 0
    return counts


def configure(given: dict, ck=None, resume: str | None = None) -> Config:
    """The run's configuration: the defaults (the tutorial's SGD recipe when --optimizer
    sgd is given) or the checkpoint's, with the options the user gave."""
    if ck is None:
        if "classes" in given:
            if given.get("softmax", "class") == "full":
                raise DataError("--classes applies to the class softmax only: give --softmax class, or drop --classes")
            given = dict(given, softmax="class")
        base = Config()
        if given.get("optimizer") == "sgd":
            # the tutorial's recipe is one flag away (it has no weight averaging)
            base = base.replace(lr=0.005, lr_schedule="halve", average=0.0)
        if given.get("cell", "rnn") != "rnn":
            # gates exist to carry errors across many steps; truncating at 4 would waste them
            base = base.replace(bptt_truncate=-1)
        for name, plain in (("recurrent_init", "uniform"), ("activation", "tanh")):   # the Elman cell's own
            if given.get(name, plain) != plain and given.get("cell", "rnn") != "rnn":
                raise DataError(f"{as_option(name, given[name])} applies to the rnn cell only, "
                                f"not --cell {given['cell']}")
        return base.replace(**given)
    cfg = ck.config
    if given.get("softmax") == "auto" and resolved_softmax("auto", len(ck.task.vocab)) == cfg.softmax:
        given = {k: v for k, v in given.items() if k != "softmax"}
    for k in MODEL_DEFINING + ("dtype",):
        if k in given and given[k] != getattr(cfg, k) and k != "vocab_size":
            raise DataError(f"{as_option(k, given[k])} contradicts the checkpoint {resume} "
                            f"(trained with {as_option(k, getattr(cfg, k))}); drop the option or start a new run")
    if "vocab_size" in given and given["vocab_size"] != len(ck.task.vocab):
        raise DataError(f"--vocab-size {given['vocab_size']} contradicts the checkpoint {resume} "
                        f"({len(ck.task.vocab)} entries); drop the option or start a new run")
    return cfg.replace(**{k: v for k, v in given.items() if k != "vocab_size"})


def prepare_training(files, val_files, given: dict, ck, resume: str | None, use_cache: bool, cache_dir, prog,
                     configured=None, comm=None) -> Setup:
    """Configuration, corpus, vocabulary, validation split, network and parameters for
    a run with the options ``given`` (those the user set); ``ck`` is the checkpoint
    being resumed (from ``resume``), or None. ``configured(cfg)`` is called once the
    configuration is settled, before any data is read (to check the output path).
    With a communicator of several processes (dist.py) each reads its share (shard.py)."""
    if comm is not None and comm.size > 1:
        from ..dist import settle
        from .shard import prepare_shares
        cfg = settle(comm, configure, given, ck, resume)
        if configured:
            settle(comm, configured, cfg)
        cfg, vocab, splitter, train_enc, val_share, val_enc = prepare_shares(files, val_files, cfg, ck, resume,
                                                                             prog, comm)
        return _setup(cfg, vocab, splitter, train_enc, val_enc, ck, prog, comm, val_share)
    cfg = configure(given, ck, resume)
    if configured:
        configured(cfg)
    t0 = time.perf_counter()
    stored = ck.task.splitter if ck is not None else None
    if corpus.is_single_corpus_file(files):
        enc, vocab, settings = corpusfile.load_corpus(files[0])
        splitter = settings.get("splitter", {})
        if ck is not None and vocab.words != ck.task.vocab.words:
            enc, _ = remap_encoded(enc, vocab, ck.task.vocab)
            vocab = ck.task.vocab
        cfg = cfg.replace(vocab_size=len(vocab), lowercase=settings.get("lowercase", cfg.lowercase),
                          sentences=settings.get("sentences", "punkt"), words=settings.get("words", "treebank"),
                          unk_token=settings.get("unk_token"))
        prog.note(f"corpus: {files[0]}: tokenized corpus, {enc.n_sentences:,} sentences, vocabulary {len(vocab):,}")
    else:
        corpus.check_inputs(list(files) + list(val_files))
        tokens, splitter, _ = corpus.read_tokens(files, cfg, stored, use_cache, cache_dir, prog)
        if ck is not None:
            vocab = ck.task.vocab
        else:
            vocab, stats, note = build_vocab(tokens, cfg.vocab_size)
            if note:
                prog.note("note: " + note)
            cfg = cfg.replace(vocab_size=len(vocab))
            prog.note(describe_corpus(stats, vocab))
        enc, _ = encode(tokens, vocab, corpus.spill_dir(use_cache, cache_dir))
        del tokens
    if val_files:
        val_enc, _, _ = corpus.encode_files(val_files, vocab, cfg, splitter, use_cache, cache_dir, prog,
                                            what="validation")
        train_enc = enc
    elif ck is not None and ck.task.val is not None and cfg.val_fraction == ck.config.val_fraction:
        train_enc, _ = split_validation(enc, cfg.val_fraction)
        val_enc = ck.task.val
    else:
        train_enc, val_enc = split_validation(enc, cfg.val_fraction)
    if train_enc.n_sentences == 0:
        raise DataError("no training sentences left after holding out validation sentences")
    cfg.extra["splitter"] = splitter.get("kind") if isinstance(splitter, dict) else None
    prog.note(f"data ready in {time.perf_counter() - t0:.1f}s: {train_enc.n_sentences:,} training sentences "
              f"({train_enc.n_predicted:,} predicted tokens), "
              f"{val_enc.n_sentences if val_enc else 0:,} validation sentences")
    return _setup(cfg, vocab, splitter, train_enc, val_enc, ck, prog)



def _setup(cfg, vocab, splitter, train_enc, val_enc, ck, prog, comm=None, val_share=None) -> Setup:
    """The network, its parameters (new or the checkpoint's) and the task."""
    if ck is not None:
        net = ck.network()                           # the stored class map, if any
    else:
        counts = target_counts(train_enc, len(vocab))
        if comm is not None and comm.size > 1:       # every process bins the same counts
            counts = comm.allreduce_(counts.astype(np.float64))
        cfg = cfg.replace(softmax=resolved_softmax(cfg.softmax, len(vocab)))
        net = network_for(cfg, len(vocab), counts)
        if cfg.softmax == "class":
            cfg = cfg.replace(classes=net.out.K)
    params, state, opt_state = starting_point(net, cfg, ck, prog.note)
    n_params = sum(v.size for v in params.values())
    cell = cfg.cell + (f"({cfg.activation})" if cfg.cell == "rnn" else "")
    classes = f" softmax=class classes={net.out.K}" if cfg.softmax == "class" else ""
    prog.note(f"model: C={len(vocab):,} H={cfg.hidden_dim} cell={cell} layers={cfg.layers}{classes} "
              f"parameters={n_params:,} {cfg.dtype}; "
              f"{cfg.optimizer} lr={cfg.lr:g} schedule={cfg.lr_schedule} batch={cfg.batch_size} "
              f"bptt-truncate={cfg.bptt_truncate} clip={cfg.clip:g}")
    data = LMData(vocab, val_enc, splitter if isinstance(splitter, dict) else {})
    if comm is not None and comm.size > 1:
        task = ShardedLanguageModel(net, data, train_enc, val_share, cfg, comm)
        return Setup(cfg, net, params, task, state, opt_state)
    return Setup(cfg, net, params, LanguageModel(net, data, train_enc, cfg), state, opt_state)
