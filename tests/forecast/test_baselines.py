"""Persistence, seasonal naive and linear AR forecasts (rnncli/forecast/baselines.py) against hand
computation."""
import numpy as np
import pytest

from rnncli.errors import DataError
from rnncli.forecast import baselines as B
from rnncli.forecast import time as Ti
from rnncli.forecast import windows as Wn

# ------------------------------------------------------------------ baselines


def test_persistence_and_seasonal_naive_by_hand():
    y = np.array([1.0, 2.0, 3.0, 4.0, np.nan, 6.0, 7.0, 8.0, 9.0, 10.0])
    enc, dec = Wn.windows(10, 4, 4, 0, 10)       # origins 3..5 (5 rows: 0..2 starts)
    assert list(enc[:, -1]) == [3, 4, 5]
    p = B.persistence(y, enc, dec)
    assert p.shape == (3, 4, 1)
    np.testing.assert_array_equal(p[:, :, 0], [[4] * 4, [4] * 4, [6] * 4])   # origin 4 is missing: last present is 4
    s = B.seasonal_naive(y, enc, dec, 3)
    # origin o, step h: row o + h - 3*ceil(h/3) -> o-2, o-1, o, o-2 (repeats after one season)
    np.testing.assert_array_equal(s[:, :, 0], [[2, 3, 4, 2], [3, 4, 4, 3], [4, 4, 6, 4]])
    two = B.persistence(np.column_stack([y, 10 * y]), enc, dec)
    np.testing.assert_array_equal(two[2, 0], [6, 60])
    with pytest.raises(DataError, match=r"season 5 needs 5 rows up to each forecast origin; the first window has 4"):
        B.seasonal_naive(y, enc, dec, 5)


def test_infer_season():
    h = np.datetime64("2020-01-01T00", "s") + np.arange(50) * np.timedelta64(3600, "s")
    d = np.arange("2020-01-01", "2020-03-01", dtype="datetime64[D]").astype("datetime64[s]")
    m = np.arange("2015-01", "2020-01", dtype="datetime64[M]").astype("datetime64[s]")
    minutes = np.datetime64("2020-01-01T00", "s") + np.arange(50) * np.timedelta64(60, "s")
    assert B.infer_season(h) == 24 and B.infer_season(d) == 7 and B.infer_season(m) == 12
    assert B.infer_season(minutes) is None and B.infer_season(np.arange(30.0)) is None
    assert Ti.modal_step(m) == np.timedelta64(1, "M") and not Ti.find_gaps(m)
    np.testing.assert_array_equal(Ti.future_time(m, 2), np.array(["2020-01-01", "2020-02-01"], dtype="datetime64[s]"))
    np.testing.assert_array_equal(Ti.future_time(h[:3], 2), h[3:5])
    np.testing.assert_array_equal(Ti.future_time(np.array([0.0, 0.5, 1.0]), 2), [1.5, 2.0])


def test_linear_ar_is_exact_on_a_linear_series_and_matches_least_squares():
    T = 80
    y = np.empty(T)
    y[:2] = [1.0, 0.5]
    for t in range(2, T):
        y[t] = 0.6 * y[t - 1] - 0.3 * y[t - 2] + 1.0                 # noise-free AR(2)
    X = y[:, None]
    obs = np.ones((T, 1), bool)
    enc, dec = Wn.windows(T, 3, 2, 0, 60)
    ar = B.LinearAR(lam=1e-12).fit(X, X, obs, enc, dec)
    et, dt = Wn.windows(T, 3, 2, 60, T)
    np.testing.assert_allclose(ar.predict(X, et, dt), X[dt], atol=1e-6)
    # against lstsq on the same design, windows with a missing target left out
    rng = np.random.default_rng(3)
    Xr = rng.normal(size=(120, 2))
    Yr = Xr[:, :1] + rng.normal(0, 0.5, (120, 1))
    obs = rng.random((120, 1)) > 0.1
    known = rng.normal(size=(120, 1))
    enc, dec = Wn.windows(120, 4, 3, 0, 120)
    ar = B.LinearAR(lam=1e-12, chunk=7).fit(Xr, Yr, obs, enc, dec, known=known)
    keep = obs[dec].all(axis=(1, 2))
    A = np.hstack([Xr[enc].reshape(len(enc), -1), known[dec].reshape(len(enc), -1), np.ones((len(enc), 1))])
    W = np.linalg.lstsq(A[keep], Yr[dec][keep].reshape(keep.sum(), -1), rcond=None)[0]
    np.testing.assert_allclose(ar.W, W, atol=1e-7)
    assert ar.n_fit == keep.sum()
    pred = ar.predict(Xr, enc, dec, known=known)
    np.testing.assert_allclose(pred, (A @ W).reshape(len(enc), 3, 1), atol=1e-7)
    back = B.LinearAR.from_dict(ar.to_dict())
    # the restored model predicts in blocks of its own default size: the same sums to
    # float64 rounding, not bit for bit (the products' blocking differs between BLAS kernels)
    np.testing.assert_allclose(back.predict(Xr, enc, dec, known=known), pred, rtol=1e-12, atol=1e-14)
