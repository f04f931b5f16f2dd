"""Everything `rnn train` needs before the first step, in the order the command asks:
``configure`` settles the run's settings (new, or a checkpoint's with the options
given; resuming with options that would train a different model is refused there),
then ``prepare_training`` reads the corpus, builds the vocabulary, the validation split,
the network, its parameters and the task, ready to become a Trainer (start.Setup).
With several processes (dist.py) each reads its share (shard.py)."""
from __future__ import annotations

import os
import time

import numpy as np

from .. import memory
from ..config import START_ID, Config, RunSettings, check_resume, check_rnn_cell_only, split_by
from ..dist import SingleProcess, settle
from ..errors import DataError
from ..nn.classsoftmax import default_classes, frequency_classes
from ..nn.network import Network
from ..start import Setup, starting_point
from . import corpus, corpusfile, settings as lm_settings, shard
from .settings import LMSettings, model_options, resolved_softmax
from .evaluate import EVAL_BATCH, EVAL_TOKENS
from .task import MAX_PIECE, LanguageModel, LMData, ShardedLanguageModel
from .vocab import build_vocab, encode, remap_encoded, split_validation

# Under several processes (dist.settle): building the model on one of them ran out of memory.
MODEL_OUT_OF_MEMORY = ("out of memory for the model's parameters and optimizer state; try a smaller "
                       "--hidden-dim, --layers or --vocab-size")

# Class softmax: classes hold equal shares of the unigram mass (power 1) rather than of
# its square root (0.5); docs/class-softmax.md has the measurements behind the choice.
CLASS_POWER = 1.0


def network_for(model: dict, vocab_size: int, counts=None) -> Network:
    """The network the model options ``model`` (lm.settings.MODEL's names) describe for
    this vocabulary. The class softmax bins words into classes by their ``counts``
    (vocab_size,) in the training text (Mikolov et al. 2011)."""
    m = {**lm_settings.MODEL, **model}
    shape = (vocab_size, m["hidden_dim"], m["cell"], m["activation"], m["layers"], m["bias"])
    if resolved_softmax(m["softmax"], vocab_size) != "class":
        return Network(*shape)
    K = m["classes"] or default_classes(vocab_size)
    if K > vocab_size:
        raise DataError(f"--classes {K} is more than the {vocab_size} vocabulary entries; "
                        f"give at most --classes {vocab_size}")
    if counts is None:
        counts = np.ones(vocab_size)
    return Network(*shape, output="class", classes=K, class_of=frequency_classes(counts, K, CLASS_POWER))


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


def split_options(given: dict) -> tuple[dict, dict, dict]:
    """The options the user gave -> (training: Config's, data: LMSettings', model: MODEL's)."""
    return split_by(given, Config.__dataclass_fields__, LMSettings.__dataclass_fields__, lm_settings.MODEL)


def configure(given: dict, ck=None, resume: str | None = None) -> RunSettings:
    """The run's training settings, data settings (LMSettings) and model options: the
    defaults (the tutorial's SGD recipe when --optimizer sgd is given) or the
    checkpoint's, with the options the user gave."""
    if ck is not None:
        return _configure_resumed(given, ck, resume)
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
    check_rnn_cell_only(given.get("cell", "rnn"), given)
    train, data, model = split_options(given)
    return RunSettings(base.replace(**train), LMSettings().replace(**data), {**lm_settings.MODEL, **model})


def _configure_resumed(given: dict, ck, resume: str) -> RunSettings:
    model = model_options(ck.model)
    trained = {**ck.config.__dict__, **ck.task.settings.__dict__, **model, "vocab_size": len(ck.task.vocab)}
    if given.get("softmax") == "auto" and resolved_softmax("auto", len(ck.task.vocab)) == trained["softmax"]:
        given = {k: v for k, v in given.items() if k != "softmax"}
    check_resume(given, {k: trained[k] for k in lm_settings.DEFINING}, resume,
                 described={"vocab_size": f"{len(ck.task.vocab)} entries"})
    train, data, _ = split_options(given)
    data.pop("vocab_size", None)
    return RunSettings(ck.config.replace(**train), ck.task.settings.replace(**data), model)


def prepare_training(files, val_files, settings: RunSettings, ck, use_cache: bool, cache_dir, prog,
                     comm=None) -> Setup:
    """Corpus, vocabulary, validation split, network and parameters for a run with the
    ``settings`` ``configure`` settled; ``ck`` is the checkpoint being resumed, or None.
    FILE... were checked (corpus.check_inputs) by the command. With a communicator of
    several processes (dist.py) each reads its share (shard.py)."""
    cfg, data, model = settings
    sources = training_sources(files)
    if ck is not None:
        _note_other_files(ck.task, sources, bool(val_files), prog)
    if comm is not None and comm.size > 1:
        data, vocab, splitter, train_enc, val_share, val_enc = shard.prepare_shares(files, val_files, data, ck,
                                                                                    prog, comm)
        return _setup(cfg, data, model, vocab, splitter, train_enc, val_enc, ck, prog, comm, val_share, sources)
    t0 = time.perf_counter()
    stored = ck.task.splitter if ck is not None else None
    if corpus.is_single_corpus_file(files):
        enc, vocab, splitter, data = _corpus_file(files[0], data, ck, prog)
    else:
        tokens, splitter, _ = corpus.read_tokens(files, data, stored, use_cache, cache_dir, prog)
        if ck is not None:
            vocab = ck.task.vocab
        else:
            vocab, stats, note = build_vocab(tokens, data.vocab_size)
            if note:
                prog.note("note: " + note)
            data = data.replace(vocab_size=len(vocab))
            prog.note(corpus.describe_corpus(stats, vocab))
        enc, _ = encode(tokens, vocab, corpus.spill_dir(use_cache, cache_dir))
        del tokens
    if val_files:
        val_enc, _, _ = corpus.encode_files(val_files, vocab, data, splitter, use_cache, cache_dir, prog,
                                            what="validation")
        train_enc = enc
    elif ck is not None and ck.task.val is not None and data.val_fraction == ck.task.settings.val_fraction:
        train_enc, _ = split_validation(enc, data.val_fraction)
        val_enc = ck.task.val
    else:
        train_enc, val_enc = split_validation(enc, data.val_fraction)
    if train_enc.n_sentences == 0:
        raise DataError("no training sentences left after holding out validation sentences")
    prog.note(f"data ready in {time.perf_counter() - t0:.1f}s: {train_enc.n_sentences:,} training sentences "
              f"({train_enc.n_predicted:,} predicted tokens), "
              f"{val_enc.n_sentences if val_enc else 0:,} validation sentences")
    return _setup(cfg, data, model, vocab, splitter, train_enc, val_enc, ck, prog, sources=sources)


def training_sources(files) -> list:
    """What a checkpoint records of its training files: real path and size ('-': standard input)."""
    out = []
    for p in files:
        if p == "-":
            out.append({"path": "-", "bytes": None})
            continue
        try:
            size = os.path.getsize(p)
        except OSError:
            size = None
        out.append({"path": os.path.realpath(p), "bytes": size})
    return out


def _same_file(a: dict, b: dict) -> bool:
    """One training file in both runs: the same size, at the same place or under the same
    name (a project folder that moved)."""
    return a["bytes"] == b["bytes"] and (a["path"] == b["path"]
                                         or os.path.basename(a["path"]) == os.path.basename(b["path"]))


def _note_other_files(stored: LMData, sources: list, val_given: bool, prog):
    """Resuming on other training files than the checkpoint's (or the same ones changed)
    is allowed, and said: one note. Checkpoints that predate the record: no note."""
    before = stored.sources
    if before is None or (len(before) == len(sources) and all(map(_same_file, before, sources))):
        return

    def shown(recs):
        names = [("standard input" if r["path"] == "-" else _short(r["path"]))
                 + (f" ({r['bytes']:,} bytes)" if r["bytes"] is not None else "") for r in recs[:3]]
        return ", ".join(names) + (f" and {len(recs) - 3} more" if len(recs) > 3 else "")
    val = ("; validation stays on the sentences stored in the checkpoint (--val changes that)"
           if not val_given and stored.val is not None and stored.val.n_sentences else "")
    prog.note(f"note: the checkpoint was trained on {shown(before)}; this run trains on {shown(sources)}{val}")


def _short(path: str) -> str:
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def _corpus_file(path: str, data: LMSettings, ck, prog):
    """A tokenized corpus -> (Encoded, vocabulary (the checkpoint's when resuming), its
    sentence splitter, the data settings it was tokenized with)."""
    enc, vocab, stored = corpusfile.load_corpus(path)
    if ck is not None and vocab.words != ck.task.vocab.words:
        enc, _ = remap_encoded(enc, vocab, ck.task.vocab)
        vocab = ck.task.vocab
    prog.note(f"corpus: {path}: tokenized corpus, {enc.n_sentences:,} sentences, vocabulary {len(vocab):,}")
    return enc, vocab, stored.get("splitter", {}), data.of_corpus(stored, len(vocab))


def _setup(cfg, data, model, vocab, splitter, train_enc, val_enc, ck, prog, comm=None, val_share=None,
           sources=None) -> Setup:
    """The network, its parameters (new or the checkpoint's) and the task."""
    sharded = comm is not None and comm.size > 1
    counts = None
    if ck is None:
        counts = target_counts(train_enc, len(vocab))
        if sharded:                                  # every process bins the same counts
            counts = comm.allreduce_(counts.astype(np.float64))
    # a process that fails here (--classes, memory) must not leave the others waiting in
    # the task's collectives: every process learns of it (dist.settle)
    net, params, state, opt_state = settle(comm if sharded else SingleProcess(), _model, model, len(vocab),
                                           counts, cfg, ck, prog.note, (train_enc, val_enc, comm.size if comm else 1),
                                           oom=MODEL_OUT_OF_MEMORY)
    n_params = sum(v.size for v in params.values())
    a = net.args
    cell = a["cell"] + (f"({a['activation']})" if a["cell"] == "rnn" else "")
    classes = f" softmax=class classes={net.out.K}" if a["output"] == "class" else ""
    prog.note(f"model: C={len(vocab):,} H={a['hidden_dim']} cell={cell} layers={a['layers']}{classes} "
              f"parameters={n_params:,} {cfg.dtype}; "
              f"{cfg.optimizer} lr={cfg.lr:g} schedule={cfg.lr_schedule} batch={cfg.batch_size} "
              f"bptt-truncate={cfg.bptt_truncate} clip={cfg.clip:g}")
    lm_data = LMData(vocab, val_enc, splitter if isinstance(splitter, dict) else {}, data, sources)
    if sharded:
        task = ShardedLanguageModel(net, lm_data, train_enc, val_share, cfg, comm)
        note = task.idle_note()
        if note:
            prog.note(note)
    else:
        task = LanguageModel(net, lm_data, train_enc, cfg)
    return Setup(cfg, net, params, task, state, opt_state)


def _model(model: dict, vocab_size: int, counts, cfg, ck, note, data):
    """(network, parameters, state, optimizer state): the checkpoint's, or new ones; a run
    this machine cannot hold is refused before the parameters are allocated (``data``:
    the training and validation ids and the number of processes, for check_memory)."""
    net = ck.network() if ck is not None else network_for(model, vocab_size, counts)   # ck's: its class map
    train_enc, val_enc, processes = data
    check_memory(net, cfg, train_enc, val_enc, resumed=ck is not None, processes=processes)
    return (net, *starting_point(net, cfg, ck, note))


def largest_batch(lens: np.ndarray, sentences: int, cap: int | None = None) -> int:
    """Predicted tokens in the largest batch of ``sentences`` sentences of these lengths
    (ids, START and END included), each cut to ``cap`` predicted tokens."""
    t = np.asarray(lens, np.int64) - 1
    if cap is not None:
        t = np.minimum(t, cap)
    if len(t) > sentences:
        t = np.partition(t, len(t) - sentences)[len(t) - sentences:]
    return int(t.sum())


def check_memory(net, cfg, train_enc, val_enc, resumed: bool, processes: int = 1):
    """Refuse a run this machine cannot hold before its parameters are allocated
    (memory.py): the parameters and their copies, and the work arrays of the largest
    training batch (a process's slice of it) and validation batch."""
    rows = largest_batch(train_enc.lens, -(-cfg.batch_size // processes), MAX_PIECE)
    eval_rows = min(EVAL_TOKENS, largest_batch(val_enc.lens, EVAL_BATCH)) if val_enc is not None else 0
    work = memory.lm_work(net.args, net.gates, rows, eval_rows, cfg.dropout, memory.ITEMSIZE[cfg.dtype])
    model = () if resumed else ("--hidden-dim", "--layers", "--vocab-size")
    memory.check(memory.training_need(net.shapes(), cfg, work), model, ("--batch-size",))
