"""Settings: env prefix, defaults, generated secret key, production refusals."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from app.settings import Settings, UnsafeSettingsError


def test_defaults_and_prefix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FLOWWRIGHT_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("FLOWWRIGHT_PORT", "9123")
    s = Settings()
    assert s.port == 9123
    assert s.model == "local/flowwright-planner"
    assert s.resolved_database_url == f"sqlite:///{(tmp_path / 'd' / 'flowwright.db').resolve()}"


def test_secret_key_generated_once_with_0600(tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path / "d")
    key = s.master_key()
    key_file = tmp_path / "d" / "secret.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(key) >= 40
    assert Settings(data_dir=tmp_path / "d").master_key() == key


def test_placeholder_key_refused_in_production(tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path, env="production", secret_key="changeme")
    with pytest.raises(UnsafeSettingsError, match="placeholder"):
        s.check_safe()
    Settings(data_dir=tmp_path, env="development", secret_key="changeme").check_safe()


def test_bad_value_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWWRIGHT_PORT", "not-a-port")
    with pytest.raises(ValueError, match="port"):
        Settings()
