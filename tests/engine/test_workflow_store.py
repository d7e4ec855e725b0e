"""Workflows and immutable versions on a real SQLite file."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from engine.db import make_engine
from engine.errors import ConflictError, NotFoundError
from engine.workflow import Workflow
from engine.workflow_store import WorkflowStore
from tests.engine.workflows import digest, minimal


@pytest.fixture
def store(tmp_path: Path) -> WorkflowStore:
    return WorkflowStore(make_engine(f"sqlite:///{tmp_path / 'fw.db'}"))


def test_schema_created_without_manual_step_and_wal(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'sub' / 'fw.db'}")
    WorkflowStore(engine)
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        tables = {r[0] for r in conn.execute(text("SELECT name FROM sqlite_master WHERE type='table'"))}
    assert {"workflows", "workflow_versions"} <= tables


def test_create_and_read_back(store: WorkflowStore) -> None:
    wf = Workflow.model_validate(digest())
    row, version = store.create("ws1", wf, source="import", created_by="alice")
    assert (row.current_version, row.status, row.active_version) == (1, "inactive", None)  # a draft
    got = store.version("ws1", row.id)
    assert got.workflow() == wf
    assert got.content_hash == wf.content_hash()
    assert (got.source, got.created_by) == ("import", "alice")
    assert version.definition_dict() == wf.to_json_dict()


def test_versions_are_appended_and_identical_content_is_reused(store: WorkflowStore) -> None:
    row, _ = store.create("ws1", Workflow.model_validate(minimal()))
    changed = minimal()
    changed["nodes"][1]["config"]["message"] = "hello"
    v2 = store.add_version("ws1", row.id, Workflow.model_validate(changed), source="chat")
    assert v2.version == 2
    same = store.add_version("ws1", row.id, Workflow.model_validate(changed), source="chat")
    assert same.id == v2.id
    assert [v.version for v in store.versions("ws1", row.id)] == [1, 2]
    assert store.version("ws1", row.id, 1).workflow().nodes[1].config["message"] == "hi"  # type: ignore[union-attr]
    store.set_current("ws1", row.id, 1)
    assert store.get("ws1", row.id).current_version == 1


def test_every_query_is_scoped_to_its_workspace(store: WorkflowStore) -> None:
    row, _ = store.create("ws1", Workflow.model_validate(minimal()))
    with pytest.raises(NotFoundError):
        store.get("ws2", row.id)
    with pytest.raises(NotFoundError):
        store.version("ws2", row.id)
    assert store.list("ws2") == []
    store.create("ws2", Workflow.model_validate(minimal()))  # same name, other workspace: fine


def test_duplicate_name_in_workspace(store: WorkflowStore) -> None:
    store.create("ws1", Workflow.model_validate(minimal()))
    with pytest.raises(ConflictError):
        store.create("ws1", Workflow.model_validate(minimal()))


def test_status_and_archive(store: WorkflowStore) -> None:
    row, _ = store.create("ws1", Workflow.model_validate(minimal()))
    store.set_status("ws1", row.id, "archived")
    assert store.list("ws1") == []
    assert [r.id for r in store.list("ws1", include_archived=True)] == [row.id]


def test_drafts_activation_and_soft_delete(store: WorkflowStore) -> None:
    doc = minimal()
    doc["nodes"][0] = {"id": "start", "type": "trigger", "kind": "webhook", "config": {}}
    row, _ = store.create("ws1", Workflow.model_validate(doc))
    assert store.active_by_id(row.id) is None and store.active_with_trigger("webhook") == []
    assert store.activate("ws1", row.id).active_version == 1
    edited = minimal()
    edited["nodes"][0] = doc["nodes"][0]
    edited["nodes"][1]["config"]["message"] = "edited"
    store.add_version("ws1", row.id, Workflow.model_validate(edited))
    found = store.active_by_id(row.id)
    assert found is not None and found[1].version == 1  # the edit is a draft: triggers still run v1
    assert store.get("ws1", row.id).current_version == 2
    store.activate("ws1", row.id)
    found = store.active_by_id(row.id)
    assert found is not None and found[1].version == 2
    store.delete("ws1", row.id)
    assert store.active_by_id(row.id) is None and store.list("ws1") == []
    with pytest.raises(NotFoundError):
        store.get("ws1", row.id)
    assert [r.id for r in store.list("ws1", include_deleted=True)] == [row.id]
    with pytest.raises(ConflictError, match="deleted"):
        store.create("ws1", Workflow.model_validate(minimal()))
    restored = store.restore("ws1", row.id)
    assert (restored.status, restored.deleted_at, restored.active_version) == ("inactive", None, 2)
    assert store.active_by_id(row.id) is None  # back, but it fires only once activated again
    with pytest.raises(NotFoundError):
        store.restore("ws2", row.id)


def test_an_older_data_dir_keeps_its_active_workflows_running(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    with engine.begin() as conn:  # the tables as the release before drafts wrote them
        conn.execute(text("CREATE TABLE workflows (id VARCHAR PRIMARY KEY, workspace_id VARCHAR NOT NULL, "
                          "name VARCHAR NOT NULL, status VARCHAR NOT NULL, current_version INTEGER, "
                          "created_at DATETIME NOT NULL, updated_at DATETIME NOT NULL)"))
        conn.execute(text("INSERT INTO workflows VALUES ('wf_a', 'ws1', 'A', 'active', 3, '2026-01-01', '2026-01-01'),"
                          " ('wf_b', 'ws1', 'B', 'inactive', 1, '2026-01-01', '2026-01-01')"))
    store = WorkflowStore(engine)
    assert store.get("ws1", "wf_a").active_version == 3
    assert store.get("ws1", "wf_b").active_version is None
    assert [r.id for r in store.list("ws1")] == ["wf_a", "wf_b"]


@pytest.mark.postgres
async def test_store_and_scheduler_on_postgres(postgres_url: str) -> None:
    from datetime import UTC, datetime

    from sqlalchemy import text as sql

    from engine.cron_scheduler import CronScheduler

    engine = make_engine(postgres_url)
    with engine.begin() as conn:  # the session's server is shared: start from empty tables
        conn.execute(sql("DROP TABLE IF EXISTS schedule_state, workflow_versions, workflows CASCADE"))
    store = WorkflowStore(engine)
    doc = minimal()
    doc["nodes"][0] = {"id": "start", "type": "trigger", "kind": "schedule", "config": {"cron": "*/10 * * * *"}}
    row, _ = store.create("ws1", Workflow.model_validate(doc))
    assert store.version("ws1", row.id).workflow() == Workflow.model_validate(doc)
    assert store.active_with_trigger("schedule") == []  # a draft
    store.activate("ws1", row.id)
    fired: list[str] = []

    async def start(r, v, payload):  # type: ignore[no-untyped-def]
        fired.append(payload["scheduled_at"])
        return "ex"

    first, second = CronScheduler(store, engine, start), CronScheduler(store, engine, start)
    await first.tick(datetime(2026, 11, 22, 10, 0, 5, tzinfo=UTC))
    await first.tick(datetime(2026, 11, 22, 10, 10, 1, tzinfo=UTC))
    await second.tick(datetime(2026, 11, 22, 10, 10, 2, tzinfo=UTC))
    assert fired == ["2026-11-22T10:10:00+00:00"]
    engine.dispose()
