"""What a training run keeps beside its steps, as small objects the Trainer (train.py)
calls at fixed points of the loop:

    TimeBudget    --epochs and --max-time: when to stop before time runs out, where
                  the run is on the schedule's horizon, how much a gain must be worth
    BestWeights   the best weights seen: kept for early stopping, written to
                  OUTPUT.best.npz
    JsonLog       --log: one JSON line per epoch

None of them steps the model or talks to other processes; the Trainer does both.
"""
from __future__ import annotations

import json
import math
import os
import time

from . import checkpoint
from .errors import WriteError

# what writing a checkpoint is priced at before one has been written (bytes/s)
WRITE_SPEED = 50e6


class TimeBudget:
    """The run's budget: ``n_epochs`` (math.inf: none) and ``max_time`` seconds from
    ``start`` (0 or None: none). Under --max-time the run stops while one more step, the
    validation pass and the checkpoints still fit: a step costs the mean step of this
    epoch (its first step, which warms caches and buffers up, left out) and the end of
    an epoch what the last one cost."""

    def __init__(self, max_time: float | None, n_epochs: float):
        self.max_time, self.n_epochs = max_time, n_epochs
        self.t_start = None
        self.end_cost = None            # seconds of the last end of epoch (validation, checkpoints)
        self.n_steps = 0                # steps of this epoch, and their seconds after the first
        self.step_seconds = 0.0

    def start(self, validate, checkpoint_bytes: int):
        """The clock starts. --max-time needs the cost of an epoch's end before the first
        epoch has ended: one validation pass is timed now (its result is not used) and
        writing the checkpoints priced at WRITE_SPEED."""
        self.t_start = time.perf_counter()
        if self.max_time and self.end_cost is None:
            t0 = time.perf_counter()
            validate()
            self.end_cost = time.perf_counter() - t0 + 2 * checkpoint_bytes / WRITE_SPEED

    def new_epoch(self):
        self.n_steps, self.step_seconds = 0, 0.0

    def step_taken(self, seconds: float):
        if self.n_steps:
            self.step_seconds += seconds
        self.n_steps += 1

    def epoch_ended(self, end_seconds: float):
        """What this epoch's end (validation, checkpoints, log) took."""
        self.end_cost = end_seconds

    def finish_estimate(self) -> float:
        """Seconds that one more step, the validation pass and writing the checkpoint(s)
        will take."""
        step = self.step_seconds / (self.n_steps - 1) if self.n_steps > 1 else 0.0
        return step + (self.end_cost or 0.0)

    def late(self, elapsed: float) -> bool:
        """Under --max-time, ``elapsed`` seconds into the run: whether to stop before the
        next step."""
        return elapsed + self.finish_estimate() >= self.max_time

    def progress(self, epochs: float, elapsed: float) -> float:
        """Where a step ``epochs`` (fractional) and ``elapsed`` seconds into the run is on
        the horizon of a decaying schedule, in [0, 1]: the further along of the two
        budgets; 0 with neither."""
        p = epochs / self.n_epochs if self.n_epochs != math.inf else 0.0
        if self.max_time:
            p = max(p, elapsed / self.max_time)
        return p

    def gain_scale(self, epochs_done: int, epoch_seconds: float) -> float:
        """What --min-gain is multiplied by: 1 / the epochs the budget still holds, at most 1.
        The budget is the epochs left to --epochs and, under --max-time, the seconds left
        over this epoch's seconds, whichever is fewer; with neither (no limit), 1."""
        n = self.n_epochs
        left = n - epochs_done if n != math.inf else math.inf
        if self.max_time and epoch_seconds > 0:
            left = min(left, (self.max_time - (time.perf_counter() - self.t_start)) / epoch_seconds)
        return 1.0 if left == math.inf else min(1.0, 1.0 / max(left, 1e-9))


class BestWeights:
    """The weights of the lowest validation loss seen. Kept in memory when ``keep``
    (--patience) so that early stopping, or --max-time ending on worse weights, can go
    back to them; written to ``path`` (OUTPUT.best.npz) at each improvement when
    ``write``."""

    def __init__(self, output: str, keep: bool, write: bool = True):
        self.output, self.path = output, checkpoint.best_path(output)
        self.keep, self.write = keep, write
        self.params = None

    def load(self, net, dtype):
        """Resuming: read the best weights back from their file, if it is readable."""
        if not os.path.exists(self.path):
            return
        try:
            self.params = net.as_layout(checkpoint.load(self.path).params, dtype)
        except checkpoint.CheckpointError:
            pass

    def improved(self, model_params: dict):
        if self.keep:
            self.params = {k: v.copy() for k, v in model_params.items()}

    def restore(self, *targets: dict) -> bool:
        """Copy the best weights into each of ``targets``: False if there are none."""
        if self.params is None:
            return False
        for k, v in self.params.items():
            for t in targets:
                t[k][...] = v
        return True

    def save_epoch(self, save, improved: bool):
        """The end of an epoch's files: the best file first when validation improved, then
        the checkpoint; ``save(path=None)`` writes one (the checkpoint by default). The
        checkpoint is written even when the best file could not be (it is what resuming
        needs); the error then says which of the two holds this epoch."""
        best_error = None
        if improved and self.write:
            try:
                save(self.path)
            except checkpoint.CheckpointError as e:
                best_error = e
        try:
            save()
        except checkpoint.CheckpointError as e:
            if best_error is not None:
                kept = (f"the previous {self.path} is unchanged" if os.path.lexists(self.path)
                        else f"no {self.path} was left behind")
                raise checkpoint.CheckpointError(f"{e}; {self.path} could not be written either, {kept}") from None
            if not (improved and self.write):
                raise
            # e.g. a full disk with room for one checkpoint: say that the best one moved on
            raise checkpoint.CheckpointError(f"{e}; {self.path} was written before and holds this epoch's "
                                             f"weights (the best so far)") from None
        if best_error is not None:
            raise checkpoint.CheckpointError(f"{best_error}; {self.output} was written and holds this epoch's "
                                             f"weights (the best so far)") from None


class JsonLog:
    """--log: each epoch's record appended as one JSON line (``path`` None: no log). A
    line that cannot be appended whole (a full disk) is taken back: the log keeps whole
    lines only, and a log this run created is removed rather than left empty."""

    def __init__(self, path: str | None):
        self.path = path

    def write(self, record: dict):
        """Append ``record``; raises WriteError (naming the file and what it holds) when
        the line cannot be written."""
        if not self.path:
            return
        line = json.dumps(record) + "\n"
        try:
            size = os.path.getsize(self.path)
        except OSError:
            size = None
        try:
            with open(self.path, "a") as f:
                f.write(line)
        except OSError as e:
            kept = self._take_back(size)
            raise WriteError(f"{self.path}: could not append epoch {record.get('epoch')}'s record to the --log "
                             f"file ({e.strerror or e}); {kept}") from None

    def _take_back(self, size: int | None) -> str:
        """Cut the log back to ``size`` bytes (None: it did not exist: remove it); what
        is there now."""
        try:
            if size is None:
                if os.path.lexists(self.path):
                    os.unlink(self.path)
                return "no log file was left behind"
            if not os.path.isfile(self.path):
                return "nothing was appended"
            os.truncate(self.path, size)
            return "it holds the records of the epochs before"
        except OSError:
            return "its last line may be cut short"
