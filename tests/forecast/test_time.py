"""The time index (rnncli/forecast/time.py): columns, row numbers, gaps."""
import numpy as np

from rnncli.forecast import series as S

from ..helpers import hourly_csv, write_csv


def test_row_number_rule_needs_the_name_and_consecutive_integers(tmp_path):
    text = "id,t,y,No\n7,1,1.0,1\n3,2,2.0,2\n9,3,3.0,4\n"
    s = S.read_csv(write_csv(tmp_path, text), "t", ["y"], None)
    assert s.features == ["id", "No"]                        # id is not 1,2,3...; No skips a number
    text = "Unnamed: 0,t,y,id\n0,1,1.0,5\n1,2,2.0,6\n2,3,3.0,7\n"
    s = S.read_csv(write_csv(tmp_path, text), "t", ["y"], None)
    assert s.features == [] and s.names == ["y"]
    assert s.time.dtype == np.float64 and s.step == 1.0


def test_time_from_several_columns_and_a_comma_separated_string(tmp_path):
    text = "year,month,day,hour,y\n2012,2,28,23,1\n2012,2,29,0,2\n2012,2,29,2,3\n"
    for time in (["year", "month", "day", "hour"], "year,month,day,hour"):
        s = S.read_csv(write_csv(tmp_path, text), time, "y", [])
        expect = np.array(["2012-02-28T23", "2012-02-29T00", "2012-02-29T02"], dtype="datetime64[s]")
        np.testing.assert_array_equal(s.time, expect)
    assert s.gaps.count == 1 and s.gaps.missing_steps == 1
    assert s.gaps.first == [("2012-02-29T00:00", "2012-02-29T02:00")]
    assert "1 gap (1 missing step)" in str(s.gaps)


def test_gaps_are_counted_and_the_first_few_shown(tmp_path):
    vals = list(range(30))
    lines = hourly_csv(vals).splitlines()
    kept = [lines[0]] + [ln for i, ln in enumerate(lines[1:]) if i not in (5, 6, 7, 20)]
    s = S.read_csv(write_csv(tmp_path, "\n".join(kept)), "time", ["y"])
    assert (s.gaps.count, s.gaps.missing_steps, s.gaps.irregular) == (2, 4, 0)
    assert s.gaps.first[0] == ("2021-03-01T04:00", "2021-03-01T08:00")
    assert len(s) == 26
