"""The forecasting task (rnncli/forecast/task.py): no leakage from the future, windows, units,
gathering."""
import numpy as np
import pytest

from rnncli.forecast import baselines as B
from rnncli.forecast import features as Fe
from rnncli.forecast import time as Ti
from rnncli.forecast import windows as Wn
from rnncli.forecast.task import SeriesArrays, gather, predict_windows
from rnncli.forecast.windows import windows
from rnncli.nn.workspace import Workspace

from ..helpers import series_csv, setup_for


@pytest.mark.parametrize("missing", ["ffill", "interpolate"])
def test_no_leakage_through_the_task(tmp_path, missing):
    """Changing every value after the training part changes nothing the training sees:
    batches, scaler, linear AR baseline, MASE scale; and changing the values after a
    window's origin does not change the model's forecast of that window."""
    a = setup_for(series_csv(tmp_path / "a.csv"), missing=missing, calendar=True)
    stop = a.task.arr.split.train[1]
    text = (tmp_path / "a.csv").read_text().splitlines()
    changed = text[:1 + stop] + [",".join([ln.split(",")[0], "999", "-5", "N"]) for ln in text[1 + stop:]]
    (tmp_path / "b.csv").write_text("\n".join(changed) + "\n")
    b = setup_for(tmp_path / "b.csv", missing=missing, calendar=True)
    ta, tb = a.task, b.task
    np.testing.assert_array_equal(ta.enc, tb.enc)
    np.testing.assert_array_equal(ta.dec, tb.dec)
    for sel in ta.epoch_batches(0):
        for u, v in zip(gather(ta.arr, ta.enc[sel], ta.dec[sel], np.float64),
                        gather(tb.arr, tb.enc[sel], tb.dec[sel], np.float64)):
            np.testing.assert_array_equal(u, v)
    np.testing.assert_array_equal(ta.data.scaler.mean, tb.data.scaler.mean)
    np.testing.assert_array_equal(ta.data.scaler.std, tb.data.scaler.std)
    np.testing.assert_array_equal(ta.data.ar.W, tb.data.ar.W)
    np.testing.assert_array_equal(ta.data.mase_scale, tb.data.mase_scale)
    # the validation part did change, so the validation loss sees the change
    assert ta.validation_loss(a.params, Workspace(1)) != tb.validation_loss(a.params, Workspace(1))
    # causal forecasts: windows of the changed data whose history ends before the change
    enc, dec = ta.enc[-5:], ta.dec[-5:]
    pa = predict_windows(a.net, a.params, ta.arr, enc, dec, Workspace(1))
    pb = predict_windows(a.net, a.params, tb.arr, enc, dec, Workspace(1))
    np.testing.assert_array_equal(pa, pb)


def test_training_windows_and_units(tmp_path):
    s = setup_for(series_csv(tmp_path / "a.csv"))
    t = s.task
    batches = t.epoch_batches(0)
    assert sorted(np.concatenate(batches)) == list(range(len(t.enc)))
    assert t.n_batches() == len(batches)
    assert t.units(batches) == int(np.isfinite(t.arr.Ytrue[t.dec]).sum())
    grads = s.net.zeros_like(s.params)
    loss, n = t.loss_and_grads(s.params, batches[0], grads, Workspace(1), None)
    assert n == t.units(batches[:1]) and loss > 0
    v = t.validation_loss(s.params, Workspace(1))
    m = t.metrics(v)
    assert set(m) == {"val_rmse", "val_mae"} and m["val_rmse"]["y"] == pytest.approx(
        np.sqrt(v) * t.data.scaler.std[0], rel=1e-9)


def test_gather_equals_a_slow_per_window_reference():
    """A batch's tensors, gathered for every window at once, are each window's rows
    taken one window at a time."""
    rng = np.random.default_rng(1)
    T, F, Y, Fk, H, K = 60, 4, 2, 3, 7, 4
    Z, Yin, known = rng.normal(size=(T, F)), rng.normal(size=(T, Y)), rng.normal(size=(T, Fk))
    Ytrue = np.where(rng.random((T, Y)) < 0.2, np.nan, Yin)
    arr = SeriesArrays(None, None, None, Z, Yin, Ytrue, known, np.ones(T, bool))
    enc, dec = windows(T, H, K, 0, T)                        # window i starts at row i
    sel = rng.permutation(len(enc))[:9]
    x, y0, kn, prev, y, mask = gather(arr, enc[sel], dec[sel], np.float64)
    assert x.shape == (H, 9, F) and y0.shape == (9, Y) and kn.shape == (K, 9, Fk)
    for b, s in enumerate(sel):
        np.testing.assert_array_equal(x[:, b], Z[s:s + H])
        np.testing.assert_array_equal(y0[b], Yin[s + H - 1])
        np.testing.assert_array_equal(kn[:, b], known[s + H:s + H + K])
        np.testing.assert_array_equal(prev[:, b], Yin[s + H - 1:s + H + K - 1])
        truth = Ytrue[s + H:s + H + K]
        np.testing.assert_array_equal(mask[:, b], np.isfinite(truth))
        np.testing.assert_array_equal(y[:, b], np.where(np.isfinite(truth), truth, 0.0))
    assert all(a.dtype == np.float32 for a in gather(arr, enc, dec, np.float32))


def _training_side(values, time, how="ffill"):
    """What training sees: the training-part scaler and the training windows."""
    sp = Wn.split(len(values), 0.2, 0.2)
    X = Fe.fill_missing(values, how, boundaries=sp.boundaries)
    cal, _ = Ti.calendar_features(time)
    sc = Fe.Scaler.fit(X[sp.train[0]:sp.train[1]])
    Z = np.hstack([sc.transform(X), cal])
    ok = ~np.isnan(Z).any(axis=1)
    enc, dec = Wn.windows(len(values), 12, 6, *sp.train, valid=ok, name="training")
    observed = ~np.isnan(values[:, :1])
    w = {"x": Z[enc], "y": Z[dec, :1], "known": cal[dec], "mask": observed[dec], "origin": enc[:, -1]}
    ar = B.LinearAR().fit(Z, X[:, :1], observed, enc, dec, known=cal)
    return sp, sc, w, ar


@pytest.mark.parametrize("how", ["ffill", "interpolate", "drop"])
def test_no_leakage_changing_the_future_changes_nothing_in_training(how):
    rng = np.random.default_rng(2)
    T = 300
    time = np.datetime64("2020-01-01T00", "s") + np.arange(T) * np.timedelta64(3600, "s")
    values = np.column_stack([np.sin(np.arange(T) / 4) + rng.normal(0, 0.1, T), rng.normal(size=T)])
    values[rng.choice(T, 30, replace=False), 0] = np.nan
    values[178:185, 0] = np.nan                                 # a run across the train/val boundary (180)
    sp, sc, w, ar = _training_side(values, time, how)
    assert sp.train == (0, 180)
    future = values.copy()
    future[sp.train[1]:] = rng.normal(50, 9, future[sp.train[1]:].shape)
    future[sp.train[1] + 3:sp.train[1] + 9, 0] = np.nan
    sp2, sc2, w2, ar2 = _training_side(future, time, how)
    np.testing.assert_array_equal(sc2.mean, sc.mean)
    np.testing.assert_array_equal(sc2.std, sc.std)
    for a in ("x", "y", "known", "mask", "origin"):
        np.testing.assert_array_equal(w2[a], w[a])
    np.testing.assert_array_equal(ar2.W, ar.W)
