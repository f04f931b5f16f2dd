"""The language-model task: what the training loop runs, and what a checkpoint keeps
of it (vocabulary, sentence splitter, validation sentences)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..batching import Encoded, batch_indices, pack, split_long
from ..config import N_SPECIALS, SPECIALS
from .evaluate import total_nll
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
        from ..checkpoint import CheckpointError
        if "vocab" not in arrays:
            raise CheckpointError(f"{path}: checkpoint lacks its vocabulary")
        splitter = meta.get("splitter") or {}
        if not isinstance(splitter, dict):
            raise CheckpointError(f"{path}: corrupt checkpoint (training state is not a JSON object)")
        val = None
        if "val_ids" in arrays:
            val = Encoded.from_offsets(arrays["val_ids"], arrays["val_offsets"])
        return cls(Vocab(arrays["vocab"].tolist()), val, splitter)

    def validate(self, path: str, net):
        from ..checkpoint import CheckpointError
        if len(self.vocab) != net.C or list(self.vocab.words[:N_SPECIALS]) != list(SPECIALS):
            raise CheckpointError(f"{path}: inconsistent checkpoint (parameter shapes, vocabulary and config disagree)")
        val, C = self.val, net.C
        if val is not None and len(val.ids) and (val.ids.min() < 0 or val.ids.max() >= C):
            raise CheckpointError(f"{path}: validation sentences hold ids outside the vocabulary")
        if val is not None and (val.n_sentences and (val.starts[0] != 0 or (val.lens < 2).any()
                                                     or val.starts[-1] + val.lens[-1] != len(val.ids))):
            raise CheckpointError(f"{path}: validation sentence offsets do not match the stored ids")


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
