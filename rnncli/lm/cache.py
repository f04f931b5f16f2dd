"""The tokenized-corpus cache: one file per (input bytes, encoding, tokenizer settings).

An entry is an .npz (written by fileio.write_npz, every member uncompressed):
    ids      int32 (n,)   corpus-local word ids, all sentences back to back
    lengths  int32 (S,)   words per sentence
    words    uint8        the corpus-local words, UTF-8, separated by "\\n" (no word holds
                          whitespace); one blob, so a million words stay a few megabytes
    meta     JSON string  the sentence splitter used
A hit memory-maps ids and lengths (fileio.npz_member), so a corpus larger than memory
is read only as training touches it."""
from __future__ import annotations

import hashlib
import json
import os

import numpy as np

from ..fileio import ArrayChunks, atomic_write_npz_streamed, npz_member
from .splitting import punkt_json_problem
from .tokenizer import Tokens

# 2: sentences without a letter or digit are dropped
# 3: streamed reading (BOM, CR, NUL normalised), --sentences/--words/--unk-token, encoding in the key
CACHE_VERSION = 3


def default_cache_dir() -> str:
    if os.environ.get("RNNCLI_CACHE_DIR"):
        return os.environ["RNNCLI_CACHE_DIR"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "rnncli")


def cache_key(digests: list[str], settings, csv_column, splitter_sig: str, encoding: str) -> str:
    """``settings`` is a tokenizer.Settings (lowercase, sentences, words, unk_token)."""
    h = hashlib.sha256()
    h.update(json.dumps([CACHE_VERSION, settings.lowercase, csv_column, splitter_sig, encoding,
                         settings.sentences, settings.words, settings.unk_token, list(digests)]).encode())
    return h.hexdigest()[:32]


def load_cached(path: str):
    """(Tokens, meta) of a valid entry; None for a miss. An entry whose contents are
    not what save_cached writes is removed (the caller tokenizes and writes it anew)."""
    if not os.path.isfile(path):
        return None
    try:
        ids = npz_member(path, "ids")
        lengths = npz_member(path, "lengths")
        blob = npz_member(path, "words", mmap=False)
        meta = npz_member(path, "meta", mmap=False)
        if blob.ndim != 1 or blob.dtype != np.uint8 or meta.shape != () or meta.dtype.kind != "U":
            raise ValueError("not an entry save_cached writes")
        text = blob.tobytes().decode("utf-8")
        words = text.split("\n") if text else []
        meta = str(meta)
        if entry_problem(words, ids, lengths, meta) is None:
            return Tokens(words, ids, lengths), json.loads(meta)
    except Exception:  # unreadable: only a miss
        pass
    try:
        os.unlink(path)
    except OSError:
        pass
    return None


def entry_problem(words: list, ids, lengths, meta: str) -> str | None:
    """Why these are not a cache entry save_cached could have written, or None."""
    if len(set(words)) != len(words):
        return "words"
    if ids.ndim != 1 or ids.dtype != np.int32 or lengths.ndim != 1 or lengths.dtype != np.int32:
        return "ids or lengths"
    if len(ids) and (int(ids.min()) < 0 or int(ids.max()) >= len(words)):
        return "ids outside the word list"
    if len(lengths) == 0 or int(lengths.min()) < 1 or int(lengths.sum(dtype=np.int64)) != len(ids):
        return "sentence lengths"
    try:
        m = json.loads(meta)
    except (ValueError, RecursionError):
        return "meta"
    if not isinstance(m, dict) or m.get("kind") not in ("punkt_tab", "trained", "lines"):
        return "meta"
    pj = m.get("params_json")
    if pj is not None and (not isinstance(pj, str) or (m["kind"] == "trained" and punkt_json_problem(pj))):
        return "sentence splitter"
    return None


def save_cached(path: str, tokens: Tokens, meta: dict) -> str | None:
    """Write the entry atomically: None, or why it could not be (a full disk leaves no
    file behind; the cache is optional, so the caller notes it and goes on)."""
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        blob = np.frombuffer("\n".join(tokens.words).encode("utf-8"), np.uint8)
        step = 1 << 22
        ids = tokens.ids
        atomic_write_npz_streamed(path, {
            "ids": ArrayChunks(np.int32, (len(ids),), (ids[a:a + step] for a in range(0, len(ids), step))),
            "lengths": np.asarray(tokens.lengths, np.int32),
            "words": blob,
            "meta": np.array(json.dumps(meta)),
        }, follow_symlinks=False)   # a link in the cache directory must not send a write outside it
        return None
    except OSError as e:
        return e.strerror or str(e)
