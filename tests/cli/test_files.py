"""The files a command names, checked before any work (rnncli/cli/files.py)."""
import errno
import os

import pytest

from rnncli.lm import splitting, tokenizer

from ..helpers import TINY, assert_user_error, rnn


def test_missing_file(capsys, tmp_path, reader):
    r = rnn(capsys, *reader, tmp_path / "nope.txt")
    assert_user_error(r, "nope.txt", "no such file")
    assert not (tmp_path / "out.npz").exists()


def test_directory(capsys, tmp_path, reader):
    (tmp_path / "texts").mkdir()
    r = rnn(capsys, *reader, tmp_path / "texts")
    assert_user_error(r, "texts", "directory")


# ------------------------------------------------------------------ output path


def _no_tokenizing(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("tokenizing started before the output path was checked")
    monkeypatch.setattr(tokenizer, "tokenize", boom)
    monkeypatch.setattr(splitting, "make_splitter", boom)


@pytest.mark.parametrize("cmd", ["train", "tokenize"])
def test_output_in_missing_directory(capsys, tmp_path, corpus, monkeypatch, cmd):
    _no_tokenizing(monkeypatch)
    out = tmp_path / "no" / "such" / "dir" / "m.npz"
    r = rnn(capsys, cmd, corpus, "-o", out, "-q")
    assert_user_error(r, str(out), "does not exist")
    assert not (tmp_path / "no").exists()


def test_output_is_a_directory(capsys, tmp_path, corpus, monkeypatch):
    _no_tokenizing(monkeypatch)
    r = rnn(capsys, "train", corpus, "-o", tmp_path, "-q")
    assert_user_error(r, str(tmp_path), "directory")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root writes into read-only directories")
def test_output_in_read_only_directory(capsys, tmp_path, corpus, monkeypatch):
    _no_tokenizing(monkeypatch)
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        r = rnn(capsys, "train", corpus, "-o", ro / "m.npz", "-q")
    finally:
        ro.chmod(0o755)
    assert_user_error(r, str(ro / "m.npz"), "cannot write")


def test_output_unwritable_simulated(capsys, tmp_path, corpus, monkeypatch):
    """The same check as a read-only directory, also when running as root: creating a
    file beside the output fails with EACCES."""
    import tempfile
    _no_tokenizing(monkeypatch)

    def denied(*a, **k):
        raise PermissionError(errno.EACCES, "Permission denied")
    monkeypatch.setattr(tempfile, "mkstemp", denied)
    r = rnn(capsys, "train", corpus, "-o", tmp_path / "m.npz", "-q")
    assert_user_error(r, "m.npz", "cannot write", "permission denied")


def test_log_in_missing_directory_fails_before_training(capsys, tmp_path, corpus):
    r = rnn(capsys, "train", corpus, "-o", tmp_path / "m.npz", *TINY, "--log", tmp_path / "no" / "log.jsonl")
    assert_user_error(r, "log.jsonl", "does not exist", "--log")
    assert not (tmp_path / "m.npz").exists() and not (tmp_path / "no").exists()
