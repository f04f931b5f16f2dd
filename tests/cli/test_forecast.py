"""`rnn forecast` end to end (rnncli/cli/forecast.py): train, predict, eval, resume, Ctrl-C, output
formats, plots and every bad input."""
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from rnncli import checkpoint
from rnncli.forecast import prepare

from ..helpers import TINY, assert_user_error, rnn, series_csv, wait_for_file, write_corpus

FAST = ["--hidden-dim", "4", "--history", "6", "--horizon", "3", "--batch-size", "16", "-q"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One trained forecasting checkpoint shared by the tests that only read it."""
    d = tmp_path_factory.mktemp("fc")
    data = series_csv(d / "s.csv")
    r = subprocess.run([sys.executable, "-m", "rnncli", "forecast", "train", str(data), "--target", "y",
                        "-o", str(d / "f.npz"), "--epochs", "2", "--calendar", "--seed", "3", *FAST],
                       capture_output=True, text=True, timeout=300, cwd=d)
    assert r.returncode == 0, r.stderr
    return d / "f.npz", data


def test_no_time_column_to_guess(capsys, tmp_path):
    data = tmp_path / "s.csv"
    data.write_text("a,y\n1,2\n2,3\n")
    r = _bad_train(capsys, tmp_path, data, "--target", "y")
    assert_user_error(r, f"{data}: no --time given and no column named time, date, datetime, timestamp or "
                         f"year,month,day; name the time column(s) with --time (the columns are: a, y)")


# ------------------------------------------------------------------ checkpoint


def test_checkpoint_round_trip(trained):
    path, data = trained
    ck = checkpoint.load(str(path))
    assert ck.kind == "forecast" and ck.model["network"] == "seq2seq"
    net = ck.network()
    assert list(ck.params) == list(net.shapes())
    t = ck.task
    assert t.targets == ["y"] and t.settings.history == 6 and t.settings.horizon == 3 and t.settings.calendar
    assert t.season == 24 and t.ar is not None and t.scaler.names[0] == "y"
    with np.load(path, allow_pickle=False) as z:
        assert all(z[k].dtype != object for k in z.files)
    again = tmp = path.parent / "again.npz"
    checkpoint.save(str(tmp), ck)
    ck2 = checkpoint.load(str(again))
    for k in ck.params:
        np.testing.assert_array_equal(ck.params[k], ck2.params[k])
    np.testing.assert_array_equal(ck.task.ar.W, ck2.task.ar.W)
    assert ck2.task.settings == ck.task.settings and ck2.task.schema == ck.task.schema


def test_resume_equals_uninterrupted(tmp_path, capsys):
    data = series_csv(tmp_path / "s.csv")
    common = ["--target", "y", "--seed", "1", *FAST]
    assert rnn(capsys, "forecast", "train", data, "-o", tmp_path / "full.npz", "--epochs", "2", *common).code == 0
    assert rnn(capsys, "forecast", "train", data, "-o", tmp_path / "part.npz", "--epochs", "1", *common).code == 0
    r = rnn(capsys, "forecast", "train", data, "--resume", tmp_path / "part.npz", "-o", tmp_path / "part.npz",
            "--epochs", "2", "-q")
    assert r.code == 0, r
    a, b = checkpoint.load(str(tmp_path / "full.npz")), checkpoint.load(str(tmp_path / "part.npz"))
    assert b.state["epoch"] == 2
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])
    # a resume that would change the model is refused
    r = rnn(capsys, "forecast", "train", data, "--resume", tmp_path / "part.npz", "-o", tmp_path / "x.npz",
            "--horizon", "5", "-q")
    assert_user_error(r, "--horizon 5", "contradicts")
    assert not (tmp_path / "x.npz").exists()


def test_loss_is_a_model_argument(tmp_path, capsys):
    """--loss mae trains with the absolute error (it crashed: the loss was handed to the
    training settings), is stored with the network's arguments, and a resume keeps it."""
    data = series_csv(tmp_path / "s.csv")
    r = rnn(capsys, "forecast", "train", data, "-o", tmp_path / "m.npz", "--target", "y", "--epochs", "1",
            "--loss", "mae", *FAST)
    assert r.code == 0, r
    ck = checkpoint.load(str(tmp_path / "m.npz"))
    assert ck.model["loss"] == "mae" and ck.network().loss == "mae"
    assert "loss" not in json.loads(ck.config.to_json())
    r = rnn(capsys, "forecast", "train", data, "--resume", tmp_path / "m.npz", "-o", tmp_path / "x.npz",
            "--loss", "mse", "-q")
    assert_user_error(r, "--loss mse contradicts the checkpoint", "(trained with --loss mae)")
    r = rnn(capsys, "forecast", "train", data, "--resume", tmp_path / "m.npz", "-o", tmp_path / "m.npz",
            "--loss", "mae", "--epochs", "2", "-q")
    assert r.code == 0 and checkpoint.load(str(tmp_path / "m.npz")).model["loss"] == "mae", r


def test_ctrl_c_saves_and_exits_130(tmp_path):
    data = series_csv(tmp_path / "s.csv", n=3000)
    p = subprocess.Popen([sys.executable, "-m", "rnncli", "forecast", "train", str(data), "--target", "y",
                          "-o", "m.npz", "--epochs", "1000", "--hidden-dim", "8", "--history", "24",
                          "--horizon", "6", "--batch-size", "8"], cwd=tmp_path,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_file(tmp_path / "m.npz", p)
    first = checkpoint.load(str(tmp_path / "m.npz")).state
    time.sleep(0.5)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert "Traceback" not in err and "checkpoint saved" in err
    ck = checkpoint.load(str(tmp_path / "m.npz"))
    st = ck.state
    # saved by the interrupt (mid-epoch, or at the first batch of an epoch when the signal
    # landed during the previous epoch's validation), later than the first checkpoint
    assert ck.kind == "forecast" and st["step"] > first["step"] and "dropout_rng" in st
    assert st["batch_in_epoch"] > 0 or st["epoch"] > first["epoch"]


# ------------------------------------------------------------------ predict and eval


def test_eval_reports_the_model_and_every_baseline(trained, capsys, tmp_path):
    path, data = trained
    r = rnn(capsys, "forecast", "eval", "-m", path, data, "--json", "-q")
    assert r.code == 0, r
    d = json.loads(r.out)
    assert set(d["scores"]) == {"model", "persistence", "seasonal naive", "linear AR"}
    for name, sc in d["scores"].items():
        y = sc["y"]
        assert len(y["by_step"]["rmse"]) == 3 and y["rmse"] > 0 and y["mase"] > 0
    assert set(d["beats"]) == {"persistence", "seasonal naive", "linear AR"}
    for b, v in d["beats"].items():
        assert v["y"] == (d["scores"]["model"]["y"]["rmse_step_mean"] < d["scores"][b]["y"]["rmse_step_mean"])
    r = rnn(capsys, "forecast", "eval", "-m", path, data, "-q")
    assert r.code == 0 and "persistence" in r.out and "linear AR" in r.out and "MASE" in r.out


def test_a_model_that_does_not_beat_the_baselines_is_reported_as_such(trained, capsys, tmp_path):
    path, data = trained
    ck = checkpoint.load(str(path))
    for v in ck.params.values():
        v[...] = 0                                           # forecasts the training mean, always
    bad = tmp_path / "bad.npz"
    checkpoint.save(str(bad), ck)
    r = rnn(capsys, "forecast", "eval", "-m", bad, data, "-q")
    assert r.code == 0, r
    assert "does NOT beat" in r.out and "linear AR" in r.out.split("does NOT beat")[1]
    d = json.loads(rnn(capsys, "forecast", "eval", "-m", bad, data, "--json", "-q").out)
    assert d["beats"]["linear AR"]["y"] is False


def test_predict_formats_and_at(trained, capsys):
    path, data = trained
    r = rnn(capsys, "forecast", "predict", "-m", path, data, "--json", "-q")
    assert r.code == 0, r
    d = json.loads(r.out)
    assert d["origin"] == "2024-01-17 15:00" and d["time"] == ["2024-01-17 16:00", "2024-01-17 17:00",
                                                               "2024-01-17 18:00"]
    assert len(d["forecast"]["y"]) == 3 and "actual" not in d
    r = rnn(capsys, "forecast", "predict", "-m", path, data, "--csv", "-q")
    lines = r.out.splitlines()
    assert lines[0] == "time,y" and len(lines) == 4
    assert [float(v.split(",")[1]) for v in lines[1:]] == pytest.approx(d["forecast"]["y"], rel=1e-5)
    r = rnn(capsys, "forecast", "predict", "-m", path, data, "--at", "2024-01-10 12:00", "--json", "-q")
    d = json.loads(r.out)
    assert d["origin"] == "2024-01-10 12:00" and len(d["actual"]["y"]) == 3
    # the forecast after --at equals the eval path's forecast of the window with that origin
    ck = checkpoint.load(str(path))
    s, arr = prepare.load_for_checkpoint(str(data), ck)
    o = int(np.flatnonzero(s.time == np.datetime64("2024-01-10T12:00"))[0])
    from rnncli.forecast.evaluate import model_forecast
    p = model_forecast(ck, arr, np.arange(o - 5, o + 1)[None], np.arange(o + 1, o + 4)[None])
    assert d["forecast"]["y"] == pytest.approx(p[0, :, 0].tolist(), rel=1e-6)
    r = rnn(capsys, "forecast", "predict", "-m", path, data, "-q")
    assert r.code == 0 and "2024-01-17 18:00" in r.out


def test_plots(trained, capsys, tmp_path):
    pytest.importorskip("matplotlib")
    path, data = trained
    r = rnn(capsys, "forecast", "eval", "-m", path, data, "--plot", tmp_path / "e.png", "-q")
    assert r.code == 0, r
    r = rnn(capsys, "forecast", "predict", "-m", path, data, "--at", "2024-01-10 12:00", "--plot",
            tmp_path / "p.png", "-q")
    assert r.code == 0, r
    for f in ("e.png", "p.png"):
        assert (tmp_path / f).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_without_matplotlib_names_the_extra(trained, capsys, tmp_path, monkeypatch):
    path, data = trained
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    r = rnn(capsys, "forecast", "eval", "-m", path, data, "--plot", tmp_path / "e.png", "-q")
    assert_user_error(r, "rnncli[plot]")
    assert not (tmp_path / "e.png").exists()


def _bad_train(capsys, tmp_path, data, *args):
    out = tmp_path / "out.npz"
    r = rnn(capsys, "forecast", "train", data, "-o", out, "--epochs", "1", *FAST, *args)
    assert not out.exists() and not (tmp_path / "out.best.npz").exists()
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp") or f.startswith(".rnncli")]
    return r


def test_missing_column_names_the_columns(capsys, tmp_path):
    r = _bad_train(capsys, tmp_path, series_csv(tmp_path / "s.csv"), "--target", "pm25")
    assert_user_error(r, "no target column 'pm25'", "time, y, x, wind")
    r = _bad_train(capsys, tmp_path, series_csv(tmp_path / "s.csv"), "--target", "y", "--features", "x,rain")
    assert_user_error(r, "'rain'", "columns are")


def test_non_numeric_target(capsys, tmp_path):
    r = _bad_train(capsys, tmp_path, series_csv(tmp_path / "s.csv", text_at=30), "--target", "y")
    assert_user_error(r, "not numeric", "line 32")
    r = _bad_train(capsys, tmp_path, series_csv(tmp_path / "s.csv"), "--target", "wind")
    assert_user_error(r, "'wind' is not numeric")


def test_history_or_horizon_too_long(capsys, tmp_path):
    data = series_csv(tmp_path / "s.csv", n=400)
    r = rnn(capsys, "forecast", "train", data, "--target", "y", "-o", tmp_path / "o.npz", "--history", "300",
            "--horizon", "3", "-q")
    assert_user_error(r, "history 300", "training part has only 280")
    r = rnn(capsys, "forecast", "train", data, "--target", "y", "-o", tmp_path / "o.npz", "--history", "6",
            "--horizon", "100", "-q")
    assert_user_error(r, "horizon 100", "part has only")
    assert not (tmp_path / "o.npz").exists()


def test_series_too_short_for_one_window(capsys, tmp_path):
    r = _bad_train(capsys, tmp_path, series_csv(tmp_path / "s.csv", n=12), "--target", "y")
    assert_user_error(r, "history 6 + horizon 3", "only")


def test_constant_target(capsys, tmp_path):
    r = _bad_train(capsys, tmp_path, series_csv(tmp_path / "s.csv", constant=True), "--target", "y")
    assert_user_error(r, "'y' is constant", "nothing to forecast")


def test_unsorted_or_duplicated_time(capsys, tmp_path):
    r = _bad_train(capsys, tmp_path, series_csv(tmp_path / "s.csv", shuffle=True), "--target", "y")
    assert_user_error(r, "not in time order", "line 7", "--sort")
    r = _bad_train(capsys, tmp_path, series_csv(tmp_path / "s.csv", dup=True), "--target", "y")
    assert_user_error(r, "occurs twice", "lines 12 and 13")
    # --sort accepts the file out of order
    r = rnn(capsys, "forecast", "train", series_csv(tmp_path / "s.csv", shuffle=True), "--target", "y",
            "-o", tmp_path / "ok.npz", "--epochs", "1", "--sort", *FAST)
    assert r.code == 0, r


def test_more_bad_options(capsys, tmp_path):
    data = series_csv(tmp_path / "s.csv")
    assert_user_error(_bad_train(capsys, tmp_path, data), "--target is required")
    r = rnn(capsys, "forecast", "train", data, "--target", "y", "--horizon", "3", "-o", tmp_path / "o.npz", "-q")
    assert_user_error(r, "--history is required")
    assert_user_error(_bad_train(capsys, tmp_path, tmp_path / "nope.csv", "--target", "y"), "nope.csv", "no such file")
    assert_user_error(_bad_train(capsys, tmp_path, data, "--target", "y", "--val-fraction", "0.5",
                                 "--test-fraction", "0.5"), "add up to 1")
    assert_user_error(_bad_train(capsys, tmp_path, data, "--target", "y", "--cell", "gru", "--activation", "relu"),
                      "--activation")
    num = series_csv(tmp_path / "n.csv", time_fmt="number")
    assert_user_error(_bad_train(capsys, tmp_path, num, "--target", "y", "--calendar"), "--calendar", "dates")


def test_lm_checkpoint_given_to_forecast_and_back(trained, capsys, tmp_path):
    path, data = trained
    corpus = write_corpus(tmp_path / "c.txt")
    lm = tmp_path / "lm.npz"
    assert rnn(capsys, "train", corpus, "-o", lm, "--no-cache", *TINY).code == 0
    for cmd in (["forecast", "predict", "-m", lm, data], ["forecast", "eval", "-m", lm, data],
                ["forecast", "train", data, "--resume", lm, "-o", tmp_path / "x.npz"]):
        assert_user_error(rnn(capsys, *cmd, "-q"), "language-model checkpoint", "rnn forecast train")
    assert not (tmp_path / "x.npz").exists()
    for cmd in (["generate", "-m", path], ["eval", "-m", path, corpus, "-q"], ["info", "-m", path],
                ["train", corpus, "--resume", path, "-o", tmp_path / "y.npz", "-q"],
                ["tokenize", corpus, "-m", path, "-o", tmp_path / "t.npz", "-q"]):
        assert_user_error(rnn(capsys, *cmd), "forecasting checkpoint", "rnn forecast predict")
    assert not (tmp_path / "y.npz").exists() and not (tmp_path / "t.npz").exists()


def test_predict_and_eval_bad_input(trained, capsys, tmp_path):
    path, data = trained
    r = rnn(capsys, "forecast", "predict", "-m", path, data, "--at", "2030-01-01 00:00", "-q")
    assert_user_error(r, "no row has that time", "2024-01-01 00:00")
    r = rnn(capsys, "forecast", "predict", "-m", path, data, "--at", "2024-01-01 02:00", "-q")
    assert_user_error(r, "history")
    other = tmp_path / "o.csv"
    other.write_text("time,y\n2024-01-01 00:00,1\n2024-01-01 01:00,2\n")
    # without matplotlib, --plot is refused first (before any data is read): another test
    plot = ["--plot", tmp_path / "e.png"] if importlib.util.find_spec("matplotlib") else []
    r = rnn(capsys, "forecast", "eval", "-m", path, other, *plot, "-q")
    assert_user_error(r, "no feature column 'x'")
    assert not (tmp_path / "e.png").exists()
    r = rnn(capsys, "forecast", "predict", "-m", tmp_path / "none.npz", data, "-q")
    assert_user_error(r, "none.npz", "no such checkpoint")


def test_weight_averaging_is_the_model_and_the_trained_weights_resume(trained):
    """--average (on by default for forecasting): param.* holds the moving average, the
    trained weights are kept as opt.raw.* for resuming."""
    path, _ = trained
    ck = checkpoint.load(str(path))
    assert ck.config.average > 0
    raw = {k[4:]: v for k, v in ck.opt_state.items() if k.startswith("raw.")}
    assert set(raw) == set(ck.params)
    assert any(not np.array_equal(raw[k], ck.params[k]) for k in raw)
