"""Shared pieces for the tests: running `rnn` in-process (with the console entry's exact error
handling) or as a real process, tiny corpora, hand-built checkpoints, and the builders more than one
test module uses."""
import json
import os
import random
import signal
import shutil
import subprocess
import sys
from contextlib import contextmanager

import numpy as np
import pytest

from rnncli import checkpoint, dist
from rnncli.batching import Encoded, constant_offsets, pack
from rnncli.cli import main
from rnncli.config import SPECIALS, Config, RunSettings
from rnncli.forecast import prepare
from rnncli.forecast.settings import MODEL, ForecastConfig
from rnncli.lm import sources, splitting, tokenizer
from rnncli.lm.settings import LMSettings
from rnncli.lm.task import LanguageModel, LMData
from rnncli.lm.vocab import Vocab
from rnncli.nn.classsoftmax import frequency_classes
from rnncli.nn.network import Network
from rnncli.train import Trainer

TESTS = os.path.dirname(os.path.abspath(__file__))


REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_NLTK = os.path.join(REPO, "..", "shared", "nltk_data")

CORPUS = """The cat sat on the mat. The dog sat on the log.
A bird flew over the house. The cat saw the bird.

The dog ran to the park. A cat ran to the house.
The bird sat on the house. The dog saw the cat.
"""

TINY = ["--hidden-dim", "3", "--vocab-size", "12", "--epochs", "1", "-q"]


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


def encoded_sentences(lengths, C=50, seed=0):
    rng = np.random.default_rng(seed)
    sents = [np.r_[1, rng.integers(3, C, n), 2] for n in lengths]
    lens = np.array([len(s) for s in sents], np.int32)
    return Encoded(np.concatenate(sents).astype(np.int32), np.r_[0, np.cumsum(lens)[:-1]].astype(np.int64), lens), sents


def packed(lengths):
    if len(set(lengths)) == 1:
        off = constant_offsets(lengths[0], len(lengths))
    else:
        lens = np.asarray(lengths, np.int32) + 1
        enc = Encoded(np.zeros(int(lens.sum()), np.int32), np.r_[0, np.cumsum(lens)[:-1]].astype(np.int64), lens)
        off = pack(enc, np.arange(len(lengths))).offsets_list
    rows = [np.array([off[t] + i for t in range(L)]) for i, L in enumerate(lengths)]
    return off, rows


def numeric(f, x, h=1e-6):
    g = np.zeros(x.shape)
    for idx in np.ndindex(x.shape):
        old = x[idx]
        x[idx] = old + h
        lp = f()
        x[idx] = old - h
        lm = f()
        x[idx] = old
        g[idx] = (lp - lm) / (2 * h)
    return g


def random_batch(rng, C, lengths):
    sents = [np.r_[1, rng.integers(0, C, n), 2] for n in lengths]
    lens = np.array([len(s) for s in sents], np.int32)
    starts = np.r_[0, np.cumsum(lens)[:-1]].astype(np.int64)
    return Encoded(np.concatenate(sents).astype(np.int32), starts, lens), sents


TUT = {"U": "layer0.U", "W": "layer0.W", "b": "layer0.b", "V": "out.V", "c": "out.c", "Vk": "out.Vk",
       "ck": "out.ck"}


def zipf_counts(C, rng=None):
    c = np.round(1e5 / np.arange(1, C + 1)).astype(np.int64)
    return c if rng is None else c + rng.integers(0, 3, C)


def class_maps(C, K, rng):
    """A frequency-binned map (consecutive ids per class) and a scattered random one."""
    binned = frequency_classes(zipf_counts(C), K)
    scattered = rng.permutation(np.r_[np.arange(K), rng.integers(0, K, C - K)])
    return {"binned": binned, "scattered": scattered}


def class_net(C, H, class_of, bias=False):
    return Network(C, H, bias=bias, output="class", classes=int(np.max(class_of)) + 1, class_of=class_of)


def random_params(net, rng, scale=0.5, dtype="float64"):
    p = net.init(rng, dtype)
    for k in p:                      # larger than at initialisation: every term counts
        p[k][...] = rng.normal(0, scale, p[k].shape)
    return net.as_layout(p)


def tutorial_names(p):
    back = {v: k for k, v in TUT.items()}
    return {back[k]: v for k, v in p.items()}


def class_trainer(tmp_path, cfg, params=None, state=None, opt_state=None, name="m.npz", net=None, classes=4,
                  bias=False):
    """A Trainer of a class-softmax Network(C, 8, bias=bias) of ``classes`` classes (or ``net``)."""
    enc, vocab = toy_corpus()
    train, val = enc.subset(np.arange(100)), enc.subset(np.arange(100, 120))
    if net is None:
        counts = np.bincount(train.ids, minlength=len(vocab))
        net = Network(len(vocab), 8, bias=bias, output="class", classes=classes,
                      class_of=frequency_classes(counts, classes))
    if params is None:
        params = net.init(np.random.default_rng(cfg.seed), cfg.dtype)
    task = LanguageModel(net, LMData(vocab, val, {"kind": "trained"}), train, cfg)
    return Trainer(cfg, net, params, task, str(tmp_path / name), state, opt_state)


def class_checkpoint(path, C=15, H=6, K=4, bias=False, seed=0, scale=0.6, val_sents=None):
    """A class-softmax checkpoint with random weights and a scattered class map."""
    from rnncli.config import SPECIALS
    from rnncli.lm.vocab import Vocab
    rng = np.random.default_rng(seed)
    cmap = class_maps(C, K, rng)["scattered"]
    net = class_net(C, H, cmap, bias)
    p = random_params(net, rng, scale)
    words = [f"w{i}" for i in range(3, C)]
    val = None
    if val_sents is not None:
        lens = np.array([len(s) for s in val_sents], np.int32)
        val = Encoded(np.concatenate(val_sents).astype(np.int32), np.r_[0, np.cumsum(lens)[:-1]].astype(np.int64),
                      lens)
    checkpoint.save(str(path), checkpoint.Checkpoint(Config(dtype="float64"), net.args, p,
                                                     LMData(Vocab(list(SPECIALS) + words), val, {})))
    return tutorial_names(p), cmap, words


def toy_corpus(n_sent=120, C=25, seed=0):
    """Sentences from a first-order Markov chain over words 3..C-1: learnable structure."""
    rng = np.random.default_rng(seed)
    trans = rng.dirichlet(np.full(C - 3, 0.2), size=C - 3)
    sents = []
    for _ in range(n_sent):
        w = rng.integers(0, C - 3)
        s = [1]
        for _ in range(rng.integers(2, 12)):
            s.append(3 + w)
            w = rng.choice(C - 3, p=trans[w])
        s.append(2)
        sents.append(s)
    lens = np.array([len(s) for s in sents], np.int32)
    starts = np.r_[0, np.cumsum(lens)[:-1]].astype(np.int64)
    vocab = Vocab(["UNKNOWN_TOKEN", "SENTENCE_START", "SENTENCE_END"] + [f"w{i}" for i in range(3, C)])
    return Encoded(np.concatenate(sents).astype(np.int32), starts, lens), vocab


def make_trainer(tmp_path, cfg, params=None, state=None, opt_state=None, hooks=None, name="m.npz", model=None):
    """A Trainer of a small language model: Network(C, hidden_dim=8, **model)."""
    enc, vocab = toy_corpus()
    train, val = enc.subset(np.arange(100)), enc.subset(np.arange(100, 120))
    net = Network(len(vocab), **{"hidden_dim": 8, **(model or {})})
    if params is None:
        params = net.init(np.random.default_rng(cfg.seed), cfg.dtype)
    task = LanguageModel(net, LMData(vocab, val, {"kind": "trained"}), train, cfg)
    return Trainer(cfg, net, params, task, str(tmp_path / name), state, opt_state, hooks)


def small_cfg(**kw):
    base = dict(batch_size=8, dtype="float64", epochs=2, optimizer="adam", lr=0.01,
                lr_schedule="halve", clip=5.0, patience=0, average=0.0)
    base.update(kw)
    return Config(**base)


def write_text(path, n=300, seed=0):
    rng = np.random.default_rng(seed)
    nouns = ["cat", "dog", "bird", "horse", "farmer", "child", "teacher", "river", "house", "tree"]
    verbs = ["sees", "likes", "finds", "follows", "hears", "paints"]
    adjs = ["small", "old", "red", "quiet", "happy"]
    lines = []
    for i in range(n):
        s = (f"The {rng.choice(adjs)} {rng.choice(nouns)} {rng.choice(verbs)} the {rng.choice(nouns)}"
             + (f" near the {rng.choice(nouns)}" if rng.random() < 0.5 else "") + ".")
        lines.append(s)
        if i % 7 == 6:
            lines.append("")
    path.write_text("\n".join(lines) + "\n")


WORDS = ("the cat dog bird sat ran saw flew on over to under a mat log house park tree hill "
         "river small big red old young quick lazy happy sad").split()


def text_corpus(n_par=14, seed=0):
    """Paragraphs of a few sentences, separated by blank lines (some by several, some
    with trailing spaces): documents to cut the input at."""
    rng = np.random.default_rng(seed)
    pars = []
    for p in range(n_par):
        sents = []
        for _ in range(rng.integers(2, 6)):
            ws = [WORDS[i] for i in rng.integers(0, len(WORDS), rng.integers(3, 9))]
            sents.append(" ".join(ws).capitalize() + rng.choice([".", "!", "?"]))
        pars.append(" ".join(sents) if p % 3 else "\n".join(sents))
    seps = ["\n\n", "\n\n\n", "\n  \n", "\n\t\n\n"]
    return "".join(par + seps[i % len(seps)] for i, par in enumerate(pars))


HAVE_PUNKT_TAB = os.path.isdir(os.path.join(SHARED_NLTK, "tokenizers", "punkt_tab", "english"))


def sentences_of(tokens: tokenizer.Tokens):
    """Tokens -> list of sentences, each a list of words."""
    out, i = [], 0
    for n in tokens.lengths:
        out.append([tokens.words[j] for j in tokens.ids[i:i + n]])
        i += n
    return out


def tokenize_text(text, lowercase=True, splitter=None):
    docs = sources.documents(sources.Source("x", text, ""))
    splitter = splitter or splitting.make_splitter(docs)
    return tokenizer.tokenize(docs, splitter, lowercase)


BUNDLED = os.path.join(REPO, "data", "corpus.txt")


def splitter_for(sample: str):
    return splitting.make_splitter([sample])


@contextmanager
def time_limit(seconds):
    """Fails the test instead of hanging."""
    def boom(signum, frame):
        raise AssertionError(f"took longer than {seconds}s")
    old = signal.signal(signal.SIGALRM, boom)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def simple_sentences(n, seed=0):
    """Unambiguous sentences (no abbreviations, no initials): each is one Punkt sentence."""
    rng = random.Random(seed)
    subj = ["The cat", "A dog", "My sister", "The old miller", "Every farmer", "The baker"]
    verb = ["sat on", "looked at", "carried", "painted", "forgot", "sold"]
    obj = ["the mat", "a red boat", "the bridge", "seven apples", "the quiet harbour", "a letter"]
    end = [".", ".", ".", "!", "?"]
    return [f"{rng.choice(subj)} {rng.choice(verb)} {rng.choice(obj)}{rng.choice(end)}" for _ in range(n)]


PTB = """ the <unk> company said it expects N sales
 mr. <unk> is chairman of the board
 the company 's shares fell N cents
 analysts said the <unk> was expected
 the board said it would meet in N
 sales rose N N to $ N million
"""


# C = 5: UNKNOWN_TOKEN, SENTENCE_START, SENTENCE_END, a, b; H = 2
HAND_WORDS = ["a", "b"]
HAND_U = [[0.1, 0.5, 0.0, 1.0, -0.7],      # (H, C): column j is U x_t for word j
          [-0.2, 0.3, 0.0, -0.5, 0.8]]
HAND_W = [[0.4, -0.3],
          [0.2, 0.6]]
HAND_V = [[0.3, 0.1],                        # (C, H): row k gives the logit of word k
          [-1.0, -1.0],
          [0.5, -0.4],
          [1.2, 0.3],
          [-0.6, 1.1]]


def random_model(path, seed, C=15, H=6, bias=False, scale=0.6, val_sents=None):
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(3, C)]
    p = {"U": rng.normal(0, scale, (H, C)), "V": rng.normal(0, scale, (C, H)), "W": rng.normal(0, scale, (H, H))}
    if bias:
        p["b"], p["c"] = rng.normal(0, 0.3, H), rng.normal(0, 0.3, C)
    make_checkpoint(path, words, p["U"], p["V"], p["W"], val_sents=val_sents, b=p.get("b"), c=p.get("c"))
    return p, words


def series_csv(path, n=400, seed=0, constant=False, time_fmt="iso", shuffle=False, dup=False, text_at=None):
    """An hourly series: y = daily cycle + 0.8 * x two hours earlier + AR(1) noise; x a
    covariate; wind categorical; a few missing values."""
    rng = np.random.default_rng(seed)
    t = np.datetime64("2024-01-01T00:00") + np.arange(n).astype("timedelta64[h]")
    x = np.sin(np.arange(n) / 7.0) + rng.normal(0, 0.2, n)
    e = np.zeros(n)
    for i in range(1, n):
        e[i] = 0.6 * e[i - 1] + rng.normal(0, 0.3)
    y = 10 + 2 * np.sin(2 * np.pi * (np.arange(n) % 24) / 24) + 0.8 * np.r_[0, 0, x[:-2]] + e
    if constant:
        y[:] = 5.0
    wind = rng.choice(["N", "S", "E"], n)
    rows = []
    for i in range(n):
        stamp = str(t[i]).replace("T", " ") if time_fmt == "iso" else str(i)
        yv = "" if i in (50, 51, 200) else f"{y[i]:.4f}"
        if text_at is not None and i == text_at:
            yv = "n.a.x"
        rows.append(f"{stamp},{yv},{x[i]:.4f},{wind[i]}")
    if dup:
        rows[10] = rows[11]
    if shuffle:
        rows[5], rows[6] = rows[6], rows[5]
    path.write_text("time,y,x,wind\n" + "\n".join(rows) + "\n")
    return path


def setup_for(path, **kw):
    fc = ForecastConfig(**{"time": ["time"], "targets": ["y"], "history": 6, "horizon": 3, **kw})
    cfg = Config(bptt_truncate=-1, batch_size=16, dtype="float64")
    model = dict(MODEL, cell="gru", hidden_dim=4)

    class Quiet:
        def note(self, m):
            pass
    return prepare.prepare_training(str(path), RunSettings(cfg, fc, model), None, Quiet())


def write_csv(tmp_path, text, name="s.csv", raw=None):
    p = tmp_path / name
    p.write_bytes(raw if raw is not None else text.encode("utf-8"))
    return str(p)


def hourly_csv(values, start="2021-03-01T00", extra=None):
    """A 'time,y[,x]' CSV with one row per hour; None -> empty field."""
    t0 = np.datetime64(start, "h")
    out = ["time,y" + (",x" if extra is not None else "")]
    for i, v in enumerate(values):
        row = f"{str(t0 + i).replace('T', ' ')}:00,{'' if v is None else v}"
        if extra is not None:
            row += f",{extra[i]}"
        out.append(row)
    return "\n".join(out) + "\n"


def eval_args(trained):
    return ["eval", "-m", trained, "-q"]


def train_args(tmp_path):
    return ["train", "-o", tmp_path / "out.npz", *TINY]


def resave(src, dst, **changes):
    with np.load(src, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    arrays.update(changes)
    for k in [k for k, v in changes.items() if v is None]:
        del arrays[k]
    np.savez(dst, **arrays)
    return dst


def with_json(trained, dst, key, **changes):
    """``trained`` rewritten with fields of its JSON section ``key`` changed ("task/settings":
    the object "settings" inside the section "task")."""
    key, _, inner = key.partition("/")
    with np.load(trained) as z:
        d = json.loads(str(z[key]))
    (d[inner] if inner else d).update(changes)
    return resave(trained, dst, **{key: np.array(json.dumps(d))})


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


def wait_for_file(path, proc, seconds=120):
    """Wait until ``path`` exists (a running command wrote it), failing with the command's
    stderr if it ends first or ``seconds`` pass."""
    import time
    deadline = time.time() + seconds
    while not path.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.1)
    assert path.exists(), proc.communicate()[1]


def hourly_series(path, n=300, covariate=False):
    """A CSV of n hourly rows from 2024-01-01: y = 10 + a daily sine + N(0, 0.1) noise
    (seed 0); with ``covariate``, a column x = cos(i / 5)."""
    t = np.arange(n)
    y = 10 + np.sin(2 * np.pi * t / 24) + 0.1 * np.random.default_rng(0).normal(size=n)
    with open(path, "w") as f:
        f.write("time,y,x\n" if covariate else "time,y\n")
        f.writelines(f"2024-01-{1 + i // 24:02d} {i % 24:02d}:00,{y[i]:.4f}"
                     + (f",{np.cos(i / 5):.4f}" if covariate else "") + "\n" for i in range(n))
    return path
