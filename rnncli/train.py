"""The training loop, shared by every task: steps, epochs and stopping. It knows the
task only through its interface (batches of an epoch, loss and gradients of a batch, a
validation loss, the metrics it reports, its checkpoint section), the model only through
a parameter dict, and the processes it runs in only through a communicator (dist.py),
which also sums the gradients. The time budget, the best weights and the log (run.py)
and the weight average (optim.WeightAverage) are small objects it calls at fixed points.
Progress display and interruption come in as hooks so the CLI stays thin and tests can
drive it."""
from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from . import checkpoint, dist
from .config import Config
from .dist import SingleProcess
from .errors import WriteError
from .fileio import signals_deferred
from .nn.workspace import Workspace
from .optim import Optimizer, Schedule, WeightAverage, clip_
from .run import BestWeights, JsonLog, TimeBudget

DEFAULT_EPOCHS = 10


class Diverged(Exception):
    pass


class Interrupted(Exception):
    pass


class ReplicasDiffer(Diverged):
    """Processes that should hold identical parameters do not (dist.checksum)."""


@dataclass
class Hooks:
    """Callbacks for display; every one optional."""
    epoch_start: object = None     # (epoch, n_batches, n_tokens)
    batch: object = None           # (tokens, running_loss, lr)
    epoch_end: object = None       # (record dict)
    note: object = None            # (message)
    should_stop: object = None     # () -> bool, polled between batches
    saved: object = None           # (path)


@dataclass
class Result:
    stopped: str                   # "epochs", "time", "schedule", "patience", "interrupted"
    history: list = field(default_factory=list)
    best_val: float | None = None


def target_epochs(cfg: Config) -> float:
    if cfg.epochs is not None:
        return cfg.epochs
    return math.inf if cfg.max_time else DEFAULT_EPOCHS


class EpochTotals(NamedTuple):
    """What the steps of one (part of an) epoch add up to."""
    nll: float                     # summed loss
    units: int                     # the tokens (or values) it is summed over
    seconds: float                 # in the steps
    norms: list                    # gradient norms before clipping, one a step
    stopped_at: int | None         # the batch --max-time stopped before; None: the epoch ended


class Trainer:
    """Steps, epochs and stopping. The time budget, the weight average, the best
    weights and the log are collaborators it calls (run.py, optim.WeightAverage); the
    communicator sums the gradients."""

    def __init__(self, cfg: Config, net, params: dict, task, output: str, state: dict | None = None,
                 opt_state: dict | None = None, hooks: Hooks | None = None, log_path: str | None = None,
                 save_best: bool = True, comm=None):
        self.cfg, self.net, self.params, self.task = cfg, net, params, task
        self.output = output
        self.comm = comm or SingleProcess()
        self.hooks = hooks or Hooks()
        self.log = JsonLog(log_path if self.comm.is_writer else None)
        self.state = {"epoch": 0, "batch_in_epoch": 0, "step": 0, "best_val": None,
                      "bad_epochs": 0, "history": [], "train_seconds": 0.0, **(state or {})}
        self.ws = Workspace(cfg.threads or getattr(self.comm, "threads", None))
        # The embedding gradient stays row-sparse (cleared, normed, scaled and, for plain
        # SGD, applied only on the rows a batch used) where nothing else writes into it:
        # no weight decay. With several processes the rows summed are the union of the
        # rows each process used (comm.sum_gradients).
        self.grad_rows = {} if not cfg.weight_decay and "layer0.U" in params else None
        # with several processes the step's loss and token count ride along in two more slots
        self.grads, self.flat_grads = flat_zeros_like(net, params, 2 if self.comm.size > 1 else 0)
        self.averaging = None
        if cfg.average:
            self.averaging = WeightAverage(params, cfg.average)
            opt_state = self.averaging.resume(params, opt_state)
        self.opt = Optimizer(cfg.optimizer, params, cfg.momentum, cfg.beta1, cfg.beta2, cfg.eps, cfg.decay,
                             cfg.weight_decay)
        if opt_state:
            self.opt.load_state(opt_state, self.state.get("opt_t", 0))
        self.opt.t = self.state.get("opt_t", 0)
        self.sched = Schedule(cfg.lr_schedule, cfg.lr, cfg.lr_factor, cfg.min_gain)
        if "schedule" in self.state:
            self.sched.load(self.state["schedule"])
        self.best = BestWeights(output, keep=bool(cfg.patience), write=save_best)
        if cfg.patience and self.state.get("best_val") is not None:
            self.best.load(net, np.dtype(cfg.dtype))  # resuming: early stopping must be able to go back
        self.budget = TimeBudget(cfg.max_time, target_epochs(cfg))
        self.last_lr = self.sched.lr
        self.saved_step = None  # the step at which this run last wrote self.output

    # ------------------------------------------------------------ helpers

    def _note(self, msg):
        if self.hooks.note:
            self.hooks.note(msg)

    def checkpoint(self, params=None) -> checkpoint.Checkpoint:
        st = dict(self.state, schedule=self.sched.to_dict(), opt_t=self.opt.t, lr=self.sched.lr)
        opt = self.opt.state_arrays()
        if self.averaging is not None:
            opt.update(self.averaging.state_arrays(self.params))
        return checkpoint.Checkpoint(self.cfg, self.net.args, params or self.model_params, self.task.data, st, opt)

    @property
    def model_params(self) -> dict:
        """The weights that are the model: the moving average with --average, else the trained ones."""
        return self.averaging.avg if self.averaging is not None else self.params

    def save(self, path=None, params=None):
        if not self.comm.is_writer:
            return
        path = path or self.output
        if not all(np.isfinite(v).all() for v in (params or self.params).values()):
            raise Diverged(f"training diverged (the parameters hold NaN or infinite values after step "
                           f"{self.state['step']}); {self.output_status()}; try a "
                           f"smaller --lr (now {self.last_lr:g}) or a smaller --clip (now {self.cfg.clip:g})")
        with signals_deferred():  # a second Ctrl-C waits until the file and our record of it agree
            checkpoint.save(path, self.checkpoint(params))
            if path == self.output:
                self.saved_step = self.state["step"]
        if self.hooks.saved:
            self.hooks.saved(path)

    def output_status(self) -> str:
        """What is true of the checkpoint file now, for a message about stopping early."""
        if self.saved_step is not None:
            return f"the last good checkpoint {self.output} (step {self.saved_step}) is unchanged"
        if os.path.exists(self.output):
            return f"{self.output} was not written by this run and is unchanged"
        return f"no checkpoint was written ({self.output} does not exist)"

    def validation_loss(self) -> float | None:
        return self.task.validation_loss(self.model_params, self.ws)

    def _restore_best(self) -> bool:
        """Put the best weights seen back (early stopping's): False if there are none."""
        if self.averaging is None:
            return self.best.restore(self.params)
        return self.best.restore(self.params, self.averaging.avg)

    # ------------------------------------------------------------ loop

    def run(self) -> Result:
        st = self.state
        # here, not in __init__, so that building a Trainer runs no collective (dist.settle)
        if self.comm.size > 1 and self.comm.agree(self.cfg.patience and self.best.params is None):
            self.best.params = None      # not readable everywhere: no process goes back to it
        nbytes = sum(v.nbytes for v in self.params.values()) * (2 + len(self.opt.slots[self.opt.name]))
        self.budget.start(self.validation_loss, nbytes)
        stopped = "epochs"
        while st["epoch"] < self.budget.n_epochs:
            stop = self._epoch()
            if stop:
                stopped = stop
                break
        return Result(stopped, st["history"], st["best_val"])

    def _epoch(self) -> str | None:
        """Train the rest of the current epoch and end it: why training stops, or None."""
        st = self.state
        epoch, first = st["epoch"], st["batch_in_epoch"]
        batches = self.task.epoch_batches(epoch)
        drng = self._dropout_rng(epoch)
        if self.hooks.epoch_start:
            self.hooks.epoch_start(epoch, len(batches) - first, self.task.units(batches[first:]))
        t_epoch = time.perf_counter()
        totals = self._steps(epoch, batches, drng)
        st["train_seconds"] += totals.seconds
        timed_out = totals.stopped_at is not None
        if timed_out:
            st["batch_in_epoch"] = totals.stopped_at
            st["dropout_rng"] = drng.bit_generator.state
        else:
            st["epoch"] += 1
            st["batch_in_epoch"] = 0
            st.pop("dropout_rng", None)
        t_end = time.perf_counter()
        stop = self._end_epoch(epoch, totals, t_end - t_epoch, timed_out)
        self.budget.epoch_ended(time.perf_counter() - t_end)
        return "time" if timed_out else stop

    def _dropout_rng(self, epoch: int):
        st, comm = self.state, self.comm
        if comm.size > 1:
            # each process draws its own dropout masks, from a stream derived from the
            # seed, the epoch, the number of processes, its rank and the batch it starts at
            return np.random.default_rng([self.cfg.seed, epoch, 1, comm.size, comm.rank, st["batch_in_epoch"]])
        if st["batch_in_epoch"] and st.get("dropout_rng"):
            drng = np.random.default_rng()
            drng.bit_generator.state = st["dropout_rng"]
            return drng
        return np.random.default_rng([self.cfg.seed, epoch, 1])

    def _steps(self, epoch: int, batches: list, drng) -> EpochTotals:
        """One step per batch from the state's batch_in_epoch to the end of the epoch, or
        until --max-time says stop; saves and raises Interrupted when should_stop says so."""
        st, comm, budget, hooks = self.state, self.comm, self.budget, self.hooks
        n = len(batches)
        ep_nll, ep_units, t_train = 0.0, 0, 0.0
        norms = []
        budget.new_epoch()
        for bi in range(st["batch_in_epoch"], n):
            if comm.agree(bool(hooks.should_stop and hooks.should_stop())):
                st["batch_in_epoch"] = bi
                st["dropout_rng"] = drng.bit_generator.state
                st["train_seconds"] += t_train
                self.save()
                raise Interrupted()
            elapsed = time.perf_counter() - budget.t_start
            if budget.max_time:
                # --max-time bounds the whole run: stop while the last step, validation and
                # the checkpoint still fit (rank 0's clock decides for every process, and sets
                # every process's learning rate)
                elapsed, late = comm.broadcast((elapsed, budget.late(elapsed)))
                if late:
                    return EpochTotals(ep_nll, ep_units, t_train, norms, bi)
            t0 = time.perf_counter()
            lr = self.last_lr = self.sched.at(budget.progress(epoch + bi / n, elapsed))
            nll, n_units, norm = self._step(batches[bi], drng, lr, epoch)
            norms.append(norm)
            ep_nll += nll
            ep_units += n_units
            dt = time.perf_counter() - t0
            budget.step_taken(dt)
            t_train += dt
            if hooks.batch:
                hooks.batch(n_units, ep_nll / ep_units, lr)
        return EpochTotals(ep_nll, ep_units, t_train, norms, None)

    def _step(self, batch, drng, lr: float, epoch: int) -> tuple[float, int, float]:
        """One optimizer step on one batch: (summed loss, units, gradient norm before clipping)."""
        comm, flat = self.comm, self.flat_grads
        nll, n_units = self.task.loss_and_grads(self.params, batch, self.grads, self.ws, drng, self.grad_rows)
        if comm.size > 1:
            flat[-2:] = nll, n_units
        # the one place where the gradients of several processes are summed
        comm.sum_gradients(flat, self.grads, self.grad_rows)
        if comm.size > 1:   # and the losses and token counts of their slices
            nll, n_units = float(flat[-2]), int(round(float(flat[-1])))
        if not math.isfinite(nll):
            raise Diverged(f"training diverged at epoch {epoch + 1}, step {self.state['step'] + 1} "
                           f"(loss {nll}); {self.output_status()}; "
                           f"try a smaller --lr (now {lr:g}) or a smaller --clip (now {self.cfg.clip:g})")
        rows = self.grad_rows or None
        norm = clip_(self.grads, self.cfg.clip, rows)
        self.opt.step(self.params, self.grads, lr, rows)
        if self.averaging is not None:
            self.averaging.step(self.params, self.opt.t)
        self.state["step"] += 1
        return nll, n_units, norm

    def _end_epoch(self, epoch: int, totals: EpochTotals, seconds: float, partial: bool) -> str | None:
        """Validate, apply the schedule and early stopping, save and log; ``seconds`` of
        the epoch so far. Returns why training stops, or None."""
        if self.comm.size > 1:
            self._check_replicas(epoch, partial)
        t0 = time.perf_counter()
        val = self.validation_loss()
        # A gain matters (it keeps the plateau rule's rate, and resets patience) when, kept
        # up for the epochs the budget still holds (--epochs, --max-time), it adds up to
        # --min-gain (relative): a run that still improves slowly goes on at its rate and
        # spends the budget, while one that has stopped improving (overfitting, or a rate
        # decayed to nothing) has its rate cut and then stops.
        scale = self.budget.gain_scale(self.state["epoch"], seconds + time.perf_counter() - t0)
        stop = "schedule" if not partial and self.sched.end_epoch(val, scale) else None
        improved = self._judge(val, scale, partial)
        record = self._record(epoch, totals, val, partial)
        stop = self._stop_early(val, improved, partial) or stop
        record["seconds"] = round(seconds + time.perf_counter() - t0, 3)  # training + validation
        self.state["history"].append(record)
        t_save = time.perf_counter()
        self.best.save_epoch(self.save, improved)
        # the log line also says what writing the checkpoint(s) cost, which the record
        # stored inside them cannot know
        record = dict(record, checkpoint_seconds=round(time.perf_counter() - t_save, 3))
        try:
            self.log.write(record)
        except WriteError as e:
            raise WriteError(f"{e}; the checkpoint {self.output} was written (epoch {record['epoch']})") from None
        if self.hooks.epoch_end:
            self.hooks.epoch_end(record)
        return stop

    def _judge(self, val: float | None, scale: float, partial: bool) -> bool:
        """Keep the best validation loss (and weights) and count the epochs without a gain
        of --min-gain times ``scale``; returns whether ``val`` is the best so far."""
        st = self.state
        best = st["best_val"]
        improved = val is not None and (best is None or val < best)
        need = self.cfg.min_gain * scale * abs(best or 0.0)
        gained = val is not None and (best is None or val < best - need)
        if improved:
            st["best_val"] = val
            self.best.improved(self.model_params)
        if gained:
            st["bad_epochs"] = 0
        elif val is not None and not partial:
            st["bad_epochs"] += 1
        return improved

    def _stop_early(self, val: float | None, improved: bool, partial: bool) -> str | None:
        """--patience: stop after that many epochs without a gain, the best weights
        restored; also restore them when --max-time ended the run on worse weights."""
        cfg, st = self.cfg, self.state
        if cfg.patience and st["bad_epochs"] >= cfg.patience:
            if self._restore_best():
                self._note(f"no validation gain for {cfg.patience} epochs: stopping, best weights restored "
                           f"(validation loss {st['best_val']:.4f})")
            return "patience"
        if partial and not improved and cfg.patience and val is not None and self._restore_best():
            # --max-time ended the run mid-epoch on weights worse than the best seen: the
            # checkpoint is the best model, as when early stopping ends it
            self._note(f"time is up: best weights restored (validation loss {st['best_val']:.4f}; "
                       f"{val:.4f} at the stop)")
        return None

    def _record(self, epoch: int, totals: EpochTotals, val: float | None, partial: bool) -> dict:
        """The epoch's record: history in the checkpoint, the log line, the display."""
        cfg, nll, units, norms = self.cfg, totals.nll, totals.units, totals.norms
        if partial:   # how far into the epoch --max-time stopped it
            epoch_done = round(epoch + self.state["batch_in_epoch"] / max(1, self.task.n_batches()), 4)
        else:
            epoch_done = epoch + 1
        return {
            "epoch": epoch_done,
            "train_loss": nll / units if units else None,
            "val_loss": val,
            **self.task.metrics(val),
            "lr": self.last_lr,
            "train_tokens": units,
            "tokens_per_s": units / totals.seconds if totals.seconds > 0 else None,
            "partial": partial,
            # gradient norms before clipping: what --clip acts on
            "grad_norm_median": float(np.median(norms)) if len(norms) else None,
            "grad_norm_max": float(np.max(norms)) if len(norms) else None,
            "clipped_fraction": (float(np.mean(np.asarray(norms) > cfg.clip)) if len(norms) and cfg.clip > 0
                                 else 0.0),
        }

    def _check_replicas(self, epoch, partial):
        """Every process must hold the same parameters (the same summed gradients, the
        same optimizer step): compared at every epoch's end, before anything is saved."""
        sums = self.comm.allgather(dist.checksum(self.params))
        odd = [r for r, c in enumerate(sums) if c != sums[0]]
        if odd:
            where = f"epoch {epoch + 1}" + (" (stopped by --max-time)" if partial else "")
            raise ReplicasDiffer(f"the parameters of rank{'s' if len(odd) > 1 else ''} {', '.join(map(str, odd))} "
                                 f"differ from rank 0's at the end of {where} (checksums "
                                 f"{sums[odd[0]][:12]} vs {sums[0][:12]}): the processes no longer train one "
                                 f"model; stopping; the last checkpoint {self.output} is unchanged")


def flat_zeros_like(net, params: dict, extra: int = 0):
    """Zeroed gradients shaped and laid out like ``params``, all views into one flat
    buffer (returned too, with ``extra`` more slots at its end) so a communicator can
    sum them in one call, without copies."""
    flat = np.zeros(sum(v.size for v in params.values()) + extra, next(iter(params.values())).dtype)
    grads, i = {}, 0
    for k, v in params.items():
        view = flat[i:i + v.size]
        # embeddings keep their transposed layout (nn/layers.py)
        grads[k] = view.reshape(v.shape[::-1]).T if k in net.embeddings else view.reshape(v.shape)
        i += v.size
    return grads, flat
