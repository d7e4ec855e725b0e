"""The service polls polling triggers: `flowwright serve` as a real process, killed (SIGKILL) and
started again while items arrive, against a real loopback HTTP server."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from app.settings import get_settings
from app.wiring import Container
from engine.workflow import Workflow
from tests.connectors.conftest import LoopbackServer

pytestmark = pytest.mark.slow


def _wait(what: str, check: Callable[[], bool], proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert proc.poll() is None, f"the service exited while waiting for {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _serve(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    # its own process group: a kill reaches every process it started
    proc = subprocess.Popen([sys.executable, "-m", "app.cli.main", "serve"], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def up() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                return True
        except OSError:
            return False

    _wait("the service to start", up, proc)
    return proc


def _query(db: Path, sql: str) -> list[Any]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
        try:
            return conn.execute(sql).fetchall()
        except sqlite3.OperationalError:  # the table is not there yet
            return []


def test_items_that_arrive_while_the_service_is_down_start_once_after_it_is_back(_isolated_data_dir: Path) -> None:
    listed: list[dict[str, Any]] = [{"id": 1, "title": "there before"}]
    server = LoopbackServer()
    server.routes["/items"] = lambda rec: (200, {}, list(listed))
    server.start()
    container = Container.open(get_settings(), vault=False)
    try:
        row, _version = container.workflow_store.create("default", Workflow.model_validate({
            "schema_version": "1.1", "name": "new items",
            "nodes": [{"id": "new_item", "type": "trigger", "kind": "poll", "connector": "http",
                       "operation": "new_items", "config": {"interval_s": 1, "input": {"url": f"{server.url}/items"}}},
                      {"id": "say", "type": "action", "connector": "core", "operation": "log",
                       "config": {"message": "{{ trigger.title }}"}}],
            "edges": [{"source": "new_item", "target": "say"}]}))
        container.workflow_store.activate("default", row.id)
    finally:
        container.close()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "FLOWWRIGHT_PORT": str(port), "FLOWWRIGHT_WORKERS": "0", "FLOWWRIGHT_SCHEDULER_POLL_S": "0.2",
           "FLOWWRIGHT_HTTP_ALLOW_HOSTS": "127.0.0.1", "FLOWWRIGHT_COPILOT_WARM_UP": "false"}
    db = _isolated_data_dir / "flowwright.db"

    def inputs() -> list[str]:
        rows = _query(db, "SELECT input FROM executions WHERE trigger = 'poll' ORDER BY created_at")
        return [json.loads(r[0])["title"] for r in rows]

    def created() -> int:  # no workers: the runs are created and queued, which is what counts here
        return len(_query(db, "SELECT id FROM executions WHERE trigger = 'poll'"))

    proc = _serve(env, port)
    try:
        _wait("the trigger to be armed", lambda: _query(db, "SELECT armed FROM poll_state") == [(1,)], proc)
        listed.extend([{"id": 2, "title": "second"}, {"id": 3, "title": "third"}])
        _wait("two runs", lambda: created() == 2, proc)
        os.killpg(proc.pid, signal.SIGKILL)  # a crash, not a shutdown
        proc.wait(timeout=30)
        listed.append({"id": 4, "title": "while down"})
        proc = _serve(env, port)
        _wait("the third run", lambda: created() == 3, proc)
        polls = len(server.requests)
        _wait("two more polls", lambda: len(server.requests) >= polls + 2, proc)
        assert inputs() == ["second", "third", "while down"]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
        server.stop()
