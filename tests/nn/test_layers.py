"""The input layers (rnncli/nn/layers.py) alone, and the row-sparse embedding gradient."""
import numpy as np
import pytest

from rnncli.nn.layers import Dense
from rnncli.nn.workspace import Workspace

from .. import reference as ref

# ---------------------------------------------------------------- the input seam alone


def test_dense_input_alone_against_reference_and_finite_differences():
    """A = X U^T over all rows, its gradient dU = dA^T X, and one step through a part
    of the columns (a decoder's fed-back values) adding up to the whole."""
    rng = np.random.default_rng(13)
    F, GH, N = 3, 8, 5
    layer = Dense(F, GH, tag="t")
    p = layer.init(rng)
    assert p["U"].shape == layer.shapes()["U"] == (GH, F) and np.abs(p["U"]).max() <= 1 / np.sqrt(F)
    X = rng.normal(0, 1, (N, F))
    R = rng.normal(0, 1, (N, GH))                # loss = sum(A * R)
    ws = Workspace(threads=1)
    A = layer.forward(p, X, ws).copy()
    np.testing.assert_allclose(A, ref.dense(p["U"], X), rtol=0, atol=1e-12)
    parts = layer.step(p, X[:, :2], slice(None, 2)) + layer.step(p, X[:, 2:], slice(2, None))
    np.testing.assert_allclose(parts, A, rtol=0, atol=1e-12)
    grads = {"U": np.full_like(p["U"], np.nan)}
    layer.backward(p, X, R, grads, ws)
    h = 1e-6
    U = p["U"]
    for idx in np.ndindex(U.shape):
        old = U[idx]
        U[idx] = old + h
        lp = float((ref.dense(U, X) * R).sum())
        U[idx] = old - h
        lm = float((ref.dense(U, X) * R).sum())
        U[idx] = old
        assert (lp - lm) / (2 * h) == pytest.approx(grads["U"][idx], rel=1e-6, abs=1e-9), idx


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
