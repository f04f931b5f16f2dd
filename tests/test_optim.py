"""Optimizers, learning-rate schedules and weight averaging (rnncli/optim.py) against textbook formulas
and hand computation."""
import math

import numpy as np
import pytest

from rnncli.optim import Optimizer, Schedule

from .helpers import toy_corpus

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


def test_average_by_hand():
    from rnncli.optim import Averager
    avg, p = {"w": np.array([0.0, 1.0])}, {"w": np.array([1.0, 3.0])}
    Averager(avg, 0.99).step(p, 0)                          # d = min(0.99, 1/10) = 0.1
    np.testing.assert_allclose(avg["w"], [0.9, 2.8])
    Averager(avg, 0.5).step(p, 1000)                        # d = 0.5
    np.testing.assert_allclose(avg["w"], [0.95, 2.9])


def test_average_stride():
    """A long horizon samples every stride steps, folding the steps between (d ** stride);
    horizons under 256 steps average every step."""
    from rnncli.optim import Averager
    assert Averager({}, 0.995).stride == 1 and Averager({}, 0.999).stride == 7
    avg, p = {"w": np.array([0.0])}, {"w": np.array([1.0])}
    a = Averager(avg, 0.999)
    for t in range(70001, 70008):
        a.step(p, t)
    # one update, at t = 70007 (a multiple of 7), with d = 0.999 ** 7 (past the warm-up)
    np.testing.assert_allclose(avg["w"], [1 - 0.999 ** 7])
