"""Pictures, with matplotlib as an optional extra (`pip install 'rnncli[plot]'`):
imported inside the functions, Agg canvas (no display, no pyplot state), PNG files
written atomically. Also a text rendering of a training history for terminals."""
from __future__ import annotations

import math


class PlotError(Exception):
    """Plotting is not possible (matplotlib missing, file not writable), as one line."""


INSTALL_HINT = "plotting needs matplotlib: pip install 'rnncli[plot]'"


def figure(n_panels: int, width: float = 9.0, height: float = 3.0):
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise PlotError(INSTALL_HINT) from None
    fig = Figure(figsize=(width, height * n_panels + 0.6), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(n_panels, 1, squeeze=False)[:, 0]
    return fig, axes


def save(fig, path: str):
    from .fileio import atomic_write, write_failed
    try:
        atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=110))
    except OSError as e:
        raise PlotError(write_failed(path, "the plot", e)) from None


def _series(history: list, key: str):
    pts = [(r["epoch"], r[key]) for r in history if isinstance(r.get(key), (int, float)) and math.isfinite(r[key])]
    return [p[0] for p in pts], [p[1] for p in pts]


def plot_history(path: str, history: list, title: str = "", metric: str = "val_ppl", metric_name: str = "perplexity"):
    """Loss per epoch (training and validation), the task's validation figure (e.g.
    perplexity) and the learning rate, from a checkpoint's history or a --log file."""
    if not history:
        raise PlotError("no training history to plot (no epoch has finished yet)")
    fig, (ax_loss, ax_metric, ax_lr) = figure(3, height=2.6)
    for key, label, style in [("train_loss", "training", "-o"), ("val_loss", "validation", "-s")]:
        x, y = _series(history, key)
        if x:
            ax_loss.plot(x, y, style, label=label, markersize=3)
    ax_loss.set_ylabel("loss (nats/token)")
    ax_loss.legend()
    ax_loss.grid(alpha=0.3)
    x, y = _series(history, metric)
    if x:
        ax_metric.plot(x, y, "-s", color="C1", markersize=3)
    ax_metric.set_ylabel(f"validation {metric_name}")
    ax_metric.grid(alpha=0.3)
    x, y = _series(history, "lr")
    if x:
        ax_lr.step(x, y, where="post", color="C2")
        if min(y) > 0:
            ax_lr.set_yscale("log")
    ax_lr.set_ylabel("learning rate")
    ax_lr.set_xlabel("epoch")
    ax_lr.grid(alpha=0.3, which="both")
    if title:
        ax_loss.set_title(title)
    save(fig, path)


BARS = " ▁▂▃▄▅▆▇█"


def sparkline(values: list) -> str:
    """Values as a row of block characters, lowest ▁ to highest █ (non-finite: space)."""
    vals = [v for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    if not vals:
        return ""
    lo, hi = min(vals), max(vals)
    out = []
    for v in values:
        if not (isinstance(v, (int, float)) and math.isfinite(v)):
            out.append(" ")
        else:
            out.append(BARS[1 + int(round(7 * (v - lo) / (hi - lo))) if hi > lo else 4])
    return "".join(out)
