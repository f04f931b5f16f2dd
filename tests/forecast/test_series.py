"""A CSV file read as a time series (rnncli/forecast/series.py): layouts, the bundled and case-study
series, and one-line errors for bad files."""
import io
import os
import re

import numpy as np
import pytest

from rnncli.errors import DataError
from rnncli.forecast import baselines as B
from rnncli.forecast import features as Fe
from rnncli.forecast import series as S
from rnncli.forecast import time as Ti
from rnncli.forecast import windows as Wn

from ..helpers import REPO, series_csv, setup_for, write_csv


def test_time_columns_are_guessed_from_the_one_reading_of_the_file(tmp_path, monkeypatch):
    """Without --time the time column(s) come from the header of the table that is then
    read as the series: the file is read once."""
    from rnncli.forecast.table import Table
    made = []
    init = Table.__init__

    def counting(self, path, *a):
        made.append(path)
        init(self, path, *a)
    monkeypatch.setattr(Table, "__init__", counting)
    s = setup_for(series_csv(tmp_path / "a.csv"), time=[])
    assert s.task.data.settings.time == ["time"] and len(made) == 1
    parts = tmp_path / "p.csv"
    parts.write_text("Year,Month,Day,Hour,y\n" + "".join(f"2020,1,{1 + i // 24},{i % 24},{i % 5}\n"
                                                         for i in range(120)))
    s = setup_for(parts, time=[], features=[])
    assert s.task.data.settings.time == ["Year", "Month", "Day", "Hour"] and len(made) == 2


BEIJING = os.path.join(REPO, "..", "shared", "timeseries", "beijing-pm25", "PRSA_data_2010.1.1-2014.12.31.csv")
BUNDLED = os.path.join(REPO, "data", "series.csv")


def test_read_crlf_bom_quotes_sorting_onehot_and_row_number(tmp_path):
    text = ("\ufeffNo,date,\"load, kW\",temp,wind\r\n"
            "1,2021-01-01 02:00,3.5,\"1.5\",N\r\n"
            "2,2021-01-01 00:00,1.5,-1,S\r\n"
            "3,2021-01-01 01:00,,0.5,\"N\"\r\n"
            "4,2021-01-01T03:00,4.5,NA,\r\n")
    s = S.read_csv(write_csv(tmp_path, text), "date", ["load, kW"], None)
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


def test_semicolon_delimiter_and_features_listed_with_the_target(tmp_path):
    text = "t;y;x\n1;1,5;2\n2;3;4\n"               # "1,5": a decimal comma is not a number
    with pytest.raises(DataError, match=r"target column 'y' is not numeric: line 2 has '1,5'"):
        S.read_csv(write_csv(tmp_path, text), "t", ["y"])
    text = "t;y;x\n1;1.5;2\n2;3;4\n"
    s = S.read_csv(write_csv(tmp_path, text), "t", ["y"], ["x", "y"])
    assert s.names == ["y", "x"]


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
    path = write_csv(tmp_path, None, raw=raw)
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
    bad_day = write_csv(tmp_path, "year,month,day,y\n2010,2,28,1\n2010,2,30,2\n")
    with pytest.raises(DataError, match=r"line 3: 2010-02-30 is not a date$"):
        S.read_csv(bad_day, ["year", "month", "day"], ["y"])
    bad_hour = write_csv(tmp_path, "year,month,day,hour,y\n2010,2,28,1,1\n2010,2,28,24,2\n")
    with pytest.raises(DataError, match=r"'hour' \(the hour\) has 24 on line 3; expected 0 to 23$"):
        S.read_csv(bad_hour, ["year", "month", "day", "hour"], ["y"])
    many = "t,y,x\n" + "".join(f"{i},{i},v{i}\n" for i in range(80))
    with pytest.raises(DataError, match=r"column 'x' has 80 distinct non-numeric values \(line 2 has 'v0'\)"):
        S.read_csv(write_csv(tmp_path, many), "t", ["y"])
    wide = ",".join(["t", "y"] + [f"column_with_a_long_name_{i}" for i in range(40)])
    with pytest.raises(DataError) as e:
        S.read_csv(write_csv(tmp_path, wide + "\n" + ",".join(["1"] * 42) + "\n"), "t", ["nothere"])
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
        S.read_csv(write_csv(tmp_path, "t,y\n1,2\n2,3\n"), "t", ["y"], encoding="nope-8")
    with pytest.raises(DataError, match=r"unknown encoding"):
        S.read_csv(write_csv(tmp_path, "t,y\n1,2\n2,3\n"), "t", ["y"], encoding="utf\x008")


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
