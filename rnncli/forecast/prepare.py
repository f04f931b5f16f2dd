"""Everything `rnn forecast train` needs before the first step, and the reading that
predict and eval share: ``configure`` settles the run's settings (new, or a
checkpoint's with the options given), then ``prepare_training`` reads the series,
checks it, builds the arrays, the baselines fitted on the training windows, the
network, the parameters and the task, ready to become a Trainer (start.Setup). Every
problem with the input is a ``DataError`` raised before anything is written."""
from __future__ import annotations

import time

import numpy as np

from .. import memory
from ..config import Config, RunSettings, check_resume, check_rnn_cell_only, split_by
from ..errors import DataError
from ..nn.seq2seq import Seq2Seq
from ..start import Setup, starting_point
from . import baselines, metrics, settings as fc_settings
from .features import FILL_METHODS
from .series import from_table, from_table_like
from .settings import ForecastConfig, model_options
from .table import Table, read_table
from .task import VAL_BATCH, ForecastData, ForecastTask, series_arrays

# column names taken as the time index when --time is not given (case-insensitive)
TIME_NAMES = ("time", "date", "datetime", "timestamp", "date_time", "ds")


def configure(given: dict, ck=None, resume: str | None = None) -> RunSettings:
    """The run's training settings, data settings (ForecastConfig) and model options: the
    forecasting recipe (forecast.settings.TRAINING, MODEL) or the checkpoint's, with the
    options given."""
    train, data, model = split_by(given, Config.__dataclass_fields__, ForecastConfig.__dataclass_fields__,
                                  fc_settings.MODEL)
    if ck is None:
        model = {**fc_settings.MODEL, **model}
        check_rnn_cell_only(model["cell"], model, with_values=False)
        return RunSettings(Config().replace(**fc_settings.TRAINING).replace(**train), ForecastConfig().replace(**data),
                           model)
    cfg, fc, model = ck.config, ck.task.settings, model_options(ck.model)
    trained = {**cfg.__dict__, **fc.__dict__, **model}
    check_resume(given, {k: trained[k] for k in fc_settings.DEFINING}, resume)
    return RunSettings(cfg.replace(**train),
                       fc.replace(**{k: v for k, v in data.items() if k not in fc_settings.DEFINING}), model)


def guess_time_columns(path: str, header: list[str]) -> list[str]:
    """The time column(s) when --time is not given: a column named like ``TIME_NAMES``,
    else year, month, day (and hour, minute) when the file's ``header`` has them."""
    low = {h.lower(): h for h in header}
    for n in TIME_NAMES:
        if n in low:
            return [low[n]]
    parts = []
    for n in ("year", "month", "day", "hour", "minute"):
        if n not in low:
            break
        parts.append(low[n])
    if len(parts) >= 3:
        return parts
    raise DataError(f"{path}: no --time given and no column named {', '.join(TIME_NAMES[:4])} or year,month,day; "
                    f"name the time column(s) with --time (the columns are: {', '.join(header[:12])}"
                    f"{', ...' if len(header) > 12 else ''})")


def auto_calendar(s) -> bool:
    """Calendar inputs by default where they can matter: dates or times with a step
    shorter than a week (hour of day and day of week vary from row to row)."""
    step = s.step
    if not s.is_datetime or not isinstance(step, np.timedelta64) or np.datetime_data(step.dtype)[0] in ("M", "Y"):
        return False
    return 0 < int(step.astype("timedelta64[s]").astype(np.int64)) < 7 * 86400


def read_series(table: Table, fc: ForecastConfig, schema: dict | None = None):
    """Read and check a series: sorted time (or --sort), not constant, a target present."""
    if schema is not None:
        s = from_table_like(table, schema)
    else:
        s = from_table(table, fc.time, fc.targets, fc.features)
    if s.reordered and not fc.sort:
        raise DataError(f"{table.path}: rows are not in time order ({s.out_of_order}); sort the file, pass --sort "
                        f"to sort it by time, or check --time")
    return s


def check_series(s, fc: ForecastConfig, prog):
    """Notes on missing values, gaps and categories not seen in training."""
    miss = {k: v for k, v in s.missing.items() if v}
    if miss:
        prog.note(f"missing values: {', '.join(f'{k} {v:,}' for k, v in miss.items())} of {len(s):,} rows; "
                  f"inputs filled by {fc.missing} (--missing); missing targets are never scored")
    if s.gaps:
        prog.note(f"time index: {s.gaps} (windows run over gaps as if the rows were consecutive)")
    if s.unknown_categories:
        prog.note("categories not seen in training (all-zero one-hot rows): "
                  + ", ".join(f"{k} {v}" for k, v in s.unknown_categories.items()))


def prepare_training(path: str, settings: RunSettings, ck, prog) -> Setup:
    """Series, arrays, windows, baselines, network and parameters for a run with the
    ``settings`` ``configure`` settled; ``ck`` is the checkpoint being resumed, or None."""
    cfg, fc, model = settings
    t0 = time.perf_counter()
    if fc.missing not in FILL_METHODS:
        raise DataError(f"unknown --missing {fc.missing!r}; choose one of {', '.join(FILL_METHODS)}")
    table = read_table(path, fc.encoding)
    if ck is None and not fc.time:
        fc = fc.replace(time=guess_time_columns(path, table.header))
    s = read_series(table, fc, ck.task.schema if ck is not None else None)
    if fc.features is None:
        fc = fc.replace(features=list(s.features))
    if fc.calendar is None:
        fc = fc.replace(calendar=auto_calendar(s))
    if fc.calendar and not s.is_datetime:
        raise DataError(f"{path}: --calendar needs dates or times in the time column, not plain numbers")
    arr, scaler = series_arrays(s, fc, ck.task.scaler if ck is not None else None)
    sp = arr.split
    Y = s.n_targets
    train_y = s.values[sp.train[0]:sp.train[1], :Y]
    for k, name in enumerate(s.targets):
        col = train_y[:, k][np.isfinite(train_y[:, k])]
        if len(col) and np.ptp(col) == 0:
            raise DataError(f"{path}: target {name!r} is constant ({col[0]:g}) in the training part; "
                            f"there is nothing to forecast")
        if len(col) == 0:
            raise DataError(f"{path}: target {name!r} has no values in the training part (the first "
                            f"{sp.train[1]:,} rows)")
    check_series(s, fc, prog)
    H, K = fc.history, fc.horizon
    train = arr.windows("training", H, K)
    val = arr.windows("validation", H, K) if sp.val[1] > sp.val[0] else None
    if sp.test[1] > sp.test[0]:
        arr.windows("test", H, K)                          # eval must find a window later
    season = fc.season if fc.season else baselines.infer_season(s.time)
    if season and season >= len(s):
        raise DataError(f"--season {season} is not shorter than the series ({len(s)} rows)")
    scale = metrics.mase_scale(train_y, season)
    if ck is not None and ck.task.ar is not None:
        ar = ck.task.ar
    else:
        try:
            ar = baselines.LinearAR().fit(arr.Z, arr.X[:, :Y], s.observed, *train,
                                          known=arr.known if fc.calendar else None)
        except DataError:                                  # no training window has every target
            ar = None
    data = ForecastData(fc, s.schema(), scaler, season, scale, ar)
    net = Seq2Seq(data.n_inputs, Y, data.n_known, model["hidden_dim"], model["cell"], model["activation"],
                  model["layers"], model["loss"], attention=model["attention"])
    prog.note(f"series: {path}: {len(s):,} rows, targets {', '.join(s.targets)}; {data.n_inputs} inputs per step "
              f"({', '.join(s.names[:8])}{', ...' if len(s.names) > 8 else ''}"
              f"{', calendar' if fc.calendar else ''}); windows: {len(train[0]):,} training, "
              f"{len(val[0]) if val else 0:,} validation (history {H}, horizon {K}); "
              f"ready in {time.perf_counter() - t0:.1f}s")
    check_memory(net, cfg, len(train[0]), len(val[0]) if val else 0, H, K, resumed=ck is not None)
    params, state, opt_state = starting_point(net, cfg, ck, prog.note)
    n_params = sum(v.size for v in params.values())
    prog.note(f"model: {model['cell']} x{model['layers']} H={model['hidden_dim']} encoder-decoder, "
              f"{n_params:,} parameters, {cfg.dtype}; loss {model['loss']}, decoder trained {fc.decoder_training}; "
              f"{cfg.optimizer} lr={cfg.lr:g} "
              f"batch={cfg.batch_size} windows clip={cfg.clip:g}")
    return Setup(cfg, net, params, ForecastTask(net, data, arr, train, val, cfg), state, opt_state)


def check_memory(net, cfg, n_train: int, n_val: int, history: int, horizon: int, resumed: bool):
    """Refuse a run this machine cannot hold before its parameters are allocated
    (memory.py): the parameters and their copies, and the work arrays of a training
    batch and of a validation batch (free running, VAL_BATCH windows)."""
    itemsize = memory.ITEMSIZE[cfg.dtype]
    work = memory.seq2seq_work(net.args, net.gates, min(cfg.batch_size, n_train), history, horizon, itemsize)
    # free running keeps the encoder's states and a copy of its top layer's
    units = net.L * memory.stack_units(net.gates, backward=False) + 1
    val = min(VAL_BATCH, n_val) * history * net.H * units * itemsize
    model = () if resumed else ("--hidden-dim", "--layers")
    batch = ("--batch-size",) if resumed else ("--batch-size", "--history")
    memory.check(memory.training_need(net.shapes(), cfg, work + val), model, batch)


def load_for_checkpoint(path: str, ck, sort: bool | None = None):
    """A new series read with a checkpoint's columns and scaler -> (series, arrays)."""
    fc = ck.task.settings
    if sort is not None:
        fc = fc.replace(sort=sort)
    table = read_table(path, fc.encoding, remedy=f"the model reads {fc.encoding}, the encoding of its training data: "
                                                 f"convert the file to {fc.encoding}")
    s = read_series(table, fc, ck.task.schema)
    arr, _ = series_arrays(s, fc, ck.task.scaler)
    return s, arr
