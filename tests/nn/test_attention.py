"""Attention (rnncli/nn/attention.py) against a slow reference and finite differences."""
import numpy as np
import pytest

from rnncli.nn.attention import Attention

from .. import reference_seq2seq as ref
from ..helpers import numeric


@pytest.mark.parametrize("B,Th,Tf", [(3, 4, 2), (1, 5, 3)])
def test_attention_alone_against_reference_and_finite_differences(B, Th, Tf):
    """Batched over B windows (packed rows t*B + b): every output equals the per-step
    reference; the gradients of sum(out * R) in W, V, the decoder states S and the
    encoder states E equal finite differences of it; one step equals the batch."""
    rng = np.random.default_rng(41 + B)
    H, Y = 3, 2
    att = Attention(H, Y)
    p = {k: rng.normal(0, 0.6, s) for k, s in att.shapes().items()}
    assert list(att.init(rng)) == list(p) == ["W", "V"]
    S = rng.normal(0, 1, (Tf * B, H))
    E = rng.normal(0, 1, (Th * B, H))
    R = rng.normal(0, 1, (Tf * B, Y))

    def f():
        tops = E.reshape(Th, B, H)
        return sum(float(R[r] @ ref.attend(p["W"], p["V"], S[r], tops[:, r % B])) for r in range(Tf * B))
    out, cache = att.forward(p, S, E, B)
    tops = E.reshape(Th, B, H)
    for r in range(Tf * B):
        np.testing.assert_allclose(out[r], ref.attend(p["W"], p["V"], S[r], tops[:, r % B]), rtol=0, atol=1e-12)
    for k in range(Tf):
        np.testing.assert_allclose(att.step(p, S[k * B:(k + 1) * B], E), out[k * B:(k + 1) * B], rtol=0, atol=1e-12)
    grads = {k: np.full_like(v, np.nan) for k, v in p.items()}
    dS, dE = att.backward(p, cache, R, grads)
    for name, x, g in [("W", p["W"], grads["W"]), ("V", p["V"], grads["V"]), ("S", S, dS), ("E", E, dE)]:
        num = numeric(f, x)
        err = np.abs(num - g).max() / max(1e-8, np.abs(num).max())
        assert err < 1e-6, (name, err)
