"""Feature columns (rnncli/forecast/features.py): categories, filling missing values, the scaler."""
import json

import numpy as np

from rnncli.forecast import features as Fe
from rnncli.forecast import series as S

from ..helpers import hourly_csv, write_csv


def test_categories_are_reapplied_to_new_data(tmp_path):
    train = S.read_csv(write_csv(tmp_path, hourly_csv([1, 2, 3], extra=["b", "a", "b"])), "time", ["y"])
    assert train.categories == {"x": ["a", "b"]}
    schema = json.loads(json.dumps(train.schema()))          # through JSON, as in a checkpoint
    new = S.read_like(write_csv(tmp_path, hourly_csv([4, 5, 6], extra=["b", "c", "a"]), "new.csv"), schema)
    assert new.names == train.names == ["y", "x=a", "x=b"]
    np.testing.assert_array_equal(new.values[:, 1:], [[0, 1], [0, 0], [1, 0]])
    assert new.unknown_categories == {"x": 1}
    # numeric codes can be forced categorical
    s = S.read_csv(write_csv(tmp_path, hourly_csv([1, 2, 3], extra=[10, 20, 10])), "time", ["y"], categorical=["x"])
    assert s.names == ["y", "x=10", "x=20"]


def test_constant_target_is_read_and_scaled_without_dividing_by_zero(tmp_path):
    s = S.read_csv(write_csv(tmp_path, hourly_csv([5.0] * 10)), "time", ["y"])
    sc = Fe.Scaler.fit(s.values)
    assert sc.std[0] == 1.0 and sc.mean[0] == 5.0
    z = sc.transform(s.values)
    assert np.all(z == 0.0)
    np.testing.assert_array_equal(sc.inverse(z), s.values)


# ------------------------------------------------------------------ missing values


def test_fill_missing_by_hand():
    x = np.array([[np.nan, 1.0], [2.0, np.nan], [np.nan, np.nan], [np.nan, 4.0], [8.0, np.nan]])
    ff = Fe.fill_missing(x, "ffill")
    np.testing.assert_array_equal(ff, [[np.nan, 1], [2, 1], [2, 1], [2, 4], [8, 4]])
    ip = Fe.fill_missing(x, "interpolate")
    np.testing.assert_allclose(ip, [[np.nan, 1], [2, 2], [4, 3], [6, 4], [8, 4]])
    # a run that reaches a split boundary before its next value is forward-filled
    ip_b = Fe.fill_missing(x, "interpolate", boundaries=[3])
    np.testing.assert_allclose(ip_b, [[np.nan, 1], [2, 1], [2, 1], [6, 4], [8, 4]])
    np.testing.assert_array_equal(Fe.fill_missing(x, "drop"), x)
    assert Fe.DEFAULT_FILL == "ffill"
    np.testing.assert_array_equal(Fe.fill_missing(np.array([np.nan, 1, np.nan]), "ffill"), [np.nan, 1, 1])
    assert not np.shares_memory(Fe.fill_missing(x), x)


def test_scaler_round_trip_through_npz(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(3, 2, (50, 3))
    X[4, 1] = np.nan
    X[:, 2] = 7.0
    sc = Fe.Scaler.fit(X, ["a", "b", "c"])
    np.testing.assert_allclose(sc.mean[:2], [X[:, 0].mean(), np.nanmean(X[:, 1])])
    np.testing.assert_allclose(sc.std[:2], [X[:, 0].std(), np.nanstd(X[:, 1])])
    assert sc.std[2] == 1.0
    d = sc.to_dict()
    np.savez(tmp_path / "ck.npz", **{"scaler." + k: (np.array(v) if k != "names" else np.array(v, dtype=str))
                                     for k, v in d.items()})
    with np.load(tmp_path / "ck.npz", allow_pickle=False) as z:
        back = Fe.Scaler.from_dict({k[len("scaler."):]: z[k] for k in z.files})
    np.testing.assert_array_equal(back.mean, sc.mean)
    np.testing.assert_array_equal(back.std, sc.std)
    assert back.names == ["a", "b", "c"]
    Z = sc.transform(X)
    np.testing.assert_allclose(back.inverse(Z), X)
    np.testing.assert_allclose(sc.inverse(Z[:, :1], slice(0, 1)), X[:, :1])
    json.dumps({k: v for k, v in d.items() if k == "names"})
