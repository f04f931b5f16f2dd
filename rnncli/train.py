"""The training loop, shared by every task. It knows the task only through its
interface (batches of an epoch, loss and gradients of a batch, a validation loss,
the metrics it reports, its checkpoint section), the model only through a parameter
dict, and the processes it runs in only through a communicator (dist.py). Progress
display and interruption come in as hooks so the CLI stays thin and tests can drive it."""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field

import numpy as np

from . import checkpoint, dist
from .config import Config
from .dist import SingleProcess
from .fileio import signals_deferred
from .nn.workspace import Workspace
from .optim import Averager, Optimizer, Schedule, clip_

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


class Trainer:
    def __init__(self, cfg: Config, net, params: dict, task, output: str, state: dict | None = None,
                 opt_state: dict | None = None, hooks: Hooks | None = None, log_path: str | None = None,
                 save_best: bool = True, comm=None):
        self.cfg, self.net, self.params, self.task = cfg, net, params, task
        self.output = output
        self.comm = comm or SingleProcess()
        self.hooks = hooks or Hooks()
        self.log_path = log_path
        self.save_best = save_best
        self.state = {"epoch": 0, "batch_in_epoch": 0, "step": 0, "best_val": None,
                      "bad_epochs": 0, "history": [], "train_seconds": 0.0, **(state or {})}
        self.ws = Workspace(cfg.threads or getattr(self.comm, "threads", None))
        # The embedding gradient stays row-sparse (cleared, normed, scaled and, for plain
        # SGD, applied only on the rows a batch used) where nothing else writes into it:
        # no weight decay. With several processes the rows summed are the union of the
        # rows each process used (_allreduce_grads).
        self.grad_rows = {} if not cfg.weight_decay and "layer0.U" in params else None
        # with several processes the step's loss and token count ride along in two more slots
        self.grads, self.flat_grads = flat_zeros_like(net, params, 2 if self.comm.size > 1 else 0)
        # --average: the weights the model is (validated, saved as param.*, restored by early
        # stopping) are a moving average of the trained ones, which the checkpoint keeps as
        # opt.raw.* so that resuming continues from them
        self.avg = None
        if cfg.average:
            self.avg = {k: v.copy() for k, v in params.items()}
            raw = {k[4:]: v for k, v in (opt_state or {}).items() if k.startswith("raw.")}
            for k, v in raw.items():
                params[k][...] = v
            opt_state = {k: v for k, v in (opt_state or {}).items() if not k.startswith("raw.")}
            self.averager = Averager(self.avg, cfg.average)
        self.opt = Optimizer(cfg.optimizer, params, cfg.momentum, cfg.beta1, cfg.beta2, cfg.eps, cfg.decay,
                             cfg.weight_decay)
        if opt_state:
            self.opt.load_state(opt_state, self.state.get("opt_t", 0))
        self.opt.t = self.state.get("opt_t", 0)
        self.sched = Schedule(cfg.lr_schedule, cfg.lr, cfg.lr_factor, cfg.min_gain)
        if "schedule" in self.state:
            self.sched.load(self.state["schedule"])
        self.best_params = None
        bp = checkpoint.best_path(output)
        if cfg.patience and self.state.get("best_val") is not None and os.path.exists(bp):
            try:  # resuming: early stopping must be able to go back to the best weights
                self.best_params = net.as_layout(checkpoint.load(bp).params, np.dtype(cfg.dtype))
            except checkpoint.CheckpointError:
                pass
        if self.comm.size > 1 and self.comm.agree(cfg.patience and self.best_params is None):
            self.best_params = None      # not readable everywhere: no process goes back to it
        self.last_lr = self.sched.lr
        self._end_cost = None            # seconds of the last end of epoch (validation, checkpoints)
        self.saved_step = None  # the step at which this run last wrote self.output

    # ------------------------------------------------------------ helpers

    def _note(self, msg):
        if self.hooks.note:
            self.hooks.note(msg)

    def checkpoint(self, params=None) -> checkpoint.Checkpoint:
        st = dict(self.state, schedule=self.sched.to_dict(), opt_t=self.opt.t, lr=self.sched.lr)
        opt = self.opt.state_arrays()
        if self.avg is not None:
            opt.update({"raw." + k: v for k, v in self.params.items()})
        return checkpoint.Checkpoint(self.cfg, self.net.args, params or self.model_params, self.task.data, st, opt)

    @property
    def model_params(self) -> dict:
        """The weights that are the model: the moving average with --average, else the trained ones."""
        return self.avg if self.avg is not None else self.params

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

    # ------------------------------------------------------------ loop

    def run(self) -> Result:
        cfg, st = self.cfg, self.state
        n_target = target_epochs(cfg)
        t_start = self._t_start = time.perf_counter()
        if cfg.max_time and self._end_cost is None:
            self._end_cost = self._first_end_estimate()
        stopped = "epochs"
        while st["epoch"] < n_target:
            epoch = st["epoch"]
            batches = self.task.epoch_batches(epoch)
            if self.comm.size > 1:
                # each process draws its own dropout masks, from a stream derived from the
                # seed, the epoch, the number of processes, its rank and the batch it starts at
                drng = np.random.default_rng([cfg.seed, epoch, 1, self.comm.size, self.comm.rank,
                                              st["batch_in_epoch"]])
            elif st["batch_in_epoch"] and st.get("dropout_rng"):
                drng = np.random.default_rng()
                drng.bit_generator.state = st["dropout_rng"]
            else:
                drng = np.random.default_rng([cfg.seed, epoch, 1])
            first = st["batch_in_epoch"]
            if self.hooks.epoch_start:
                self.hooks.epoch_start(epoch, len(batches) - first, self.task.units(batches[first:]))
            t_epoch = time.perf_counter()
            t_train = 0.0
            ep_nll, ep_tok = 0.0, 0
            norms = []
            steps = []                   # (units, seconds) of each step, for the --max-time estimate
            timed_out = False
            for bi in range(first, len(batches)):
                if self.comm.agree(bool(self.hooks.should_stop and self.hooks.should_stop())):
                    st["batch_in_epoch"] = bi
                    st["dropout_rng"] = drng.bit_generator.state
                    st["train_seconds"] += t_train
                    self.save()
                    raise Interrupted()
                elapsed = time.perf_counter() - t_start
                # --max-time bounds the whole run: stop while the last step, validation and
                # the checkpoint still fit (rank 0's clock decides for every process, and sets
                # every process's learning rate)
                late = False
                if cfg.max_time:
                    elapsed, late = self.comm.broadcast((elapsed, elapsed + self._finish_estimate(steps)
                                                         >= cfg.max_time))
                if late:
                    timed_out = True
                    st["batch_in_epoch"] = bi
                    st["dropout_rng"] = drng.bit_generator.state
                    break
                t0 = time.perf_counter()
                progress = (epoch + bi / len(batches)) / n_target if n_target != math.inf else 0.0
                if cfg.max_time:
                    progress = max(progress, elapsed / cfg.max_time)
                lr = self.last_lr = self.sched.at(progress)
                nll, n_units = self.task.loss_and_grads(self.params, batches[bi], self.grads, self.ws, drng,
                                                        self.grad_rows)
                if self.comm.size > 1:
                    self.flat_grads[-2:] = nll, n_units
                # the one place where the gradients of several processes are summed
                self._allreduce_grads()
                if self.comm.size > 1:   # and the losses and token counts of their slices
                    nll, n_units = float(self.flat_grads[-2]), int(round(float(self.flat_grads[-1])))
                if not math.isfinite(nll):
                    raise Diverged(f"training diverged at epoch {epoch + 1}, step {st['step'] + 1} "
                                   f"(loss {nll}); {self.output_status()}; "
                                   f"try a smaller --lr (now {lr:g}) or a smaller --clip (now {cfg.clip:g})")
                rows = self.grad_rows or None
                norm = clip_(self.grads, cfg.clip, rows)
                norms.append(norm)
                self.opt.step(self.params, self.grads, lr, rows)
                if self.avg is not None:
                    self.averager.step(self.params, self.opt.t)
                st["step"] += 1
                ep_nll += nll
                ep_tok += n_units
                steps.append((n_units, time.perf_counter() - t0))
                t_train += steps[-1][1]
                if self.hooks.batch:
                    self.hooks.batch(n_units, ep_nll / ep_tok, lr)
            st["train_seconds"] += t_train
            if not timed_out:
                st["epoch"] += 1
                st["batch_in_epoch"] = 0
                st.pop("dropout_rng", None)
            t_end = time.perf_counter()
            stop = self._end_epoch(epoch, ep_nll, ep_tok, t_train, t_end - t_epoch, timed_out, norms)
            self._end_cost = time.perf_counter() - t_end
            if timed_out:
                stopped = "time"
                break
            if stop:
                stopped = stop
                break
        return Result(stopped, st["history"], st["best_val"])

    def _allreduce_grads(self):
        """Sum the processes' gradients (and loss and token-count slots) in place. A
        row-sparse embedding gradient is summed over the union of the rows the processes
        used only: its other rows are zero everywhere. Passing the whole (C, G*H) matrix
        through the Allreduce, and through dense clearing, norm and update afterwards,
        cost as much as the half step a second process saves (README, MPI)."""
        flat = self.flat_grads
        rec = self.grad_rows
        if self.comm.size == 1 or rec is None or "layer0.U" not in rec:
            self.comm.allreduce_(flat)
            return
        dUt = self.grads["layer0.U"].T           # (C, G*H), a contiguous stretch of flat (flat_zeros_like)
        a = (dUt.ctypes.data - flat.ctypes.data) // flat.itemsize
        used = np.zeros(len(dUt), flat.dtype)
        used[rec["layer0.U"]] = 1
        rows = np.flatnonzero(self.comm.allreduce_(used))
        for part in (flat[:a], flat[a + dUt.size:]):
            if part.size:
                self.comm.allreduce_(part)
        packed = dUt[rows]
        dUt[rows] = self.comm.allreduce_(packed)
        rec["layer0.U"] = rows                   # the rows that may be nonzero now

    def _restore_best(self) -> bool:
        """Put the best weights seen back (early stopping's): False if there are none."""
        if self.best_params is None:
            return False
        for k, v in self.best_params.items():
            self.params[k][...] = v
            if self.avg is not None:
                self.avg[k][...] = v
        return True

    def _gain_scale(self, epoch_seconds: float) -> float:
        """What --min-gain is multiplied by: 1 / the epochs the budget still holds, at most 1.
        The budget is the epochs left to --epochs and, under --max-time, the seconds left
        over this epoch's seconds, whichever is fewer; with neither (no limit), 1."""
        n = target_epochs(self.cfg)
        left = n - self.state["epoch"] if n != math.inf else math.inf
        if self.cfg.max_time and epoch_seconds > 0:
            left = min(left, (self.cfg.max_time - (time.perf_counter() - self._t_start)) / epoch_seconds)
        return 1.0 if left == math.inf else min(1.0, 1.0 / max(left, 1e-9))

    def _finish_estimate(self, steps: list) -> float:
        """Seconds that one more step, the validation pass and writing the checkpoint(s)
        will take: the mean step of this epoch (its first step, which warms caches and
        buffers up, left out) and the last end of epoch (or the first estimate)."""
        timed = steps[1:]
        step = sum(s for _, s in timed) / len(timed) if timed else 0.0
        return step + (self._end_cost or 0.0)

    def _first_end_estimate(self) -> float:
        """Time one validation pass now (its result is not used) and price writing the
        checkpoints at 50 MB/s: --max-time needs the cost of an epoch's end before the
        first epoch has ended."""
        t0 = time.perf_counter()
        self.validation_loss()
        nbytes = sum(v.nbytes for v in self.params.values()) * (2 + len(self.opt.slots[self.opt.name]))
        return time.perf_counter() - t0 + 2 * nbytes / 50e6

    def _end_epoch(self, epoch, ep_nll, ep_tok, t_train, t_epoch_so_far, partial, norms=()):
        cfg, st = self.cfg, self.state
        if self.comm.size > 1:
            self._check_replicas(epoch, partial)
        t0 = time.perf_counter()
        val = self.validation_loss()
        # A gain matters (it keeps the plateau rule's rate, and resets patience) when, kept
        # up for the epochs the budget still holds (--epochs, --max-time), it adds up to
        # --min-gain (relative): a run that still improves slowly goes on at its rate and
        # spends the budget, while one that has stopped improving (overfitting, or a rate
        # decayed to nothing) has its rate cut and then stops.
        scale = self._gain_scale(t_epoch_so_far + time.perf_counter() - t0)
        stop = None
        if not partial and self.sched.end_epoch(val, scale):
            stop = "schedule"
        best = st["best_val"]
        improved = val is not None and (best is None or val < best)
        need = cfg.min_gain * scale * abs(best or 0.0)
        gained = val is not None and (best is None or val < best - need)
        if improved:
            st["best_val"] = val
            if cfg.patience:
                self.best_params = {k: v.copy() for k, v in self.model_params.items()}
        if gained:
            st["bad_epochs"] = 0
        elif val is not None and not partial:
            st["bad_epochs"] += 1
        record = {
            "epoch": epoch + 1 if not partial else round(epoch + st["batch_in_epoch"] / max(1, self._n_batches()), 4),
            "train_loss": ep_nll / ep_tok if ep_tok else None,
            "val_loss": val,
            **self.task.metrics(val),
            "lr": self.last_lr,
            "train_tokens": ep_tok,
            "tokens_per_s": ep_tok / t_train if t_train > 0 else None,
            "partial": partial,
            # gradient norms before clipping: what --clip acts on
            "grad_norm_median": float(np.median(norms)) if len(norms) else None,
            "grad_norm_max": float(np.max(norms)) if len(norms) else None,
            "clipped_fraction": (float(np.mean(np.asarray(norms) > cfg.clip)) if len(norms) and cfg.clip > 0
                                 else 0.0),
        }
        if cfg.patience and st["bad_epochs"] >= cfg.patience:
            stop = "patience"
            if self._restore_best():
                self._note(f"no validation gain for {cfg.patience} epochs: stopping, best weights restored "
                           f"(validation loss {st['best_val']:.4f})")
        elif partial and not improved and cfg.patience and val is not None and self._restore_best():
            # --max-time ended the run mid-epoch on weights worse than the best seen: the
            # checkpoint is the best model, as when early stopping ends it
            self._note(f"time is up: best weights restored (validation loss {st['best_val']:.4f}; "
                       f"{val:.4f} at the stop)")
        record["seconds"] = round(t_epoch_so_far + time.perf_counter() - t0, 3)  # training + validation
        st["history"].append(record)
        t_save = time.perf_counter()
        best_written = improved and self.save_best and self.comm.is_writer
        if best_written:
            self.save(checkpoint.best_path(self.output))
        try:
            self.save()
        except checkpoint.CheckpointError as e:
            if not best_written:
                raise
            # e.g. a full disk with room for one checkpoint: say that the best one moved on
            raise checkpoint.CheckpointError(f"{e}; {checkpoint.best_path(self.output)} was written before and "
                                             f"holds this epoch's weights (the best so far)") from None
        # the log line also says what writing the checkpoint(s) cost, which the record
        # stored inside them cannot know
        record = dict(record, checkpoint_seconds=round(time.perf_counter() - t_save, 3))
        if self.log_path and self.comm.is_writer:
            with open(self.log_path, "a") as f:
                f.write(json.dumps(record) + "\n")
        if self.hooks.epoch_end:
            self.hooks.epoch_end(record)
        return stop

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

    def _n_batches(self):
        return self.task.n_batches()


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
