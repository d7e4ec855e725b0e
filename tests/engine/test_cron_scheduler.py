"""Schedule triggers fire on time, in their time zone, once per window, never twice."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from engine.cron_scheduler import CronScheduler
from engine.db import make_engine
from engine.workflow import Workflow
from engine.workflow_store import WorkflowRow, WorkflowStore, WorkflowVersionRow
from tests.engine.workflows import digest, minimal


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, str]]] = []

    async def __call__(self, row: WorkflowRow, version: WorkflowVersionRow, payload: dict[str, str]) -> str:
        self.calls.append((row.workspace_id, row.id, payload))
        return f"ex_{len(self.calls)}"


@pytest.fixture
def setup(tmp_path: Path) -> tuple[WorkflowStore, Any]:
    db = make_engine(f"sqlite:///{tmp_path / 'fw.db'}")
    return WorkflowStore(db), db


def live(store: WorkflowStore, workspace_id: str, wf: Workflow) -> WorkflowRow:
    """Create a workflow and activate it (a new workflow is a draft: nothing of it fires)."""
    row, _ = store.create(workspace_id, wf)
    return store.activate(workspace_id, row.id)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


async def test_fires_at_cron_time_in_its_timezone(setup: tuple[WorkflowStore, Any]) -> None:
    store, db = setup
    row = live(store, "ws1", Workflow.model_validate(digest()))  # Mondays 09:00 Europe/Berlin
    rec = Recorder()
    sched = CronScheduler(store, db, rec)
    assert await sched.tick(at("2026-11-20T12:00:00")) == []  # arms the schedule (Friday)
    assert await sched.tick(at("2026-11-23T07:59:00")) == []  # Monday 08:59 Berlin (UTC+1)
    assert await sched.tick(at("2026-11-23T08:00:01")) == ["ex_1"]  # 09:00:01 Berlin
    assert rec.calls[0][:2] == ("ws1", row.id)
    assert rec.calls[0][2]["scheduled_at"] == "2026-11-23T08:00:00+00:00"
    assert await sched.tick(at("2026-11-23T08:00:30")) == []  # same window: never twice
    assert await sched.tick(at("2026-11-30T08:00:00")) == ["ex_2"]


async def test_missed_windows_fire_once_then_move_on(setup: tuple[WorkflowStore, Any]) -> None:
    store, db = setup
    wf = minimal()
    wf["nodes"][0] = {"id": "start", "type": "trigger", "kind": "schedule", "config": {"cron": "*/5 * * * *"}}
    live(store, "ws1", Workflow.model_validate(wf))
    rec = Recorder()
    sched = CronScheduler(store, db, rec)
    await sched.tick(at("2026-11-22T10:00:00"))
    assert len(await sched.tick(at("2026-11-22T11:02:00"))) == 1  # 12 windows missed: one run
    assert rec.calls[0][2]["scheduled_at"] == "2026-11-22T11:00:00+00:00"
    assert await sched.tick(at("2026-11-22T11:04:00")) == []
    assert len(await sched.tick(at("2026-11-22T11:05:00"))) == 1


async def test_two_schedulers_never_double_fire(setup: tuple[WorkflowStore, Any]) -> None:
    store, db = setup
    wf = minimal()
    wf["nodes"][0] = {"id": "start", "type": "trigger", "kind": "schedule", "config": {"cron": "* * * * *"}}
    live(store, "ws1", Workflow.model_validate(wf))
    rec = Recorder()
    first, second = CronScheduler(store, db, rec), CronScheduler(store, db, rec)
    await first.tick(at("2026-11-22T10:00:00"))
    fired = await first.tick(at("2026-11-22T10:01:00")) + await second.tick(at("2026-11-22T10:01:00"))
    assert len(fired) == 1


async def test_one_off_at_and_inactive_workflows(setup: tuple[WorkflowStore, Any]) -> None:
    store, db = setup
    once = minimal()
    once["name"] = "Once"
    once["nodes"][0] = {"id": "start", "type": "trigger", "kind": "schedule", "config": {"at": "2026-12-01T09:00:00Z"}}
    live(store, "ws1", Workflow.model_validate(once))
    paused = minimal()
    paused["nodes"][0] = {"id": "start", "type": "trigger", "kind": "schedule", "config": {"cron": "* * * * *"}}
    prow = live(store, "ws1", Workflow.model_validate(paused))
    store.set_status("ws1", prow.id, "inactive")
    rec = Recorder()
    sched = CronScheduler(store, db, rec)
    await sched.tick(at("2026-11-30T00:00:00"))
    assert await sched.tick(at("2026-12-01T08:59:59")) == []
    assert len(await sched.tick(at("2026-12-01T09:00:00"))) == 1
    assert await sched.tick(at("2026-12-02T09:00:00")) == []
    assert prow.id not in {c[1] for c in rec.calls}
    assert len(rec.calls) == 1


async def test_new_version_rearms_without_backfill(setup: tuple[WorkflowStore, Any]) -> None:
    store, db = setup
    wf = minimal()
    wf["nodes"][0] = {"id": "start", "type": "trigger", "kind": "schedule", "config": {"cron": "0 * * * *"}}
    row = live(store, "ws1", Workflow.model_validate(wf))
    rec = Recorder()
    sched = CronScheduler(store, db, rec)
    await sched.tick(at("2026-11-22T10:30:00"))
    wf["nodes"][0]["config"]["cron"] = "30 * * * *"
    store.add_version("ws1", row.id, Workflow.model_validate(wf))
    store.activate("ws1", row.id)
    assert await sched.tick(at("2026-11-22T11:10:00")) == []  # re-armed now; 11:00 of v1 not back-filled
    assert len(await sched.tick(at("2026-11-22T11:30:00"))) == 1
    assert sched.next_fire(store.version("ws1", row.id), at("2026-11-22T11:30:00")) == at("2026-11-22T12:30:00")


async def test_a_broken_schedule_does_not_stop_the_others(setup: tuple[WorkflowStore, Any]) -> None:
    store, db = setup
    good = minimal()
    good["nodes"][0] = {"id": "start", "type": "trigger", "kind": "schedule", "config": {"cron": "* * * * *"}}
    good_row = live(store, "ws1", Workflow.model_validate(good))
    broken = minimal()
    broken["name"] = "Broken"
    live(store, "ws2", Workflow.model_validate({**broken, "nodes": [good["nodes"][0], *broken["nodes"][1:]]}))
    # Stored before validation refused crons that never fire: write the bad cron in place.
    from sqlmodel import Session, select

    from engine.workflow_store import WorkflowVersionRow

    with Session(db) as session:
        version = session.exec(select(WorkflowVersionRow).where(WorkflowVersionRow.workspace_id == "ws2")).one()
        version.definition = version.definition.replace("* * * * *", "0 0 30 2 *")
        session.add(version)
        session.commit()
    rec = Recorder()
    sched = CronScheduler(store, db, rec)
    await sched.tick(at("2026-11-22T10:00:00"))
    assert len(await sched.tick(at("2026-11-22T10:01:00"))) == 1
    assert [c[1] for c in rec.calls] == [good_row.id]
