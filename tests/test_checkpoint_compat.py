"""Checkpoints across versions and cells: a version-1 file written by rnncli 0.1 and
version-2 files (a language model and a forecaster; their config also held the model's
arguments and the tokenizer settings) kept as fixtures with what the version that wrote
them printed for them load and give the same results; every command works with every
cell and layer count; a gated run resumes bitwise and survives Ctrl-C."""
import json
import os

import numpy as np
import pytest

from rnncli import checkpoint

from .helpers import CORPUS, assert_user_error, isolated_cache, rnn, write_corpus  # noqa: F401

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
    """Equal, floats to 1e-9 relative."""
    if isinstance(want, dict):
        assert isinstance(got, dict) and set(got) == set(want), (path, sorted(got), sorted(want))
        for k in want:
            same(got[k], want[k], f"{path}.{k}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), path
        for i, (g, w) in enumerate(zip(got, want)):
            same(g, w, f"{path}[{i}]")
    elif isinstance(want, float):
        assert got == pytest.approx(want, rel=1e-9, abs=1e-12), (path, got, want)
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


# ------------------------------------------------------------------ every command, every cell


@pytest.mark.parametrize("cell", [["--cell", "rnn"], ["--cell", "rnn", "--activation", "relu"],
                                  ["--cell", "gru"], ["--cell", "lstm", "--layers", "2", "--dropout", "0.2"],
                                  ["--cell", "gru", "--layers", "3", "--bias", "--bptt-truncate", "2"]])
def test_every_command_with_every_cell(capsys, tmp_path, cell):
    corpus = write_corpus(tmp_path / "c.txt", CORPUS * 4)
    m = tmp_path / "m.npz"
    r = rnn(capsys, "train", corpus, "-o", m, "--hidden-dim", "5", "--vocab-size", "20", "--epochs", "2",
            "-q", *cell)
    assert r.code == 0, r
    ck = checkpoint.load(str(m))
    assert ck.model["cell"] == cell[1]
    assert ck.config.bptt_truncate == (-1 if cell[1] != "rnn" and "--bptt-truncate" not in cell else
                                       ck.config.bptt_truncate)
    r = rnn(capsys, "eval", "-m", m, corpus, "--json", "-q")
    assert r.code == 0 and np.isfinite(json.loads(r.out)["perplexity"]), r
    r = rnn(capsys, "eval", "-m", m, "--per-sentence", "-q")
    assert r.code == 0, r
    r = rnn(capsys, "generate", "-m", m, "-n", "3", "--seed", "2", "--prefix", "the cat")
    assert r.code == 0 and len(r.out.splitlines()) == 3, r
    r = rnn(capsys, "info", "-m", m)
    assert r.code == 0 and f"cell={cell[1]}" in r.out, r
    r = rnn(capsys, "tokenize", corpus, "-m", m, "-o", tmp_path / "t.npz", "-q")
    assert r.code == 0, r
    r = rnn(capsys, "train", tmp_path / "t.npz", "--resume", m, "-o", m, "--epochs", "3", "-q")
    assert r.code == 0 and checkpoint.load(str(m)).state["epoch"] == 3, r


def test_resume_with_another_cell_is_refused(capsys, tmp_path):
    corpus = write_corpus(tmp_path / "c.txt")
    m = tmp_path / "m.npz"
    assert rnn(capsys, "train", corpus, "-o", m, "--hidden-dim", "3", "--epochs", "1", "-q", "--cell", "gru").code == 0
    for opt in (["--cell", "lstm"], ["--layers", "2"]):
        r = rnn(capsys, "train", corpus, "--resume", m, "-o", m, "-q", *opt)
        assert_user_error(r, " ".join(opt), "contradicts")


def test_activation_with_a_gated_cell_is_refused(capsys, tmp_path):
    corpus = write_corpus(tmp_path / "c.txt")
    r = rnn(capsys, "train", corpus, "-o", tmp_path / "m.npz", "-q", "--cell", "lstm", "--activation", "relu")
    assert_user_error(r, "--activation", "lstm")
    assert not (tmp_path / "m.npz").exists()
