"""Scoring a forecasting checkpoint on a part of a series next to the three baselines
(persistence, seasonal naive, the stored linear AR model), on the same windows and
in the data's units; and forecasting the steps after a given row."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import DataError
from ..nn.workspace import Workspace
from . import baselines, metrics
from .time import calendar_features, display_time, future_time
from .windows import rows_for
from .task import SeriesArrays, predict_windows

BASELINES = ("persistence", "seasonal naive", "linear AR")


@dataclass
class Evaluation:
    part: str
    rows: tuple                 # [start, stop) of the part
    enc: np.ndarray             # (N, history) window rows
    dec: np.ndarray             # (N, horizon)
    truth: np.ndarray           # (N, horizon, Y) data units, 0 where missing
    mask: np.ndarray            # (N, horizon, Y) observed
    preds: dict                 # "model" and each available baseline -> (N, horizon, Y) data units
    scores: dict                # same keys -> metrics.Scores
    skipped: dict               # baseline -> why it is missing

    def beats(self) -> dict:
        """baseline -> per target: does the model have a lower RMSE averaged over the horizon?"""
        m = self.scores["model"].rmse_step_mean
        return {b: [bool(x < y) for x, y in zip(m, sc.rmse_step_mean)]
                for b, sc in self.scores.items() if b != "model"}


def model_forecast(ck, arr: SeriesArrays, enc: np.ndarray, dec: np.ndarray, ws=None) -> np.ndarray:
    """The checkpoint's free-running forecasts of the windows, data units: (N, horizon, Y)."""
    net = ck.network()
    Y = ck.task.n_targets
    pred = predict_windows(net, ck.params, arr, enc, dec, ws or Workspace())    # no ws: the cores, as without --threads
    return ck.task.scaler.inverse(pred, slice(0, Y))


def evaluate(ck, arr: SeriesArrays, part: str = "test", ws=None) -> Evaluation:
    data = ck.task
    fc = data.settings
    start, stop = arr.split.parts()[part]
    check_part(arr, part, fc)
    enc, dec = arr.windows(part, fc.history, fc.horizon, trained=True)
    Y = data.n_targets
    raw = arr.series.values[:, :Y]                                   # data units, NaN where missing
    truth = raw[dec]
    mask = np.isfinite(truth)
    truth = np.where(mask, truth, 0.0)
    preds = {"model": model_forecast(ck, arr, enc, dec, ws)}
    skipped = {}
    preds["persistence"] = baselines.persistence(raw, enc, dec)
    if data.season:
        try:
            preds["seasonal naive"] = baselines.seasonal_naive(raw, enc, dec, data.season)
        except DataError as e:
            skipped["seasonal naive"] = str(e)
    else:
        skipped["seasonal naive"] = "no season: the time step does not make one obvious (train with --season S)"
    if data.ar is not None:
        preds["linear AR"] = data.ar.predict(arr.Z, enc, dec, known=arr.known if fc.calendar else None)
    else:
        skipped["linear AR"] = "not fitted (no training window had all its targets)"
    scores = {k: metrics.scores(p, truth, mask, data.mase_scale) for k, p in preds.items()}
    return Evaluation(part, (start, stop), enc, dec, truth, mask, preds, scores, skipped)


def check_part(arr: SeriesArrays, part: str, fc):
    """The ``part`` of the series must hold one window of the model, whose history and
    horizon were fixed in training: else say how many rows the file needs."""
    start, stop = arr.split.parts()[part]
    need = fc.history + fc.horizon
    if stop - start >= need:
        return
    flag, frac = ("--test-fraction", fc.test_fraction) if part == "test" else ("--val-fraction", fc.val_fraction)
    window = (f"a window of this model is its history {fc.history} + horizon {fc.horizon} = {need} rows, "
              f"fixed when it was trained")
    if frac == 0:
        raise DataError(f"the model was trained with no {part} part ({flag} 0): there is nothing to score; "
                        f"score the other part with --part", arr.series.path)
    where = "the last" if part == "test" else "before the test part:"
    raise DataError(f"{window}; the {part} part ({where} {frac:.0%} of the rows, as split in training) of these "
                    f"{len(arr.Z):,} rows has only {stop - start}; give at least "
                    f"{rows_for(part, need, fc.val_fraction, fc.test_fraction):,} rows", arr.series.path)


def origin_row(arr: SeriesArrays, at: str | None) -> int:
    """The row a forecast starts after: the last row, or the row whose time is ``at``."""
    t = arr.series.time
    if at is None:
        return len(t) - 1
    try:
        if arr.series.is_datetime:
            want = np.datetime64(at.strip().rstrip("Zz").replace(" ", "T"), "s")
        else:
            want = float(at)
    except ValueError:
        raise DataError(f"--at {at!r} is not a time like those of the data "
                        f"({display_time(t[0])} .. {display_time(t[-1])})") from None
    i = int(np.searchsorted(t, want))
    if i >= len(t) or t[i] != want:
        raise DataError(f"--at {at}: no row has that time; the data runs from {display_time(t[0])} to {display_time(t[-1])}")
    return i




def forecast_after(ck, arr: SeriesArrays, origin: int, ws=None):
    """The horizon after row ``origin``: (times (horizon,), forecast (horizon, Y) data units,
    truth (horizon, Y) with NaN where the data has no value or ends)."""
    data = ck.task
    fc = data.settings
    H, K, Y = fc.history, fc.horizon, data.n_targets
    if origin + 1 < H:
        raise DataError(f"the forecast origin (row {origin + 1}) has only {origin + 1} rows of history; the model "
                        f"reads {H} rows before it forecasts its {K} steps (both fixed when it was trained): give "
                        f"at least {H} rows up to the origin")
    enc = np.arange(origin - H + 1, origin + 1)[None]               # (1, H)
    if not arr.valid[enc[0]].all():
        raise DataError(f"the {H} rows up to the forecast origin have missing values that --missing "
                        f"{fc.missing} leaves unfilled; forecast from a later time (--at)")
    t = arr.series.time
    # the horizon's rows: those of the data after the origin (as in training, rows are
    # steps), then time stamps continued at the modal step past the end of the data
    n_in = min(K, len(t) - origin - 1)
    times = t[origin + 1:origin + 1 + n_in]
    if n_in < K:
        times = np.concatenate([times, future_time(t, K - n_in)])
    known = calendar_features(times)[0] if fc.calendar else np.zeros((K, 0))
    Zk = np.zeros((origin + 1 + K, arr.known.shape[1]))
    Zk[:origin + 1] = arr.known[:origin + 1]
    Zk[origin + 1:] = known
    ext = SeriesArrays(arr.series, arr.split, arr.X, arr.Z, arr.Yin, arr.Ytrue, Zk, arr.valid)
    dec = np.arange(origin + 1, origin + 1 + K)[None]
    pred = model_forecast(ck, ext, enc, dec, ws)[0]                  # (K, Y)
    truth = np.full((K, Y), np.nan)
    truth[:n_in] = arr.series.values[origin + 1:origin + 1 + n_in, :Y]
    return times, pred, truth
