"""The language-model task: what the training loop runs, and what a checkpoint keeps
of it (vocabulary, sentence splitter, validation sentences)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..batching import Encoded, batch_indices, pack, split_long
from ..config import END_ID, N_SPECIALS, SPECIALS, START_ID
from .evaluate import total_nll
from .splitting import punkt_json_problem
from .vocab import Vocab

MAX_PIECE = 128  # predicted tokens per training sequence; longer sentences are cut (batching.split_long)


@dataclass
class LMData:
    """The language model's section of a checkpoint."""
    vocab: Vocab
    val: Encoded | None = None
    splitter: dict = field(default_factory=dict)   # kind, params_json

    def to_section(self):
        meta = {"kind": "lm", "splitter": self.splitter}
        arrays = {"vocab": np.array(self.vocab.words, dtype=str)}
        if self.val is not None:
            arrays["val_ids"] = self.val.ids
            arrays["val_offsets"] = self.val.offsets()
        return meta, arrays

    @classmethod
    def from_section(cls, path: str, meta: dict, arrays: dict) -> "LMData":
        """The section as stored, checked as untrusted input (types, shapes, values)."""
        from ..checkpoint import CheckpointError, corrupt
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
        return cls(Vocab(words), val, splitter)

    def validate(self, path: str, net):
        from ..checkpoint import CheckpointError
        if len(self.vocab) != net.C or list(self.vocab.words[:N_SPECIALS]) != list(SPECIALS):
            raise CheckpointError(f"{path}: inconsistent checkpoint (parameter shapes, vocabulary and config disagree)")
        val, C = self.val, net.C
        if val is not None and len(val.ids) and (val.ids.min() < 0 or val.ids.max() >= C):
            raise CheckpointError(f"{path}: validation sentences hold ids outside the vocabulary")
        if val is not None and val.n_sentences and (
                val.starts[0] != 0 or (val.lens < 2).any() or val.starts[-1] + val.lens[-1] != len(val.ids)
                or (val.ids[val.starts] != START_ID).any() or (val.ids[val.starts + val.lens - 1] != END_ID).any()):
            raise CheckpointError(f"{path}: validation sentence offsets do not match the stored ids")


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

    def loss_and_grads(self, params: dict, sel, grads: dict, ws, rng) -> tuple[float, int]:
        """(summed NLL, predicted tokens) of one batch; grads of the batch mean."""
        b = pack(self.train, sel)
        cfg = self.cfg
        nll = self.net.loss_and_grads(params, b, grads, ws, cfg.bptt_truncate, scale=1.0 / b.B,
                                      dropout=cfg.dropout, rng=rng)
        return nll, b.N

    def validation_loss(self, params: dict, ws) -> float | None:
        if self.val is None or self.val.n_sentences == 0:
            return None
        nll, n = total_nll(self.net, params, self.val, ws)
        return nll / n

    @staticmethod
    def metrics(val_loss: float | None) -> dict:
        return {"val_ppl": math.exp(val_loss) if val_loss is not None and val_loss < 700 else None}
