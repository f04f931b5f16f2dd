"""Every command and every option has help text, and the help screens work."""
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from rnncli.cli import cli


def _leaves(group, prefix=()):
    """(path, command) of every command, the subcommands of groups (rnn forecast ...) included."""
    for name, cmd in sorted(group.commands.items()):
        if isinstance(cmd, click.Group):
            yield from _leaves(cmd, prefix + (name,))
        else:
            yield prefix + (name,), cmd


COMMANDS = [" ".join(path) for path, _ in _leaves(cli)]
LEAF = {" ".join(path): cmd for path, cmd in _leaves(cli)}
GROUPS = [name for name, cmd in sorted(cli.commands.items()) if isinstance(cmd, click.Group)]


def test_the_commands_exist():
    assert {"train", "generate", "eval", "info", "tokenize",
            "forecast train", "forecast predict", "forecast eval"} <= set(COMMANDS)


@pytest.mark.parametrize("name", GROUPS)
def test_command_groups_have_help(name):
    group = cli.commands[name]
    assert (group.help or "").strip() and group.get_short_help_str().strip()
    r = CliRunner().invoke(cli, [name, "--help"])
    assert r.exit_code == 0, r.output
    for sub in group.commands:
        assert sub in r.output


def test_group_has_help_and_options_have_help():
    assert (cli.help or "").strip()
    for p in cli.params:
        if isinstance(p, click.Option):
            assert (p.help or "").strip(), f"rnn {p.opts}: no help"


@pytest.mark.parametrize("name", COMMANDS)
def test_command_and_every_option_have_help(name):
    cmd = LEAF[name]
    assert (cmd.help or "").strip(), f"rnn {name}: no help"
    assert cmd.get_short_help_str().strip()
    options = [p for p in cmd.params if isinstance(p, click.Option)]  # Click arguments carry no help
    assert options
    missing = [p.opts[0] for p in options if not (p.help or "").strip()]
    assert not missing, f"rnn {name}: options without help: {missing}"


@pytest.mark.parametrize("name", COMMANDS)
def test_help_screen_lists_every_option(name):
    r = CliRunner().invoke(cli, [*name.split(), "--help"])
    assert r.exit_code == 0, r.output
    assert f"Usage: cli {name}" in r.output or f"Usage: rnn {name}" in r.output
    cmd = LEAF[name]
    for p in cmd.params:
        if isinstance(p, click.Option) and not p.hidden:
            assert p.opts[-1] in r.output, (name, p.opts)
            # the first words of the help text appear on the screen
            assert " ".join(p.help.split()[:2]) in " ".join(r.output.split()), (name, p.opts)


def test_python_dash_m_help():
    p = subprocess.run([sys.executable, "-m", "rnncli", "--help"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert "Usage: rnn" in p.stdout
    for name in cli.commands:
        assert name in p.stdout
    p = subprocess.run([sys.executable, "-m", "rnncli", "eval", "-h"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "Usage: rnn eval" in p.stdout, p.stderr
    assert "perplexity" in p.stdout


def test_version():
    r = CliRunner().invoke(cli, ["--version"])
    assert r.exit_code == 0 and r.output.startswith("rnncli ")
