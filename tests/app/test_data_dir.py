"""The data dir is private (finding of issue 11: the database file was world-readable, 0644):
the folder 0700 and its files 0600 — new ones, and those an older release left readable."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.api.server import create_app
from app.data_dir import secure
from app.settings import get_settings
from app.wiring import Container


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def modes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): mode(p) for p in [root, *root.rglob("*")]}


def test_a_new_data_dir_is_private(_isolated_data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = _isolated_data_dir / "fresh"
    monkeypatch.setenv("FLOWWRIGHT_DATA_DIR", str(data))
    get_settings.cache_clear()
    with TestClient(create_app(get_settings())) as client:  # first start: database, keys, admin key
        assert client.get("/health").status_code == 200
    found = modes(data)
    assert found["."] == 0o700
    assert {"flowwright.db", "secret.key", "admin.key"} <= set(found)
    assert {name: m for name, m in found.items() if name != "." and (Path(data, name).is_file() and m != 0o600
                                                                     or Path(data, name).is_dir() and m != 0o700)} == {}


def test_an_older_readable_data_dir_is_tightened(_isolated_data_dir: Path) -> None:
    data = _isolated_data_dir / "old"
    (data / "cache" / "chroma").mkdir(parents=True)
    for name in ("flowwright.db", "secret.key", "cache/chroma/index.bin"):
        (data / name).write_bytes(b"x")
        (data / name).chmod(0o644)
    for folder in (data, data / "cache", data / "cache" / "chroma"):
        folder.chmod(0o755)
    outside = _isolated_data_dir / "elsewhere.txt"
    outside.write_text("not ours to change")
    outside.chmod(0o644)
    (data / "link").symlink_to(outside)
    secure(data)
    assert mode(data) == mode(data / "cache") == mode(data / "cache" / "chroma") == 0o700
    assert mode(data / "flowwright.db") == mode(data / "secret.key") == mode(data / "cache/chroma/index.bin") == 0o600
    assert mode(outside) == 0o644  # a symlink is not followed


def test_the_database_is_created_0600_before_sqlite_opens_it(_isolated_data_dir: Path) -> None:
    container = Container.open(get_settings(), vault=False)
    try:
        with container.db.begin() as conn:  # a write makes the -wal and -shm files
            conn.exec_driver_sql("CREATE TABLE t (x)")
        files = [p for p in _isolated_data_dir.iterdir() if p.name.startswith("flowwright.db")]
        assert {p.name for p in files} >= {"flowwright.db", "flowwright.db-wal"}
        assert {p.name: mode(p) for p in files} == {p.name: 0o600 for p in files}
    finally:
        container.close()


def test_serve_writes_nothing_others_can_read(_isolated_data_dir: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "FLOWWRIGHT_PORT": str(port), "FLOWWRIGHT_WORKERS": "0", "FLOWWRIGHT_SCHEDULER_ENABLED": "false"}
    proc = subprocess.Popen([sys.executable, "-m", "app.cli.main", "serve"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                    break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "the service did not start"
                time.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    found = modes(_isolated_data_dir)
    assert "admin.key" in found and "flowwright.db" in found
    assert {n: m for n, m in found.items() if m & 0o077} == {}  # nothing for group or others
