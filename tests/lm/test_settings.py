"""Language-model settings (rnncli/lm/settings.py): the output layer --softmax auto chooses by
vocabulary size, and what `rnn train` stores."""
import os

import numpy as np

from rnncli import checkpoint
from rnncli.config import Config

from ..helpers import TESTS, rnn, write_corpus


def test_softmax_auto_by_vocabulary_size_and_older_checkpoints_stay_full():
    """The default output layer is auto: full up to FULL_SOFTMAX_UP_TO vocabulary entries,
    class above; a stored config without a softmax entry was written when the full
    softmax was the default, and means it (tests/fixtures/v1_model.npz)."""
    from rnncli.lm.prepare import network_for
    from rnncli.lm.settings import FULL_SOFTMAX_UP_TO, MODEL, resolved_softmax
    assert MODEL["softmax"] == "auto"
    n = FULL_SOFTMAX_UP_TO
    assert resolved_softmax("auto", n) == "full" and resolved_softmax("auto", n + 1) == "class"
    assert resolved_softmax("class", 10) == "class" and resolved_softmax("full", 10 * n) == "full"
    assert network_for(MODEL, n).args["output"] == "full"
    assert network_for({}, n + 1).args["output"] == "class"
    assert Config.from_json(Config().to_json()) == Config()
    ck = checkpoint.load(os.path.join(TESTS, "fixtures", "v1_model.npz"))
    assert "output" not in ck.model and ck.network().args["output"] == "full"


def test_cli_softmax_auto_is_stored_resolved(tmp_path, capsys, isolated_cache):
    """`rnn train` stores what auto resolved to, by the vocabulary the corpus gives: a
    small vocabulary gets the full softmax, one over FULL_SOFTMAX_UP_TO entries the class
    softmax; --classes alone asks for the class softmax; an explicit --softmax auto on
    resume agrees with the checkpoint's resolved layer."""
    from rnncli.lm.settings import FULL_SOFTMAX_UP_TO
    small = write_corpus(tmp_path / "small.txt")
    common = ["--hidden-dim", "4", "--epochs", "1", "-q", "--sentences", "lines", "--words", "whitespace"]
    assert rnn(capsys, "train", small, "-o", tmp_path / "s.npz", *common).code == 0
    assert checkpoint.load(str(tmp_path / "s.npz")).model["output"] == "full"
    assert rnn(capsys, "train", small, "-o", tmp_path / "k.npz", "--classes", "3", *common).code == 0
    ck = checkpoint.load(str(tmp_path / "k.npz"))
    assert ck.model["output"] == "class" and ck.network().args["output"] == "class"
    assert rnn(capsys, "train", small, "--resume", tmp_path / "s.npz", "-o", tmp_path / "s2.npz", "--softmax", "auto",
               "--epochs", "2", "-q").code == 0
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(FULL_SOFTMAX_UP_TO + 200)]
    lines = [" ".join(rng.choice(words, 12)) for _ in range(2000)] + [" ".join(words)]
    big = tmp_path / "big.txt"
    big.write_text("\n".join(lines) + "\n", encoding="utf-8")
    r = rnn(capsys, "train", big, "-o", tmp_path / "b.npz", "--vocab-size", FULL_SOFTMAX_UP_TO + 100, *common)
    assert r.code == 0, r
    ck = checkpoint.load(str(tmp_path / "b.npz"))
    assert len(ck.task.vocab) == FULL_SOFTMAX_UP_TO + 100 and ck.model["output"] == "class"
