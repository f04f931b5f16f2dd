"""The baselines every forecast is reported beside, computed on the same windows as
the model (the ``enc_idx``/``dec_idx`` of ``windows.windows``): persistence, seasonal
naive and a linear autoregressive model fitted by least squares. Pure NumPy.

Persistence and seasonal naive read the targets as they are in the file (NaN where
missing) and use the last value present at or before the row they need, so they
are causal whatever missing-value policy the model's inputs use. All predictions
are (N, horizon, n_targets), in the units of the ``y``/``Y`` given (data units).
"""
from __future__ import annotations

import numpy as np

from ..errors import DataError
from .time import modal_step


def infer_season(time_index: np.ndarray) -> int | None:
    """Season length in steps where the step makes it obvious: 24 for hourly data,
    7 for daily, 12 for monthly; None otherwise (numeric index, other steps)."""
    step = modal_step(np.asarray(time_index))
    if not isinstance(step, np.timedelta64):
        return None
    unit = np.datetime_data(step.dtype)[0]
    if unit == "M":
        return 12
    if unit == "Y":
        return None
    seconds = int(step.astype("timedelta64[s]").astype(np.int64))
    return {3600: 24, 86400: 7}.get(seconds)


def last_present(y: np.ndarray) -> np.ndarray:
    """(T, K) -> (T, K): the last non-NaN value at or before each row (NaN before the first)."""
    y = np.asarray(y, dtype=np.float64)
    rows = np.arange(len(y))[:, None]
    prev = np.maximum.accumulate(np.where(np.isnan(y), -1, rows), axis=0)     # (T, K)
    out = np.take_along_axis(y, np.maximum(prev, 0), axis=0)
    out[prev < 0] = np.nan
    return out


def _as_2d(y):
    y = np.asarray(y, dtype=np.float64)
    return y[:, None] if y.ndim == 1 else y


def persistence(y: np.ndarray, enc_idx: np.ndarray, dec_idx: np.ndarray) -> np.ndarray:
    """The last value present at the forecast origin, repeated over the horizon.

    y (T, K) targets in data units, NaN where missing -> (N, horizon, K)."""
    carried = last_present(_as_2d(y))
    last = carried[enc_idx[:, -1]]                                  # (N, K)
    return np.repeat(last[:, None, :], dec_idx.shape[1], axis=1)     # (N, horizon, K)


def seasonal_naive(y: np.ndarray, enc_idx: np.ndarray, dec_idx: np.ndarray, season: int) -> np.ndarray:
    """The value one season earlier: step h (1-based) of a window with origin o gets
    the value at row o + h - S * ceil(h / S), i.e. the last full season before the
    origin, repeated when the horizon is longer than S. Rows before the window's
    history are read when history < S (past data, never future). -> (N, horizon, K)."""
    season = int(season)
    if season < 1:
        raise DataError(f"the season must be a positive number of steps, not {season}")
    carried = last_present(_as_2d(y))
    origin = enc_idx[:, -1]                                          # (N,)
    h = np.arange(1, dec_idx.shape[1] + 1)                           # (horizon,)
    back = season * ((h + season - 1) // season)                     # S * ceil(h / S)
    rows = origin[:, None] + h - back                                # (N, horizon), all <= origin
    if rows.size and rows.min() < 0:
        raise DataError(f"seasonal naive with season {season} needs {season} rows up to each forecast "
                        f"origin; the first window has {int(origin.min()) + 1}: use a history of at "
                        f"least {season} or another season")
    return carried[rows]                                             # (N, horizon, K)


class LinearAR:
    """Linear autoregressive model: all horizon steps at once from the flattened
    encoder inputs (the same inputs the model's encoder sees) and, when given, the
    known-future covariates of the horizon; ridge least squares with a tiny
    penalty ``lam`` (relative to the mean diagonal of the Gram matrix, intercept
    not penalised) so collinear inputs such as one-hot columns stay solvable.

    Fitted on the training windows whose targets are all present. The Gram matrix
    is accumulated over blocks of ``chunk`` windows, so memory stays bounded."""

    def __init__(self, lam: float = 1e-6, chunk: int = 2048):
        self.lam = float(lam)
        self.chunk = int(chunk)
        self.W = None            # (D + 1, horizon * K), last row the intercept
        self.shape = None        # (history, F, horizon, Fk, K)
        self.n_fit = 0           # training windows used (those with every target present)

    def _design(self, X, known, enc, dec):
        n = len(enc)
        parts = [X[enc].reshape(n, -1)]                              # (n, history * F)
        if known is not None:
            parts.append(known[dec].reshape(n, -1))                  # (n, horizon * Fk)
        parts.append(np.ones((n, 1)))
        return np.hstack(parts)                                      # (n, D + 1)

    def fit(self, X: np.ndarray, Y: np.ndarray, observed: np.ndarray, enc_idx: np.ndarray,
            dec_idx: np.ndarray, known: np.ndarray | None = None) -> "LinearAR":
        """X (T, F) encoder inputs; Y (T, K) targets in the units to predict; observed
        (T, K) bool; enc_idx/dec_idx the training windows; known (T, Fk) or None."""
        X = np.asarray(X, dtype=np.float64)
        Y = _as_2d(Y)
        known = None if known is None or np.asarray(known).shape[-1] == 0 else np.asarray(known, np.float64)
        observed = np.asarray(observed, dtype=bool).reshape(Y.shape)
        complete = (observed[dec_idx] & np.isfinite(Y[dec_idx])).all(axis=(1, 2))   # (N,)
        inputs_ok = np.isfinite(X[enc_idx]).all(axis=(1, 2))
        keep = np.flatnonzero(complete & inputs_ok)
        if keep.size == 0:
            raise DataError("the linear AR baseline has no training window with all its targets present")
        K, horizon = Y.shape[1], dec_idx.shape[1]
        D = enc_idx.shape[1] * X.shape[1] + (horizon * known.shape[1] if known is not None else 0)
        G = np.zeros((D + 1, D + 1))
        B = np.zeros((D + 1, horizon * K))
        for i in range(0, keep.size, self.chunk):                    # blocks of windows, not windows
            sel = keep[i:i + self.chunk]
            A = self._design(X, known, enc_idx[sel], dec_idx[sel])   # (n, D + 1)
            G += A.T @ A
            B += A.T @ Y[dec_idx[sel]].reshape(len(sel), -1)
        ridge = self.lam * max(float(np.mean(np.diag(G)[:D])) if D else 0.0, 1e-12)
        G[np.arange(D), np.arange(D)] += ridge
        try:
            self.W = np.linalg.solve(G, B)
        except np.linalg.LinAlgError:
            self.W = np.linalg.lstsq(G, B, rcond=None)[0]
        self.shape = (enc_idx.shape[1], X.shape[1], horizon, 0 if known is None else known.shape[1], K)
        self.n_fit = int(keep.size)
        return self

    def predict(self, X: np.ndarray, enc_idx: np.ndarray, dec_idx: np.ndarray,
                known: np.ndarray | None = None) -> np.ndarray:
        """-> (N, horizon, K) in the units of the ``Y`` it was fitted on."""
        if self.W is None:
            raise RuntimeError("LinearAR.predict before fit")
        history, F, horizon, Fk, K = self.shape
        known = None if Fk == 0 else np.asarray(known, np.float64)
        if enc_idx.shape[1] != history or dec_idx.shape[1] != horizon or np.asarray(X).shape[1] != F:
            raise DataError("the linear AR baseline was fitted on windows of another shape")
        X = np.asarray(X, dtype=np.float64)
        out = np.empty((len(enc_idx), horizon * K))
        for i in range(0, len(enc_idx), self.chunk):
            s = slice(i, i + self.chunk)
            out[s] = self._design(X, known, enc_idx[s], dec_idx[s]) @ self.W
        return out.reshape(len(enc_idx), horizon, K)

    def to_dict(self) -> dict:
        """Plain arrays and JSON-able values (for an .npz file, no pickle)."""
        return {"W": self.W.copy(), "shape": list(self.shape), "lam": self.lam}

    @classmethod
    def from_dict(cls, d: dict) -> "LinearAR":
        m = cls(lam=float(d["lam"]))
        m.W = np.asarray(d["W"], dtype=np.float64)
        m.shape = tuple(int(v) for v in np.asarray(d["shape"]).ravel())
        return m
