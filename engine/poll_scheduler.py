"""Polling triggers: poll each active workflow's ``kind: poll`` trigger on its interval and start
one execution per new item (or one per poll's batch), exactly once per item.

A durable cursor per workflow lives in ``poll_state``. Each execution is created in the same
transaction as the cursor advance past its item (the runtime commits ``writes`` with the
execution row), and its id is derived from the workflow, the trigger and the item (a batch: its
first item), so even a cursor that did not move (two service processes, a restored backup) cannot
start an item twice: the second insert fails on the primary key, and an item whose execution
exists only moves the cursor past what that execution took. Items that arrive while the service is down are found by the first poll after
it starts again. The first poll of a trigger (or of a changed one) arms it: ``start: new``
records "now" as the cursor, ``start: all`` fires for what is there already.

Claiming a poll is a compare-and-set on the state's ``claims`` counter, so two service
processes do not poll the same trigger in the same interval.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, cast

from pydantic import ValidationError
from sqlalchemy import bindparam, select, update
from sqlalchemy.engine import CursorResult, Engine
from sqlmodel import Field, Session, SQLModel
from sqlmodel import select as select_rows

from connectors.contract import Connector, PolledItem, PollTrigger
from connectors.errors import ConnectorError
from connectors.services import ConnectorServices
from engine.collaborators import CredentialResolver, ReauthorizingCredentials
from engine.execution_store import ExecutionRow
from engine.workflow_store import WorkflowRow, WorkflowStore, WorkflowVersionRow

log = logging.getLogger(__name__)
_T = TypeVar("_T")

DEFAULT_INTERVAL_S = 60.0
DEFAULT_MAX_ITEMS = 100
MAX_CONCURRENT_POLLS = 8

StartPolled = Callable[[WorkflowRow, WorkflowVersionRow, Any, str, Sequence[tuple[Any, dict[str, Any]]]],
                       Awaitable[str]]
"""Start an execution of the version with this input and execution id, committing the writes with it."""


class PollStateRow(SQLModel, table=True):
    """Per workflow: its polling trigger's cursor and how polling goes."""

    __tablename__ = "poll_state"

    workflow_id: str = Field(primary_key=True)
    workspace_id: str = Field(index=True)
    fingerprint: str  # of the trigger's connector, operation, credential, input and per: a change re-arms
    armed: bool = False
    cursor: str | None = None  # JSON
    claims: int = 0  # compare-and-set counter of polls claimed
    next_poll_at: datetime | None = None
    last_poll_at: datetime | None = None
    items_started: int = 0
    executions_started: int = 0
    failures: int = 0  # consecutive failed polls
    last_error: str | None = None


_STATE = PollStateRow.__table__  # type: ignore[attr-defined]
CURSOR_ADVANCE = (
    update(_STATE)
    .where(_STATE.c.workflow_id == bindparam("_workflow_id"), _STATE.c.fingerprint == bindparam("_fingerprint"))
    .values(cursor=bindparam("cursor"), items_started=_STATE.c.items_started + bindparam("_items"),
            executions_started=_STATE.c.executions_started + bindparam("_executions"))
)
"""The cursor advance committed with an execution (a re-armed trigger's state is left alone)."""


def _utc(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def trigger_node(version: WorkflowVersionRow) -> dict[str, Any]:
    """The version's trigger node (as JSON)."""
    return cast(dict[str, Any], next(n for n in version.definition_dict()["nodes"] if n.get("type") == "trigger"))


def fingerprint(node: Mapping[str, Any]) -> str:
    """What identifies a polling trigger's stream of items: connector, operation, credential,
    input and per (the interval and limits may change without re-arming)."""
    config = node.get("config") or {}
    blob = json.dumps([node.get("connector"), node.get("operation"), node.get("credential"),
                       config.get("input") or {}, config.get("per") or "item"], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def execution_id_for(workflow_id: str, print_: str, key: str) -> str:
    """The execution id of an item (or a batch's first..last keys): the same item, the same id."""
    digest = hashlib.sha256(f"{workflow_id}\x00{print_}\x00{key}".encode()).hexdigest()
    return f"ex_{digest[:20]}"


@dataclass
class PollContext:
    """The ``OperationContext`` a polling trigger runs with (no execution yet)."""

    workspace_id: str
    node_id: str | None
    credential: Mapping[str, Any] | None
    services: ConnectorServices
    execution_id: str | None = None
    dry_run: bool = False
    resumed: bool = False
    resume_at: datetime | None = None
    idempotency_key: str | None = None
    logs: list[tuple[str, str]] = field(default_factory=list)

    def log(self, level: str, message: str, **metadata: Any) -> None:
        self.logs.append((level, message))
        log.log(logging.WARNING if level in ("warning", "error") else logging.INFO, "poll %s: %s", self.node_id,
                message, extra={"poll": metadata} if metadata else None)

    async def evaluate(self, expression: str) -> Any:
        raise NotImplementedError("a polling trigger has no expression scope")

    async def run_workflow(self, workflow_id: str, version: int | None, input: Any, *, wait: bool) -> dict[str, Any]:
        raise NotImplementedError("a polling trigger cannot run workflows")


@dataclass
class _Due:
    row: WorkflowRow
    version: WorkflowVersionRow
    node: dict[str, Any]
    state: PollStateRow


class PollScheduler:
    """Polls active workflows' polling triggers and starts their executions (module docstring).

    Args:
        workflows: the workflow store (which workflows are active, their versions).
        db: Flowwright's database, where ``poll_state`` is kept (the execution store's own).
        catalog: looks up connectors by name (their ``triggers``).
        start: starts one execution (see :data:`StartPolled`).
        credentials: resolves the trigger's credential (the vault or the OAuth token manager).
        services: what the trigger may use (the host policy's HTTP clients, the database policy).
        poll_s: how often due triggers are looked for.
    """

    def __init__(self, workflows: WorkflowStore, db: Engine, catalog: Callable[[str], Connector | None],
                 start: StartPolled, *, credentials: CredentialResolver | None = None,
                 services: ConnectorServices | None = None, poll_s: float = 1.0) -> None:
        self.workflows = workflows
        self.db = db
        self.catalog = catalog
        self.start = start
        self.credentials = credentials
        self.services = services or ConnectorServices()
        self.poll_s = poll_s
        SQLModel.metadata.create_all(db, tables=[_STATE])

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Tick every ``poll_s`` seconds until ``stop`` is set. A failing tick is logged, not fatal."""
        while not stop.is_set():
            try:
                await self.tick()
            except Exception:
                log.exception("poll tick failed")
            try:
                await asyncio.wait_for(stop.wait(), self.poll_s)
            except TimeoutError:
                pass

    async def tick(self, now: datetime | None = None) -> list[str]:
        """Poll every trigger that is due at ``now``; returns the ids of the executions started."""
        now = now or datetime.now(UTC)
        due = await asyncio.to_thread(self._claim_due, now)
        limit = asyncio.Semaphore(MAX_CONCURRENT_POLLS)

        async def one(item: _Due) -> list[str]:
            async with limit:
                return await self._poll(item)

        started: list[str] = []
        for ids in await asyncio.gather(*(one(d) for d in due)):
            started.extend(ids)
        return started

    def states(self) -> list[PollStateRow]:
        """Every trigger's state (for tests and the service's views)."""
        with Session(self.db) as session:
            return list(session.exec(select_rows(PollStateRow)))

    def state(self, workflow_id: str) -> PollStateRow | None:
        """One workflow's trigger state."""
        with Session(self.db) as session:
            return session.get(PollStateRow, workflow_id)

    # -- claiming (in a thread) ---------------------------------------------------------------------

    def _claim_due(self, now: datetime) -> list[_Due]:
        due = []
        for row, version in self.workflows.active_with_trigger("poll"):
            try:
                claimed = self._claim_one(row, version, now)
            except Exception:  # one broken trigger must not stop the others
                log.exception("polling trigger of workflow %s could not be claimed", row.id)
                continue
            if claimed is not None:
                due.append(claimed)
        return due

    def _claim_one(self, row: WorkflowRow, version: WorkflowVersionRow, now: datetime) -> _Due | None:
        node = trigger_node(version)
        print_ = fingerprint(node)
        interval = float((node.get("config") or {}).get("interval_s") or DEFAULT_INTERVAL_S)
        with Session(self.db) as session:
            state = session.get(PollStateRow, row.id)
            if state is None:
                state = PollStateRow(workflow_id=row.id, workspace_id=row.workspace_id, fingerprint=print_)
                session.add(state)
                session.commit()
                session.refresh(state)
            elif state.fingerprint != print_:  # another trigger: a new stream of items, armed anew
                state.fingerprint, state.armed, state.cursor, state.next_poll_at = print_, False, None, None
                state.failures, state.last_error = 0, None
                session.add(state)
                session.commit()
                session.refresh(state)
            next_at = _utc(state.next_poll_at)
            if next_at is not None and next_at > now:
                return None
            claimed = cast(CursorResult[Any], session.execute(
                update(_STATE).where(_STATE.c.workflow_id == row.id, _STATE.c.claims == state.claims)
                .values(claims=state.claims + 1, next_poll_at=now + timedelta(seconds=interval), last_poll_at=now)
            )).rowcount
            session.commit()
            if not claimed:
                return None
            session.refresh(state)
            session.expunge(state)
        return _Due(row, version, node, state)

    # -- polling ------------------------------------------------------------------------------------

    def _trigger(self, node: Mapping[str, Any]) -> PollTrigger:
        connector = self.catalog(str(node.get("connector")))
        found = connector.trigger(str(node.get("operation"))) if connector is not None else None
        if found is None:
            raise LookupError(f"no polling trigger {node.get('connector')}.{node.get('operation')}")
        return found

    async def _context(self, workspace_id: str, node: Mapping[str, Any]) -> PollContext:
        credential = None
        name = node.get("credential")
        if name and self.credentials is not None:
            resolved = self.credentials.resolve(workspace_id, str(name))
            credential = await resolved if inspect.isawaitable(resolved) else resolved
        return PollContext(workspace_id=workspace_id, node_id=node.get("id"), credential=credential,
                           services=self.services)

    async def _poll(self, due: _Due) -> list[str]:
        row, node, state = due.row, due.node, due.state
        config = node.get("config") or {}
        try:
            trigger = self._trigger(node)
            inp = trigger.input_model.model_validate(config.get("input") or {})
            ctx = await self._context(row.workspace_id, node)
            if not state.armed:
                cursor = await self._authorized(lambda: trigger.arm(inp, ctx), ctx, node) \
                    if (config.get("start") or "new") == "new" else None
                await asyncio.to_thread(self._arm, state, cursor)
                if (config.get("start") or "new") == "new":
                    return []
                state.cursor = None
            cursor = json.loads(state.cursor) if state.cursor is not None else None
            max_items = int(config.get("max_items") or DEFAULT_MAX_ITEMS)
            items = await self._authorized(lambda: trigger.poll(inp, ctx, cursor, max_items), ctx, node)
        except (Exception, ValidationError) as exc:
            await asyncio.to_thread(self._failed, state, exc)
            log.warning("polling trigger of workflow %s failed: %s", row.id, exc)
            return []
        started, ok, again = await self._start_items(due, items, per=config.get("per") or "item")
        if ok:
            await asyncio.to_thread(self._settled, state, more=again or len(items) >= max_items)
        return started

    async def _authorized(self, call: Callable[[], Awaitable[_T]], ctx: PollContext, node: Mapping[str, Any]) -> _T:
        """``call()``; after a 401 made with a renewable (OAuth 2.0) credential, one refresh and one
        retry (as a step gets)."""
        try:
            return await call()
        except ConnectorError as exc:
            name = node.get("credential")
            if exc.details.get("status_code") != 401 or not name or ctx.credential is None \
                    or not isinstance(self.credentials, ReauthorizingCredentials):
                raise
            fresh = await self.credentials.refresh_after_unauthorized(ctx.workspace_id, str(name))
            if fresh is None:
                raise
            ctx.credential = fresh
            ctx.log("info", f"credential {name!r} was refreshed after a 401; polling again")
            return await call()

    async def _start_items(self, due: _Due, items: list[PolledItem], *, per: str) -> tuple[list[str], bool, bool]:
        """Start the executions of ``items`` in order, each with its cursor advance; stop at the first
        that cannot start (the cursor stays before it, so the next poll tries it again). Returns
        the ids started, whether every item was handled, and whether some are left for a poll at once."""
        if not items:
            return [], True, False
        batches = [items] if per == "batch" else [[item] for item in items]
        started: list[str] = []
        for batch in batches:
            last = batch[-1]
            # a batch is named by its first item: polled again from a cursor that did not move, it
            # may hold more items than the run that exists, which covered only its own count
            key = batch[0].key if per != "batch" else f"batch:{batch[0].key}"
            execution_id = execution_id_for(due.row.id, due.state.fingerprint, key)
            value = batch[0].value if per != "batch" else {"items": [i.value for i in batch], "count": len(batch)}
            advance = {"_workflow_id": due.row.id, "_fingerprint": due.state.fingerprint,
                       "cursor": json.dumps(last.cursor), "_items": len(batch), "_executions": 1}
            try:
                covered = await asyncio.to_thread(self._covered, execution_id)
                if covered is not None:  # started before the cursor moved: only move the cursor past it
                    handled = batch[min(covered, len(batch)) - 1]
                    await asyncio.to_thread(self._advance, {**advance, "cursor": json.dumps(handled.cursor),
                                                            "_items": 0, "_executions": 0})
                    if covered < len(batch):  # the rest are new: the next poll, right away, takes them
                        return started, True, True
                    continue
                started.append(await self.start(due.row, due.version, value, execution_id, [(CURSOR_ADVANCE, advance)]))
            except Exception as exc:
                log.exception("could not start the run of a polled item of workflow %s", due.row.id)
                await asyncio.to_thread(self._failed, due.state, exc)
                return started, False, False
        return started, True, False

    # -- state writes (in a thread) -----------------------------------------------------------------

    def _arm(self, state: PollStateRow, cursor: Any) -> None:
        with self.db.begin() as conn:
            conn.execute(update(_STATE).where(_STATE.c.workflow_id == state.workflow_id,
                                              _STATE.c.fingerprint == state.fingerprint)
                         .values(armed=True, cursor=json.dumps(cursor) if cursor is not None else None,
                                 failures=0, last_error=None))

    def _advance(self, params: dict[str, Any]) -> None:
        with self.db.begin() as conn:
            conn.execute(CURSOR_ADVANCE, params)

    def _covered(self, execution_id: str) -> int | None:
        """How many items the execution with this id took (None: there is none)."""
        with self.db.connect() as conn:
            table = ExecutionRow.__table__  # type: ignore[attr-defined]
            found = conn.execute(select(table.c.input).where(table.c.id == execution_id)).first()
        if found is None:
            return None
        try:
            data = json.loads(found[0]) if found[0] else None
        except ValueError:
            data = None
        count = data.get("count") if isinstance(data, dict) and isinstance(data.get("items"), list) else None
        return count if isinstance(count, int) and count > 0 else 1

    def _failed(self, state: PollStateRow, exc: BaseException) -> None:
        message = f"{getattr(exc, 'code', type(exc).__name__)}: {exc}"[:500]
        with self.db.begin() as conn:
            conn.execute(update(_STATE).where(_STATE.c.workflow_id == state.workflow_id)
                         .values(failures=_STATE.c.failures + 1, last_error=message))

    def _settled(self, state: PollStateRow, *, more: bool) -> None:
        values: dict[str, Any] = {"failures": 0, "last_error": None}
        if more:  # a full poll: more items are waiting, poll again on the next tick
            values["next_poll_at"] = None
        with self.db.begin() as conn:
            conn.execute(update(_STATE).where(_STATE.c.workflow_id == state.workflow_id).values(**values))


def polling_state(db: Engine, workspace_id: str, workflow_id: str) -> dict[str, Any] | None:
    """How a workflow's polling trigger is doing, for the workspace's own workflow only (None:
    never polled): ``armed``, ``last_poll_at``, ``next_poll_at``, ``items_started``,
    ``executions_started``, ``failures`` (consecutive failed polls) and ``last_error``."""
    from sqlalchemy import inspect as inspect_db

    if not inspect_db(db).has_table(_STATE.name):
        return None
    with db.connect() as conn:
        row = conn.execute(select(_STATE).where(_STATE.c.workflow_id == workflow_id,
                                                _STATE.c.workspace_id == workspace_id)).first()
    if row is None:
        return None
    moment = {k: (_utc(getattr(row, k)).isoformat() if getattr(row, k) is not None else None)  # type: ignore[union-attr]
              for k in ("last_poll_at", "next_poll_at")}
    return {"armed": bool(row.armed), **moment, "items_started": row.items_started,
            "executions_started": row.executions_started, "failures": row.failures, "last_error": row.last_error}


def failing_triggers(db: Engine, workspace_id: str, min_failures: int = 3) -> list[dict[str, Any]]:
    """The workspace's active workflows whose polling trigger failed ``min_failures`` polls or more in
    a row: ``workflow_id``, ``name``, ``failures``, ``last_error``, ``last_poll_at`` (for insights)."""
    from sqlalchemy import inspect as inspect_db

    if not inspect_db(db).has_table(_STATE.name):
        return []
    workflows = WorkflowRow.__table__  # type: ignore[attr-defined]
    with db.connect() as conn:
        rows = conn.execute(
            select(_STATE.c.workflow_id, workflows.c.name, _STATE.c.failures, _STATE.c.last_error, _STATE.c.last_poll_at)
            .join(workflows, workflows.c.id == _STATE.c.workflow_id)
            .where(_STATE.c.workspace_id == workspace_id, workflows.c.workspace_id == workspace_id,
                   workflows.c.status == "active", _STATE.c.failures >= min_failures)
            .order_by(_STATE.c.failures.desc())).all()
    return [{"workflow_id": r.workflow_id, "name": r.name, "failures": r.failures, "last_error": r.last_error,
             "last_poll_at": _utc(r.last_poll_at).isoformat() if r.last_poll_at else None}  # type: ignore[union-attr]
            for r in rows]


__all__ = ["PollScheduler", "PollStateRow", "execution_id_for", "failing_triggers", "fingerprint", "polling_state"]
