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

Blocking SQLAlchemy calls run in a worker thread. The database host comes from the credential
(set by a person), so it is not subject to the HTTP allowlist.
"""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from collections.abc import Mapping
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
from connectors.errors import ConnectorError, CredentialError, PermanentError

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


def _engine(url: URL, *, read_only: bool, timeout_s: float) -> Engine:
    """A throw-away engine (NullPool) whose connections enforce read-only and the timeout."""
    if url.get_backend_name() == "sqlite":
        database = url.database or ""
        if read_only and database and database != ":memory:":
            # The URI form lets SQLite itself refuse writes (mode=ro).
            path = database[len("file:"):].split("?")[0] if database.startswith("file:") else database
            url = url.set(database=f"file:{path}", query={**url.query, "mode": "ro", "uri": "true"})
        engine = create_engine(url, poolclass=NullPool, connect_args={"timeout": min(timeout_s, 30)})

        @event.listens_for(engine, "connect")
        def _sqlite_setup(dbapi_conn: Any, _record: Any) -> None:
            deadline = time.monotonic() + timeout_s
            dbapi_conn.set_progress_handler(lambda: 1 if time.monotonic() > deadline else 0, 10_000)
            if read_only:
                dbapi_conn.execute("PRAGMA query_only = ON")

        return engine
    options = f"-c statement_timeout={int(timeout_s * 1000)}"
    if read_only:
        options += " -c default_transaction_read_only=on"
    # prepare_threshold=0: psycopg prepares every statement (extended protocol), and a prepared
    # statement holds exactly one command — "COMMIT; BEGIN READ WRITE; DELETE ..." cannot run.
    engine = create_engine(url, poolclass=NullPool, connect_args={"options": options, "prepare_threshold": 0,
                                                                  "connect_timeout": int(min(timeout_s, 30)) or 1})
    if read_only:
        @event.listens_for(engine, "begin")
        def _read_only(conn: Any) -> None:
            conn.exec_driver_sql("SET TRANSACTION READ ONLY")

    return engine


def _classify(exc: SQLAlchemyError, what: str) -> ConnectorError:
    message = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
    lowered = message.lower()
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


def _run_query(url: URL, inp: QueryInput) -> QueryOutput:
    engine = _engine(url, read_only=True, timeout_s=inp.timeout_s)
    try:
        with engine.connect() as conn:
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


def _run_execute(url: URL, inp: ExecuteInput) -> ExecuteOutput:
    engine = _engine(url, read_only=False, timeout_s=inp.timeout_s)
    try:
        with engine.begin() as conn:
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
    url = _url(ctx.credential)
    try:
        return await asyncio.to_thread(_run_query, url, inp)
    except NoSuchModuleError as exc:
        raise CredentialError(f"no driver for this database URL: {exc}", code="database_unsupported") from None


async def _execute(inp: ExecuteInput, ctx: OperationContext) -> ExecuteOutput:
    url = _url(ctx.credential)
    allow = (ctx.credential or {}).get("allow_writes")
    if allow not in (True, "true", "True", "1", 1, "yes"):
        raise PermanentError(
            "database.execute refused: this credential is read-only; set allow_writes=true on it to permit writes",
            code="database_read_only")
    try:
        return await asyncio.to_thread(_run_execute, url, inp)
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
)
