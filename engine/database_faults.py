"""Database faults that pass: a locked or busy SQLite file, an exhausted connection pool, a
Postgres server restarting or refusing connections for a moment.

:func:`is_transient` tells them apart from real failures (a constraint, a bad statement): the
group-commit writer waits and retries a transient one with backoff; the API answers it with
``503`` and ``Retry-After``; a node whose work met one fails with :class:`DatabaseBusyError`,
which never carries the statement or its parameters (the driver's message may hold both).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import exc as sa_exc

from engine.errors import FlowwrightError

# SQLite's result codes SQLITE_BUSY / SQLITE_LOCKED, and a file briefly unavailable
_SQLITE_TRANSIENT = ("database is locked", "database table is locked", "database schema is locked",
                     "database is busy", "unable to open database file", "disk i/o error")
# SQLSTATE classes and codes that say "try again": connection exceptions (08), operator
# intervention (57P01 admin shutdown, 57P02 crash shutdown, 57P03 cannot connect now), too many
# connections (53300), serialization failure and deadlock (40001, 40P01)
_PG_TRANSIENT_CODES = frozenset({"57P01", "57P02", "57P03", "53300", "40001", "40P01"})
_PG_TRANSIENT_TEXT = ("server closed the connection", "connection refused", "terminating connection",
                      "could not connect", "connection is closed", "the database system is starting up",
                      "the database system is shutting down", "consuming input failed",
                      "connection failed", "connection timeout expired", "ssl syscall error")

DEFAULT_RETRY_AFTER_S = 2
DEFAULT_DB_RETRY_S = 300.0  # how long a write keeps being retried (a Postgres restart, a long lock)


class DatabaseBusyError(FlowwrightError):
    """Flowwright's database refused work for longer than the retry budget (locked, restarting,
    out of connections). Safe to retry later; the HTTP form is 503 with ``Retry-After``."""

    code = "database_busy"
    status = 503

    def __init__(self, message: str = "the database is busy; try again shortly", *,
                 retry_after_s: int = DEFAULT_RETRY_AFTER_S, **details: Any) -> None:
        super().__init__(message, retry_after_s=retry_after_s, **details)
        self.retry_after_s = retry_after_s


def _sqlstate(orig: BaseException | None) -> str | None:
    if orig is None:
        return None
    value = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return value if isinstance(value, str) else None


def is_transient(exc: BaseException) -> bool:
    """``True`` for a database error that waiting can cure (see the module docstring)."""
    if isinstance(exc, DatabaseBusyError | sa_exc.TimeoutError):  # TimeoutError: the pool is exhausted
        return True
    if not isinstance(exc, sa_exc.DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    code = _sqlstate(exc.orig)
    if code is not None and (code.startswith("08") or code in _PG_TRANSIENT_CODES):
        return True
    if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError):
        text = str(exc.orig if exc.orig is not None else exc).lower()
        return any(marker in text for marker in _SQLITE_TRANSIENT + _PG_TRANSIENT_TEXT)
    return False


def describe(exc: BaseException) -> str:
    """What went wrong, in words a user may see: never the SQL nor its parameters."""
    if isinstance(exc, sa_exc.TimeoutError):
        return "every database connection is in use"
    if isinstance(exc, sa_exc.DBAPIError):
        text = str(exc.orig if exc.orig is not None else "").lower()
        if "locked" in text or "busy" in text:
            return "the database is locked by another writer"
        if is_transient(exc):
            return "the database server is unavailable or restarting"
    return f"database error ({type(exc).__name__})"


def busy_error(exc: BaseException, *, retry_after_s: int = DEFAULT_RETRY_AFTER_S) -> DatabaseBusyError:
    """The user-facing error for a transient database fault ``exc``."""
    if isinstance(exc, DatabaseBusyError):
        return exc
    return DatabaseBusyError(f"{describe(exc)}; try again shortly", retry_after_s=retry_after_s)
