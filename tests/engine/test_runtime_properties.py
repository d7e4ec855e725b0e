"""Property test of the join rule: on random DAGs of conditions and transforms the runtime gives
every node the status a direct reading of DESIGN.md predicts, and each node settles once."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.engine.runtime_helpers import runtime_at


@st.composite
def dags(draw: st.DrawFn) -> tuple[dict[str, Any], list[bool]]:
    size = draw(st.integers(2, 9))
    bits = draw(st.lists(st.booleans(), min_size=size, max_size=size))
    nodes: list[dict[str, Any]] = [{"id": "start", "type": "trigger", "kind": "manual"}]
    edges: list[dict[str, Any]] = []
    for i in range(1, size + 1):
        node_id = f"n{i}"
        if draw(st.booleans()):
            nodes.append({"id": node_id, "type": "condition", "config": {"expression": f"trigger.bits[{i - 1}]"}})
        else:
            nodes.append({"id": node_id, "type": "action", "connector": "core", "operation": "transform",
                          "config": {"expression": f"{i}"}})
        sources = draw(st.lists(st.integers(0, i - 1), min_size=1, max_size=min(3, i), unique=True))
        for s in sources:
            source = nodes[s]
            edge: dict[str, Any] = {"source": source["id"], "target": node_id}
            if source["type"] == "condition":
                edge["branch"] = draw(st.sampled_from(["true", "false"]))
            edges.append(edge)
    return {"name": "random", "nodes": nodes, "edges": edges}, bits


def expected_statuses(workflow: dict[str, Any], bits: list[bool]) -> dict[str, str]:
    status = {"start": "completed"}
    branch: dict[str, str | None] = {"start": None}
    for node in workflow["nodes"][1:]:
        incoming = [e for e in workflow["edges"] if e["target"] == node["id"]]
        taken = any(status[e["source"]] == "completed" and e.get("branch") == branch[e["source"]] for e in incoming)
        status[node["id"]] = "completed" if taken else "skipped"
        index = int(node["id"][1:]) - 1
        branch[node["id"]] = ("true" if bits[index] else "false") if node["type"] == "condition" else None
    return status


@pytest.fixture(scope="module")
def engine_loop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[asyncio.AbstractEventLoop, Any]]:
    loop = asyncio.new_event_loop()
    manager = runtime_at(Path(tmp_path_factory.mktemp("props")) / "db.sqlite")
    runtime = loop.run_until_complete(manager.__aenter__())
    yield loop, runtime
    loop.run_until_complete(manager.__aexit__(None, None, None))
    loop.close()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(dags())
def test_join_rule_and_skip_propagation(engine_loop: tuple[asyncio.AbstractEventLoop, Any],
                                        case: tuple[dict[str, Any], list[bool]]) -> None:
    loop, runtime = engine_loop
    workflow, bits = case
    result = loop.run_until_complete(runtime.run(workflow, {"bits": bits}))
    assert result["status"] == "completed"
    seen = Counter(s["node_id"] for s in result["steps"])
    assert all(n == 1 for n in seen.values())  # every node settles exactly once
    assert {s["node_id"]: s["status"] for s in result["steps"]} == expected_statuses(workflow, bits)
