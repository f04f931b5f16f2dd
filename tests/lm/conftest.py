"""Fixtures that more than one module in tests/lm/ asks for."""
import os

import nltk
import nltk.data
import pytest

from ..helpers import HAVE_PUNKT_TAB, SHARED_NLTK


@pytest.fixture
def punkt_tab(monkeypatch):
    """The English punkt_tab model where the shared NLTK data has it, else nothing
    installed (Punkt is then trained on a small sample by the tests that need one)."""
    path = os.path.abspath(SHARED_NLTK) if HAVE_PUNKT_TAB else "/nonexistent-nltk-data"
    monkeypatch.setattr(nltk.data, "path", [path])
    return HAVE_PUNKT_TAB
