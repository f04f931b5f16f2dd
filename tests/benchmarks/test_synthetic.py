"""benchmarks/synthetic.py's perplexity floors: its probabilities are a distribution and its sampler
draws from it."""
import importlib.util
import os

import numpy as np
import pytest

from rnncli.config import END_ID, START_ID

from ..helpers import TESTS

_PATH = os.path.join(TESTS, "..", "benchmarks", "synthetic.py")
_spec = importlib.util.spec_from_file_location("synthetic_bench", _PATH)
synthetic = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(synthetic)


def _stream(rng, C=9, sentences=60):
    out = []
    for _ in range(sentences):
        n = rng.integers(1, 6)
        out += [START_ID, *rng.integers(3, C, n).tolist(), END_ID]
    return np.array(out)


@pytest.mark.parametrize("order", [1, 2])
def test_probabilities_sum_to_one_over_the_vocabulary(order):
    rng = np.random.default_rng(0)
    C = 9
    src = synthetic.NGramSource(_stream(rng, C), C, order, (0.2, 0.3, 0.5))
    w = np.arange(C)
    for u in range(C):
        for v in [START_ID] + list(range(3, C)):
            p = src.prob(np.full(C, u), np.full(C, v), w)
            assert p[START_ID] == 0
            assert p.sum() == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("order", [1, 2])
def test_sampler_draws_from_the_stated_distribution(order):
    rng = np.random.default_rng(1)
    C = 9
    src = synthetic.NGramSource(_stream(rng, C), C, order, (0.2, 0.3, 0.5))
    u, v = 4, 5
    n = 200_000
    draws = src.sample(np.full(n, u), np.full(n, v), np.random.default_rng(2))
    freq = np.bincount(draws, minlength=C) / n
    p = src.prob(np.full(C, u), np.full(C, v), np.arange(C))
    # 5 standard errors of a binomial proportion
    assert np.all(np.abs(freq - p) <= 5 * np.sqrt(p * (1 - p) / n) + 1e-12)


def test_generated_sentences_and_their_floor():
    rng = np.random.default_rng(3)
    C = 9
    src = synthetic.NGramSource(_stream(rng, C), C, 2, (0.2, 0.3, 0.5))
    sents = synthetic.generate(src, 5000, 3.0, np.random.default_rng(4))
    assert all(s[0] == START_ID and s[-1] == END_ID and START_ID not in s[1:] and END_ID not in s[1:-1]
               for s in sents)
    ce, m = synthetic.floor(src, sents)
    assert m == sum(len(s) - 1 for s in sents)
    # the source's cross-entropy on its own samples is below the unigram model's
    ids = np.concatenate([s[1:] for s in sents])
    uni = np.bincount(ids, minlength=C) / len(ids)
    assert ce < -np.log(uni[ids]).mean()


def test_longdep_floor_is_the_generating_probability():
    keys, fillers, gap = 3, 5, (2, 4)
    sents, words = synthetic.longdep_sentences(300, keys, fillers, gap, np.random.default_rng(5))
    assert len(words) == 2 * keys + fillers
    span = gap[1] - gap[0] + 1
    for s in sents[:50]:
        L = len(s) - 4
        assert gap[0] <= L <= gap[1]
        assert s[-2] - (3 + keys) == s[1] - 3          # the partner matches the key
        ce, m = synthetic.longdep_floor([s], keys, fillers, gap)
        assert m == len(s) - 1
        # P(sentence) = P(key) P(L) P(fillers); partner and end are certain
        assert ce * m == pytest.approx(np.log(keys) + np.log(span) + L * np.log(fillers), rel=1e-12)


def test_teacher_floor_is_its_own_cross_entropy_on_the_sentences():
    """The cross-entropy the teacher reports while sampling equals a separate scoring of
    the same sentences one at a time; START and UNKNOWN are never emitted."""
    rng = np.random.default_rng(1)
    t = synthetic.TeacherRNN(12, 4, rng, logit_scale=3.0, mean_len=5.0)
    sents, (ce, m) = t.sentences(3000, rng, streams=64)
    assert m == sum(len(s) - 1 for s in sents) >= 3000
    assert all(s[0] == START_ID and s[-1] == END_ID and END_ID not in s[1:-1] for s in sents)
    assert not any(np.isin(s[1:], [0, START_ID]).any() for s in sents)
    ce2, m2 = t.score(sents)
    assert m2 == m and ce == pytest.approx(ce2, rel=1e-10)
    assert 3 < np.mean([len(s) - 2 for s in sents]) < 8      # END's bias calibrated to --mean-len


def test_sample_rows_draws_each_row_from_its_distribution():
    rng = np.random.default_rng(2)
    p = np.array([[0.1, 0.2, 0.7, 0.0], [0.25, 0.25, 0.25, 0.25], [0.0, 0.0, 0.0, 1.0]])
    n = 20000
    draws = synthetic.sample_rows(np.repeat(p, n, axis=0), rng).reshape(3, n)
    for row, d in zip(p, draws):
        freq = np.bincount(d, minlength=4) / n
        assert np.all(np.abs(freq - row) <= 5 * np.sqrt(row * (1 - row) / n) + 1e-12)
