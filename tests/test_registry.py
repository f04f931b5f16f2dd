"""The registry of choices (rnncli/registry.py): every default setting and the version-1 fixture's pass
its checks."""
import os

from rnncli import checkpoint, registry
from rnncli.config import RANGES, Config
from rnncli.lm import settings as lm_settings
from rnncli.lm.settings import LMSettings


def test_settings_problem_accepts_every_default_and_the_v1_fixture():
    assert registry.problem(Config(), RANGES) is None
    assert registry.problem(Config(epochs=None, max_time=None, threads=None), RANGES) is None
    assert registry.problem(LMSettings(csv_column=None, unk_token=None), lm_settings.RANGES) is None
    ck = checkpoint.load(os.path.join(os.path.dirname(__file__), "fixtures", "v1_model.npz"))
    assert registry.problem(ck.config, RANGES) is None
    assert registry.problem(ck.task.settings, lm_settings.RANGES) is None
