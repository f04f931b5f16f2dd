"""The tokenized-corpus cache: one entry per (input bytes, tokenizer settings)."""
from __future__ import annotations

import hashlib
import json
import os

import numpy as np

from ..fileio import atomic_write_npz
from .sources import Source
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
    try:
        with np.load(path, allow_pickle=False) as z:
            t = Tokens(z["words"].tolist(), z["ids"].astype(np.int32), z["lengths"].astype(np.int32))
            meta = json.loads(str(z["meta"]))
        return t, meta
    except Exception:  # a damaged cache entry is only a miss
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
