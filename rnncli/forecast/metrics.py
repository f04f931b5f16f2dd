"""Forecast errors in the data's units: RMSE, MAE and MASE per horizon step and
overall, with missing targets (mask False) left out of every sum. Pure NumPy.

MASE divides the MAE by the in-sample MAE of the seasonal-naive forecast on the
training part (value one season earlier; lag 1 when there is no season), so 1.0
means "as good as that naive forecast was in training"; below 1 is better.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


def mase_scale(y_train: np.ndarray, season: int | None = None) -> np.ndarray:
    """In-sample naive MAE per target: mean |y[t] - y[t - S]| over the training rows
    where both values are present (NaN = missing), S = ``season`` or 1 (also 1 when
    the training part is not longer than S). (T, K) -> (K,); NaN if no pair exists."""
    y = np.asarray(y_train, dtype=np.float64)
    if y.ndim == 1:
        y = y[:, None]
    lag = season if season and len(y) > season else 1
    if len(y) <= lag:
        return np.full(y.shape[1], np.nan)
    d = np.abs(y[lag:] - y[:-lag])                                   # (T - lag, K)
    ok = np.isfinite(d)
    n = ok.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, np.where(ok, d, 0.0).sum(axis=0) / n, np.nan)


@dataclass
class Scores:
    """Errors per target (K) and per horizon step (horizon, K); NaN where nothing was scored."""
    rmse: np.ndarray            # (K,) over every scored entry
    mae: np.ndarray             # (K,)
    mase: np.ndarray            # (K,) mae / scale; NaN when the scale is 0 or unknown
    rmse_by_step: np.ndarray    # (horizon, K)
    mae_by_step: np.ndarray     # (horizon, K)
    mase_by_step: np.ndarray    # (horizon, K)
    count_by_step: np.ndarray   # (horizon, K) int: scored entries

    @property
    def rmse_step_mean(self) -> np.ndarray:
        """(K,) mean over horizon steps of the per-step RMSE ("RMSE averaged over the horizon")."""
        with np.errstate(invalid="ignore"):
            r = self.rmse_by_step
            ok = np.isfinite(r)
            n = ok.sum(axis=0)
            return np.where(n > 0, np.where(ok, r, 0.0).sum(axis=0) / np.maximum(n, 1), np.nan)

    def to_dict(self, names: list[str] | None = None) -> dict:
        """JSON-able {target name: {"rmse", "mae", "mase", "rmse_step_mean", "n", "by_step": {...}}};
        NaN becomes None."""
        K = len(self.rmse)
        names = names or [f"target{i}" for i in range(K)]

        def num(x):
            x = float(x)
            return None if math.isnan(x) or math.isinf(x) else x

        out = {}
        for k, name in enumerate(names):
            out[name] = {
                "rmse": num(self.rmse[k]), "mae": num(self.mae[k]), "mase": num(self.mase[k]),
                "rmse_step_mean": num(self.rmse_step_mean[k]),
                "n": int(self.count_by_step[:, k].sum()),
                "by_step": {"rmse": [num(v) for v in self.rmse_by_step[:, k]],
                            "mae": [num(v) for v in self.mae_by_step[:, k]],
                            "mase": [num(v) for v in self.mase_by_step[:, k]],
                            "n": [int(v) for v in self.count_by_step[:, k]]},
            }
        return out


def scores(pred: np.ndarray, truth: np.ndarray, mask: np.ndarray | None = None,
           scale: np.ndarray | None = None) -> Scores:
    """Errors of ``pred`` against ``truth``, both (N, horizon, K) in data units; ``mask``
    (N, horizon, K) or (N, horizon) bool, True where the truth was observed (only those
    entries count); ``scale`` (K,) from ``mase_scale`` (MASE is NaN without it)."""
    pred = np.asarray(pred, dtype=np.float64)
    truth = np.asarray(truth, dtype=np.float64)
    if pred.shape != truth.shape or pred.ndim != 3:
        raise ValueError(f"pred and truth must both be (N, horizon, K); got {pred.shape} and {truth.shape}")
    m = np.ones(pred.shape, bool) if mask is None else np.asarray(mask, dtype=bool)
    if m.ndim == 2:
        m = np.broadcast_to(m[:, :, None], pred.shape)
    err = np.where(m, pred - truth, 0.0)                             # (N, horizon, K); NaN pred stays NaN
    n_step = m.sum(axis=0)                                           # (horizon, K)
    n_all = n_step.sum(axis=0)                                       # (K,)
    with np.errstate(invalid="ignore", divide="ignore"):
        sq, ab = (err ** 2).sum(axis=0), np.abs(err).sum(axis=0)     # (horizon, K)
        rmse_step = np.where(n_step > 0, np.sqrt(sq / n_step), np.nan)
        mae_step = np.where(n_step > 0, ab / n_step, np.nan)
        rmse = np.where(n_all > 0, np.sqrt(sq.sum(axis=0) / n_all), np.nan)
        mae = np.where(n_all > 0, ab.sum(axis=0) / n_all, np.nan)
        s = np.full(pred.shape[2], np.nan) if scale is None else np.asarray(scale, dtype=np.float64)
        s = np.where(s > 0, s, np.nan)                               # a constant training target: undefined
        return Scores(rmse, mae, mae / s, rmse_step, mae_step, mae_step / s, n_step.astype(np.int64))
