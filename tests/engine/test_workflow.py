"""Format v1 models: round trip, committed schema, and property tests with Hypothesis."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.registry import default_registry
from engine.validation import validate_workflow
from engine.workflow import LoopNode, Workflow, iter_graph_nodes, json_schema
from tests.engine.workflows import digest

REGISTRY = default_registry(plugins=False)
SCHEMA_FILE = Path(__file__).resolve().parents[2] / "engine" / "workflow.schema.json"


def test_committed_schema_matches_models() -> None:
    committed = json.loads(SCHEMA_FILE.read_text())
    assert committed == json_schema(), "engine/workflow.schema.json drifted: run `flowwright schema > engine/workflow.schema.json`"


def test_discriminated_union_and_nested_body() -> None:
    wf = Workflow.model_validate(digest())
    loop = wf.nodes[3]
    assert isinstance(loop, LoopNode)
    assert loop.body.nodes[0].id == "tell_region"
    assert [p for p, _ in iter_graph_nodes(wf.nodes)][-2:] == ["$.nodes[3].body.nodes[0]", "$.nodes[4]"]


def test_round_trip_keeps_the_document() -> None:
    doc = digest()
    assert Workflow.model_validate(doc).to_json_dict() == doc


def test_content_hash_ignores_key_order() -> None:
    doc = digest()
    reordered = json.loads(json.dumps(doc, sort_keys=True))
    assert Workflow.model_validate(doc).content_hash() == Workflow.model_validate(reordered).content_hash()


# --- Hypothesis -----------------------------------------------------------------------------

ids = st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True)
texts = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20).filter(
    lambda s: "{{" not in s and "}}" not in s
)


@st.composite
def leaf_node(draw: st.DrawFn, node_id: str) -> dict[str, Any]:
    kind = draw(st.sampled_from(["log", "transform", "set", "merge", "condition"]))
    if kind == "log":
        node = {"id": node_id, "type": "action", "connector": "core", "operation": "log",
                "config": {"message": draw(texts), "level": draw(st.sampled_from(["info", "warning"]))}}
    elif kind == "transform":
        node = {"id": node_id, "type": "action", "connector": "core", "operation": "transform",
                "config": {"expression": f"{draw(st.integers(0, 1000))} + 1"}}
    elif kind == "set":
        node = {"id": node_id, "type": "action", "connector": "core", "operation": "set",
                "config": {"values": draw(st.dictionaries(ids, st.integers() | texts, max_size=3))}}
    elif kind == "merge":
        node = {"id": node_id, "type": "merge", "config": {"mode": draw(st.sampled_from(["all", "first"]))}}
    else:
        node = {"id": node_id, "type": "condition", "config": {"expression": "trigger.x > 3"}}
    if draw(st.booleans()):
        node["retry"] = {"max_attempts": draw(st.integers(1, 5)), "backoff": draw(st.sampled_from(["fixed", "exponential"]))}
    if draw(st.booleans()):
        node["timeout_s"] = draw(st.floats(0.5, 600, allow_nan=False))
    if draw(st.booleans()):
        node["origin"] = draw(st.sampled_from(["user", "generated", "guardrail"]))
    return node


@st.composite
def graph(draw: st.DrawFn, prefix: str, size: int, with_trigger: bool, depth: int) -> dict[str, Any]:
    nodes: list[dict[str, Any]] = []
    edges: list[dict[str, Any]] = []
    if with_trigger:
        kind = draw(st.sampled_from(["manual", "webhook", "schedule"]))
        trigger: dict[str, Any] = {"id": f"{prefix}start", "type": "trigger", "kind": kind}
        if kind == "schedule":
            trigger["config"] = {"cron": draw(st.sampled_from(["0 9 * * 1", "*/5 * * * *", "30 8 1 * *"])),
                                 "timezone": draw(st.sampled_from(["UTC", "Europe/Berlin", "Asia/Tokyo"]))}
        nodes.append(trigger)
    for i in range(size):
        node_id = f"{prefix}n{i}"
        if depth > 0 and draw(st.integers(0, 5)) == 0:
            body = draw(graph(f"{prefix}b{i}_", draw(st.integers(1, 3)), False, depth - 1))
            config: dict[str, Any]
            if draw(st.booleans()):
                config = {"items": "{{ [1, 2, 3] }}", "max_concurrency": draw(st.integers(1, 4))}
            else:  # a while-loop (format 1.1)
                config = {"while": draw(st.sampled_from(["iteration < 3", "previous.value != 'ready'", "false"])),
                          "max_iterations": draw(st.integers(1, 50))}
                if draw(st.booleans()):
                    config["delay_s"] = draw(st.floats(0, 3600, allow_nan=False))
                if draw(st.booleans()):
                    config["output"] = draw(st.sampled_from(["list", "last"]))
            node = {"id": node_id, "type": "loop", "config": config, "body": body}
        else:
            node = draw(leaf_node(node_id))
        if nodes:
            parents = draw(st.lists(st.integers(0, len(nodes) - 1), min_size=1, max_size=2, unique=True))
            for p in parents:
                edge: dict[str, Any] = {"source": nodes[p]["id"], "target": node_id}
                if nodes[p]["type"] == "condition":
                    edge["branch"] = draw(st.sampled_from(["true", "false"]))
                edges.append(edge)
        nodes.append(node)
    return {"nodes": nodes, "edges": edges}


@st.composite
def workflows(draw: st.DrawFn) -> dict[str, Any]:
    g = draw(graph("", draw(st.integers(1, 8)), True, 2))
    doc: dict[str, Any] = {"schema_version": "1", "name": draw(st.text(min_size=1, max_size=30).filter(str.strip)), **g}
    if draw(st.booleans()):
        doc["description"] = draw(texts)
    return doc


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(workflows())
def test_valid_workflows_validate_and_round_trip(doc: dict[str, Any]) -> None:
    result = validate_workflow(doc, REGISTRY)
    assert result.problems == [], [p.to_dict() for p in result.problems]
    assert result.workflow is not None
    assert result.workflow.to_json_dict() == doc
    again = Workflow.model_validate_json(result.workflow.model_dump_json(exclude_unset=True))
    assert again == result.workflow


BREAKING_MUTATIONS = ["drop_trigger", "dangling", "bad_type", "bad_id", "dup_node", "wrong_type", "cycle", "drop_required"]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(workflows(), st.sampled_from(BREAKING_MUTATIONS), st.data())
def test_broken_workflows_get_errors_never_crash(doc: dict[str, Any], mutation: str, data: st.DataObject) -> None:
    doc = copy.deepcopy(doc)
    nodes = doc["nodes"]
    victim = data.draw(st.integers(1, len(nodes) - 1)) if len(nodes) > 1 else 0
    if mutation == "drop_trigger":
        doc["nodes"] = nodes[1:]
    elif mutation == "dangling":
        doc["edges"].append({"source": nodes[0]["id"], "target": "ghost_node"})
    elif mutation == "bad_type":
        nodes[victim]["type"] = data.draw(st.text(max_size=8).filter(lambda s: s not in {
            "trigger", "action", "condition", "switch", "loop", "merge", "guardrail"}))
    elif mutation == "bad_id":
        nodes[victim]["id"] = data.draw(st.sampled_from(["", "9lives", "UPPER", "has-dash", "x" * 80]))
    elif mutation == "dup_node":
        nodes.append(copy.deepcopy(nodes[victim]))
    elif mutation == "wrong_type":
        nodes[victim][data.draw(st.sampled_from(["id", "type", "config"]))] = data.draw(st.integers() | st.none())
    elif mutation == "cycle":
        doc["edges"].append({"source": nodes[-1]["id"], "target": nodes[-1]["id"]})
    elif mutation == "drop_required":
        nodes[victim].pop(data.draw(st.sampled_from(["id", "type"])))
    result = validate_workflow(doc, REGISTRY)
    assert result.problems, f"mutation {mutation} was not detected"
    assert result.workflow is None
    assert all(p.path.startswith("$") for p in result.problems)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(workflows(), json_values, st.data())
def test_arbitrary_garbage_never_crashes(doc: dict[str, Any], garbage: Any, data: st.DataObject) -> None:
    target = data.draw(st.sampled_from(["root", "node", "edge", "config", "body"]))
    if target == "root":
        doc = garbage if data.draw(st.booleans()) else {**doc, "nodes": garbage}
    elif target == "node":
        doc["nodes"][data.draw(st.integers(0, len(doc["nodes"]) - 1))] = garbage
    elif target == "edge":
        doc["edges"].append(garbage)
    elif target == "config":
        doc["nodes"][-1]["config"] = garbage
    else:
        doc["nodes"].append({"id": "zz", "type": "loop", "config": {"items": "x"}, "body": garbage})
    result = validate_workflow(doc, REGISTRY)  # must not raise
    assert all(p.code != "internal" for p in result.problems), [p.to_dict() for p in result.problems]
