"""Every bad input of issues 2 and 3: one line on stderr naming the problem (and the
file), a non-zero exit status, no traceback, nothing lost."""
import errno
import gzip
import os
import pickle

import numpy as np
import pytest

from rnncli import checkpoint, fileio
from rnncli.lm import splitting, tokenizer

from .helpers import (TINY, assert_user_error, isolated_cache, rnn, rnn_proc,  # noqa: F401
                      write_corpus)


def _train_once(path, corpus, *extra):
    from rnncli.cli import main
    try:
        main(["train", str(corpus), "-o", str(path), "--no-cache", *TINY, *extra])
    except SystemExit as e:
        assert e.code == 0
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One real checkpoint (H=3, C=12, 1 epoch) shared by the tests that only read it."""
    d = tmp_path_factory.mktemp("trained")
    corpus = write_corpus(d / "corpus.txt")
    return _train_once(d / "model.npz", corpus)


@pytest.fixture
def corpus(tmp_path):
    return write_corpus(tmp_path / "corpus.txt")


# ------------------------------------------------------------------ input files


def _eval_args(trained):
    return ["eval", "-m", trained, "-q"]


def _train_args(tmp_path):
    return ["train", "-o", tmp_path / "out.npz", *TINY]


@pytest.fixture(params=["train", "eval", "tokenize"])
def reader(request, tmp_path, trained):
    """The commands that read text, each ready for FILE... to be appended."""
    return {"train": _train_args(tmp_path), "eval": _eval_args(trained),
            "tokenize": ["tokenize", "-o", tmp_path / "tok.npz", "-q"]}[request.param]


def test_missing_file(capsys, tmp_path, reader):
    r = rnn(capsys, *reader, tmp_path / "nope.txt")
    assert_user_error(r, "nope.txt", "no such file")
    assert not (tmp_path / "out.npz").exists()


def test_directory(capsys, tmp_path, reader):
    (tmp_path / "texts").mkdir()
    r = rnn(capsys, *reader, tmp_path / "texts")
    assert_user_error(r, "texts", "directory")


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


def test_no_files(capsys, tmp_path):
    r = rnn(capsys, "train", "-o", tmp_path / "m.npz")
    assert_user_error(r, "FILE")


# ------------------------------------------------------------------ option values


@pytest.mark.parametrize("opt,value", [
    ("--vocab-size", "3"), ("--vocab-size", "0"),
    ("--hidden-dim", "0"), ("--hidden-dim", "-4"),
    ("--lr", "0"), ("--lr", "-0.01"),
])
def test_bad_training_options(capsys, tmp_path, corpus, monkeypatch, opt, value):
    def boom(*a, **k):
        raise AssertionError("tokenized although an option was invalid")
    monkeypatch.setattr(tokenizer, "tokenize", boom)
    out = tmp_path / "m.npz"
    r = rnn(capsys, "train", corpus, "-o", out, opt, value, "-q")
    msg = assert_user_error(r, opt, value)
    assert msg.startswith("rnn train: error:")
    assert r.code == 2
    assert not out.exists()


def test_tokenize_vocab_size_too_small(capsys, tmp_path, corpus):
    r = rnn(capsys, "tokenize", corpus, "-o", tmp_path / "t.npz", "--vocab-size", "3")
    assert_user_error(r, "--vocab-size", "3")


# ------------------------------------------------------------------ output path


def _no_tokenizing(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("tokenizing started before the output path was checked")
    monkeypatch.setattr(tokenizer, "tokenize", boom)
    monkeypatch.setattr(splitting, "make_splitter", boom)


@pytest.mark.parametrize("cmd", ["train", "tokenize"])
def test_output_in_missing_directory(capsys, tmp_path, corpus, monkeypatch, cmd):
    _no_tokenizing(monkeypatch)
    out = tmp_path / "no" / "such" / "dir" / "m.npz"
    r = rnn(capsys, cmd, corpus, "-o", out, "-q")
    assert_user_error(r, str(out), "does not exist")
    assert not (tmp_path / "no").exists()


def test_output_is_a_directory(capsys, tmp_path, corpus, monkeypatch):
    _no_tokenizing(monkeypatch)
    r = rnn(capsys, "train", corpus, "-o", tmp_path, "-q")
    assert_user_error(r, str(tmp_path), "directory")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root writes into read-only directories")
def test_output_in_read_only_directory(capsys, tmp_path, corpus, monkeypatch):
    _no_tokenizing(monkeypatch)
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        r = rnn(capsys, "train", corpus, "-o", ro / "m.npz", "-q")
    finally:
        ro.chmod(0o755)
    assert_user_error(r, str(ro / "m.npz"), "cannot write")


def test_output_unwritable_simulated(capsys, tmp_path, corpus, monkeypatch):
    """The same check as a read-only directory, also when running as root: creating a
    file beside the output fails with EACCES."""
    import tempfile
    _no_tokenizing(monkeypatch)

    def denied(*a, **k):
        raise PermissionError(errno.EACCES, "Permission denied")
    monkeypatch.setattr(tempfile, "mkstemp", denied)
    r = rnn(capsys, "train", corpus, "-o", tmp_path / "m.npz", "-q")
    assert_user_error(r, "m.npz", "cannot write", "permission denied")


# ------------------------------------------------------------------ bad checkpoints

UNPICKLED = []


def _mark_unpickled(path):
    """Called only if something unpickles the object array below."""
    with open(path, "w") as f:
        f.write("unpickled!")
    UNPICKLED.append(path)
    return "x"


class Trap:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (_mark_unpickled, (self.path,))


def _resave(src, dst, **changes):
    with np.load(src, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    arrays.update(changes)
    for k in [k for k, v in changes.items() if v is None]:
        del arrays[k]
    np.savez(dst, **arrays)
    return dst


def _write(path, content):
    path.write_bytes(content)
    return path


def bad_checkpoint(kind, trained, d):
    """A broken checkpoint of the given kind in directory d, and words its message must contain."""
    good = trained.read_bytes()
    v = checkpoint.FORMAT_VERSION
    if kind == "missing":
        return d / "nope.npz", ["no such checkpoint"]
    if kind == "directory":
        return d, ["directory"]
    if kind == "empty":
        return _write(d / "e.npz", b""), ["empty"]
    if kind == "random-bytes":
        return _write(d / "r.npz", np.random.default_rng(0).bytes(700)), ["not an rnncli checkpoint"]
    if kind == "text":
        return _write(d / "t.npz", b"hello\n"), ["not an rnncli checkpoint"]
    if kind == "npy":
        np.save(d / "a.npy", np.arange(5))
        os.replace(d / "a.npy", d / "a.npz")
        return d / "a.npz", ["not an rnncli checkpoint"]
    if kind == "truncated":
        return _write(d / "tr.npz", good[: len(good) // 2]), ["corrupt or truncated"]
    if kind == "truncated-head":
        return _write(d / "th.npz", good[:300]), ["corrupt or truncated"]
    if kind == "foreign":
        np.savez(d / "f.npz", weights=np.ones(3), names=np.array(["a"]))
        return d / "f.npz", ["not an rnncli checkpoint"]
    if kind == "newer-format":
        return _resave(trained, d / "new.npz", format_version=np.array(v + 1)), ["newer", "upgrade", str(v + 1)]
    if kind == "missing-config":
        return _resave(trained, d / "nc.npz", config=None), ["config"]
    if kind == "bad-config-json":
        return _resave(trained, d / "bj.npz", config=np.array("{not json")), ["corrupt"]
    if kind == "config-not-object":
        return _resave(trained, d / "co.npz", config=np.array("[3]")), ["corrupt"]
    if kind == "state-not-object":
        return _resave(trained, d / "bs.npz", state=np.array("[1, 2]")), ["corrupt"]
    if kind == "shapes-disagree":
        return _resave(trained, d / "sh.npz", **{"param.out.V": np.ones((5, 3), np.float32)}), ["inconsistent"]
    if kind == "integer-params":
        return _resave(trained, d / "ip.npz", **{"param.layer0.W": np.ones((3, 3), np.int64)}), ["floating point"]
    if kind == "val-offsets":
        return _resave(trained, d / "vo.npz", **{"task.val_offsets": np.array([0, 999])}), ["validation"]
    if kind == "val-ids":
        return _resave(trained, d / "vi.npz", **{"task.val_ids": np.full(4, 500, np.int32),
                                                 "task.val_offsets": np.array([0, 4])}), ["validation"]
    raise ValueError(kind)


BAD_KINDS = ["missing", "directory", "empty", "random-bytes", "text", "npy", "truncated", "truncated-head",
             "foreign", "newer-format", "missing-config", "bad-config-json", "config-not-object",
             "state-not-object", "shapes-disagree", "integer-params", "val-offsets", "val-ids"]


def _ckpt_commands(path, tmp_path, corpus):
    return {
        "resume": ["train", corpus, "--resume", path, "-o", tmp_path / "out.npz", "-q"],
        "generate": ["generate", "--model", path, "-n", "1"],
        "eval": ["eval", "--model", path, "-q", corpus],
        "eval-stored": ["eval", "--model", path, "-q"],
        "info": ["info", "--model", path],
    }


@pytest.mark.parametrize("cmd", ["resume", "generate", "eval", "eval-stored", "info"])
@pytest.mark.parametrize("kind", BAD_KINDS)
def test_bad_checkpoint(capsys, tmp_path, corpus, trained, kind, cmd):
    d = tmp_path / "ck"
    d.mkdir()
    path, needles = bad_checkpoint(kind, trained, d)
    r = rnn(capsys, *_ckpt_commands(path, tmp_path, corpus)[cmd])
    assert_user_error(r, str(path), *needles)
    assert not (tmp_path / "out.npz").exists()


@pytest.mark.parametrize("cmd", ["resume", "generate", "eval", "info"])
@pytest.mark.parametrize("key", ["param.layer0.U", "task.vocab", "config"])
def test_pickled_object_array_is_refused_unopened(capsys, tmp_path, corpus, trained, cmd, key):
    marker = tmp_path / "unpickled.txt"
    obj = np.empty(1, dtype=object)
    obj[0] = Trap(str(marker))
    path = _resave(trained, tmp_path / "pickled.npz", **{key: obj})
    assert pickle.loads(pickle.dumps(Trap(str(tmp_path / "probe")))) == "x"  # the trap does fire when unpickled
    r = rnn(capsys, *_ckpt_commands(path, tmp_path, corpus)[cmd])
    assert_user_error(r, "pickled.npz", "pickle")
    assert not marker.exists()


# ------------------------------------------------------------------ resume contradictions


@pytest.mark.parametrize("opt,stored", [
    (["--hidden-dim", "5"], "(trained with --hidden-dim 3)"),
    (["--vocab-size", "40"], "(12 entries)"),
    (["--no-lowercase"], "(trained with --lowercase)"),
    (["--dtype", "float64"], "(trained with --dtype float32)"),
    (["--csv-column", "body"], "(trained with no --csv-column)"),
])
def test_resume_with_contradicting_options(capsys, tmp_path, corpus, trained, opt, stored):
    before = trained.read_bytes()
    out = tmp_path / "out.npz"
    r = rnn(capsys, "train", corpus, "--resume", trained, "-o", out, "--epochs", "2", "-q", *opt)
    msg = assert_user_error(r, " ".join(opt) + " contradicts the checkpoint", str(trained), stored)
    assert "False" not in msg and "None" not in msg
    assert not out.exists()
    assert trained.read_bytes() == before


def test_resume_with_agreeing_options_works(capsys, tmp_path, corpus, trained):
    out = tmp_path / "out.npz"
    r = rnn(capsys, "train", corpus, "--resume", trained, "-o", out, "--epochs", "2", "-q",
            "--hidden-dim", "3", "--vocab-size", str(len(checkpoint.load(str(trained)).task.vocab)))
    assert r.code == 0, r
    assert checkpoint.load(str(out)).state["epoch"] == 2


# ------------------------------------------------------------------ generate and eval options


@pytest.mark.parametrize("args,needles", [
    (["--min-length", "9", "--max-length", "5"], ["--min-length 9", "--max-length 5"]),
    (["-n", "0"], ["-n"]),
    (["-n", "-2"], ["-n"]),
    (["--temperature", "-0.5"], ["--temperature"]),
    (["--temperature", "nan"], ["--temperature"]),
    (["--max-length", "0"], ["--max-length"]),
    (["--min-length", "-1"], ["--min-length"]),
])
def test_generate_bad_options(capsys, trained, args, needles):
    r = rnn(capsys, "generate", "-m", trained, *args)
    assert_user_error(r, *needles)
    assert r.out == ""


def test_generate_prefix_longer_than_max_length(capsys, trained):
    r = rnn(capsys, "generate", "-m", trained, "--prefix", "the cat sat on the cat", "--min-length", "0",
            "--max-length", "3")
    assert_user_error(r, "--prefix", "--max-length 3")


def test_eval_without_file_and_without_stored_sentences(capsys, tmp_path, trained):
    path = _resave(trained, tmp_path / "noval.npz", **{"task.val_ids": None, "task.val_offsets": None})
    r = rnn(capsys, "eval", "-m", path)
    assert_user_error(r, "noval.npz", "validation")


def test_eval_default_model_missing(capsys, tmp_path, monkeypatch, corpus):
    monkeypatch.chdir(tmp_path)
    r = rnn(capsys, "eval", corpus)
    assert_user_error(r, "model.npz", "no such checkpoint")


# ------------------------------------------------------------------ full disk


def _full_disk_on(monkeypatch, target_name, fail_from_call):
    """np.savez writes a little, then fails with ENOSPC, on the Nth and later saves of
    files named ``target_name`` (inside rnncli.fileio.atomic_write_npz, which writes to
    a temporary file from tempfile.mkstemp: that is how the target is recognised)."""
    import tempfile
    real_savez, real_mkstemp = np.savez, tempfile.mkstemp
    tmp_of_fd = {}
    calls = {"n": 0}

    def mkstemp(*a, **kw):
        fd, path = real_mkstemp(*a, **kw)
        tmp_of_fd[fd] = path
        return fd, path

    def savez(file, *args, **kw):
        tmp = tmp_of_fd.get(file.fileno(), "") if hasattr(file, "fileno") else ""
        if os.path.basename(tmp).startswith("." + target_name + "."):
            calls["n"] += 1
            if calls["n"] >= fail_from_call:
                file.write(b"PK\x03\x04 half a checkpoint")
                raise OSError(errno.ENOSPC, "No space left on device")
        return real_savez(file, *args, **kw)
    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    monkeypatch.setattr(fileio.np, "savez", savez)
    return calls


def _no_temp_files(d):
    left = [p.name for p in d.iterdir() if p.name.endswith(".tmp") or p.name.startswith(".")]
    assert left == [], left


def test_full_disk_on_second_save_keeps_previous_checkpoint(capsys, tmp_path, corpus, monkeypatch):
    out_dir = tmp_path / "run"
    out_dir.mkdir()
    out = out_dir / "model.npz"
    calls = _full_disk_on(monkeypatch, "model.npz", fail_from_call=2)
    r = rnn(capsys, "train", corpus, "-o", out, "--hidden-dim", "3", "--vocab-size", "12", "--epochs", "3", "-q")
    assert calls["n"] == 2
    assert_user_error(r, str(out), "no space left on device", "unchanged")
    ck = checkpoint.load(str(out))           # the epoch-1 checkpoint, intact
    assert ck.state["epoch"] == 1
    _no_temp_files(out_dir)


def test_full_disk_while_resuming_keeps_checkpoint(capsys, tmp_path, corpus, monkeypatch):
    out_dir = tmp_path / "run"
    out_dir.mkdir()
    out = out_dir / "model.npz"
    r = rnn(capsys, "train", corpus, "-o", out, *TINY)
    assert r.code == 0, r
    before = out.read_bytes()
    _full_disk_on(monkeypatch, "model.npz", fail_from_call=1)
    r = rnn(capsys, "train", corpus, "--resume", out, "-o", out, "--epochs", "2", "-q")
    assert_user_error(r, "no space left on device")
    assert out.read_bytes() == before
    assert checkpoint.load(str(out)).state["epoch"] == 1
    _no_temp_files(out_dir)


# ------------------------------------------------------------------ as a real process


def test_real_process_exit_statuses(tmp_path, trained):
    r = rnn_proc("train", tmp_path / "nope.txt", "-o", tmp_path / "m.npz")
    assert r.code == 1
    assert_user_error(r, "nope.txt")
    r = rnn_proc("train", tmp_path / "nope.txt", "--hidden-dim", "0")
    assert r.code == 2
    assert_user_error(r, "--hidden-dim")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(trained.read_bytes()[:200])
    r = rnn_proc("generate", "-m", bad)
    assert r.code == 1
    assert_user_error(r, "bad.npz", "corrupt")
    assert r.out == ""


def test_real_process_empty_stdin(tmp_path):
    r = rnn_proc("train", "-", "-o", tmp_path / "m.npz", "-q", input=b"")
    assert_user_error(r, "<stdin>", "empty")
    assert not (tmp_path / "m.npz").exists()
