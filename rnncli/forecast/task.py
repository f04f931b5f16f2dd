"""The forecasting task: what the training loop runs (``ForecastTask``, the interface of
``rnncli.lm.task.LanguageModel``), what a checkpoint keeps of it (``ForecastData``:
settings, columns, scaler, season, MASE scale, the fitted linear AR baseline), and
the arrays both build from a series (``SeriesArrays``).

Units: the model works on scaled values (``Scaler``, fitted on the training rows);
the losses it reports are in those units, ``metrics`` converts to the data's units.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import CheckpointError
from .baselines import LinearAR
from .features import Scaler, fill_missing
from .series import Series
from .time import calendar_features
from .windows import Split, split, windows
from .settings import ForecastConfig

VAL_BATCH = 1024      # windows per free-running validation batch


@dataclass
class ForecastData:
    """The forecasting section of a checkpoint."""
    settings: ForecastConfig
    schema: dict                    # Series.schema(): time, targets, features, categories, names
    scaler: Scaler                  # over schema["names"] (targets first)
    season: int | None              # the seasonal-naive season (given or inferred)
    mase_scale: np.ndarray          # (Y,) in-sample seasonal-naive MAE of the training part, data units
    ar: LinearAR | None = None      # the linear AR baseline, fitted on the training windows

    @property
    def targets(self) -> list:
        return list(self.schema["targets"])

    @property
    def n_targets(self) -> int:
        return len(self.schema["targets"])

    @property
    def n_known(self) -> int:
        return 4 if self.settings.calendar else 0

    @property
    def n_inputs(self) -> int:
        return len(self.schema["names"]) + self.n_known

    def to_section(self):
        meta = {"kind": "forecast", "settings": self.settings.to_dict(), "schema": self.schema,
                "season": self.season, "scaler_names": list(self.scaler.names),
                "ar": None if self.ar is None else {"shape": list(self.ar.shape), "lam": self.ar.lam,
                                                    "n_fit": self.ar.n_fit}}
        arrays = {"scaler_mean": self.scaler.mean, "scaler_std": self.scaler.std,
                  "mase_scale": np.asarray(self.mase_scale, np.float64)}
        if self.ar is not None:
            arrays["ar_W"] = self.ar.W
        return meta, arrays

    @classmethod
    def from_section(cls, path: str, meta: dict, arrays: dict, legacy_config: dict | None = None) -> "ForecastData":
        """The section as stored (its settings are the section's in every format: a
        legacy config holds nothing it needs)."""
        try:
            settings = ForecastConfig.from_dict(meta["settings"])
            schema = meta["schema"]
            scaler = Scaler.from_dict({"mean": arrays["scaler_mean"], "std": arrays["scaler_std"],
                                       "names": meta.get("scaler_names", [])})
            ar = None
            if meta.get("ar"):
                ar = LinearAR.from_dict({"W": arrays["ar_W"], "shape": meta["ar"]["shape"], "lam": meta["ar"]["lam"]})
                ar.n_fit = int(meta["ar"].get("n_fit", 0))
            season = meta.get("season")
            mase = np.asarray(arrays["mase_scale"], np.float64)
        except (KeyError, TypeError, ValueError) as e:
            raise CheckpointError(f"{path}: corrupt forecasting checkpoint ({type(e).__name__}: {e})") from None
        except Exception as e:  # DataError from a damaged scaler
            raise CheckpointError(f"{path}: corrupt forecasting checkpoint ({e})") from None
        return cls(settings, schema, scaler, None if season is None else int(season), mase, ar)

    def validate(self, path: str, net):
        names = list(self.schema.get("names", []))
        ok = (getattr(net, "args", {}).get("network") == "seq2seq"
              and net.F == self.n_inputs and net.Y == self.n_targets and net.Fk == self.n_known
              and len(self.scaler.mean) == len(names) and self.mase_scale.shape == (self.n_targets,)
              and self.settings.history >= 1 and self.settings.horizon >= 1
              and names[:self.n_targets] == self.targets)
        if ok and self.ar is not None:
            h, F, k, Fk, K = self.ar.shape
            ok = (h, F, k, Fk, K) == (self.settings.history, self.n_inputs, self.settings.horizon, self.n_known,
                                      self.n_targets) and self.ar.W.shape == (h * F + k * Fk + 1, k * K)
        if not ok:
            raise CheckpointError(f"{path}: inconsistent forecasting checkpoint (network, columns, scaler and "
                                  f"settings disagree)")


@dataclass
class SeriesArrays:
    """A series as the model and the baselines see it, every row at once."""
    series: Series
    split: Split
    X: np.ndarray           # (T, C) filled values in data units, targets first (NaN where unfillable)
    Z: np.ndarray           # (T, F) encoder inputs: scaled X, then calendar (if any)
    Yin: np.ndarray         # (T, Y) scaled targets, forward-filled: the decoder's previous-value inputs
    Ytrue: np.ndarray       # (T, Y) scaled targets as in the file, NaN where missing
    known: np.ndarray       # (T, Fk) known-future inputs (calendar) or (T, 0)
    valid: np.ndarray       # (T,) rows usable as encoder input (no NaN in Z)

    def windows(self, part: str, history: int, horizon: int, trained: bool = False):
        """(enc_idx, dec_idx) of every window inside the part ("training", "validation",
        "test"); ``trained``: of a trained model (windows.windows)."""
        start, stop = self.split.parts()[part]
        return windows(len(self.Z), history, horizon, start, stop, valid=self.valid, name=part,
                       source=self.series.path, trained=trained)


def series_arrays(s: Series, settings: ForecastConfig, scaler: Scaler | None = None) -> tuple[SeriesArrays, Scaler]:
    """Fill, scale (fitting the scaler on the training rows unless one is given) and add
    the calendar. Nothing after a row enters that row's inputs: filling is causal for
    ffill, and interpolation never crosses a split boundary (features.fill_missing).
    A problem is a ``DataError`` that names the series' file."""
    sp = split(len(s), settings.val_fraction, settings.test_fraction, source=s.path)
    X = fill_missing(s.values, settings.missing, boundaries=sp.boundaries, source=s.path)
    if scaler is None:
        scaler = Scaler.fit(X[sp.train[0]:sp.train[1]], s.names)
    Y = s.n_targets
    scaled = scaler.transform(X)
    known = calendar_features(s.time, source=s.path)[0] if settings.calendar else np.zeros((len(s), 0))
    Z = np.hstack([scaled, known])
    raw = scaler.transform(s.values[:, :Y], slice(0, Y))
    Yin = fill_missing(raw, "ffill")
    valid = ~np.isnan(Z).any(axis=1)
    return SeriesArrays(s, sp, X, Z, Yin, raw, known, valid), scaler


def gather_inputs(arr: SeriesArrays, enc: np.ndarray, dec: np.ndarray, dtype):
    """What a forecast of the windows (enc (B, history), dec (B, horizon)) may see:
    x (Th, B, F) encoder inputs, y0 (B, Y) the targets at the origin, known (Tf, B, Fk)."""
    x = arr.Z[enc.T].astype(dtype)                           # (Th, B, F)
    y0 = arr.Yin[enc[:, -1]].astype(dtype)                   # (B, Y)
    known = arr.known[dec.T].astype(dtype)                   # (Tf, B, Fk)
    return x, y0, known


def gather(arr: SeriesArrays, enc: np.ndarray, dec: np.ndarray, dtype):
    """Training inputs of the windows, time-major: ``gather_inputs`` and the previous
    values (Tf, B, Y) for teacher forcing, the targets (Tf, B, Y) (0 where missing)
    and their mask (Tf, B, Y)."""
    x, y0, known = gather_inputs(arr, enc, dec, dtype)
    prev = arr.Yin[dec.T - 1].astype(dtype)                  # (Tf, B, Y)  y_{k-1}; row dec[0]-1 is the origin
    y = arr.Ytrue[dec.T]
    mask = np.isfinite(y)
    return x, y0, known, prev, np.where(mask, y, 0.0).astype(dtype), mask.astype(dtype)


def predict_windows(net, params: dict, arr: SeriesArrays, enc: np.ndarray, dec: np.ndarray, ws) -> np.ndarray:
    """Free-running forecasts of the windows (enc, dec), in scaled units: (N, horizon, Y).
    In batches of ``VAL_BATCH`` windows, so memory is bounded by a batch."""
    dtype = next(iter(params.values())).dtype
    out = np.empty((len(enc), dec.shape[1], net.Y))
    for i in range(0, len(enc), VAL_BATCH):
        x, y0, known = gather_inputs(arr, enc[i:i + VAL_BATCH], dec[i:i + VAL_BATCH], dtype)
        out[i:i + VAL_BATCH] = net.predict(params, x, y0, known, ws).transpose(1, 0, 2)
    return out


class ForecastTask:
    """Windows of a series in, loss per scored target value out. A batch is a set of
    training windows; its gradient is that of the batch's mean loss per scored value.
    Validation runs the decoder free, as forecasting does."""
    unit = "val"

    def __init__(self, net, data: ForecastData, arr: SeriesArrays, train: tuple, val: tuple | None, cfg):
        self.net, self.data, self.arr, self.cfg = net, data, arr, cfg
        enc, dec = train
        counts = np.isfinite(arr.Ytrue[dec]).sum(axis=(1, 2))    # (N,) scored values per window
        keep = counts > 0                                         # a window with nothing to score teaches nothing
        self.enc, self.dec, self.counts = enc[keep], dec[keep], counts[keep]
        self.val = val
        self.free = data.settings.decoder_training == "free"
        self.last_val = None                                      # per-target validation errors, data units
        self.dtype = np.dtype(cfg.dtype)

    def epoch_batches(self, epoch: int) -> list:
        perm = np.random.default_rng([self.cfg.seed, epoch]).permutation(len(self.enc))
        bs = self.cfg.batch_size
        return [perm[i:i + bs] for i in range(0, len(perm), bs)]

    def n_batches(self) -> int:
        return -(-len(self.enc) // self.cfg.batch_size)

    def units(self, batches) -> int:
        """Scored target values in these batches."""
        return int(sum(self.counts[b].sum() for b in batches))

    def loss_and_grads(self, params: dict, sel, grads: dict, ws, rng, rows=None) -> tuple[float, int]:
        """(summed loss, scored values) of one batch; grads of the mean per scored value
        (dense: the network has no embedding, ``rows`` is unused)."""
        x, y0, known, prev, y, mask = gather(self.arr, self.enc[sel], self.dec[sel], self.dtype)
        n = int(self.counts[sel].sum())
        dec_in = np.concatenate([prev, known], axis=2)
        # free: the decoder is fed its own outputs, as at inference (no gradient through them)
        loss = self.net.loss_and_grads(params, x, dec_in, y, mask, grads, ws, scale=1.0 / n, free=self.free)
        return loss, n

    def predict_windows(self, params: dict, enc: np.ndarray, dec: np.ndarray, ws) -> np.ndarray:
        return predict_windows(self.net, params, self.arr, enc, dec, ws)

    def validation_loss(self, params: dict, ws) -> float | None:
        """Mean loss per scored value of the validation windows, free running."""
        if self.val is None:
            return None
        enc, dec = self.val
        pred = self.predict_windows(params, enc, dec, ws)          # (N, Tf, Y)
        y = self.arr.Ytrue[dec]
        mask = np.isfinite(y)
        err = np.where(mask, pred - np.where(mask, y, 0.0), 0.0)
        n = mask.sum(axis=(0, 1))                                   # (Y,)
        std = self.data.scaler.std[:self.data.n_targets]
        sq, ab = (err ** 2).sum(axis=(0, 1)), np.abs(err).sum(axis=(0, 1))
        with np.errstate(invalid="ignore", divide="ignore"):
            self.last_val = {"rmse": np.sqrt(sq / n) * std, "mae": ab / n * std}
        total = max(int(n.sum()), 1)
        return float((sq.sum() if self.net.loss == "mse" else ab.sum()) / total)

    def metrics(self, val_loss: float | None) -> dict:
        """The validation error in the data's units, per target: RMSE and MAE."""
        if val_loss is None or self.last_val is None:
            return {"val_rmse": None, "val_mae": None}
        names = self.data.targets

        def per(v):
            return {n: (float(x) if math.isfinite(x) else None) for n, x in zip(names, v)}
        return {"val_rmse": per(self.last_val["rmse"]), "val_mae": per(self.last_val["mae"])}
