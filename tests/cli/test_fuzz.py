"""Property-based fuzzing through the CLI: random option values, mutated checkpoints and cache entries;
one line or a correct result, never a traceback."""
import hashlib
import io
import json
import os
import warnings
import zipfile

import click
import numpy as np
import pytest

from ..helpers import TINY, write_corpus
from ..helpers import rnn as _rnn

pytest.importorskip("hypothesis", reason="the fuzz suite needs hypothesis: pip install -e '.[test]'")

from hypothesis import event, given, note, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

from rnncli import checkpoint, registry  # noqa: E402
from rnncli.cli import cli  # noqa: E402
from rnncli.config import RANGES, SPECIALS, UNKNOWN_TOKEN  # noqa: E402
from rnncli.lm import cache as tcache  # noqa: E402
from rnncli.lm import evaluate  # noqa: E402
from rnncli.lm import settings as lm_settings  # noqa: E402
from rnncli.lm.settings import model_options  # noqa: E402
from rnncli.nn.workspace import Workspace  # noqa: E402

FAST, SLOW = 50, 1000    # examples per test: default run, slow run


# ------------------------------------------------------------------ the property


def snapshot(d, skip=()):
    """relative path -> content hash of every file under d, except those under ``skip``."""
    out = {}
    for root, _, files in os.walk(d):
        for f in files:
            p = os.path.join(root, f)
            rel = os.path.relpath(p, d)
            if not any(rel == s or rel.startswith(s + os.sep) for s in skip):
                with open(p, "rb") as fh:
                    out[rel] = hashlib.sha1(fh.read()).hexdigest()
    return out


def rnn(capsys, *args):
    """helpers.rnn, and a warning that would reach stderr (a RuntimeWarning, say) fails
    the example: in a real process it would print lines besides the one message."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = _rnn(capsys, *args)
    printed = [w for w in caught if not issubclass(w.category, (DeprecationWarning, PendingDeprecationWarning))]
    assert not printed, [str(w.message) for w in printed]
    return r


def succeeded(r) -> bool:
    """0, or non-zero with one line in rnn's error format; never a traceback."""
    assert "Traceback" not in r.err and "Traceback" not in r.out, r
    if r.code == 0:
        return True
    lines = [ln for ln in r.err.splitlines() if ln.strip()]
    assert len(lines) == 1, r
    assert lines[0].startswith("rnn: error: ") or (lines[0].startswith("rnn ") and ": error: " in lines[0]), r
    return False


def _no_constants(c):
    raise AssertionError(f"non-standard JSON constant {c}")


def strict_json(text):
    return json.loads(text, parse_constant=_no_constants)


# ------------------------------------------------------------------ shared fixtures


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A corpus and a real checkpoint trained on it (H=3, one epoch, stored validation
    sentences), shared read-only."""
    from rnncli.cli import main
    d = tmp_path_factory.mktemp("fuzzbase")
    corpus = write_corpus(d / "corpus.txt")
    try:
        main(["train", str(corpus), "-o", str(d / "model.npz"), "--no-cache", "--val-fraction", "0.3", *TINY])
    except SystemExit as e:
        assert e.code == 0
    return corpus, d / "model.npz"


# ------------------------------------------------------------------ option values


NASTY = ["nan", "NaN", "inf", "-inf", "Infinity", "-0", "0", "-1", "1e308", "1e-320", "1e400", "0x10", "1_0",
         "", " ", "3 ", "\u0661", "1.5", "2", "abc", "-", "--", "\t", "1e-5", "0.5", "1", "-0.0", "+1", "1e3"]
ENCODINGS = ["utf-8", "latin-1", "utf-16", "ascii", "rot13", "hex", "nope", "UTF8", "cp1252", "utf-32", "idna",
             "punycode", "base64", "zip", "unicode_escape", "raw_unicode_escape", "utf-8-sig", "mbcs", "cp037"]


def _int_text(lo, hi):
    return st.integers(lo, hi).map(str)


def _float_text():
    return st.floats(allow_nan=True, allow_infinity=True).map(repr) | st.floats(-3, 3).map(str)


# bounded where a valid value would make an example slow or huge, free elsewhere
BOUNDED = {"epochs": _int_text(-2, 2), "hidden_dim": _int_text(-2, 6),
           "max_time": st.floats(-1, 5).map(str), "count": _int_text(-2, 4), "min_length": _int_text(-2, 30),
           "max_length": _int_text(-2, 30)}
FIXED = {"files", "output", "resume", "val_files", "log_path", "cache_dir", "model_path", "quiet"}


def option_values(command):
    """(option, value text or None for a flag) lists for ``command``'s options, read from
    click so that options added later are fuzzed too."""
    per_option = []
    for p in cli.commands[command].params:
        if not isinstance(p, click.Option) or p.name in FIXED:
            continue
        if p.is_flag and not p.secondary_opts:
            per_option.append(st.just((p.opts[0], None)))
            continue
        if p.is_flag:
            per_option.append(st.sampled_from(p.opts + p.secondary_opts).map(lambda o: (o, None)))
            continue
        name = p.opts[-1] if p.opts[-1].startswith("--") else p.opts[0]
        # mostly plausible values, so that examples get past the parser and run
        if p.name in BOUNDED:
            values = st.one_of(BOUNDED[p.name], BOUNDED[p.name],
                               st.sampled_from([v for v in NASTY if not _is_big_valid(v)]))
        elif isinstance(p.type, click.Choice):
            values = st.one_of(st.sampled_from(list(p.type.choices)), st.sampled_from(list(p.type.choices)),
                               st.sampled_from(NASTY), st.text(max_size=6))
        elif isinstance(p.type, click.types.FloatParamType):
            values = st.one_of(st.floats(0, 1).map(str), _float_text(), st.sampled_from(NASTY))
        elif isinstance(p.type, click.types.IntParamType):
            values = st.one_of(_int_text(0, 40), _int_text(-3, 40), st.integers(-2 ** 70, 2 ** 70).map(str),
                               st.sampled_from(NASTY))
        elif p.name == "encoding":
            values = st.sampled_from(ENCODINGS) | st.text(max_size=8)
        else:
            values = st.sampled_from(NASTY) | st.text(max_size=8)
        per_option.append(st.tuples(st.just(name), values))
    return st.lists(st.one_of(per_option), max_size=4)


def _is_big_valid(v):
    try:
        return int(v.replace("_", "")) > 40 or float(v) > 40
    except ValueError:
        try:
            return float(v) > 40
        except ValueError:
            return False


def flatten(pairs):
    out = []
    for opt, v in pairs:
        out += [opt] if v is None else [opt, v]
    return out


def parsed(command, args):
    """What click makes of ``args`` (None if it refuses them): the oracle for exit 2."""
    try:
        ctx = cli.commands[command].make_context(command, list(args), resilient_parsing=False)
    except click.exceptions.Exit:
        return {}
    except click.ClickException:
        return None
    return ctx.params


def _train_options(capsys, tmp_path, base, pairs):
    corpus, _ = base
    run = tmp_path / f"run{len(os.listdir(tmp_path))}"
    run.mkdir()
    out = run / "m.npz"
    args = [str(corpus), "-o", str(out), "--epochs", "1", "-q", *flatten(pairs)]
    note(repr(args))
    before = snapshot(tmp_path, skip=("rnncli-cache", run.name))
    params = parsed("train", args)
    r = rnn(capsys, "train", *args)
    event(f"train exit {r.code}")
    if succeeded(r):
        assert params is not None, "click refuses these options but the command ran"
        ck = checkpoint.load(str(out))
        stored = {**ck.config.__dict__, **ck.task.settings.to_dict(), **model_options(ck.model)}
        for k, v in params.items():
            if k == "softmax" and v == "auto":            # stored as what it resolved to
                assert stored["softmax"] in ("full", "class")
            elif v is not None and k in stored and k != "vocab_size":
                assert stored[k] == v, (k, v, stored[k])
        assert registry.problem(ck.config, RANGES) is None
        assert registry.problem(ck.task.settings, lm_settings.RANGES) is None
    else:
        if params is None:
            assert r.code == 2, r
        assert not (run / "m.npz.lock").exists()
    assert snapshot(tmp_path, skip=("rnncli-cache", run.name)) == before
    left = set(os.listdir(run)) - {"m.npz", "m.best.npz"}
    assert not left, left


@settings(max_examples=FAST)
@given(pairs=option_values("train"))
def test_fuzz_train_options(capsys, tmp_path, base, pairs):
    _train_options(capsys, tmp_path, base, pairs)


@pytest.mark.slow
@settings(max_examples=SLOW)
@given(pairs=option_values("train"))
def test_fuzz_train_options_long(capsys, tmp_path, base, pairs):
    _train_options(capsys, tmp_path, base, pairs)


def _generate_options(capsys, tmp_path, base, pairs):
    _, model = base
    args = ["-m", str(model), *flatten(pairs)]
    note(repr(args))
    before = snapshot(tmp_path)
    params = parsed("generate", args)
    r = rnn(capsys, "generate", *args)
    event(f"generate exit {r.code}")
    if succeeded(r):
        assert params is not None
        words = checkpoint.load(str(model)).task.vocab.words
        n = params["count"]
        k = 0   # prefix words (unknown ones are read as UNKNOWN_TOKEN and shown as typed)
        typed = []
        if params["prefix"]:
            from nltk.tokenize.destructive import NLTKWordTokenizer
            k = len(NLTKWordTokenizer().tokenize(params["prefix"].lower()))
            typed = params["prefix"]
        if params["as_json"]:
            items = strict_json(r.out)
            assert len(items) == n
            for it in items:
                assert UNKNOWN_TOKEN not in it["tokens"][k:] and set(it["tokens"][k:]) <= set(words)
                assert all(w in words or w in typed for w in it["tokens"][:k])   # as typed: a piece of it
                body = it["tokens"][:-1] if it["ended"] else it["tokens"]
                assert params["min_length"] <= len(body) <= params["max_length"] or not it["ended"]
                assert len(body) <= params["max_length"]
        else:
            assert len(r.out.splitlines()) == n
            assert UNKNOWN_TOKEN not in r.out or "read as UNKNOWN_TOKEN" in r.err
    elif params is None:
        assert r.code == 2, r
    assert snapshot(tmp_path) == before


@settings(max_examples=FAST)
@given(pairs=option_values("generate"))
def test_fuzz_generate_options(capsys, tmp_path, base, pairs):
    _generate_options(capsys, tmp_path, base, pairs)


@pytest.mark.slow
@settings(max_examples=SLOW)
@given(pairs=option_values("generate"))
def test_fuzz_generate_options_long(capsys, tmp_path, base, pairs):
    _generate_options(capsys, tmp_path, base, pairs)


def _eval_options(capsys, tmp_path, base, pairs, with_file):
    corpus, model = base
    args = ["-m", str(model), *([str(corpus)] if with_file else []), *flatten(pairs)]
    note(repr(args))
    before = snapshot(tmp_path, skip=("rnncli-cache",))
    params = parsed("eval", args)
    r = rnn(capsys, "eval", *args)
    event(f"eval exit {r.code}")
    if succeeded(r):
        assert params is not None
        if params["as_json"]:
            lines = r.out.splitlines()
            s = strict_json(lines[-1])
            assert s["tokens"] > 0 and s["nll"] > 0
            if params["per_sentence"]:
                assert len(lines) == s["sentences"] + 1
                assert sum(len(strict_json(ln)["surprisal"]) for ln in lines[:-1]) == s["tokens"]
    elif params is None:
        assert r.code == 2, r
    assert snapshot(tmp_path, skip=("rnncli-cache",)) == before


@settings(max_examples=FAST)
@given(pairs=option_values("eval"), with_file=st.booleans())
def test_fuzz_eval_options(capsys, tmp_path, base, pairs, with_file):
    _eval_options(capsys, tmp_path, base, pairs, with_file)


@pytest.mark.slow
@settings(max_examples=SLOW)
@given(pairs=option_values("eval"), with_file=st.booleans())
def test_fuzz_eval_options_long(capsys, tmp_path, base, pairs, with_file):
    _eval_options(capsys, tmp_path, base, pairs, with_file)


# ------------------------------------------------------------------ checkpoint mutations


JSON_KEYS = ("config", "state", "model", "task")
DTYPES = ["float32", "float64", "float16", "int32", "int64", "uint8", "bool", "U4", "U1"]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2 ** 70, 2 ** 70) | st.floats() | st.text(max_size=6),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6), c, max_size=3), max_leaves=5)
SPECIAL_VALUES = [np.nan, np.inf, -np.inf, 0.0, -1.0, 1e30, 1e300, 3.0e38, -2 ** 31, 2 ** 40, 7]


def random_array(dtype, shape=None):
    shapes = st.just(shape) if shape is not None else hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)
    return hnp.arrays(np.dtype(dtype), shapes)


def _json_mutation(data, text, plausible=False):
    """One change to a JSON object: a field (top level, or inside a history record, the
    schedule or the splitter) set to a random value or removed, a field added, or text.
    Plausible: a field set to a value near its own."""
    try:
        obj = json.loads(text)
    except ValueError:
        obj = None
    if not plausible and (not isinstance(obj, dict) or data.draw(st.integers(0, 9)) == 0):
        return data.draw(st.text(max_size=12) | json_values.map(json.dumps))
    holders = [obj]
    for k in ("schedule", "splitter"):
        if isinstance(obj.get(k), dict):
            holders.append(obj[k])
    if isinstance(obj.get("history"), list) and obj["history"] and isinstance(obj["history"][0], dict):
        holders.append(obj["history"][0])
    h = data.draw(st.sampled_from(holders))
    keys = sorted(h)
    how = "set" if plausible else data.draw(st.sampled_from(["set", "set", "set", "drop", "add"]))
    if how == "add" or not keys:
        h[data.draw(st.text(max_size=6))] = data.draw(json_values)
    else:
        k = data.draw(st.sampled_from(keys))
        if how == "drop":
            del h[k]
        else:
            v = h[k]
            near = [None, str(v), [v], -1, 0, 10 ** 30, float("nan"), float("inf"), True]
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                near += [v + 1, -v, v * 1e300, float(v), int(v) if v == v and abs(v) < 1e18 else 0]
            h[k] = data.draw(st.sampled_from(near) if plausible else st.sampled_from(near) | json_values)
    return json.dumps(obj)


def mutate_arrays(data, arrays, plausible=False):
    """1 to 3 changes: a key dropped, a key added, an array replaced (random dtype and
    shape, or its own shape), some values of an array set to special ones, a JSON field.
    Plausible changes (finite weights, JSON values near the stored ones, an unknown key)
    leave a checkpoint that often still loads, so eval and generate run on it."""
    for _ in range(data.draw(st.integers(1, 3))):
        keys = sorted(arrays)
        op = data.draw(st.sampled_from(["extra", "values", "json"] if plausible else
                                       ["drop", "extra", "replace", "values", "values", "values", "json", "json",
                                        "json"]))
        if op == "drop" and keys:
            del arrays[data.draw(st.sampled_from(keys))]
        elif op == "extra" and plausible:
            arrays["junk"] = data.draw(random_array(data.draw(st.sampled_from(DTYPES))))
        elif op == "extra":
            k = data.draw(st.sampled_from(["junk", "param.extra", "param.layer0.b", "param.out.c", "opt.m.out.V",
                                           "opt.q.layer0.W", "task.more", "task.val_ids", "opt.x"]))
            arrays[k] = data.draw(random_array(data.draw(st.sampled_from(DTYPES))))
        elif op == "replace" and keys:
            k = data.draw(st.sampled_from(keys))
            same_shape = data.draw(st.booleans())
            arrays[k] = data.draw(random_array(data.draw(st.sampled_from(DTYPES)),
                                               arrays[k].shape if same_shape else None))
        elif op == "values":
            numeric = [k for k in keys if arrays[k].dtype.kind in ("f" if plausible else "iuf") and arrays[k].size]
            if numeric:
                k = data.draw(st.sampled_from(numeric))
                a = arrays[k].copy()
                i = data.draw(st.integers(0, a.size - 1))
                v = data.draw(st.sampled_from([v for v in SPECIAL_VALUES if not plausible or np.isfinite(v)]))
                with np.errstate(all="ignore"):
                    if a.dtype.kind == "f":
                        a.flat[i] = v
                    elif np.isfinite(v):
                        a.flat[i] = np.array(v).astype(a.dtype)
                arrays[k] = a
        elif op == "json":
            present = [k for k in JSON_KEYS if k in arrays and arrays[k].dtype.kind == "U"]
            if present:
                k = data.draw(st.sampled_from(present))
                arrays[k] = np.array(_json_mutation(data, str(arrays[k][()] if arrays[k].shape == () else ""),
                                                    plausible))
    return arrays


def write_npz(path, arrays, data, plausible=False):
    """np.savez, then perhaps a .npy header that declares another shape, or a few bytes
    of the archive changed."""
    np.savez(path, **arrays)
    how = "none" if plausible else data.draw(st.sampled_from(["none"] * 6 + ["header", "bytes", "truncate"]))
    if how == "header" and arrays:
        key = data.draw(st.sampled_from(sorted(arrays)))
        shape = data.draw(st.lists(st.sampled_from([0, 1, 3, 2 ** 20, 2 ** 40, 2 ** 62]), max_size=3).map(tuple))
        _set_header_shape(path, key, shape)
    elif how == "bytes":
        raw = bytearray(path.read_bytes())
        for _ in range(data.draw(st.integers(1, 4))):
            i = data.draw(st.integers(0, len(raw) - 1))
            raw[i] = data.draw(st.integers(0, 255))
        path.write_bytes(bytes(raw))
    elif how == "truncate":
        raw = path.read_bytes()
        path.write_bytes(raw[:data.draw(st.integers(0, len(raw) - 1))])
    note(f"archive change: {how}")


def _set_header_shape(path, key, shape):
    zin = zipfile.ZipFile(path)
    members = [(i.filename, zin.read(i)) for i in zin.infolist()]
    zin.close()
    with zipfile.ZipFile(path, "w") as zout:
        for name, raw in members:
            if name == key + ".npy":
                f = io.BytesIO(raw)
                np.lib.format.read_magic(f)
                _, fortran, dtype = np.lib.format.read_array_header_1_0(f)
                hdr = io.BytesIO()
                np.lib.format.write_array_header_1_0(hdr, {"descr": np.lib.format.dtype_to_descr(dtype),
                                                           "fortran_order": fortran, "shape": shape})
                raw = hdr.getvalue() + raw[f.tell():]
            zout.writestr(name, raw)


def _checkpoint_mutation(capsys, tmp_path, base, data, with_resume=False):
    corpus, model = base
    with np.load(model) as z:
        arrays = {k: z[k] for k in z.files}
    plausible = data.draw(st.booleans())
    arrays = mutate_arrays(data, arrays, plausible)
    note({k: (v.dtype.str, v.shape) for k, v in arrays.items()})
    note({k: str(arrays[k])[:300] for k in JSON_KEYS if k in arrays})
    path = tmp_path / "mutant.npz"
    write_npz(path, arrays, data, plausible)

    try:
        ck = checkpoint.load(str(path))
        problem = None
    except checkpoint.CheckpointError as e:
        ck, problem = None, str(e)
        assert "\n" not in problem and problem.startswith(str(path)), problem
    note(f"load: {problem or 'ok'}")
    event("loaded" if problem is None else "refused: " + problem.split(": ", 1)[1][:40])

    commands = [["info", "-m", path], ["info", "-m", path, "--json"], ["eval", "-m", path, "--json", "-q"],
                ["generate", "-m", path, "-n", "2", "--json", "--seed", "1", "--min-length", "0", "--max-length", "6"]]
    if with_resume:
        commands.append(["train", corpus, "--resume", path, "-o", tmp_path / "resumed.npz", "-q",
                         "--epochs", "2", "--no-cache"])
    before = snapshot(tmp_path)
    for args in commands:
        r = rnn(capsys, *args)
        ok = succeeded(r)
        if problem is None:
            event(f"{args[0]} {'--json ' if '--json' in args else ''}exit {r.code}")
        if problem is not None:
            assert not ok and r.err.strip() == f"rnn: error: {problem}", (args, r)
            continue
        if args[0] == "info" and "--json" in args:
            assert ok, r
            d = strict_json(r.out)
            assert d["vocab_size"] == len(ck.task.vocab) and d["hidden_dim"] == ck.model["hidden_dim"]
            assert d["parameters"] == sum(v.size for v in ck.params.values())
        elif args[0] == "info":
            assert ok, r
            assert f"C={len(ck.task.vocab):,} H={ck.model['hidden_dim']}" in r.out
        elif args[0] == "eval":
            val = ck.task.val
            if val is None or val.n_sentences == 0:
                assert not ok and "holds no validation sentences" in r.err, r
            elif ok:
                s = strict_json(r.out)
                assert s["sentences"] == val.n_sentences and s["tokens"] == val.n_predicted
                nll, _ = evaluate.total_nll(ck.network(), ck.params, val, Workspace(1))
                assert s["nll"] == pytest.approx(nll, rel=1e-9) or (s["nll"] is None and "nll" in s["non_finite"])
            else:
                assert "NaN" in r.err, r
        elif args[0] == "generate":
            if ok:
                items = strict_json(r.out)
                assert len(items) == 2
                for it in items:
                    assert UNKNOWN_TOKEN not in it["tokens"] and set(it["tokens"]) <= set(ck.task.vocab.words)
            else:
                assert "NaN" in r.err, r
        elif args[0] == "train" and ok:
            if ck.state.get("epoch", 0) >= 2:           # nothing left to train
                assert not (tmp_path / "resumed.npz").exists()
            else:
                resumed = checkpoint.load(str(tmp_path / "resumed.npz"))
                assert resumed.task.vocab.words == ck.task.vocab.words
        if args[0] != "train":
            assert snapshot(tmp_path) == before, args
    for f in ("resumed.npz", "resumed.best.npz"):
        if (tmp_path / f).exists():
            (tmp_path / f).unlink()
    left = [f for f in os.listdir(tmp_path) if f.endswith((".tmp", ".lock"))]
    assert not left, left


@settings(max_examples=4 * FAST)
@given(data=st.data())
def test_fuzz_checkpoint_mutations(capsys, tmp_path, base, data):
    _checkpoint_mutation(capsys, tmp_path, base, data)


@pytest.mark.slow
@settings(max_examples=4 * SLOW)
@given(data=st.data())
def test_fuzz_checkpoint_mutations_long(capsys, tmp_path, base, data):
    _checkpoint_mutation(capsys, tmp_path, base, data, with_resume=True)


def test_mutated_checkpoints_include_loadable_and_refused_ones(base, tmp_path):
    """The mutation strategy reaches both outcomes (a fuzzer that only ever produced
    refused files would test little)."""
    corpus, model = base
    outcomes = set()

    @settings(max_examples=60)
    @given(data=st.data())
    def probe(data):
        with np.load(model) as z:
            arrays = {k: z[k] for k in z.files}
        path = tmp_path / "probe.npz"
        plausible = data.draw(st.booleans())
        write_npz(path, mutate_arrays(data, arrays, plausible), data, plausible)
        try:
            checkpoint.load(str(path))
            outcomes.add("loaded")
        except checkpoint.CheckpointError:
            outcomes.add("refused")
    probe()
    assert outcomes == {"loaded", "refused"}


# ------------------------------------------------------------------ cache entries


@pytest.fixture
def cache_entry(capsys, tmp_path, base, isolated_cache):
    """The one cache entry that `rnn eval` on the base corpus writes, its bytes and the
    clean result."""
    corpus, model = base
    r = rnn(capsys, "eval", "-m", model, "-q", "--json", corpus)
    assert r.code == 0, r
    entries = list(isolated_cache.rglob("*.npz"))
    assert len(entries) == 1, entries
    return entries[0], entries[0].read_bytes(), strict_json(r.out)


def _cache_mutation(capsys, tmp_path, base, cache_entry, data):
    corpus, model = base
    entry, good, clean = cache_entry
    entry.write_bytes(good)
    with np.load(entry) as z:
        arrays = {k: z[k] for k in z.files}
    if data.draw(st.integers(0, 4)) == 0:   # entirely random contents under the same names
        arrays = {k: data.draw(random_array(data.draw(st.sampled_from(DTYPES)))) for k in arrays}
    arrays = mutate_arrays(data, arrays)
    if "meta" in arrays and data.draw(st.booleans()):
        arrays["meta"] = np.array(_json_mutation(data, str(arrays["meta"]) if arrays["meta"].shape == () else ""))
    write_npz(entry, arrays, data)
    mutant = entry.read_bytes()
    copy = tmp_path / "copy.npz"
    copy.write_bytes(mutant)
    valid = tcache.load_cached(str(copy)) is not None
    note(f"entry judged {'valid' if valid else 'invalid'}")
    event(f"entry {'valid' if valid else 'invalid'}")
    before = snapshot(tmp_path, skip=(entry.relative_to(tmp_path).parts[0],))
    r = rnn(capsys, "eval", "-m", model, "-q", "--json", corpus)
    assert r.code == 0 and r.err == "", r            # a cache entry is never the user's problem
    s = strict_json(r.out)
    if not valid:
        assert (s["nll"], s["tokens"], s["sentences"]) == (clean["nll"], clean["tokens"], clean["sentences"])
        assert entry.read_bytes() == good            # rewritten as a fresh tokenization writes it
    else:
        assert entry.read_bytes() == mutant          # a valid entry is read, not rewritten
    assert snapshot(tmp_path, skip=(entry.relative_to(tmp_path).parts[0],)) == before
    left = [f for f in os.listdir(entry.parent) if f.endswith(".tmp")]
    assert not left, left


@settings(max_examples=FAST)
@given(data=st.data())
def test_fuzz_cache_entries(capsys, tmp_path, base, cache_entry, data):
    _cache_mutation(capsys, tmp_path, base, cache_entry, data)


@pytest.mark.slow
@settings(max_examples=SLOW)
@given(data=st.data())
def test_fuzz_cache_entries_long(capsys, tmp_path, base, cache_entry, data):
    _cache_mutation(capsys, tmp_path, base, cache_entry, data)


def test_special_tokens_stay_first(base):
    """The base checkpoint the mutations start from is a normal one."""
    ck = checkpoint.load(str(base[1]))
    assert ck.task.vocab.words[:3] == list(SPECIALS) and ck.task.val.n_sentences > 0
