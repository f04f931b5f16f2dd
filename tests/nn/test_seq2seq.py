"""The encoder-decoder (rnncli/nn/seq2seq.py) against a slow per-window reference and finite
differences of its loss."""
import numpy as np
import pytest

from rnncli.nn.seq2seq import Seq2Seq
from rnncli.nn.workspace import Workspace

from .. import reference_seq2seq as ref
from ..helpers import numeric

# cell, activation, layers, loss, known-future inputs, attention
CASES = [("rnn", "tanh", 1, "mse", 2, False), ("rnn", "relu", 2, "mse", 0, True), ("gru", "tanh", 1, "mse", 2, True),
         ("gru", "tanh", 2, "mae", 1, False), ("lstm", "tanh", 1, "mse", 0, False), ("lstm", "tanh", 2, "mse", 2, True)]


def problem(cell, act, layers, loss, Fk, att=False, seed=0, B=3, Th=4, Tf=3, F=3, Y=2, H=3):
    rng = np.random.default_rng(seed)
    net = Seq2Seq(F, Y, Fk, H, cell, act, layers, loss, attention=att)
    p = net.init(rng, "float64")
    for k, v in p.items():                                   # larger than at init, so every term counts
        v[...] = rng.normal(0, 0.5, v.shape)
        if act == "relu" and k.endswith(".b"):
            v += 1.0                                         # ReLU units alive, not all clipped to 0
    x = rng.normal(0, 1, (Th, B, F))
    y0 = rng.normal(0, 1, (B, Y))
    y = rng.normal(0, 1, (Tf, B, Y))
    known = rng.normal(0, 1, (Tf, B, Fk))
    mask = (rng.random((Tf, B, Y)) < 0.8).astype(np.float64)
    mask[0, 0, 0] = 1.0
    return net, p, x, y0, y, known, mask


def teacher_inputs(y0, y, known):
    prev = np.concatenate([y0[None], y[:-1]], axis=0)        # (Tf, B, Y)  y_{k-1}
    return np.concatenate([prev, known], axis=2)


def ref_loss(net, p, x, y0, y, known, mask, inputs=None):
    return sum(ref.window_loss(p, net.args, x[:, b], y0[b], known[:, b], y[:, b], mask[:, b],
                               None if inputs is None else inputs[:, b])
               for b in range(x.shape[1]))


@pytest.mark.parametrize("cell,act,layers,loss,Fk,att", CASES)
def test_loss_and_predictions_equal_the_reference(cell, act, layers, loss, Fk, att):
    net, p, x, y0, y, known, mask = problem(cell, act, layers, loss, Fk, att, seed=1)
    ws = Workspace(threads=2)
    grads = net.zeros_like(p)
    got = net.loss_and_grads(p, x, teacher_inputs(y0, y, known), y, mask, grads, ws)
    assert got == pytest.approx(ref_loss(net, p, x, y0, y, known, mask), rel=1e-12)
    pred = net.predict(p, x, y0, known, ws)
    for b in range(x.shape[1]):
        np.testing.assert_allclose(pred[:, b], ref.predict(p, net.args, x[:, b], y0[b], known[:, b]),
                                   rtol=0, atol=1e-12)
    # free running differs from teacher forcing after the first step
    yhat, _ = net.forward(p, x, teacher_inputs(y0, y, known), ws)
    yhat = yhat.reshape(pred.shape)
    np.testing.assert_allclose(yhat[0], pred[0], rtol=0, atol=1e-12)
    assert np.abs(yhat[1:] - pred[1:]).max() > 1e-6


@pytest.mark.parametrize("cell,act,layers,loss,Fk,att", CASES)
def test_gradients_equal_finite_differences_of_the_reference(cell, act, layers, loss, Fk, att):
    net, p, x, y0, y, known, mask = problem(cell, act, layers, loss, Fk, att, seed=2)
    ws = Workspace(threads=2)
    scale = 0.7
    grads = {k: np.full_like(v, np.nan) for k, v in p.items()}   # every entry must be written
    net.loss_and_grads(p, x, teacher_inputs(y0, y, known), y, mask, grads, ws, scale=scale)
    h = 1e-6
    for name, v in p.items():
        num = scale * numeric(lambda: ref_loss(net, p, x, y0, y, known, mask), v, h)
        err = np.abs(num - grads[name]).max() / max(1e-8, np.abs(num).max())
        assert err < 1e-6, (name, err)


def test_self_generated_inputs_are_teacher_forcing_on_them():
    """Training on free-running inputs (held fixed) is the teacher-forced loss with
    those inputs; its gradient is that of the reference with the inputs fixed."""
    net, p, x, y0, y, known, mask = problem("gru", "tanh", 1, "mse", 2, True, seed=3)
    ws = Workspace(threads=2)
    fed = net.predict(p, x, y0, known, ws)                     # (Tf, B, Y)
    grads = net.zeros_like(p)
    loss = net.loss_and_grads(p, x, teacher_inputs(y0, fed, known), y, mask, grads, ws)
    assert loss == pytest.approx(ref_loss(net, p, x, y0, y, known, mask, inputs=fed), rel=1e-12)
    v, idx, h = p["dec.layer0.W"], (1, 2), 1e-6
    old = v[idx]
    v[idx] = old + h
    lp = ref_loss(net, p, x, y0, y, known, mask, inputs=fed)
    v[idx] = old - h
    lm = ref_loss(net, p, x, y0, y, known, mask, inputs=fed)
    v[idx] = old
    assert grads["dec.layer0.W"][idx] == pytest.approx((lp - lm) / (2 * h), rel=1e-5, abs=1e-9)
    # free=True does the same in one encoder pass
    g2 = net.zeros_like(p)
    loss2 = net.loss_and_grads(p, x, teacher_inputs(y0, y, known), y, mask, g2, ws, free=True)
    assert loss2 == pytest.approx(loss, rel=1e-12)
    for k in p:
        np.testing.assert_allclose(g2[k], grads[k], rtol=0, atol=1e-12)


def test_shapes_init_and_args():
    net = Seq2Seq(5, 2, 4, 8, "lstm", layers=2)
    p = net.init(np.random.default_rng(0), "float32")
    assert list(p) == list(net.shapes())
    assert all(p[k].shape == s and p[k].dtype == np.float32 for k, s in net.shapes().items())
    assert net.shapes()["enc.layer0.U"] == (32, 5) and net.shapes()["dec.layer0.U"] == (32, 6)
    assert net.shapes()["enc.layer1.U"] == (32, 8) and net.shapes()["out.V"] == (2, 8)
    assert np.all(p["dec.layer0.b"][8:16] == 1) and np.all(p["out.c"] == 0)   # LSTM forget bias
    args = dict(net.args)
    assert args.pop("network") == "seq2seq"
    again = Seq2Seq(**args)
    assert again.shapes() == net.shapes()
    with pytest.raises(ValueError):
        Seq2Seq(5, 2, 0, 8, "gru", activation="relu")
    with pytest.raises(ValueError):
        Seq2Seq(5, 2, 0, 8, "gru", loss="huber")


def test_float32_close_to_float64():
    net, p, x, y0, y, known, mask = problem("gru", "tanh", 2, "mse", 2, True, seed=4, B=8, Th=12, Tf=6, H=8)
    p32 = {k: v.astype(np.float32) for k, v in p.items()}
    ws = Workspace(threads=2)
    g64, g32 = net.zeros_like(p), net.zeros_like(p32)
    inp = teacher_inputs(y0, y, known)
    l64 = net.loss_and_grads(p, x, inp, y, mask, g64, ws)
    l32 = net.loss_and_grads(p32, x.astype(np.float32), inp.astype(np.float32), y.astype(np.float32),
                             mask.astype(np.float32), g32, ws)
    assert l32 == pytest.approx(l64, rel=1e-4)
    for k in p:
        assert g32[k].dtype == np.float32
        np.testing.assert_allclose(g32[k], g64[k], rtol=0, atol=1e-3 * max(1.0, np.abs(g64[k]).max()))
