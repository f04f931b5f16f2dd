"""Training loop, optimizers, schedules, checkpoints and resuming."""
import math
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from rnncli import checkpoint
from rnncli.batching import Encoded
from rnncli.config import Config
from rnncli.lm.task import LanguageModel, LMData
from rnncli.lm.vocab import Vocab
from rnncli.nn.network import Network
from rnncli.optim import Optimizer, Schedule
from rnncli.registry import OPTIMIZERS
from rnncli.train import Hooks, Interrupted, Trainer

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


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


@pytest.mark.parametrize("opt", OPTIMIZERS)
def test_each_optimizer_lowers_loss(tmp_path, opt):
    lr = {"sgd": 0.1, "momentum": 0.05, "adagrad": 0.1, "rmsprop": 0.01, "adam": 0.01}[opt]
    t = make_trainer(tmp_path, small_cfg(optimizer=opt, lr=lr, epochs=4, lr_schedule="constant"))
    before = t.validation_loss()
    t.run()
    assert t.validation_loss() < before - 0.2


@pytest.mark.parametrize("opt", OPTIMIZERS)
@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_resume_at_epoch_boundary_equals_uninterrupted(tmp_path, opt, dropout):
    cfg = small_cfg(optimizer=opt, lr=0.02, epochs=3, dropout=dropout, lr_schedule="plateau")
    full = make_trainer(tmp_path, cfg, name="full.npz", model={"bias": True})
    full.run()
    first = make_trainer(tmp_path, cfg.replace(epochs=1), name="part.npz", model={"bias": True})
    first.run()
    ck = checkpoint.load(str(tmp_path / "part.npz"))
    assert ck.state["epoch"] == 1
    resumed = make_trainer(tmp_path, ck.config.replace(epochs=3), ck.params, ck.state, ck.opt_state, name="part.npz",
                           model={"bias": True})
    resumed.run()
    for k in full.params:
        np.testing.assert_array_equal(resumed.params[k], full.params[k])
    assert resumed.opt.t == full.opt.t
    for k, v in full.opt.state.items():
        np.testing.assert_array_equal(resumed.opt.state[k], v)


def test_resume_mid_epoch_after_interrupt_equals_uninterrupted(tmp_path):
    cfg = small_cfg(optimizer="adam", dropout=0.2, epochs=2)
    full = make_trainer(tmp_path, cfg, name="full.npz")
    full.run()
    calls = {"n": 0}

    def stop_after_5():
        calls["n"] += 1
        return calls["n"] > 5 + 13  # inside the second epoch (13 batches per epoch)

    t = make_trainer(tmp_path, cfg, hooks=Hooks(should_stop=stop_after_5), name="int.npz")
    with pytest.raises(Interrupted):
        t.run()
    ck = checkpoint.load(str(tmp_path / "int.npz"))
    assert ck.state["epoch"] == 1 and ck.state["batch_in_epoch"] == 5
    resumed = make_trainer(tmp_path, ck.config, ck.params, ck.state, ck.opt_state, name="int.npz")
    resumed.run()
    for k in full.params:
        np.testing.assert_array_equal(resumed.params[k], full.params[k])


def test_same_seed_same_parameters_and_other_seed_differs(tmp_path):
    a = make_trainer(tmp_path, small_cfg(seed=3), name="a.npz")
    a.run()
    b = make_trainer(tmp_path, small_cfg(seed=3), name="b.npz")
    b.run()
    c = make_trainer(tmp_path, small_cfg(seed=4), name="c.npz")
    c.run()
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])
    assert not np.array_equal(a.params["out.V"], c.params["out.V"])


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


def test_history_and_log_records(tmp_path):
    log = tmp_path / "log.jsonl"
    t = make_trainer(tmp_path, small_cfg(epochs=2))
    t.log.path = str(log)
    t.run()
    import json
    recs = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["epoch"] for r in recs] == [1, 2]
    for r in recs:
        for k in ("epoch", "train_loss", "val_loss", "val_ppl", "lr", "train_tokens", "seconds", "tokens_per_s"):
            assert r[k] is not None, k
        assert r["val_ppl"] == pytest.approx(math.exp(r["val_loss"]))
        assert r["train_tokens"] == t.task.train.n_predicted


def test_max_time_stops_and_saves(tmp_path):
    t = make_trainer(tmp_path, small_cfg(epochs=None, max_time=0.5))
    res = t.run()
    assert res.stopped == "time"
    ck = checkpoint.load(str(tmp_path / "m.npz"))
    assert ck.state["step"] > 0


def test_divergence_keeps_last_good_checkpoint(tmp_path):
    t = make_trainer(tmp_path, small_cfg(epochs=1, optimizer="sgd", lr=0.1, clip=0))
    t.run()
    path = str(tmp_path / "m.npz")
    before = checkpoint.load(path).params["out.V"].copy()
    t2 = make_trainer(tmp_path, small_cfg(epochs=3, optimizer="sgd", lr=1e6, clip=0))
    t2.params["out.V"][0, 0] = np.nan  # what an exploding update leaves behind
    from rnncli.train import Diverged
    with pytest.raises(Diverged, match="smaller --lr"):
        t2.run()
    np.testing.assert_array_equal(checkpoint.load(path).params["out.V"], before)


def test_patience_counts_only_gains_above_min_gain(tmp_path, monkeypatch):
    # 2.0 -> 1.999 is an improvement (kept as best) but below a 0.3% gain: it counts
    # towards patience like a worse epoch
    scripted = iter([2.0, 1.999, 1.9985, 1.5, 1.6])
    t = make_trainer(tmp_path, small_cfg(epochs=5, patience=2, min_gain=0.003, lr_schedule="constant"))
    monkeypatch.setattr(t, "validation_loss", lambda: next(scripted))
    res = t.run()
    assert res.stopped == "patience" and len(res.history) == 3 and res.best_val == 1.9985


def test_early_stopping_restores_best_weights(tmp_path, monkeypatch):
    scripted = iter([3.0, 2.0, 2.5, 2.6, 2.7, 2.8])
    snapshots = []
    t = make_trainer(tmp_path, small_cfg(epochs=6, patience=2, lr_schedule="constant"),
                     hooks=Hooks(epoch_end=lambda r: snapshots.append({k: v.copy() for k, v in t.params.items()})))
    monkeypatch.setattr(t, "validation_loss", lambda: next(scripted))
    res = t.run()
    assert res.stopped == "patience" and len(snapshots) == 4
    for k in t.params:  # epoch 2 was the best
        np.testing.assert_array_equal(t.params[k], snapshots[1][k])
    np.testing.assert_array_equal(checkpoint.load(str(tmp_path / "m.npz")).params["out.V"], snapshots[1]["out.V"])


# ---------------------------------------------------------------- schedules


def run_schedule(kind, vals, **kw):
    s = Schedule(kind, 1.0, **kw)
    lrs, stop_at = [], None
    for i, v in enumerate(vals):
        lrs.append(s.lr)
        if s.end_epoch(v):
            stop_at = i
            break
    return lrs, stop_at


def test_schedule_halve_when_validation_rises():
    lrs, stop = run_schedule("halve", [5, 4, 4.5, 4.2, 4.3, 4.0])
    assert lrs == [1, 1, 1, 0.5, 0.5, 0.25] and stop is None


def test_schedule_mikolov_halves_after_small_gain_then_stops():
    # gains: 1.0 (big), 0.001 (small: start halving), 0.5 (big: keep halving), 0.0001 (small: stop)
    lrs, stop = run_schedule("mikolov", [5.0, 4.0, 3.999, 3.5, 3.4999, 3.0], min_gain=0.003)
    assert lrs == [1, 1, 1, 0.5, 0.25] and stop == 4


def test_schedule_plateau_multiplies_by_factor():
    lrs, _ = run_schedule("plateau", [5, 4, 4.5, 3.9, 3.9, 3.0], factor=0.25, min_gain=0.003)
    assert lrs == [1, 1, 1, 0.25, 0.25, 0.0625]


@pytest.mark.parametrize("kind", ["cosine", "linear"])
def test_schedule_decay_to_zero(kind):
    s = Schedule(kind, 2.0)
    assert s.at(0) == pytest.approx(2.0) and s.at(1.0) == pytest.approx(0.0)
    mid = 1.0 if kind == "cosine" else 1.0
    assert s.at(0.5) == pytest.approx(mid)
    assert s.at(0.25) == pytest.approx(2.0 * (0.5 * (1 + math.cos(math.pi / 4)) if kind == "cosine" else 0.75))
    assert not s.end_epoch(3.0) and s.lr == 2.0


# ---------------------------------------------------------------- optimizer arithmetic


def test_optimizer_updates_match_textbook_formulas():
    rng = np.random.default_rng(0)
    p0 = {"V": rng.normal(size=(3, 2))}
    gs = [{"V": rng.normal(size=(3, 2))} for _ in range(3)]
    lr, b1, b2, eps = 0.1, 0.9, 0.99, 1e-8
    opt = Optimizer("adam", {k: v.copy() for k, v in p0.items()}, beta1=b1, beta2=b2, eps=eps)
    p = {k: v.copy() for k, v in p0.items()}
    m = np.zeros((3, 2))
    v = np.zeros((3, 2))
    ref = p0["V"].copy()
    for t, g in enumerate(gs, 1):
        opt.step(p, {"V": g["V"].copy()}, lr)
        m = b1 * m + (1 - b1) * g["V"]
        v = b2 * v + (1 - b2) * g["V"] ** 2
        ref -= lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
    np.testing.assert_allclose(p["V"], ref, rtol=1e-10)

    for name, rule in [("sgd", lambda st, g: -lr * g),
                       ("adagrad", lambda st, g: -lr * g / (np.sqrt(st.setdefault("m", 0) + g * g) + eps))]:
        opt = Optimizer(name, {"V": p0["V"].copy()}, eps=eps)
        p = {"V": p0["V"].copy()}
        opt.step(p, {"V": gs[0]["V"].copy()}, lr)
        np.testing.assert_allclose(p["V"], p0["V"] + rule({}, gs[0]["V"]), rtol=1e-12)


def test_batch_one_sgd_step_equals_tutorial_step(tmp_path):
    """--batch-size 1 --lr 0.005 --optimizer sgd: one update is the tutorial's per-sentence step."""
    from rnncli.batching import pack

    from . import reference as ref
    from . import tutorial as model
    enc, vocab = toy_corpus(n_sent=3)
    p = model.init_params(len(vocab), 6, np.random.default_rng(0), "float64")
    p_ref = {k: v.copy() for k, v in p.items()}
    g = model.zeros_like_params(p)
    b = pack(enc, np.array([1]))
    model.loss_and_grads(p, b, g, model.Workspace(), 4, scale=1.0 / b.B)
    Optimizer("sgd", p).step(p, g, 0.005)
    s = enc.ids[enc.starts[1]:enc.starts[1] + enc.lens[1]]
    for k, d in ref.sentence_grads(p_ref, s, 4).items():
        p_ref[k] -= 0.005 * d
    for k in p:
        np.testing.assert_allclose(p[k], p_ref[k], atol=1e-12)


# ---------------------------------------------------------------- through the CLI


def rnn(*args, cwd, **kw):
    return subprocess.run([sys.executable, "-m", "rnncli", *args], cwd=cwd, capture_output=True, text=True,
                          env=dict(os.environ, RNNCLI_CACHE_DIR=str(cwd / "cache")), **kw)


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


def test_cli_resume_equals_uninterrupted(tmp_path):
    corpus = tmp_path / "c.txt"
    write_text(corpus)
    common = ["--hidden-dim", "8", "--batch-size", "4", "--seed", "1", "-q"]
    r = rnn("train", str(corpus), "-o", "full.npz", "--epochs", "2", *common, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = rnn("train", str(corpus), "-o", "part.npz", "--epochs", "1", *common, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = rnn("train", str(corpus), "--resume", "part.npz", "-o", "part.npz", "--epochs", "2", "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    a, b = checkpoint.load(str(tmp_path / "full.npz")), checkpoint.load(str(tmp_path / "part.npz"))
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])
    assert b.state["epoch"] == 2


def test_ctrl_c_leaves_a_loadable_checkpoint(tmp_path):
    corpus = tmp_path / "c.txt"
    write_text(corpus, n=3000)
    p = subprocess.Popen([sys.executable, "-m", "rnncli", "train", str(corpus), "-o", "m.npz", "--epochs", "1000",
                          "--hidden-dim", "16", "--batch-size", "2"], cwd=tmp_path,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=dict(os.environ, RNNCLI_CACHE_DIR=str(tmp_path / "cache")))
    deadline = time.time() + 120
    while not (tmp_path / "m.npz").exists() and time.time() < deadline and p.poll() is None:
        time.sleep(0.2)
    assert (tmp_path / "m.npz").exists(), p.communicate()[1]
    first = checkpoint.load(str(tmp_path / "m.npz")).state
    time.sleep(1.0)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert "Traceback" not in err and "checkpoint saved" in err
    st = checkpoint.load(str(tmp_path / "m.npz")).state
    assert st["step"] > first["step"]
    # written by the interrupt (an end-of-epoch save drops the dropout generator's state),
    # mid-epoch; or at the next epoch boundary when the Ctrl-C landed during the
    # end-of-epoch validation and save
    assert "dropout_rng" in st
    assert st["batch_in_epoch"] > 0 or st["epoch"] > first["epoch"]
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]


def test_training_lowers_loss_on_bundled_corpus(tmp_path):
    corpus = os.path.join(REPO, "data", "corpus.txt")
    r = rnn("train", corpus, "-o", "m.npz", "--epochs", "1", "--max-time", "25", "--vocab-size", "2000",
            "--hidden-dim", "32", "--log", "log.jsonl", "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    import json
    rec = json.loads((tmp_path / "log.jsonl").read_text().splitlines()[-1])
    assert rec["val_loss"] < math.log(2000) - 1.5, rec  # far below the uniform guess


@pytest.mark.parametrize("cell,layers", [("gru", 1), ("lstm", 2), ("rnn", 2)])
def test_gated_and_stacked_resume_after_interrupt_equals_uninterrupted(tmp_path, cell, layers):
    cfg = small_cfg(optimizer="adam", dropout=0.2, epochs=2, bptt_truncate=-1)
    model = {"cell": cell, "layers": layers}
    full = make_trainer(tmp_path, cfg, name="full.npz", model=model)
    full.run()
    calls = {"n": 0}

    def stop_inside_second_epoch():
        calls["n"] += 1
        return calls["n"] > 5 + 13

    t = make_trainer(tmp_path, cfg, hooks=Hooks(should_stop=stop_inside_second_epoch), name="int.npz", model=model)
    with pytest.raises(Interrupted):
        t.run()
    ck = checkpoint.load(str(tmp_path / "int.npz"))
    assert ck.state["batch_in_epoch"] == 5 and ck.model["cell"] == cell and ck.model["layers"] == layers
    resumed = make_trainer(tmp_path, ck.config, ck.params, ck.state, ck.opt_state, name="int.npz", model=model)
    resumed.run()
    for k in full.params:
        np.testing.assert_array_equal(resumed.params[k], full.params[k])


@pytest.mark.slow   # a wall-clock assertion: fails on a loaded machine; TimeBudget's unit tests (test_run.py) cover the logic
def test_max_time_bounds_training_validation_and_checkpoint(tmp_path):
    """--max-time stops early enough that the last validation pass and checkpoint
    writes fit inside it, measured with a validation set ten times the training set."""
    enc, vocab = toy_corpus(n_sent=8100)
    train, val = enc.subset(np.arange(100)), enc.subset(np.arange(100, 8100))
    cfg = small_cfg(epochs=None, max_time=1.5, batch_size=2)
    net = Network(len(vocab), 24)
    task = LanguageModel(net, LMData(vocab, val, {"kind": "trained"}), train, cfg)
    t = Trainer(cfg, net, net.init(np.random.default_rng(0), cfg.dtype), task, str(tmp_path / "m.npz"))
    t0 = time.perf_counter()
    res = t.run()
    took = time.perf_counter() - t0
    assert res.stopped == "time" and len(res.history) >= 2
    assert took <= cfg.max_time * 1.15, took     # documented: within one step and timing noise


def test_with_max_time_slow_gains_count_against_patience(tmp_path, monkeypatch):
    # the same slow gains that stop an epoch-bounded run (see above) keep a time-bounded
    # run going; a loss that stops improving still stops it, best weights restored
    # (the first value feeds the validation pass that --max-time times before training)
    scripted = iter([9.9, 2.0, 1.999, 1.9985, 1.998, 1.9979, 2.1, 2.2])
    t = make_trainer(tmp_path, small_cfg(epochs=None, max_time=600, patience=2, min_gain=0.003,
                                         lr_schedule="constant"))
    monkeypatch.setattr(t, "validation_loss", lambda: next(scripted))
    res = t.run()
    assert res.stopped == "patience" and len(res.history) == 7 and res.best_val == 1.9979


def test_with_max_time_a_gain_counts_against_the_budget_left(tmp_path, monkeypatch):
    """Under --max-time a gain counts for --patience if, kept up for the epochs the
    budget still holds, it adds up to --min-gain: the slow gains
    above count in a 600 s budget of millisecond epochs, gains of 1e-9 (a rate decayed to
    nothing) do not, and the run stops instead of spending the budget on them."""
    scripted = iter([9.9, 2.0, 1.5, 1.5 - 1e-9, 1.5 - 2e-9, 1.5 - 3e-9, 1.0])
    t = make_trainer(tmp_path, small_cfg(epochs=None, max_time=600, patience=2, min_gain=0.003,
                                         lr_schedule="plateau"))
    monkeypatch.setattr(t, "validation_loss", lambda: next(scripted))
    res = t.run()
    assert res.stopped == "patience" and len(res.history) == 4 and res.best_val == 1.5 - 2e-9
    assert [r["lr"] for r in res.history] == pytest.approx([0.01, 0.01, 0.01, 0.0025])
    scale = t.budget.gain_scale(t.state["epoch"], 1.0)
    assert 1 / 600 <= scale < 1 / 590 and t.budget.gain_scale(t.state["epoch"], 1e9) == 1.0


def test_the_epochs_left_scale_the_gain_that_counts(tmp_path, monkeypatch):
    """Without --max-time the budget is --epochs: gains of 0.05% an epoch count (keep the
    plateau rule's rate, reset patience) while 40 epochs remain, because kept up they add
    up to more than --min-gain; near the end of the run they do not."""
    slow = [2.0 * (1 - 0.0005) ** i for i in range(8)]
    scripted = iter(slow + [2.1, 2.2])
    t = make_trainer(tmp_path, small_cfg(epochs=40, patience=2, min_gain=0.003, lr_schedule="plateau"))
    monkeypatch.setattr(t, "validation_loss", lambda: next(scripted))
    res = t.run()
    assert res.stopped == "patience" and len(res.history) == 10 and res.best_val == slow[-1]
    assert [r["lr"] for r in res.history] == pytest.approx([0.01] * 9 + [0.0025])
    assert t.budget.gain_scale(t.state["epoch"], 1.0) == pytest.approx(1 / 30)
    s = Schedule("plateau", 1.0, 0.25, 0.003)        # the same gain against a scale of 1 cuts
    s.end_epoch(2.0)
    s.end_epoch(2.0 * 0.9995, scale=1 / 30)
    assert s.lr == 1.0
    s.end_epoch(2.0 * 0.9995 ** 2, scale=1.0)
    assert s.lr == 0.25


def test_weight_averaging_is_the_default_model(tmp_path):
    """--average 0.999 is the default: the checkpoint's weights are the moving average,
    not the last trained ones; the tutorial's SGD recipe and configs written before
    averaging existed have none."""
    from rnncli.lm.prepare import configure
    assert Config().average == 0.999 and Config.from_json("{}").average == 0.0
    assert configure({"optimizer": "sgd"})[0].average == 0.0 and configure({})[0].average == 0.999
    t = make_trainer(tmp_path, small_cfg(average=0.999, epochs=2))
    t.run()
    ck = checkpoint.load(str(tmp_path / "m.npz"))
    for k, v in t.params.items():
        np.testing.assert_array_equal(ck.params[k], t.model_params[k])
    assert any(not np.array_equal(t.model_params[k], v) for k, v in t.params.items())
    raw = {k[4:]: v for k, v in ck.opt_state.items() if k.startswith("raw.")}
    for k, v in t.params.items():
        np.testing.assert_array_equal(raw[k], v)


def test_cli_resume_with_a_new_lr_uses_it(tmp_path):
    """A --lr given on resume replaces the rate the stored schedule had reached (it used
    to be ignored); the same --lr as the checkpoint's keeps the schedule's rate."""
    corpus = tmp_path / "c.txt"
    write_text(corpus)
    common = ["--hidden-dim", "8", "--batch-size", "4", "--seed", "1", "-q"]
    r = rnn("train", str(corpus), "-o", "m.npz", "--epochs", "1", "--lr", "0.01", *common, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = rnn("train", str(corpus), "--resume", "m.npz", "-o", "m2.npz", "--epochs", "2", "--lr", "0.0004",
            cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "replaces the rate" in r.stderr
    hist = checkpoint.load(str(tmp_path / "m2.npz")).state["history"]
    assert hist[0]["lr"] == pytest.approx(0.01) and hist[1]["lr"] == pytest.approx(0.0004)
    r = rnn("train", str(corpus), "--resume", "m.npz", "-o", "m3.npz", "--epochs", "2", "--lr-schedule", "constant",
            cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "starts afresh" in r.stderr
    assert checkpoint.load(str(tmp_path / "m3.npz")).state["history"][1]["lr"] == pytest.approx(0.01)


def test_time_running_out_on_worse_weights_restores_the_best(tmp_path, monkeypatch):
    """--max-time ending the run mid-epoch on weights that validate worse than the best
    seen leaves the best weights in the checkpoint, as early stopping does."""
    t = make_trainer(tmp_path, small_cfg(epochs=10, max_time=1000.0, patience=3, lr_schedule="constant"))
    vals, seen = iter([5.0, 1.0, 0.9, 1.5]), {}    # the first call prices the end of an epoch

    def fake_val():
        v = next(vals)
        seen[v] = {k: p.copy() for k, p in t.params.items()}
        return v
    monkeypatch.setattr(t, "validation_loss", fake_val)
    # time runs out after three steps of the third epoch
    monkeypatch.setattr(t.budget, "finish_estimate", lambda: 1e9 if t.state["epoch"] == 2 and t.budget.n_steps >= 3
                        else 0.0)
    res = t.run()
    assert res.stopped == "time" and t.state["history"][-1]["partial"]
    assert not np.array_equal(seen[1.5]["layer0.W"], seen[0.9]["layer0.W"])   # it did train on
    saved = checkpoint.load(str(tmp_path / "m.npz")).params
    for k, v in seen[0.9].items():
        np.testing.assert_array_equal(t.params[k], v)
        np.testing.assert_array_equal(saved[k], v)


def test_row_sparse_embedding_gradient_clears_only_what_the_last_call_wrote():
    from rnncli.nn import layers
    rng = np.random.default_rng(0)
    G, C = 6, 40
    dU = np.ascontiguousarray(rng.standard_normal((C, G))).T     # garbage to start with
    nonzero = None
    for n in (7, 3, 12, 1):
        x = rng.integers(0, C, n)
        dA = rng.standard_normal((n, G))
        layers.embed_backward(dU, x, dA, nonzero)
        want = np.zeros((C, G))
        np.add.at(want, x, dA)
        np.testing.assert_array_equal(dU.T, want)
        nonzero = np.unique(x)


@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_row_sparse_embedding_updates_equal_the_dense_ones(tmp_path, opt):
    """Clearing, norm, clipping and (SGD) the update over the rows a batch used give the
    dense path's parameters (up to the norm's summation order)."""
    cfg = small_cfg(optimizer=opt, lr=0.05 if opt == "sgd" else 0.01, epochs=2, clip=0.5)
    a = make_trainer(tmp_path, cfg, name="a.npz")
    b = make_trainer(tmp_path, cfg, name="b.npz")
    assert a.grad_rows is not None
    b.grad_rows = None
    a.run()
    b.run()
    assert "layer0.U" in a.grad_rows
    for k in a.params:
        np.testing.assert_allclose(a.params[k], b.params[k], rtol=1e-10, atol=1e-12)


def test_weight_average_starts_at_the_weights_and_resumes_from_the_raw_ones():
    """WeightAverage (--average): the average starts as a copy of the model's weights; a
    checkpoint's raw.* (the trained weights) go back into params, the rest is the
    optimizer's; the trained weights are stored as raw.*; a step is Averager's."""
    from rnncli.optim import Averager, WeightAverage
    params = {"w": np.array([1.0, 2.0]), "u": np.array([[3.0]])}
    avg = WeightAverage(params, 0.5)
    params["w"][0] = 7.0
    np.testing.assert_array_equal(avg.avg["w"], [1.0, 2.0])
    rest = avg.resume(params, {"m.w": np.zeros(2), "raw.w": np.array([4.0, 5.0]), "raw.u": np.array([[6.0]])})
    assert list(rest) == ["m.w"]
    np.testing.assert_array_equal(params["w"], [4.0, 5.0])
    np.testing.assert_array_equal(params["u"], [[6.0]])
    np.testing.assert_array_equal(avg.avg["w"], [1.0, 2.0])            # the model is still the average
    assert avg.resume(params, None) == {}
    arrays = avg.state_arrays(params)
    assert list(arrays) == ["raw.w", "raw.u"] and arrays["raw.w"] is params["w"]
    ref = {k: v.copy() for k, v in avg.avg.items()}
    avg.step(params, 1000)
    Averager(ref, 0.5).step(params, 1000)
    for k in ref:
        np.testing.assert_array_equal(avg.avg[k], ref[k])
