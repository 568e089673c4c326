"""Every command's `--help`: it renders, and a boolean flag reads as a flag (`--once`, not `--once <bool>`)."""

from __future__ import annotations

import re
from importlib.metadata import version
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from silverpay.cli import app

runner = CliRunner()
WIDE = {"COLUMNS": "160", "TERMINAL_WIDTH": "160", "NO_COLOR": "1"}


def _commands(command: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    found = [(path, command)]
    for name, sub in getattr(command, "commands", {}).items():
        found += _commands(sub, (*path, name))
    return found


COMMANDS = _commands(typer.main.get_command(app))


def test_every_command_is_covered() -> None:
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {"", "sim", "serve", "demo", "worker", "reconcile", "db", "db upgrade", "admin"} <= names


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[" ".join(p) or "silverpay" for p, _ in COMMANDS])
def test_help_renders_flags_as_flags(path: tuple[str, ...], command: Any) -> None:
    result = runner.invoke(app, [*path, "--help"], env=WIDE, prog_name="silverpay")
    assert result.exit_code == 0, result.output
    assert "Usage: silverpay" in result.output
    assert "<bool>" not in result.output
    assert "BOOLEAN" not in result.output
    flags = [p for p in command.params if getattr(p, "is_flag", False) and p.help and not p.hidden]
    for flag in flags:
        name = max(flag.opts, key=len)
        first_word = re.escape(flag.help.split()[0])
        # the flag's name, then only spaces, then its help text: no metavar in between
        assert re.search(rf"{re.escape(name)}\s+{first_word}", result.output), (name, result.output)


def test_demo_once_is_a_flag() -> None:
    demo = dict(COMMANDS)[("demo",)]
    once = next(p for p in demo.params if p.name == "once")
    assert once.is_flag
    result = runner.invoke(app, ["demo", "--once", "true"], env=WIDE)
    assert result.exit_code == 2
    assert "unexpected extra argument" in result.output


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"silverpay {version('silverpay')}\n"
