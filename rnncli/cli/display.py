"""What the commands show besides their results: progress bars and notes on standard
error (Progress, silent with --quiet), and JSON that every parser reads (json_text)."""
from __future__ import annotations

import math
import sys

import click


class Progress:
    """tqdm bars on standard error; silent with --quiet or when stderr is not a terminal."""

    def __init__(self, quiet: bool):
        self.quiet = quiet

    def bar(self, **kw):
        from tqdm import tqdm
        return tqdm(file=sys.stderr, disable=True if self.quiet else None, dynamic_ncols=True,
                    leave=False, **kw)

    def note(self, msg):
        if not self.quiet:
            click.echo(msg, err=True)


def json_text(obj, **kw) -> str:
    """JSON that every parser reads: a non-finite number becomes null, and the object
    holding it gains "non_finite": {field: "inf" | "-inf" | "nan"} saying what it was."""
    import json

    def clean(o):
        if isinstance(o, float) and not math.isfinite(o):
            return None
        if isinstance(o, dict):
            bad = {str(k): repr(v) for k, v in o.items() if isinstance(v, float) and not math.isfinite(v)}
            out = {k: clean(v) for k, v in o.items()}
            if bad:
                out["non_finite"] = bad
            return out
        if isinstance(o, (list, tuple)):
            return [clean(v) for v in o]
        return o
    return json.dumps(clean(obj), allow_nan=False, **kw)
