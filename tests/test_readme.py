"""The README stays a true newcomer's page: both commands, every setting, the CLI commands."""

from __future__ import annotations

import re
from pathlib import Path

from app.settings import Settings

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_both_commands_are_there() -> None:
    assert "make run" in README and "make test" in README


def test_every_setting_is_documented() -> None:
    missing = [f"FLOWWRIGHT_{name.upper()}" for name in Settings.model_fields
               if f"`FLOWWRIGHT_{name.upper()}`" not in README]
    assert missing == [], f"document these settings in the README's configuration table: {missing}"


def test_no_setting_is_documented_that_does_not_exist() -> None:
    known = {f"FLOWWRIGHT_{name.upper()}" for name in Settings.model_fields}
    named = set(re.findall(r"`(FLOWWRIGHT_[A-Z0-9_]+)`", README))
    assert named - known == set()


def test_every_cli_command_is_mentioned() -> None:
    from typer.main import get_command

    from app.cli.main import app

    commands = get_command(app).commands  # type: ignore[attr-defined]
    missing = [name for name in commands if f"flowwright {name}" not in README]
    assert missing == [], f"mention these commands in the README: {missing}"
