"""Files to token ids, written once for every command: text is read, split and
tokenized (or taken from the cache), a tokenized corpus from `rnn tokenize` is read as
it is, and either is expressed in a vocabulary.

``prog`` is the caller's reporter: ``prog.note(message)`` and ``prog.bar(**tqdm_kwargs)``.
"""
from __future__ import annotations

import os

from ..errors import DataError
from . import cache as tcache
from . import corpusfile, sources, splitting, tokenizer
from .vocab import Vocab, encode, remap_encoded


def check_inputs(paths):
    """Fail before minutes of tokenizing, not after."""
    for p in paths:
        if p != "-" and not os.path.exists(p):
            raise DataError(f"{p}: no such file")
        if p.endswith(".npz") and not corpusfile.is_corpus_file(p):
            raise DataError(f"{p}: not a tokenized corpus written by `rnn tokenize` (an .npz is not read as text)")


def read_tokens(paths, cfg, stored_splitter: dict | None, use_cache: bool, cache_dir, prog, what="corpus"):
    """Text files -> (Tokens, splitter dict, whether they came from the cache). ``cfg``
    gives encoding, csv_column and lowercase; ``stored_splitter`` is a checkpoint's."""
    check_inputs(paths)
    srcs = [sources.read_source(p, cfg.encoding) for p in paths]
    if stored_splitter and stored_splitter.get("kind") == "trained":
        sig = splitting.Splitter("trained", stored_splitter.get("params_json")).signature()
    else:
        sig = "punkt_tab" if splitting.punkt_tab_available() else "trained-on-input"
    use_cache = use_cache and "<stdin>" not in [s.name for s in srcs]
    path = None
    if use_cache:
        key = tcache.cache_key(srcs, cfg.lowercase, cfg.csv_column, sig)
        path = os.path.join(cache_dir or tcache.default_cache_dir(), key + ".npz")
        hit = tcache.load_cached(path)
        if hit:
            tokens, meta = hit
            prog.note(f"{what}: tokenized corpus read from the cache ({path}); sentence splitter was "
                      f"{splitting.Splitter(meta['kind'], meta.get('params_json')).describe()}")
            return tokens, {"kind": meta["kind"], "params_json": meta.get("params_json")}, True
    docs = []
    for s in srcs:
        docs.extend(sources.documents(s, cfg.csv_column))
    if not docs:
        raise DataError(f"{', '.join(s.name for s in srcs)}: no text found")
    if stored_splitter and stored_splitter.get("kind") == "punkt_tab" and not splitting.punkt_tab_available():
        prog.note("note: the model was trained with the installed punkt_tab model, which is not installed "
                  "here; splitting sentences with Punkt trained on this text instead")
    splitter = splitting.make_splitter(docs, stored_splitter)
    prog.note(f"{what}: sentence splitter: {splitter.describe()}")
    total = sum(len(d) for d in docs)
    with prog.bar(total=total, unit="char", unit_scale=True, desc="tokenizing") as bar:
        tokens = tokenizer.tokenize(docs, splitter, cfg.lowercase, progress=bar.update)
    if tokens.n_sentences == 0:
        raise DataError(f"{', '.join(s.name for s in srcs)}: no sentences found")
    meta = {"kind": splitter.kind, "params_json": splitter.params_json}
    if use_cache and not tcache.save_cached(path, tokens, meta):
        prog.note(f"note: could not write the tokenization cache in {os.path.dirname(path)}")
    return tokens, meta, False


def is_single_corpus_file(paths) -> bool:
    return len(paths) == 1 and corpusfile.is_corpus_file(paths[0])


def encode_files(paths, vocab: Vocab, cfg, stored_splitter: dict | None, use_cache: bool, cache_dir, prog,
                 what="corpus"):
    """FILE... in the vocabulary ``vocab`` -> (Encoded, word tokens that became
    UNKNOWN_TOKEN, splitter dict or None for a tokenized corpus)."""
    if is_single_corpus_file(paths):
        enc, cvocab, _ = corpusfile.load_corpus(paths[0])
        enc, oov = remap_encoded(enc, cvocab, vocab)
        return enc, oov, None
    tokens, splitter, _ = read_tokens(paths, cfg, stored_splitter, use_cache, cache_dir, prog, what)
    enc, oov = encode(tokens, vocab)
    return enc, oov, splitter
