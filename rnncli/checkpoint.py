"""Self-describing ``.npz`` checkpoints: parameters, vocabulary, config, training
state, optimizer state and the held-out validation sentences. Plain arrays and
JSON strings only, so ``numpy.load(path, allow_pickle=False)`` reads every key;
written atomically (temporary file, fsync, rename)."""
from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass, field

import numpy as np

from . import model
from .config import FORMAT_VERSION, SPECIALS, Config
from .data import Encoded, Vocab, atomic_write_npz

FORMAT_NAME = "rnncli-model"


class CheckpointError(Exception):
    """A checkpoint that cannot be used, worded as one line naming the file."""


@dataclass
class Checkpoint:
    config: Config
    params: dict
    vocab: Vocab
    state: dict = field(default_factory=dict)      # epoch, step, lr, best_val, history, rng, ...
    opt_state: dict = field(default_factory=dict)  # name -> array
    val: Encoded | None = None
    splitter: dict = field(default_factory=dict)   # kind, params_json


def best_path(path: str) -> str:
    """model.npz -> model.best.npz"""
    root, ext = os.path.splitext(path)
    return root + ".best" + (ext or ".npz")


def save(path: str, ck: Checkpoint):
    arrays = {
        "format": np.array(FORMAT_NAME),
        "format_version": np.array(FORMAT_VERSION),
        "vocab": np.array(ck.vocab.words, dtype=str),
        "config": np.array(ck.config.to_json()),
        "state": np.array(json.dumps(ck.state, sort_keys=True)),
        "splitter": np.array(json.dumps(ck.splitter, sort_keys=True)),
    }
    for k, v in ck.params.items():
        arrays[k] = v
    for k, v in ck.opt_state.items():
        arrays["opt." + k] = v
    if ck.val is not None:
        arrays["val_ids"] = ck.val.ids
        arrays["val_offsets"] = ck.val.offsets()
    try:
        atomic_write_npz(path, arrays)
    except OSError as e:
        raise CheckpointError(f"{path}: could not write the checkpoint ({e.strerror or e}); "
                              "the previous checkpoint, if any, is unchanged") from None


def load(path: str) -> Checkpoint:
    if not os.path.exists(path):
        raise CheckpointError(f"{path}: no such checkpoint (train one with `rnn train FILE -o {path}`)")
    if os.path.isdir(path):
        raise CheckpointError(f"{path}: is a directory, not a checkpoint")
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read the checkpoint ({e.strerror})") from None
    if not magic:
        raise CheckpointError(f"{path}: is empty, not a checkpoint")
    if magic != b"PK\x03\x04":
        # np.load would take any non-zip file for a pickle; it is simply not an .npz
        raise CheckpointError(f"{path}: not an rnncli checkpoint (not an .npz archive)")
    try:
        with np.load(path, allow_pickle=False) as z:
            files = set(z.files)
            if "format" not in files or str(z["format"]) != FORMAT_NAME:
                raise CheckpointError(f"{path}: not an rnncli checkpoint (an .npz without rnncli's keys)")
            version = int(z["format_version"])
            if version > FORMAT_VERSION:
                raise CheckpointError(f"{path}: written by a newer rnncli (format {version}; this version "
                                      f"reads up to {FORMAT_VERSION}); upgrade rnncli")
            cfg = Config.from_json(str(z["config"]))
            vocab = Vocab(z["vocab"].tolist())
            params = {k: z[k] for k in model.PARAM_NAMES if k in files}
            state = json.loads(str(z["state"]))
            splitter = json.loads(str(z["splitter"])) if "splitter" in files else {}
            if not isinstance(state, dict) or not isinstance(splitter, dict):
                raise CheckpointError(f"{path}: corrupt checkpoint (training state is not a JSON object)")
            opt_state = {k[4:]: z[k] for k in files if k.startswith("opt.")}
            val = Encoded.from_offsets(z["val_ids"], z["val_offsets"]) if "val_ids" in files else None
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, EOFError) as e:
        raise CheckpointError(f"{path}: corrupt or truncated checkpoint ({e})") from None
    except ValueError as e:
        msg = str(e)
        if "pickle" in msg.lower():
            raise CheckpointError(f"{path}: holds pickled objects; refusing to unpickle it") from None
        raise CheckpointError(f"{path}: corrupt or truncated checkpoint ({msg})") from None
    except (OSError, KeyError, TypeError, AttributeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: corrupt or unreadable checkpoint ({type(e).__name__}: {e})") from None
    _validate(path, cfg, params, vocab, val)
    params = model.as_layout(params, np.dtype(cfg.dtype))
    return Checkpoint(cfg, params, vocab, state, opt_state, val, splitter)


def _validate(path, cfg, params, vocab, val):
    missing = [k for k in ("U", "V", "W") if k not in params]
    if missing:
        raise CheckpointError(f"{path}: checkpoint lacks parameters {', '.join(missing)}")
    U, V, W = params["U"], params["V"], params["W"]
    H, C = U.shape if U.ndim == 2 else (-1, -1)
    ok = (U.ndim == 2 and V.shape == (C, H) and W.shape == (H, H) and len(vocab) == C
          and list(vocab.words[:3]) == list(SPECIALS) and H == cfg.hidden_dim)
    if cfg.bias:
        ok = ok and params.get("b", np.zeros(0)).shape == (H,) and params.get("c", np.zeros(0)).shape == (C,)
    if not ok:
        raise CheckpointError(f"{path}: inconsistent checkpoint (parameter shapes, vocabulary and config disagree)")
    for k, v in params.items():
        if v.dtype.kind != "f":
            raise CheckpointError(f"{path}: parameter {k} is not floating point")
    if val is not None and len(val.ids) and (val.ids.min() < 0 or val.ids.max() >= C):
        raise CheckpointError(f"{path}: validation sentences hold ids outside the vocabulary")
    if val is not None and (val.n_sentences and (val.starts[0] != 0 or (val.lens < 2).any()
                                                 or val.starts[-1] + val.lens[-1] != len(val.ids))):
        raise CheckpointError(f"{path}: validation sentence offsets do not match the stored ids")
