"""Tokenized-corpus files written by `rnn tokenize` (format in docs/commands.md). Every member
is stored uncompressed, so ``load_corpus`` memory-maps the ids (fileio.npz_member)
and a corpus larger than memory is read only as far as it is used."""
from __future__ import annotations

import json
import os

import numpy as np

from ..batching import Encoded
from ..config import N_SPECIALS, SPECIALS
from ..errors import DataError, WriteError
from ..fileio import ArrayChunks, atomic_write_npz_streamed, npz_member, write_failed
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
    """Documented format (docs/commands.md): ids int32 flat with START/END around each sentence,
    offsets int64 (S+1) so sentence i is ids[offsets[i]:offsets[i+1]], vocab str array
    (id -> word), settings JSON, format/version. The ids are written a chunk at a time
    and must be compact (sentence i right after sentence i-1)."""
    step = 1 << 22
    ids = enc.ids
    n = int(enc.starts[-1] + enc.lens[-1]) if enc.n_sentences else 0
    if enc.n_sentences and (enc.starts[0] != 0 or n != len(ids)):
        raise ValueError("save_corpus needs a compact encoding")
    try:
        atomic_write_npz_streamed(path, {
            "format": np.array(CORPUS_FORMAT), "version": np.array(CORPUS_VERSION),
            "ids": ArrayChunks(np.int32, (len(ids),), (ids[a:a + step] for a in range(0, len(ids), step))),
            "offsets": enc.offsets(), "vocab": np.array(vocab.words, dtype=str),
            "settings": np.array(json.dumps(settings, sort_keys=True)),
        })
    except OSError as e:
        raise WriteError(write_failed(path, "the tokenized corpus", e)) from None


def load_corpus(path: str):
    """(Encoded with memory-mapped ids, Vocab, settings dict)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            if int(z["version"]) > CORPUS_VERSION:
                raise DataError(f"{path}: tokenized corpus version {int(z['version'])} is newer than this "
                                f"rnncli reads ({CORPUS_VERSION}); upgrade rnncli")
            vocab = Vocab(z["vocab"].tolist())
            settings = json.loads(str(z["settings"]))
        enc = Encoded.from_offsets(npz_member(path, "ids"), npz_member(path, "offsets"))
    except DataError:
        raise
    except Exception as e:
        raise DataError(f"{path}: not a readable rnncli tokenized corpus ({str(e)[:200]})") from None
    if not isinstance(settings, dict):
        raise DataError(f"{path}: not a readable rnncli tokenized corpus (settings are not a JSON object)")
    if list(vocab.words[:N_SPECIALS]) != list(SPECIALS) or (len(enc.ids) and (enc.ids.min() < 0 or enc.ids.max() >= len(vocab))):
        raise DataError(f"{path}: tokenized corpus is inconsistent (bad vocabulary or ids)")
    if enc.n_sentences and (enc.starts[0] != 0 or (enc.lens < 2).any()
                            or enc.starts[-1] + enc.lens[-1] != len(enc.ids)):
        raise DataError(f"{path}: tokenized corpus is inconsistent (offsets do not match the ids)")
    return enc, vocab, settings
