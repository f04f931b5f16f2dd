"""Inputs damaged or changed under the reader (rnncli/lm/sources.py): a damaged .gz is
reported with the text read before the damage (what zcat recovers, not the compressed
position); a file cut short, grown or rewritten while it is read is refused in one
line, by every command that reads text, rather than trained on as whatever was read."""
import gzip
import os
import zlib

import pytest

from rnncli.lm import sources

from ..helpers import TINY, assert_user_error, rnn, write_corpus

TEXT = "".join(f"The cat number {i} sat on the mat. The dog saw bird {i % 17}.\n" for i in range(2000))


def recoverable(data: bytes) -> int:
    """The bytes of text zcat writes out of ``data`` before it meets the damage."""
    d = zlib.decompressobj(31)
    out = 0
    for i in range(0, len(data), 64):
        try:
            out += len(d.decompress(data[i:i + 64]))
        except zlib.error:
            break
    return out


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    d = tmp_path_factory.mktemp("trained")
    model = d / "m.npz"
    from ..helpers import main
    try:
        main(["train", str(write_corpus(d / "c.txt")), "-o", str(model), *TINY])
    except SystemExit as e:
        assert not e.code
    return model


@pytest.fixture(params=["train", "eval", "tokenize"])
def reader(request, tmp_path, trained):
    """The commands that read text, each ready for FILE... to be appended."""
    return {"train": ["train", "-o", tmp_path / "out.npz", *TINY],
            "eval": ["eval", "-m", trained, "-q"],
            "tokenize": ["tokenize", "-o", tmp_path / "out.npz", "-q"]}[request.param]


# ------------------------------------------------------------------ damaged .gz


def test_a_truncated_gz_says_how_much_text_was_read(capsys, tmp_path, reader):
    data = gzip.compress(TEXT.encode())
    cut = data[:len(data) // 3]
    f = tmp_path / "cut.txt.gz"
    f.write_bytes(cut)
    n = recoverable(cut)
    assert n > 10_000
    r = rnn(capsys, *reader, f)
    assert_user_error(r, "cut.txt.gz", f"damaged gzip data after {n:,} bytes of text")


def test_a_gz_with_a_bad_checksum_says_all_its_text_was_read(capsys, tmp_path):
    data = bytearray(gzip.compress(TEXT.encode()))
    data[-8] ^= 0xFF                               # the CRC in the trailer
    f = tmp_path / "crc.txt.gz"
    f.write_bytes(bytes(data))
    r = rnn(capsys, "tokenize", f, "-o", tmp_path / "c.npz", "-q")
    assert_user_error(r, "crc.txt.gz", f"damaged gzip data after {len(TEXT.encode()):,} bytes of text")


def test_a_gz_is_still_read_in_whole_blocks(tmp_path, monkeypatch):
    """Counting the text delivered does not change how it is cut into blocks."""
    monkeypatch.setattr(sources, "BLOCK", 1000)
    f = tmp_path / "t.txt.gz"
    f.write_bytes(gzip.compress(TEXT.encode()))
    inp = sources.Input(str(f))
    inp.check()
    sizes = [len(b) for b, _ in inp._raw()]
    assert sum(sizes) == len(TEXT.encode())
    assert set(sizes[:-1]) == {1000} and 0 < sizes[-1] <= 1000


# ------------------------------------------------------------------ changed while read


def _cut_while_read(monkeypatch, path, change):
    """``change(path)`` right after the first block of ``path`` has been read, once."""
    monkeypatch.setattr(sources, "BLOCK", 4096)
    real = sources.Input._raw
    done = []

    def raw(self):
        for i, item in enumerate(real(self)):
            if not done and self.path == str(path):
                done.append(True)
                change(path)
            yield item
    monkeypatch.setattr(sources.Input, "_raw", raw)


def _shorten(path):
    os.truncate(path, os.path.getsize(path) // 2)


def _grow(path):
    with open(path, "a") as f:
        f.write("A sentence added while the file was read.\n" * 50)


def _rewrite(path):
    st = os.stat(path)
    with open(path, "r+b") as f:
        f.write(b"THE")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


@pytest.mark.parametrize("change,what", [(_shorten, "bytes when it was opened"), (_grow, "bytes when it was opened"),
                                         (_rewrite, "modified")])
def test_a_file_that_changes_while_it_is_read_is_refused(capsys, tmp_path, monkeypatch, reader, change, what):
    f = write_corpus(tmp_path / "text.txt", TEXT)
    _cut_while_read(monkeypatch, f, change)
    r = rnn(capsys, *reader, f)
    assert_user_error(r, "text.txt", "changed while it was being read", what)
    assert not (tmp_path / "out.npz").exists()


def test_a_gz_cut_short_while_it_is_read_says_so(capsys, tmp_path, monkeypatch):
    f = tmp_path / "text.txt.gz"
    f.write_bytes(gzip.compress(TEXT.encode()))
    _cut_while_read(monkeypatch, f, _shorten)
    r = rnn(capsys, "tokenize", f, "-o", tmp_path / "out.npz", "-q")
    assert_user_error(r, "text.txt.gz", "changed while it was being read")


def test_a_file_cut_between_two_reads_is_refused(capsys, tmp_path, monkeypatch):
    """The first read (digest, checks) sees the whole file, the tokenizing read half."""
    f = write_corpus(tmp_path / "text.txt", TEXT)
    real = sources.Input.digest

    def digest(self, progress=None):
        d = real(self, progress)
        _shorten(self.path)
        return d
    monkeypatch.setattr(sources.Input, "digest", digest)
    r = rnn(capsys, "tokenize", f, "-o", tmp_path / "out.npz", "-q")
    assert_user_error(r, "text.txt", "changed while it was being read", f"{len(TEXT):,} bytes when it was opened")


def test_a_file_left_alone_is_read_as_before(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "BLOCK", 4096)
    f = write_corpus(tmp_path / "text.txt", TEXT)
    r = rnn(capsys, "tokenize", f, "-o", tmp_path / "out.npz", "-q")
    assert r.code == 0, r
