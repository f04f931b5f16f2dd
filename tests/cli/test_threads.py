"""--threads means one thing in every command that computes: the Workspace that does
the large products is built with the value given to this command (None without
--threads: the cores this process may use), never one stored in the checkpoint, and
the command's products go through it."""
import os
import subprocess
import sys

import numpy as np
import pytest

from rnncli.nn.workspace import Workspace, available_cores

from ..helpers import TINY, make_checkpoint, rnn, with_json, write_corpus, write_text


@pytest.fixture
def built(monkeypatch):
    """Records the thread count of every Workspace built and how often its pool was
    offered work (products, elementwise passes)."""
    seen = {"threads": [], "work": 0}
    init = Workspace.__init__

    def spy_init(self, threads=None):
        seen["threads"].append(threads)
        init(self, threads)
    monkeypatch.setattr(Workspace, "__init__", spy_init)

    for name in ("matmul", "rows_parallel"):
        def spy(self, *a, _run=getattr(Workspace, name), **kw):
            seen["work"] += 1
            return _run(self, *a, **kw)
        monkeypatch.setattr(Workspace, name, spy)
    return seen


def hand_model(path):
    rng = np.random.default_rng(0)
    words = ["w%d" % i for i in range(9)]
    H, C = 4, len(words) + 3
    return make_checkpoint(path, words, rng.normal(0, 0.5, (H, C)), rng.normal(0, 0.5, (C, H)),
                           rng.normal(0, 0.5, (H, H)), val_sents=[[1, 4, 5, 2], [1, 6, 2]])


def hourly_csv(path, n=120):
    t = np.datetime64("2024-01-01T00:00") + np.arange(n).astype("timedelta64[h]")
    y = 10 + 2 * np.sin(2 * np.pi * np.arange(n) / 24)
    path.write_text("time,y\n" + "".join(f"{str(s).replace('T', ' ')},{v:.4f}\n" for s, v in zip(t, y)))
    return path


def test_without_threads_the_workspace_uses_the_cores():
    assert Workspace(None).threads == min(available_cores(), 8)
    assert Workspace(3).threads == 3


@pytest.mark.parametrize("given, expected", [(["--threads", "3"], 3), ([], None)])
def test_generate_samples_on_the_threads_given(capsys, tmp_path, built, given, expected):
    model = hand_model(tmp_path / "m.npz")
    r = rnn(capsys, "generate", "-m", model, "-n", "4", "--seed", "1", *given)
    assert r.code == 0, r
    assert built["threads"] == [expected]
    assert built["work"] > 0                     # the sampling's products went through it


@pytest.mark.parametrize("given, expected", [(["--threads", "3"], 3), ([], None)])
def test_eval_scores_on_the_threads_given(capsys, tmp_path, built, given, expected):
    r = rnn(capsys, "eval", "-m", hand_model(tmp_path / "m.npz"), "-q", *given)
    assert r.code == 0, r
    assert built["threads"] == [expected]


def test_train_and_resume_use_the_threads_given_now(capsys, tmp_path, built):
    corpus, out = write_corpus(tmp_path / "c.txt"), tmp_path / "m.npz"
    assert rnn(capsys, "train", corpus, "-o", out, *TINY, "--threads", "2").code == 0
    assert built["threads"] == [2]
    del built["threads"][:]
    r = rnn(capsys, "train", corpus, "-o", out, "--resume", out, "--epochs", "2", "-q")
    assert r.code == 0, r
    assert built["threads"] == [None]            # not the checkpoint's 2


@pytest.fixture
def forecaster(tmp_path, capsys):
    """A forecasting checkpoint trained with --threads 1."""
    data, out = hourly_csv(tmp_path / "s.csv"), tmp_path / "f.npz"
    r = rnn(capsys, "forecast", "train", data, "--target", "y", "--history", "6", "--horizon", "3",
            "--hidden-dim", "4", "--epochs", "1", "--threads", "1", "-o", out, "-q")
    assert r.code == 0, r
    return out, data


@pytest.mark.parametrize("command", ["predict", "eval"])
@pytest.mark.parametrize("given, expected", [(["--threads", "3"], 3), ([], None)])
def test_forecast_predict_and_eval_use_the_threads_given_not_the_stored(capsys, forecaster, built, command,
                                                                        given, expected):
    model, data = forecaster
    r = rnn(capsys, "forecast", command, "-m", model, data, "-q", *given)
    assert r.code == 0, r
    assert built["threads"] == [expected]
    assert built["work"] > 0


def test_huge_threads_value_is_bounded(tmp_path, trained):
    """Found while fuzzing: `--threads 1000000000` made eval cut its rows into a billion
    blocks (16 GB of indices). Run under a 3 GiB address-space limit, so that a
    regression fails here instead of exhausting the machine."""
    import resource

    from rnncli.nn.workspace import Workspace
    assert Workspace(10 ** 9).threads <= max(8, os.cpu_count() or 1)
    assert Workspace(2).threads == 2 and Workspace(1).threads == 1
    corpus = tmp_path / "c.txt"
    write_text(corpus, n=200)

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
    p = subprocess.run([sys.executable, "-m", "rnncli", "eval", "-m", str(trained), str(corpus), "-q", "--no-cache",
                        "--threads", str(10 ** 9)], capture_output=True, text=True, timeout=120, preexec_fn=limit)
    assert p.returncode == 0, p.stderr
    assert "perplexity" in p.stdout


@pytest.mark.parametrize("cmd", ["train", "eval", "resume"])
def test_threads_beyond_a_c_int(capsys, tmp_path, corpus, trained, cmd):
    """Found by the fuzz suite: --threads 2**70 (or a checkpoint holding it) overflowed
    threadpoolctl's C call."""
    big = str(2 ** 70)
    if cmd == "resume":
        path = with_json(trained, tmp_path / "t.npz", "config", threads=2 ** 70)
        r = rnn(capsys, "train", corpus, "--resume", path, "-o", tmp_path / "out.npz", "--epochs", "2", "-q")
    elif cmd == "train":
        r = rnn(capsys, "train", corpus, "-o", tmp_path / "out.npz", *TINY, "--threads", big)
    else:
        r = rnn(capsys, "eval", "-m", trained, "-q", "--threads", big, corpus)
    assert r.code == 0, r
