"""Checkpoints (rnncli/checkpoint.py): round trips, the files older versions wrote, and every broken or
tampered file refused with one line."""
import io
import json
import os
import pickle
import zipfile

import numpy as np
import pytest

from rnncli import checkpoint

from .helpers import (
    CORPUS,
    assert_user_error,
    class_trainer,
    make_trainer,
    resave,
    rnn,
    small_cfg,
    with_json,
    write_corpus,
)


def test_corrupt_class_map_is_refused(tmp_path):
    cfg = small_cfg(epochs=1)
    class_trainer(tmp_path, cfg, classes=4).run()
    path = str(tmp_path / "m.npz")
    with np.load(path, allow_pickle=False) as z:
        arrays = dict(z)
    model = json.loads(str(arrays["model"]))
    model["class_of"][5] = 99
    arrays["model"] = np.array(json.dumps(model))
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(checkpoint.CheckpointError, match="corrupt checkpoint.*class"):
        checkpoint.load(str(tmp_path / "bad.npz"))
    model["class_of"][5] = 1
    model["classes"] = 10 ** 30                          # found by the slow fuzz test: an OverflowError
    arrays["model"] = np.array(json.dumps(model))
    np.savez(tmp_path / "huge.npz", **arrays)
    with pytest.raises(checkpoint.CheckpointError, match="corrupt checkpoint.*classes"):
        checkpoint.load(str(tmp_path / "huge.npz"))
    model["output"] = "full"                             # config says class: inconsistent
    arrays["model"] = np.array(json.dumps({k: v for k, v in model.items() if k not in ("classes", "class_of")}))
    np.savez(tmp_path / "bad2.npz", **arrays)
    with pytest.raises(checkpoint.CheckpointError):
        checkpoint.load(str(tmp_path / "bad2.npz"))


def test_checkpoint_round_trip(tmp_path):
    t = make_trainer(tmp_path, small_cfg(optimizer="rmsprop", lr=0.01), model={"bias": True})
    t.run()
    path = str(tmp_path / "m.npz")
    with np.load(path, allow_pickle=False) as z:   # a plain npz, no pickles anywhere
        keys = set(z.files)
        for k in z.files:
            assert z[k].dtype != object
    assert {"param.layer0.U", "param.out.V", "param.layer0.W", "param.layer0.b", "param.out.c", "task.vocab", "model",
            "config", "format_version", "state", "task.val_ids"} <= keys
    ck = checkpoint.load(path)
    for k, v in t.params.items():
        np.testing.assert_array_equal(ck.params[k], v)
        assert ck.params[k].dtype == np.float64
    assert ck.task.vocab.words == t.task.data.vocab.words
    assert ck.config == t.cfg
    assert ck.state["epoch"] == 2 and len(ck.state["history"]) == 2
    for k, v in t.opt.state.items():
        np.testing.assert_array_equal(ck.opt_state[k], v)
    np.testing.assert_array_equal(ck.task.val.ids, t.task.val.ids)
    assert os.path.exists(checkpoint.best_path(path))
    # U keeps the layout the kernels expect after loading
    assert ck.params["layer0.U"].T.flags.c_contiguous
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]


FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
V1 = os.path.join(FIXTURES, "v1_model.npz")


def v1_expected():
    with open(os.path.join(FIXTURES, "v1_expected.jsonl")) as f:
        return [json.loads(line) for line in f]


def test_version_1_checkpoint_scores_as_version_1_did(capsys):
    want_eval, _, _ = v1_expected()
    r = rnn(capsys, "eval", "-m", V1, "--json", "-q")
    assert r.code == 0, r
    got = json.loads(r.out)
    # a float32 model: another CPU's BLAS kernel sums the products in another order, so
    # the figures agree to float32's precision, not bit for bit (seen: rel 2e-10)
    assert got["nll"] == pytest.approx(want_eval["nll"], rel=1e-5)
    assert got["perplexity"] == pytest.approx(want_eval["perplexity"], rel=1e-5)
    assert got["tokens"] == want_eval["tokens"] and got["oov_rate"] == want_eval["oov_rate"]


def test_version_1_checkpoint_samples_as_version_1_did(capsys):
    _, want_gen, _ = v1_expected()
    r = rnn(capsys, "generate", "-m", V1, "-n", "3", "--seed", "1", "--json")
    assert r.code == 0, r
    got = json.loads(r.out)
    assert [g["tokens"] for g in got] == [w["tokens"] for w in want_gen]
    for g, w in zip(got, want_gen):
        assert g["logprob"] == pytest.approx(w["logprob"], rel=1e-5)


def test_version_1_checkpoint_info_and_structure(capsys):
    *_, want = v1_expected()
    r = rnn(capsys, "info", "-m", V1, "--json")
    assert r.code == 0, r
    d = json.loads(r.out)
    for k, v in want.items():
        assert d[k] == v, k
    ck = checkpoint.load(V1)
    assert ck.model == {"vocab_size": 300, "hidden_dim": 8, "bias": True}
    assert list(ck.params) == ["layer0.U", "out.V", "layer0.W", "layer0.b", "out.c"]
    assert ck.task.splitter["kind"] in ("trained", "punkt_tab") and ck.task.val.n_sentences == 53
    assert set(ck.opt_state) == {f"{s}.{k}" for s in "mv" for k in ck.params}


def test_version_1_checkpoint_resumes_and_is_rewritten_in_the_current_format(capsys, tmp_path):
    corpus = write_corpus(tmp_path / "c.txt", CORPUS * 3)
    out = tmp_path / "r.npz"
    r = rnn(capsys, "train", corpus, "--resume", V1, "-o", out, "--epochs", "3", "-q")
    assert r.code == 0, r
    with np.load(out) as z:
        assert int(z["format_version"]) == checkpoint.FORMAT_VERSION == 3
    ck = checkpoint.load(str(out))
    assert ck.state["epoch"] == 3 and ck.task.vocab.words == checkpoint.load(V1).task.vocab.words


# ------------------------------------------------------------------ version 2 (written before format 3)


V2_LM, V2_FORECAST = os.path.join(FIXTURES, "v2_lm.npz"), os.path.join(FIXTURES, "v2_forecast.npz")
V2_SERIES, V2_HELD = os.path.join(FIXTURES, "v2_series.csv"), os.path.join(FIXTURES, "v2_held.txt")


def v2_expected():
    """What rnncli printed for the version-2 fixtures (v2_expected.jsonl: info --json, eval
    --json of the stored and of v2_held.txt, generate, forecast eval and predict --json;
    v2_info.txt: info), by the rnncli that wrote them (main at 031826d), with
      rnn train TEXT --sentences lines --words whitespace --no-lowercase --unk-token '<unk>'
          --vocab-size 60 --hidden-dim 4 --softmax class --classes 4 --cell gru --bias --epochs 2
          --seed 5 --val-fraction 0.1 -o v2_lm.npz   (TEXT: 120 lines of data/corpus.txt)
      rnn forecast train v2_series.csv --target demand --history 8 --horizon 3 --hidden-dim 4
          --attention --cell lstm --decoder-training teacher --epochs 2 --seed 5 -o v2_forecast.npz"""
    with open(os.path.join(FIXTURES, "v2_expected.jsonl")) as f:
        info, stored, held, gen, feval, fpredict = [json.loads(line) for line in f]
    with open(os.path.join(FIXTURES, "v2_info.txt")) as f:
        text = f.read()
    return info, stored, held, gen, feval, fpredict, text


def same(got, want, path=""):
    """Equal; floats to 1e-5 relative: the fixtures' figures were printed on another
    machine by float32 models, and another CPU's BLAS kernel sums in another order
    (OPENBLAS_CORETYPE=Prescott: 2e-9 relative in a perplexity)."""
    if isinstance(want, dict):
        assert isinstance(got, dict) and set(got) == set(want), (path, sorted(got), sorted(want))
        for k in want:
            same(got[k], want[k], f"{path}.{k}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), path
        for i, (g, w) in enumerate(zip(got, want)):
            same(g, w, f"{path}[{i}]")
    elif isinstance(want, float):
        assert got == pytest.approx(want, rel=1e-5, abs=1e-9), (path, got, want)
    else:
        assert got == want, (path, got, want)


def test_version_2_language_model_gives_what_its_writer_printed(capsys):
    info, stored, held, gen, *_, text = v2_expected()
    r = rnn(capsys, "info", "-m", V2_LM, "--json")
    assert r.code == 0, r
    same(dict(json.loads(r.out), model="v2_lm.npz"), info)
    r = rnn(capsys, "info", "-m", V2_LM)
    assert r.code == 0 and r.out.replace(V2_LM, "v2_lm.npz") == text, r
    for args, want in ((["eval", "-m", V2_LM], stored), (["eval", "-m", V2_LM, V2_HELD, "--no-cache"], held)):
        r = rnn(capsys, *args, "--json", "--threads", "1", "-q")
        assert r.code == 0, r
        got = json.loads(r.out)
        same({k: v for k, v in got.items() if k not in ("seconds", "tokens_per_s")}, want)
    r = rnn(capsys, "generate", "-m", V2_LM, "-n", "3", "--seed", "1", "--json", "--prefix", "The <unk> cat")
    assert r.code == 0, r
    same(json.loads(r.out), gen)


def test_version_2_language_model_keeps_its_settings_on_resume(capsys, tmp_path):
    """Its tokenizer settings were in the config: read from there, they are the ones a
    resumed run must keep and the ones it writes into the task section."""
    ck = checkpoint.load(V2_LM)
    s = ck.task.settings
    assert (s.lowercase, s.sentences, s.words, s.unk_token, s.vocab_size, s.val_fraction) == \
        (False, "lines", "whitespace", "<unk>", 60, 0.1)
    assert ck.model["cell"] == "gru" and ck.model["output"] == "class" and ck.model["classes"] == 4
    out = tmp_path / "r.npz"
    r = rnn(capsys, "train", V2_HELD, "--resume", V2_LM, "-o", out, "--sentences", "punkt", "-q")
    assert_user_error(r, "--sentences punkt contradicts the checkpoint", "(trained with --sentences lines)")
    r = rnn(capsys, "train", V2_HELD, "--resume", V2_LM, "-o", out, "--hidden-dim", "5", "-q")
    assert_user_error(r, "--hidden-dim 5 contradicts the checkpoint", "(trained with --hidden-dim 4)")
    r = rnn(capsys, "train", V2_HELD, "--resume", V2_LM, "-o", out, "--epochs", "3", "-q", "--no-cache")
    assert r.code == 0, r
    with np.load(out) as z:
        assert int(z["format_version"]) == 3 and "hidden_dim" not in json.loads(str(z["config"]))
        assert json.loads(str(z["task"]))["settings"] == dict(ck.task.settings.to_dict())
    again = checkpoint.load(str(out))
    assert again.task.settings == ck.task.settings and again.model == ck.model and again.state["epoch"] == 3


def test_version_2_forecaster_gives_what_its_writer_printed(capsys, tmp_path):
    *_, feval, fpredict, _ = v2_expected()
    drop = ("model", "data")
    r = rnn(capsys, "forecast", "eval", "-m", V2_FORECAST, V2_SERIES, "--json", "--threads", "1", "-q")
    assert r.code == 0, r
    same({k: v for k, v in json.loads(r.out).items() if k not in drop},
         {k: v for k, v in feval.items() if k not in drop})
    r = rnn(capsys, "forecast", "predict", "-m", V2_FORECAST, V2_SERIES, "--json", "--threads", "1", "-q")
    assert r.code == 0, r
    same({k: v for k, v in json.loads(r.out).items() if k not in drop},
         {k: v for k, v in fpredict.items() if k not in drop})
    ck = checkpoint.load(V2_FORECAST)
    assert ck.model["attention"] is True and ck.model["cell"] == "lstm" and ck.task.settings.history == 8
    r = rnn(capsys, "forecast", "train", V2_SERIES, "--resume", V2_FORECAST, "-o", tmp_path / "f.npz", "--no-attention",
            "-q")
    assert_user_error(r, "--no-attention contradicts the checkpoint", "(trained with --attention)")
    r = rnn(capsys, "forecast", "train", V2_SERIES, "--resume", V2_FORECAST, "-o", tmp_path / "f.npz", "--epochs",
            "3", "-q")
    assert r.code == 0, r
    again = checkpoint.load(str(tmp_path / "f.npz"))
    assert again.model == ck.model and again.task.settings == ck.task.settings and again.state["epoch"] == 3


# ------------------------------------------------------------------ bad checkpoints


UNPICKLED = []


def _mark_unpickled(path):
    """Called only if something unpickles the object array below."""
    with open(path, "w") as f:
        f.write("unpickled!")
    UNPICKLED.append(path)
    return "x"


class Trap:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (_mark_unpickled, (self.path,))


def _write(path, content):
    path.write_bytes(content)
    return path


def bad_checkpoint(kind, trained, d):
    """A broken checkpoint of the given kind in directory d, and words its message must contain."""
    good = trained.read_bytes()
    v = checkpoint.FORMAT_VERSION
    if kind == "missing":
        return d / "nope.npz", ["no such checkpoint"]
    if kind == "directory":
        return d, ["directory"]
    if kind == "empty":
        return _write(d / "e.npz", b""), ["empty"]
    if kind == "random-bytes":
        return _write(d / "r.npz", np.random.default_rng(0).bytes(700)), ["not an rnncli checkpoint"]
    if kind == "text":
        return _write(d / "t.npz", b"hello\n"), ["not an rnncli checkpoint"]
    if kind == "npy":
        np.save(d / "a.npy", np.arange(5))
        os.replace(d / "a.npy", d / "a.npz")
        return d / "a.npz", ["not an rnncli checkpoint"]
    if kind == "truncated":
        return _write(d / "tr.npz", good[: len(good) // 2]), ["corrupt or truncated"]
    if kind == "truncated-head":
        return _write(d / "th.npz", good[:300]), ["corrupt or truncated"]
    if kind == "foreign":
        np.savez(d / "f.npz", weights=np.ones(3), names=np.array(["a"]))
        return d / "f.npz", ["not an rnncli checkpoint"]
    if kind == "newer-format":
        return resave(trained, d / "new.npz", format_version=np.array(v + 1)), ["newer", "upgrade", str(v + 1)]
    if kind == "missing-config":
        return resave(trained, d / "nc.npz", config=None), ["config"]
    if kind == "bad-config-json":
        return resave(trained, d / "bj.npz", config=np.array("{not json")), ["corrupt"]
    if kind == "config-not-object":
        return resave(trained, d / "co.npz", config=np.array("[3]")), ["corrupt"]
    if kind == "state-not-object":
        return resave(trained, d / "bs.npz", state=np.array("[1, 2]")), ["corrupt"]
    if kind == "shapes-disagree":
        return resave(trained, d / "sh.npz", **{"param.out.V": np.ones((5, 3), np.float32)}), ["inconsistent"]
    if kind == "integer-params":
        return resave(trained, d / "ip.npz", **{"param.layer0.W": np.ones((3, 3), np.int64)}), ["floating point"]
    if kind == "val-offsets":
        return resave(trained, d / "vo.npz", **{"task.val_offsets": np.array([0, 999])}), ["validation"]
    if kind == "val-ids":
        return resave(trained, d / "vi.npz", **{"task.val_ids": np.full(4, 500, np.int32),
                                                 "task.val_offsets": np.array([0, 4])}), ["validation"]
    raise ValueError(kind)


BAD_KINDS = ["missing", "directory", "empty", "random-bytes", "text", "npy", "truncated", "truncated-head",
             "foreign", "newer-format", "missing-config", "bad-config-json", "config-not-object",
             "state-not-object", "shapes-disagree", "integer-params", "val-offsets", "val-ids"]


def _ckpt_commands(path, tmp_path, corpus):
    return {
        "resume": ["train", corpus, "--resume", path, "-o", tmp_path / "out.npz", "-q"],
        "generate": ["generate", "--model", path, "-n", "1"],
        "eval": ["eval", "--model", path, "-q", corpus],
        "eval-stored": ["eval", "--model", path, "-q"],
        "info": ["info", "--model", path],
    }


@pytest.mark.parametrize("cmd", ["resume", "generate", "eval", "eval-stored", "info"])
@pytest.mark.parametrize("kind", BAD_KINDS)
def test_bad_checkpoint(capsys, tmp_path, corpus, trained, kind, cmd):
    d = tmp_path / "ck"
    d.mkdir()
    path, needles = bad_checkpoint(kind, trained, d)
    r = rnn(capsys, *_ckpt_commands(path, tmp_path, corpus)[cmd])
    assert_user_error(r, str(path), *needles)
    assert not (tmp_path / "out.npz").exists()


@pytest.mark.parametrize("cmd", ["resume", "generate", "eval", "info"])
@pytest.mark.parametrize("key", ["param.layer0.U", "task.vocab", "config"])
def test_pickled_object_array_is_refused_unopened(capsys, tmp_path, corpus, trained, cmd, key):
    marker = tmp_path / "unpickled.txt"
    obj = np.empty(1, dtype=object)
    obj[0] = Trap(str(marker))
    path = resave(trained, tmp_path / "pickled.npz", **{key: obj})
    assert pickle.loads(pickle.dumps(Trap(str(tmp_path / "probe")))) == "x"  # the trap does fire when unpickled
    r = rnn(capsys, *_ckpt_commands(path, tmp_path, corpus)[cmd])
    assert_user_error(r, "pickled.npz", "pickle")
    assert not marker.exists()


def _commands(path, tmp_path, corpus):
    return {
        "info": ["info", "-m", path],
        "info-json": ["info", "-m", path, "--json"],
        "generate": ["generate", "-m", path, "-n", "1"],
        "eval": ["eval", "-m", path, "-q", corpus],
        "eval-stored": ["eval", "-m", path, "-q", "--json"],
        "resume": ["train", corpus, "--resume", path, "-o", tmp_path / "out.npz", "-q", "--epochs", "2"],
    }


@pytest.mark.parametrize("cmd", ["info", "info-json", "generate", "eval", "eval-stored", "resume"])
def test_checkpoint_with_bogus_dtype(capsys, tmp_path, corpus, trained, cmd):
    bad = with_json(trained, tmp_path / "bogus.npz", "config", dtype="bogus")
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
    bad = with_json(trained, tmp_path / "typed.npz", section, **{field: value})
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
    bad = with_json(trained, tmp_path / "split.npz", "task", splitter=splitter)
    r = rnn(capsys, *_commands(bad, tmp_path, corpus)[cmd])
    assert_user_error(r, "split.npz", "splitter")


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", ["param.out.V", "param.layer0.W", "opt.m.layer0.U"])
@pytest.mark.parametrize("cmd", ["info", "info-json", "generate", "eval-stored", "resume"])
def test_non_finite_weights_are_refused(capsys, tmp_path, corpus, trained, cmd, where, value):
    with np.load(trained) as z:
        a = z[where].copy()
    a.flat[1] = value
    bad = resave(trained, tmp_path / "nanw.npz", **{where: a})
    r = rnn(capsys, *_commands(bad, tmp_path, corpus)[cmd])
    assert_user_error(r, "nanw.npz", "NaN or infinite", where.split(".", 1)[1])
    assert r.out == ""


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


def test_a_negative_schedule_rate_is_refused_at_load():
    """Found by the slow checkpoint-mutation fuzz test: a stored schedule rate of -1 was
    accepted, the resumed run trained uphill and wrote a checkpoint the loader refused."""
    good = {"kind": "plateau", "lr": 0.002, "prev": 2.4, "best": 2.4, "halving": False}
    assert checkpoint.state_problem({"schedule": good}) is None
    assert checkpoint.state_problem({"schedule": dict(good, lr=0.0)}) is None
    assert "schedule" in checkpoint.state_problem({"schedule": dict(good, lr=-1)})
