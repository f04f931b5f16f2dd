"""Sentences to words: Punkt, then NLTK's Treebank-style word tokenizer, on all cores.
The only Python strings kept are the distinct words."""
from __future__ import annotations

import multiprocessing
import os
import re
from dataclasses import dataclass

import numpy as np

from .splitting import Splitter

_worker: dict = {}
_HAS_WORD = re.compile(r"[^\W_]")  # a letter or digit in any script


def _tokenize_docs(docs: list[str]):
    """Worker: documents -> (local words, int32 ids, int32 words per sentence)."""
    split = _worker["splitter"].tokenize
    words_of = _worker["word_tokenizer"].tokenize
    lower = _worker["lowercase"]
    index: dict[str, int] = {}
    ids: list[int] = []
    lens: list[int] = []
    for doc in docs:
        if lower:
            doc = doc.lower()
        # Punkt decides on case cues, so it sees the text as the user wrote it when
        # case is kept; lowercased text splits slightly worse but consistently.
        for sent in split(doc):
            if not _HAS_WORD.search(sent):
                continue  # only punctuation or symbols ("* * *", "..."): not a sentence
            ws = words_of(sent)
            if not ws:
                continue
            for w in ws:
                ids.append(index.setdefault(w, len(index)))
            lens.append(len(ws))
    return list(index), np.array(ids, np.int32), np.array(lens, np.int32)


@dataclass
class Tokens:
    words: list[str]          # corpus-local dictionary
    ids: np.ndarray           # (n_tokens,) int32 into words
    lengths: np.ndarray       # (n_sentences,) int32 words per sentence

    @property
    def n_sentences(self) -> int:
        return len(self.lengths)


def _chunks(docs: list[str], target_chars: int):
    chunk, size = [], 0
    for d in docs:
        chunk.append(d)
        size += len(d)
        if size >= target_chars:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


def tokenize(docs: list[str], splitter: Splitter, lowercase: bool = True,
             workers: int | None = None, progress=None) -> Tokens:
    """Sentences with Punkt, words with NLTK's Treebank-style tokenizer, on all cores."""
    from nltk.tokenize.destructive import NLTKWordTokenizer
    _worker.update(splitter=splitter.tokenizer, word_tokenizer=NLTKWordTokenizer(), lowercase=lowercase)
    total = sum(len(d) for d in docs)
    workers = workers or os.cpu_count() or 1
    if total < 1_000_000:
        workers = 1
    chunks = list(_chunks(docs, max(50_000, min(2_000_000, total // (8 * workers) + 1))))
    index: dict[str, int] = {}
    words: list[str] = []
    id_parts, len_parts = [], []

    def merge(result, n_chars):
        lw, lids, llens = result
        remap = np.empty(len(lw), np.int32)
        for i, w in enumerate(lw):
            j = index.get(w)
            if j is None:
                j = index[w] = len(words)
                words.append(w)
            remap[i] = j
        id_parts.append(remap[lids] if len(lids) else lids)
        len_parts.append(llens)
        if progress:
            progress(n_chars)

    if workers > 1 and len(chunks) > 1 and "fork" in multiprocessing.get_all_start_methods():
        # fork: the workers inherit the splitter, nothing large is pickled on the way in
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            for chunk, res in zip(chunks, pool.imap(_tokenize_docs, chunks)):
                merge(res, sum(len(d) for d in chunk))
    else:
        for chunk in chunks:
            merge(_tokenize_docs(chunk), sum(len(d) for d in chunk))
    ids = np.concatenate(id_parts) if id_parts else np.zeros(0, np.int32)
    lens = np.concatenate(len_parts) if len_parts else np.zeros(0, np.int32)
    return Tokens(words, ids.astype(np.int32, copy=False), lens.astype(np.int32, copy=False))
