"""The ``database`` connector: ``query`` and ``execute`` on your own SQL database (SQLAlchemy).

Credential (type ``url``): ``url`` — a SQLAlchemy URL (``sqlite:////abs/path.db``,
``postgresql+psycopg://user:pw@host/db``) — and ``allow_writes`` (default false).

Safety:

* Values go only through bound parameters (``:name`` placeholders and ``params``); the SQL text
  is never built from step input by string formatting. One statement per call (both drivers
  refuse several).
* ``query`` always runs read-only; ``execute`` runs only when the credential says
  ``allow_writes``. Read-only is enforced by the database, not by parsing SQL: SQLite is opened
  with ``mode=ro`` and ``PRAGMA query_only``; PostgreSQL sessions start with
  ``default_transaction_read_only=on`` and each transaction with ``SET TRANSACTION READ ONLY``.
  Other dialects are refused, since read-only could not be enforced.
* Results are capped at ``max_rows``; a statement timeout applies (SQLite through a progress
  handler, PostgreSQL through ``statement_timeout``).

* Where the credential may point (never Flowwright's own database, SQLite files only under
  ``FLOWWRIGHT_DATABASE_FILES``, PostgreSQL hosts through the connector host policy) and what a
  SQLite connection may do (no ``ATTACH``, ``VACUUM INTO``, extensions or writing pragmas) is
  :mod:`connectors.database_target`. Connection failures name the host and the kind of failure,
  never what the remote end said (or the connector would be a port scanner).

Blocking SQLAlchemy calls run in a worker thread.
"""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as dtime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, OperationalError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from connectors.contract import AuthType, Connector, Operation, OperationContext, RateLimit
from connectors.database_poll import NEW_ROWS
from connectors.database_target import PostgresTarget, postgres_target, sqlite_authorizer, sqlite_path
from connectors.errors import ConnectorError, CredentialError, PermanentError
from connectors.services import ConnectorServices

Param = str | int | float | bool | None | list[Any] | dict[str, Any]


class QueryInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sql: str = Field(min_length=1, description="One SQL statement with :name placeholders for values.")
    params: dict[str, Param] = Field(default_factory=dict, description="Values for the :name placeholders.")
    max_rows: int = Field(1000, ge=1, le=100_000, description="Stop after this many rows (truncated=true).")
    timeout_s: float = Field(30.0, gt=0, le=600)


class QueryOutput(BaseModel):
    columns: list[str]
    rows: list[dict[str, Any]]
    row_count: int
    truncated: bool = False


class ExecuteInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sql: str = Field(min_length=1, description="One INSERT/UPDATE/DELETE/DDL statement with :name placeholders.")
    params: dict[str, Param] | list[dict[str, Param]] = Field(
        default_factory=dict, description="Values, or a list of value sets to run the statement once per set.")
    max_rows: int = Field(1000, ge=1, le=100_000, description="Cap on rows returned by RETURNING.")
    timeout_s: float = Field(30.0, gt=0, le=600)


class ExecuteOutput(BaseModel):
    rows_affected: int
    rows: list[dict[str, Any]] = Field(default_factory=list, description="Rows from RETURNING, if any.")


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and abs(value) < 2**53 else float(value)
    if isinstance(value, datetime | date | dtime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


def _url(credential: Mapping[str, Any] | None) -> URL:
    if not credential or not credential.get("url"):
        raise CredentialError("the database connector needs a url credential with a SQLAlchemy `url`",
                              code="credential_missing")
    try:
        url = make_url(str(credential["url"]))
    except ArgumentError:
        raise CredentialError("the database credential's url is not a SQLAlchemy URL",
                              code="credential_invalid") from None
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")  # psycopg 3 is the driver Flowwright ships
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise CredentialError(
            f"database dialect {url.get_backend_name()!r} is not supported: read-only could not be "
            "enforced (supported: sqlite, postgresql)", code="database_unsupported")
    return url


@dataclass(frozen=True)
class Target:
    """A vetted connection target: the URL to connect with and, for PostgreSQL, where it goes."""

    url: URL
    postgres: PostgresTarget | None = None


async def _target(url: URL, services: ConnectorServices, *, read_only: bool) -> Target:
    if url.get_backend_name() == "sqlite":
        path = sqlite_path(url, services.databases)
        if path == ":memory:":
            return Target(URL.create("sqlite", database=":memory:"))
        # Rebuilt from the vetted path alone; the URI form lets SQLite itself refuse writes
        # (mode=ro) and refuse to create a missing file (mode=rw).
        return Target(URL.create("sqlite", database=f"file:{path}",
                                 query={"mode": "ro" if read_only else "rw", "uri": "true"}))
    connect_url, target = await postgres_target(url, services.http.policy, services.databases)
    return Target(connect_url, target)


def _engine(target: Target, *, read_only: bool, timeout_s: float) -> Engine:
    """A throw-away engine (NullPool) whose connections enforce read-only and the timeout."""
    url = target.url
    if url.get_backend_name() == "sqlite":
        engine = create_engine(url, poolclass=NullPool, connect_args={"timeout": min(timeout_s, 30)})

        @event.listens_for(engine, "connect")
        def _sqlite_setup(dbapi_conn: Any, _record: Any) -> None:
            deadline = time.monotonic() + timeout_s
            dbapi_conn.set_progress_handler(lambda: 1 if time.monotonic() > deadline else 0, 10_000)
            if read_only:
                dbapi_conn.execute("PRAGMA query_only = ON")
            dbapi_conn.set_authorizer(sqlite_authorizer)

        return engine
    options = f"-c statement_timeout={int(timeout_s * 1000)}"
    if read_only:
        options += " -c default_transaction_read_only=on"
    pg = target.postgres
    assert pg is not None
    where: dict[str, Any] = {"hostaddr": pg.hostaddr} if pg.hostaddr else {"host": pg.host}
    # prepare_threshold=0: psycopg prepares every statement (extended protocol), and a prepared
    # statement holds exactly one command — "COMMIT; BEGIN READ WRITE; DELETE ..." cannot run.
    engine = create_engine(url, poolclass=NullPool, connect_args={
        "options": options, "prepare_threshold": 0, "connect_timeout": int(min(timeout_s, 30)) or 1,
        "port": pg.port, **where})
    if read_only:
        @event.listens_for(engine, "begin")
        def _read_only(conn: Any) -> None:
            conn.exec_driver_sql("SET TRANSACTION READ ONLY")

    return engine


def _connect_error(exc: SQLAlchemyError, what: str, target: Target) -> ConnectorError:
    """A failure to connect, named by host and kind — never with what the remote end sent."""
    pg = target.postgres
    where = pg.label if pg is not None else "the SQLite file"
    lowered = str(getattr(exc, "orig", None) or exc).lower()
    kinds = (("password authentication failed", "authentication failed", "database_auth_failed", False),
             ("no password supplied", "authentication failed", "database_auth_failed", False),
             ("does not exist", "the database or role does not exist", "database_error", False),
             ("connection refused", "connection refused", "database_unavailable", True),
             ("timeout expired", "timed out", "database_unavailable", True),
             ("timed out", "timed out", "database_unavailable", True),
             ("no such file", "no such socket or file", "database_unavailable", True),
             ("unable to open database", "cannot open the file", "database_unavailable", False),
             ("database is locked", "the file is locked", "database_unavailable", True),
             ("ssl", "TLS negotiation failed", "database_unavailable", False))
    for needle, kind, code, retryable in kinds:
        if needle in lowered:
            return ConnectorError(f"{what}: cannot connect to {where}: {kind}", code=code, retryable=retryable)
    return ConnectorError(f"{what}: cannot connect to {where}: the server closed the connection or did not "
                          "speak the PostgreSQL protocol", code="database_unavailable", retryable=True)


def _classify(exc: SQLAlchemyError, what: str) -> ConnectorError:
    message = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
    lowered = message.lower()
    if "not authorized" in lowered or "authorization denied" in lowered:
        return PermanentError(f"{what}: refused: ATTACH, VACUUM, extensions and pragmas that change settings "
                              "are not allowed from a workflow", code="database_refused")
    if "readonly" in lowered or "read-only" in lowered or "read only" in lowered:
        return PermanentError(f"{what}: refused, the connection is read-only ({message})", code="database_read_only")
    if "interrupted" in lowered or "statement timeout" in lowered or "canceling statement" in lowered:
        return ConnectorError(f"{what}: timed out ({message})", code="database_timeout")
    if isinstance(exc, OperationalError) and any(
        s in lowered for s in ("could not connect", "connection refused", "database is locked", "timeout expired",
                               "server closed the connection", "terminating connection")):
        return ConnectorError(f"{what}: {message}", code="database_unavailable")
    if isinstance(exc, DBAPIError | SQLAlchemyError):
        return PermanentError(f"{what}: {message}", code="database_error")
    return ConnectorError(f"{what}: {message}", code="database_error")


def _rows(result: Any, max_rows: int) -> tuple[list[str], list[dict[str, Any]], bool]:
    columns = list(result.keys())
    fetched = result.fetchmany(max_rows + 1)
    truncated = len(fetched) > max_rows
    rows = [{c: _jsonable(v) for c, v in zip(columns, row, strict=False)} for row in fetched[:max_rows]]
    return columns, rows, truncated


def _connect(engine: Engine, target: Target, what: str) -> Any:
    try:
        return engine.connect()
    except SQLAlchemyError as exc:
        raise _connect_error(exc, what, target) from None


def _run_query(target: Target, inp: QueryInput) -> QueryOutput:
    engine = _engine(target, read_only=True, timeout_s=inp.timeout_s)
    try:
        with _connect(engine, target, "database.query") as conn:
            result = conn.execute(text(inp.sql), inp.params)
            if not result.returns_rows:
                raise PermanentError("database.query: the statement returns no rows; use database.execute",
                                     code="database_not_a_query")
            columns, rows, truncated = _rows(result, inp.max_rows)
            conn.rollback()
    except SQLAlchemyError as exc:
        raise _classify(exc, "database.query") from None
    finally:
        engine.dispose()
    return QueryOutput(columns=columns, rows=rows, row_count=len(rows), truncated=truncated)


def _run_execute(target: Target, inp: ExecuteInput) -> ExecuteOutput:
    engine = _engine(target, read_only=False, timeout_s=inp.timeout_s)
    try:
        with _connect(engine, target, "database.execute") as conn, conn.begin():
            result = conn.execute(text(inp.sql), inp.params)
            rows: list[dict[str, Any]] = []
            if result.returns_rows:
                _columns, rows, _truncated = _rows(result, inp.max_rows)
            affected = result.rowcount if result.rowcount is not None and result.rowcount >= 0 else len(rows)
    except SQLAlchemyError as exc:
        raise _classify(exc, "database.execute") from None
    finally:
        engine.dispose()
    return ExecuteOutput(rows_affected=affected, rows=rows)


async def _query(inp: QueryInput, ctx: OperationContext) -> QueryOutput:
    target = await _target(_url(ctx.credential), ctx.services, read_only=True)
    try:
        return await asyncio.to_thread(_run_query, target, inp)
    except NoSuchModuleError as exc:
        raise CredentialError(f"no driver for this database URL: {exc}", code="database_unsupported") from None


async def _execute(inp: ExecuteInput, ctx: OperationContext) -> ExecuteOutput:
    url = _url(ctx.credential)
    allow = (ctx.credential or {}).get("allow_writes")
    if allow not in (True, "true", "True", "1", 1, "yes"):
        raise PermanentError(
            "database.execute refused: this credential is read-only; set allow_writes=true on it to permit writes",
            code="database_read_only")
    target = await _target(url, ctx.services, read_only=False)
    try:
        return await asyncio.to_thread(_run_execute, target, inp)
    except NoSuchModuleError as exc:
        raise CredentialError(f"no driver for this database URL: {exc}", code="database_unsupported") from None


CONNECTOR = Connector(
    name="database",
    title="SQL database",
    description="Query or change your own SQLite or PostgreSQL database with bound parameters; "
    "read-only unless the credential allows writes.",
    category="data",
    icon="🗄️",
    auth=AuthType.URL,
    credential_fields={"url": "SQLAlchemy URL, e.g. postgresql+psycopg://user:pw@host/db",
                       "allow_writes": "true to permit database.execute (default false)"},
    operations=(
        Operation(
            "query",
            "Run one read-only SQL SELECT with :name placeholders bound from `params`; returns rows as "
            "objects (at most `max_rows`).",
            QueryInput, QueryOutput, _query, idempotent=True, external=True,
            rate_limit=RateLimit(requests=20, per_seconds=1.0),
        ),
        Operation(
            "execute",
            "Run one INSERT/UPDATE/DELETE or DDL statement with bound :name parameters (or a list of "
            "parameter sets). Needs a credential with allow_writes. Returns the number of rows affected.",
            ExecuteInput, ExecuteOutput, _execute, idempotent=False, external=True, destructive=True,
            rate_limit=RateLimit(requests=20, per_seconds=1.0),
        ),
    ),
    triggers=(NEW_ROWS,),
)
