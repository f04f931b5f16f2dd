"""Sentence splitting with NLTK's Punkt: the installed punkt_tab model, or one trained
on the text (and stored in checkpoints so scoring splits the same way). Never downloads."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass


def punkt_tab_available() -> bool:
    import nltk.data
    try:
        nltk.data.find("tokenizers/punkt_tab/english/")
        return True
    except (LookupError, OSError, ValueError):
        return False


def punkt_to_json(params) -> str:
    return json.dumps({
        "abbrev_types": sorted(params.abbrev_types),
        "collocations": sorted(list(c) for c in params.collocations),
        "sent_starters": sorted(params.sent_starters),
        "ortho_context": dict(sorted(params.ortho_context.items())),
    })


def punkt_json_problem(text: str) -> str | None:
    """What makes ``text`` unusable as stored Punkt parameters (untrusted input), or None."""
    try:
        raw = json.loads(text)
    except (ValueError, RecursionError):
        return "its parameters are not valid JSON"
    if not isinstance(raw, dict):
        return "its parameters are not a JSON object"
    for k in ("abbrev_types", "sent_starters"):
        if not isinstance(raw.get(k), list) or not all(isinstance(x, str) for x in raw[k]):
            return f"{k} is not a list of strings"
    col = raw.get("collocations")
    if not isinstance(col, list) or not all(isinstance(c, list) and len(c) == 2 and all(isinstance(w, str) for w in c)
                                            for c in col):
        return "collocations is not a list of word pairs"
    oc = raw.get("ortho_context")
    if not isinstance(oc, dict) or not all(isinstance(v, int) and not isinstance(v, bool) for v in oc.values()):
        return "ortho_context is not a map of words to integers"
    return None


def punkt_from_json(text: str):
    from nltk.tokenize.punkt import PunktParameters
    raw = json.loads(text)
    p = PunktParameters()
    p.abbrev_types = set(raw["abbrev_types"])
    p.collocations = {tuple(c) for c in raw["collocations"]}
    p.sent_starters = set(raw["sent_starters"])
    for k, v in raw["ortho_context"].items():
        p.ortho_context[k] = int(v)
    return p


@dataclass
class Splitter:
    """The sentence splitter and how it was obtained, so a checkpoint can rebuild it."""
    kind: str                 # "punkt_tab" (installed English model) or "trained"
    params_json: str | None   # the trained Punkt parameters
    tokenizer: object = None

    def describe(self) -> str:
        if self.kind == "punkt_tab":
            return "NLTK Punkt, installed English punkt_tab model"
        return "NLTK Punkt, trained unsupervised on the corpus (punkt_tab model not installed)"

    def signature(self) -> str:
        return self.kind + ":" + hashlib.sha256((self.params_json or "").encode()).hexdigest()


PUNKT_TRAIN_CHARS = 4_000_000  # Punkt's statistics settle long before this


def make_splitter(texts: list[str], stored: dict | None = None) -> Splitter:
    """The installed punkt_tab model if there is one; otherwise parameters stored in a
    checkpoint; otherwise Punkt trained on the text itself. Never downloads."""
    from nltk.tokenize.punkt import PunktSentenceTokenizer, PunktTrainer
    if stored and stored.get("kind") == "trained" and stored.get("params_json"):
        params_json = stored["params_json"]
        return Splitter("trained", params_json, PunktSentenceTokenizer(punkt_from_json(params_json)))
    if punkt_tab_available():
        from nltk.tokenize.punkt import PunktTokenizer
        try:
            return Splitter("punkt_tab", None, PunktTokenizer("english"))
        except (LookupError, OSError, ValueError):
            pass
    sample, size = [], 0
    for t in texts:
        sample.append(t[: PUNKT_TRAIN_CHARS - size])
        size += len(sample[-1])
        if size >= PUNKT_TRAIN_CHARS:
            break
    trainer = PunktTrainer()
    trainer.train("\n\n".join(sample), finalize=True)
    params = trainer.get_params()
    return Splitter("trained", punkt_to_json(params), PunktSentenceTokenizer(params))
