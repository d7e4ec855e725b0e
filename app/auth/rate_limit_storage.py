"""A ``limits`` storage in Flowwright's own database, so every process counts the same requests.

The ``limits`` library ships in-memory, Redis, Memcached and MongoDB storages; a Flowwright
deployment has none of those but always has its database (SQLite in the data dir, shared by the
processes on one machine, or PostgreSQL, shared by every machine). :class:`DatabaseStorage`
implements the moving-window strategy there: one row per counted request (``rate_limit_hits``),
and one row per key (``rate_limit_keys``) that a hit locks first — the write lock of SQLite, a
row lock in PostgreSQL — so two processes counting the same key take turns, and the count read
is the count that holds. Hits older than the window are deleted as the key is counted again.
"""

from __future__ import annotations

import time
from typing import Any

from limits.storage import MovingWindowSupport, Storage
from sqlalchemy import Column, Float, Index, MetaData, String, Table, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

_metadata = MetaData()
KEYS = Table("rate_limit_keys", _metadata, Column("key", String(300), primary_key=True),
             Column("touched_at", Float, nullable=False))
HITS = Table("rate_limit_hits", _metadata, Column("key", String(300), nullable=False),
             Column("at", Float, nullable=False), Index("ix_rate_limit_hits_key_at", "key", "at"))


class DatabaseStorage(Storage, MovingWindowSupport):
    """Moving-window counts in a SQL database (SQLite or PostgreSQL) shared by processes."""

    STORAGE_SCHEME = ["flowwright+database"]

    def __init__(self, engine: Engine, *, clock: Any = time.time) -> None:
        super().__init__()
        self.engine = engine
        self._clock = clock
        _metadata.create_all(engine)

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return SQLAlchemyError

    # -- the moving window ------------------------------------------------------------------------

    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        """Count ``amount`` hits of ``key`` if the last ``expiry`` seconds hold at most
        ``limit - amount``; whether they were counted."""
        if amount > limit:
            return False
        with self.engine.begin() as conn:
            now = self._lock(conn, key)
            conn.execute(delete(HITS).where(HITS.c.key == key, HITS.c.at <= now - expiry))
            count = conn.execute(select(func.count()).select_from(HITS).where(HITS.c.key == key)).scalar_one()
            if count + amount > limit:
                return False
            conn.execute(insert(HITS), [{"key": key, "at": now}] * amount)
            return True

    def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:  # noqa: ARG002 - limits' interface
        """(the oldest hit in the window, how many hits it holds)."""
        since = self._clock() - expiry
        with self.engine.connect() as conn:
            oldest, count = conn.execute(
                select(func.min(HITS.c.at), func.count()).where(HITS.c.key == key, HITS.c.at > since)).one()
        return (float(oldest) if oldest is not None else self._clock()), int(count)

    # -- the fixed-window interface every storage has ------------------------------------------------

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        """Count ``amount`` hits unconditionally; how many the last ``expiry`` seconds now hold."""
        with self.engine.begin() as conn:
            now = self._lock(conn, key)
            conn.execute(delete(HITS).where(HITS.c.key == key, HITS.c.at <= now - expiry))
            conn.execute(insert(HITS), [{"key": key, "at": now}] * amount)
            return int(conn.execute(select(func.count()).select_from(HITS).where(HITS.c.key == key)).scalar_one())

    def get(self, key: str) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(HITS).where(HITS.c.key == key)).scalar_one())

    def get_expiry(self, key: str) -> float:
        with self.engine.connect() as conn:
            latest = conn.execute(select(func.max(HITS.c.at)).where(HITS.c.key == key)).scalar_one()
        return float(latest) if latest is not None else self._clock()

    def check(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(select(func.count()).select_from(KEYS))
        except SQLAlchemyError:
            return False
        return True

    def reset(self) -> int | None:
        with self.engine.begin() as conn:
            removed = conn.execute(delete(HITS)).rowcount
            conn.execute(delete(KEYS))
        return int(removed)

    def clear(self, key: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(HITS).where(HITS.c.key == key))
            conn.execute(delete(KEYS).where(KEYS.c.key == key))

    # -- internals ----------------------------------------------------------------------------------

    def _lock(self, conn: Connection, key: str) -> float:
        """Take the key's lock for the rest of the transaction; the time counted under it (read
        once the lock is held, so hits are ordered as they were counted)."""
        touched = conn.execute(update(KEYS).where(KEYS.c.key == key).values(touched_at=self._clock())).rowcount
        if not touched:  # the key's first hit: make its row (another process may be making it too)
            upsert = postgresql_insert if self.engine.dialect.name == "postgresql" else sqlite_insert
            conn.execute(upsert(KEYS).values(key=key, touched_at=self._clock()).on_conflict_do_nothing())
            conn.execute(update(KEYS).where(KEYS.c.key == key).values(touched_at=self._clock()))
        return float(self._clock())


__all__ = ["HITS", "KEYS", "DatabaseStorage"]
