"""Preparing a language-model run (rnncli/lm/prepare.py): the output layer auto chooses and the class
counts it bins."""
import numpy as np

from rnncli.config import END_ID, START_ID

from ..helpers import toy_corpus


def test_classes_are_binned_on_the_training_sentences_only():
    """The training sentences are a view of the whole corpus's ids: the class counts
    must not include the validation sentences (MPI, which holds compact shares, bins
    the same counts as one process only then)."""
    from rnncli.lm.prepare import target_counts
    from rnncli.lm.vocab import split_validation
    enc, vocab = toy_corpus()
    train, val = split_validation(enc, 0.3)
    assert int(train.lens.sum()) < len(train.ids)            # a view, as in training
    compact = train.subset(np.arange(train.n_sentences))
    want = np.bincount(compact.ids, minlength=len(vocab))
    want[START_ID] = 0
    got = target_counts(train, len(vocab))
    assert np.array_equal(got, want) and got[END_ID] == train.n_sentences
    assert np.array_equal(target_counts(train, len(vocab)) + target_counts(val, len(vocab)),
                          target_counts(enc, len(vocab)))
