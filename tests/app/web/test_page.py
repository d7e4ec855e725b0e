"""The web page in a real browser (Debian's headless Chromium) against the real service:
chat → workflow with its inserted guardrails → dry run followed live over SSE → undo."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.app.web.cdp import Browser, find_chromium, free_port

pytestmark = pytest.mark.slow


@pytest.fixture
def service(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "FLOWWRIGHT_DATA_DIR": str(tmp_path / "data"), "FLOWWRIGHT_PORT": str(port)}
    proc = subprocess.Popen([sys.executable, "-m", "app.cli.main", "serve"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=2):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"the service did not start: {proc.stderr.read().decode()[-2000:]}") from None
            time.sleep(0.2)
    yield base
    proc.terminate()
    proc.wait(timeout=20)


@pytest.fixture
def browser(service: str) -> Iterator[Browser]:
    binary = find_chromium()
    if binary is None:
        pytest.skip("no Chromium on this machine (CI installs Debian's chromium)")
    page = Browser(binary, f"{service}/")
    yield page
    page.close()


def send(browser: Browser, message: str) -> None:
    browser.wait_for("document.readyState === 'complete' && !!document.getElementById('prompt')")
    browser.evaluate(f"document.getElementById('prompt').value = {json.dumps(message)}; "
                     "document.getElementById('composer').requestSubmit(); true")


def test_chat_shows_the_guarded_workflow_and_runs_it_live(browser: Browser, tmp_path: Path) -> None:
    send(browser, "Every day at 8:00 fetch https://api.example.com/status and post the result to #ops")
    browser.wait_for("document.querySelectorAll('#messages li.assistant').length === 1", timeout=60)
    nodes = browser.evaluate("[...document.querySelectorAll('#nodes > li')].map(li => li.dataset.nodeId)")
    assert len(nodes) >= 3
    kinds = browser.evaluate("document.getElementById('nodes').textContent")
    assert "schedule trigger · 0 8 * * *" in kinds and "http.request" in kinds and "slack.post_message" in kinds
    assert browser.evaluate("document.querySelectorAll('#nodes li.guardrail, #nodes li .badge').length") >= 1
    assert "inserted guardrail" in browser.evaluate("document.getElementById('wf-meta').textContent")

    browser.evaluate("document.getElementById('dry-run').click(); true")
    browser.wait_for("document.getElementById('exec-status').className === 'completed'", timeout=60)
    events = browser.evaluate("[...document.querySelectorAll('#events li')].map(li => li.textContent)")
    assert events[0].startswith("#1 execution.started")
    assert any("node.completed" in e for e in events) and events[-1].endswith("execution.completed")
    assert browser.evaluate("document.querySelectorAll('#nodes li.done').length") >= 2

    send(browser, "also email it to bob@example.com")
    browser.wait_for("document.querySelectorAll('#messages li.assistant').length === 2", timeout=60)
    assert "email.send" in browser.evaluate("document.getElementById('nodes').textContent")
    browser.screenshot(tmp_path / "page.png")
    browser.evaluate("document.getElementById('undo').click(); true")
    browser.wait_for("document.querySelectorAll('#messages li.assistant').length === 3", timeout=30)
    assert "email.send" not in browser.evaluate("document.getElementById('nodes').textContent")


def test_a_question_and_an_error_are_shown_as_such(browser: Browser) -> None:
    send(browser, "send the report to the team")
    browser.wait_for("document.querySelectorAll('#messages li.question').length === 1", timeout=60)
    browser.evaluate("document.getElementById('workspace').value = 'bad workspace!'; true")
    send(browser, "every day at 9 log hello")
    text = browser.wait_for("document.querySelector('#messages li.error')?.textContent", timeout=30)
    assert "invalid X-Workspace" in text
