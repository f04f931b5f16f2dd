"""Tokenized-corpus files written by `rnn tokenize` (format in the README)."""
from __future__ import annotations

import json
import os

import numpy as np

from ..batching import Encoded
from ..config import N_SPECIALS, SPECIALS
from ..errors import DataError
from ..fileio import atomic_write_npz
from .vocab import Vocab

CORPUS_FORMAT = "rnncli-corpus"
CORPUS_VERSION = 1


def is_corpus_file(path: str) -> bool:
    if path == "-" or not path.endswith(".npz") or not os.path.isfile(path):
        return False
    try:
        with np.load(path, allow_pickle=False) as z:
            return "format" in z.files and str(z["format"]) == CORPUS_FORMAT
    except Exception:
        return False


def save_corpus(path: str, enc: Encoded, vocab: Vocab, settings: dict):
    """Documented format (README): ids int32 flat with START/END around each sentence,
    offsets int64 (S+1) so sentence i is ids[offsets[i]:offsets[i+1]], vocab str array
    (id -> word), settings JSON, format/version."""
    atomic_write_npz(path, {
        "format": np.array(CORPUS_FORMAT), "version": np.array(CORPUS_VERSION),
        "ids": enc.ids, "offsets": enc.offsets(), "vocab": np.array(vocab.words, dtype=str),
        "settings": np.array(json.dumps(settings, sort_keys=True)),
    })


def load_corpus(path: str):
    try:
        with np.load(path, allow_pickle=False) as z:
            if int(z["version"]) > CORPUS_VERSION:
                raise DataError(f"{path}: tokenized corpus version {int(z['version'])} is newer than this "
                                f"rnncli reads ({CORPUS_VERSION}); upgrade rnncli")
            vocab = Vocab(z["vocab"].tolist())
            enc = Encoded.from_offsets(z["ids"], z["offsets"])
            settings = json.loads(str(z["settings"]))
    except DataError:
        raise
    except Exception as e:
        raise DataError(f"{path}: not a readable rnncli tokenized corpus ({e})") from None
    if list(vocab.words[:N_SPECIALS]) != list(SPECIALS) or (len(enc.ids) and (enc.ids.min() < 0 or enc.ids.max() >= len(vocab))):
        raise DataError(f"{path}: tokenized corpus is inconsistent (bad vocabulary or ids)")
    return enc, vocab, settings
