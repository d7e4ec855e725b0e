"""Where a ``database`` credential may point, and what a SQLite connection may do there.

A workflow's database credential must never reach Flowwright's own database (other workspaces'
rows, credential ciphertexts) or the machine's files:

* **SQLite**: the file must lie under a directory listed in :class:`DatabasePolicy` ``files``
  (``FLOWWRIGHT_DATABASE_FILES``), never inside Flowwright's data directory, and never be the
  service's own database file. Symlinks are resolved before the check. The URL is rebuilt from
  the vetted path alone (no URI parameters such as ``vfs`` pass through), and writes open with
  ``mode=rw`` so a missing file is an error, not a new file. An authorizer on every connection
  refuses ``ATTACH``/``DETACH`` (and so ``VACUUM`` and ``VACUUM INTO``, which attach),
  ``load_extension``, ``fts3_tokenizer`` and every ``PRAGMA`` but a read-only list.
* **PostgreSQL**: the host goes through the connector host policy (``ctx.services.http.policy``):
  resolved once, refused when loopback/private/link-local unless allow-listed, and the
  connection goes to the vetted address (libpq ``hostaddr``, the name kept for TLS). A unix
  socket directory is reachable only when the allowlist names that exact path (case-insensitive,
  as the allowlist is). Only
  ``sslmode``, ``application_name``, ``host`` and ``port`` may appear in the URL's query (no
  ``service``, ``passfile`` or ``hostaddr`` of the caller's choosing), and the service's own
  database (same host, port and database name) is refused.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL

from connectors.errors import CredentialError
from connectors.ssrf import SsrfPolicy

READ_PRAGMAS = frozenset({
    "table_info", "table_xinfo", "table_list", "index_list", "index_info", "index_xinfo",
    "foreign_key_list", "foreign_key_check", "integrity_check", "quick_check", "collation_list",
    "function_list", "pragma_list", "compile_options", "user_version", "schema_version",
    "application_id", "journal_mode", "page_count", "page_size", "freelist_count", "encoding",
    "foreign_keys", "data_version", "database_list",
})
PRAGMAS_WITH_ARGUMENT = frozenset({
    "table_info", "table_xinfo", "table_list", "index_list", "index_info", "index_xinfo",
    "foreign_key_list", "foreign_key_check", "integrity_check", "quick_check",
})
REFUSED_FUNCTIONS = frozenset({"load_extension", "fts3_tokenizer"})
POSTGRES_QUERY_KEYS = frozenset({"sslmode", "application_name", "host", "port"})


class DatabaseTargetRefused(CredentialError):
    """The credential points somewhere a workflow may not go."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="database_refused")


def _paths(value: str | Iterable[str | os.PathLike[str]] | None) -> tuple[Path, ...]:
    if not value:
        return ()
    items: Iterable[Any] = value.split(",") if isinstance(value, str) else value
    return tuple(Path(os.path.realpath(str(item).strip())) for item in items if str(item).strip())


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


@dataclass(frozen=True)
class DatabasePolicy:
    """Where ``database`` credentials may point (``ctx.services.databases``).

    Attributes:
        files: directories whose SQLite files may be opened (resolved, symlinks followed).
        refused: directories whose files never may (Flowwright's data directory).
        own: Flowwright's own database URL, refused whatever the lists say.
    """

    files: tuple[Path, ...] = ()
    refused: tuple[Path, ...] = ()
    own: URL | None = None

    @classmethod
    def of(cls, files: str | Iterable[str | os.PathLike[str]] | None, *,
           refused: str | Iterable[str | os.PathLike[str]] | None = None, own: URL | None = None) -> DatabasePolicy:
        """A policy from a comma string or list of directories (``FLOWWRIGHT_DATABASE_FILES``)."""
        return cls(_paths(files), _paths(refused), own)


def sqlite_path(url: URL, policy: DatabasePolicy) -> str:
    """The vetted file path of a SQLite URL (``:memory:`` stays as it is), or raise."""
    database = url.database or ""
    if database in ("", ":memory:"):
        return ":memory:"
    if database.startswith("file:"):
        database = database[len("file:"):].split("?", 1)[0]
    if not os.path.isabs(database):
        raise DatabaseTargetRefused(f"SQLite database {database!r}: give an absolute path "
                                    "(sqlite:////abs/path.db)")
    path = Path(os.path.realpath(database))
    own = policy.own
    if own is not None and own.get_backend_name() == "sqlite" and own.database:
        if path == Path(os.path.realpath(own.database)):
            raise DatabaseTargetRefused("the database credential points at Flowwright's own database")
    if any(_inside(path, folder) for folder in policy.refused):
        raise DatabaseTargetRefused(f"SQLite file {path} is inside Flowwright's data directory")
    if not any(_inside(path, folder) for folder in policy.files):
        raise DatabaseTargetRefused(
            f"SQLite file {path} is not under a directory listed in FLOWWRIGHT_DATABASE_FILES"
            + ("" if policy.files else " (none is listed, so SQLite files are refused)"))
    return str(path)


def sqlite_authorizer(action: int, arg1: str | None, arg2: str | None, _db: str | None,
                      _trigger: str | None) -> int:
    """The SQLite authorizer every connector connection gets (see the module doc)."""
    if action in (sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH):
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in REFUSED_FUNCTIONS:
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_PRAGMA:
        name = (arg1 or "").lower()
        if name not in READ_PRAGMAS or (arg2 is not None and name not in PRAGMAS_WITH_ARGUMENT):
            return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


@dataclass(frozen=True)
class PostgresTarget:
    """Where a PostgreSQL connection goes: a vetted address (TCP) or an allowed socket folder."""

    host: str
    port: int
    hostaddr: str | None  # the vetted IP for TCP; None for a unix socket

    @property
    def label(self) -> str:
        return f"{self.host}:{self.port}"


async def postgres_target(url: URL, hosts: SsrfPolicy, databases: DatabasePolicy) -> tuple[URL, PostgresTarget]:
    """Vet a PostgreSQL URL's host through the host policy; returns the URL to connect with."""
    query = dict(url.query)
    unknown = sorted(set(query) - POSTGRES_QUERY_KEYS)
    if unknown:
        raise DatabaseTargetRefused(f"PostgreSQL URL parameter(s) {', '.join(unknown)} are not allowed "
                                    f"(allowed: {', '.join(sorted(POSTGRES_QUERY_KEYS))})")
    host = url.host or _one(query.pop("host", None)) or ""
    query.pop("host", None)
    port_text = url.port or _one(query.pop("port", None)) or 5432
    query.pop("port", None)
    if not host:
        raise DatabaseTargetRefused("the PostgreSQL URL names no host")
    if "," in host or "," in str(port_text):
        raise DatabaseTargetRefused("a PostgreSQL URL may name one host only")
    try:
        port = int(port_text)
    except ValueError:
        raise DatabaseTargetRefused(f"PostgreSQL port {port_text!r} is not a number") from None
    if host.startswith("/"):
        folder = os.path.realpath(host)
        sockets = {os.path.realpath(h).lower() for h in hosts.hosts if h.startswith("/")}
        if not hosts.enabled or folder.lower() in sockets:
            target = PostgresTarget(folder, port, None)
        else:
            raise DatabaseTargetRefused(
                f"PostgreSQL unix socket {folder} is refused: add the socket directory to "
                "FLOWWRIGHT_HTTP_ALLOW_HOSTS to allow it")
    else:
        addresses = await hosts.vet_all(host, port)
        target = PostgresTarget(host, port, str(addresses[0]))
    own = databases.own
    if own is not None and own.get_backend_name() == "postgresql":
        own_host = own.host or _one(dict(own.query).get("host")) or ""
        own_port = int(own.port or _one(dict(own.query).get("port")) or 5432)
        if (own_host.lower(), own_port, (own.database or "").lower()) == \
                (host.lower(), port, (url.database or "").lower()):
            raise DatabaseTargetRefused("the database credential points at Flowwright's own database")
    return url.set(host=None if target.hostaddr is None else host, port=None, query=query), target


def _one(value: Any) -> str | None:
    if isinstance(value, tuple | list):
        return str(value[0]) if value else None
    return None if value is None else str(value)
