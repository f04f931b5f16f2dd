"""Issue 15: the bad inputs, tampered checkpoints, cache entries and signals of the probe,
one test per finding; each ends in a true one-line message or a correct result."""
import errno
import io
import json
import math
import os
import signal
import subprocess
import sys
import time
import zipfile

import click
import numpy as np
import pytest

from rnncli import checkpoint, fileio, registry
from rnncli.cli import cli
from rnncli.config import RANGES, Config
from rnncli.lm import cache as tcache
from rnncli.lm import settings as lm_settings
from rnncli.lm.settings import LMSettings
from rnncli.train import Diverged

from .helpers import (TINY, assert_user_error, isolated_cache, make_checkpoint, rnn, rnn_proc,  # noqa: F401
                      write_corpus)
from .test_cli_errors import _resave
from .test_train import make_trainer, small_cfg, write_text


@pytest.fixture
def corpus(tmp_path):
    return write_corpus(tmp_path / "corpus.txt")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A real checkpoint (H=3, C=12, one epoch), shared by tests that only read it."""
    from rnncli.cli import main
    d = tmp_path_factory.mktemp("trained")
    corpus = write_corpus(d / "corpus.txt")
    try:
        main(["train", str(corpus), "-o", str(d / "model.npz"), "--no-cache", *TINY])
    except SystemExit as e:
        assert e.code == 0
    return d / "model.npz"


def _commands(path, tmp_path, corpus):
    return {
        "info": ["info", "-m", path],
        "info-json": ["info", "-m", path, "--json"],
        "generate": ["generate", "-m", path, "-n", "1"],
        "eval": ["eval", "-m", path, "-q", corpus],
        "eval-stored": ["eval", "-m", path, "-q", "--json"],
        "resume": ["train", corpus, "--resume", path, "-o", tmp_path / "out.npz", "-q", "--epochs", "2"],
    }


def _with_json(trained, dst, key, **changes):
    """``trained`` rewritten with fields of its JSON section ``key`` changed ("task/settings":
    the object "settings" inside the section "task")."""
    key, _, inner = key.partition("/")
    with np.load(trained) as z:
        d = json.loads(str(z[key]))
    (d[inner] if inner else d).update(changes)
    return _resave(trained, dst, **{key: np.array(json.dumps(d))})


# ------------------------------------------------------------------ wrong result without an error


def test_cache_key_includes_the_encoding(capsys, tmp_path):
    f = tmp_path / "latin.txt"
    f.write_bytes("The café is open. The cat sat in the café.\n\nThe dog sat.\n".encode("latin-1"))
    r = rnn(capsys, "tokenize", f, "-o", tmp_path / "a.npz", "--encoding", "cp1251", "-q")
    assert r.code == 0, r
    r = rnn(capsys, "tokenize", f, "-o", tmp_path / "b.npz", "--encoding", "latin-1", "-q")
    assert r.code == 0, r
    with np.load(tmp_path / "b.npz") as z:
        assert "café" in z["vocab"].tolist()


# ------------------------------------------------------------------ tracebacks


def _the_cache_entry(cache_dir):
    entries = [p for p in cache_dir.rglob("*.npz")]
    assert len(entries) == 1, entries
    return entries[0]


@pytest.mark.parametrize("change", ["ids-out-of-range", "lengths-sum", "meta-no-kind", "meta-not-json",
                                    "words-2d", "ids-float", "splitter-broken", "missing-key"])
def test_bad_cache_entry_is_a_miss_and_is_rewritten(capsys, tmp_path, corpus, trained, isolated_cache, change):
    args = ["eval", "-m", trained, "-q", "--json", corpus]
    r = rnn(capsys, *args)
    assert r.code == 0, r
    clean = json.loads(r.out)
    entry = _the_cache_entry(isolated_cache)
    good = entry.read_bytes()
    with np.load(entry) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(str(arrays["meta"]))
    if change == "ids-out-of-range":
        arrays["ids"] = arrays["ids"] + len(arrays["words"])
    elif change == "lengths-sum":
        arrays["lengths"] = arrays["lengths"] + 1
    elif change == "meta-no-kind":
        arrays["meta"] = np.array(json.dumps({"params_json": None}))
    elif change == "meta-not-json":
        arrays["meta"] = np.array("{oops")
    elif change == "words-2d":
        arrays["words"] = arrays["words"][None, :]
    elif change == "ids-float":
        arrays["ids"] = arrays["ids"].astype(np.float64)
    elif change == "splitter-broken":
        arrays["meta"] = np.array(json.dumps(dict(meta, kind="trained", params_json='{"abbrev_types": 3}')))
    elif change == "missing-key":
        del arrays["lengths"]
    np.savez(entry, **arrays)
    for _ in range(2):  # the second run reads the rewritten entry
        r = rnn(capsys, *args)
        assert r.code == 0 and r.err == "", r
        got = json.loads(r.out)
        keys = ("nll", "tokens", "sentences")
        assert {k: got[k] for k in keys} == {k: clean[k] for k in keys}
    assert entry.read_bytes() == good  # rebuilt exactly as a fresh tokenization writes it
    assert tcache.load_cached(str(entry)) is not None


@pytest.mark.parametrize("cmd", ["info", "info-json", "generate", "eval", "eval-stored", "resume"])
def test_checkpoint_with_bogus_dtype(capsys, tmp_path, corpus, trained, cmd):
    bad = _with_json(trained, tmp_path / "bogus.npz", "config", dtype="bogus")
    r = rnn(capsys, *_commands(bad, tmp_path, corpus)[cmd])
    assert_user_error(r, "bogus.npz", "corrupt checkpoint", "dtype", "bogus")
    assert not (tmp_path / "out.npz").exists()


@pytest.mark.parametrize("section,field,value", [
    ("config", "lr", "fast"), ("config", "lr", None), ("config", "recurrent_init", "zeros"),
    ("config", "batch_size", 0), ("config", "epochs", 2.5), ("config", "dtype", 64),
    ("config", "optimizer", "lion"), ("config", "seed", -3), ("config", "dropout", 1.0),
    ("task/settings", "lowercase", 1), ("task/settings", "vocab_size", 3), ("task/settings", "sentences", "words"),
    ("task/settings", "val_fraction", 0.9), ("task/settings", "unk_token", 7),
    ("state", "epoch", "one"), ("state", "step", -1), ("state", "lr", None), ("state", "best_val", "low"),
    ("state", "history", {"a": 1}), ("state", "history", [{"train_loss": "x"}]), ("state", "schedule", {"lr": 1}),
    ("state", "dropout_rng", {"state": 3}),
    ("model", "hidden_dim", 3.0), ("model", "hidden_dim", "3"), ("model", "bias", "false"),
    ("model", "vocab_size", True),
    ("model", "cell", "lstm9"),
])
@pytest.mark.parametrize("cmd", ["info", "eval-stored", "resume"])
def test_checkpoint_field_of_wrong_type(capsys, tmp_path, corpus, trained, cmd, section, field, value):
    bad = _with_json(trained, tmp_path / "typed.npz", section, **{field: value})
    r = rnn(capsys, *_commands(bad, tmp_path, corpus)[cmd])
    assert_user_error(r, "typed.npz", field)
    assert not (tmp_path / "out.npz").exists()


@pytest.mark.parametrize("splitter", [
    {"kind": "trained", "params_json": "{not json"},
    {"kind": "trained", "params_json": json.dumps({"abbrev_types": [["a"]], "collocations": [],
                                                   "sent_starters": [], "ortho_context": {}})},
    {"kind": "trained", "params_json": json.dumps({"abbrev_types": [], "collocations": [[1, 2]],
                                                   "sent_starters": [], "ortho_context": {}})},
    {"kind": "trained", "params_json": json.dumps({"abbrev_types": [], "collocations": [],
                                                   "sent_starters": [], "ortho_context": {"a": "x"}})},
    {"kind": "trained", "params_json": 42},
    {"kind": "martian"},
    "punkt",
])
@pytest.mark.parametrize("cmd", ["info", "eval", "resume"])
def test_checkpoint_with_broken_splitter(capsys, tmp_path, corpus, trained, cmd, splitter):
    bad = _with_json(trained, tmp_path / "split.npz", "task", splitter=splitter)
    r = rnn(capsys, *_commands(bad, tmp_path, corpus)[cmd])
    assert_user_error(r, "split.npz", "splitter")


@pytest.mark.parametrize("cmd", ["train", "generate"])
def test_negative_seed(capsys, tmp_path, corpus, trained, cmd):
    args = (["train", corpus, "-o", tmp_path / "m.npz", *TINY] if cmd == "train"
            else ["generate", "-m", trained, "-n", "1"])
    r = rnn(capsys, *args, "--seed", "-1")
    assert_user_error(r, "--seed", "-1")
    assert r.code == 2
    assert not (tmp_path / "m.npz").exists()


def test_log_in_missing_directory_fails_before_training(capsys, tmp_path, corpus):
    r = rnn(capsys, "train", corpus, "-o", tmp_path / "m.npz", *TINY, "--log", tmp_path / "no" / "log.jsonl")
    assert_user_error(r, "log.jsonl", "does not exist", "--log")
    assert not (tmp_path / "m.npz").exists() and not (tmp_path / "no").exists()


# A prelude for `python SCRIPT rnn-args...`: numpy.savez, when it writes the Nth temporary
# file of NAME (* for any file), sends the given signals to its own process from inside the zip writing,
# then goes on writing: while the array KEY is converted, or with KEY "@close" while
# the zip member's handle is being closed (where an exception leaves the zip unclosable).
SIGNAL_IN_WRITE = r'''
import os, sys, zipfile, numpy as np
NAME, NTH, KEY, SIGS = sys.argv[1], int(sys.argv[2]), sys.argv[3], [int(s) for s in sys.argv[4].split(",")]
real, real_close, count, armed = np.savez, zipfile._ZipWriteFile.close, [0], [False]

def fire():
    for s in SIGS:
        os.kill(os.getpid(), s)

class Bomb:
    def __init__(self, a):
        self.a = a
    def __array__(self, dtype=None, copy=None):
        fire()
        return np.asarray(self.a, dtype=dtype)

def close(self):
    if armed[0] and not self.closed:
        armed[0] = False
        fire()
    return real_close(self)

def savez(f, **arrays):
    tmp = os.path.basename(os.readlink(f"/proc/self/fd/{f.fileno()}"))
    if NAME == "*" or tmp.startswith("." + NAME + "."):
        count[0] += 1
        if count[0] == NTH:
            if KEY == "@close":
                armed[0] = True
            else:
                arrays[KEY] = Bomb(arrays[KEY])
    return real(f, **arrays)

def streamed(real_write):
    def write_npz(f, members):
        tmp = os.path.basename(os.readlink(f"/proc/self/fd/{f.fileno()}"))
        if (NAME == "*" or tmp.startswith("." + NAME + ".")) and KEY == "@close":
            count[0] += 1
            if count[0] == NTH:
                armed[0] = True
        return real_write(f, members)
    return write_npz

np.savez = savez
zipfile._ZipWriteFile.close = close
import rnncli.fileio
rnncli.fileio.write_npz = streamed(rnncli.fileio.write_npz)   # the tokenization cache's writer
from rnncli.cli import main
main(sys.argv[5:])
'''


def _run_signalled(tmp_path, name, nth, key, sigs, *args):
    script = tmp_path / "signal_in_write.py"
    script.write_text(SIGNAL_IN_WRITE)
    p = subprocess.run([sys.executable, str(script), name, str(nth), key, ",".join(str(int(s)) for s in sigs),
                        *[str(a) for a in args]], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, RNNCLI_CACHE_DIR=str(tmp_path / "cache")))
    return p


def _temps(d):
    return sorted(p.name for p in d.iterdir() if p.name.endswith(".tmp"))


@pytest.mark.skipif(not os.path.exists("/proc/self/fd"), reason="finds the file being written through /proc")
@pytest.mark.parametrize("where", ["param.out.V", "@close"])
def test_second_ctrl_c_during_a_checkpoint_write(tmp_path, corpus, where):
    """Both Ctrl-Cs land while the second checkpoint is being zipped: the write
    finishes, then the first asks for a stop and the second aborts, with no traceback."""
    p = _run_signalled(tmp_path, "m.npz", 2, where, [signal.SIGINT, signal.SIGINT],
                       "train", corpus, "-o", "m.npz", "--no-cache", "--hidden-dim", "3", "--epochs", "4")
    assert p.returncode == 130, p.stderr
    assert "Traceback" not in p.stderr and "ZIP" not in p.stderr, p.stderr
    ck = checkpoint.load(str(tmp_path / "m.npz"))
    assert ck.state["epoch"] == 2
    assert f"aborted; the last good checkpoint m.npz (step {ck.state['step']}) is unchanged" in p.stderr
    assert _temps(tmp_path) == []


# ------------------------------------------------------------------ untrue or unhelpful messages


def _float_options():
    for name, cmd in cli.commands.items():
        for p in cmd.params:
            if isinstance(p, click.Option) and isinstance(p.type, click.types.FloatParamType):
                yield name, p.opts[-1] if p.opts[-1].startswith("--") else p.opts[0]


FLOAT_OPTIONS = sorted(_float_options())


def test_the_probe_s_options_are_float_options():
    names = {o for _, o in FLOAT_OPTIONS}
    assert {"--clip", "--dropout", "--max-time", "--val-fraction", "--lr", "--eps", "--beta2", "--momentum",
            "--weight-decay", "--temperature"} <= names


@pytest.mark.parametrize("cmd,opt", FLOAT_OPTIONS)
@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "NaN", "Infinity"])
def test_every_float_option_refuses_non_finite_values(capsys, tmp_path, corpus, trained, cmd, opt, value):
    base = {"train": ["train", corpus, "-o", tmp_path / "m.npz", *TINY], "generate": ["generate", "-m", trained],
            "eval": ["eval", "-m", trained, "-q"]}.get(cmd, [cmd])
    r = rnn(capsys, *base, opt, value)
    assert_user_error(r, opt)
    assert not (tmp_path / "m.npz").exists()


def test_divergence_before_the_first_save_names_no_checkpoint(tmp_path):
    t = make_trainer(tmp_path, small_cfg(epochs=2, optimizer="sgd", lr=1e6, clip=0))
    t.params["out.V"][0, 0] = np.nan
    with pytest.raises(Diverged) as e:
        t.run()
    assert "no checkpoint was written" in str(e.value) and "unchanged" not in str(e.value)
    assert not (tmp_path / "m.npz").exists()


def test_divergence_after_a_save_names_the_checkpoint_and_its_step(tmp_path):
    t = make_trainer(tmp_path, small_cfg(epochs=1))
    t.run()
    step = t.state["step"]
    t2 = make_trainer(tmp_path, small_cfg(epochs=3), params=t.params, state=t.state)
    t2.run_calls = 0
    real = t2.task.loss_and_grads

    def nan_in_epoch_3(params, sel, grads, ws, rng, rows=None):
        nll, n = real(params, sel, grads, ws, rng, rows)
        return (math.nan if t2.state["epoch"] == 2 else nll), n
    t2.task.loss_and_grads = nan_in_epoch_3
    with pytest.raises(Diverged) as e:
        t2.run()
    assert f"the last good checkpoint {tmp_path / 'm.npz'} (step {2 * step}) is unchanged" in str(e.value)
    assert checkpoint.load(str(tmp_path / "m.npz")).state["step"] == 2 * step


def test_nan_parameters_are_never_saved(tmp_path):
    """An update that makes the weights NaN on an epoch's last batch: the checkpoint of
    the epoch before stays, and the message says so."""
    t = make_trainer(tmp_path, small_cfg(epochs=1))
    t.run()
    before = (tmp_path / "m.npz").read_bytes()
    steps = t.state["step"]
    t2 = make_trainer(tmp_path, small_cfg(epochs=2), params=t.params, state=t.state)
    real = t2.opt.step

    def poison(params, grads, lr, *rows):
        real(params, grads, lr, *rows)
        if t2.state["step"] + 1 == 2 * steps:   # the last update of epoch 2
            params["layer0.W"][0, 0] = np.inf
    t2.opt.step = poison
    with pytest.raises(Diverged, match="NaN or infinite.*m.npz .*was not written by this run"):
        t2.run()
    assert (tmp_path / "m.npz").read_bytes() == before


def test_double_ctrl_c_before_the_first_save(capsys, tmp_path, corpus, monkeypatch):
    """Both Ctrl-Cs during the first batch: nothing was saved, and the message says so."""
    from rnncli.lm.task import LanguageModel
    real = LanguageModel.loss_and_grads

    def interrupted_twice(self, *a, **kw):
        signal.raise_signal(signal.SIGINT)
        signal.raise_signal(signal.SIGINT)
        return real(self, *a, **kw)
    monkeypatch.setattr(LanguageModel, "loss_and_grads", interrupted_twice)
    r = rnn(capsys, "train", corpus, "-o", tmp_path / "m.npz", *TINY)
    assert r.code == 130, r
    assert "no checkpoint was written" in r.err and "intact" not in r.err and "unchanged" not in r.err, r
    assert not (tmp_path / "m.npz").exists() and not (tmp_path / "m.npz.lock").exists()


def test_huge_learning_rate_prints_one_line_without_numpy_warnings(tmp_path, corpus):
    r = rnn_proc("train", corpus, "-o", tmp_path / "m.npz", "--hidden-dim", "4", "--epochs", "2",
                 "--lr", "1e300", "-q", env={"RNNCLI_CACHE_DIR": str(tmp_path / "cache")})
    assert "RuntimeWarning" not in r.err
    assert_user_error(r, "diverged", "no checkpoint was written")


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", ["param.out.V", "param.layer0.W", "opt.m.layer0.U"])
@pytest.mark.parametrize("cmd", ["info", "info-json", "generate", "eval-stored", "resume"])
def test_non_finite_weights_are_refused(capsys, tmp_path, corpus, trained, cmd, where, value):
    with np.load(trained) as z:
        a = z[where].copy()
    a.flat[1] = value
    bad = _resave(trained, tmp_path / "nanw.npz", **{where: a})
    r = rnn(capsys, *_commands(bad, tmp_path, corpus)[cmd])
    assert_user_error(r, "nanw.npz", "NaN or infinite", where.split(".", 1)[1])
    assert r.out == ""


def test_json_output_is_valid_when_perplexity_overflows(capsys, tmp_path):
    """Finite but huge weights: cross-entropy above 700 nats, so perplexity is infinite.
    The JSON says null, and why."""
    C, H = 6, 2
    V = np.zeros((C, H))
    V[3] = 600.0                      # every hidden state pushes all mass onto word 3
    val = [[1, 4, 2], [1, 5, 5, 2]]
    make_checkpoint(tmp_path / "m.npz", ["a", "b", "c"], np.full((H, C), 3.0), V, np.zeros((H, H)), val_sents=val)
    r = rnn(capsys, "eval", "-m", tmp_path / "m.npz", "--json", "-q")
    assert r.code == 0, r
    got = json.loads(r.out, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    assert got["cross_entropy"] > 700 and got["perplexity"] is None
    assert got["non_finite"] == {"perplexity": "inf"}
    r = rnn(capsys, "eval", "-m", tmp_path / "m.npz", "--json", "--per-sentence", "-q")
    assert r.code == 0, r
    for line in r.out.splitlines():
        json.loads(line, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))


def test_info_json_with_an_infinite_gradient_norm_in_the_history(capsys, tmp_path, trained):
    """A gradient norm that overflowed (clipping kept the weights finite) is a real
    history figure: info --json prints null and says it was infinite."""
    with np.load(trained) as z:
        st = json.loads(str(z["state"]))
    st["history"][0]["grad_norm_max"] = math.inf
    path = _resave(trained, tmp_path / "h.npz", state=np.array(json.dumps(st)))
    r = rnn(capsys, "info", "-m", path, "--json")
    assert r.code == 0, r
    got = json.loads(r.out, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    rec = got["history"][0]
    assert rec["grad_norm_max"] is None and rec["non_finite"] == {"grad_norm_max": "inf"}


def _huge_header(src, dst, key, shape):
    """``src`` with the .npy header of ``key`` declaring ``shape``; the data stays as it was."""
    zin = zipfile.ZipFile(src)
    with zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            raw = zin.read(info)
            if info.filename == key + ".npy":
                f = io.BytesIO(raw)
                np.lib.format.read_magic(f)
                _, fortran, dtype = np.lib.format.read_array_header_1_0(f)
                data = raw[f.tell():]
                out = io.BytesIO()
                np.lib.format.write_array_header_1_0(out, {"descr": np.lib.format.dtype_to_descr(dtype),
                                                           "fortran_order": fortran, "shape": shape})
                raw = out.getvalue() + data
            zout.writestr(info.filename, raw)
    return dst


@pytest.mark.parametrize("key", ["param.out.V", "task.vocab", "config"])
@pytest.mark.parametrize("cmd", ["info", "generate", "eval-stored", "resume"])
def test_huge_declared_shape_is_corrupt_not_out_of_memory(capsys, tmp_path, corpus, trained, monkeypatch, cmd, key):
    def no_allocation(*a, **k):
        raise AssertionError("an array was loaded before its header was checked")
    bad = _huge_header(trained, tmp_path / "huge.npz", key, (10 ** 6, 10 ** 6))
    monkeypatch.setattr(np.lib.format, "read_array", no_allocation)
    r = rnn(capsys, *_commands(bad, tmp_path, corpus)[cmd])
    assert_user_error(r, "huge.npz", "corrupt checkpoint", key, "1000000")
    assert "memory" not in r.err


def test_npz_headers_bound_the_total_size(tmp_path):
    np.savez(tmp_path / "a.npz", x=np.zeros(1000))
    assert fileio.npz_headers(str(tmp_path / "a.npz"))["x"] == ((1000,), np.dtype(float))
    with pytest.raises(fileio.NpzError, match="GiB"):
        fileio.npz_headers(str(tmp_path / "a.npz"), max_bytes=4000)


def _wait_for(path, proc, seconds=120):
    deadline = time.time() + seconds
    while not path.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.1)
    assert path.exists(), proc.communicate()[1]


def test_sigterm_saves_a_checkpoint_and_exits_143(tmp_path):
    corpus = tmp_path / "c.txt"
    write_text(corpus, n=3000)
    p = subprocess.Popen([sys.executable, "-m", "rnncli", "train", str(corpus), "-o", "m.npz", "--epochs", "1000",
                          "--hidden-dim", "16", "--batch-size", "2"], cwd=tmp_path,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=dict(os.environ, RNNCLI_CACHE_DIR=str(tmp_path / "cache")))
    _wait_for(tmp_path / "m.npz", p)
    first = checkpoint.load(str(tmp_path / "m.npz")).state
    time.sleep(0.5)
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 143, err
    assert "Traceback" not in err and "terminated: checkpoint saved to m.npz" in err
    ck = checkpoint.load(str(tmp_path / "m.npz"))
    assert ck.state["step"] > first["step"]
    assert _temps(tmp_path) == [] and not (tmp_path / "m.npz.lock").exists()


@pytest.mark.skipif(not os.path.exists("/proc/self/fd"), reason="finds the file being written through /proc")
def test_sigterm_during_a_write_finishes_it_then_stops(tmp_path, corpus):
    p = _run_signalled(tmp_path, "m.npz", 2, "param.out.V", [signal.SIGTERM],
                       "train", corpus, "-o", "m.npz", "--no-cache", "--hidden-dim", "3", "--epochs", "4")
    assert p.returncode == 143, p.stderr
    assert "Traceback" not in p.stderr and "terminated: checkpoint saved to m.npz" in p.stderr
    ck = checkpoint.load(str(tmp_path / "m.npz"))
    assert ck.state["epoch"] == 2 and ck.state["batch_in_epoch"] == 0
    assert _temps(tmp_path) == []


@pytest.mark.skipif(not os.path.exists("/proc/self/fd"), reason="finds the file being written through /proc")
def test_sigkill_during_a_write_keeps_the_previous_checkpoint_and_the_next_run_cleans_up(tmp_path, corpus):
    p = _run_signalled(tmp_path, "m.npz", 2, "param.out.V", [signal.SIGKILL],
                       "train", corpus, "-o", "m.npz", "--no-cache", "--hidden-dim", "3", "--epochs", "4")
    assert p.returncode == -signal.SIGKILL
    left = _temps(tmp_path)
    assert len(left) == 1 and left[0].startswith(".m.npz."), left     # the half-written file
    assert checkpoint.load(str(tmp_path / "m.npz")).state["epoch"] == 1  # the previous checkpoint
    r = rnn_proc("train", corpus, "--resume", "m.npz", "-o", "m.npz", "--epochs", "2", "--no-cache", "-q",
                 cwd=tmp_path)
    assert r.code == 0, r
    assert checkpoint.load(str(tmp_path / "m.npz")).state["epoch"] == 2
    assert _temps(tmp_path) == [] and not (tmp_path / "m.npz.lock").exists()


def test_temp_files_of_live_writers_and_other_names_are_kept(tmp_path):
    live = tmp_path / f".m.npz.{os.getppid()}-abcd1234.tmp"       # our parent is alive
    other = tmp_path / ".other.npz.999999999-abcd1234.tmp"
    mine = tmp_path / ".m.npz.notatemp"
    dead = tmp_path / ".m.npz.999999999-abcd1234.tmp"
    for f in (live, other, mine, dead):
        f.write_bytes(b"x")
    fileio.atomic_write_npz(str(tmp_path / "m.npz"), {"a": np.zeros(2)})
    assert live.exists() and other.exists() and mine.exists() and not dead.exists()


def test_second_writer_on_the_same_output_is_refused(capsys, tmp_path, corpus):
    lock = fileio.WriteLock(str(tmp_path / "m.npz")).acquire()
    try:
        r = rnn(capsys, "train", corpus, "-o", tmp_path / "m.npz", *TINY)
        assert_user_error(r, "m.npz", "another rnn command", f"process {os.getpid()}")
        assert not (tmp_path / "m.npz").exists()
    finally:
        lock.release()
    r = rnn(capsys, "train", corpus, "-o", tmp_path / "m.npz", *TINY)
    assert r.code == 0, r
    assert not (tmp_path / "m.npz.lock").exists()


def test_second_writer_is_refused_across_processes(tmp_path, corpus):
    """A real second process while the first trains, and a stale lock file (its holder
    is gone) that is simply taken over."""
    write_text(tmp_path / "big.txt", n=3000)
    p = subprocess.Popen([sys.executable, "-m", "rnncli", "train", "big.txt", "-o", "m.npz", "--epochs", "1000",
                          "--hidden-dim", "8", "-q"], cwd=tmp_path, stderr=subprocess.PIPE, text=True,
                         env=dict(os.environ, RNNCLI_CACHE_DIR=str(tmp_path / "cache")))
    try:
        _wait_for(tmp_path / "m.npz.lock", p)
        r = rnn_proc("train", corpus, "-o", "m.npz", *TINY, cwd=tmp_path)
        assert_user_error(r, "m.npz", f"process {p.pid}")
    finally:
        p.kill()
        p.communicate()
    assert (tmp_path / "m.npz.lock").exists()   # left by the killed process, unlocked
    r = rnn_proc("train", corpus, "-o", "m.npz", *TINY, cwd=tmp_path)
    assert r.code == 0, r
    assert not (tmp_path / "m.npz.lock").exists()


def test_full_disk_with_room_for_the_best_checkpoint_only_says_so(capsys, tmp_path, corpus, monkeypatch):
    real = checkpoint.atomic_write_npz

    def only_best_fits(path, arrays):
        if path.endswith("m.npz"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path, arrays)
    monkeypatch.setattr(checkpoint, "atomic_write_npz", only_best_fits)
    r = rnn(capsys, "train", corpus, "-o", tmp_path / "m.npz", *TINY)
    msg = assert_user_error(r, "no space left on device")
    assert f"{tmp_path / 'm.best.npz'} was written" in msg
    assert (tmp_path / "m.best.npz").exists() and not (tmp_path / "m.npz").exists()


def test_settings_problem_accepts_every_default_and_the_v1_fixture():
    assert registry.problem(Config(), RANGES) is None
    assert registry.problem(Config(epochs=None, max_time=None, threads=None), RANGES) is None
    assert registry.problem(LMSettings(csv_column=None, unk_token=None), lm_settings.RANGES) is None
    ck = checkpoint.load(os.path.join(os.path.dirname(__file__), "fixtures", "v1_model.npz"))
    assert registry.problem(ck.config, RANGES) is None
    assert registry.problem(ck.task.settings, lm_settings.RANGES) is None


@pytest.mark.parametrize("temperature", ["1e-320", "5e-324", "1e-300", "1e300"])
def test_generate_with_extreme_temperatures_never_emits_unknown(capsys, trained, temperature):
    """Found by the fuzz suite: a subnormal temperature turned every logit into -inf and
    the sampler fell back to id 0, UNKNOWN_TOKEN. A tiny temperature is the argmax path."""
    r = rnn(capsys, "generate", "-m", trained, "-n", "3", "--json", "--seed", "2", "--temperature", temperature)
    assert r.code == 0, r
    for item in json.loads(r.out):
        assert "UNKNOWN_TOKEN" not in item["tokens"] and item["tokens"]
    if float(temperature) < 1e-200:
        greedy = rnn(capsys, "generate", "-m", trained, "-n", "3", "--json", "--temperature", "0")
        assert [i["tokens"] for i in json.loads(r.out)] == [i["tokens"] for i in json.loads(greedy.out)]


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


@pytest.mark.parametrize("encoding", ["punycode", "idna", "utf-7"])
def test_codec_specific_decoding_errors_are_one_line(capsys, tmp_path, trained, encoding):
    """Found by the fuzz suite: punycode raises UnicodeError, not UnicodeDecodeError."""
    f = tmp_path / "odd.txt"
    f.write_bytes(b"The cat sat on the mat - ok? \xff\xfe+- The dog.\n")
    r = rnn(capsys, "eval", "-m", trained, "-q", "--encoding", encoding, f)
    if r.code:
        assert_user_error(r, "odd.txt", encoding)


@pytest.mark.parametrize("cmd", ["train", "eval", "resume"])
def test_threads_beyond_a_c_int(capsys, tmp_path, corpus, trained, cmd):
    """Found by the fuzz suite: --threads 2**70 (or a checkpoint holding it) overflowed
    threadpoolctl's C call."""
    big = str(2 ** 70)
    if cmd == "resume":
        path = _with_json(trained, tmp_path / "t.npz", "config", threads=2 ** 70)
        r = rnn(capsys, "train", corpus, "--resume", path, "-o", tmp_path / "out.npz", "--epochs", "2", "-q")
    elif cmd == "train":
        r = rnn(capsys, "train", corpus, "-o", tmp_path / "out.npz", *TINY, "--threads", big)
    else:
        r = rnn(capsys, "eval", "-m", trained, "-q", "--threads", big, corpus)
    assert r.code == 0, r


@pytest.mark.skipif(not os.path.exists("/proc/self/fd"), reason="finds the file being written through /proc")
def test_sigterm_before_training_ends_cleanly(tmp_path, corpus):
    """SIGTERM while the tokenization cache is written (before training): the entry is
    finished, then the command ends with one line and 143, releasing its lock."""
    p = _run_signalled(tmp_path, "*", 1, "@close", [signal.SIGTERM],
                       "train", corpus, "-o", "m.npz", "--hidden-dim", "3", "--epochs", "1", "-q")
    assert p.returncode == 143, p.stderr
    assert p.stderr.strip() == "rnn: terminated"
    assert not (tmp_path / "m.npz").exists() and not (tmp_path / "m.npz.lock").exists()
    entries = list((tmp_path / "cache").rglob("*.npz"))
    assert len(entries) == 1 and tcache.load_cached(str(entries[0])) is not None
    assert not list((tmp_path / "cache").rglob("*.tmp"))


def test_messages_quoting_control_characters_stay_one_line(capsys, tmp_path, trained):
    """Found by the fuzz suite: a checkpoint key holding a carriage return split the
    error message over two lines. Any message that quotes its input escapes them."""
    bad = _with_json(trained, tmp_path / "cr.npz", "model", **{"\r": 1})
    r = rnn(capsys, "info", "-m", bad)
    assert_user_error(r, "cr.npz", "unknown model argument", "'\\r'")
    odd = tmp_path / "new\nline.txt"
    r = rnn(capsys, "eval", "-m", trained, "-q", odd)
    assert_user_error(r, "new\\nline.txt", "no such file")


def test_resuming_a_finished_run_says_nothing_was_written(capsys, tmp_path, corpus, trained):
    """Found by the fuzz suite: resuming at or past --epochs trained nothing, wrote
    nothing, and still said "done: OUT"."""
    r = rnn(capsys, "train", corpus, "--resume", trained, "-o", tmp_path / "more.npz", "--epochs", "1")
    assert r.code == 0, r
    assert "nothing to do" in r.err and "more.npz was not written" in r.err and "done" not in r.err, r
    assert not (tmp_path / "more.npz").exists()


def test_lock_without_flock_trusts_a_live_pid(tmp_path, monkeypatch):
    """On a file system without flock (some network ones) the pid in the lock file
    decides: a live holder keeps it, a dead one's stale file is taken over."""
    import fcntl

    def no_flock(fd, op):
        raise OSError(errno.ENOLCK, "No locks available")
    monkeypatch.setattr(fcntl, "flock", no_flock)
    out = str(tmp_path / "m.npz")
    (tmp_path / "m.npz.lock").write_text(f"{os.getppid()}\n")
    with pytest.raises(fileio.LockHeld) as e:
        fileio.WriteLock(out).acquire()
    assert e.value.pid == os.getppid()
    (tmp_path / "m.npz.lock").write_text("999999999\n")
    lock = fileio.WriteLock(out).acquire()
    assert (tmp_path / "m.npz.lock").read_text() == f"{os.getpid()}\n"
    lock.release()
    assert not (tmp_path / "m.npz.lock").exists()


def test_a_negative_schedule_rate_is_refused_at_load():
    """Found by the slow checkpoint-mutation fuzz test: a stored schedule rate of -1 was
    accepted, the resumed run trained uphill and wrote a checkpoint the loader refused."""
    good = {"kind": "plateau", "lr": 0.002, "prev": 2.4, "best": 2.4, "halving": False}
    assert checkpoint.state_problem({"schedule": good}) is None
    assert checkpoint.state_problem({"schedule": dict(good, lr=0.0)}) is None
    assert "schedule" in checkpoint.state_problem({"schedule": dict(good, lr=-1)})
