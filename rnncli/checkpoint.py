"""Self-describing ``.npz`` checkpoints, one format for every task. Plain arrays and JSON
strings only, so ``numpy.load(path, allow_pickle=False)`` reads every key; written
atomically (temporary file, fsync, rename).

Format version 2:
    format, format_version   "rnncli-model", 2
    model                    JSON: the network's constructor arguments; "network" names its
                             class in NETWORKS (absent: nn.network.Network, the language model)
    param.NAME               the network's parameters, namespaced (layer0.U, out.V, ...)
    config                   JSON: the training configuration (config.Config)
    state                    JSON: epoch, step, learning rate, best validation loss, history, ...
    opt.SLOT.NAME            optimizer state
    task                     JSON: {"kind": ..., ...} the task's own settings
    task.NAME                the task's arrays (language model: vocab, val_ids, val_offsets)

Version 1 (rnncli 0.1: U, V, W, b, c, vocab, splitter, val_ids, ...) still loads, into
the same structure, with identical results.
"""
from __future__ import annotations

import importlib
import json
import os
import zipfile
from dataclasses import dataclass, field

import numpy as np

from .config import Config
from .fileio import atomic_write_npz
from .nn.network import Network

FORMAT_NAME = "rnncli-model"
FORMAT_VERSION = 2  # bump when a reader of the old format would misread

# task kind -> "module:class" of its checkpoint section (from_section, to_section, validate)
TASKS = {"lm": "rnncli.lm.task:LMData", "forecast": "rnncli.forecast.task:ForecastData"}
# the model's "network" argument -> "module:class"; no "network" key: the language model's
NETWORKS = {"seq2seq": "rnncli.nn.seq2seq:Seq2Seq"}

# version 1 parameter names -> version 2
_V1_NAMES = {"U": "layer0.U", "W": "layer0.W", "b": "layer0.b", "V": "out.V", "c": "out.c"}


class CheckpointError(Exception):
    """A checkpoint that cannot be used, worded as one line naming the file."""


@dataclass
class Checkpoint:
    config: Config
    model: dict                                    # Network constructor arguments
    params: dict                                   # namespaced, in the kernels' layout
    task: object                                   # the task's section (lm.task.LMData, ...)
    state: dict = field(default_factory=dict)      # epoch, step, lr, best_val, history, rng, ...
    opt_state: dict = field(default_factory=dict)  # "slot.name" -> array

    def network(self):
        kind = self.model.get("network")
        if kind is None:
            return Network(**self.model)
        if kind not in NETWORKS:
            raise ValueError(f"unknown network {kind!r}; upgrade rnncli")
        return _load_class(NETWORKS[kind])(**{k: v for k, v in self.model.items() if k != "network"})

    @property
    def kind(self) -> str:
        """The task it was trained for: a key of TASKS ("lm", "forecast")."""
        for k, where in TASKS.items():
            mod, cls = where.split(":")
            if type(self.task).__module__ == mod and type(self.task).__name__ == cls:
                return k
        return "unknown"


def best_path(path: str) -> str:
    """model.npz -> model.best.npz"""
    root, ext = os.path.splitext(path)
    return root + ".best" + (ext or ".npz")


def save(path: str, ck: Checkpoint):
    meta, task_arrays = ck.task.to_section()
    arrays = {
        "format": np.array(FORMAT_NAME),
        "format_version": np.array(FORMAT_VERSION),
        "model": np.array(json.dumps(ck.model, sort_keys=True)),
        "config": np.array(ck.config.to_json()),
        "state": np.array(json.dumps(ck.state, sort_keys=True)),
        "task": np.array(json.dumps(meta, sort_keys=True)),
    }
    arrays.update({"param." + k: v for k, v in ck.params.items()})
    arrays.update({"opt." + k: v for k, v in ck.opt_state.items()})
    arrays.update({"task." + k: v for k, v in task_arrays.items()})
    try:
        atomic_write_npz(path, arrays)
    except OSError as e:
        raise CheckpointError(f"{path}: could not write the checkpoint ({e.strerror or e}); "
                              "the previous checkpoint, if any, is unchanged") from None


def _load_class(where: str):
    mod, cls = where.split(":")
    return getattr(importlib.import_module(mod), cls)


def _task_class(kind):
    return _load_class(TASKS[kind])


def _read(path: str, z) -> Checkpoint:
    """The archive's contents in the version-2 structure, before validation."""
    files = z.files
    if "format" not in files or str(z["format"]) != FORMAT_NAME:
        raise CheckpointError(f"{path}: not an rnncli checkpoint (an .npz without rnncli's keys)")
    version = int(z["format_version"])
    if version > FORMAT_VERSION:
        raise CheckpointError(f"{path}: written by a newer rnncli (format {version}; this version "
                              f"reads up to {FORMAT_VERSION}); upgrade rnncli")
    cfg = Config.from_json(str(z["config"]))
    state = json.loads(str(z["state"]))
    if version == 1:
        params = {_V1_NAMES[k]: z[k] for k in _V1_NAMES if k in files}
        opt_state = {}
        for k in files:
            if k.startswith("opt."):
                slot, name = k[4:].split(".", 1)
                opt_state[f"{slot}.{_V1_NAMES.get(name, name)}"] = z[k]
        splitter = json.loads(str(z["splitter"])) if "splitter" in files else {}
        meta = {"kind": "lm", "splitter": splitter}
        task_arrays = {k: z[k] for k in ("vocab", "val_ids", "val_offsets") if k in files}
        model = {"vocab_size": len(z["vocab"]), "hidden_dim": cfg.hidden_dim, "bias": cfg.bias}
    else:
        model = json.loads(str(z["model"]))
        params = {k[6:]: z[k] for k in files if k.startswith("param.")}
        opt_state = {k[4:]: z[k] for k in files if k.startswith("opt.")}
        meta = json.loads(str(z["task"]))
        task_arrays = {k[5:]: z[k] for k in files if k.startswith("task.")}
    if not all(isinstance(d, dict) for d in (state, meta, model)):
        raise CheckpointError(f"{path}: corrupt checkpoint (a JSON section is not an object)")
    kind = meta.get("kind")
    if kind not in TASKS:
        raise CheckpointError(f"{path}: checkpoint of an unknown task {kind!r}; upgrade rnncli")
    task = _task_class(kind).from_section(path, meta, task_arrays)
    return Checkpoint(cfg, model, params, task, state, opt_state)


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
            ck = _read(path, z)
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
    net = _validate(path, ck)
    # in the network's order: the global gradient norm sums in dict order
    ck.params = net.as_layout({k: ck.params[k] for k in net.shapes()}, np.dtype(ck.config.dtype))
    return ck


def _validate(path: str, ck: Checkpoint) -> Network:
    try:
        net = ck.network()
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: corrupt checkpoint (model arguments: {e})") from None
    want = net.shapes()
    missing = [k for k in want if k not in ck.params]
    if missing:
        raise CheckpointError(f"{path}: checkpoint lacks parameters {', '.join(missing)}")
    ok = (all(ck.params[k].shape == s for k, s in want.items()) and set(ck.params) == set(want)
          and net.H == ck.config.hidden_dim and net.bias == ck.config.bias)
    if not ok:
        raise CheckpointError(f"{path}: inconsistent checkpoint (parameter shapes, vocabulary and config disagree)")
    for k, v in ck.params.items():
        if v.dtype.kind != "f":
            raise CheckpointError(f"{path}: parameter {k} is not floating point")
    ck.task.validate(path, net)
    return net
