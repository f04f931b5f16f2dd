"""Hypothesis profiles for the fuzz suite (tests/cli/test_fuzz.py). "default": the same examples on
every run (derandomize), no example database written to the work tree, no per-example deadline (a
CLI run's time varies with the machine's load). Set RNNCLI_HYPOTHESIS_PROFILE=explore for fresh
random examples. Fixtures more than one test module requests, and a private tokenization cache for
every test."""
import os

import pytest

from .helpers import HAND_U, HAND_V, HAND_W, HAND_WORDS, TINY, eval_args, make_checkpoint, train_args, write_corpus

try:
    from hypothesis import HealthCheck, settings
except ImportError:  # not installed (`pip install -e '.[test]'` brings it): test_fuzz.py is skipped
    settings = None

if settings is not None:
    _common = dict(deadline=None, database=None, print_blob=True,
                   suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                          HealthCheck.data_too_large, HealthCheck.filter_too_much])
    settings.register_profile("default", derandomize=True, **_common)
    settings.register_profile("explore", derandomize=False, **_common)
    settings.load_profile(os.environ.get("RNNCLI_HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """Never touch the user's ~/.cache: every test gets its own cache directory."""
    d = tmp_path / "rnncli-cache"
    monkeypatch.setenv("RNNCLI_CACHE_DIR", str(d))
    return d


@pytest.fixture
def hand_model(tmp_path):
    return make_checkpoint(tmp_path / "hand.npz", HAND_WORDS, HAND_U, HAND_V, HAND_W)


@pytest.fixture
def corpus(tmp_path):
    return write_corpus(tmp_path / "corpus.txt")


@pytest.fixture(params=["train", "eval", "tokenize"])
def reader(request, tmp_path, trained):
    """The commands that read text, each ready for FILE... to be appended."""
    return {"train": train_args(tmp_path), "eval": eval_args(trained),
            "tokenize": ["tokenize", "-o", tmp_path / "tok.npz", "-q"]}[request.param]


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
