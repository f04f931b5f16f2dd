"""Hypothesis profiles for the fuzz suite (tests/test_fuzz.py). "default": the same
examples on every run (derandomize), no example database written to the work tree, no
per-example deadline (a CLI run's time varies with the machine's load). Set
RNNCLI_HYPOTHESIS_PROFILE=explore for fresh random examples."""
import os

try:
    from hypothesis import HealthCheck, settings
except ImportError:  # not installed (`pip install -e '.[test]'` brings it): test_fuzz.py is skipped
    settings = None

if settings is not None:
    _common = dict(deadline=None, database=None, print_blob=True,
                   suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                          HealthCheck.data_too_large, HealthCheck.filter_too_much])
    settings.register_profile("default", derandomize=True, **_common)
    settings.register_profile("explore", derandomize=False, **_common)
    settings.load_profile(os.environ.get("RNNCLI_HYPOTHESIS_PROFILE", "default"))
