"""RMSE, MAE and MASE (rnncli/forecast/metrics.py) against hand computation."""
import json

import numpy as np
import pytest

from rnncli.forecast import metrics as M

# ------------------------------------------------------------------ metrics


def test_metrics_by_hand():
    truth = np.array([[[1.0], [2.0]], [[3.0], [4.0]]])          # (N=2, horizon=2, K=1)
    pred = np.array([[[2.0], [2.0]], [[0.0], [100.0]]])
    mask = np.array([[True, True], [True, False]])               # (N, horizon): the 100 is not scored
    sc = M.scores(pred, truth, mask, scale=np.array([2.0]))
    # errors: step 1: +1, -3; step 2: 0 (the other masked)
    np.testing.assert_allclose(sc.rmse_by_step[:, 0], [np.sqrt(5.0), 0.0])
    np.testing.assert_allclose(sc.mae_by_step[:, 0], [2.0, 0.0])
    np.testing.assert_allclose(sc.rmse, [np.sqrt(10 / 3)])
    np.testing.assert_allclose(sc.mae, [4 / 3])
    np.testing.assert_allclose(sc.mase, [2 / 3])
    np.testing.assert_allclose(sc.mase_by_step[:, 0], [1.0, 0.0])
    np.testing.assert_allclose(sc.rmse_step_mean, [np.sqrt(5.0) / 2])
    np.testing.assert_array_equal(sc.count_by_step[:, 0], [2, 1])
    d = sc.to_dict(["pm"])
    json.dumps(d)
    assert d["pm"]["n"] == 3 and d["pm"]["by_step"]["n"] == [2, 1]
    none = M.scores(pred, truth, np.zeros((2, 2), bool))
    assert np.isnan(none.rmse[0]) and json.loads(json.dumps(none.to_dict()))["target0"]["rmse"] is None


def test_mase_scale_by_hand():
    y = np.array([1.0, 3.0, np.nan, 6.0, 2.0])
    assert M.mase_scale(y, None)[0] == pytest.approx((2 + 4) / 2)        # lag 1: |3-1|, |2-6|
    assert M.mase_scale(y, 2)[0] == pytest.approx(3.0)                  # lag 2: only |6-3| has both values
    assert M.mase_scale(y, 10)[0] == pytest.approx(3.0)                  # no full season: lag 1
    assert M.mase_scale(np.full(5, 2.0), 2)[0] == 0.0
    sc = M.scores(np.ones((1, 1, 1)), np.zeros((1, 1, 1)), None, M.mase_scale(np.full(5, 2.0), 2))
    assert np.isnan(sc.mase[0]) and sc.mae[0] == 1.0                     # constant training target: MASE undefined
