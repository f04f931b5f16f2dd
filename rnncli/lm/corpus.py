"""Files to token ids, written once for every command: text is read, split and
tokenized (or taken from the cache), a tokenized corpus from `rnn tokenize` is read as
it is, and either is expressed in a vocabulary.

Everything streams: inputs are read in blocks, tokenized a piece at a time on all
cores, and token ids of a large corpus live in a file (the cache entry, or a
temporary file) that is memory-mapped.

``prog`` is the caller's reporter: ``prog.note(message)`` and ``prog.bar(**tqdm_kwargs)``.
"""
from __future__ import annotations

import os

from ..errors import DataError
from . import cache as tcache
from . import corpusfile, sources, splitting, tokenizer
from .vocab import Vocab, encode, remap_encoded


def check_inputs(paths):
    """Fail before minutes of tokenizing, not after: once per command, by the command."""
    for p in paths:
        if p != "-" and not os.path.exists(p):
            raise DataError(f"{p}: no such file")
        if p.endswith(".npz") and not corpusfile.is_corpus_file(p):
            raise DataError(f"{p}: not a tokenized corpus written by `rnn tokenize` (an .npz is not read as text)")


def describe_corpus(stats: dict, vocab) -> str:
    """The corpus line `rnn train` prints, from build_vocab's statistics."""
    return (f"corpus: {stats['sentences']:,} sentences, {stats['tokens']:,} tokens, "
            f"{stats['distinct_words']:,} distinct words; vocabulary {len(vocab):,} covers "
            f"{100 * stats['coverage']:.2f}% of tokens; least frequent word kept: "
            f"{stats['least_frequent_kept']!r} ({stats['least_frequent_count']}x)")


def _describe(settings: tokenizer.Settings, splitter) -> str:
    s = splitter.describe() if splitter is not None else "one sentence per line (--sentences lines)"
    if settings.words == "whitespace":
        s += "; words split at whitespace (--words whitespace)"
    if settings.unk_token:
        s += f"; {settings.unk_token!r} read as UNKNOWN_TOKEN"
    return s


def read_tokens(paths, settings, stored_splitter: dict | None, use_cache: bool, cache_dir, prog, what="corpus"):
    """Text files -> (Tokens, splitter dict, whether they came from the cache).
    ``settings`` (lm.settings.LMSettings) gives encoding, csv_column, lowercase,
    sentences, words and unk_token; ``stored_splitter`` is a checkpoint's."""
    inputs = [sources.Input(p, settings.encoding) for p in paths]
    for inp in inputs:
        inp.check()
    tok = tokenizer.Settings.of(settings)
    if tok.unk_token is not None and (not tok.unk_token or any(c.isspace() for c in tok.unk_token)):
        raise DataError(f"--unk-token {tok.unk_token!r}: give one word without whitespace")
    streams = [inp for inp in inputs if inp.stream]   # standard input, pipes: read once
    use_cache = use_cache and not streams
    files = [inp for inp in inputs if not inp.stream]
    total = sum(inp.size or 0 for inp in files)
    if files:
        # one read of every file: its digest (the cache key), and errors in the text
        # (encoding, emptiness, damaged .gz) before minutes of tokenizing
        with prog.bar(total=total, unit="B", unit_scale=True, desc="reading") as bar:
            digests = [inp.digest(bar.update) for inp in files]
    path = None
    if use_cache:
        path, hit = _cache_lookup(cache_dir or tcache.default_cache_dir(), digests, tok, settings, stored_splitter)
        if hit:
            prog.note(f"{what}: tokenized corpus read from the cache ({path}); sentence splitter was "
                      f"{_described_meta(hit[1])}")
            return hit[0], hit[1], True
    tokens, splitter = _tokenize(inputs, tok, settings.csv_column, stored_splitter, spill_dir(use_cache, cache_dir),
                                 total, bool(streams), prog)
    # said once the text has been read: an error in it is then the only line
    prog.note(f"{what}: sentence splitter: {_describe(tok, splitter)}")
    for inp in inputs:
        if inp.detected:
            prog.note(f"note: {inp.name} starts with a {inp.detected.upper()} byte-order mark; read as {inp.detected}")
    meta = {"kind": splitter.kind, "params_json": splitter.params_json} if splitter else {"kind": "lines"}
    why = tcache.save_cached(path, tokens, meta) if use_cache else None
    if why:
        prog.note(f"note: could not write the tokenization cache {path} ({why}); going on without it, "
                  f"nothing was left there")
    return tokens, meta, False


def _splitter_signature(tok: tokenizer.Settings, stored_splitter: dict | None) -> str:
    """What the cache key says of the sentence splitter that will split this text."""
    if tok.sentences != "punkt":
        return "lines"
    if stored_splitter and stored_splitter.get("kind") == "trained":
        return splitting.Splitter("trained", stored_splitter.get("params_json")).signature()
    return "punkt_tab" if splitting.punkt_tab_available() else "trained-on-input"


def _described_meta(meta: dict) -> str:
    if meta.get("kind") in ("punkt_tab", "trained"):
        return splitting.Splitter(meta["kind"], meta.get("params_json")).describe()
    return "one sentence per line"


def _cache_lookup(cdir: str, digests: list, tok: tokenizer.Settings, settings, stored_splitter: dict | None):
    """(the cache entry's path for these files, (Tokens, meta) if it holds them, else None)."""
    def entry(sig):
        return os.path.join(cdir, tcache.cache_key(digests, tok, settings.csv_column, sig, settings.encoding) + ".npz")
    sig = _splitter_signature(tok, stored_splitter)
    path = entry(sig)
    hit = tcache.load_cached(path)
    if not hit and sig.startswith("trained:"):
        # `rnn train` cached this text under the Punkt it trained on it; a checkpoint
        # that stores that same Punkt (eval, tokenize -m, resume) reads the same entry
        hit = tcache.load_cached(entry("trained-on-input"))
        if hit and hit[1].get("params_json") != stored_splitter.get("params_json"):
            hit = None
    return path, hit


def _tokenize(inputs, tok: tokenizer.Settings, csv_column, stored_splitter, spill, total: int, streams: bool, prog):
    """Split and tokenize the inputs on all cores -> (Tokens, the splitter or None);
    ``total``: the bytes of the files among them, ``streams``: whether some are pipes."""
    splitter = None
    if tok.sentences == "punkt":
        if stored_splitter and stored_splitter.get("kind") == "punkt_tab" and not splitting.punkt_tab_available():
            prog.note("note: the model was trained with the installed punkt_tab model, which is not installed "
                      "here; splitting sentences with Punkt trained on this text instead")
        splitter = splitting.make_splitter(
            lambda: sources.documents_text(inputs, csv_column, splitting.PUNKT_TRAIN_CHARS), stored_splitter)
    rate = tokenizer.Rate()
    names = [inp.name for inp in inputs]
    with prog.bar(total=total or None, unit="B", unit_scale=True, desc="tokenizing") as bar:
        def progress(raw_pos, n_words):
            if raw_pos > bar.n:
                bar.update(raw_pos - bar.n)
            if not bar.disable:
                bar.set_postfix_str(rate(n_words), refresh=False)
        tokens = tokenizer.tokenize(
            sources.fragments(inputs, csv_column), splitter, tok.lowercase, progress=progress,
            sentences=tok.sentences, words=tok.words, unk_token=tok.unk_token, spill_dir=spill, names=names,
            total_chars=None if streams else total)
    if tokens.n_sentences == 0:
        for inp in inputs:
            if inp.stream and not inp.seen_text:
                raise DataError(f"{inp.name}: is empty")
        raise DataError(f"{', '.join(names)}: no sentences found")
    return tokens, splitter


def spill_dir(use_cache: bool, cache_dir) -> str | None:
    """Where large temporary token-id files go: the cache directory when it is used (a
    disk the user chose for corpora), else the system's temporary directory."""
    if not use_cache:
        return None
    d = cache_dir or tcache.default_cache_dir()
    try:
        os.makedirs(d, exist_ok=True)
    except OSError:
        return None
    return d


def is_single_corpus_file(paths) -> bool:
    return len(paths) == 1 and corpusfile.is_corpus_file(paths[0])


def encode_files(paths, vocab: Vocab, settings, stored_splitter: dict | None, use_cache: bool, cache_dir, prog,
                 what="corpus"):
    """FILE... in the vocabulary ``vocab`` -> (Encoded, word tokens that became
    UNKNOWN_TOKEN, splitter dict or None for a tokenized corpus); ``settings`` as
    read_tokens takes them."""
    if is_single_corpus_file(paths):
        enc, cvocab, _ = corpusfile.load_corpus(paths[0])
        if cvocab.words == vocab.words:
            from .vocab import count_words
            return enc, count_words(enc)[1], None
        enc, oov = remap_encoded(enc, cvocab, vocab)
        return enc, oov, None
    tokens, splitter, _ = read_tokens(paths, settings, stored_splitter, use_cache, cache_dir, prog, what)
    enc, oov = encode(tokens, vocab, spill_dir(use_cache, cache_dir))
    return enc, oov, splitter
