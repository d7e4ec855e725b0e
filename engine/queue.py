"""The durable execution queue and the worker registry, both tables in Flowwright's database.

An execution that some process must drive has one ``execution_queue`` row: ``queued`` (nobody
drives it) or ``claimed`` by a worker. Claiming is one ``UPDATE ... WHERE status = 'queued'``
over a ranked candidate list: on SQLite the statement takes the single write lock, on Postgres
the candidates are read with ``FOR UPDATE SKIP LOCKED``, so two workers never claim the same row.

The ranking is fair between workspaces: candidates are numbered within their workspace
(priority first, then age), and the claim takes every workspace's first before any workspace's
second, preferring the workspaces with the fewest executions being driven right now — so a
workspace flooding the queue does not starve the others.

Every process that drives executions (``flowwright worker``, ``flowwright run``) registers in
``workers`` and heartbeats. A worker whose heartbeat is older than the dead-after interval is
declared dead (compare-and-set, so exactly one live worker does it) and its claimed rows go back
to ``queued``, where a live worker claims them: the dead worker's executions are adopted with no
restart — unless it was adopted ``max_adoptions`` times already: then it is poison (it kills
its workers) and becomes a dead letter (``engine.dead_letters``). A worker that finds itself
declared dead (it was frozen, not killed) is fenced: its heartbeat fails and it must stop driving.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Column,
    CursorResult,
    Index,
    String,
    Text,
    and_,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Engine
from sqlmodel import Field, SQLModel

from engine.db import add_missing_columns
from engine.dead_letters import bury_poison
from engine.dead_letters import create_table as create_dead_letter_table
from engine.execution_slots import claimable
from engine.execution_store import ExecutionRow, aware, now
from engine.ownership import owner_alive

QUEUED = "queued"
CLAIMED = "claimed"
ALIVE = "alive"
DEAD = "dead"
STOPPED = "stopped"
DEFAULT_MAX_ADOPTIONS = 3  # a 4th dead worker makes the execution a dead letter (poison)
CLAIM_ROUNDS = 8  # rankings tried past candidates that concurrent claimers hold or took


class QueueRow(SQLModel, table=True):
    """An execution waiting for (``queued``) or driven by (``claimed``) a worker.

    ``control`` carries a request from another process to the worker driving it (``pause`` or
    ``cancel``); ``adoptions`` counts how often the execution was taken from a dead worker.
    """

    __tablename__ = "execution_queue"
    __table_args__ = (
        Index("ix_queue_claim", "status", "workspace_id", "priority"),
        Index("ix_queue_worker", "worker_id"),
    )

    execution_id: str = Field(primary_key=True)
    workspace_id: str
    workflow_id: str | None = None
    priority: int = 0
    status: str = QUEUED
    worker_id: str | None = None
    control: str | None = Field(default=None, sa_column=Column(String(16)))
    adoptions: int = 0
    max_concurrent: int | None = None  # the workflow's limit (engine.execution_slots); None: none
    enqueued_at: datetime = Field(default_factory=now)
    available_at: datetime = Field(default_factory=now)
    claimed_at: datetime | None = None


class WorkerRow(SQLModel, table=True):
    """A process that drives executions, with its last heartbeat."""

    __tablename__ = "workers"

    id: str = Field(primary_key=True)
    kind: str = "worker"  # worker | cli
    status: str = ALIVE  # alive | dead | stopped
    capacity: int = 0
    info: str | None = Field(default=None, sa_column=Column(Text))
    started_at: datetime = Field(default_factory=now)
    heartbeat_at: datetime = Field(default_factory=now)


_Q = QueueRow.__table__  # type: ignore[attr-defined]
_W = WorkerRow.__table__  # type: ignore[attr-defined]
_EX = ExecutionRow.__table__  # type: ignore[attr-defined]
TABLES = [_Q, _W]


def _rowcount(result: Any) -> int:
    assert isinstance(result, CursorResult)
    return int(result.rowcount)


class ExecutionQueue:
    """The queue and worker tables. Every method is synchronous (run it in a thread) and commits
    in its own short transaction."""

    def __init__(self, engine: Engine, *, max_adoptions: int = DEFAULT_MAX_ADOPTIONS) -> None:
        self.engine = engine
        self.max_adoptions = max_adoptions
        SQLModel.metadata.create_all(engine, tables=TABLES)
        add_missing_columns(engine, _Q)
        create_dead_letter_table(engine)
        self.postgres = engine.dialect.name == "postgresql"

    # -- enqueueing --

    def enqueue(
        self, execution_id: str, workspace_id: str, *, workflow_id: str | None = None, priority: int = 0,
        worker_id: str | None = None, available_at: datetime | None = None, max_concurrent: int | None = None,
    ) -> None:
        """Put an execution in the queue (or, with ``worker_id``, record it as claimed by that
        worker: a process that drives its own execution). Re-enqueueing replaces the row."""
        at = now()
        row = {
            "execution_id": execution_id, "workspace_id": workspace_id, "workflow_id": workflow_id,
            "priority": priority, "status": CLAIMED if worker_id else QUEUED, "worker_id": worker_id,
            "control": None, "adoptions": 0, "enqueued_at": at, "available_at": available_at or at,
            "claimed_at": at if worker_id else None, "max_concurrent": max_concurrent,
        }
        with self.engine.begin() as conn:
            old = conn.execute(select(_Q.c.adoptions).where(_Q.c.execution_id == execution_id)).first()
            if old is not None:
                row["adoptions"] = old[0]
                conn.execute(delete(_Q).where(_Q.c.execution_id == execution_id))
            conn.execute(insert(_Q).values(**row))

    def statement_enqueue(self, execution_id: str, workspace_id: str, *, workflow_id: str | None,
                          priority: int, worker_id: str | None, max_concurrent: int | None = None) -> Any:
        """The insert of a fresh queue row, for the store's group-commit writer (a new execution
        has no row yet)."""
        at = now()
        return insert(_Q).values(
            execution_id=execution_id, workspace_id=workspace_id, workflow_id=workflow_id, priority=priority,
            status=CLAIMED if worker_id else QUEUED, worker_id=worker_id, control=None, adoptions=0,
            enqueued_at=at, available_at=at, claimed_at=at if worker_id else None, max_concurrent=max_concurrent,
        )

    # -- claiming --

    def claim(self, worker_id: str, limit: int) -> builtins.list[str]:
        """Claim up to ``limit`` queued executions for ``worker_id``, fairly between workspaces.

        On Postgres the fair candidates are locked with ``SKIP LOCKED``. Candidates that a
        concurrent claimer holds or has just taken are left to it and the next-best ones are
        ranked instead (a claimer that gave up on them sat idle while work waited); on SQLite
        that second ranking runs under the write lock the first update took, so it is exact.
        """
        if limit <= 0:
            return []
        at = now()
        got: builtins.list[str] = []
        with self.engine.begin() as conn:
            skipped: set[str] = set()
            limited = self._limited(conn)
            for _ in range(CLAIM_ROUNDS):
                ids = [r[0] for r in conn.execute(self._ranked(limit - len(got), at, skipped | set(got), limited))]
                if not ids:
                    break
                if self.postgres:  # lock what nobody else holds; the rest is someone else's claim
                    locked = [r[0] for r in conn.execute(
                        select(_Q.c.execution_id).where(_Q.c.execution_id.in_(ids), _Q.c.status == QUEUED)
                        .with_for_update(skip_locked=True))]
                    skipped.update(set(ids) - set(locked))
                    ids = [i for i in ids if i in set(locked)]
                if ids:
                    claimed = conn.execute(
                        update(_Q).where(_Q.c.execution_id.in_(ids), _Q.c.status == QUEUED)
                        .values(status=CLAIMED, worker_id=worker_id, claimed_at=at)
                        .returning(_Q.c.execution_id)
                    )
                    mine = {r[0] for r in claimed}
                    skipped.update(set(ids) - mine)  # claimed by another claimer since we ranked
                    got += [i for i in ids if i in mine]  # keep the fair order
                if len(got) >= limit:
                    break
        return got

    def _limited(self, conn: Any) -> set[str] | None:
        """The queued executions of limited workflows that may be claimed now (``None``: the queue
        holds none of a limited workflow); the rest wait for a slot (``engine.execution_slots``)."""
        queued = conn.execute(select(_Q.c.execution_id, _Q.c.workspace_id, _Q.c.workflow_id, _Q.c.max_concurrent)
                              .where(_Q.c.status == QUEUED, _Q.c.max_concurrent.is_not(None))).all()
        return claimable(conn, [tuple(r) for r in queued]) if queued else None

    def _ranked(self, limit: int, at: datetime, exclude: set[str], limited: set[str] | None = None) -> Any:
        """The fair order of claimable executions (see the module docstring), ``limit`` of them;
        of limited workflows' executions only those in ``limited``."""
        busy_q = _Q.alias("busy")
        busy = (
            select(busy_q.c.workspace_id, func.count().label("n"))
            .where(busy_q.c.status == CLAIMED).group_by(busy_q.c.workspace_id).subquery()
        )
        rank = func.row_number().over(partition_by=_Q.c.workspace_id,
                                      order_by=(_Q.c.priority.desc(), _Q.c.enqueued_at, _Q.c.execution_id))
        candidates = select(_Q.c.execution_id, _Q.c.workspace_id, _Q.c.priority, _Q.c.enqueued_at,
                            rank.label("rank")).where(_Q.c.status == QUEUED, _Q.c.available_at <= at)
        if exclude:
            candidates = candidates.where(_Q.c.execution_id.not_in(sorted(exclude)))
        if limited is not None:
            candidates = candidates.where(or_(_Q.c.max_concurrent.is_(None), _Q.c.execution_id.in_(sorted(limited))))
        waiting = candidates.subquery()
        return (
            select(waiting.c.execution_id)
            .select_from(waiting.outerjoin(busy, busy.c.workspace_id == waiting.c.workspace_id))
            .where(waiting.c.rank <= limit)
            .order_by(waiting.c.rank, func.coalesce(busy.c.n, 0), waiting.c.priority.desc(), waiting.c.enqueued_at)
            .limit(limit)
        )

    def release(self, execution_id: str, worker_id: str) -> str | None:
        """The worker is done with the execution (it ended, paused or waits for a person): remove
        its row. Returns the control request the row still carried (``None``: none)."""
        with self.engine.begin() as conn:
            row = conn.execute(select(_Q.c.control).where(_Q.c.execution_id == execution_id,
                                                          _Q.c.worker_id == worker_id)).first()
            conn.execute(delete(_Q).where(_Q.c.execution_id == execution_id, _Q.c.worker_id == worker_id))
        return None if row is None else row[0]

    def requeue(self, execution_id: str, worker_id: str, *, delay_s: float = 0) -> bool:
        """Hand a claimed execution back to the queue (a graceful shutdown)."""
        with self.engine.begin() as conn:
            result = conn.execute(
                update(_Q).where(_Q.c.execution_id == execution_id, _Q.c.worker_id == worker_id)
                .values(status=QUEUED, worker_id=None, claimed_at=None, control=None,
                        available_at=now() + timedelta(seconds=delay_s))
            )
            return _rowcount(result) == 1

    def take_queued(self, execution_id: str) -> bool:
        """Remove an execution that no worker has claimed yet (cancel/pause it without a worker)."""
        with self.engine.begin() as conn:
            result = conn.execute(delete(_Q).where(_Q.c.execution_id == execution_id, _Q.c.status == QUEUED))
            return _rowcount(result) == 1

    def request(self, execution_id: str, control: str) -> str | None:
        """Ask the worker driving an execution to ``pause`` or ``cancel`` it; returns that worker's
        id, or ``None`` when no worker holds it."""
        with self.engine.begin() as conn:
            conn.execute(update(_Q).where(_Q.c.execution_id == execution_id, _Q.c.status == CLAIMED)
                         .values(control=control))
            row = conn.execute(select(_Q.c.worker_id, _Q.c.status).where(_Q.c.execution_id == execution_id)).first()
        return row[0] if row is not None and row[1] == CLAIMED else None

    def controls(self, worker_id: str) -> builtins.list[tuple[str, str]]:
        """Pending control requests for the executions this worker drives."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(_Q.c.execution_id, _Q.c.control)
                                .where(_Q.c.worker_id == worker_id, _Q.c.control.is_not(None)))
            return [(r[0], r[1]) for r in rows]

    def claimed_by(self, worker_id: str) -> builtins.list[str]:
        with self.engine.connect() as conn:
            return [r[0] for r in conn.execute(select(_Q.c.execution_id).where(_Q.c.worker_id == worker_id))]

    def get(self, execution_id: str) -> QueueRow | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(_Q).where(_Q.c.execution_id == execution_id)).mappings().first()
        return QueueRow(**row) if row is not None else None

    def depth(self) -> dict[str, int]:
        """Rows per status (``queued``, ``claimed``)."""
        with self.engine.connect() as conn:
            return {r[0]: int(r[1]) for r in conn.execute(select(_Q.c.status, func.count()).group_by(_Q.c.status))}

    # -- workers --

    def register(self, worker_id: str, *, kind: str = "worker", capacity: int = 0, info: str | None = None) -> None:
        """Record a live worker (a restarted process with the same id starts afresh)."""
        at = now()
        with self.engine.begin() as conn:
            conn.execute(delete(_W).where(_W.c.id == worker_id))
            conn.execute(insert(_W).values(id=worker_id, kind=kind, status=ALIVE, capacity=capacity, info=info,
                                           started_at=at, heartbeat_at=at))

    def heartbeat(self, worker_id: str) -> bool:
        """Refresh the heartbeat. ``False``: another worker declared this one dead and took its
        executions — the caller must stop driving them (it is fenced)."""
        with self.engine.begin() as conn:
            result = conn.execute(update(_W).where(_W.c.id == worker_id, _W.c.status == ALIVE)
                                  .values(heartbeat_at=now()))
            return _rowcount(result) == 1

    def unregister(self, worker_id: str) -> None:
        """A graceful stop: hand its claimed executions back and mark it stopped."""
        with self.engine.begin() as conn:
            conn.execute(update(_Q).where(_Q.c.worker_id == worker_id)
                         .values(status=QUEUED, worker_id=None, claimed_at=None, control=None))
            conn.execute(update(_W).where(_W.c.id == worker_id).values(status=STOPPED, heartbeat_at=now()))

    def workers(self) -> builtins.list[WorkerRow]:
        with self.engine.connect() as conn:
            return [WorkerRow(**r) for r in conn.execute(select(_W).order_by(_W.c.started_at)).mappings()]

    def reap(self, dead_after_s: float, *, reaper: str | None = None) -> builtins.list[str]:
        """Declare workers silent for ``dead_after_s`` dead and put their executions back in the
        queue; returns the ids of the executions put back. ``reaper``, the worker asking, is never
        among them: it is alive, whatever its row says (a heartbeat that waited for another
        writer's lock stores the time it was issued, older than the time it committed)."""
        cutoff = now() - timedelta(seconds=dead_after_s)
        silent = [_W.c.status == ALIVE, _W.c.heartbeat_at < cutoff]
        if reaper is not None:
            silent.append(_W.c.id != reaper)
        with self.engine.connect() as conn:
            stale = [r[0] for r in conn.execute(select(_W.c.id).where(*silent))]
        requeued: list[str] = []
        for worker_id in stale:
            with self.engine.begin() as conn:
                won = conn.execute(update(_W).where(_W.c.id == worker_id, _W.c.status == ALIVE,
                                                    _W.c.heartbeat_at < cutoff).values(status=DEAD))
                if _rowcount(won) != 1:
                    continue  # it came back, or another worker reaped it
                rows = conn.execute(select(_Q.c.execution_id, _Q.c.adoptions).where(_Q.c.worker_id == worker_id)).all()
                ids = [r[0] for r in rows if r[1] < self.max_adoptions]
                for execution_id, adoptions in rows:
                    if adoptions >= self.max_adoptions:  # poison: it kills its workers; stop handing it out
                        bury_poison(conn, execution_id, adoptions + 1)
                        conn.execute(delete(_Q).where(_Q.c.execution_id == execution_id))
                conn.execute(update(_Q).where(_Q.c.worker_id == worker_id).values(
                    status=QUEUED, worker_id=None, claimed_at=None, adoptions=_Q.c.adoptions + 1))
            requeued.extend(ids)
        return requeued

    def live_worker_ids(self, dead_after_s: float) -> set[str]:
        cutoff = now() - timedelta(seconds=dead_after_s)
        with self.engine.connect() as conn:
            return {r[0] for r in conn.execute(select(_W.c.id).where(_W.c.status == ALIVE, _W.c.heartbeat_at >= cutoff))}

    def enqueue_orphans(self, dead_after_s: float, *, statuses: Sequence[str] = ("pending", "running")) -> builtins.list[str]:
        """Queue every unfinished execution that has no queue row and no live driver (left by a
        process that died without a heartbeat row, or between writing the execution and its row)."""
        known = {w.id: w for w in self.workers()}
        live = self.live_worker_ids(dead_after_s)
        query = (
            select(_EX.c.id, _EX.c.workspace_id, _EX.c.workflow_id, _EX.c.owner, _EX.c.updated_at, _EX.c.max_concurrent)
            .where(_EX.c.status.in_(list(statuses)),
                   ~exists().where(_Q.c.execution_id == _EX.c.id))
        )
        cutoff = now() - timedelta(seconds=dead_after_s)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        out: list[str] = []
        with self.engine.connect() as conn:
            claimed = conn.execute(select(_Q.c.execution_id, _Q.c.worker_id).where(_Q.c.status == CLAIMED)).all()
        for execution_id, worker_id in claimed:  # claimed by a process that never heartbeat and is gone
            if worker_id in known or owner_alive(worker_id):
                continue
            with self.engine.begin() as conn:
                result = conn.execute(update(_Q).where(_Q.c.execution_id == execution_id, _Q.c.worker_id == worker_id)
                                      .values(status=QUEUED, worker_id=None, claimed_at=None,
                                              adoptions=_Q.c.adoptions + 1))
            if _rowcount(result) == 1:
                out.append(execution_id)
        for execution_id, workspace_id, workflow_id, owner, updated_at, max_concurrent in rows:
            if owner in live:
                continue
            if owner is not None and owner not in known and owner_alive(owner):
                continue  # a process without heartbeats (an embedded runtime) that is still alive
            if owner is None and (aware(updated_at) or cutoff) > cutoff:
                continue  # just written by a process that is enqueueing it right now
            with self.engine.begin() as conn:
                if conn.execute(select(_Q.c.execution_id).where(_Q.c.execution_id == execution_id)).first():
                    continue
                conn.execute(self.statement_enqueue(execution_id, workspace_id, workflow_id=workflow_id,
                                                    priority=0, worker_id=None, max_concurrent=max_concurrent))
            out.append(execution_id)
        return out

    def purge_workers(self, older_than_s: float) -> int:
        """Forget dead or stopped workers not heard from for ``older_than_s``."""
        cutoff = now() - timedelta(seconds=older_than_s)
        with self.engine.begin() as conn:
            result = conn.execute(delete(_W).where(or_(_W.c.status == DEAD, _W.c.status == STOPPED),
                                                   and_(_W.c.heartbeat_at < cutoff)))
            return _rowcount(result)
