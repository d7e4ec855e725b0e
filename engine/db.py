"""Database engines: SQLite (WAL, foreign keys, busy timeout) by default, Postgres by URL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Table, event, inspect, text
from sqlalchemy.engine import Engine, make_url
from sqlmodel import create_engine


def make_engine(url: str, *, busy_timeout_s: float = 30.0, pool_timeout_s: float = 30.0, **kwargs: Any) -> Engine:
    """Create an engine; for SQLite make the folder, and turn on WAL and a busy timeout.

    Args:
        url: a SQLAlchemy URL.
        busy_timeout_s: SQLite: how long one statement waits for another writer's lock.
        pool_timeout_s: how long a caller waits for a free pooled connection.
        kwargs: passed to ``create_engine``.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            if "poolclass" not in kwargs:
                kwargs.setdefault("pool_timeout", pool_timeout_s)
        busy_ms = max(0, int(busy_timeout_s * 1000))
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": busy_timeout_s}, **kwargs)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            # Takes effect only in a database that has no table yet: a new data dir gives the
            # pages retention frees back to the file system (PRAGMA incremental_vacuum).
            cur.execute("PRAGMA auto_vacuum=INCREMENTAL")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={busy_ms}")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_timeout=pool_timeout_s, **kwargs)


def add_missing_columns(engine: Engine, table: Table) -> None:
    """Add the nullable/defaulted columns (and indexes) a newer release declares to an existing
    table (additive only: a column is never changed or dropped)."""
    existing = {column["name"] for column in inspect(engine).get_columns(table.name)}
    missing = [column for column in table.columns if column.name not in existing]
    if not missing:
        return
    with engine.begin() as conn:
        for column in missing:
            kind = column.type.compile(dialect=engine.dialect)
            default = getattr(column.default, "arg", None)
            default = None if callable(default) else default
            clause = ""
            if isinstance(default, bool):
                clause = f" DEFAULT {'TRUE' if default else 'FALSE'}" if engine.dialect.name == "postgresql" \
                    else f" DEFAULT {int(default)}"
            elif isinstance(default, int | float):
                clause = f" DEFAULT {default!r}"
            elif isinstance(default, str) and "'" not in default:
                clause = f" DEFAULT '{default}'"
            conn.execute(text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}{clause}'))
        for index in table.indexes:
            index.create(conn, checkfirst=True)
