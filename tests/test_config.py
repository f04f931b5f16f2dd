"""Training settings (rnncli/config.py): defaults, the problems they report, and resuming with options
that contradict or agree with a checkpoint."""
import pytest

from rnncli import checkpoint

from .helpers import assert_user_error, rnn, write_corpus


def test_cli_recurrent_init(tmp_path, capsys):
    from rnncli import checkpoint

    from .helpers import assert_user_error, rnn, write_corpus
    f = write_corpus(tmp_path / "c.txt")
    m = tmp_path / "m.npz"
    r = rnn(capsys, "train", f, "-o", m, "--hidden-dim", "4", "--vocab-size", "20", "--epochs", "1",
            "--activation", "relu", "--recurrent-init", "identity", "-q")
    assert r.code == 0, r
    assert checkpoint.load(str(m)).config.recurrent_init == "identity"
    assert_user_error(rnn(capsys, "train", f, "-o", tmp_path / "g.npz", "--cell", "gru", "--recurrent-init",
                          "identity", "-q"), "applies to the rnn cell only")


def test_class_options_refused_where_they_contradict(capsys, tmp_path):
    corpus = write_corpus(tmp_path / "c.txt")
    m = tmp_path / "m.npz"
    assert rnn(capsys, "train", corpus, "-o", m, "--hidden-dim", "3", "--epochs", "1", "-q", "--softmax", "class",
               "--classes", "3").code == 0
    assert_user_error(rnn(capsys, "train", corpus, "--resume", m, "-o", m, "--softmax", "full", "-q"),
                      "--softmax full", "--softmax class")
    assert_user_error(rnn(capsys, "train", corpus, "--resume", m, "-o", m, "--classes", "4", "-q"),
                      "--classes 4", "--classes 3")
    assert_user_error(rnn(capsys, "train", corpus, "-o", m, "--softmax", "full", "--classes", "4", "-q"),
                      "--softmax class")
    assert_user_error(rnn(capsys, "train", corpus, "-o", tmp_path / "x.npz", "--softmax", "class",
                          "--classes", "500", "-q"), "--classes 500")
    full = tmp_path / "full.npz"
    assert rnn(capsys, "train", corpus, "-o", full, "--hidden-dim", "3", "--epochs", "1", "-q", "--softmax",
               "full").code == 0
    assert_user_error(rnn(capsys, "train", corpus, "--resume", full, "-o", full, "--softmax", "class", "-q"),
                      "--softmax class", "--softmax full")


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


# ------------------------------------------------------------------ resume contradictions


@pytest.mark.parametrize("opt,stored", [
    (["--hidden-dim", "5"], "(trained with --hidden-dim 3)"),
    (["--vocab-size", "40"], "(12 entries)"),
    (["--no-lowercase"], "(trained with --lowercase)"),
    (["--dtype", "float64"], "(trained with --dtype float32)"),
    (["--csv-column", "body"], "(trained with no --csv-column)"),
])
def test_resume_with_contradicting_options(capsys, tmp_path, corpus, trained, opt, stored):
    before = trained.read_bytes()
    out = tmp_path / "out.npz"
    r = rnn(capsys, "train", corpus, "--resume", trained, "-o", out, "--epochs", "2", "-q", *opt)
    msg = assert_user_error(r, " ".join(opt) + " contradicts the checkpoint", str(trained), stored)
    assert "False" not in msg and "None" not in msg
    assert not out.exists()
    assert trained.read_bytes() == before


def test_resume_with_agreeing_options_works(capsys, tmp_path, corpus, trained):
    out = tmp_path / "out.npz"
    r = rnn(capsys, "train", corpus, "--resume", trained, "-o", out, "--epochs", "2", "-q",
            "--hidden-dim", "3", "--vocab-size", str(len(checkpoint.load(str(trained)).task.vocab)))
    assert r.code == 0, r
    assert checkpoint.load(str(out)).state["epoch"] == 2
