"""The data side of forecasting: reading series, missing values, one-hot and calendar
features, the scaler, the split and windows (no leakage, no crossing), the baselines
and metrics against hand-computed values, the plots, and every bad input."""
import io
import json
import os
import re
import sys

import numpy as np
import pytest

from rnncli.forecast import baselines as B
from rnncli.forecast import metrics as M
from rnncli.forecast import plots as P
from rnncli.errors import DataError
from rnncli.forecast import features as Fe
from rnncli.forecast import series as S
from rnncli.forecast import time as Ti
from rnncli.forecast import windows as Wn

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BEIJING = os.path.join(REPO, "..", "shared", "timeseries", "beijing-pm25", "PRSA_data_2010.1.1-2014.12.31.csv")
BUNDLED = os.path.join(REPO, "data", "series.csv")


def write(tmp_path, text, name="s.csv", raw=None):
    p = tmp_path / name
    p.write_bytes(raw if raw is not None else text.encode("utf-8"))
    return str(p)


def hourly_csv(values, start="2021-03-01T00", extra=None):
    """A 'time,y[,x]' CSV with one row per hour; None -> empty field."""
    t0 = np.datetime64(start, "h")
    out = ["time,y" + (",x" if extra is not None else "")]
    for i, v in enumerate(values):
        row = f"{str(t0 + i).replace('T', ' ')}:00,{'' if v is None else v}"
        if extra is not None:
            row += f",{extra[i]}"
        out.append(row)
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------ reading


def test_read_crlf_bom_quotes_sorting_onehot_and_row_number(tmp_path):
    text = ("\ufeffNo,date,\"load, kW\",temp,wind\r\n"
            "1,2021-01-01 02:00,3.5,\"1.5\",N\r\n"
            "2,2021-01-01 00:00,1.5,-1,S\r\n"
            "3,2021-01-01 01:00,,0.5,\"N\"\r\n"
            "4,2021-01-01T03:00,4.5,NA,\r\n")
    s = S.read_csv(write(tmp_path, text), "date", ["load, kW"], None)
    assert s.features == ["temp", "wind"]                     # "No" is the row number: left out
    assert s.names == ["load, kW", "temp", "wind=N", "wind=S"]
    assert s.reordered
    assert s.time.dtype == np.dtype("datetime64[s]")
    assert list(s.time.astype("datetime64[h]").astype(str)) == [f"2021-01-01T0{h}" for h in range(4)]
    np.testing.assert_array_equal(s.values[:, 0], [1.5, np.nan, 3.5, 4.5])
    np.testing.assert_array_equal(s.values[:, 1], [-1, 0.5, 1.5, np.nan])
    np.testing.assert_array_equal(s.values[:3, 2:], [[0, 1], [1, 0], [1, 0]])
    assert np.isnan(s.values[3, 2:]).all()                  # a missing category: NaN in every one-hot column
    assert s.missing == {"load, kW": 1, "temp": 1, "wind": 1}
    assert s.categories == {"wind": ["N", "S"]}
    np.testing.assert_array_equal(s.observed[:, 0], [True, False, True, True])
    assert s.values.dtype == np.float64 and s.n_targets == 1 and len(s) == 4
    assert s.step == np.timedelta64(3600, "s") and not s.gaps


def test_row_number_rule_needs_the_name_and_consecutive_integers(tmp_path):
    text = "id,t,y,No\n7,1,1.0,1\n3,2,2.0,2\n9,3,3.0,4\n"
    s = S.read_csv(write(tmp_path, text), "t", ["y"], None)
    assert s.features == ["id", "No"]                        # id is not 1,2,3...; No skips a number
    text = "Unnamed: 0,t,y,id\n0,1,1.0,5\n1,2,2.0,6\n2,3,3.0,7\n"
    s = S.read_csv(write(tmp_path, text), "t", ["y"], None)
    assert s.features == [] and s.names == ["y"]
    assert s.time.dtype == np.float64 and s.step == 1.0


def test_time_from_several_columns_and_a_comma_separated_string(tmp_path):
    text = "year,month,day,hour,y\n2012,2,28,23,1\n2012,2,29,0,2\n2012,2,29,2,3\n"
    for time in (["year", "month", "day", "hour"], "year,month,day,hour"):
        s = S.read_csv(write(tmp_path, text), time, "y", [])
        expect = np.array(["2012-02-28T23", "2012-02-29T00", "2012-02-29T02"], dtype="datetime64[s]")
        np.testing.assert_array_equal(s.time, expect)
    assert s.gaps.count == 1 and s.gaps.missing_steps == 1
    assert s.gaps.first == [("2012-02-29T00:00", "2012-02-29T02:00")]
    assert "1 gap (1 missing step)" in str(s.gaps)


def test_gaps_are_counted_and_the_first_few_shown(tmp_path):
    vals = list(range(30))
    lines = hourly_csv(vals).splitlines()
    kept = [lines[0]] + [ln for i, ln in enumerate(lines[1:]) if i not in (5, 6, 7, 20)]
    s = S.read_csv(write(tmp_path, "\n".join(kept)), "time", ["y"])
    assert (s.gaps.count, s.gaps.missing_steps, s.gaps.irregular) == (2, 4, 0)
    assert s.gaps.first[0] == ("2021-03-01T04:00", "2021-03-01T08:00")
    assert len(s) == 26


def test_semicolon_delimiter_and_features_listed_with_the_target(tmp_path):
    text = "t;y;x\n1;1,5;2\n2;3;4\n"               # "1,5": a decimal comma is not a number
    with pytest.raises(DataError, match=r"target column 'y' is not numeric: line 2 has '1,5'"):
        S.read_csv(write(tmp_path, text), "t", ["y"])
    text = "t;y;x\n1;1.5;2\n2;3;4\n"
    s = S.read_csv(write(tmp_path, text), "t", ["y"], ["x", "y"])
    assert s.names == ["y", "x"]


def test_categories_are_reapplied_to_new_data(tmp_path):
    train = S.read_csv(write(tmp_path, hourly_csv([1, 2, 3], extra=["b", "a", "b"])), "time", ["y"])
    assert train.categories == {"x": ["a", "b"]}
    schema = json.loads(json.dumps(train.schema()))          # through JSON, as in a checkpoint
    new = S.read_like(write(tmp_path, hourly_csv([4, 5, 6], extra=["b", "c", "a"]), "new.csv"), schema)
    assert new.names == train.names == ["y", "x=a", "x=b"]
    np.testing.assert_array_equal(new.values[:, 1:], [[0, 1], [0, 0], [1, 0]])
    assert new.unknown_categories == {"x": 1}
    # numeric codes can be forced categorical
    s = S.read_csv(write(tmp_path, hourly_csv([1, 2, 3], extra=[10, 20, 10])), "time", ["y"], categorical=["x"])
    assert s.names == ["y", "x=10", "x=20"]


def test_constant_target_is_read_and_scaled_without_dividing_by_zero(tmp_path):
    s = S.read_csv(write(tmp_path, hourly_csv([5.0] * 10)), "time", ["y"])
    sc = Fe.Scaler.fit(s.values)
    assert sc.std[0] == 1.0 and sc.mean[0] == 5.0
    z = sc.transform(s.values)
    assert np.all(z == 0.0)
    np.testing.assert_array_equal(sc.inverse(z), s.values)


# ------------------------------------------------------------------ bad input


BAD = [
    ("empty", b"", None, r"s\.csv: is empty$"),
    ("blank", b"\r\n\r\n  \n", None, r"is empty$"),
    ("header only", b"time,y\r\n", None, r"has a header but no data rows$"),
    ("one row", b"time,y\n2020-01-01,1\n", None, r"has only 1 data row; a time series needs at least 2$"),
    ("binary", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", None, r"is not valid utf-8.*is it a CSV text file"),
    ("nul", b"time,y\n1,\x002\n", None, r"is not a CSV text file \(it contains NUL bytes\)$"),
    ("ragged", b"time,y\n1,2\n2,3,4\n", None, r"line 3 has 3 fields but the header has 2; is this a CSV file"),
    ("prose", b"Dear diary\nToday it rained.\n", None,
     r"no time column 'time': the header has a single column \('Dear diary'\); is this a CSV file"),
    ("missing column", b"time,temp,pm2.5\n1,2,3\n2,3,4\n", dict(target=["pm25"]),
     r"no target column 'pm25' \(did you mean 'pm2\.5'\?\); the columns are: time, temp, pm2\.5$"),
    ("missing feature", b"time,y\n1,2\n2,3\n", dict(features=["wind"]),
     r"no feature column 'wind'; the columns are: time, y$"),
    ("non-numeric target", b"time,y\n1,2\n2,abc\n3,4\n", None, r"target column 'y' is not numeric: line 3 has 'abc'$"),
    ("empty target", b"time,y\n1,\n2,NA\n", None, r"target column 'y' has no values$"),
    ("duplicate time", b"time,y\n2020-01-01 00:00,1\n2020-01-01 01:00,2\n2020-01-01T00:00,3\n", None,
     r"time 2020-01-01T00:00 occurs twice \(lines 2 and 4\); a series needs one row per time stamp$"),
    ("bad date", b"time,y\n2020-01-01,1\n01/02/2020,2\n", None,
     r"time column 'time' has '01/02/2020' on line 3, which is neither a number nor an ISO date"),
    ("empty time", b"time,y\n2020-01-01,1\n,2\n", None, r"time column 'time' is empty on line 3"),
    ("target is time", b"time,y\n1,2\n2,3\n", dict(target=["time"]), r"column 'time' is the time column"),
    ("twice", b"time,y\n1,2\n2,3\n", dict(target=["y", "y"]), r"column 'y' is given twice"),
    ("dup header", b"time,y,x,x\n1,2,3,4\n2,3,4,5\n", dict(features=["x"]), r"more than one column named 'x'"),
    ("stray text in a numeric feature", b"time,y,x\n1,1,2.5\n2,2,3\n3,3,oops\n4,4,5\n", None,
     r"feature column 'x' is numeric but line 4 has 'oops'; fix that value or leave the field empty"),
    ("all-empty feature", b"time,y,x\n1,2,\n2,3,\n", None, r"feature column 'x' has no values; leave it out"),
]


@pytest.mark.parametrize("raw,kwargs,message", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_files_give_one_line_series_errors(tmp_path, raw, kwargs, message):
    path = write(tmp_path, None, raw=raw)
    args = dict(time="time", target=["y"], features=None)
    args.update(kwargs or {})
    with pytest.raises(DataError) as e:
        S.read_csv(path, **args)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(path) and len(msg) < 300
    assert re.search(message, msg), msg


def test_more_bad_input(tmp_path):
    with pytest.raises(DataError, match=r"no such file$"):
        S.read_csv(str(tmp_path / "nope.csv"), "t", ["y"])
    with pytest.raises(DataError, match=r"is a directory"):
        S.read_csv(str(tmp_path), "t", ["y"])
    bad_day = write(tmp_path, "year,month,day,y\n2010,2,28,1\n2010,2,30,2\n")
    with pytest.raises(DataError, match=r"line 3: 2010-02-30 is not a date$"):
        S.read_csv(bad_day, ["year", "month", "day"], ["y"])
    bad_hour = write(tmp_path, "year,month,day,hour,y\n2010,2,28,1,1\n2010,2,28,24,2\n")
    with pytest.raises(DataError, match=r"'hour' \(the hour\) has 24 on line 3; expected 0 to 23$"):
        S.read_csv(bad_hour, ["year", "month", "day", "hour"], ["y"])
    many = "t,y,x\n" + "".join(f"{i},{i},v{i}\n" for i in range(80))
    with pytest.raises(DataError, match=r"column 'x' has 80 distinct non-numeric values \(line 2 has 'v0'\)"):
        S.read_csv(write(tmp_path, many), "t", ["y"])
    wide = ",".join(["t", "y"] + [f"column_with_a_long_name_{i}" for i in range(40)])
    with pytest.raises(DataError) as e:
        S.read_csv(write(tmp_path, wide + "\n" + ",".join(["1"] * 42) + "\n"), "t", ["nothere"])
    assert "... (" in str(e.value) and len(str(e.value)) < 300     # the column list is bounded
    with pytest.raises(DataError, match=r"unknown missing-value method 'mean'; choose one of ffill, interpolate"):
        Fe.fill_missing(np.zeros(3), "mean")
    with pytest.raises(DataError, match=r"calendar features need dates or times"):
        Ti.calendar_features(np.arange(5.0))
    with pytest.raises(DataError, match=r"fractions add up to 1"):
        Wn.split(100, 0.5, 0.5)
    with pytest.raises(DataError, match=r"test fraction must be at least 0 and below 1"):
        Wn.split(100, 0.1, -0.1)
    with pytest.raises(DataError, match=r"unknown encoding"):
        S.read_csv(write(tmp_path, "t,y\n1,2\n2,3\n"), "t", ["y"], encoding="nope-8")
    with pytest.raises(DataError, match=r"unknown encoding"):
        S.read_csv(write(tmp_path, "t,y\n1,2\n2,3\n"), "t", ["y"], encoding="utf\x008")


def test_history_plus_horizon_longer_than_the_part():
    with pytest.raises(DataError, match=r"^history 72 \+ horizon 24 = 96 rows, but the test part has only 50; "
                                          r"shorten the history or the horizon"):
        Wn.windows(200, 72, 24, 150, 200, name="test")
    with pytest.raises(DataError, match=r"no window of the training part has a history without missing"):
        Wn.windows(10, 3, 2, 0, 10, valid=np.arange(10) % 3 != 0, name="training")
    with pytest.raises(DataError, match=r"at least 1"):
        Wn.windows(10, 0, 2)
    with pytest.raises(DataError, match=r"^s\.csv: history 72 \+ horizon 24 = 96 rows, but the test part"):
        Wn.windows(200, 72, 24, 150, 200, name="test", source="s.csv")       # the file, when known, leads
    with pytest.raises(DataError, match=r"^s\.csv: 2 rows leave none for training with these fractions$"):
        Wn.split(2, 0.4, 0.5, source="s.csv")


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


# ------------------------------------------------------------------ scaler, split, windows


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


def test_split_and_windows_by_hand():
    sp = Wn.split(100, 0.1, 0.2)
    assert (sp.train, sp.val, sp.test) == ((0, 70), (70, 80), (80, 100))
    assert Wn.split(10, 0.0, 0.25) == Wn.Split((0, 7), (7, 7), (7, 10))
    enc, dec = Wn.windows(100, 3, 2, 80, 100)
    assert enc.shape == (16, 3) and dec.shape == (16, 2)
    np.testing.assert_array_equal(enc[0], [80, 81, 82])
    np.testing.assert_array_equal(dec[0], [83, 84])
    np.testing.assert_array_equal(dec[-1], [98, 99])
    valid = np.ones(100, bool)
    valid[85] = False
    enc, dec = Wn.windows(100, 3, 2, 80, 100, valid=valid)
    assert not np.isin(enc, 85).any()                         # no history holds the missing row
    assert np.isin(dec, 85).any()                             # a horizon may (its target is masked instead)


def test_no_window_crosses_a_split_boundary():
    n = 1000
    sp = Wn.split(n, 0.15, 0.25)
    seen = []
    for name, (a, b) in sp.parts().items():
        enc, dec = Wn.windows(n, 24, 12, a, b, name=name)
        rows = np.hstack([enc, dec])
        assert rows.min() >= a and rows.max() < b, name
        assert np.all(np.diff(rows, axis=1) == 1)
        seen.append(len(enc))
    assert seen == [600 - 35, 150 - 35, 250 - 35]


def _training_side(values, time, how="ffill"):
    """What training sees: the training-part scaler and the training windows."""
    sp = Wn.split(len(values), 0.2, 0.2)
    X = Fe.fill_missing(values, how, boundaries=sp.boundaries)
    cal, _ = Ti.calendar_features(time)
    sc = Fe.Scaler.fit(X[sp.train[0]:sp.train[1]])
    Z = np.hstack([sc.transform(X), cal])
    ok = ~np.isnan(Z).any(axis=1)
    enc, dec = Wn.windows(len(values), 12, 6, *sp.train, valid=ok, name="training")
    observed = ~np.isnan(values[:, :1])
    w = {"x": Z[enc], "y": Z[dec, :1], "known": cal[dec], "mask": observed[dec], "origin": enc[:, -1]}
    ar = B.LinearAR().fit(Z, X[:, :1], observed, enc, dec, known=cal)
    return sp, sc, w, ar


@pytest.mark.parametrize("how", ["ffill", "interpolate", "drop"])
def test_no_leakage_changing_the_future_changes_nothing_in_training(how):
    rng = np.random.default_rng(2)
    T = 300
    time = np.datetime64("2020-01-01T00", "s") + np.arange(T) * np.timedelta64(3600, "s")
    values = np.column_stack([np.sin(np.arange(T) / 4) + rng.normal(0, 0.1, T), rng.normal(size=T)])
    values[rng.choice(T, 30, replace=False), 0] = np.nan
    values[178:185, 0] = np.nan                                 # a run across the train/val boundary (180)
    sp, sc, w, ar = _training_side(values, time, how)
    assert sp.train == (0, 180)
    future = values.copy()
    future[sp.train[1]:] = rng.normal(50, 9, future[sp.train[1]:].shape)
    future[sp.train[1] + 3:sp.train[1] + 9, 0] = np.nan
    sp2, sc2, w2, ar2 = _training_side(future, time, how)
    np.testing.assert_array_equal(sc2.mean, sc.mean)
    np.testing.assert_array_equal(sc2.std, sc.std)
    for a in ("x", "y", "known", "mask", "origin"):
        np.testing.assert_array_equal(w2[a], w[a])
    np.testing.assert_array_equal(ar2.W, ar.W)


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
    np.testing.assert_array_equal(back.predict(Xr, enc, dec, known=known), pred)


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


# ------------------------------------------------------------------ plots


def test_plots_without_matplotlib_name_the_extra(tmp_path, monkeypatch):
    for mod in ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, mod, None)
    with pytest.raises(P.PlotError, match=r"pip install 'rnncli\[plot\]'"):
        P.plot_errors_by_horizon(str(tmp_path / "e.png"), {"model": np.ones(3)})
    with pytest.raises(P.PlotError, match=r"pip install 'rnncli\[plot\]'"):
        P.plot_forecast(str(tmp_path / "f.png"), np.arange(3.0), np.ones(3), np.arange(3.0, 5.0), np.ones(2))
    assert not list(tmp_path.iterdir())


def test_plots_write_pngs(tmp_path):
    pytest.importorskip("matplotlib")
    th = np.datetime64("2021-01-01T00", "s") + np.arange(48) * np.timedelta64(3600, "s")
    tf = Ti.future_time(th, 6)
    hist = np.column_stack([np.sin(np.arange(48) / 4), np.cos(np.arange(48) / 4)])
    P.plot_forecast(str(tmp_path / "f.png"), th, hist, tf, np.zeros((6, 2)), truth=np.ones((6, 2)),
                    names=["a", "b"], baselines={"persistence": np.full((6, 2), 0.5)})
    P.plot_errors_by_horizon(str(tmp_path / "e.png"), {"model": np.arange(1, 7.0), "persistence": np.arange(2, 8.0)},
                             names=["a"])
    for f in ("f.png", "e.png"):
        assert (tmp_path / f).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.png", "f.png"]   # no temporary files left


# ------------------------------------------------------------------ the bundled and the case-study series


def test_bundled_series_loads_and_is_what_make_series_writes():
    s = S.read_csv(BUNDLED, "time", ["demand"], None)
    assert len(s) == 2688 and s.names == ["demand", "temp", "wind=E", "wind=N", "wind=S", "wind=W"]
    assert s.missing == {"demand": 83, "temp": 15, "wind": 6} and not s.gaps
    assert B.infer_season(s.time) == 24
    import importlib.util
    spec = importlib.util.spec_from_file_location("make_series", os.path.join(REPO, "data", "make_series.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    buf = io.StringIO()
    mod.write_csv(buf, *mod.generate())
    with open(BUNDLED, encoding="utf-8", newline="") as f:
        assert buf.getvalue() == f.read()


def test_beijing_pm25_case_study():
    if not os.path.exists(BEIJING):
        pytest.skip(f"no {BEIJING}")
    s = S.read_csv(BEIJING, ["year", "month", "day", "hour"], ["pm2.5"], None)
    assert len(s) == 43824
    assert s.missing["pm2.5"] == 2067 and int(np.isnan(s.values[:, 0]).sum()) == 2067
    assert s.features == ["DEWP", "TEMP", "PRES", "cbwd", "Iws", "Is", "Ir"]     # "No" is the row number
    assert s.categories == {"cbwd": ["NE", "NW", "SE", "cv"]}
    assert [n for n in s.names if n.startswith("cbwd=")] == ["cbwd=NE", "cbwd=NW", "cbwd=SE", "cbwd=cv"]
    np.testing.assert_array_equal(np.nansum(s.values[:, 4:8], axis=1), 1.0)
    assert B.infer_season(s.time) == 24
    assert not s.gaps and not s.reordered
    assert str(s.time[0]) == "2010-01-01T00:00:00" and str(s.time[-1]) == "2014-12-31T23:00:00"
    assert not s.observed[:24, 0].any() and s.observed[24, 0]
