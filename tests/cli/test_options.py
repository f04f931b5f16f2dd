"""Option values refused before any work (rnncli/cli/options.py): ranges, non-finite numbers,
contradictions."""
import click
import pytest

from rnncli.cli import cli
from rnncli.lm import tokenizer

from ..helpers import TINY, assert_user_error, rnn

# ------------------------------------------------------------------ option values


@pytest.mark.parametrize("opt,value", [
    ("--vocab-size", "3"), ("--vocab-size", "0"),
    ("--hidden-dim", "0"), ("--hidden-dim", "-4"),
    ("--lr", "0"), ("--lr", "-0.01"),
])
def test_bad_training_options(capsys, tmp_path, corpus, monkeypatch, opt, value):
    def boom(*a, **k):
        raise AssertionError("tokenized although an option was invalid")
    monkeypatch.setattr(tokenizer, "tokenize", boom)
    out = tmp_path / "m.npz"
    r = rnn(capsys, "train", corpus, "-o", out, opt, value, "-q")
    msg = assert_user_error(r, opt, value)
    assert msg.startswith("rnn train: error:")
    assert r.code == 2
    assert not out.exists()


def test_tokenize_vocab_size_too_small(capsys, tmp_path, corpus):
    r = rnn(capsys, "tokenize", corpus, "-o", tmp_path / "t.npz", "--vocab-size", "3")
    assert_user_error(r, "--vocab-size", "3")


@pytest.mark.parametrize("args,needles", [
    (["--min-length", "9", "--max-length", "5"], ["--min-length 9", "--max-length 5"]),
    (["-n", "0"], ["-n"]),
    (["-n", "-2"], ["-n"]),
    (["--temperature", "-0.5"], ["--temperature"]),
    (["--temperature", "nan"], ["--temperature"]),
    (["--max-length", "0"], ["--max-length"]),
    (["--min-length", "-1"], ["--min-length"]),
])
def test_generate_bad_options(capsys, trained, args, needles):
    r = rnn(capsys, "generate", "-m", trained, *args)
    assert_user_error(r, *needles)
    assert r.out == ""


def test_generate_prefix_longer_than_max_length(capsys, trained):
    r = rnn(capsys, "generate", "-m", trained, "--prefix", "the cat sat on the cat", "--min-length", "0",
            "--max-length", "3")
    assert_user_error(r, "--prefix", "--max-length 3")


@pytest.mark.parametrize("cmd", ["train", "generate"])
def test_negative_seed(capsys, tmp_path, corpus, trained, cmd):
    args = (["train", corpus, "-o", tmp_path / "m.npz", *TINY] if cmd == "train"
            else ["generate", "-m", trained, "-n", "1"])
    r = rnn(capsys, *args, "--seed", "-1")
    assert_user_error(r, "--seed", "-1")
    assert r.code == 2
    assert not (tmp_path / "m.npz").exists()


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
