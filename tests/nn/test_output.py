"""The output layers (rnncli/nn/output.py) alone against finite differences."""
import numpy as np
import pytest

from rnncli.nn.output import FullSoftmax, LinearReadout
from rnncli.nn.workspace import Workspace

from .. import reference_seq2seq as ref
from ..helpers import numeric

# ---------------------------------------------------------------- the output seam alone


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("scale", [0.5, 40.0])   # 40: logits past the no-shift bound
def test_full_softmax_alone_finite_differences(bias, scale):
    rng = np.random.default_rng(21)
    C, H, N = 9, 4, 7
    out = FullSoftmax(C, H)
    p = {"V": rng.normal(0, scale, (C, H))}
    if bias:
        p["c"] = rng.normal(0, 0.5, C)
    Hin = np.tanh(rng.normal(0, 1, (N, H)))
    y = rng.integers(0, C, N)
    ws = Workspace(threads=1)
    grads = {k: np.zeros_like(v) for k, v in p.items()}
    nll, dh = out.loss_and_grad(p, Hin, y, grads, ws, scale=0.5)
    dh = dh.copy()

    def loss():
        z = Hin @ p["V"].T + (p["c"] if bias else 0)
        m = z.max(axis=1, keepdims=True)
        return float((np.log(np.exp(z - m).sum(axis=1)) + m[:, 0] - z[np.arange(N), y]).sum())
    assert nll == pytest.approx(loss(), rel=1e-12)
    scored = out.token_nll(p, Hin, y, ws, np.empty(N), chunk=3)
    assert scored.sum() == pytest.approx(nll, rel=1e-12)
    lp = out.log_probs(p, Hin)
    np.testing.assert_allclose(np.exp(lp).sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(-lp[np.arange(N), y], scored, rtol=1e-10, atol=1e-12)
    h = 1e-6
    for arr, g in [(p[k], grads[k]) for k in p] + [(Hin, dh)]:
        for idx in list(np.ndindex(arr.shape))[::3]:
            old = arr[idx]
            arr[idx] = old + h
            l1 = loss()
            arr[idx] = old - h
            l2 = loss()
            arr[idx] = old
            # central differences of a loss of size ~|L| carry rounding noise ~1e-16 |L| / h
            assert 0.5 * (l1 - l2) / (2 * h) == pytest.approx(g[idx], rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("loss", ["mse", "mae"])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_readout_alone_against_reference_and_finite_differences(loss, bias):
    rng = np.random.default_rng(31 + bias)
    Y, H, N = 3, 4, 6
    out = LinearReadout(Y, H, loss)
    assert out.args == {"loss": loss} and list(out.shapes(bias)) == list(out.init(rng, np.float64, bias))
    p = {"V": rng.normal(0, 0.7, (Y, H)), **({"c": rng.normal(0, 0.5, Y)} if bias else {})}
    S = rng.normal(0, 1, (N, H))
    y = rng.normal(0, 1, (N, Y))
    mask = (rng.random((N, Y)) < 0.7).astype(np.float64)
    ws = Workspace(threads=1)
    np.testing.assert_allclose(out.predict(p, S), out.forward(p, S, ws), rtol=0, atol=1e-12)
    scale = 0.3
    grads = {k: np.full_like(v, np.nan) for k, v in p.items()}
    got, dS = out.loss_and_grad(p, S, y, grads, ws, scale, mask=mask)
    dS = dS.copy()

    def f():
        return ref.readout_loss(p["V"], p.get("c", 0.0), S, y, mask, loss)
    assert got == pytest.approx(f(), rel=1e-12)
    for name, x, g in [(k, p[k], grads[k]) for k in p] + [("S", S, dS)]:
        num = scale * numeric(f, x)
        err = np.abs(num - g).max() / max(1e-8, np.abs(num).max())
        assert err < 1e-6, (loss, name, err)
    with pytest.raises(ValueError):
        LinearReadout(Y, H, "huber")
