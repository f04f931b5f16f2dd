"""Reading the input on several processes (`mpiexec -n N rnn train`): each process
reads and tokenizes only its share, the word counts are merged so that every process
builds the same vocabulary, and each keeps only its share of the encoded sentences.
Every step below runs in every process, at the same point.

What the shares assume:
- The inputs are files every process can read at the same path (a shared file
  system, or copies), of the same size on every process (checked: same_files).
  Standard input cannot be shared.
- The files, taken in the order given, are cut into N byte ranges of about equal
  size. A cut is moved forward to the end of the next blank line (where `rnn train`
  starts a new document anyway), so every process tokenizes whole documents and the
  shares together give the tokens one process would read, in the same order (only
  whitespace at a document's start can differ, which the tokenizer ignores). When
  no blank line follows within 4 MiB the cut falls after the next line break, and a
  sentence that runs across that line break is split in two (when the file ends
  within 4 MiB instead, the cut is its end).
- Files that cannot be cut at a byte offset go whole to the share in which they
  start: .gz files, CSV with --csv-column, and encodings in which a line break is not
  the byte 0x0A (UTF-16, UTF-32).
- The Punkt sentence splitter, when no punkt_tab model is installed, is trained by
  rank 0 on the first 4 million characters of the input (as one process does, reading
  up to 16 MiB beyond its share for it) and sent to the others.
- A tokenized corpus from `rnn tokenize` is read whole by every process (numpy
  reads the arrays whole), which then keeps its contiguous share of sentences.
- The tokenization cache is not used.
The validation sentences are the same ones one process would hold out (the split is
taken over global sentence numbers); each process scores its share of them.
"""
from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass

import numpy as np

from ..batching import Encoded
from ..dist import SharedError, settle
from ..errors import DataError
from . import corpus, corpusfile, sources, splitting, tokenizer
from .vocab import encode, remap_encoded, validation_indices, vocab_from_counts

_SEP = re.compile(rb"\n[ \t\r\f\v]*\n")   # sources.documents' document separator, on bytes
SCAN = 4 << 20                            # bytes searched for a blank line after a nominal cut
PUNKT_PREFIX = 4 * splitting.PUNKT_TRAIN_CHARS   # bytes that hold Punkt's training characters


@dataclass
class Piece:
    path: str
    start: int
    end: int | None          # None: the whole file, read by sources.read_source (.gz, CSV, ...)


def _splittable(path: str, encoding: str, csv_column) -> bool:
    if csv_column is not None or path.endswith(".gz"):
        return False
    try:
        return "\n\n".encode(encoding) == b"\n\n"
    except (LookupError, ValueError):           # ValueError: a NUL in the name
        raise DataError(f"unknown encoding {encoding!r}") from None


def _sizes(paths) -> list[int]:
    out = []
    for p in paths:
        if p == "-":
            raise DataError("standard input ('-') cannot be read by several processes; give files")
        if not os.path.exists(p):
            raise DataError(f"{p}: no such file")
        if os.path.isdir(p):
            raise DataError(f"{p}: is a directory; give the text files inside it")
        n = os.path.getsize(p)
        if n == 0:
            raise DataError(f"{p}: is empty")
        out.append(n)
    return out


def _next_cut(path: str, off: int, size: int) -> int:
    """The first document boundary at or after byte ``off`` of a file: the end of a
    blank-line separator; failing one within SCAN bytes, just after a line break."""
    first_nl = -1
    with open(path, "rb") as f:
        f.seek(off)
        pos, tail = off, b""
        while pos < size and pos - off < SCAN:
            chunk = f.read(min(1 << 16, SCAN, size - pos))
            if not chunk:
                break
            buf = tail + chunk
            base = pos - len(tail)
            m = _SEP.search(buf)
            if m:
                return base + m.end()
            if first_nl < 0 and b"\n" in chunk:
                first_nl = pos + chunk.index(b"\n")
            j = buf.rfind(b"\n")
            tail = buf[j:] if j >= 0 else b""
            pos += len(chunk)
    # no blank line: the end of the file if it came first (exact), else after a line break
    return first_nl + 1 if first_nl >= 0 and pos < size else size


class Layout:
    """The input files end to end, as one byte range that shares are cut from."""

    def __init__(self, paths, encoding: str = "utf-8", csv_column=None):
        self.paths = list(paths)
        self.sizes = _sizes(self.paths)
        self.starts = np.r_[0, np.cumsum(self.sizes)[:-1]].astype(np.int64)
        self.ok = [_splittable(p, encoding, csv_column) for p in self.paths]
        self.total = int(sum(self.sizes))

    def align(self, c: int) -> int:
        """The first position at or after byte ``c`` where a share may begin."""
        if c >= self.total:
            return self.total
        i = int(np.searchsorted(self.starts, c, side="right")) - 1
        off = c - int(self.starts[i])
        if off == 0:
            return c
        if not self.ok[i]:
            return int(self.starts[i]) + self.sizes[i]
        try:
            return int(self.starts[i]) + _next_cut(self.paths[i], off, self.sizes[i])
        except OSError as e:
            raise DataError(f"{self.paths[i]}: cannot read ({e.strerror or e})") from None

    def cuts(self, n: int) -> list[int]:
        """Where the shares of ``n`` processes begin, and the end."""
        cuts = [0]
        for k in range(1, n):
            cuts.append(self.align(max(cuts[-1], k * self.total // n)))
        return cuts + [self.total]

    def pieces(self, a: int, b: int) -> list[Piece]:
        out = []
        for p, s0, n, splittable in zip(self.paths, self.starts, self.sizes, self.ok):
            lo, hi = max(a, int(s0)), min(b, int(s0) + n)
            if lo < hi:
                out.append(Piece(p, lo - int(s0), hi - int(s0)) if splittable else Piece(p, 0, None))
        return out


def plan(paths, n: int, encoding: str = "utf-8", csv_column=None) -> list[list[Piece]]:
    """The pieces each of ``n`` processes reads (the same on every process)."""
    lay = Layout(paths, encoding, csv_column)
    cuts = lay.cuts(n)
    return [lay.pieces(cuts[r], cuts[r + 1]) for r in range(n)]


def read_docs(pieces, encoding: str = "utf-8", csv_column=None) -> list[str]:
    """The documents of some pieces, in order."""
    docs = []
    for pc in pieces:
        if pc.end is None:
            docs.extend(sources.documents(sources.read_source(pc.path, encoding), csv_column))
            continue
        try:
            with open(pc.path, "rb") as f:
                f.seek(pc.start)
                raw = f.read(pc.end - pc.start)
        except OSError as e:
            raise DataError(f"{pc.path}: cannot read ({e.strerror})") from None
        try:
            text = raw.decode(encoding)
        except UnicodeError as e:
            raise sources.decode_error(pc.path, encoding, e, pc.start) from None
        docs.extend(sources.documents(sources.Source(pc.path, text, ""), None))
    return docs


def _workers(comm) -> int:
    return max(1, (os.cpu_count() or 1) // getattr(comm, "local_size", 1))


def read_share(paths, settings, comm, stored_splitter, prog, what="corpus"):
    """This process's share of text FILE... as Tokens, and the sentence splitter (the
    same on every process, as a dict); ``settings``: an lm.settings.LMSettings. Every
    process calls it."""
    names = ", ".join(paths)
    lay = settle(comm, Layout, paths, settings.encoding, settings.csv_column)
    same_files(comm, paths, lay.sizes)

    def read():
        cuts = lay.cuts(comm.size)
        docs = read_docs(lay.pieces(cuts[comm.rank], cuts[comm.rank + 1]), settings.encoding, settings.csv_column)
        meta = None
        if comm.rank == 0:
            sample = docs
            trains_punkt = not (stored_splitter and stored_splitter.get("kind") == "trained") \
                and not splitting.punkt_tab_available()
            end = lay.align(min(PUNKT_PREFIX, lay.total))
            if trains_punkt and end > cuts[1]:
                # Punkt learns from the text one process would give it, not only this share
                sample = read_docs(lay.pieces(0, end), settings.encoding, settings.csv_column)
            if stored_splitter and stored_splitter.get("kind") == "punkt_tab" and not splitting.punkt_tab_available():
                prog.note("note: the model was trained with the installed punkt_tab model, which is not installed "
                          "here; splitting sentences with Punkt trained on this text instead")
            if settings.sentences == "lines":
                meta = {"kind": "lines"}
            else:
                sp = splitting.make_splitter(sample, stored_splitter)
                prog.note(f"{what}: sentence splitter: {sp.describe()}")
                meta = {"kind": sp.kind, "params_json": sp.params_json}
        return docs, meta

    docs, meta = settle(comm, read)
    meta = comm.broadcast(meta)

    def tokenize():
        st = tokenizer.Settings.of(settings)
        sp = None
        if st.sentences == "punkt":
            sp = splitting.make_splitter([], meta) if meta["kind"] == "trained" else _punkt_tab(comm)
        return tokenizer.tokenize(docs, sp, st.lowercase, workers=_workers(comm), sentences=st.sentences,
                                  words=st.words, unk_token=st.unk_token)

    tokens = settle(comm, tokenize)
    n_docs, n_sent = np.sum(comm.allgather((len(docs), tokens.n_sentences)), axis=0)
    if n_docs == 0:
        raise SharedError(f"{names}: no text found")
    if n_sent == 0:
        raise SharedError(f"{names}: no sentences found")
    return tokens, meta


def same_files(comm, paths, sizes):
    """Every process cuts its share from the same bytes: a file of another size on one
    of them (not on a file system every host shares, or being written) would give
    shares that overlap or leave text out. Every process raises alike."""
    seen = comm.allgather([int(n) for n in sizes])
    for r, theirs in enumerate(seen):
        for p, n0, n in zip(paths, seen[0], theirs):
            if n != n0:
                raise SharedError(f"{p}: rank {r} sees {n:,} bytes, rank 0 {n0:,}; every process must read the "
                                  "same files (on a file system every host shares)")


def _punkt_tab(comm):
    sp = splitting.make_splitter([], None) if splitting.punkt_tab_available() else None
    if sp is None or sp.kind != "punkt_tab":
        raise DataError(f"rank {comm.rank}: rank 0 splits sentences with the installed punkt_tab model, "
                        "which is not installed here; install it for every process (or on none)")
    return sp


def merged_vocab(tokens, size: int, comm):
    """build_vocab over the word counts of every process's share: the same vocabulary
    on every process, and the one a single process reading everything would build.
    Returns (vocab, stats, note)."""
    def count():
        c = np.bincount(tokens.ids, minlength=len(tokens.words)) if len(tokens.ids) else np.zeros(0, np.int64)
        return tokens.words, c, tokens.n_sentences

    shares = comm.allgather(settle(comm, count))

    def merge():
        merged: dict[str, int] = {}
        for words, c, _ in shares:
            for w, k in zip(words, c.tolist()):
                merged[w] = merged.get(w, 0) + k
        counts = np.fromiter(merged.values(), np.int64, len(merged))
        return vocab_from_counts(list(merged), counts, size, sum(s for _, _, s in shares))
    return settle(comm, merge)


def split_share(enc: Encoded, first: int, total: int, fraction: float):
    """(training, validation) sentences of this share, where the share holds global
    sentences first .. first + n - 1 of ``total``: the split is split_validation's
    over all ``total`` sentences, so it does not depend on the number of processes."""
    train, val = validation_indices(total, fraction)
    lo, hi = first, first + enc.n_sentences

    def mine(idx):
        return idx[np.searchsorted(idx, lo):np.searchsorted(idx, hi)] - lo
    return enc.subset(mine(train)), (enc.subset(mine(val)) if len(val) else None)


def contiguous_share(enc: Encoded, rank: int, n: int) -> Encoded:
    S = enc.n_sentences
    return enc.subset(np.arange(rank * S // n, (rank + 1) * S // n))


def gather_encoded(enc: Encoded | None, comm) -> Encoded:
    """Every process's sentences, concatenated in rank order, on every process."""
    if enc is None:
        enc = Encoded(np.zeros(0, np.int32), np.zeros(0, np.int64), np.zeros(0, np.int32))
    ids = enc.subset(np.arange(enc.n_sentences)).ids        # back to back
    lens = comm.allgather_array(enc.lens.astype(np.int32))
    ids = comm.allgather_array(ids.astype(np.int32))
    starts = np.zeros(len(lens), np.int64)
    if len(lens):
        np.cumsum(lens[:-1], out=starts[1:])
    return Encoded(ids, starts, lens)


def prepare_shares(files, val_files, data, ck, prog, comm):
    """prepare.prepare_training's data for several processes; ``data``: the run's
    lm.settings.LMSettings. Returns (data settings, vocab, splitter dict, this process's
    training sentences, its validation sentences, all validation sentences (for the
    checkpoint))."""
    t0 = time.perf_counter()
    stored = ck.task.splitter if ck is not None else None
    if corpus.is_single_corpus_file(files):
        def load():
            enc, vocab, settings = corpusfile.load_corpus(files[0])
            if ck is not None and vocab.words != ck.task.vocab.words:
                enc, _ = remap_encoded(enc, vocab, ck.task.vocab)
                vocab = ck.task.vocab
            return contiguous_share(enc, comm.rank, comm.size), vocab, settings, enc.n_sentences, \
                os.path.getsize(files[0])
        enc, vocab, settings, n_all, size = settle(comm, load)
        same_files(comm, files, [size])
        splitter = settings.get("splitter", {})
        data = data.of_corpus(settings, len(vocab))
        prog.note(f"corpus: {files[0]}: tokenized corpus, {n_all:,} sentences, vocabulary {len(vocab):,}")
    else:
        tokens, splitter = read_share(files, data, comm, stored, prog)
        if ck is not None:
            vocab = ck.task.vocab
        else:
            vocab, stats, note = merged_vocab(tokens, data.vocab_size, comm)
            if note:
                prog.note("note: " + note)
            data = data.replace(vocab_size=len(vocab))
            prog.note(corpus.describe_corpus(stats, vocab))
        enc, _ = settle(comm, encode, tokens, vocab)
        del tokens
    train_enc, val_enc = _split_shares(enc, val_files, data, vocab, splitter, ck, prog, comm)
    val_all = gather_encoded(val_enc, comm)
    stats = np.sum(comm.allgather((train_enc.n_sentences, train_enc.n_predicted)), axis=0)
    n_train, n_pred = int(stats[0]), int(stats[1])
    if n_train == 0:
        raise SharedError("no training sentences left after holding out validation sentences")
    prog.note(f"data ready in {time.perf_counter() - t0:.1f}s on {comm.size} processes: {n_train:,} training "
              f"sentences ({n_pred:,} predicted tokens), {val_all.n_sentences:,} validation sentences")
    return data, vocab, splitter if isinstance(splitter, dict) else {}, train_enc, val_enc, \
        (val_all if val_all.n_sentences else None)


def _split_shares(enc, val_files, data, vocab, splitter, ck, prog, comm):
    """This process's (training, validation) sentences: --val files read in shares, the
    checkpoint's validation sentences when the split is the same, or a new split."""
    counts = comm.allgather(enc.n_sentences)
    first, total = sum(counts[:comm.rank]), sum(counts)
    if val_files and corpus.is_single_corpus_file(val_files):
        def load_val():
            venc, vvocab, _ = corpusfile.load_corpus(val_files[0])
            return contiguous_share(remap_encoded(venc, vvocab, vocab)[0], comm.rank, comm.size), \
                os.path.getsize(val_files[0])
        val_enc, size = settle(comm, load_val)
        same_files(comm, val_files, [size])
        return enc, val_enc
    if val_files:
        vtokens, _ = read_share(val_files, data, comm, splitter, prog, what="validation")
        val_enc, _ = settle(comm, encode, vtokens, vocab)
        return enc, val_enc
    if ck is not None and ck.task.val is not None and data.val_fraction == ck.task.settings.val_fraction:
        train_enc, _ = split_share(enc, first, total, data.val_fraction)
        return train_enc, contiguous_share(ck.task.val, comm.rank, comm.size)
    return split_share(enc, first, total, data.val_fraction)
