"""Self-describing ``.npz`` checkpoints, one format for every task. Plain arrays and JSON
strings only, so ``numpy.load(path, allow_pickle=False)`` reads every key; written
atomically (temporary file, fsync, rename).

Format version 3:
    format, format_version   "rnncli-model", 3
    model                    JSON: the network's constructor arguments, the model's one
                             definition; "network" names its class in NETWORKS (absent:
                             nn.network.Network, the language model)
    param.NAME               the network's parameters, namespaced (layer0.U, out.V, ...)
    config                   JSON: the training settings (config.Config)
    state                    JSON: epoch, step, learning rate, best validation loss, history, ...
    opt.SLOT.NAME            optimizer state
    task                     JSON: {"kind": ..., "settings": ..., ...} the task's own section
                             (SECTIONS), with the settings that define its data
    task.NAME                the task's arrays (language model: vocab, val_ids, val_offsets)

Version 2 had the same keys, but its config also held the model's arguments (again)
and the language model's tokenizer settings: they are read from there (a version-2
reader would read a version-3 file's missing tokenizer settings as defaults: hence
the new number). Version 1 (rnncli 0.1: U, V, W, b, c, vocab, splitter, val_ids, ...)
still loads too, into the same structure, with identical results.
"""
from __future__ import annotations

import json
import math
import os
import zipfile
from dataclasses import dataclass, field

import numpy as np

from .config import RANGES, Config, known_fields
from .errors import CheckpointError, corrupt
from .fileio import NpzError, atomic_write_npz, npz_headers, write_failed
from .forecast.task import ForecastData
from .lm.task import LMData
from .nn.network import Network
from .nn.seq2seq import Seq2Seq
from .optim import Optimizer
from .registry import problem

FORMAT_NAME = "rnncli-model"
FORMAT_VERSION = 3  # bump when a reader of the old format would misread

# task kind -> its checkpoint section (from_section, to_section, validate). A plain table:
# the sections never import this module (their errors are errors.py's), so no cycle.
SECTIONS = {"lm": LMData, "forecast": ForecastData}
# the model's "network" argument -> its class; no "network" key: the language model's
NETWORKS = {"seq2seq": Seq2Seq}

# version 1 parameter names -> version 2
_V1_NAMES = {"U": "layer0.U", "W": "layer0.W", "b": "layer0.b", "V": "out.V", "c": "out.c"}


@dataclass
class Checkpoint:
    config: Config
    model: dict                                    # the network's constructor arguments
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
        return NETWORKS[kind](**{k: v for k, v in self.model.items() if k != "network"})

    @property
    def kind(self) -> str:
        """The task it was trained for: a key of SECTIONS ("lm", "forecast")."""
        return next((k for k, cls in SECTIONS.items() if type(self.task) is cls), "unknown")


@dataclass
class LegacyModel:
    """What the config of a version 1-2 checkpoint also said about the model (Config's
    fields and defaults of then; softmax "full": written before the class softmax was
    the default). It must agree with the model's arguments, as it had to then."""
    hidden_dim: int = 100
    bias: bool = False
    cell: str = "rnn"
    activation: str = "tanh"
    layers: int = 1
    softmax: str = "full"
    classes: int | None = None

    ranges = {"hidden_dim": (1, None, False, False)}   # a class attribute: no annotation, no field

    def agrees(self, net) -> bool:
        if "network" in net.args:                  # forecasting: its config knew size and biases
            return net.H == self.hidden_dim and net.bias == self.bias
        return (all(net.args[k] == getattr(self, k) for k in ("hidden_dim", "bias", "cell", "activation", "layers"))
                and net.args["output"] == self.softmax)


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
        raise CheckpointError(write_failed(path, "the checkpoint", e)) from None


def _string(path, z, key) -> str:
    a = z[key]
    if a.shape != () or a.dtype.kind != "U":
        raise corrupt(path, f"{key} is not a string")
    return str(a)


def _json_object(path, z, key) -> dict:
    try:
        d = json.loads(_string(path, z, key))
    except (ValueError, RecursionError):
        raise corrupt(path, f"{key} is not valid JSON") from None
    if not isinstance(d, dict):
        raise corrupt(path, f"{key} is not a JSON object")
    return d


def _version(path: str, z) -> int:
    files = z.files
    if "format" not in files or z["format"].dtype.kind != "U" or str(z["format"]) != FORMAT_NAME:
        raise CheckpointError(f"{path}: not an rnncli checkpoint (an .npz without rnncli's keys)")
    fv = z["format_version"] if "format_version" in files else None
    if fv is None or fv.shape != () or fv.dtype.kind not in "iu":
        raise corrupt(path, "format_version is not an integer")
    version = int(fv)
    if version > FORMAT_VERSION:
        raise CheckpointError(f"{path}: written by a newer rnncli (format {version}; this version "
                              f"reads up to {FORMAT_VERSION}); upgrade rnncli")
    for key in ("config", "state") + (("model", "task") if version >= 2 else ("vocab",)):
        if key not in files:
            raise corrupt(path, f"{key} is missing")
    return version


def _sections_v1(path: str, z):
    """A version-1 archive's parameters, optimizer state and task section, renamed."""
    files = z.files
    params = {_V1_NAMES[k]: z[k] for k in _V1_NAMES if k in files}
    opt_state = {}
    for k in files:
        if k.startswith("opt."):
            slot, _, name = k[4:].partition(".")
            opt_state[f"{slot}.{_V1_NAMES.get(name, name)}"] = z[k]
    meta = {"kind": "lm", "splitter": _json_object(path, z, "splitter") if "splitter" in files else {}}
    task_arrays = {k: z[k] for k in ("vocab", "val_ids", "val_offsets") if k in files}
    return params, opt_state, meta, task_arrays


def _read(path: str, z) -> tuple[Checkpoint, LegacyModel | None]:
    """The archive's contents in the current structure, before validation, and what a
    version 1-2 config said of the model (None for version 3)."""
    version = _version(path, z)
    raw = _json_object(path, z, "config")
    cfg = Config.from_dict(raw)
    legacy = LegacyModel(**known_fields(LegacyModel, raw)) if version < 3 else None
    trouble = problem(cfg, RANGES) or (problem(legacy, LegacyModel.ranges) if legacy else None)
    if trouble:
        raise corrupt(path, "config: " + trouble)
    state = _json_object(path, z, "state")
    trouble = state_problem(state)
    if trouble:
        raise corrupt(path, "state: " + trouble)
    if version == 1:
        params, opt_state, meta, task_arrays = _sections_v1(path, z)
    else:
        files = z.files
        model = _json_object(path, z, "model")
        params = {k[6:]: z[k] for k in files if k.startswith("param.")}
        opt_state = {k[4:]: z[k] for k in files if k.startswith("opt.")}
        meta = _json_object(path, z, "task")
        task_arrays = {k[5:]: z[k] for k in files if k.startswith("task.")}
    kind = meta.get("kind")
    if not isinstance(kind, str) or kind not in SECTIONS:
        raise CheckpointError(f"{path}: checkpoint of an unknown task {kind!r}; upgrade rnncli")
    task = SECTIONS[kind].from_section(path, meta, task_arrays, raw if version < 3 else None)
    if version == 1:
        model = {"vocab_size": len(task.vocab), "hidden_dim": legacy.hidden_dim, "bias": legacy.bias}  # Elman, 1 layer
    return Checkpoint(cfg, model, params, task, state, opt_state), legacy


# state key -> what it must be; other keys are kept as they are
_COUNTS = ("epoch", "step", "batch_in_epoch", "bad_epochs", "opt_t")
_RECORD_NUMBERS = ("epoch", "train_loss", "val_loss", "val_ppl", "lr", "tokens_per_s", "seconds")


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _finite(v) -> bool:
    return _is_number(v) and math.isfinite(v)


def state_problem(st: dict) -> str | None:
    """What in a checkpoint's training state no run could have written, or None."""
    for k in _COUNTS:
        if k in st and not (isinstance(st[k], int) and not isinstance(st[k], bool) and st[k] >= 0):
            return f"{k} is {st[k]!r}, not a count"
    if "lr" in st and not (_finite(st["lr"]) and st["lr"] >= 0):
        return f"lr is {st['lr']!r}"
    if "train_seconds" in st and not (_finite(st["train_seconds"]) and st["train_seconds"] >= 0):
        return f"train_seconds is {st['train_seconds']!r}"
    if st.get("best_val") is not None and not _finite(st["best_val"]):
        return f"best_val is {st['best_val']!r}"
    hist = st.get("history", [])
    if not isinstance(hist, list) or not all(isinstance(r, dict) for r in hist):
        return "history is not a list of records"
    for r in hist:  # history figures may be infinite (an overflowing gradient norm), never text
        for k in _RECORD_NUMBERS:
            if r.get(k) is not None and not _is_number(r[k]):
                return f"history {k} is {r[k]!r}"
    if "schedule" in st:
        sch = st["schedule"]
        if not (isinstance(sch, dict) and _finite(sch.get("lr")) and sch["lr"] >= 0
                and isinstance(sch.get("halving"), bool)
                and all(sch.get(k) is None or _finite(sch.get(k)) for k in ("prev", "best"))
                and "prev" in sch and "best" in sch):
            return "schedule is not a learning-rate schedule's state"
    if "dropout_rng" in st:
        try:
            np.random.default_rng().bit_generator.state = st["dropout_rng"]
        except (TypeError, ValueError, KeyError, AttributeError, OverflowError):
            return "dropout_rng is not a random generator's state"
    return None


_MODEL_TYPES = {"vocab_size": int, "hidden_dim": int, "cell": str, "activation": str, "layers": int, "bias": bool,
                "output": str, "classes": int, "class_of": list}


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
        npz_headers(path)  # shapes and types checked before any array is allocated
        with np.load(path, allow_pickle=False) as z:
            ck, legacy = _read(path, z)
    except CheckpointError:
        raise
    except NpzError as e:
        raise corrupt(path, str(e)) from None
    except MemoryError:
        raise CheckpointError(f"{path}: not enough memory to load this checkpoint") from None
    except (zipfile.BadZipFile, EOFError) as e:
        raise CheckpointError(f"{path}: corrupt or truncated checkpoint ({e})") from None
    except ValueError as e:
        msg = str(e)
        if "pickle" in msg.lower():
            raise CheckpointError(f"{path}: holds pickled objects; refusing to unpickle it") from None
        raise CheckpointError(f"{path}: corrupt or truncated checkpoint ({msg})") from None
    except (OSError, KeyError, TypeError, AttributeError, RecursionError, OverflowError) as e:
        raise CheckpointError(f"{path}: corrupt or unreadable checkpoint ({type(e).__name__}: {e})") from None
    net = _validate(path, ck, legacy)
    # in the network's order: the global gradient norm sums in dict order
    ck.params = net.as_layout({k: ck.params[k] for k in net.shapes()}, np.dtype(ck.config.dtype))
    return ck


def _validate(path: str, ck: Checkpoint, legacy: LegacyModel | None = None):
    lm = "network" not in ck.model                   # the language model's Network (else NETWORKS)
    for k, v in (ck.model.items() if lm else ()):
        t = _MODEL_TYPES.get(k)
        if t is None:
            raise corrupt(path, f"unknown model argument {k!r}; written by a newer rnncli?")
        if not isinstance(v, t) or (t is int and isinstance(v, bool)):
            raise corrupt(path, f"model argument {k} is {v!r}")
    try:
        net = ck.network()
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: corrupt checkpoint (model arguments: {e})") from None
    want = net.shapes()
    missing = [k for k in want if k not in ck.params]
    if missing:
        raise CheckpointError(f"{path}: checkpoint lacks parameters {', '.join(missing)}")
    consistent = legacy is None or legacy.agrees(net)
    ok = all(ck.params[k].shape == s for k, s in want.items()) and set(ck.params) == set(want) and consistent
    if not ok:
        raise CheckpointError(f"{path}: inconsistent checkpoint (parameter shapes, vocabulary and config disagree)")
    for k, v in ck.params.items():
        if v.dtype.kind != "f":
            raise CheckpointError(f"{path}: parameter {k} is not floating point")
        if not np.isfinite(v).all():
            raise CheckpointError(f"{path}: parameter {k} holds NaN or infinite values; this model cannot be "
                                  "used (its training diverged, or the file was altered)")
    if ck.opt_state:
        slots = Optimizer.slots.get(ck.config.optimizer, ())
        if ck.config.average:
            slots = slots + ("raw",)        # --average keeps the trained (not averaged) weights
        fits = set(ck.opt_state) == {f"{s}.{k}" for s in slots for k in want}
        if not fits or not all(v.dtype.kind == "f" and v.shape == want[k.split(".", 1)[1]]
                               for k, v in ck.opt_state.items()):
            raise corrupt(path, f"optimizer state does not fit the model and --optimizer {ck.config.optimizer}")
        for k, v in ck.opt_state.items():
            if not np.isfinite(v).all():
                raise corrupt(path, f"optimizer state {k} holds NaN or infinite values")
    ck.task.validate(path, net)
    return net
