"""The Trainer (rnncli/train.py): steps, epochs, stopping, divergence, checkpoints and resuming."""
import math
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from rnncli import checkpoint, registry
from rnncli.config import Config
from rnncli.lm.task import LanguageModel, LMData
from rnncli.nn.network import Network
from rnncli.optim import Schedule
from rnncli.registry import OPTIMIZERS
from rnncli.train import Diverged, Hooks, Interrupted, Trainer

from .helpers import REPO, class_trainer, make_trainer, small_cfg, toy_corpus, wait_for_file, write_text


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


def rnn(*args, cwd, **kw):
    return subprocess.run([sys.executable, "-m", "rnncli", *args], cwd=cwd, capture_output=True, text=True,
                          env=dict(os.environ, RNNCLI_CACHE_DIR=str(cwd / "cache")), **kw)


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
    wait_for_file(tmp_path / "m.npz", p)
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


@pytest.mark.parametrize("opt", registry.OPTIMIZERS)
def test_each_optimizer_lowers_loss_and_resume_equals_uninterrupted(tmp_path, opt):
    lr = {"sgd": 0.1, "momentum": 0.05, "adagrad": 0.1, "rmsprop": 0.01, "adam": 0.01}[opt]
    cfg = small_cfg(optimizer=opt, lr=lr, epochs=3, dropout=0.2, bptt_truncate=-1)
    full = class_trainer(tmp_path, cfg, name="full.npz", classes=5, bias=True)
    before = full.validation_loss()
    full.run()
    assert full.validation_loss() < before - 0.2
    class_trainer(tmp_path, cfg.replace(epochs=1), name="part.npz", classes=5, bias=True).run()
    ck = checkpoint.load(str(tmp_path / "part.npz"))
    assert ck.model["output"] == "class" and ck.model["class_of"] == full.net.args["class_of"]
    assert not any("class_of" in k for k in list(ck.params) + list(ck.opt_state))
    resumed = class_trainer(tmp_path, ck.config.replace(epochs=3), ck.params, ck.state, ck.opt_state,
                            name="part.npz", net=ck.network())
    resumed.run()
    for k in full.params:
        np.testing.assert_array_equal(resumed.params[k], full.params[k])


def test_divergence_before_the_first_save_names_no_checkpoint(tmp_path):
    t = make_trainer(tmp_path, small_cfg(epochs=2, optimizer="sgd", lr=1e6, clip=0))
    t.params["out.V"][0, 0] = np.nan
    with pytest.raises(Diverged) as e:
        t.run()
    assert "no checkpoint was written" in str(e.value) and "unchanged" not in str(e.value)
    assert not (tmp_path / "m.npz").exists()


def test_divergence_after_a_save_names_the_checkpoint_and_its_step(tmp_path):
    t = make_trainer(tmp_path, small_cfg(epochs=1))
    t.run()
    step = t.state["step"]
    t2 = make_trainer(tmp_path, small_cfg(epochs=3), params=t.params, state=t.state)
    t2.run_calls = 0
    real = t2.task.loss_and_grads

    def nan_in_epoch_3(params, sel, grads, ws, rng, rows=None):
        nll, n = real(params, sel, grads, ws, rng, rows)
        return (math.nan if t2.state["epoch"] == 2 else nll), n
    t2.task.loss_and_grads = nan_in_epoch_3
    with pytest.raises(Diverged) as e:
        t2.run()
    assert f"the last good checkpoint {tmp_path / 'm.npz'} (step {2 * step}) is unchanged" in str(e.value)
    assert checkpoint.load(str(tmp_path / "m.npz")).state["step"] == 2 * step


def test_nan_parameters_are_never_saved(tmp_path):
    """An update that makes the weights NaN on an epoch's last batch: the checkpoint of
    the epoch before stays, and the message says so."""
    t = make_trainer(tmp_path, small_cfg(epochs=1))
    t.run()
    before = (tmp_path / "m.npz").read_bytes()
    steps = t.state["step"]
    t2 = make_trainer(tmp_path, small_cfg(epochs=2), params=t.params, state=t.state)
    real = t2.opt.step

    def poison(params, grads, lr, *rows):
        real(params, grads, lr, *rows)
        if t2.state["step"] + 1 == 2 * steps:   # the last update of epoch 2
            params["layer0.W"][0, 0] = np.inf
    t2.opt.step = poison
    with pytest.raises(Diverged, match="NaN or infinite.*m.npz .*was not written by this run"):
        t2.run()
    assert (tmp_path / "m.npz").read_bytes() == before
