"""A throw-away PostgreSQL server for the tests that run on Postgres (one per test session)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL URL: $FLOWWRIGHT_TEST_POSTGRES_URL, or a throw-away cluster started with the
    local ``initdb``/``postgres`` binaries (unix socket only, removed afterwards); skip if neither."""
    import os
    import shutil
    import subprocess
    import tempfile

    if os.environ.get("FLOWWRIGHT_TEST_POSTGRES_URL"):
        yield os.environ["FLOWWRIGHT_TEST_POSTGRES_URL"]
        return
    import glob

    # Debian keeps the server binaries off PATH, in /usr/lib/postgresql/<version>/bin.
    search = os.pathsep.join([os.environ.get("PATH", ""), *sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)])
    initdb, postgres = shutil.which("initdb", path=search), shutil.which("postgres", path=search)
    if not initdb or not postgres:
        pytest.skip("no PostgreSQL server available")
    as_user: list[str] = []
    folder = tempfile.mkdtemp(prefix="fw-pg-")
    if os.geteuid() == 0:  # postgres refuses to run as root
        runuser = shutil.which("runuser")
        try:
            import pwd

            pw = pwd.getpwnam("postgres")
        except KeyError:
            pw = None
        if not runuser or pw is None:
            shutil.rmtree(folder, ignore_errors=True)
            pytest.skip("running as root without a postgres user")
        os.chown(folder, pw.pw_uid, pw.pw_gid)
        as_user = [runuser, "-u", "postgres", "--"]
    data = os.path.join(folder, "data")
    proc = None
    try:
        done = subprocess.run([*as_user, initdb, "-D", data, "-A", "trust", "-U", "postgres", "--no-sync"],
                              capture_output=True, timeout=60)
        if done.returncode != 0:
            pytest.skip(f"initdb failed: {done.stderr.decode()[-300:]}")
        proc = subprocess.Popen([*as_user, postgres, "-D", data, "-k", folder, "-c", "listen_addresses=",
                                 "-c", "fsync=off", "-p", "5499"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"postgresql+psycopg://postgres@/postgres?host={folder}&port=5499"
        import psycopg

        deadline = time.monotonic() + 30
        while True:
            try:
                psycopg.connect(host=folder, port=5499, user="postgres", dbname="postgres").close()
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.skip("the throw-away PostgreSQL did not start")
                time.sleep(0.1)
        yield url
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(folder, ignore_errors=True)
