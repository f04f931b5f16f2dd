"""Pictures of forecasts: history, truth and forecast per target, and error by
horizon step for the model and each baseline. matplotlib is an optional extra,
imported inside the functions (Agg canvas, no pyplot state, no display needed);
PNG files are written atomically (temporary file, then rename)."""
from __future__ import annotations

import numpy as np

from ..plotting import INSTALL_HINT, PlotError, figure as _figure, save as _save  # noqa: F401


def _cols(a):
    a = np.asarray(a, dtype=np.float64)
    return a[:, None] if a.ndim == 1 else a


def plot_forecast(path: str, time_history: np.ndarray, history: np.ndarray, time_future: np.ndarray,
                  forecast: np.ndarray, truth: np.ndarray | None = None, names: list[str] | None = None,
                  baselines: dict[str, np.ndarray] | None = None, title: str | None = None,
                  unit: str | None = None) -> None:
    """One panel per target: the history (Th,) or (Th, K), the forecast (horizon, K)
    and, when known, the truth (horizon, K; NaN = missing) and baseline forecasts
    (name -> (horizon, K)). Time axes are datetime64 or numbers. Writes a PNG."""
    history, forecast = _cols(history), _cols(forecast)
    K = forecast.shape[1]
    names = names or [f"target {k}" for k in range(K)]
    fig, axes = _figure(K)
    th, tf = np.asarray(time_history), np.asarray(time_future)
    for k, ax in enumerate(axes):
        ax.plot(th, history[:, k], color="0.35", lw=1.2, label="history")
        if truth is not None:
            tr = _cols(truth)[:, k]
            ax.plot(np.concatenate([th[-1:], tf]), np.concatenate([history[-1:, k], tr]),
                    color="black", lw=1.2, ls="--", label="truth")
        for j, (bname, b) in enumerate((baselines or {}).items()):
            ax.plot(tf, _cols(b)[:, k], lw=1.4, ls=":", color=f"C{j + 1}", label=bname)
        ax.plot(np.concatenate([th[-1:], tf]), np.concatenate([history[-1:, k], forecast[:, k]]),
                color="C0", lw=2.0, label="forecast")
        ax.axvline(th[-1], color="0.6", lw=0.8)
        ax.set_ylabel(names[k] + (f" ({unit})" if unit else ""))
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left", fontsize="small", ncol=3)
    if np.issubdtype(th.dtype, np.datetime64):
        from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
        for ax in axes:
            locator = AutoDateLocator()
            ax.xaxis.set_major_locator(locator)
            ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    axes[0].set_title(title or "forecast")
    _save(fig, path)


def plot_errors_by_horizon(path: str, errors: dict[str, np.ndarray], names: list[str] | None = None,
                           metric: str = "RMSE", title: str | None = None, unit: str | None = None) -> None:
    """One panel per target: ``metric`` against horizon step (1..horizon) for each
    entry of ``errors`` (label -> (horizon,) or (horizon, K), e.g. ``Scores.rmse_by_step``);
    the first entry (the model) is drawn boldest. Writes a PNG."""
    if not errors:
        raise ValueError("no errors to plot")
    curves = {k: _cols(v) for k, v in errors.items()}
    K = next(iter(curves.values())).shape[1]
    names = names or [f"target {k}" for k in range(K)]
    fig, axes = _figure(K, width=7.5, height=3.4)
    for k, ax in enumerate(axes):
        for j, (label, v) in enumerate(curves.items()):
            steps = np.arange(1, len(v) + 1)
            ax.plot(steps, v[:, k], marker="o", ms=3 if j else 4, lw=2.2 if j == 0 else 1.2,
                    color=f"C{j}", label=label)
        ax.set_xlabel("horizon step")
        ax.set_ylabel(f"{metric} of {names[k]}" + (f" ({unit})" if unit else ""))
        ax.set_xlim(0.5, len(v) + 0.5)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    axes[0].set_title(title or f"{metric} by horizon step")
    _save(fig, path)
