"""Forecast and error pictures (rnncli/forecast/plots.py), and the extra they need."""
import sys

import numpy as np
import pytest

from rnncli.forecast import plots as P
from rnncli.forecast import time as Ti

# ------------------------------------------------------------------ plots


def test_plots_without_matplotlib_name_the_extra(tmp_path, monkeypatch):
    for mod in ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, mod, None)
    with pytest.raises(P.PlotError, match=r"pip install 'rnncli\[plot\]'"):
        P.plot_errors_by_horizon(str(tmp_path / "e.png"), {"model": np.ones(3)})
    with pytest.raises(P.PlotError, match=r"pip install 'rnncli\[plot\]'"):
        P.plot_forecast(str(tmp_path / "f.png"), np.arange(3.0), np.ones(3), np.arange(3.0, 5.0), np.ones(2))
    assert not list(tmp_path.iterdir())


def test_plots_write_pngs(tmp_path):
    pytest.importorskip("matplotlib")
    th = np.datetime64("2021-01-01T00", "s") + np.arange(48) * np.timedelta64(3600, "s")
    tf = Ti.future_time(th, 6)
    hist = np.column_stack([np.sin(np.arange(48) / 4), np.cos(np.arange(48) / 4)])
    P.plot_forecast(str(tmp_path / "f.png"), th, hist, tf, np.zeros((6, 2)), truth=np.ones((6, 2)),
                    names=["a", "b"], baselines={"persistence": np.full((6, 2), 0.5)})
    P.plot_errors_by_horizon(str(tmp_path / "e.png"), {"model": np.arange(1, 7.0), "persistence": np.arange(2, 8.0)},
                             names=["a"])
    for f in ("f.png", "e.png"):
        assert (tmp_path / f).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.png", "f.png"]   # no temporary files left
