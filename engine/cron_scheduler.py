"""Schedule triggers: fire each active workflow's cron (or one-off ``at``) trigger on time.

Firing is claimed in the database with a compare-and-set on the schedule's ``last_fire_at``,
so two service processes, or a restart in the middle of a tick, never start the same
scheduled run twice. Missed windows while the service was down fire once on the next tick
(then the schedule moves on to the next future time), as cron with anacron-style catch-up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlalchemy.engine import CursorResult, Engine
from sqlmodel import Field, Session, SQLModel, select

from engine.workflow_store import WorkflowRow, WorkflowStore, WorkflowVersionRow

log = logging.getLogger(__name__)

StartRun = Callable[[WorkflowRow, WorkflowVersionRow, dict[str, str]], Awaitable[str]]


def _utc(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def next_fire(config: dict[str, Any], after: datetime) -> datetime | None:
    """The first firing time of a schedule trigger's ``config`` strictly after ``after``, in UTC
    (None: a one-off ``at`` that has passed)."""
    if config.get("at"):
        at = datetime.fromisoformat(str(config["at"]).replace("Z", "+00:00"))
        if at.tzinfo is None:
            at = at.replace(tzinfo=ZoneInfo(config.get("timezone") or "UTC"))
        return at if at > after else None
    from croniter import croniter

    tz = ZoneInfo(config.get("timezone") or "UTC")
    following: datetime = croniter(config["cron"], after.astimezone(tz)).get_next(datetime)
    return following.astimezone(UTC)


class ScheduleStateRow(SQLModel, table=True):
    """Per workflow: the version the schedule was computed for and the last time it fired."""

    __tablename__ = "schedule_state"

    workflow_id: str = Field(primary_key=True)
    workspace_id: str = Field(index=True)
    version: int
    armed_at: datetime  # when this version's schedule was first seen: no runs from before it
    last_fire_at: datetime | None = None


class CronScheduler:
    """Polls active scheduled workflows and starts a run for every due firing time."""

    def __init__(self, workflows: WorkflowStore, db: Engine, start_run: StartRun, *, poll_s: float = 1.0) -> None:
        self.workflows = workflows
        self.db = db
        self.start_run = start_run
        self.poll_s = poll_s
        SQLModel.metadata.create_all(db, tables=[ScheduleStateRow.__table__])  # type: ignore[attr-defined]

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Tick every ``poll_s`` seconds until ``stop`` is set. A failing tick is logged, not fatal."""
        while not stop.is_set():
            try:
                await self.tick()
            except Exception:
                log.exception("scheduler tick failed")
            try:
                await asyncio.wait_for(stop.wait(), self.poll_s)
            except TimeoutError:
                pass

    async def tick(self, now: datetime | None = None) -> list[str]:
        """Start every run that is due at ``now``; returns the new execution ids."""
        now = now or datetime.now(UTC)
        due = await asyncio.to_thread(self._claim_due, now)
        started = []
        for row, version, fire_at in due:
            payload = {"scheduled_at": fire_at.isoformat(), "fired_at": now.isoformat()}
            try:
                started.append(await self.start_run(row, version, payload))
            except Exception:
                log.exception("could not start scheduled run of workflow %s", row.id)
        return started

    def next_fire(self, version: WorkflowVersionRow, after: datetime) -> datetime | None:
        """The first firing time strictly after ``after`` (None: never again)."""
        trigger = next(n for n in version.definition_dict()["nodes"] if n.get("type") == "trigger")
        return next_fire(trigger.get("config") or {}, after)

    def _claim_due(self, now: datetime) -> list[tuple[WorkflowRow, WorkflowVersionRow, datetime]]:
        due = []
        for row, version in self.workflows.active_with_trigger("schedule"):
            try:
                claimed = self._claim_one(row, version, now)
            except Exception:  # one broken schedule must not stop the others (nor lose their runs)
                log.exception("schedule of workflow %s could not be evaluated", row.id)
                continue
            if claimed is not None:
                due.append((row, version, claimed))
        return due

    def _claim_one(self, row: WorkflowRow, version: WorkflowVersionRow, now: datetime) -> datetime | None:
        """Claim the workflow's due firing time, if any (compare-and-set on ``last_fire_at``)."""
        with Session(self.db) as session:
            state = session.get(ScheduleStateRow, row.id)
            if state is None or state.version != version.version:
                # A new schedule (or a new version) counts from now: no back-fill.
                if state is None:
                    state = ScheduleStateRow(workflow_id=row.id, workspace_id=row.workspace_id,
                                             version=version.version, armed_at=now)
                else:
                    state.version, state.armed_at = version.version, now
                session.add(state)
                session.commit()
                return None
            last = _utc(state.last_fire_at)
            since = max(last or _utc(state.armed_at), _utc(state.armed_at))  # type: ignore[type-var]
            fire_at = self.next_fire(version, since)  # type: ignore[arg-type]
            if fire_at is None or fire_at > now:
                return None
            # Catch up once: record the latest due time, so missed windows fire a single run.
            latest = fire_at
            while (following := self.next_fire(version, latest)) is not None and following <= now:
                latest = following
            claimed = cast(CursorResult[Any], session.execute(
                update(ScheduleStateRow)
                .where(ScheduleStateRow.workflow_id == row.id)  # type: ignore[arg-type]
                .where((ScheduleStateRow.last_fire_at == state.last_fire_at)  # type: ignore[arg-type]
                       if state.last_fire_at is not None else ScheduleStateRow.last_fire_at.is_(None))  # type: ignore[union-attr]
                .values(last_fire_at=latest)
            )).rowcount
            session.commit()
            return latest if claimed else None

    def states(self) -> list[ScheduleStateRow]:
        with Session(self.db) as session:
            return list(session.exec(select(ScheduleStateRow)))
