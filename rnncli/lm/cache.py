"""The tokenized-corpus cache: one entry per (input bytes, tokenizer settings)."""
from __future__ import annotations

import hashlib
import json
import os

import numpy as np

from ..fileio import atomic_write_npz, npz_headers
from .sources import Source
from .splitting import punkt_json_problem
from .tokenizer import Tokens

CACHE_VERSION = 2  # 2: sentences without a letter or digit are dropped


def default_cache_dir() -> str:
    if os.environ.get("RNNCLI_CACHE_DIR"):
        return os.environ["RNNCLI_CACHE_DIR"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "rnncli")


def cache_key(sources: list[Source], lowercase: bool, csv_column, splitter_sig: str) -> str:
    h = hashlib.sha256()
    h.update(json.dumps([CACHE_VERSION, lowercase, csv_column, splitter_sig,
                         [s.digest for s in sources]]).encode())
    return h.hexdigest()[:32]


def load_cached(path: str):
    """(Tokens, meta) of a valid entry; None for a miss. An entry whose contents are
    not what save_cached writes is removed (the caller tokenizes and writes it anew)."""
    if not os.path.isfile(path):
        return None
    try:
        npz_headers(path, allowed_kinds="iuU")
        with np.load(path, allow_pickle=False) as z:
            words, ids, lengths, meta = z["words"], z["ids"], z["lengths"], z["meta"]
        if entry_problem(words, ids, lengths, meta) is None:
            return (Tokens(words.tolist(), ids.astype(np.int32), lengths.astype(np.int32)),
                    json.loads(str(meta)))
    except Exception:  # unreadable: only a miss
        pass
    try:
        os.unlink(path)
    except OSError:
        pass
    return None


def entry_problem(words, ids, lengths, meta) -> str | None:
    """Why these arrays are not a cache entry save_cached could have written, or None."""
    if words.ndim != 1 or words.dtype.kind != "U" or len(set(words.tolist())) != len(words):
        return "words"
    if ids.ndim != 1 or ids.dtype.kind not in "iu" or lengths.ndim != 1 or lengths.dtype.kind not in "iu":
        return "ids or lengths"
    if len(ids) and (ids.min() < 0 or ids.max() >= len(words)):
        return "ids outside the word list"
    if len(lengths) == 0 or lengths.min() < 1 or int(lengths.sum(dtype=np.int64)) != len(ids):
        return "sentence lengths"
    if meta.shape != () or meta.dtype.kind != "U":
        return "meta"
    try:
        m = json.loads(str(meta))
    except (ValueError, RecursionError):
        return "meta"
    if not isinstance(m, dict) or m.get("kind") not in ("punkt_tab", "trained"):
        return "meta"
    pj = m.get("params_json")
    if pj is not None and (not isinstance(pj, str) or (m["kind"] == "trained" and punkt_json_problem(pj))):
        return "sentence splitter"
    return None


def save_cached(path: str, tokens: Tokens, meta: dict):
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        atomic_write_npz(path, {"words": np.array(tokens.words, dtype=str) if tokens.words else np.zeros(0, "U1"),
                                "ids": tokens.ids, "lengths": tokens.lengths,
                                "meta": np.array(json.dumps(meta))})
        return True
    except OSError:
        return False
