"""The language-model task: what the training loop runs, and what a checkpoint keeps
of it (tokenizer settings, vocabulary, sentence splitter, validation sentences)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .. import registry
from ..batching import Encoded, batch_indices, pack, split_long
from ..config import END_ID, N_SPECIALS, SPECIALS, START_ID
from ..errors import CheckpointError, corrupt
from . import settings as lm_settings
from .evaluate import total_nll
from .settings import LMSettings
from .splitting import punkt_json_problem
from .vocab import Vocab

MAX_PIECE = 128  # predicted tokens per training sequence; longer sentences are cut (batching.split_long)


@dataclass
class LMData:
    """The language model's section of a checkpoint."""
    vocab: Vocab
    val: Encoded | None = None
    splitter: dict = field(default_factory=dict)   # kind, params_json
    settings: LMSettings = field(default_factory=LMSettings)
    # the training files of the run that wrote it: [{"path": real path or "-", "bytes": size
    # or None}], for the note when a resumed run trains on others; None: not recorded
    sources: list | None = None

    def to_section(self):
        meta = {"kind": "lm", "splitter": self.splitter, "settings": self.settings.to_dict()}
        if self.sources is not None:
            meta["sources"] = self.sources
        arrays = {"vocab": np.array(self.vocab.words, dtype=str)}
        if self.val is not None:
            arrays["val_ids"] = self.val.ids
            arrays["val_offsets"] = self.val.offsets()
        return meta, arrays

    @classmethod
    def from_section(cls, path: str, meta: dict, arrays: dict, legacy_config: dict | None = None) -> "LMData":
        """The section as stored, checked as untrusted input (types, shapes, values).
        ``legacy_config``: the config of a checkpoint before format 3, which held the
        tokenizer settings (None: they are the section's)."""
        settings = _settings(path, meta, legacy_config)
        if "vocab" not in arrays:
            raise CheckpointError(f"{path}: checkpoint lacks its vocabulary")
        vocab = arrays["vocab"]
        if vocab.ndim != 1 or vocab.dtype.kind != "U":
            raise corrupt(path, "the vocabulary is not a list of words")
        words = vocab.tolist()
        if len(set(words)) != len(words):
            raise corrupt(path, "the vocabulary lists a word twice")
        splitter = meta.get("splitter")
        if splitter is None:
            splitter = {}
        if not isinstance(splitter, dict):
            raise corrupt(path, "the sentence splitter is not a JSON object")
        problem = _splitter_problem(splitter)
        if problem:
            raise corrupt(path, "sentence splitter: " + problem)
        val = None
        if ("val_ids" in arrays) != ("val_offsets" in arrays):
            raise corrupt(path, "validation ids without their offsets, or offsets without ids")
        if "val_ids" in arrays:
            ids, off = arrays["val_ids"], arrays["val_offsets"]
            if ids.ndim != 1 or off.ndim != 1 or ids.dtype.kind not in "iu" or off.dtype.kind not in "iu":
                raise corrupt(path, "validation ids or offsets are not lists of integers")
            if (len(off) == 0 or off[0] != 0 or off[-1] != len(ids) or off.min() < 0 or off.max() > len(ids)
                    or (len(ids) and (ids.min() < 0 or ids.max() >= len(words)))):
                raise CheckpointError(f"{path}: validation sentence offsets do not match the stored ids")
            val = Encoded.from_offsets(ids, off)
        sources = meta.get("sources")
        if sources is not None and not _sources_ok(sources):
            raise corrupt(path, "the training files' record is not a list of paths and sizes")
        return cls(Vocab(words), val, splitter, settings, sources)

    def validate(self, path: str, net):
        if len(self.vocab) != net.C or list(self.vocab.words[:N_SPECIALS]) != list(SPECIALS):
            raise CheckpointError(f"{path}: inconsistent checkpoint (parameter shapes, vocabulary and config disagree)")
        val, C = self.val, net.C
        if val is not None and len(val.ids) and (val.ids.min() < 0 or val.ids.max() >= C):
            raise CheckpointError(f"{path}: validation sentences hold ids outside the vocabulary")
        if val is not None and val.n_sentences and (
                val.starts[0] != 0 or (val.lens < 2).any() or val.starts[-1] + val.lens[-1] != len(val.ids)
                or (val.ids[val.starts] != START_ID).any() or (val.ids[val.starts + val.lens - 1] != END_ID).any()):
            raise CheckpointError(f"{path}: validation sentence offsets do not match the stored ids")


def _settings(path: str, meta: dict, legacy_config: dict | None) -> LMSettings:
    if legacy_config is not None:
        raw, where = legacy_config, "config"
    else:
        raw, where = meta.get("settings"), "task settings"
        if not isinstance(raw, dict):
            raise corrupt(path, "the task's settings are not a JSON object")
    settings = LMSettings.from_dict(raw)
    trouble = registry.problem(settings, lm_settings.RANGES)
    if trouble:
        raise corrupt(path, f"{where}: {trouble}")
    return settings


def _sources_ok(sources) -> bool:
    return isinstance(sources, list) and all(
        isinstance(s, dict) and isinstance(s.get("path"), str)
        and (s.get("bytes") is None or (isinstance(s["bytes"], int) and not isinstance(s["bytes"], bool)))
        for s in sources)


def _splitter_problem(splitter: dict) -> str | None:
    kind, params_json = splitter.get("kind"), splitter.get("params_json")
    if kind not in (None, "punkt_tab", "trained", "lines"):   # lines: --sentences lines, no Punkt
        return f"unknown kind {kind!r}"
    if params_json is not None and not isinstance(params_json, str):
        return "its parameters are not a JSON string"
    if kind == "trained" and params_json:
        return punkt_json_problem(params_json)
    return None


class LanguageModel:
    """Sentences of ids in, cross-entropy per predicted token out. A batch is a set of
    training sentences; its gradient is summed over each sentence's tokens and
    averaged over the batch's sentences."""
    unit = "tok"

    def __init__(self, net, data: LMData, train: Encoded, cfg):
        self.net, self.data, self.cfg = net, data, cfg
        self.train = split_long(train, MAX_PIECE)
        self.val = data.val

    def epoch_batches(self, epoch: int) -> list:
        return batch_indices(self.train.lens, self.cfg.batch_size, np.random.default_rng([self.cfg.seed, epoch]))

    def n_batches(self) -> int:
        return -(-self.train.n_sentences // self.cfg.batch_size)

    def units(self, batches) -> int:
        """Predicted tokens in these batches."""
        return int(sum(self.train.lens[b].sum() - len(b) for b in batches))

    def loss_and_grads(self, params: dict, sel, grads: dict, ws, rng, rows=None) -> tuple[float, int]:
        """(summed NLL, predicted tokens) of one batch; grads of the batch mean; rows: the
        row record of row-sparse gradients (Network.loss_and_grads)."""
        b = pack(self.train, sel)
        cfg = self.cfg
        nll = self.net.loss_and_grads(params, b, grads, ws, cfg.bptt_truncate, scale=1.0 / b.B,
                                      dropout=cfg.dropout, rng=rng, rows=rows)
        return nll, b.N

    def validation_loss(self, params: dict, ws) -> float | None:
        if self.val is None or self.val.n_sentences == 0:
            return None
        nll, n = total_nll(self.net, params, self.val, ws)
        return nll / n

    @staticmethod
    def metrics(val_loss: float | None) -> dict:
        return {"val_ppl": math.exp(val_loss) if val_loss is not None and val_loss < 700 else None}


class ShardedLanguageModel(LanguageModel):
    """The language model on several processes (rnncli/dist.py). Each process owns a
    contiguous share of the training pieces, in corpus order, and knows every piece's
    length, so ``epoch_batches`` gives the global batches one process would (same seed,
    same order). At the start of an epoch the pieces go where that epoch needs them:
    position j of every batch is computed by rank j mod N (a batch is sorted by length,
    so the ranks' slices hold about as many tokens). A step computes this rank's slice
    with the usual kernels, its gradient scaled by 1 / (sentences in the global batch),
    so the gradients summed over the ranks are the global batch's mean gradient.
    Validation: each rank scores its share of the validation sentences; the summed
    NLL over the summed token count is the loss one process would compute."""

    def __init__(self, net, data: LMData, train: Encoded, val: Encoded | None, cfg, comm):
        super().__init__(net, data, train, cfg)
        self.comm = comm
        self.own = self.train                                    # the pieces this rank owns
        counts = comm.allgather(self.own.n_sentences)
        self.first = int(sum(counts[:comm.rank]))
        self.lens = comm.allgather_array(self.own.lens)           # (P,) every piece's ids, corpus order
        self.val = val
        self.work, self.work_ids, self._epoch = None, None, None

    def epoch_batches(self, epoch: int) -> list:
        batches = batch_indices(self.lens, self.cfg.batch_size, np.random.default_rng([self.cfg.seed, epoch]))
        if self._epoch != epoch:
            self._distribute(batches)
            self._epoch = epoch
        return batches

    def n_batches(self) -> int:
        return -(-len(self.lens) // self.cfg.batch_size)

    def idle_note(self) -> str | None:
        """A note when some processes have nothing to compute in any step (a step's batch
        holds at most min(--batch-size, training sentences) sentences and a process
        computes whole ones); they add zero gradients, so the model does not change."""
        N, B, P = self.comm.size, self.cfg.batch_size, len(self.lens)
        idle = N - min(B, P)
        if idle <= 0:
            return None
        if P <= B:
            return (f"note: {P:,} training sentence{'s' if P > 1 else ''} for {N} processes: {idle} of them "
                    f"will have nothing to compute; the model is the one a single process trains")
        return (f"note: --batch-size {B} for {N} processes: {idle} of them will have nothing to compute in "
                f"any step; give --batch-size {N} or more to use every process")

    def units(self, batches) -> int:
        return int(sum(self.lens[b].sum() - len(b) for b in batches))

    def _distribute(self, batches):
        """Send every owned piece to the rank that computes it this epoch (one Alltoallv
        of lengths and one of ids: about the training set's size per epoch in all)."""
        N, own = self.comm.size, self.own
        sizes = np.array([len(b) for b in batches], np.int64)
        flat = np.concatenate(batches) if batches else np.zeros(0, np.int64)
        dest = np.empty(len(self.lens), np.int64)
        dest[flat] = (np.arange(len(flat)) - np.repeat(np.cumsum(sizes) - sizes, sizes)) % N
        mine = dest[self.first:self.first + own.n_sentences]
        order = np.argsort(mine, kind="stable")                  # by destination, corpus order within
        lens = own.lens[order].astype(np.int64)
        offs = np.zeros(len(lens) + 1, np.int64)
        np.cumsum(lens, out=offs[1:])
        ids = own.ids[np.arange(offs[-1]) - np.repeat(offs[:-1] - own.starts[order], lens)]
        r_lens = self.comm.alltoallv(lens.astype(np.int32), np.bincount(mine, minlength=N))
        r_ids = self.comm.alltoallv(ids.astype(np.int32),
                                    np.bincount(mine, weights=own.lens, minlength=N).astype(np.int64))
        starts = np.zeros(len(r_lens), np.int64)
        if len(r_lens):
            np.cumsum(r_lens[:-1], out=starts[1:])
        self.work = Encoded(r_ids, starts, r_lens)
        self.work_ids = np.flatnonzero(dest == self.comm.rank)   # global piece ids, ascending as received
        assert len(self.work_ids) == len(r_lens)

    def loss_and_grads(self, params: dict, sel, grads: dict, ws, rng, rows=None) -> tuple[float, int]:
        """(summed NLL, predicted tokens) of this rank's slice; grads of its share of the
        global batch mean (zero when the slice is empty: a batch smaller than N)."""
        mine = np.asarray(sel)[self.comm.rank::self.comm.size]
        if len(mine) == 0:
            for g in grads.values():
                g[...] = 0
            if rows is not None:
                # the row record must say "no rows" as the network's would: a record left
                # without the embedding (the first step) means dense, and then this rank's
                # gradient sum would not match the others' (dist.MPIComm.sum_gradients)
                for k in self.net.embeddings:
                    rows[k] = np.zeros(0, np.intp)
            return 0.0, 0
        b = pack(self.work, np.searchsorted(self.work_ids, mine))
        cfg = self.cfg
        nll = self.net.loss_and_grads(params, b, grads, ws, cfg.bptt_truncate, scale=1.0 / len(sel),
                                      dropout=cfg.dropout, rng=rng, rows=rows)
        return nll, b.N

    def validation_loss(self, params: dict, ws) -> float | None:
        nll, n = (total_nll(self.net, params, self.val, ws) if self.val is not None and self.val.n_sentences
                  else (0.0, 0))
        tot = self.comm.allreduce_(np.array([nll, n], np.float64))
        return float(tot[0] / tot[1]) if tot[1] else None
