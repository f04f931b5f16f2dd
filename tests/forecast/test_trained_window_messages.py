"""A trained forecaster's history and horizon are fixed: when `rnn forecast eval` or
`predict` gets a CSV too short for one of its windows, the message says how many rows
the file needs, never to shorten the history or the horizon (the advice that fits
`rnn forecast train`, which still gives it)."""
import pytest

from rnncli.errors import DataError
from rnncli.forecast.windows import rows_for, split, windows

from ..helpers import assert_user_error, hourly_series, rnn

H, K = 8, 4




@pytest.fixture(scope="module")
def model(tmp_path_factory):
    d = tmp_path_factory.mktemp("forecaster")
    out = d / "f.npz"
    from ..helpers import main
    try:
        main(["forecast", "train", str(hourly_series(d / "s.csv", 400)), "--target", "y", "--history", str(H),
              "--horizon", str(K), "--hidden-dim", "4", "--epochs", "1", "-o", str(out), "-q"])
    except SystemExit as e:
        assert not e.code
    return out


@pytest.mark.parametrize("part", ["test", "validation"])
def test_eval_on_a_short_file_says_how_many_rows_it_needs(capsys, tmp_path, model, part):
    need = rows_for(part, H + K, 0.1, 0.2)                 # the checkpoint's fractions: the defaults
    r = rnn(capsys, "forecast", "eval", hourly_series(tmp_path / "short.csv", 40), "-m", model, "--part", part, "-q")
    msg = assert_user_error(r, "short.csv", f"history {H} + horizon {K} = {H + K} rows", "fixed when it was trained",
                            f"give at least {need} rows")
    assert "shorten" not in msg
    r = rnn(capsys, "forecast", "eval", hourly_series(tmp_path / "enough.csv", need), "-m", model, "--part", part, "-q")
    assert r.code == 0, r                      # the figure given is enough
    less = hourly_series(tmp_path / "less.csv", need - 1)
    r = rnn(capsys, "forecast", "eval", less, "-m", model, "--part", part, "-q")
    assert r.code == 1, r                      # and no more than enough


def test_predict_on_a_short_file_says_how_many_rows_it_needs(capsys, tmp_path, model):
    r = rnn(capsys, "forecast", "predict", hourly_series(tmp_path / "short.csv", 5), "-m", model, "-q")
    msg = assert_user_error(r, f"reads {H} rows", f"its {K} steps", "fixed when it was trained",
                            f"give at least {H} rows")
    assert "shorten" not in msg
    r = rnn(capsys, "forecast", "predict", hourly_series(tmp_path / "enough.csv", H), "-m", model, "-q")
    assert r.code == 0, r


def part_size(n, part, vf, tf):
    a, b = split(n, vf, tf).parts()[part]
    return b - a


@pytest.mark.parametrize("part", ["test", "validation"])
@pytest.mark.parametrize("vf,tf", [(0.1, 0.2), (0.05, 0.05), (0.3, 0.01)])
def test_rows_for_is_the_fewest_rows(part, vf, tf):
    for need in (1, 5, 12, 100):
        n = rows_for(part, need, vf, tf)
        assert part_size(n, part, vf, tf) >= need and (n == 1 or part_size(n - 1, part, vf, tf) < need)


def test_training_still_suggests_a_shorter_history():
    with pytest.raises(DataError, match="shorten the history or the horizon"):
        windows(20, 16, 8)
    with pytest.raises(DataError, match="fixed when it is trained: give more data"):
        windows(20, 16, 8, trained=True)
