"""What a training run keeps beside its steps (rnncli/run.py): the time budget, the
best weights and their file, the JSONL log."""
import json
import math
import time

import numpy as np
import pytest

from rnncli import checkpoint
from rnncli.run import WRITE_SPEED, BestWeights, JsonLog, TimeBudget

from .helpers import make_trainer, small_cfg

# ---------------------------------------------------------------- time budget


def test_finish_estimate_is_the_mean_step_after_the_first_plus_the_end_of_an_epoch():
    b = TimeBudget(10.0, math.inf)
    assert b.finish_estimate() == 0.0
    b.end_cost = 0.25
    b.new_epoch()
    b.step_taken(5.0)                     # the first step warms up: left out
    assert b.finish_estimate() == 0.25
    b.step_taken(1.0)
    b.step_taken(2.0)
    assert b.finish_estimate() == 1.5 + 0.25
    assert not b.late(8.0) and b.late(8.25)
    b.new_epoch()                         # a new epoch times its own steps
    assert b.n_steps == 0 and b.finish_estimate() == 0.25
    b.epoch_ended(0.5)
    assert b.finish_estimate() == 0.5


def test_start_prices_the_end_of_an_epoch_only_under_max_time_and_once():
    calls = []

    def validate():
        calls.append(1)
        time.sleep(0.01)
    b = TimeBudget(None, 3)
    b.start(validate, 10 ** 6)
    assert calls == [] and b.end_cost is None and b.t_start is not None
    b = TimeBudget(60.0, math.inf)
    b.start(validate, 10 ** 6)
    assert calls == [1]
    assert 0.01 + 2e6 / WRITE_SPEED <= b.end_cost < 1.0 + 2e6 / WRITE_SPEED
    b.epoch_ended(0.125)
    b.start(validate, 10 ** 6)            # a second run() keeps what the last epoch's end cost
    assert calls == [1] and b.end_cost == 0.125


def test_progress_is_the_further_along_of_epochs_and_time():
    assert TimeBudget(None, 4).progress(1.0, 999.0) == 0.25
    assert TimeBudget(None, math.inf).progress(7.5, 999.0) == 0.0
    assert TimeBudget(100.0, 4).progress(1.0, 50.0) == 0.5
    assert TimeBudget(100.0, 4).progress(3.0, 50.0) == 0.75
    assert TimeBudget(100.0, math.inf).progress(3.0, 10.0) == 0.1


def test_gain_scale_is_one_over_the_epochs_the_budget_holds():
    assert TimeBudget(None, 40).gain_scale(10, 1.0) == pytest.approx(1 / 30)
    assert TimeBudget(None, 40).gain_scale(40, 1.0) == 1.0           # at most 1
    assert TimeBudget(None, math.inf).gain_scale(10, 1.0) == 1.0     # no limit
    b = TimeBudget(600.0, math.inf)
    b.start(lambda: None, 0)
    assert 1 / 600 <= b.gain_scale(1, 1.0) < 1 / 590                # ~600 one-second epochs left
    assert b.gain_scale(1, 1e9) == 1.0
    assert b.gain_scale(1, 0.0) == 1.0                                # nothing timed yet: no time limit
    assert TimeBudget(600.0, 40).gain_scale(10, 0.0) == pytest.approx(1 / 30)
    b = TimeBudget(600.0, 1000)
    b.start(lambda: None, 0)
    assert b.gain_scale(10, 60.0) == pytest.approx(1 / 10, rel=1e-3)  # fewer epochs fit in the time


# ---------------------------------------------------------------- best weights


def weights(x):
    return {"a": np.full((2, 3), float(x)), "b": np.full(4, float(x))}


def test_best_weights_are_kept_only_for_patience_and_restored_into_every_target(tmp_path):
    off = BestWeights(str(tmp_path / "m.npz"), keep=False)
    off.improved(weights(1))
    assert off.params is None and not off.restore(weights(0))
    best = BestWeights(str(tmp_path / "m.npz"), keep=True)
    assert best.path == str(tmp_path / "m.best.npz")
    assert not best.restore(weights(0))
    w = weights(1)
    best.improved(w)
    w["a"][...] = 9                        # a copy: training on does not change it
    p, avg = weights(5), weights(6)
    assert best.restore(p, avg)
    for d in (p, avg):
        for k, v in weights(1).items():
            np.testing.assert_array_equal(d[k], v)


def test_save_epoch_writes_the_best_file_first_when_improved():
    calls = []

    def save(path=None):
        calls.append(path)
    BestWeights("m.npz", keep=False).save_epoch(save, improved=True)
    assert calls == ["m.best.npz", None]
    calls.clear()
    BestWeights("m.npz", keep=False).save_epoch(save, improved=False)
    assert calls == [None]
    calls.clear()
    BestWeights("m.npz", keep=False, write=False).save_epoch(save, improved=True)
    assert calls == [None]


def test_a_checkpoint_that_fails_after_the_best_file_says_where_the_best_is():
    def save(path=None):
        if path is None:
            raise checkpoint.CheckpointError("cannot write m.npz: no space left on device")
    with pytest.raises(checkpoint.CheckpointError, match=r"no space left.*; m.best.npz was written before and "
                                                         r"holds this epoch's weights \(the best so far\)"):
        BestWeights("m.npz", keep=False).save_epoch(save, improved=True)
    with pytest.raises(checkpoint.CheckpointError) as e:
        BestWeights("m.npz", keep=False).save_epoch(save, improved=False)
    assert str(e.value) == "cannot write m.npz: no space left on device"


def test_best_weights_load_from_their_file_when_readable(tmp_path):
    t = make_trainer(tmp_path, small_cfg(epochs=1))
    t.run()
    best = BestWeights(t.output, keep=True)
    best.load(t.net, np.dtype("float64"))
    for k, v in t.params.items():
        np.testing.assert_array_equal(best.params[k], v)
    assert best.params["layer0.U"].T.flags.c_contiguous               # the kernels' layout
    (tmp_path / "x.best.npz").write_bytes(b"not a checkpoint")
    for name in ("x.npz", "missing.npz"):
        b = BestWeights(str(tmp_path / name), keep=True)
        b.load(t.net, np.dtype("float64"))
        assert b.params is None


# ---------------------------------------------------------------- log


def test_json_log_appends_one_line_per_record(tmp_path):
    JsonLog(None).write({"epoch": 1})      # no --log: nothing, anywhere
    assert list(tmp_path.iterdir()) == []
    path = tmp_path / "log.jsonl"
    path.write_text('{"epoch": 1}\n')      # a resumed run appends
    log = JsonLog(str(path))
    log.write({"epoch": 2, "val_loss": None, "partial": False, "lr": 0.5})
    log.write({"epoch": 2.5})
    assert [json.loads(x) for x in path.read_text().splitlines()] == \
        [{"epoch": 1}, {"epoch": 2, "val_loss": None, "partial": False, "lr": 0.5}, {"epoch": 2.5}]
