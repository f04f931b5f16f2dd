"""Property-based fuzzing of the output-path policy (issue 22, cli/files.Paths): random
commands that write, with one output naming a file the command reads or writes in
another role (the same string, ./, an absolute path, sub/.., a hard link, a symbolic
link; the .best file or the lock file of another output), or a path that is not a
regular file (a directory, a named pipe, a device node, /dev/null, an empty name).

The property: a non-zero exit with exactly one line in rnn's error format, no
traceback, and no file changed, added or removed (the cache directory aside; lock
files included). Same profiles as tests/test_fuzz.py (tests/conftest.py)."""
import os
import shutil
import stat
import tempfile

import pytest

pytest.importorskip("hypothesis", reason="the fuzz suite needs hypothesis: pip install -e '.[test]'")

from hypothesis import given, note, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from rnncli import fileio  # noqa: E402
from rnncli.checkpoint import best_path  # noqa: E402
from rnncli.cli import main  # noqa: E402

from ..helpers import TINY, assert_user_error, rnn, write_corpus  # noqa: E402
from .test_output_paths import FC, files_in, series_csv  # noqa: E402

# the space is small (about 200 collisions, 100 odd outputs): every run covers it all
EXAMPLES = 300


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """The files the commands read: text, a checkpoint, a tokenized corpus, a series and a
    forecasting checkpoint, made once and copied into each example's folder."""
    d = tmp_path_factory.mktemp("pathsbase")
    write_corpus(d / "c.txt")
    write_corpus(d / "v.txt", "The cat ran to the mat. The dog sat on the log.\n")
    series_csv(d / "s.csv")
    cache = str(d / "cache")
    for args in (["train", "c.txt", "-o", "m.npz", *TINY, "--cache-dir", cache],
                 ["tokenize", "c.txt", "-o", "cy.npz", "-q", "--cache-dir", cache],
                 ["forecast", "train", "s.csv", "-o", "f.npz", *FC]):
        cwd = os.getcwd()
        os.chdir(d)
        try:
            main(args)
        except SystemExit as e:
            assert e.code == 0, args
        finally:
            os.chdir(cwd)
    shutil.rmtree(d / "cache")
    return d


class Command:
    """A command line with named slots: ``inputs`` (slot -> the existing file it reads),
    ``outputs`` (slot -> the fresh name it writes; ``best``: those with a .best file)
    and ``allowed`` (output slot, slot) pairs that may name one file (-o and --resume)."""

    def __init__(self, build, inputs, outputs, best=(), allowed=()):
        self.build, self.inputs, self.outputs, self.best, self.allowed = build, inputs, outputs, set(best), set(allowed)

    def victims(self, slot, paths):
        """(what, path) this output slot must never be given: every other slot's file, the
        .best and lock files of every output."""
        out = [(s, p) for s, p in paths.items() if s != slot and (slot, s) not in self.allowed]
        out += [(f"{s}.best", best_path(paths[s])) for s in self.outputs if s in self.best and s != slot]
        out += [(f"{s}.lock", paths[s] + ".lock") for s in self.outputs if s != slot]
        return out


COMMANDS = {
    "train": Command(lambda p: ["train", p["FILE"], "--val", p["--val"], "-o", p["-o"], "--log", p["--log"], *TINY],
                     {"FILE": "c.txt", "--val": "v.txt"}, {"-o": "n.npz", "--log": "log.jsonl"}, best=["-o"]),
    "train corpus": Command(lambda p: ["train", p["FILE"], "-o", p["-o"], *TINY],
                            {"FILE": "cy.npz"}, {"-o": "n.npz"}, best=["-o"]),
    "train resume": Command(lambda p: ["train", p["FILE"], "--resume", p["--resume"], "-o", p["-o"],
                                       "--log", p["--log"], "--epochs", "2", "-q"],
                            {"FILE": "c.txt", "--resume": "m.npz"}, {"-o": "n.npz", "--log": "log.jsonl"},
                            best=["-o"], allowed=[("-o", "--resume")]),
    "tokenize": Command(lambda p: ["tokenize", p["FILE"], "-m", p["-m"], "-o", p["-o"], "-q"],
                        {"FILE": "c.txt", "-m": "m.npz"}, {"-o": "t.npz"}),
    "info": Command(lambda p: ["info", "-m", p["-m"], "--plot", p["--plot"]], {"-m": "m.npz"}, {"--plot": "p.png"}),
    "plot": Command(lambda p: ["plot", p["SOURCE"], "-o", p["-o"]], {"SOURCE": "m.npz"}, {"-o": "p.png"}),
    "forecast train": Command(lambda p: ["forecast", "train", p["DATA"], *FC, "-o", p["-o"], "--log", p["--log"]],
                              {"DATA": "s.csv"}, {"-o": "g.npz", "--log": "log.jsonl"}, best=["-o"]),
    "forecast resume": Command(lambda p: ["forecast", "train", p["DATA"], "--resume", p["--resume"], "-o", p["-o"],
                                          "--epochs", "2", "-q"],
                               {"DATA": "s.csv", "--resume": "f.npz"}, {"-o": "g.npz"}, best=["-o"],
                               allowed=[("-o", "--resume")]),
    "forecast predict": Command(lambda p: ["forecast", "predict", p["DATA"], "-m", p["-m"], "--plot", p["--plot"],
                                           "-q"], {"DATA": "s.csv", "-m": "f.npz"}, {"--plot": "p.png"}),
    "forecast eval": Command(lambda p: ["forecast", "eval", p["DATA"], "-m", p["-m"], "--plot", p["--plot"], "-q"],
                             {"DATA": "s.csv", "-m": "f.npz"}, {"--plot": "p.png"}),
}

NAMINGS = ["same", "dot", "absolute", "updown", "hardlink", "symlink"]
KINDS = ["directory", "fifo", "device", "/dev/null", "/dev/full", "empty"]


def named(how, path, d):
    """Another name for ``path`` (relative to ``d``, which is the current directory)."""
    if how == "same":
        return path
    if how == "dot":
        return "./" + path
    if how == "absolute":
        return os.path.join(d, path)
    if how == "updown":
        os.makedirs(os.path.join(d, "sub"), exist_ok=True)
        return os.path.join("sub", "..", path)
    if how == "hardlink":
        if not os.path.exists(path):
            open(path, "wb").close()     # an output left by an earlier run
        os.link(path, "alias")
        return "alias"
    os.symlink(path, "alias")
    return "alias"


def odd_path(kind, d):
    if kind == "directory":
        os.mkdir("adir")
        return "adir"
    if kind == "fifo":
        os.mkfifo("apipe")
        return "apipe"
    if kind == "device":
        try:
            os.mknod("anode", stat.S_IFCHR | 0o666, os.makedev(1, 3))
        except (PermissionError, AttributeError):
            return "/dev/null"
        return "anode"
    return "" if kind == "empty" else kind


@pytest.fixture
def no_device_writes(monkeypatch):
    """A regression must fail the example, not replace /dev/null (as root it could)."""
    write = fileio.atomic_write

    def guarded(path, *a, **k):
        if os.path.realpath(path).startswith("/dev/"):
            pytest.fail(f"about to replace {path}")
        return write(path, *a, **k)
    monkeypatch.setattr(fileio, "atomic_write", guarded)


def _run(capsys, base, command, slot, make_path):
    """Run ``command`` in a fresh folder with output ``slot`` given ``make_path(paths)``;
    check the property."""
    cmd = COMMANDS[command]
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as d:
        for f in set(cmd.inputs.values()):
            shutil.copy(base / f, os.path.join(d, f))
        os.chdir(d)
        try:
            paths = {**cmd.inputs, **cmd.outputs}
            paths[slot] = make_path(paths, d)
            args = cmd.build(paths)
            note(f"rnn {' '.join(map(repr, args))}")
            before = files_in(d)
            if "apipe" == paths[slot] and slot == "--log":
                return   # appending to a pipe nobody reads would block a regression forever
            r = rnn(capsys, *args)
            assert_user_error(r)
            assert files_in(d) == before          # lock files included: none is left behind
        finally:
            os.chdir(cwd)


@st.composite
def collisions(draw):
    command = draw(st.sampled_from(sorted(COMMANDS)))
    cmd = COMMANDS[command]
    slot = draw(st.sampled_from(sorted(cmd.outputs)))
    victims = cmd.victims(slot, {**cmd.inputs, **cmd.outputs})
    what, _ = draw(st.sampled_from(victims))
    return command, slot, what, draw(st.sampled_from(NAMINGS))


def _collision(capsys, base, example):
    command, slot, what, how = example
    cmd = COMMANDS[command]

    def make(paths, d):
        victim = dict(cmd.victims(slot, paths))[what]
        return named(how, victim, d)
    _run(capsys, base, command, slot, make)


@settings(max_examples=EXAMPLES)
@given(example=collisions())
def test_fuzz_path_collisions(capsys, base, no_device_writes, example):
    _collision(capsys, base, example)


@st.composite
def odd_outputs(draw):
    command = draw(st.sampled_from(sorted(COMMANDS)))
    slot = draw(st.sampled_from(sorted(COMMANDS[command].outputs)))
    return command, slot, draw(st.sampled_from(KINDS))


@settings(max_examples=EXAMPLES)
@given(example=odd_outputs())
def test_fuzz_outputs_that_are_not_regular_files(capsys, base, no_device_writes, example):
    command, slot, kind = example
    _run(capsys, base, command, slot, lambda paths, d: odd_path(kind, d))


def test_the_best_file_of_the_output_is_never_an_input(capsys, base, no_device_writes):
    """-o NAME writes NAME.best too: an input of that name is refused, whichever command."""
    for command, data, out in (("train", "k.best.npz", "k.npz"), ("forecast train", "d.best.csv", "d.csv")):
        cwd = os.getcwd()
        with tempfile.TemporaryDirectory() as d:
            shutil.copy(base / ("cy.npz" if command == "train" else "s.csv"), os.path.join(d, data))
            os.chdir(d)
            try:
                args = (["train", data, "-o", out, *TINY] if command == "train"
                        else ["forecast", "train", data, *FC, "-o", out])
                before = files_in(d)
                assert_user_error(rnn(capsys, *args), data, "best checkpoint")
                assert files_in(d) == before
            finally:
                os.chdir(cwd)
