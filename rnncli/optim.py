"""Optimizers, weight averaging and learning-rate schedules. Optimizers update
parameters in place from a gradient dict; their state is a dict of arrays plus a
step count so a checkpoint can carry it. The averages (Averager, WeightAverage) follow
the trained weights after each step. Schedules are small state machines over
validation losses (per epoch) and training progress (per step)."""
from __future__ import annotations

import math

import numpy as np


def _flat(g: np.ndarray, rows) -> np.ndarray:
    """The numbers of g that can be nonzero: all (ravel(order="K") is a view for U's
    transposed layout, where vdot would copy), or only the given rows of g.T."""
    return g.ravel(order="K") if rows is None else g.T[rows].ravel()


def global_norm(grads: dict, rows: dict | None = None) -> float:
    """rows: {name: sorted distinct rows of grads[name].T outside which it is zero}."""
    rows = rows or {}
    return math.sqrt(sum(float(np.dot(f, f)) for f in (_flat(g, rows.get(k)) for k, g in grads.items())))


def clip_(grads: dict, max_norm: float, rows: dict | None = None) -> float:
    """Scale gradients so their global norm is at most max_norm; returns the norm before.
    ``rows`` as for global_norm: only those rows are read and scaled."""
    norm = global_norm(grads, rows)
    if max_norm > 0 and norm > max_norm:
        f = max_norm / (norm + 1e-12)
        for k, g in grads.items():
            r = (rows or {}).get(k)
            if r is None:
                g *= f
            else:
                g.T[r] *= f
    return norm


class Averager:
    """The weights' exponential moving average (--average), in place: avg += (1 - d) (p - avg)
    with d = min(decay, (1 + t) / (10 + t)) at step t, so that the first steps are not tied
    to the initial weights (the schedule of TensorFlow's ExponentialMovingAverage).

    A pass over every weight is not free when the vocabulary is large (1.6M weights at
    C = 8000: 0.35 ms, against a ~6 ms one-thread step), so the average takes a sample
    every ``stride`` steps, folding the steps between into one update (d ** stride): the
    stride keeps at least 128 samples within the average's horizon 1 / (1 - decay), and is 1
    (every step) for horizons under 256 steps."""

    def __init__(self, avg: dict, decay: float):
        self.avg, self.decay = avg, decay
        self.stride = max(1, int(round(1.0 / (1.0 - decay))) // 128)
        self.buf = {k: np.empty_like(v) for k, v in avg.items()}

    def step(self, params: dict, t: int):
        """After optimizer step ``t`` (1, 2, ...): update when t is a multiple of the stride."""
        if t % self.stride:
            return
        d = min(self.decay, (1.0 + t) / (10.0 + t)) ** self.stride
        for k, a in self.avg.items():
            b = self.buf[k]
            np.subtract(params[k], a, out=b)
            b *= 1.0 - d
            a += b


class WeightAverage(Averager):
    """--average: the weights that are the model (validated, saved as param.*, restored
    by early stopping) are ``avg``, a moving average of the trained ones (Averager); the
    checkpoint keeps the trained weights as its optimizer state's raw.* so that resuming
    continues from them."""

    def __init__(self, params: dict, decay: float):
        super().__init__({k: v.copy() for k, v in params.items()}, decay)

    def resume(self, params: dict, opt_state: dict | None) -> dict:
        """Put a checkpoint's trained weights (raw.*) back into ``params`` (which hold its
        model, the average); returns the rest of its optimizer state."""
        opt_state = opt_state or {}
        for k, v in opt_state.items():
            if k.startswith("raw."):
                params[k[4:]][...] = v
        return {k: v for k, v in opt_state.items() if not k.startswith("raw.")}

    @staticmethod
    def state_arrays(params: dict) -> dict:
        """The trained weights, for the checkpoint's optimizer state."""
        return {"raw." + k: v for k, v in params.items()}


class Optimizer:
    """sgd | momentum | adagrad | rmsprop | adam, updating params in place."""

    slots = {"sgd": (), "momentum": ("v",), "adagrad": ("m",), "rmsprop": ("m",), "adam": ("m", "v")}

    def __init__(self, name: str, params: dict, momentum=0.9, beta1=0.9, beta2=0.999, eps=1e-8,
                 decay=0.95, weight_decay=0.0, adagrad_init=0.0):
        if name not in self.slots:
            raise ValueError(f"unknown optimizer {name!r}")
        self.name = name
        self.momentum, self.beta1, self.beta2, self.eps, self.decay = momentum, beta1, beta2, eps, decay
        self.weight_decay = weight_decay
        self.t = 0
        self.state = {f"{s}.{k}": np.zeros_like(p) for s in self.slots[name] for k, p in params.items()}
        if name == "adagrad" and adagrad_init:
            for k in params:
                self.state[f"m.{k}"][...] = adagrad_init
        self._tmp = {k: np.empty_like(p) for k, p in params.items()}

    def state_arrays(self) -> dict:
        return dict(self.state)

    def load_state(self, arrays: dict, t: int):
        for k, v in arrays.items():
            if k not in self.state or self.state[k].shape != v.shape:
                raise ValueError(f"optimizer state {k!r} does not fit this model")
            self.state[k][...] = v
        missing = set(self.state) - set(arrays)
        if missing:
            raise ValueError(f"optimizer state lacks {sorted(missing)}")
        self.t = int(t)

    def step(self, params: dict, grads: dict, lr: float, rows: dict | None = None):
        """rows (plain SGD without weight decay only): {name: sorted distinct rows of
        grads[name].T outside which it is zero}; only those rows of the parameter move."""
        self.t += 1
        for k, p in params.items():
            g = grads[k]
            if self.weight_decay:
                g += self.weight_decay * p
            tmp = self._tmp[k]
            n = self.name
            r = (rows or {}).get(k)
            if n == "sgd" and r is not None and not self.weight_decay:
                pt = p.T
                pt[r] -= lr * g.T[r]
            elif n == "sgd":
                np.multiply(g, lr, out=tmp)
                p -= tmp
            elif n == "momentum":
                v = self.state["v." + k]
                v *= self.momentum
                np.multiply(g, lr, out=tmp)
                v -= tmp
                p += v
            elif n in ("adagrad", "rmsprop"):
                m = self.state["m." + k]
                np.multiply(g, g, out=tmp)
                if n == "rmsprop":
                    m *= self.decay
                    tmp *= 1 - self.decay
                m += tmp
                np.sqrt(m, out=tmp)
                tmp += self.eps
                np.divide(g, tmp, out=tmp)
                tmp *= lr
                p -= tmp
            else:  # adam, with bias correction folded into the step size
                m, v = self.state["m." + k], self.state["v." + k]
                b1, b2 = self.beta1, self.beta2
                m *= b1
                np.multiply(g, 1 - b1, out=tmp)
                m += tmp
                v *= b2
                np.multiply(g, g, out=tmp)
                tmp *= 1 - b2
                v += tmp
                c2 = math.sqrt(1 - b2 ** self.t)
                step = lr * c2 / (1 - b1 ** self.t)
                np.sqrt(v, out=tmp)
                tmp += self.eps * c2
                np.divide(m, tmp, out=tmp)
                tmp *= step
                p -= tmp


SCHEDULES = ("halve", "mikolov", "plateau", "cosine", "linear", "constant")   # Schedule's kinds


class Schedule:
    """Learning rate over training.

    halve     the tutorial's rule: halve the rate after an epoch whose validation loss rose
    mikolov   RNNLM's: once an epoch improves validation loss by less than ``min_gain``
              (relative), halve the rate every epoch; the next such epoch stops training
    plateau   multiply the rate by ``factor`` after an epoch that does not improve the best
              validation loss by ``min_gain`` (relative) times ``scale`` (the trainer's:
              1 / the epochs its budget still holds)
    cosine    cosine decay to zero over the horizon (epochs, or --max-time)
    linear    linear decay to zero over the horizon
    constant  never changes
    """

    def __init__(self, kind: str, lr: float, factor: float = 0.25, min_gain: float = 0.003):
        self.kind, self.base_lr, self.factor, self.min_gain = kind, lr, factor, min_gain
        self.lr = lr              # the rate for the coming epoch (before any per-step decay)
        self.prev = None          # previous epoch's validation loss
        self.best = None
        self.halving = False

    def at(self, progress: float) -> float:
        """The rate for a step at ``progress`` in [0, 1] of the horizon."""
        p = min(max(progress, 0.0), 1.0)
        if self.kind == "cosine":
            return self.lr * 0.5 * (1 + math.cos(math.pi * p))
        if self.kind == "linear":
            return self.lr * (1 - p)
        return self.lr

    def end_epoch(self, val: float | None, scale: float = 1.0) -> bool:
        """Update after an epoch's validation loss; True means stop training."""
        stop = False
        if val is None:
            return False
        k = self.kind
        if k == "halve" and self.prev is not None and val > self.prev:
            self.lr *= 0.5
        elif k == "mikolov" and self.prev is not None:
            small = (self.prev - val) < self.min_gain * abs(self.prev)
            if self.halving and small:
                stop = True
            elif small:
                self.halving = True
            if self.halving and not stop:
                self.lr *= 0.5
        elif k == "plateau" and self.best is not None:
            if (self.best - val) < self.min_gain * scale * abs(self.best):
                self.lr *= self.factor
        self.prev = val
        self.best = val if self.best is None else min(self.best, val)
        return stop

    def to_dict(self) -> dict:
        return {"kind": self.kind, "lr": self.lr, "prev": self.prev, "best": self.best,
                "halving": self.halving}

    def load(self, d: dict):
        self.lr, self.prev, self.best, self.halving = d["lr"], d["prev"], d["best"], d["halving"]
