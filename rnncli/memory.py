"""Memory: what a run will hold, estimated from the network's parameter shapes and the
settings before anything is allocated, and what this machine can give it (MemAvailable,
and the address-space and cgroup limits where they are set). A run that cannot fit is
refused with both figures, rather than growing until the kernel stops it.

    need = training_need(net.shapes(), cfg, work)     # what -> bytes
    check(need, "try a smaller --hidden-dim ...")     # DataError when it cannot fit

The estimate counts the large arrays the code allocates (parameters and their copies:
gradients, optimizer state, weight average, best weights; the work arrays of a batch,
nn/workspace.py) and leaves out what is already in memory when it is made (the data)
and what is small; tests/cli/test_memory.py holds it against a run's actual arrays.
"""
from __future__ import annotations

import math
import os

from .errors import DataError
from .optim import Optimizer

ITEMSIZE = {"float32": 4, "float64": 8}


def parameter_count(shapes: dict) -> int:
    return sum(math.prod(s) for s in shapes.values())


def training_need(shapes: dict, cfg, work: int) -> dict:
    """What a Trainer holds (train.py, optim.py, run.py), by kind, in bytes: the
    parameters, their gradients, the optimizer's slots and its work copy, the weight
    average and its work copy (--average), the best weights kept for early stopping
    (--patience), and ``work`` bytes of work arrays."""
    p = parameter_count(shapes) * ITEMSIZE[cfg.dtype]
    return {"parameters": p, "gradients": p,
            "optimizer state": p * (len(Optimizer.slots[cfg.optimizer]) + 1),
            "weight average": 2 * p if cfg.average else 0,
            "best weights": p if cfg.patience else 0,
            "work arrays": work}


def stack_units(gates: int, backward: bool = True) -> int:
    """Numbers a layer of cells keeps per row (a token or a window's step) in its work
    arrays, in units of H: the Elman cell's input projection and, for backward, four
    (N, H) arrays; a gated cell's projection, gates and their copies for backward."""
    if not backward:
        return gates + (0 if gates == 1 else gates + 1)
    return gates + 4 if gates == 1 else 4 * gates + 4


def lm_work(args: dict, gates: int, rows: int, eval_rows: int, dropout: float, itemsize: int) -> int:
    """Work arrays of the language model (nn/network.py) for a training batch of ``rows``
    predicted tokens and a validation batch of ``eval_rows``, in bytes."""
    C, H, L = args["vocab_size"], args["hidden_dim"], args["layers"]
    per_row = H * (L * stack_units(gates) + (L > 1) + (2 * L if dropout else 0))
    if args.get("output") == "class":
        K = args["classes"]
        # the class layer is a full softmax over K; each row also holds its class's words
        per_row += K + 6 * (H + 1) + 1.5 * C / K
        fixed = 2 * K * (H + 1)
    else:
        per_row += C + 3 * (H + 1)                        # the (N, C) logits and their products
        fixed = 2 * C * (H + 1)
    scoring = eval_rows * H * L * stack_units(gates, backward=False) + 128 * C
    return int((rows * per_row + scoring + fixed) * itemsize)


def seq2seq_work(args: dict, gates: int, windows: int, history: int, horizon: int, itemsize: int) -> int:
    """Work arrays of the forecaster (nn/seq2seq.py) for a batch of ``windows`` windows,
    in bytes: both stacks over their steps, and attention's (window, step, step) scores."""
    H, L = args["hidden_dim"], args["layers"]
    rows = windows * (history + horizon)
    n = rows * H * (L * stack_units(gates) + 1 + (L > 1))
    if args.get("attention"):
        n += 4 * windows * horizon * history + 4 * windows * (history + horizon) * H
    return int(n * itemsize)


def sampling_bytes(vocab_size: int, hidden_dim: int, layers: int, gates: int, max_length: int) -> int:
    """What sampling holds per sentence, all sentences advancing together (lm/generate.py):
    its next-word log-probabilities (float64), their copy, exponentials and cumulative
    sums and a comparison (33 bytes a word), the layers' states and a step's
    projections, and its words as Python objects."""
    return 33 * vocab_size + 8 * hidden_dim * layers * (gates + 2) + 40 * max_length + 200


# ------------------------------------------------------------------ what the machine has


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except (OSError, ValueError):
        return None


def _meminfo_available() -> int | None:
    text = _read("/proc/meminfo") or ""
    for line in text.splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return None


def _address_space_left() -> int | None:
    """RLIMIT_AS (ulimit -v) less the address space this process already uses."""
    try:
        import resource
        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    except (ImportError, OSError, ValueError):
        return None
    if soft == resource.RLIM_INFINITY or soft < 0:
        return None
    used = 0
    for line in (_read("/proc/self/status") or "").splitlines():
        if line.startswith("VmSize:"):
            used = int(line.split()[1]) * 1024
    return max(0, soft - used)


def _cgroup_left() -> int | None:
    """The memory limit of this process's cgroup (v2 memory.max, v1 limit_in_bytes) less
    what it uses, page cache it could give back not counted as used."""
    text = _read("/proc/self/cgroup") or ""
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        if parts[0] == "0" and parts[1] == "":
            names = ("/sys/fs/cgroup", "memory.max", "memory.current", "inactive_file")
        elif "memory" in parts[1].split(","):
            names = ("/sys/fs/cgroup/memory", "memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file")
        else:
            continue
        root, limit_name, usage_name, cache_key = names
        for d in (root + parts[2].rstrip("/"), root):        # inside a container: the root is ours
            limit, usage = _read(os.path.join(d, limit_name)), _read(os.path.join(d, usage_name))
            if limit is None or usage is None:
                continue
            limit = limit.strip()
            if limit == "max" or not limit.isdigit() or int(limit) >= 1 << 60:
                return None
            cache = 0
            for ln in (_read(os.path.join(d, "memory.stat")) or "").splitlines():
                k, _, v = ln.partition(" ")
                if k == cache_key and v.strip().isdigit():
                    cache = int(v)
            return max(0, int(limit) - int(usage) + cache)
    return None


def available() -> tuple[int | None, str]:
    """(bytes this process can still allocate, what bounds it), or (None, "") where
    nothing says (not Linux)."""
    found = [(v, what) for v, what in ((_meminfo_available(), "available"),
                                       (_address_space_left(), "left under the address-space limit (ulimit -v)"),
                                       (_cgroup_left(), "left under the cgroup memory limit"))
             if v is not None]
    return min(found) if found else (None, "")


def size(n: float) -> str:
    """Bytes for a person: 6.1 GB, 420 MB, 12 kB."""
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}" if n < 10 * scale else f"{n / scale:,.0f} {unit}"
    return f"{int(n)} bytes"


def listed(options) -> str:
    """("-a", "-b", "-c") -> "-a, -b or -c"."""
    options = list(options)
    return options[0] if len(options) == 1 else ", ".join(options[:-1]) + " or " + options[-1]


def check(need: dict, model_options=(), batch_options=(), what: str = "this run"):
    """Raise DataError when the bytes in ``need`` (what -> bytes) add up to more than
    this machine can give, with both figures, the largest parts and the options that
    would make it smaller: ``model_options`` (the model's sizes; none when resuming)
    and, where the work arrays are a tenth of it or more, ``batch_options``."""
    total = sum(need.values())
    free, bound = available()
    if free is None or total <= free:
        return
    parts = sorted(((v, k) for k, v in need.items() if v >= total / 20), reverse=True)
    shown = ", ".join(f"{k} {size(v)}" for v, k in parts)
    options = list(model_options)
    if need.get("work arrays", 0) >= total / 10:
        options += list(batch_options)
    hint = f"try a smaller {listed(options)}" if options else "it needs a machine with more memory"
    raise DataError(f"{what} needs about {size(total)} of memory ({shown}), {size(free)} {bound}; {hint}")
