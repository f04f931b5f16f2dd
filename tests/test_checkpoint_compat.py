"""Checkpoints across versions and cells: a version-1 file written by rnncli 0.1 (kept
as a fixture with the figures that version printed for it) loads and gives the same
results; every command works with every cell and layer count; a gated run resumes
bitwise and survives Ctrl-C."""
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


def test_version_1_checkpoint_resumes_and_is_rewritten_as_version_2(capsys, tmp_path):
    corpus = write_corpus(tmp_path / "c.txt", CORPUS * 3)
    out = tmp_path / "r.npz"
    r = rnn(capsys, "train", corpus, "--resume", V1, "-o", out, "--epochs", "3", "-q")
    assert r.code == 0, r
    with np.load(out) as z:
        assert int(z["format_version"]) == checkpoint.FORMAT_VERSION == 2
    ck = checkpoint.load(str(out))
    assert ck.state["epoch"] == 3 and ck.task.vocab.words == checkpoint.load(V1).task.vocab.words


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
    assert ck.model["cell"] == cell[1] and ck.config.cell == cell[1]
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
