"""Circuit breakers per workspace and connector host, shared by every process through the database.

A breaker guards the external operations of one connector on one host (``http:api.example.com``;
a connector whose input names no URL has one breaker, ``slack``). States:

- ``closed``: calls go through. ``failures`` counts consecutive failures that another attempt
  might cure (a 5xx, a timeout, a refused connection — not a 4xx, which is the caller's
  mistake); a success resets it, and so does the window running out since the first of them.
  At ``failures`` (default 50) within ``window_s`` (300 s) the breaker opens.
- ``open``: calls fail fast with ``circuit_open`` (never retried; the run is a dead letter).
- ``half_open``: ``open_s`` (300 s) after opening, exactly one caller gets a trial call (a
  compare-and-set in the database): success closes the breaker, failure opens it again. A trial
  whose process died is given to another caller after ``open_s``.

The clock is injected (tests use a fake one). Every method is synchronous: run it in a thread.
"""

from __future__ import annotations

import builtins
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import CursorResult, and_, delete, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, SQLModel

from connectors.errors import PermanentError
from engine.errors import NotFoundError

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


class CircuitOpenError(PermanentError):
    """The breaker of this connector host is open: the call was not made."""

    code = "circuit_open"
    status = 503


@dataclass(frozen=True)
class BreakerPolicy:
    """When a breaker opens and how long it stays open."""

    failures: int = 50
    window_s: float = 300.0
    open_s: float = 300.0


class BreakerRow(SQLModel, table=True):
    """One breaker's state (a row exists once its first failure was recorded)."""

    __tablename__ = "circuit_breakers"

    workspace_id: str = Field(primary_key=True)
    key: str = Field(primary_key=True)
    state: str = CLOSED
    failures: int = 0
    window_start: float | None = None  # epoch seconds (the injected clock's)
    opened_at: float | None = None
    trial_at: float | None = None
    updated_at: float = 0.0


_B = BreakerRow.__table__  # type: ignore[attr-defined]


def circuit_key(connector: str, inp: Any) -> str:
    """``connector:host`` from the input's ``url`` / ``base_url`` / ``webhook_url``, else ``connector``."""
    for name in ("url", "base_url", "webhook_url"):
        value = getattr(inp, name, None)
        if isinstance(value, str) and value:
            host = urlsplit(value).hostname
            if host:
                return f"{connector}:{host.lower()}"
    return connector


def _rowcount(result: Any) -> int:
    assert isinstance(result, CursorResult)
    return int(result.rowcount)


class CircuitBreakers:
    """The breakers of every workspace; see the module docstring."""

    def __init__(self, engine: Engine, policy: BreakerPolicy | None = None, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.policy = policy or BreakerPolicy()
        self.clock = clock
        SQLModel.metadata.create_all(engine, tables=[_B])

    def _row(self, workspace_id: str, key: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(_B).where(_B.c.workspace_id == workspace_id, _B.c.key == key)).mappings().first()
        return dict(row) if row is not None else None

    def before_call(self, workspace_id: str, key: str) -> str | None:
        """Raise :class:`CircuitOpenError` unless a call may go through now; returns
        ``half_open`` when this caller got the breaker's one trial call."""
        row = self._row(workspace_id, key)
        if row is None or row["state"] == CLOSED:
            return None
        at, open_s = self.clock(), self.policy.open_s
        since = row["trial_at"] if row["state"] == HALF_OPEN else row["opened_at"]
        if since is None or at - since >= open_s:
            with self.engine.begin() as conn:  # compare-and-set: one caller gets the trial
                won = conn.execute(update(_B).where(  # every write moves updated_at
                    _B.c.workspace_id == workspace_id, _B.c.key == key, _B.c.state == row["state"],
                    _B.c.updated_at == row["updated_at"],
                ).values(state=HALF_OPEN, trial_at=at, updated_at=at))
                if _rowcount(won) == 1:
                    return HALF_OPEN
        opened = row["opened_at"] or at
        wait = max(0.0, opened + open_s - at) if row["state"] == OPEN else open_s
        raise CircuitOpenError(
            f"the circuit for {key} is open after repeated failures; calls resume after a trial in "
            f"{wait:.0f} s", key=key, state=row["state"], retry_after_s=round(wait, 1))

    def record(self, workspace_id: str, key: str, *, ok: bool) -> str | None:
        """Record a call's outcome; returns the breaker's new state when it changed."""
        at = self.clock()
        row = self._row(workspace_id, key)
        if ok:
            if row is None or (row["state"] == CLOSED and row["failures"] == 0):
                return None
            with self.engine.begin() as conn:
                conn.execute(update(_B).where(_B.c.workspace_id == workspace_id, _B.c.key == key).values(
                    state=CLOSED, failures=0, window_start=None, opened_at=None, trial_at=None, updated_at=at))
            return CLOSED if row["state"] != CLOSED else None
        if row is None:
            try:
                with self.engine.begin() as conn:
                    conn.execute(insert(_B).values(workspace_id=workspace_id, key=key, state=CLOSED, failures=0,
                                                   window_start=at, updated_at=at))
            except IntegrityError:
                pass  # a concurrent failure created it
            row = self._row(workspace_id, key)
            assert row is not None
        policy = self.policy
        with self.engine.begin() as conn:
            where = and_(_B.c.workspace_id == workspace_id, _B.c.key == key)
            if row["state"] == HALF_OPEN:  # the trial failed: open again
                conn.execute(update(_B).where(where).values(state=OPEN, opened_at=at, trial_at=None, updated_at=at))
                return OPEN
            if row["state"] == OPEN:
                return None
            fresh = row["window_start"] is None or at - row["window_start"] > policy.window_s
            if fresh:
                conn.execute(update(_B).where(where, _B.c.state == CLOSED)
                             .values(failures=1, window_start=at, updated_at=at))
            else:
                conn.execute(update(_B).where(where, _B.c.state == CLOSED)
                             .values(failures=_B.c.failures + 1, updated_at=at))
            opened = conn.execute(update(_B).where(where, _B.c.state == CLOSED, _B.c.failures >= policy.failures)
                                  .values(state=OPEN, opened_at=at, trial_at=None, updated_at=at))
            return OPEN if _rowcount(opened) == 1 else None

    def states(self, workspace_id: str) -> builtins.list[dict[str, Any]]:
        """Every breaker of the workspace that has seen a failure, as JSON-ready dicts."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(_B).where(_B.c.workspace_id == workspace_id).order_by(_B.c.key)).mappings()
            return [self._describe(dict(r)) for r in rows]

    def _describe(self, row: dict[str, Any]) -> dict[str, Any]:
        at = self.clock()
        retry_in = None
        if row["state"] == OPEN and row["opened_at"] is not None:
            retry_in = round(max(0.0, row["opened_at"] + self.policy.open_s - at), 1)
        return {"key": row["key"], "state": row["state"], "failures": row["failures"],
                "threshold": self.policy.failures, "window_s": self.policy.window_s,
                "opened_at": row["opened_at"], "trial_in_s": retry_in}

    def reset(self, workspace_id: str, key: str) -> None:
        """Close a breaker by hand (forget its failures)."""
        with self.engine.begin() as conn:
            result = conn.execute(delete(_B).where(_B.c.workspace_id == workspace_id, _B.c.key == key))
        if _rowcount(result) == 0:
            raise NotFoundError(f"no circuit breaker {key!r} in this workspace", key=key)
