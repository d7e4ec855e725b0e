"""`flowwright serve`: the HTTP service, with ``FLOWWRIGHT_WORKERS`` worker processes beside it."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from typing import Annotated

import typer

log = logging.getLogger(__name__)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (FLOWWRIGHT_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (FLOWWRIGHT_PORT).", min=1, max=65535)] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes (FLOWWRIGHT_WORKERS; 0: API only).",
                                                min=0)] = None,
) -> None:
    """Start the Flowwright service (API, OpenAPI page at /docs) and its worker processes."""
    import uvicorn

    from app.api.server import create_app
    from app.cli.output import fail
    from app.settings import UnsafeSettingsError, get_settings

    settings = get_settings()
    try:
        settings.check_safe()
    except UnsafeSettingsError as exc:
        fail(str(exc))
    bind = host or settings.host
    refusal, warning = bind_check(bind, env=settings.env, public_url=settings.public_url,
                                  trusted_hosts=settings.trusted_hosts)
    if refusal:
        fail(refusal)
    if warning:
        from app.cli.output import err_console

        err_console.print(f"warning: {warning}", markup=False, style="yellow")
    import os

    from app.data_dir import SERVICE_UMASK

    os.umask(SERVICE_UMASK)  # what the service writes in the data dir is its user's alone
    pool = WorkerPool(settings.workers if workers is None else workers)
    pool.start()
    try:
        uvicorn.run(create_app(settings, dispatch="queue", warm_copilot=settings.copilot_warm_up), host=bind,
                    port=settings.port if port is None else port,
                    log_level=settings.log_level)
    finally:
        pool.stop()


def bind_check(host: str, *, env: str, public_url: str | None, trusted_hosts: str) -> tuple[str | None, str | None]:
    """Whether binding ``host`` is refused (production, a non-loopback address and no
    FLOWWRIGHT_PUBLIC_URL: nobody decided how the service is reached) or worth a warning."""
    from app.api.edge import is_loopback

    if is_loopback(host):
        return None, None
    if env == "production" and not public_url:
        return (f"refusing to listen on {host} in production without FLOWWRIGHT_PUBLIC_URL (the address callers "
                "reach the service at, whose host is the one it answers to); or bind 127.0.0.1 behind a proxy"), None
    if not public_url and not trusted_hosts.strip():
        return None, (f"listening on {host}, but only loopback Host names are answered (others get 400) until "
                      "FLOWWRIGHT_PUBLIC_URL or FLOWWRIGHT_TRUSTED_HOSTS names how callers reach it")
    return None, None


class WorkerPool:
    """Keeps ``size`` ``flowwright worker`` processes running (a worker that exits is restarted)."""

    def __init__(self, size: int, *, restart_delay_s: float = 1.0) -> None:
        self.size = size
        self.restart_delay_s = restart_delay_s
        self.processes: list[subprocess.Popen[bytes]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._supervise, name="flowwright-worker-pool", daemon=True)

    def start(self) -> None:
        """Start the workers and the supervisor thread."""
        self.processes = [self._spawn() for _ in range(self.size)]
        if self.size:
            self._thread.start()

    def _spawn(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-m", "app.cli.main", "worker"])

    def _supervise(self) -> None:
        while not self._stop.wait(0.5):
            for i, proc in enumerate(self.processes):
                code = proc.poll()
                if code is not None and not self._stop.is_set():
                    log.warning("worker process %d exited with %d; starting a new one", proc.pid, code)
                    if self._stop.wait(self.restart_delay_s):
                        return
                    self.processes[i] = self._spawn()

    def stop(self, timeout_s: float = 20.0) -> None:
        """Ask every worker to hand its executions back (SIGTERM), then kill the stragglers."""
        self._stop.set()
        for proc in self.processes:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.processes:
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
