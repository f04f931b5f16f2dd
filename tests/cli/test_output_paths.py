"""The output-path policy (issue 22, cli/files.Paths), in every command that writes: a
file the command reads, or writes in another role, is never written; only regular
files are written; a symlink is written through; every writer takes the same lock;
a resumed run writes back to its checkpoint; every hint is a command that works as
printed; resuming on other training files says so."""
import os
import shlex
import signal
import stat

import numpy as np
import pytest

from rnncli import checkpoint, fileio
from rnncli.train import Trainer

from ..helpers import (  # noqa: F401
    TINY,
    assert_user_error,
    make_checkpoint,
    rnn,
    rnn_proc,
    write_corpus,
)

FC = ["--target", "y", "--history", "6", "--horizon", "3", "--hidden-dim", "4", "--batch-size", "16", "--epochs",
      "1", "-q"]


def series_csv(path, n=200):
    rng = np.random.default_rng(0)
    t = np.datetime64("2024-01-01T00:00") + np.arange(n).astype("timedelta64[h]")
    y = 10 + 2 * np.sin(2 * np.pi * (np.arange(n) % 24) / 24) + rng.normal(0, 0.3, n)
    x = rng.normal(0, 1, n)
    rows = [f"{str(t[i]).replace('T', ' ')},{y[i]:.4f},{x[i]:.4f}" for i in range(n)]
    path.write_text("time,y,x\n" + "\n".join(rows) + "\n")
    return path


def files_in(d):
    """name -> (kind, content or link target) of everything in ``d``, cache left out."""
    out = {}
    for name in os.listdir(d):
        p = os.path.join(d, name)
        if name == "rnncli-cache":
            continue
        mode = os.lstat(p).st_mode
        if stat.S_ISLNK(mode):
            out[name] = ("link", os.readlink(p))
        elif stat.S_ISREG(mode):
            with open(p, "rb") as f:
                out[name] = ("file", f.read())
        else:
            out[name] = (stat.S_IFMT(mode), None)
    return out


@pytest.fixture
def work(tmp_path, monkeypatch):
    """A folder with a corpus and a trained checkpoint, the current directory."""
    monkeypatch.chdir(tmp_path)
    write_corpus(tmp_path / "c.txt")
    return tmp_path


@pytest.fixture
def model(work, capsys):
    r = rnn(capsys, "train", "c.txt", "-o", "m.npz", *TINY)
    assert r.code == 0, r
    return work / "m.npz"


@pytest.fixture
def fc_model(work, capsys):
    series_csv(work / "s.csv")
    r = rnn(capsys, "forecast", "train", "s.csv", "-o", "f.npz", *FC)
    assert r.code == 0, r
    return work / "f.npz"


def refused(capsys, d, *args, needles=()):
    """``rnn ARGS`` is refused with one line and no file in ``d`` changes."""
    before = files_in(d)
    r = rnn(capsys, *args)
    assert_user_error(r, *needles)
    assert files_in(d) == before
    return r


# ------------------------------------------------------------------ a file the command reads


def test_train_output_is_the_corpus(capsys, work):
    refused(capsys, work, "train", "c.txt", "-o", "c.txt", *TINY,
            needles=("c.txt", "is the training text", "the checkpoint", "-o"))


def test_train_output_is_a_hard_link_to_the_corpus(capsys, work):
    os.link(work / "c.txt", work / "same.txt")
    refused(capsys, work, "train", "c.txt", "-o", "same.txt", *TINY, needles=("same.txt", "training text"))


def test_train_output_named_another_way(capsys, work):
    (work / "sub").mkdir()
    refused(capsys, work, "train", "c.txt", "-o", str(work / "sub" / ".." / "c.txt"), *TINY,
            needles=("training text",))


def test_train_best_file_is_an_input(capsys, work):
    """-o m.npz writes m.best.npz too: a tokenized corpus of that name is the training data."""
    assert rnn(capsys, "tokenize", "c.txt", "-o", "m.best.npz", "-q").code == 0
    refused(capsys, work, "train", "m.best.npz", "-o", "m.npz", *TINY,
            needles=("m.best.npz", "training text", "best checkpoint", "-o"))


def test_train_output_is_the_validation_text(capsys, work):
    write_corpus(work / "v.txt")
    refused(capsys, work, "train", "c.txt", "--val", "v.txt", "-o", "v.txt", *TINY, needles=("validation text",))


def test_tokenize_output_is_its_input(capsys, work):
    refused(capsys, work, "tokenize", "c.txt", "-o", "c.txt", "-q", needles=("c.txt", "text to tokenize"))


def test_info_plot_is_the_checkpoint(capsys, model):
    refused(capsys, model.parent, "info", "-m", "m.npz", "--plot", "m.npz", needles=("m.npz", "--plot"))


def test_plot_output_is_its_source(capsys, model):
    refused(capsys, model.parent, "plot", "m.npz", "-o", "m.npz", needles=("m.npz", "-o"))


def test_log_is_the_corpus(capsys, work):
    refused(capsys, work, "train", "c.txt", "-o", "m.npz", "--log", "c.txt", *TINY,
            needles=("c.txt", "training text", "the log", "--log"))


def test_log_is_the_checkpoint(capsys, work):
    refused(capsys, work, "train", "c.txt", "-o", "m.npz", "--log", "m.npz", *TINY,
            needles=("m.npz", "the checkpoint", "the log", "--log"))


def test_log_is_the_checkpoint_resumed(capsys, model):
    refused(capsys, model.parent, "train", "c.txt", "--resume", "m.npz", "-o", "n.npz", "--log", "m.npz", *TINY,
            needles=("m.npz", "resumed", "--log"))


def test_cache_directory_is_the_output(capsys, work):
    """--cache-dir is made when it is missing: it must not take the checkpoint's name."""
    refused(capsys, work, "train", "c.txt", "-o", "cdir", "--cache-dir", "cdir", *TINY, needles=("cdir", "cache"))


def test_forecast_paths(capsys, fc_model):
    d = fc_model.parent
    refused(capsys, d, "forecast", "train", "s.csv", "-o", "s.csv", *FC, needles=("s.csv", "the data", "-o"))
    refused(capsys, d, "forecast", "train", "s.csv", "-o", "g.npz", "--log", "s.csv", *FC, needles=("--log",))
    refused(capsys, d, "forecast", "predict", "s.csv", "-m", "f.npz", "--plot", "s.csv", needles=("--plot",))
    refused(capsys, d, "forecast", "eval", "s.csv", "-m", "f.npz", "--plot", "f.npz", needles=("the model",))


# ------------------------------------------------------------------ only regular files


@pytest.fixture
def no_device_writes(monkeypatch):
    """A safety net for a regression: the rename that would replace /dev/null (as root)
    fails the test instead."""
    write = fileio.atomic_write

    def guarded(path, *a, **k):
        if os.path.realpath(path).startswith("/dev/"):
            pytest.fail(f"about to replace {path}")
        return write(path, *a, **k)
    monkeypatch.setattr(fileio, "atomic_write", guarded)


@pytest.mark.parametrize("device", ["/dev/null", "/dev/full"])
def test_device_as_output(capsys, work, no_device_writes, device):
    r = rnn(capsys, "train", "c.txt", "-o", device, *TINY)
    assert_user_error(r, device, "character device")
    assert stat.S_ISCHR(os.stat(device).st_mode)
    assert not os.path.exists(device + ".best.npz") and not os.path.exists(device + ".lock")


def test_a_device_node_of_our_own(capsys, work):
    """As root a device node anywhere is writable: one made here is refused as /dev/null is."""
    try:
        os.mknod(work / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except (PermissionError, AttributeError):
        pytest.skip("cannot make a device node here")
    refused(capsys, work, "train", "c.txt", "-o", "null", *TINY, needles=("null", "character device"))
    refused(capsys, work, "train", "c.txt", "-o", "m.npz", "--log", "null", *TINY, needles=("null", "--log"))


@pytest.mark.parametrize("option", ["-o", "--log"])
def test_fifo_as_output(work, option):
    """In a process of its own: appending to a named pipe nobody reads would block."""
    os.mkfifo(work / "pipe")
    args = ["-o", "m.npz", "--log", "pipe"] if option == "--log" else ["-o", "pipe"]
    before = files_in(work)
    assert_user_error(rnn_proc("train", "c.txt", *args, *TINY, cwd=work, timeout=60), "pipe", "named pipe", option)
    assert files_in(work) == before


def test_devices_refused_by_every_writer(capsys, model, fc_model, no_device_writes):
    d = model.parent
    for args in (["tokenize", "c.txt", "-o", "/dev/null", "-q"], ["info", "-m", "m.npz", "--plot", "/dev/null"],
                 ["plot", "m.npz", "-o", "/dev/full"],
                 ["forecast", "eval", "s.csv", "-m", "f.npz", "--plot", "/dev/null", "-q"],
                 ["forecast", "train", "s.csv", *FC, "-o", "/dev/full"]):
        refused(capsys, d, *args, needles=("/dev/", "character device"))


def test_empty_output_is_refused_before_any_work(capsys, work, monkeypatch):
    from rnncli.lm import tokenizer
    monkeypatch.setattr(tokenizer, "tokenize", lambda *a, **k: pytest.fail("tokenizing started"))
    refused(capsys, work, "train", "c.txt", "-o", "", *TINY, needles=("-o", "empty"))
    assert not (work / ".best.npz").exists()
    refused(capsys, work, "tokenize", "c.txt", "-o", "", "-q", needles=("-o", "empty"))


# ------------------------------------------------------------------ symlinks: written through


def test_symlink_output_is_written_through(capsys, work):
    (work / "runs").mkdir()
    os.symlink("runs/m.npz", work / "latest.npz")
    r = rnn(capsys, "train", "c.txt", "-o", "latest.npz", *TINY)
    assert r.code == 0, r
    assert os.path.islink(work / "latest.npz") and os.readlink(work / "latest.npz") == "runs/m.npz"
    assert checkpoint.load(str(work / "runs" / "m.npz")).state["epoch"] == 1
    r = rnn(capsys, "train", "c.txt", "--resume", "latest.npz", *TINY[:-3], "--epochs", "2", "-q")
    assert r.code == 0, r
    assert os.path.islink(work / "latest.npz")
    assert checkpoint.load(str(work / "runs" / "m.npz")).state["epoch"] == 2


def test_symlink_to_the_corpus_is_the_corpus(capsys, work):
    os.symlink("c.txt", work / "link.npz")
    refused(capsys, work, "train", "c.txt", "-o", "link.npz", *TINY, needles=("link.npz", "training text"))


def test_a_cache_entry_link_is_replaced_not_followed(tmp_path):
    outside = tmp_path / "outside.npz"
    outside.write_bytes(b"precious")
    (tmp_path / "cache").mkdir()
    entry = tmp_path / "cache" / "e.npz"
    os.symlink(outside, entry)
    from rnncli.lm import cache
    from rnncli.lm.tokenizer import Tokens
    problem = cache.save_cached(str(entry), Tokens(["a", "b"], np.array([0, 1], np.int32), np.array([2], np.int32)),
                                {"kind": "lines"})
    assert problem is None and outside.read_bytes() == b"precious" and not os.path.islink(entry)


# ------------------------------------------------------------------ one lock for every writer


@pytest.mark.parametrize("args, target", [
    (["tokenize", "c.txt", "-o", "cy.npz", "-q"], "cy.npz"),
    (["info", "-m", "m.npz", "--plot", "p.png"], "p.png"),
    (["plot", "m.npz", "-o", "p.png"], "p.png"),
    (["train", "c.txt", "-o", "n.npz", "--log", "log.jsonl", *TINY], "log.jsonl"),
    (["train", "c.txt", "-o", "n.npz", *TINY], "n.best.npz"),
])
def test_every_writer_takes_the_lock(capsys, model, args, target):
    d = model.parent
    lock = fileio.WriteLock(str(d / target)).acquire()
    try:
        r = refused(capsys, d, *args, needles=(target, "another rnn command", f"process {os.getpid()}"))
    finally:
        lock.release()
    assert r.code == 1
    assert rnn(capsys, *args).code == 0
    assert not [f for f in os.listdir(d) if f.endswith(".lock")]


def test_forecast_plot_takes_the_lock(capsys, fc_model):
    d = fc_model.parent
    lock = fileio.WriteLock(str(d / "e.png")).acquire()
    try:
        refused(capsys, d, "forecast", "eval", "s.csv", "-m", "f.npz", "--plot", "e.png", "-q",
                needles=("e.png", "another rnn command"))
    finally:
        lock.release()


def test_a_held_lock_file_is_not_replaced(capsys, model):
    d = model.parent
    lock = fileio.WriteLock(str(d / "x.npz")).acquire()
    try:
        refused(capsys, d, "plot", "m.npz", "-o", "x.npz.lock", needles=("x.npz.lock", "lock file", "running"))
    finally:
        lock.release()


# ------------------------------------------------------------------ resume writes back; hints work


def test_resume_writes_back_to_the_checkpoint_it_resumed(capsys, model):
    d = model.parent
    os.replace(model, d / "r.npz")
    (d / "model.npz").write_bytes(b"an unrelated model")
    r = rnn(capsys, "train", "--resume", "r.npz", "c.txt", "--epochs", "2", "-q")
    assert r.code == 0, r
    assert (d / "model.npz").read_bytes() == b"an unrelated model"
    assert checkpoint.load(str(d / "r.npz")).state["epoch"] == 2
    r = rnn(capsys, "train", "--resume", "r.npz", "c.txt", "--epochs", "3", "-o", "other.npz", "-q")
    assert r.code == 0 and checkpoint.load(str(d / "other.npz")).state["epoch"] == 3
    assert checkpoint.load(str(d / "r.npz")).state["epoch"] == 2


def test_forecast_resume_writes_back(capsys, fc_model):
    d = fc_model.parent
    (d / "forecast.npz").write_bytes(b"an unrelated model")
    r = rnn(capsys, "forecast", "train", "s.csv", "--resume", "f.npz", "--epochs", "2", "-q")
    assert r.code == 0, r
    assert (d / "forecast.npz").read_bytes() == b"an unrelated model"
    assert checkpoint.load(str(d / "f.npz")).state["epoch"] == 2


def interrupt_after_first_step(monkeypatch):
    """SIGINT arrives during the first training step, as Ctrl-C would."""
    step = Trainer._step

    def once(self, *a, **k):
        if not getattr(self, "_signalled", False):
            self._signalled = True
            os.kill(os.getpid(), signal.SIGINT)
        return step(self, *a, **k)
    monkeypatch.setattr(Trainer, "_step", once)


def hint(err, prefix):
    line = next(ln for ln in err.splitlines() if prefix in ln)
    cmd = line.split("`")[1]
    words = shlex.split(cmd)
    assert words[0] == "rnn", cmd
    return words[1:]


def test_ctrl_c_hint_works_as_printed(capsys, work, monkeypatch):
    write_corpus(work / "my corpus.txt")
    write_corpus(work / "val.txt", "The cat ran to the mat. The dog sat.\n")
    (work / "model.npz").write_bytes(b"an unrelated model")
    interrupt_after_first_step(monkeypatch)
    r = rnn(capsys, "train", "my corpus.txt", "--val", "val.txt", "-o", "ctrlc.npz", *TINY[:-3], "--epochs", "3",
            "--batch-size", "1", "-q")
    assert r.code == 130, r
    again = hint(r.err, "resume with")
    monkeypatch.undo()
    monkeypatch.chdir(work)
    r = rnn(capsys, *again)
    assert r.code == 0, r
    assert checkpoint.load(str(work / "ctrlc.npz")).state["epoch"] == 3
    assert (work / "model.npz").read_bytes() == b"an unrelated model"


def test_forecast_hints_work_as_printed(capsys, work, monkeypatch):
    series_csv(work / "my data.csv")
    r = rnn(capsys, "forecast", "train", "my data.csv", "-o", "my f.npz", *FC[:-1])
    assert r.code == 0, r
    r = rnn(capsys, *hint(r.err, "score it with"), "--json")
    assert r.code == 0, r
    interrupt_after_first_step(monkeypatch)
    r = rnn(capsys, "forecast", "train", "my data.csv", "-o", "ctrlc.npz", *FC[:-3], "--epochs", "2", "-q")
    assert r.code == 130, r
    again = hint(r.err, "resume with")
    monkeypatch.undo()
    monkeypatch.chdir(work)
    assert rnn(capsys, *again).code == 0
    assert checkpoint.load(str(work / "ctrlc.npz")).state["epoch"] == 2


def test_forecast_eval_on_too_short_data_asks_for_more_rows(capsys, fc_model):
    d = fc_model.parent
    lines = (d / "s.csv").read_text().splitlines()
    (d / "short.csv").write_text("\n".join(lines[:12]) + "\n")
    r = rnn(capsys, "forecast", "eval", "short.csv", "-m", "f.npz", "-q")
    msg = assert_user_error(r, "short.csv", "fixed when it was trained", "give at least")
    assert "shorten" not in msg


def test_missing_forecast_checkpoint_names_the_forecast_command(capsys, work):
    series_csv(work / "s.csv")
    r = rnn(capsys, "forecast", "predict", "s.csv", "-m", "none.npz", "-q")
    assert_user_error(r, "none.npz", "no such checkpoint", "rnn forecast train")


# ------------------------------------------------------------------ resuming on other files


def test_resume_on_other_files_says_so(capsys, model):
    d = model.parent
    write_corpus(d / "other.txt", "A bird sat on the log. The dog flew over the cat.\n" * 3)
    r = rnn(capsys, "train", "other.txt", "--resume", "m.npz", "--epochs", "2")
    assert r.code == 0, r
    notes = [ln for ln in r.err.splitlines() if "trained on" in ln]
    assert len(notes) == 1 and "c.txt" in notes[0] and "other.txt" in notes[0], r.err
    r = rnn(capsys, "train", "other.txt", "--resume", "m.npz", "--epochs", "3")
    assert r.code == 0 and "trained on" not in r.err, r


def test_resume_on_the_same_files_or_an_old_checkpoint_says_nothing(capsys, model):
    d = model.parent
    r = rnn(capsys, "train", "c.txt", "--resume", "m.npz", "--epochs", "2")
    assert r.code == 0 and "trained on" not in r.err, r
    rng = np.random.default_rng(0)
    words = ["the", "cat", "sat", "on", "mat", "dog", "log", "a", "bird"]
    make_checkpoint(d / "old.npz", words, rng.normal(0, 0.1, (3, 12)), rng.normal(0, 0.1, (12, 3)),
                    rng.normal(0, 0.1, (3, 3)))
    assert checkpoint.load(str(d / "old.npz")).task.sources is None
    r = rnn(capsys, "train", "c.txt", "--resume", "old.npz", "--epochs", "1")
    assert r.code == 0 and "trained on" not in r.err, r


def test_forecast_predict_on_another_encoding_asks_what_it_can_do(capsys, fc_model):
    """predict and eval have no --encoding: the model reads its training data's."""
    d = fc_model.parent
    (d / "l1.csv").write_bytes((d / "s.csv").read_bytes().replace(b"time,y,x", b"time,y,x\xe9", 1))
    for cmd in ("predict", "eval"):
        msg = assert_user_error(rnn(capsys, "forecast", cmd, "l1.csv", "-m", "f.npz", "-q"), "l1.csv", "utf-8")
        assert "pass" not in msg and "convert" in msg
    r = rnn(capsys, "forecast", "train", "l1.csv", "-o", "g.npz", *FC)
    assert_user_error(r, "--encoding latin-1")
