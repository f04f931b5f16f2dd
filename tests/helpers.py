"""Shared pieces for the CLI tests: running ``rnn`` in-process (with the console
entry's exact error handling) or as a real process, tiny corpora and hand-built
checkpoints."""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from rnncli import checkpoint, dist
from rnncli.cli import main
from rnncli.config import SPECIALS, Config
from rnncli.batching import Encoded
from rnncli.lm.settings import LMSettings
from rnncli.lm.task import LMData
from rnncli.lm.vocab import Vocab

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_NLTK = os.path.join(REPO, "..", "shared", "nltk_data")

CORPUS = """The cat sat on the mat. The dog sat on the log.
A bird flew over the house. The cat saw the bird.

The dog ran to the park. A cat ran to the house.
The bird sat on the house. The dog saw the cat.
"""

TINY = ["--hidden-dim", "3", "--vocab-size", "12", "--epochs", "1", "-q"]


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """Never touch the user's ~/.cache: every test gets its own cache directory."""
    d = tmp_path / "rnncli-cache"
    monkeypatch.setenv("RNNCLI_CACHE_DIR", str(d))
    return d


class Result:
    def __init__(self, code, out, err):
        self.code, self.out, self.err = code, out, err

    def __repr__(self):
        return f"Result(code={self.code!r}, out={self.out[-800:]!r}, err={self.err[-800:]!r})"


def rnn(capsys, *args):
    """``rnn ARGS`` in this process through rnncli.cli.main, the console entry point.
    An exception that main lets through (a would-be traceback) fails the test."""
    capsys.readouterr()
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    out, err = capsys.readouterr()
    return Result(code, out, err)


def rnn_proc(*args, input=None, env=None, timeout=120, cwd=None):
    """``python -m rnncli ARGS`` as a real process."""
    e = dict(os.environ)
    e.update(env or {})
    p = subprocess.run([sys.executable, "-m", "rnncli", *[str(a) for a in args]], input=input,
                       capture_output=True, env=e, timeout=timeout, cwd=cwd)
    return Result(p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace"))


def assert_user_error(r: Result, *needles):
    """Non-zero exit and exactly one line on stderr (callers pass -q where a command
    prints notes) in rnn's error format, naming each needle (case-insensitive)."""
    assert r.code not in (0, None), r
    assert "Traceback" not in r.err and "Traceback" not in r.out, r
    lines = [ln for ln in r.err.splitlines() if ln.strip()]
    assert len(lines) == 1, r
    msg = lines[0]
    assert msg.startswith("rnn: error: ") or (msg.startswith("rnn ") and ": error: " in msg), r
    for n in needles:
        assert n.lower() in msg.lower(), (n, msg)
    return msg


def write_corpus(path, text=CORPUS):
    path.write_text(text, encoding="utf-8")
    return path


def make_checkpoint(path, words, U, V, W, val_sents=None, b=None, c=None, config=None, state=None):
    """A checkpoint written by rnncli.checkpoint.save from parameters chosen by the test.
    ``words`` are the regular vocabulary entries (the three specials are prepended)."""
    vocab = Vocab(list(SPECIALS) + list(words))
    U, V, W = (np.asarray(a, np.float64) for a in (U, V, W))
    H, C = U.shape
    assert C == len(vocab) and V.shape == (C, H) and W.shape == (H, H)
    params = {"U": U, "V": V, "W": W}
    bias = b is not None
    if bias:
        params["b"] = np.asarray(b, np.float64)
        params["c"] = np.asarray(c, np.float64)
    cfg = config or Config(dtype="float64")
    val = None
    if val_sents is not None:
        sents = [np.asarray(s, np.int32) for s in val_sents]
        lens = np.array([len(s) for s in sents], np.int32)
        starts = np.r_[0, np.cumsum(lens)[:-1]].astype(np.int64)
        val = Encoded(np.concatenate(sents), starts, lens)
    model = {"vocab_size": C, "hidden_dim": H, "bias": bias}
    names = {"U": "layer0.U", "V": "out.V", "W": "layer0.W", "b": "layer0.b", "c": "out.c"}
    ck = checkpoint.Checkpoint(cfg, model, {names[k]: v for k, v in params.items()},
                               LMData(vocab, val, {}, LMSettings(vocab_size=C)), state or {})
    checkpoint.save(str(path), ck)
    return path


def json_lines(text):
    return [json.loads(ln) for ln in text.splitlines() if ln.strip()]


# ------------------------------------------------------------------ real runs under mpiexec

MPIEXEC = shutil.which("mpiexec", path=os.path.dirname(sys.executable)) or shutil.which("mpiexec")
try:
    import mpi4py  # noqa: F401
    HAVE_MPI4PY = True
except ImportError:
    HAVE_MPI4PY = False
needs_mpi = pytest.mark.skipif(not (HAVE_MPI4PY and MPIEXEC),
                               reason="needs mpi4py and mpiexec: pip install 'rnncli[mpi]'")


def mpi_env():
    """This environment without a launcher's variables, importing this checkout's rnncli."""
    env = {k: v for k, v in os.environ.items() if k not in dist.RANK_VARS + dist.SIZE_VARS}
    env["PYTHONPATH"] = os.pathsep.join([REPO] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return env


def mpiexec(n, *args, timeout=120, cwd=None):
    """``mpiexec -n N python ARGS``, its output captured as text."""
    return subprocess.run([MPIEXEC, "-n", str(n), sys.executable, *map(str, args)], capture_output=True,
                          text=True, env=mpi_env(), timeout=timeout, cwd=cwd)
