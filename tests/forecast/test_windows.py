"""The chronological split and the forecasting windows (rnncli/forecast/windows.py)."""
import numpy as np
import pytest

from rnncli.errors import DataError
from rnncli.forecast import windows as Wn


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
