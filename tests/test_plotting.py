"""`rnn plot` (rnncli/plotting.py): pictures from a checkpoint or a log, and the one-line errors
without matplotlib or for a foreign file."""
import os

import pytest

from .helpers import TINY, assert_user_error, rnn, write_corpus

# ------------------------------------------------------------------ pictures


def test_plot_from_checkpoint_and_log(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    corpus = write_corpus(tmp_path / "c.txt")
    m, log = tmp_path / "m.npz", tmp_path / "log.jsonl"
    assert rnn(capsys, "train", corpus, "-o", m, *TINY[:4], "--epochs", "3", "-q", "--log", log).code == 0
    r = rnn(capsys, "info", "-m", m, "--plot", tmp_path / "a.png")
    assert r.code == 0 and "validation loss per epoch: " in r.out, r
    r = rnn(capsys, "plot", log, "-o", tmp_path / "b.png")
    assert r.code == 0, r
    r = rnn(capsys, "plot", m, "-o", tmp_path / "c.png")
    assert r.code == 0, r
    for name in "abc":
        data = (tmp_path / f"{name}.png").read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".png") and f.startswith(".")]


def test_plot_without_matplotlib_is_one_line_naming_the_extra(capsys, tmp_path, monkeypatch):
    import builtins
    corpus = write_corpus(tmp_path / "c.txt")
    m = tmp_path / "m.npz"
    assert rnn(capsys, "train", corpus, "-o", m, *TINY).code == 0
    real_import = builtins.__import__

    def no_matplotlib(name, *a, **k):
        if name.startswith("matplotlib"):
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *a, **k)
    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    r = rnn(capsys, "plot", m, "-o", tmp_path / "x.png")
    assert_user_error(r, "rnncli[plot]")
    assert not (tmp_path / "x.png").exists()


def test_plot_of_a_file_that_is_neither_log_nor_checkpoint(capsys, tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("hello\n")
    assert_user_error(rnn(capsys, "plot", bad, "-o", tmp_path / "x.png"), "notes.txt", "line 1")
