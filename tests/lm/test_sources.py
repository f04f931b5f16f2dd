"""Reading text (rnncli/lm/sources.py): files, gzip, standard input, pipes, CSV columns, encodings, and
one-line errors for bad input."""
import codecs
import gzip
import json
import os
import random
import re
import subprocess
import sys

import numpy as np
import pytest

from rnncli import checkpoint
from rnncli.lm import corpusfile, sources

from ..helpers import CORPUS, TINY, assert_user_error, rnn, rnn_proc, simple_sentences, write_corpus


def test_gz_is_read_transparently(tmp_path):
    plain = write_corpus(tmp_path / "c.txt")
    gz = tmp_path / "c.txt.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    a, b = sources.read_source(str(plain)), sources.read_source(str(gz))
    assert a.text == b.text == CORPUS
    assert a.digest == b.digest


def test_gz_through_the_cli_equals_plain(capsys, tmp_path):
    plain = write_corpus(tmp_path / "c.txt")
    gz = tmp_path / "c.txt.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    for src, out in ((plain, "a.npz"), (gz, "b.npz")):
        r = rnn(capsys, "tokenize", src, "-o", tmp_path / out, "--no-cache", "-q")
        assert r.code == 0, r
    ea, va, _ = corpusfile.load_corpus(str(tmp_path / "a.npz"))
    eb, vb, _ = corpusfile.load_corpus(str(tmp_path / "b.npz"))
    assert va.words == vb.words
    np.testing.assert_array_equal(ea.ids, eb.ids)


def test_stdin_dash(tmp_path):
    """`-` reads standard input (a real process), equal to reading the file; never cached."""
    f = write_corpus(tmp_path / "c.txt")
    cache = tmp_path / "cache"
    env = dict(os.environ, RNNCLI_CACHE_DIR=str(cache))
    p = subprocess.run([sys.executable, "-m", "rnncli", "tokenize", "-", "-o", str(tmp_path / "s.npz"), "-q"],
                       input=CORPUS.encode(), capture_output=True, env=env, timeout=120)
    assert p.returncode == 0, p.stderr
    p2 = subprocess.run([sys.executable, "-m", "rnncli", "tokenize", str(f), "-o", str(tmp_path / "f.npz"),
                         "-q", "--no-cache"], capture_output=True, env=env, timeout=120)
    assert p2.returncode == 0, p2.stderr
    es, vs, ss = corpusfile.load_corpus(str(tmp_path / "s.npz"))
    ef, vf, _ = corpusfile.load_corpus(str(tmp_path / "f.npz"))
    assert vs.words == vf.words
    np.testing.assert_array_equal(es.ids, ef.ids)
    assert ss["sources"] == ["-"]
    assert not cache.exists() or not any(cache.iterdir())


def test_blank_lines_separate_documents():
    text = "One doc\nstill one.\n\nTwo.\r\n\r\nThree\n \t \nFour\n\n\n\n"
    docs = sources.documents(sources.Source("x", text, ""))
    assert [d.strip() for d in docs] == ["One doc\nstill one.", "Two.", "Three", "Four"]


def test_csv_column(tmp_path):
    f = tmp_path / "comments.csv"
    f.write_text('id,body,score\n1,"The cat sat.",3\n2,,4\n3,"Line one.\n\nLine two, with a comma.",5\n4\n')
    docs = sources.documents(sources.read_source(str(f)), "body")
    assert docs == ["The cat sat.", "Line one.\n\nLine two, with a comma."]


def test_csv_column_through_the_cli(capsys, tmp_path):
    f = tmp_path / "comments.csv"
    rows = ["The cat sat on the mat.", "The dog sat on the log.", "A bird flew over the house.",
            "The cat saw the bird.", "The dog ran to the park."]
    f.write_text("id,body\n" + "".join(f'{i},"{r}"\n' for i, r in enumerate(rows)))
    out = tmp_path / "m.npz"
    r = rnn(capsys, "train", f, "--csv-column", "body", "-o", out, *TINY)
    assert r.code == 0, r
    ck = checkpoint.load(str(out))
    assert ck.task.settings.csv_column == "body"
    assert "id" not in ck.task.vocab.words and "body" not in ck.task.vocab.words and "cat" in ck.task.vocab.words
    r = rnn(capsys, "eval", "-m", out, "--csv-column", "body", "--json", "-q", f)
    assert r.code == 0, r
    assert json.loads(r.out)["sentences"] == len(rows)


def test_fragments_equal_whole_text_split_for_any_block_size():
    rng = random.Random(3)
    pieces = ["word", " ", "\n", "\n\n", "\n \t\n", "\n\n\n", "x.", "  ", "\f", "\r"]
    for _ in range(300):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 40)))
        want = [d for d in re.split(r"\n[ \t\r\f\v]*\n", text)]
        for block in (1, 2, 3, 7, 1000):
            blocks = [(text[i:i + block], i + block) for i in range(0, len(text), block)]
            docs = []
            for fr in sources.text_fragments(blocks):
                if fr.new_doc:
                    docs.append(fr.text)
                else:
                    docs[-1] += fr.text
            assert [d for d in docs if d.strip()] == [d for d in want if d.strip()], (text, block)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes")
def test_a_named_pipe_is_read_once(capsys, tmp_path):
    """<(zcat corpus.gz) and other pipes: read as a stream (no digest pass, no cache),
    the Punkt sample served again from memory."""
    import threading
    text = "\n\n".join(" ".join(simple_sentences(4, seed=i)) for i in range(300))
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)

    def writer():
        with open(fifo, "w") as f:
            f.write(text)
    th = threading.Thread(target=writer)
    th.start()
    r = rnn(capsys, "tokenize", fifo, "-o", tmp_path / "p.npz", "-q")
    th.join()
    assert r.code == 0, r
    f = tmp_path / "t.txt"
    f.write_text(text)
    r = rnn(capsys, "tokenize", f, "-o", tmp_path / "f.npz", "-q")
    assert r.code == 0, r
    np.testing.assert_array_equal(corpusfile.load_corpus(str(tmp_path / "p.npz"))[0].ids,
                                  corpusfile.load_corpus(str(tmp_path / "f.npz"))[0].ids)
    f.write_bytes(gzip.compress(text.encode()))
    r = rnn(capsys, "tokenize", f, "-o", tmp_path / "g.npz", "-q")
    assert_user_error(r, "t.txt", "gzip", ".gz")


def test_gz_streams(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "BLOCK", 1000)
    text = "\n".join(simple_sentences(3000))
    gz = tmp_path / "t.txt.gz"
    gz.write_bytes(gzip.compress(text.encode()))
    inp = sources.Input(str(gz))
    inp.check()
    blocks = list(inp.blocks())
    assert len(blocks) > 50 and "".join(t for t, _ in blocks) == text
    assert blocks[-1][1] == os.path.getsize(gz)    # progress counts compressed bytes


def _tokens_of(capsys, tmp_path, path, *opts):
    out = tmp_path / "o.npz"
    r = rnn(capsys, "tokenize", path, "-o", out, "-q", "--no-cache", *opts)
    assert r.code == 0, r
    enc, vocab, _ = corpusfile.load_corpus(str(out))
    out.unlink()
    return [[vocab.words[i] for i in enc.ids[s + 1:s + n - 1]] for s, n in zip(enc.starts, enc.lens)]


def test_byte_order_marks_and_utf16(capsys, tmp_path):
    text = "Laurence had a boat. The tide was going out.\n"
    want = [["laurence", "had", "a", "boat", "."], ["the", "tide", "was", "going", "out", "."]]
    for name, data in (("bom8", codecs.BOM_UTF8 + text.encode()), ("utf16", text.encode("utf-16")),
                       ("utf16be", codecs.BOM_UTF16_BE + text.encode("utf-16-be")), ("utf32", text.encode("utf-32"))):
        f = tmp_path / f"{name}.txt"
        f.write_bytes(data)
        assert _tokens_of(capsys, tmp_path, f) == want, name
    f = tmp_path / "utf16le-no-bom.txt"
    f.write_bytes(((text + "\n") * 3).encode("utf-16-le"))
    r = rnn(capsys, "tokenize", f, "-o", tmp_path / "x.npz", "-q")
    assert_user_error(r, "utf16le-no-bom.txt", "--encoding utf-16-le")
    assert not (tmp_path / "x.npz").exists()
    assert _tokens_of(capsys, tmp_path, f, "--encoding", "utf-16-le") == want * 3


def test_cr_and_crlf_line_ends(capsys, tmp_path):
    want = [["the", "cat", "sat", "."], ["the", "dog", "ran", "."], ["a", "new", "paragraph", "."]]
    for name, data in (("cr", b"The cat sat.\rThe dog ran.\r\rA new paragraph.\r"),
                       ("crlf", b"The cat sat.\r\nThe dog ran.\r\n\r\nA new paragraph.\r\n")):
        f = tmp_path / f"{name}.txt"
        f.write_bytes(data)
        assert _tokens_of(capsys, tmp_path, f, "--sentences", "lines") == want, name
        assert _tokens_of(capsys, tmp_path, f, "--sentences", "lines", "--words", "whitespace") == [
            ["the", "cat", "sat."], ["the", "dog", "ran."], ["a", "new", "paragraph."]]
        assert _tokens_of(capsys, tmp_path, f) == want, name
    # a CR split across two blocks of the stream is still one line end
    blocks = [("a\r", 2), ("\nb\r", 5), ("c", 6)]
    inp = sources.Input("x")
    assert [t for t, _ in inp._decoded(((b.encode(), p) for b, p in blocks))] == ["a", "\nb", "\nc"]


def test_nul_bytes_are_not_part_of_words(capsys, tmp_path):
    f = tmp_path / "nul.txt"
    f.write_bytes(b"The c\x00at sat.\x00The dog ran.\n")
    words = [w for s in _tokens_of(capsys, tmp_path, f) for w in s]
    assert not any("\x00" in w for w in words) and "dog" in words


def test_corrupt_gzip_is_one_line(capsys, tmp_path):
    data = bytearray(gzip.compress(("The cat sat on the mat. " * 20000).encode()))
    for i in range(len(data) // 2, len(data) // 2 + 40):
        data[i] ^= 0x55
    f = tmp_path / "corpus.txt.gz"
    f.write_bytes(bytes(data))
    trunc = tmp_path / "cut.txt.gz"
    trunc.write_bytes(bytes(data[:len(data) // 3]))
    for path in (f, trunc):
        for cmd in (["tokenize", "-o", tmp_path / "t.npz"], ["train", "-o", tmp_path / "m.npz", *TINY]):
            r = rnn(capsys, *cmd, path, "-q")
            assert_user_error(r, path.name, "gzip")
            assert not (tmp_path / "t.npz").exists() and not (tmp_path / "m.npz").exists()


def test_csv_with_quoted_newlines(capsys, tmp_path):
    f = tmp_path / "q.csv"
    f.write_text('id,text\n1,"The cat sat.\nThe dog ran."\n2,"A ""quoted"" word, here."\n')
    assert _tokens_of(capsys, tmp_path, f, "--csv-column", "text") == [
        ["the", "cat", "sat", "."], ["the", "dog", "ran", "."], ["a", "``", "quoted", "''", "word", ",", "here", "."]]


def test_not_a_csv_file_gets_a_short_message(capsys, tmp_path):
    f = tmp_path / "plain.txt"
    f.write_text("word " * 1_000_000)
    r = rnn(capsys, "tokenize", f, "--csv-column", "text", "-o", tmp_path / "t.npz")
    msg = assert_user_error(r, "plain.txt", "'text'", "csv")
    assert len(msg) < 400
    assert not (tmp_path / "t.npz").exists()


def test_not_valid_utf8_far_into_a_file_names_the_byte(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "BLOCK", 1000)
    f = tmp_path / "late.txt"
    f.write_bytes(b"The cat sat. " * 500 + b"caf\xe9 " + b"The end. " * 10)
    r = rnn(capsys, "tokenize", f, "-o", tmp_path / "t.npz", "-q")
    msg = assert_user_error(r, "late.txt", "--encoding")
    assert f"byte {13 * 500 + 3} " in msg and "0xe9" in msg


def test_empty_stdin_through_lines_mode(tmp_path):
    r = rnn_proc("tokenize", "-", "-o", tmp_path / "t.npz", "-q", "--sentences", "lines", input=b" \n\n ")
    assert_user_error(r, "<stdin>", "empty")
    assert not (tmp_path / "t.npz").exists()


@pytest.mark.parametrize("content", [b"", b"  \n\n\t \r\n"], ids=["empty", "whitespace"])
def test_empty_file(capsys, tmp_path, reader, content):
    (tmp_path / "empty.txt").write_bytes(content)
    r = rnn(capsys, *reader, tmp_path / "empty.txt")
    assert_user_error(r, "empty.txt", "empty")


@pytest.mark.parametrize("content", ["... !!! ,,,\n\n?? -- ;\n", "* * *\n\n* * *\n"], ids=["punct", "stars"])
def test_file_without_sentences(capsys, tmp_path, reader, content):
    (tmp_path / "punct.txt").write_text(content)
    r = rnn(capsys, *reader, tmp_path / "punct.txt")
    assert_user_error(r, "punct.txt", "no sentences")
    assert not (tmp_path / "out.npz").exists()


def test_not_utf8_names_file_and_offset(capsys, tmp_path, reader):
    f = tmp_path / "latin.txt"
    f.write_bytes("The café is open. The cat sat there.\n".encode("latin-1"))
    r = rnn(capsys, *reader, f)
    msg = assert_user_error(r, "latin.txt", "--encoding")
    assert "byte 7 " in msg and "0xe9" in msg  # 'The caf' is bytes 0-6; byte 7 is the latin-1 e-acute


def test_latin1_with_encoding_option(capsys, tmp_path):
    f = tmp_path / "latin.txt"
    f.write_bytes("The café is open. The cat sat in the café.\n\nThe dog sat.\n".encode("latin-1"))
    out = tmp_path / "m.npz"
    r = rnn(capsys, "train", f, "-o", out, "--encoding", "latin-1", *TINY)
    assert r.code == 0, r
    assert "café" in checkpoint.load(str(out)).task.vocab.words
    r = rnn(capsys, "eval", "-m", out, "-q", "--json", f)
    assert r.code == 0, r


def test_utf16_without_a_byte_order_mark_is_a_one_line_error(capsys, tmp_path, corpus):
    """The UTF-16 codec raises a plain UnicodeError (not a decode error) for a stream
    without a BOM; found by the slow fuzz test."""
    r = rnn(capsys, "train", corpus, "--encoding", "utf-16", "-o", tmp_path / "m.npz", *TINY)
    assert_user_error(r, "utf-16", "--encoding")
    assert not (tmp_path / "m.npz").exists()


def test_unknown_encoding(capsys, tmp_path, corpus):
    r = rnn(capsys, "train", corpus, "--encoding", "no-such-codec", "-o", tmp_path / "m.npz", *TINY)
    assert_user_error(r, "no-such-codec")


def test_encoding_name_with_a_nul_is_one_line(capsys, tmp_path, reader, corpus):
    """codecs.lookup raises ValueError, not LookupError, for a name with a NUL (found by
    the slow fuzz test of rnn eval)."""
    assert_user_error(rnn(capsys, *reader, corpus, "--encoding", "utf\x008"), "unknown encoding")


def test_csv_without_column(capsys, tmp_path, reader):
    f = tmp_path / "comments.csv"
    f.write_text("id,body\n1,The cat sat.\n2,The dog ran.\n")
    r = rnn(capsys, *reader, "--csv-column", "text", f)
    assert_user_error(r, "comments.csv", "'text'", "body")


def test_bad_gzip(capsys, tmp_path, reader):
    f = tmp_path / "corpus.txt.gz"
    f.write_bytes(gzip.compress(b"The cat sat on the mat. " * 20)[:30])
    r = rnn(capsys, *reader, f)
    assert_user_error(r, "corpus.txt.gz", "gzip")


@pytest.mark.parametrize("encoding", ["punycode", "idna", "utf-7"])
def test_codec_specific_decoding_errors_are_one_line(capsys, tmp_path, trained, encoding):
    """Found by the fuzz suite: punycode raises UnicodeError, not UnicodeDecodeError."""
    f = tmp_path / "odd.txt"
    f.write_bytes(b"The cat sat on the mat - ok? \xff\xfe+- The dog.\n")
    r = rnn(capsys, "eval", "-m", trained, "-q", "--encoding", encoding, f)
    if r.code:
        assert_user_error(r, "odd.txt", encoding)
