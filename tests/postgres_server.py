"""A throw-away PostgreSQL server from the local ``initdb``/``pg_ctl`` binaries: unix socket only,
in a folder removed afterwards, run as the ``postgres`` user when the tests run as root. It can be
stopped and started again on the same data folder (the Postgres restart tests)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType


class PostgresUnavailable(Exception):
    """No server binaries here, or the server would not start (the tests skip)."""


def _binaries() -> tuple[str, str]:
    # Debian keeps the server binaries off PATH, in /usr/lib/postgresql/<version>/bin.
    search = os.pathsep.join([os.environ.get("PATH", ""), *sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)])
    initdb, pg_ctl = shutil.which("initdb", path=search), shutil.which("pg_ctl", path=search)
    if not initdb or not pg_ctl:
        raise PostgresUnavailable("no PostgreSQL server available")
    return initdb, pg_ctl


class PostgresServer:
    """``with PostgresServer() as pg: pg.url`` — ``stop()``/``start()`` restart it in place.

    Its folder (data and socket) is a new one under the system's temporary folder, which the
    ``postgres`` user can reach (a pytest ``tmp_path`` is private to root).

    Args:
        port: the socket's port number (only its name: nothing listens on TCP).
    """

    def __init__(self, *, port: int = 5498) -> None:
        self.initdb, self.pg_ctl = _binaries()
        self.folder = Path(tempfile.mkdtemp(prefix="fw-pg-"))
        self.data = self.folder / "data"
        self.port = port
        self.as_user: list[str] = []
        if os.geteuid() == 0:  # postgres refuses to run as root
            import pwd

            runuser = shutil.which("runuser")
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                pw = None
            if not runuser or pw is None:
                raise PostgresUnavailable("running as root without a postgres user")
            os.chown(self.folder, pw.pw_uid, pw.pw_gid)
            self.as_user = [runuser, "-u", "postgres", "--"]

    @property
    def url(self) -> str:
        """The SQLAlchemy URL of its ``postgres`` database."""
        return f"postgresql+psycopg://postgres@/postgres?host={self.folder}&port={self.port}"

    def __enter__(self) -> PostgresServer:
        done = subprocess.run([*self.as_user, self.initdb, "-D", str(self.data), "-A", "trust", "-U", "postgres",
                               "--no-sync"], capture_output=True, timeout=120)
        if done.returncode != 0:
            self.close()
            raise PostgresUnavailable(f"initdb failed: {done.stderr.decode()[-300:]}")
        try:
            self.start()
        except PostgresUnavailable:
            self.close()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def start(self, timeout: float = 60) -> None:
        """Start the server and wait until it takes connections."""
        options = f"-k {self.folder} -c listen_addresses= -c fsync=off -p {self.port}"
        subprocess.run([*self.as_user, self.pg_ctl, "-D", str(self.data), "-o", options, "-l",
                        str(self.folder / "server.log"), "-w", "-t", str(int(timeout)), "start"],
                       capture_output=True, timeout=timeout + 10)
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            try:
                psycopg.connect(host=str(self.folder), port=self.port, user="postgres", dbname="postgres").close()
                return
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    raise PostgresUnavailable(f"the throw-away PostgreSQL did not start: {exc}") from exc
                time.sleep(0.1)

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast``: disconnect clients, as a restart by an operator does)."""
        subprocess.run([*self.as_user, self.pg_ctl, "-D", str(self.data), "-m", mode, "-w", "stop"],
                       capture_output=True, timeout=120)

    def close(self) -> None:
        """Stop it (if running) and remove its folder."""
        if self.data.exists():
            self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)
