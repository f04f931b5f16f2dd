"""The language-model commands end to end (rnncli/cli/lm.py): every command with every cell and output
layer, info, eval's defaults."""
import json
import math

import numpy as np
import pytest

from rnncli import checkpoint
from rnncli.nn.classsoftmax import default_classes

from ..helpers import CORPUS, assert_user_error, resave, rnn, write_corpus


def test_every_command_with_class_softmax(capsys, tmp_path):
    corpus = write_corpus(tmp_path / "c.txt")
    m = tmp_path / "m.npz"
    args = ["--hidden-dim", "4", "--epochs", "2", "-q", "--softmax", "class", "--classes", "3"]
    r = rnn(capsys, "train", corpus, "-o", m, "--bias", "--dropout", "0.2", "--bptt-truncate", "-1", *args)
    assert r.code == 0, r
    ck = checkpoint.load(str(m))
    assert ck.model["output"] == "class" and ck.model["classes"] == 3
    assert {"out.Vk", "out.ck"} <= set(ck.params)
    r = rnn(capsys, "train", corpus, "--resume", m, "-o", m, "--epochs", "3", "-q")
    assert r.code == 0, r
    assert checkpoint.load(str(m)).model["class_of"] == ck.model["class_of"]
    r = rnn(capsys, "eval", "-m", m, corpus, "--json", "-q")
    assert r.code == 0 and json.loads(r.out)["perplexity"] > 1, r
    r = rnn(capsys, "eval", "-m", m, corpus, "--per-sentence", "-q")
    assert r.code == 0 and r.out.count("logprob") == 8, r
    r = rnn(capsys, "generate", "-m", m, "-n", "3", "--seed", "1", "--json", "--prefix", "the cat",
            "--temperature", "0.8", "--top-k", "5")
    assert r.code == 0 and all(x["tokens"][:2] == ["the", "cat"] for x in json.loads(r.out)), r
    r = rnn(capsys, "generate", "-m", m, "-n", "2", "--temperature", "0")
    assert r.code == 0 and len(r.out.splitlines()) == 2, r
    r = rnn(capsys, "info", "-m", m)
    assert r.code == 0 and "softmax: class, 3 classes" in r.out, r
    r = rnn(capsys, "info", "-m", m, "--json")
    d = json.loads(r.out)
    assert d["softmax"] == "class" and d["classes"] == 3
    r = rnn(capsys, "tokenize", corpus, "-m", m, "-o", tmp_path / "t.npz", "-q")
    assert r.code == 0, r
    r = rnn(capsys, "train", tmp_path / "t.npz", "-o", tmp_path / "m2.npz", "--hidden-dim", "4", "--epochs", "1",
            "-q", "--softmax", "class")                 # default classes: about sqrt(C)
    assert r.code == 0, r
    ck2 = checkpoint.load(str(tmp_path / "m2.npz"))
    assert ck2.model["classes"] == default_classes(len(ck2.task.vocab))


# ------------------------------------------------------------------ info


def test_info_prints_config_history_and_vocabulary(capsys, tmp_path):
    f = write_corpus(tmp_path / "c.txt")
    m = tmp_path / "m.npz"
    r = rnn(capsys, "train", f, "-o", m, "--hidden-dim", "3", "--vocab-size", "12", "--epochs", "2", "--softmax", "full",
            "-q")
    assert r.code == 0, r
    ck = checkpoint.load(str(m))
    r = rnn(capsys, "info", "-m", m)
    assert r.code == 0, r
    out = r.out
    assert f"C={len(ck.task.vocab)} H=3" in out and f"{3 * len(ck.task.vocab) * 2 + 9} parameters" in out
    assert "trained 2 epochs" in out
    assert "config: " in out and "hidden_dim=3" in out and "vocab_size=12" in out and "lowercase=True" in out
    table = out[out.index("epoch  train_loss"):].splitlines()
    assert [ln.split()[0] for ln in table[1:3]] == ["1", "2"]
    for rec, ln in zip(ck.state["history"], table[1:3]):
        assert f"{rec['train_loss']:.4f}" in ln and f"{rec['val_loss']:.4f}" in ln
    assert "most frequent words: " + " ".join(ck.task.vocab.words[3:23]) in out
    assert ck.task.vocab.words[3] == "the"

    r = rnn(capsys, "info", "-m", m, "--json", "--top", "2")
    d = json.loads(r.out)
    assert d["vocabulary_head"] == ck.task.vocab.words[3:5]
    assert d["config"]["hidden_dim"] == 3 and d["epochs"] == 2 and len(d["history"]) == 2
    assert d["vocab_size"] == len(ck.task.vocab) and d["parameters"] == 6 * len(ck.task.vocab) + 9


def test_info_on_a_checkpoint_without_history(capsys, hand_model):
    r = rnn(capsys, "info", "-m", hand_model)
    assert r.code == 0, r
    assert "C=5 H=2" in r.out and "trained 0 epochs" in r.out and "most frequent words: a b" in r.out


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


def test_eval_without_file_and_without_stored_sentences(capsys, tmp_path, trained):
    path = resave(trained, tmp_path / "noval.npz", **{"task.val_ids": None, "task.val_offsets": None})
    r = rnn(capsys, "eval", "-m", path)
    assert_user_error(r, "noval.npz", "validation")


def test_eval_default_model_missing(capsys, tmp_path, monkeypatch, corpus):
    monkeypatch.chdir(tmp_path)
    r = rnn(capsys, "eval", corpus)
    assert_user_error(r, "model.npz", "no such checkpoint")


def test_info_json_with_an_infinite_gradient_norm_in_the_history(capsys, tmp_path, trained):
    """A gradient norm that overflowed (clipping kept the weights finite) is a real
    history figure: info --json prints null and says it was infinite."""
    with np.load(trained) as z:
        st = json.loads(str(z["state"]))
    st["history"][0]["grad_norm_max"] = math.inf
    path = resave(trained, tmp_path / "h.npz", state=np.array(json.dumps(st)))
    r = rnn(capsys, "info", "-m", path, "--json")
    assert r.code == 0, r
    got = json.loads(r.out, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    rec = got["history"][0]
    assert rec["grad_norm_max"] is None and rec["non_finite"] == {"grad_norm_max": "inf"}


def test_resuming_a_finished_run_says_nothing_was_written(capsys, tmp_path, corpus, trained):
    """Found by the fuzz suite: resuming at or past --epochs trained nothing, wrote
    nothing, and still said "done: OUT"."""
    r = rnn(capsys, "train", corpus, "--resume", trained, "-o", tmp_path / "more.npz", "--epochs", "1")
    assert r.code == 0, r
    assert "nothing to do" in r.err and "more.npz was not written" in r.err and "done" not in r.err, r
    assert not (tmp_path / "more.npz").exists()
