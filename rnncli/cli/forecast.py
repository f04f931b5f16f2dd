"""The forecasting commands: `rnn forecast train | predict | eval`."""
from __future__ import annotations

import json
import math
from types import SimpleNamespace

import click

from ..config import Config
from ..forecast.settings import MODEL, TRAINING, ForecastConfig
from ..registry import DECODER_TRAINING, DTYPES, FILL_METHODS, LOSSES
from .display import Progress
from .errors import catching, fail
from .files import Paths, check_matplotlib, load_checkpoint, resumed_output, training_paths
from .options import cell_options, optimizer_options, run_options
from .threads import one_blas_thread, workspace
from .training import STOP_REASONS, command_line, run_training

# Built from the defaults so help text and behaviour cannot drift apart.
D = Config().replace(**TRAINING)
F = ForecastConfig()
M = SimpleNamespace(**MODEL)


def _names(value):
    """'a,b' -> ['a', 'b']; None stays None."""
    if value is None:
        return None
    names = [v.strip() for v in value.split(",") if v.strip()]
    return names or None


@click.group(short_help="Forecast time series with an encoder-decoder RNN.")
def forecast():
    """Train a sequence-to-sequence (encoder-decoder) RNN on a multivariate time series
    in a CSV file, forecast the steps after the data, and score it next to
    persistence, seasonal naive and linear autoregressive baselines.

    \b
      rnn forecast train data.csv --target y --history 72 --horizon 24   # writes forecast.npz
      rnn forecast predict data.csv                                      # the next 24 steps
      rnn forecast eval data.csv --plot errors.png                       # the test part, with baselines
    """


# ------------------------------------------------------------------ train


@forecast.command(short_help="Train a forecasting model on a CSV series.")
@click.argument("data", type=click.Path(), metavar="DATA.csv")
@click.option("--target", default=None, metavar="COL[,COL...]",
              help="Column(s) to forecast (required unless --resume).")
@click.option("--features", default=None, metavar="COL,...",
              help="Input columns besides the targets [default: every other column except the time and a "
                   "row-number column]; non-numeric columns are one-hot encoded.")
@click.option("--time", "time_cols", default=None, metavar="COL[,COL...]",
              help="The time index: one column (ISO dates or numbers) or several (year,month,day,hour) "
                   "[default: a column named time/date/datetime/timestamp, else year,month,day[,hour]].")
@click.option("--history", type=click.IntRange(min=1), default=None,
              help="Steps of history the encoder reads (required unless --resume).")
@click.option("--horizon", type=click.IntRange(min=1), default=None,
              help="Steps the decoder forecasts (required unless --resume).")
@click.option("-o", "--output", type=click.Path(), default="forecast.npz", show_default=True,
              help="Checkpoint written after every epoch and on Ctrl-C (with --resume and no -o: the "
                   "checkpoint resumed); the best by validation loss also goes to NAME.best.npz.")
@click.option("--resume", type=click.Path(), default=None, metavar="CKPT",
              help="Continue training from a checkpoint (same data file, columns and model); it is "
                   "written back unless -o names another file.")
@click.option("--missing", type=click.Choice(FILL_METHODS), default=None,
              help="Missing inputs: ffill carries the last value forward (causal); interpolate is linear "
                   "within a split part; drop leaves windows with a gap in their history out. Missing "
                   f"targets are never scored [default: {F.missing}].")
@click.option("--calendar/--no-calendar", default=None,
              help="Add hour of day and day of week (sine, cosine) to the inputs; known in advance, they "
                   "also feed the decoder [default: on for dates or times with a step under a week].")
@click.option("--season", type=click.IntRange(min=1), default=None,
              help="Season length in steps for the seasonal-naive baseline and MASE [default: inferred: 24 "
                   "for hourly data, 7 daily, 12 monthly].")
@click.option("--val-fraction", type=click.FloatRange(0, 1, max_open=True), default=None,
              help=f"Share of the rows (before the test part) for validation and early stopping [default: {F.val_fraction}].")
@click.option("--test-fraction", type=click.FloatRange(0, 1, max_open=True), default=None,
              help=f"Share of the rows at the end held out for `rnn forecast eval` [default: {F.test_fraction}].")
@click.option("--sort", is_flag=True, default=None,
              help="Sort the rows by time when the file is out of order (otherwise an error).")
@click.option("--encoding", default=None, help=f"Text encoding of the CSV file [default: {F.encoding}].")
@click.option("--loss", type=click.Choice(LOSSES), default=None,
              help="Training loss on the scaled targets: mse (squared error) or mae (absolute error) "
                   f"[default: {M.loss}].")
@click.option("--decoder-training", type=click.Choice(DECODER_TRAINING), default=None,
              help="What the decoder is fed in training: teacher (the true previous value, teacher forcing) or "
                   "free (its own previous output, as at inference) "
                   f"[default: {F.decoder_training}].")
@click.option("--attention/--no-attention", default=None,
              help="Let the decoder attend to the encoder's states at every step (Luong's general score) "
                   f"[default: {'on' if M.attention else 'off'}].")
@cell_options(M)
@click.option("--batch-size", type=click.IntRange(min=1), default=None,
              help=f"Windows per update; the gradient is that of the mean loss per forecast value [default: {D.batch_size}].")
@click.option("--dtype", type=click.Choice(DTYPES), default=None,
              help=f"Floating-point precision [default: {D.dtype}].")
@optimizer_options(D)
@run_options("reading the data")
@catching
def train(data, target, features, time_cols, history, horizon, output, resume, missing, calendar, season,
          val_fraction, test_fraction, sort, encoding, loss, decoder_training, attention, log_path, quiet, **opts):
    """Train the encoder-decoder on DATA.csv: the encoder reads --history steps of every
    input column, its final state starts the decoder, which forecasts the --horizon
    steps of the target column(s).

    The rows are split in time order into training, validation (--val-fraction) and
    test (--test-fraction, last) parts; no window crosses a boundary; the scaler is
    fitted on the training part. After each epoch the validation windows are
    forecast free running (as `predict` does), the checkpoint is written and the
    learning-rate schedule applied.
    """
    from ..checkpoint import best_path
    from ..forecast import prepare

    prog = Progress(quiet)
    output = resumed_output(output, resume)
    fgiven = {k: v for k, v in dict(targets=_names(target), features=_names(features), time=_names(time_cols),
                                     history=history, horizon=horizon, missing=missing, calendar=calendar,
                                     season=season, val_fraction=val_fraction, test_fraction=test_fraction,
                                     sort=sort, encoding=encoding, decoder_training=decoder_training).items()
              if v is not None}
    given = {k: v for k, v in dict(opts, loss=loss, attention=attention, **fgiven).items() if v is not None}
    ck = load_checkpoint(resume, "forecast") if resume else None
    if ck is None:
        for opt, key in (("--target", "targets"), ("--history", "history"), ("--horizon", "horizon")):
            if key not in fgiven:
                fail(f"{opt} is required (rnn forecast train DATA.csv --target COL --history H --horizon K)")
    if "val_fraction" in fgiven or "test_fraction" in fgiven:
        v = fgiven.get("val_fraction", F.val_fraction if ck is None else ck.task.settings.val_fraction)
        t = fgiven.get("test_fraction", F.test_fraction if ck is None else ck.task.settings.test_fraction)
        if v + t >= 1:
            fail(f"--val-fraction {v:g} and --test-fraction {t:g} add up to {v + t:g}; they must leave rows "
                 f"for training")
    settings = prepare.configure(given, ck, resume)
    # this run's --threads, never a resumed checkpoint's
    settings = settings._replace(train=settings.train.replace(threads=opts["threads"]))
    training_paths(output, log_path, resume).reads(data, "the data").claim()
    one_blas_thread()
    trainer = prepare.prepare_training(data, settings, ck, prog).trainer(output, log_path)

    def describe_val(r):
        rm = ", ".join(f"{n} {v:.4g}" for n, v in (r.get("val_rmse") or {}).items() if v is not None)
        return f"(RMSE {rm})" if rm else ""

    again = command_line("rnn", "forecast", "train", data, "--resume", output,
                         *(("--log", log_path) if log_path else ()))
    result = run_training(trainer, prog, describe_val, again)
    best = ""
    if result.best_val is not None:
        rec = min((r for r in result.history if r["val_loss"] is not None), key=lambda r: r["val_loss"])
        rm = ", ".join(f"{n} {v:.4g}" for n, v in (rec.get("val_rmse") or {}).items() if v is not None)
        best = f"; best validation RMSE {rm} in {best_path(output)}"
    prog.note(f"done ({STOP_REASONS[result.stopped]}): {output}{best}; score it with "
              f"`{command_line('rnn', 'forecast', 'eval', '-m', output, data)}`")


# ------------------------------------------------------------------ predict


@forecast.command(short_help="Forecast the steps after the end of the data (or after --at).")
@click.argument("data", type=click.Path(), metavar="DATA.csv")
@click.option("-m", "--model", "model_path", type=click.Path(), default="forecast.npz", show_default=True,
              help="Checkpoint written by `rnn forecast train`.")
@click.option("--at", default=None, metavar="TIME",
              help="Forecast the steps after the row with this time (e.g. '2014-06-01 12:00'), not after the last row.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object: times, forecast and (with --at) the data's values.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV: time, then one column per target.")
@click.option("--plot", type=click.Path(dir_okay=False), default=None, metavar="PNG",
              help="Draw history, forecast and (with --at) the truth per target to this PNG (needs matplotlib).")
@click.option("--sort", is_flag=True, help="Sort the rows by time when the file is out of order.")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="Limit the CPU threads used.")
@click.option("-q", "--quiet", is_flag=True, help="No notes on standard error.")
@catching
def predict(data, model_path, at, as_json, as_csv, plot, sort, threads, quiet):
    """Forecast the horizon after the last row of DATA.csv (or after --at TIME), in the
    data's units. DATA.csv needs the columns the model was trained on; the last
    --history rows up to the origin are its input."""
    import numpy as np

    from ..forecast import evaluate, prepare
    from ..forecast.time import display_time

    if as_json and as_csv:
        fail("--json and --csv exclude each other")
    prog = Progress(quiet)
    ws = workspace(threads)
    if plot is not None:
        _claim_plot(plot, data, model_path)
    ck = load_checkpoint(model_path, "forecast")
    if plot:
        check_matplotlib()
    s, arr = prepare.load_for_checkpoint(data, ck, sort or None)
    prepare.check_series(s, ck.task.settings, prog)
    origin = evaluate.origin_row(arr, at)
    times, pred, truth = evaluate.forecast_after(ck, arr, origin, ws)
    names = ck.task.targets
    has_truth = bool(np.isfinite(truth).any())
    if plot:
        from ..forecast import plots
        back = max(ck.task.settings.history, 3 * len(times))
        lo = max(0, origin + 1 - back)
        _plot(plots.plot_forecast, plot, s.time[lo:origin + 1], s.values[lo:origin + 1, :len(names)], times, pred,
              truth=truth if has_truth else None, names=names,
              title=f"forecast after {display_time(s.time[origin])} ({model_path})")
    if as_json:
        out = {"model": model_path, "data": data, "origin": display_time(s.time[origin]), "horizon": len(times),
               "targets": names, "time": [display_time(t) for t in times],
               "forecast": {n: [float(v) for v in pred[:, k]] for k, n in enumerate(names)}}
        if has_truth:
            out["actual"] = {n: [None if not np.isfinite(v) else float(v) for v in truth[:, k]]
                             for k, n in enumerate(names)}
        click.echo(json.dumps(out, indent=1))
        return
    if as_csv:
        click.echo(",".join(["time"] + names))
        for i, t in enumerate(times):
            click.echo(",".join([display_time(t)] + [f"{v:.6g}" for v in pred[i]]))
        return
    where = "the last row" if at is None else "--at"
    click.echo(f"forecast after {display_time(s.time[origin])} ({where} of {data}), {len(times)} steps:")
    w = max(len(display_time(times[0])), 4)
    cols = [f"{n:>12}" for n in names] + ([f"{'actual ' + n:>16}" for n in names] if has_truth else [])
    click.echo(f"{'time':<{w}}  " + " ".join(cols))
    for i, t in enumerate(times):
        vals = [f"{v:12.4g}" for v in pred[i]]
        if has_truth:
            vals += [f"{v:16.4g}" if np.isfinite(v) else f"{'-':>16}" for v in truth[i]]
        click.echo(f"{display_time(t):<{w}}  " + " ".join(vals))


def _claim_plot(plot, data, model_path):
    Paths().reads(data, "the data").reads(model_path, "the model (-m)").writes(plot, "the plot", "--plot").claim()


def _plot(fn, path, *a, **kw):
    from ..forecast.plots import PlotError
    try:
        fn(path, *a, **kw)
    except PlotError as e:
        fail(str(e))


# ------------------------------------------------------------------ eval


@forecast.command("eval", short_help="Score the test part next to the baselines.")
@click.argument("data", type=click.Path(), metavar="DATA.csv")
@click.option("-m", "--model", "model_path", type=click.Path(), default="forecast.npz", show_default=True,
              help="Checkpoint written by `rnn forecast train`.")
@click.option("--part", type=click.Choice(["test", "validation"]), default="test", show_default=True,
              help="Which part of DATA.csv to score (the split stored in the checkpoint).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with every score.")
@click.option("--plot", type=click.Path(dir_okay=False), default=None, metavar="PNG",
              help="Draw RMSE by horizon step for the model and each baseline to this PNG (needs matplotlib).")
@click.option("--sort", is_flag=True, help="Sort the rows by time when the file is out of order.")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="Limit the CPU threads used.")
@click.option("-q", "--quiet", is_flag=True, help="No notes on standard error.")
@catching
def eval_cmd(data, model_path, part, as_json, plot, sort, threads, quiet):
    """Score the model on the test part of DATA.csv (the last --test-fraction of the rows,
    as split in training): RMSE, MAE and MASE per horizon step and overall, in the
    data's units, next to persistence (the last value), seasonal naive (the value one
    season earlier) and the linear autoregressive model fitted by least squares on
    the training windows, all on the same windows. Missing targets are not scored.
    MASE divides by the in-sample seasonal-naive MAE of the training part."""
    from ..forecast import evaluate, prepare
    from ..forecast.time import display_time

    prog = Progress(quiet)
    ws = workspace(threads)
    if plot is not None:
        _claim_plot(plot, data, model_path)
    ck = load_checkpoint(model_path, "forecast")
    if plot:
        check_matplotlib()
    s, arr = prepare.load_for_checkpoint(data, ck, sort or None)
    prepare.check_series(s, ck.task.settings, prog)
    ev = evaluate.evaluate(ck, arr, "test" if part == "test" else "validation", ws)
    names = ck.task.targets
    beats = ev.beats()
    fc = ck.task.settings
    if plot:
        from ..forecast import plots
        _plot(plots.plot_errors_by_horizon, plot, {k: sc.rmse_by_step for k, sc in ev.scores.items()},
              names=names, title=f"RMSE by horizon step, {part} part of {data}")
    if as_json:
        out = {"model": model_path, "data": data, "part": part, "rows": [int(ev.rows[0]), int(ev.rows[1])],
               "windows": int(len(ev.enc)), "history": fc.history, "horizon": fc.horizon, "season": ck.task.season,
               "targets": names, "scores": {k: sc.to_dict(names) for k, sc in ev.scores.items()},
               "beats": {b: dict(zip(names, v)) for b, v in beats.items()}, "skipped": ev.skipped}
        click.echo(json.dumps(out, indent=1, allow_nan=False))
        return
    r0, r1 = ev.rows
    span = f"{display_time(s.time[r0])} .. {display_time(s.time[r1 - 1])}"
    click.echo(f"{part} part of {data}: rows {r0 + 1:,}-{r1:,} ({span}), "
               f"{len(ev.enc):,} windows, history {fc.history}, horizon {fc.horizon}")
    label = {"seasonal naive": f"seasonal naive ({ck.task.season})"}
    for k, name in enumerate(names):
        click.echo(f"\n{name}: {int(ev.mask[..., k].sum()):,} values scored")
        click.echo(f"  {'':22} {'RMSE':>10} {'RMSE mean':>10} {'MAE':>10} {'MASE':>7}")
        for m, sc in ev.scores.items():
            click.echo(f"  {label.get(m, m):22} {_num(sc.rmse[k], 10)} {_num(sc.rmse_step_mean[k], 10)} "
                       f"{_num(sc.mae[k], 10)} {_num(sc.mase[k], 7, '.3f')}")
        steps = ev.scores["model"].rmse_by_step.shape[0]
        show = sorted({0, 1, 2, steps // 4, steps // 2, 3 * steps // 4, steps - 1})
        show = [i for i in show if 0 <= i < steps]
        click.echo(f"  RMSE by horizon step {'':3}" + "".join(f"{i + 1:>9}" for i in show))
        for m, sc in ev.scores.items():
            click.echo(f"  {label.get(m, m):22}   " + "".join(_num(sc.rmse_by_step[i, k], 9) for i in show))
        lost = [label.get(b, b) for b, v in beats.items() if not v[k]]
        won = [label.get(b, b) for b, v in beats.items() if v[k]]
        if lost:
            click.echo(f"  the model does NOT beat {', '.join(lost)} in RMSE averaged over the horizon"
                       + (f" (it beats {', '.join(won)})" if won else ""))
        else:
            click.echo(f"  the model beats {', '.join(won)} in RMSE averaged over the horizon")
    for b, why in ev.skipped.items():
        click.echo(f"{b}: not reported: {why}")
    click.echo("RMSE mean: RMSE per horizon step averaged over the steps; MASE: MAE / in-sample seasonal-naive "
               "MAE of the training part")


def _num(v, width, fmt=".4g"):
    return f"{'-':>{width}}" if not math.isfinite(float(v)) else f"{float(v):>{width}{fmt}}"
