"""Memory, before it is allocated: the estimate of rnncli/memory.py held against a small
run's actual arrays; a run or a sample that cannot fit refused at once with the figures
(the machine's available memory is set in-process, never the real one's); and an
out-of-memory message that names only options of the command that met it."""
import click
import pytest

from rnncli import memory
from rnncli.cli import cli
from rnncli.cli.display import Progress
from rnncli.cli.errors import SMALLER, out_of_memory
from rnncli.nn.network import Network
from rnncli.nn.seq2seq import Seq2Seq

from ..helpers import TINY, assert_user_error, hourly_series, rnn, write_corpus

CORPUS_TEXT = "\n\n".join(f"The cat{i % 11} sat on the mat{i % 7}. A dog{i % 5} ran to house{i % 13}.\n"
                           f"The bird{i % 3} saw word{i % 37} and the log." for i in range(200))


@pytest.fixture
def corpus(tmp_path):
    return write_corpus(tmp_path / "corpus.txt", CORPUS_TEXT)




@pytest.fixture
def captured(monkeypatch):
    """The estimate each run makes, in place of the check against this machine."""
    seen = {}
    monkeypatch.setattr(memory, "check", lambda need, *a, **kw: seen.update(need=dict(need)))
    return seen


def held_by(trainer) -> dict:
    """The bytes a Trainer actually holds, by the estimate's kinds."""
    P = sum(v.nbytes for v in trainer.params.values())
    held = {"parameters and their copies": P + sum(g.nbytes for g in trainer.grads.values())
            + sum(v.nbytes for v in trainer.opt.state.values()) + sum(v.nbytes for v in trainer.opt._tmp.values())}
    if trainer.averaging is not None:
        held["parameters and their copies"] += sum(v.nbytes for d in (trainer.averaging.avg, trainer.averaging.buf)
                                                   for v in d.values())
    if trainer.best.params is not None:
        held["parameters and their copies"] += sum(v.nbytes for v in trainer.best.params.values())
    held["work arrays"] = sum(b.nbytes for b in trainer.ws._bufs.values())
    return held


def estimated(need: dict) -> dict:
    return {"parameters and their copies": sum(v for k, v in need.items() if k != "work arrays"),
            "work arrays": need["work arrays"]}


@pytest.mark.parametrize("given", [{"hidden_dim": 16},
                                   {"hidden_dim": 16, "softmax": "class", "cell": "gru", "layers": 2},
                                   {"hidden_dim": 24, "cell": "lstm", "dropout": 0.2, "optimizer": "sgd"},
                                   {"hidden_dim": 8, "dtype": "float64", "batch_size": 64, "average": 0.0}])
def test_the_estimate_of_a_language_model_run_is_within_a_factor_of_its_arrays(corpus, captured, given):
    from rnncli.lm import prepare
    settings = prepare.configure(dict(given, epochs=1, vocab_size=40))
    setup = prepare.prepare_training([str(corpus)], [], settings, None, False, None, Progress(True))
    trainer = setup.trainer(str(corpus.parent / "m.npz"))
    trainer.run()
    held, est = held_by(trainer), estimated(captured["need"])
    assert est["parameters and their copies"] == held["parameters and their copies"]
    assert 0.5 < est["work arrays"] / held["work arrays"] < 2, (est, held)


@pytest.mark.parametrize("given", [{}, {"attention": True, "cell": "lstm", "layers": 2}, {"cell": "rnn"}])
def test_the_estimate_of_a_forecasting_run_is_within_a_factor_of_its_arrays(tmp_path, captured, given):
    from rnncli.forecast import prepare
    settings = prepare.configure(dict(given, targets=["y"], history=24, horizon=6, epochs=1, hidden_dim=16))
    data = str(hourly_series(tmp_path / "s.csv", 400, covariate=True))
    setup = prepare.prepare_training(data, settings, None, Progress(True))
    trainer = setup.trainer(str(tmp_path / "f.npz"))
    trainer.run()
    held, est = held_by(trainer), estimated(captured["need"])
    assert est["parameters and their copies"] == held["parameters and their copies"]
    assert 0.5 < est["work arrays"] / held["work arrays"] < 2, (est, held)


# ------------------------------------------------------------------ refused before allocating


@pytest.fixture
def machine(monkeypatch):
    """This machine has ``free`` bytes to give, whatever the real one has."""
    state = {"free": 2_000_000_000}
    monkeypatch.setattr(memory, "available", lambda: (state["free"], "available"))
    return state


@pytest.fixture
def no_init(monkeypatch):
    """Fails the test if any network's parameters are allocated."""
    def init(self, *a, **kw):
        raise AssertionError("parameters allocated before the memory check")
    monkeypatch.setattr(Network, "init", init)
    monkeypatch.setattr(Seq2Seq, "init", init)


def test_a_huge_hidden_dim_is_refused_before_allocating(capsys, machine, no_init, corpus, tmp_path):
    r = rnn(capsys, "train", corpus, "-o", tmp_path / "m.npz", "--hidden-dim", "10000000", "-q")
    msg = assert_user_error(r, "needs about", "TB of memory", "2.0 GB available", "try a smaller --hidden-dim")
    assert "--batch-size" not in msg          # the work arrays are not what is too large
    assert not (tmp_path / "m.npz").exists()


def test_many_layers_are_refused_before_allocating(capsys, machine, no_init, corpus, tmp_path):
    r = rnn(capsys, "train", corpus, "-o", tmp_path / "m.npz", "--layers", "20000", "-q")
    assert_user_error(r, "needs about", "GB of memory", "--layers")


def test_a_huge_forecaster_is_refused_before_allocating(capsys, machine, no_init, tmp_path):
    data = hourly_series(tmp_path / "s.csv", 400, covariate=True)
    r = rnn(capsys, "forecast", "train", data, "--target", "y", "--history", "8",
            "--horizon", "4", "--hidden-dim", "200000", "-o", tmp_path / "f.npz", "-q")
    msg = assert_user_error(r, "needs about", "GB available", "--hidden-dim", "--layers")
    assert "--vocab-size" not in msg


def test_a_resumed_run_that_cannot_fit_names_no_model_option(capsys, machine, corpus, tmp_path):
    out = tmp_path / "m.npz"
    assert rnn(capsys, "train", corpus, "-o", out, *TINY).code == 0
    machine["free"] = 10_000
    r = rnn(capsys, "train", corpus, "--resume", out, "-o", out, "--epochs", "2", "-q")
    msg = assert_user_error(r, "needs about", "10 kB available")
    for opt in ("--hidden-dim", "--layers", "--vocab-size"):
        assert opt not in msg


def test_a_run_that_fits_is_not_refused(capsys, machine, corpus, tmp_path):
    r = rnn(capsys, "train", corpus, "-o", tmp_path / "m.npz", *TINY)
    assert r.code == 0, r


def test_generate_checks_n_before_sampling(capsys, machine, corpus, tmp_path, monkeypatch):
    model = tmp_path / "m.npz"
    assert rnn(capsys, "train", corpus, "-o", model, *TINY).code == 0
    machine["free"] = 1_000_000
    import rnncli.lm.generate as gen
    real = gen.sample
    monkeypatch.setattr(gen, "sample", lambda *a, **kw: pytest.fail("sampled before the check"))
    r = rnn(capsys, "generate", "-m", model, "-n", "1000000000")
    msg = assert_user_error(r, "-n 1000000000 needs about", "1.0 MB available", "give -n")
    fits = msg.split("give -n ")[1].split()[0]
    assert "--batch-size" not in msg and "--vocab-size" not in msg
    monkeypatch.setattr(gen, "sample", real)
    r = rnn(capsys, "generate", "-m", model, "-n", fits)       # the hint works as printed
    assert r.code == 0 and len(r.out.splitlines()) == int(fits), r


# ------------------------------------------------------------------ out of memory anyway


def _commands(group, path=()):
    for name, cmd in group.commands.items():
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, path + (name,))
        else:
            yield path + (name,), cmd


COMMANDS = list(_commands(cli))


@pytest.mark.parametrize("path,command", COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_the_out_of_memory_message_names_only_options_of_its_command(path, command):
    opts = {o for p in command.params for o in p.opts}
    for resume in (None, "r.npz"):
        parent = click.Context(cli, info_name="rnn")
        for name in path[:-1]:
            parent = click.Context(cli.commands[name], info_name=name, parent=parent)
        with click.Context(command, info_name=path[-1], parent=parent) as ctx:
            ctx.params["resume"] = resume
            msg = out_of_memory()
        named = [w.strip(",") for w in msg.split() if w.startswith("-")]
        assert all(o in opts for o in named), (path, msg)
        if resume:
            assert "--hidden-dim" not in named
    assert set(SMALLER) <= {" ".join(p) for p, _ in _commands(cli)}


def test_generate_out_of_memory_names_n(capsys, corpus, tmp_path, monkeypatch):
    model = tmp_path / "m.npz"
    assert rnn(capsys, "train", corpus, "-o", model, *TINY).code == 0
    import rnncli.lm.generate as gen

    def oom(*a, **kw):
        raise MemoryError()
    monkeypatch.setattr(gen, "sample", oom)
    r = rnn(capsys, "generate", "-m", model, "-n", "5")
    msg = assert_user_error(r, "out of memory", "try a smaller -n")
    assert "--batch-size" not in msg and "--hidden-dim" not in msg
