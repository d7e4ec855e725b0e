"""The web page's test set-up: the real service on loopback and Debian's headless Chromium driven
by Playwright for Python (pointed at the system binary; no browser download).

Without Playwright or without a Chromium binary every browser test skips. One service and one
browser serve the whole module set (each test has its own browser context and its own
workspace), which keeps the suite fast.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_NAMES = ("chromium", "chromium-browser")
WIDE = {"width": 1400, "height": 900}
NARROW = {"width": 400, "height": 860}


def find_chromium() -> str | None:
    """Debian's Chromium (``WEB_TEST_CHROMIUM`` overrides the search)."""
    configured = os.environ.get("WEB_TEST_CHROMIUM")
    if configured:
        return configured if Path(configured).exists() else None
    return next((p for p in (shutil.which(n) for n in CHROMIUM_NAMES) if p), None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Service:
    """The running service: its base URL, API keys issued into its database (as
    `flowwright api-keys create` does) and a small JSON client for setting up test data."""

    def __init__(self, base: str, database_url: str) -> None:
        self.base = base
        self.database_url = database_url
        self.keys: dict[str, str] = {}

    def key(self, workspace: str, role: str = "editor") -> str:
        """A key of ``workspace`` with ``role`` (the workspace is created on first use)."""
        if role != "editor":
            return self._issue(workspace, role, f"{workspace}/{role}")
        return self._issue(workspace, role, workspace)

    def _issue(self, workspace: str, role: str, slot: str) -> str:
        if slot not in self.keys:
            from app.auth.keys import KeyStore
            from engine.db import make_engine

            engine = make_engine(self.database_url)
            try:
                store = KeyStore(engine)
                store.ensure_workspace(workspace)
                self.keys[slot] = store.issue(workspace, role, user=f"tester-{workspace}").token
            finally:
                engine.dispose()
        return self.keys[slot]

    def call(self, method: str, path: str, body: Any = None, *, workspace: str, timeout: float = 30) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.base}{path}", data=data, method=method,
                                         headers={"content-type": "application/json",
                                                  "authorization": f"Bearer {self.key(workspace)}"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                text = response.read().decode()
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"{method} {path}: {exc.code} {exc.read().decode()}") from None
        return json.loads(text) if text else None


@pytest.fixture(scope="session")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """``flowwright serve`` on a free loopback port with its own data folder."""
    data = tmp_path_factory.mktemp("web-service")
    port = free_port()
    env = {**os.environ, "FLOWWRIGHT_DATA_DIR": str(data / "data"), "FLOWWRIGHT_PORT": str(port),
           "FLOWWRIGHT_HOST": "127.0.0.1"}
    log = (data / "service.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "app.cli.main", "serve"], env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    # Up, and its copilot warmed (serve loads the embedding model and the planner in the background):
    # the tests wait on that signal, so a cold start on a busy machine is not charged to a page's
    # 30 s action timeout. The deadline only catches a service that never gets there.
    deadline = time.monotonic() + 300
    state = "down"
    while state != "ready":
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=2) as response:
                state = json.loads(response.read())["copilot"]
        except OSError:
            state = "down"
        if state == "failed" or proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            log.close()
            tail = (data / "service.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"the service did not get ready (copilot: {state}): {tail}") from None
        if state != "ready":
            time.sleep(0.2)
    service = Service(base, f"sqlite:///{(data / 'data' / 'flowwright.db').resolve()}")
    # The first copilot turn loads the planner's embeddings (seconds of CPU; a minute or more on a
    # shared, loaded machine): pay it here, once, rather than inside a test's 30 s wait.
    service.call("POST", "/v1/conversations", {"message": "every day at 8:00 log hi"}, workspace="warm-up",
                 timeout=300)
    yield service
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)
    log.close()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """One headless Chromium per test module (skips when Playwright or Chromium is missing).

    Module scope, not session: Playwright's sync API keeps an event loop running in this thread
    until it stops, and every async test that ran after it would fail to start its own loop."""
    binary = find_chromium()
    if binary is None:
        pytest.skip("no Chromium on this machine (CI installs Debian's chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=binary, headless=True,
                                             args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield browser
        browser.close()


@pytest.fixture
def workspace(service: Service) -> str:
    """A workspace of this test's own (with a key), so tests sharing the service never see each
    other's rows."""
    name = f"web-{uuid.uuid4().hex[:10]}"
    service.key(name)
    return name


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    """Where screenshots go: ``WEB_TEST_SCREENSHOTS`` if set (to look at them), else tmp."""
    folder = Path(os.environ.get("WEB_TEST_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def open_page(chromium: Any, service: Service, workspace: str) -> Iterator[Any]:
    """``open_page(path="/", viewport=WIDE, role="editor", sign_in=True)``: a page in a fresh context, signed in
    (unless ``sign_in=False``) with a key of this test's workspace (in sessionStorage, as the sign-in form leaves it). Any request to a host other than the service fails the test (nothing may load
    from a CDN)."""
    contexts: list[Any] = []
    outside: list[str] = []

    def opener(path: str = "/", viewport: dict[str, int] | None = None, role: str = "editor",
               sign_in: bool = True) -> Any:
        # Playwright's wait_for_function evaluates strings, which the page's CSP (script-src 'self')
        # forbids: the harness bypasses it here; test_page.py runs the page under its CSP too.
        context = chromium.new_context(viewport=viewport or WIDE, base_url=service.base, bypass_csp=True)
        if sign_in:
            key = json.dumps(service.key(workspace, role))
            context.add_init_script(f"if (!sessionStorage.getItem('flowwright.key')) "
                                    f"sessionStorage.setItem('flowwright.key', {key});")

        def guard(route: Any) -> None:
            if route.request.url.startswith(service.base) or route.request.url.startswith("data:"):
                route.continue_()
            else:
                outside.append(route.request.url)
                route.abort()

        context.route("**/*", guard)
        context.set_default_timeout(30_000)
        contexts.append(context)
        page = context.new_page()
        page.goto(path)
        return page

    yield opener
    for context in contexts:
        context.close()
    assert outside == [], f"the page reached outside the service: {outside}"
