"""The audit log's store on SQLite and PostgreSQL: scoped to a workspace, newest first, filtered,
keyset pages, bad queries refused naming the field."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.audit_log import Actor, AuditLog, AuditTrail
from engine.db import make_engine
from engine.errors import QueryInvalidError


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def log(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AuditLog]:
    url = f"sqlite:///{tmp_path / 'fw.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    engine = make_engine(url)
    yield AuditLog(engine)
    engine.dispose()


@pytest.fixture
def ws() -> str:
    return f"ws_{uuid.uuid4().hex[:10]}"  # the PostgreSQL server is shared by the session


ALICE = Actor(user="alice", via="api", key_id="k1")
BOB = Actor(user="bob", via="cli")


def test_entries_are_read_back_newest_first_in_their_workspace_only(log: AuditLog, ws: str) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    log.record(ws, ALICE, "workflow.created", "workflow", "wf_1", version=1, name="Digest")
    log.record(ws, ALICE, "workflow.activated", "workflow", "wf_1", version=1)
    log.record(ws, BOB, "execution.started", "execution", "ex_1", workflow_id="wf_1", dry_run=None)
    log.record("other_" + ws, ALICE, "workflow.deleted", "workflow", "wf_9")
    entries = log.list(ws).entries
    assert [(e.action, e.user, e.via, e.target_id) for e in entries] == [
        ("execution.started", "bob", "cli", "ex_1"), ("workflow.activated", "alice", "api", "wf_1"),
        ("workflow.created", "alice", "api", "wf_1")]
    assert entries[0].details == {"workflow_id": "wf_1"}  # None details are left out
    assert entries[2].to_dict()["target"] == {"kind": "workflow", "id": "wf_1"}
    assert entries[2].key_id == "k1" and entries[0].key_id is None
    assert all(before <= e.at <= datetime.now(UTC) + timedelta(seconds=1) for e in entries)


def test_filters_by_action_kind_user_target_and_time(log: AuditLog, ws: str) -> None:
    trail = AuditTrail(log, ws, ALICE)
    trail("workflow.created", "workflow", "wf_1")
    trail("approval.approved", "execution", "ex_1", node_id="ok")
    AuditTrail(log, ws, BOB)("workflow.deleted", "workflow", "wf_2")
    assert [e.action for e in log.list(ws, action="workflow.").entries] == ["workflow.deleted", "workflow.created"]
    assert [e.action for e in log.list(ws, action="workflow.created").entries] == ["workflow.created"]
    assert [e.action for e in log.list(ws, action="workflow").entries] == []  # exact unless it ends in "."
    assert [e.target_id for e in log.list(ws, user="bob").entries] == ["wf_2"]
    assert [e.action for e in log.list(ws, target="ex_1").entries] == ["approval.approved"]
    now = datetime.now(UTC)
    assert len(log.list(ws, since=now - timedelta(minutes=1)).entries) == 3
    assert log.list(ws, since=now + timedelta(minutes=1)).entries == []
    assert log.list(ws, until=now - timedelta(minutes=1)).entries == []


def test_keyset_pages_neither_repeat_nor_skip_when_entries_arrive(log: AuditLog, ws: str) -> None:
    for i in range(5):
        log.record(ws, ALICE, "workflow.changed", "workflow", "wf_1", version=i + 1)
    first = log.list(ws, limit=2)
    assert [e.details["version"] for e in first.entries] == [5, 4] and first.next_cursor is not None
    log.record(ws, ALICE, "workflow.changed", "workflow", "wf_1", version=6)  # arrives meanwhile
    second = log.list(ws, limit=2, cursor=first.next_cursor)
    third = log.list(ws, limit=2, cursor=second.next_cursor)
    assert [e.details["version"] for e in second.entries + third.entries] == [3, 2, 1]
    assert third.next_cursor is None


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"limit": 0}, "limit"), ({"limit": 501}, "limit"), ({"cursor": "abc"}, "cursor"),
    ({"since": datetime(2026, 2, 1, tzinfo=UTC), "until": datetime(2026, 1, 1, tzinfo=UTC)}, "since"),
])
def test_a_bad_query_names_its_field(log: AuditLog, ws: str, kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(QueryInvalidError) as caught:
        log.list(ws, **kwargs)  # type: ignore[arg-type]
    assert caught.value.details["field"] == field
