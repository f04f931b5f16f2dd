"""Every command and every option has help text, and the help screens work."""
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from rnncli.cli import cli

COMMANDS = sorted(cli.commands)


def test_the_commands_exist():
    assert {"train", "generate", "eval", "info", "tokenize"} <= set(COMMANDS)


def test_group_has_help_and_options_have_help():
    assert (cli.help or "").strip()
    for p in cli.params:
        if isinstance(p, click.Option):
            assert (p.help or "").strip(), f"rnn {p.opts}: no help"


@pytest.mark.parametrize("name", COMMANDS)
def test_command_and_every_option_have_help(name):
    cmd = cli.commands[name]
    assert (cmd.help or "").strip(), f"rnn {name}: no help"
    assert cmd.get_short_help_str().strip()
    options = [p for p in cmd.params if isinstance(p, click.Option)]  # Click arguments carry no help
    assert options
    missing = [p.opts[0] for p in options if not (p.help or "").strip()]
    assert not missing, f"rnn {name}: options without help: {missing}"


@pytest.mark.parametrize("name", COMMANDS)
def test_help_screen_lists_every_option(name):
    r = CliRunner().invoke(cli, [name, "--help"])
    assert r.exit_code == 0, r.output
    assert f"Usage: cli {name}" in r.output or f"Usage: rnn {name}" in r.output
    cmd = cli.commands[name]
    for p in cmd.params:
        if isinstance(p, click.Option) and not p.hidden:
            assert p.opts[-1] in r.output, (name, p.opts)
            # the first words of the help text appear on the screen
            assert " ".join(p.help.split()[:2]) in " ".join(r.output.split()), (name, p.opts)


def test_python_dash_m_help():
    p = subprocess.run([sys.executable, "-m", "rnncli", "--help"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert "Usage: rnn" in p.stdout
    for name in COMMANDS:
        assert name in p.stdout
    p = subprocess.run([sys.executable, "-m", "rnncli", "eval", "-h"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "Usage: rnn eval" in p.stdout, p.stderr
    assert "perplexity" in p.stdout


def test_version():
    r = CliRunner().invoke(cli, ["--version"])
    assert r.exit_code == 0 and r.output.startswith("rnncli ")
