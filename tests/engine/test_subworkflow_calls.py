"""engine/subworkflow_calls.py through the workflow store (every save path goes through it): a
sub-workflow call to an unknown, archived or unpinnable workflow, or one that leads back to the
workflow being saved, is refused with its JSON path and, for a cycle, the cycle's path — on a real
SQLite file and on PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.db import make_engine
from engine.errors import WorkflowInvalidError
from engine.subworkflow_calls import calls_of
from engine.validation import parse_workflow
from engine.workflow_store import WorkflowStore
from tests.engine.runtime_helpers import registry, transform, wf


def calls(name: str, *targets: str, version: int | None = None, in_loop: bool = False) -> dict[str, Any]:
    """A workflow ``name`` that runs each of ``targets`` in turn (inside a loop body with ``in_loop``)."""
    nodes = [{"id": f"run_{i}", "type": "action", "connector": "core", "operation": "run_workflow",
              "config": {"workflow_id": t, **({"version": version} if version else {})}}
             for i, t in enumerate(targets)]
    if in_loop:
        loop = {"id": "each", "type": "loop", "config": {"items": "{{ [1, 2] }}"},
                "body": {"nodes": nodes, "edges": [{"source": a["id"], "target": b["id"]}
                                                   for a, b in zip(nodes, nodes[1:], strict=False)]}}
        return wf([loop], [("start", "each")], name=name)
    chain = ["start", *(n["id"] for n in nodes)]
    return wf(nodes, list(zip(chain, chain[1:], strict=False)), name=name)


def leaf(name: str) -> dict[str, Any]:
    return wf([transform("noop", "1")], [("start", "noop")], name=name)


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[WorkflowStore]:
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'fw.db'}")
    else:
        engine = make_engine(request.getfixturevalue("postgres_url"))
    yield WorkflowStore(engine)
    engine.dispose()


@pytest.fixture
def ws() -> str:
    """A workspace of the test's own (the Postgres server is shared by the session)."""
    return f"ws_{uuid.uuid4().hex[:10]}"


def save(store: WorkflowStore, document: dict[str, Any], workspace: str) -> str:
    return store.create(workspace, parse_workflow(document, registry()))[0].id


def refused(action: Any) -> list[dict[str, Any]]:
    with pytest.raises(WorkflowInvalidError) as caught:
        action()
    return [p.to_dict() for p in caught.value.problems]


def test_calls_of_finds_literal_targets_in_loop_bodies_and_leaves_expressions_to_run_time() -> None:
    document = calls("a", "wf_one", "{{ trigger.target }}", in_loop=True)
    assert [(c.path, c.workflow_id) for c in calls_of(document)] == [("$.nodes[1].body.nodes[0]", "wf_one")]


def test_unknown_archived_and_missing_versions_are_refused_with_their_paths(store: WorkflowStore, ws: str) -> None:
    known = save(store, leaf("known"), ws)
    archived = save(store, leaf("old"), ws)
    store.set_status(ws, archived, "archived")
    other_ws = save(store, leaf("elsewhere"), "other_" + ws)
    problems = refused(lambda: save(store, calls("caller", "wf_nowhere", archived, other_ws), ws))
    assert [(p["code"], p["path"]) for p in problems] == [
        ("subworkflow_not_found", "$.nodes[1].config.workflow_id"),
        ("subworkflow_not_found", "$.nodes[2].config.workflow_id"),
        ("subworkflow_not_found", "$.nodes[3].config.workflow_id"),  # another workspace's is not there
    ]
    assert "'wf_nowhere', which does not exist in this workspace" in problems[0]["message"]
    assert "archived" in problems[1]["message"]
    pinned = refused(lambda: save(store, calls("pinned", known, version=7), ws))
    assert [(p["code"], p["path"]) for p in pinned] == [("subworkflow_not_found", "$.nodes[1].config.version")]
    assert save(store, calls("fine", known, version=1), ws)  # a call to what exists is stored


def test_a_cycle_is_refused_with_its_path_at_every_length(store: WorkflowStore, ws: str) -> None:
    a = save(store, leaf("A"), ws)
    problems = refused(lambda: store.add_version(ws, a, parse_workflow(calls("A", a), registry())))
    assert problems[0]["code"] == "subworkflow_cycle" and problems[0]["cycle"] == [a, a]
    assert problems[0]["message"] == f"node 'run_0' makes the workflow call itself: A ({a}) → A ({a})"

    b = save(store, calls("B", a), ws)            # B calls A
    c = save(store, calls("C", b, in_loop=True), ws)  # C calls B, inside a loop
    problems = refused(lambda: store.add_version(ws, a, parse_workflow(calls("A", c), registry())))
    assert problems == [{
        "code": "subworkflow_cycle", "path": "$.nodes[1].config.workflow_id",
        "message": f"node 'run_0' makes the workflow call itself: A ({a}) → C ({c}) → B ({b}) → A ({a})",
        "hint": "break the cycle, or compute the id at run time and rely on the depth limit",
        "cycle": [a, c, b, a]}]
    assert store.get(ws, a).current_version == 1  # nothing was stored


def test_calls_that_do_not_lead_back_are_stored_and_a_pinned_version_is_followed(store: WorkflowStore, ws: str) -> None:
    a = save(store, leaf("A"), ws)
    b = save(store, calls("B", a), ws)
    store.add_version(ws, b, parse_workflow(leaf("B"), registry()))  # B v2 no longer calls A
    # A may call B's current version (a leaf) but not B v1, which calls A
    assert store.add_version(ws, a, parse_workflow(calls("A", b), registry())).version == 2
    problems = refused(lambda: store.add_version(ws, a, parse_workflow(calls("A", b, version=1), registry())))
    assert problems[0]["cycle"] == [a, b, a]
    diamond = save(store, calls("D", a, b, a), ws)  # the same callee twice is no cycle
    assert diamond


def test_making_an_old_version_current_again_is_checked_too(store: WorkflowStore, ws: str) -> None:
    a = save(store, leaf("A"), ws)
    b = save(store, leaf("B"), ws)
    store.add_version(ws, b, parse_workflow(calls("B", a), registry()))  # B v2 calls A
    store.set_current(ws, b, 1)                                          # B back to the leaf
    store.add_version(ws, a, parse_workflow(calls("A", b), registry()))  # A calls B: fine now
    problems = refused(lambda: store.set_current(ws, b, 2))              # B v2 would close A → B → A
    assert problems[0]["code"] == "subworkflow_cycle" and problems[0]["cycle"] == [b, a, b]
    assert store.get(ws, b).current_version == 1
