"""Runtime semantics: join rule and skips, condition, switch, loop, merge, core operations."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from engine.errors import WorkflowInvalidError
from engine.runtime import InputInvalidError
from tests.engine.runtime_helpers import count, runtime_at, statuses, transform, wf

# Engine conformance: every test here runs on the local runtime and on the Temporal backend.
pytestmark = pytest.mark.usefixtures("backend")


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "flowwright.db"


async def test_linear_workflow_passes_outputs_along(db: Path) -> None:
    workflow = wf([transform("a", "trigger.x + 1"), transform("b", "nodes.a.value * 10")],
                  [("start", "a"), ("a", "b")])
    async with runtime_at(db) as rt:
        result = await rt.run(workflow, {"x": 4})
    assert result["status"] == "completed"
    assert result["output"] == {"value": 50}
    assert [s["node_id"] for s in result["steps"]] == ["start", "a", "b"]
    assert all(s["attempt"] == 1 and s["started_at"] and s["completed_at"] for s in result["steps"])
    assert result["duration_ms"] is not None


async def test_independent_branches_run_concurrently(db: Path) -> None:
    sleeps = [{"id": f"s{i}", "type": "action", "connector": "probe", "operation": "sleep",
               "config": {"seconds": 0.3}} for i in range(4)]
    workflow = wf(sleeps, [("start", f"s{i}") for i in range(4)])
    async with runtime_at(db) as rt:
        result = await rt.run(workflow)
    assert result["status"] == "completed"
    # four 0.3 s sleeps in parallel, not in a row: each started before any of them ended (the
    # step rows' times, not a stopwatch: a loaded machine or a remote backend adds latency)
    sleeps_run = [s for s in result["steps"] if s["node_id"] != "start"]
    assert max(s["started_at"] for s in sleeps_run) < min(s["completed_at"] for s in sleeps_run)
    assert set(result["output"]) == {"s0", "s1", "s2", "s3"}  # several sinks: keyed by id


async def test_execution_concurrency_cap(db: Path) -> None:
    sleeps = [{"id": f"s{i}", "type": "action", "connector": "probe", "operation": "sleep",
               "config": {"seconds": 0.2}} for i in range(4)]
    workflow = wf(sleeps, [("start", f"s{i}") for i in range(4)], max_concurrency=2)
    async with runtime_at(db) as rt:
        t0 = time.perf_counter()
        result = await rt.run(workflow)
        elapsed = time.perf_counter() - t0
    assert result["status"] == "completed"
    assert elapsed >= 0.38  # two waves of two


async def test_condition_takes_one_branch_and_skips_propagate(db: Path, tmp_path: Path) -> None:
    log = tmp_path / "count.txt"
    workflow = wf(
        [
            {"id": "check", "type": "condition", "config": {"expression": "trigger.amount > 100"}},
            count("big", log), count("small", log), count("after_small", log),
            count("join", log),  # reached from both sides: runs when one path was taken
        ],
        [("start", "check"), ("check", "big", "true"), ("check", "small", "false"),
         ("small", "after_small"), ("big", "join"), ("after_small", "join")],
    )
    async with runtime_at(db) as rt:
        high = await rt.run(workflow, {"amount": 500})
        low = await rt.run(workflow, {"amount": 5})
    assert statuses(high) == {"start": "completed", "check": "completed", "big": "completed",
                              "small": "skipped", "after_small": "skipped", "join": "completed"}
    assert [s for s in high["steps"] if s["node_id"] == "check"][0]["output"] == {"result": True}
    assert statuses(low)["big"] == "skipped" and statuses(low)["after_small"] == "completed"
    assert log.read_text().split() == ["big", "join", "small", "after_small", "join"]


async def test_node_with_no_taken_input_is_skipped_with_descendants(db: Path, tmp_path: Path) -> None:
    log = tmp_path / "count.txt"
    workflow = wf(
        [{"id": "never", "type": "condition", "config": {"expression": "false"}},
         count("a", log), count("b", log), count("c", log)],
        [("start", "never"), ("never", "a", "true"), ("a", "b"), ("b", "c")],
    )
    async with runtime_at(db) as rt:
        result = await rt.run(workflow)
    assert result["status"] == "completed"
    assert statuses(result) == {"start": "completed", "never": "completed", "a": "skipped", "b": "skipped",
                                "c": "skipped"}
    assert all(s["attempt"] == 0 for s in result["steps"] if s["status"] == "skipped")
    assert not log.exists()
    assert result["output"] is None  # the single sink was skipped


async def test_switch_routes_to_matching_case_or_default(db: Path) -> None:
    workflow = wf(
        [{"id": "route", "type": "switch", "config": {"value": "trigger.kind", "cases": [
            {"name": "refund", "equals": "refund"}, {"name": "bug", "equals": "bug"}]}},
         transform("refund_path", "'R'"), transform("bug_path", "'B'"), transform("other", "'O'")],
        [("start", "route"), ("route", "refund_path", "refund"), ("route", "bug_path", "bug"),
         ("route", "other", "default")],
    )
    async with runtime_at(db) as rt:
        bug = await rt.run(workflow, {"kind": "bug"})
        odd = await rt.run(workflow, {"kind": "praise"})
    assert statuses(bug) == {"start": "completed", "route": "completed", "refund_path": "skipped",
                             "bug_path": "completed", "other": "skipped"}
    assert bug["output"] == {"bug_path": {"value": "B"}}
    route = next(s for s in bug["steps"] if s["node_id"] == "route")
    assert route["output"] == {"value": "bug", "case": "bug"}
    assert statuses(odd)["other"] == "completed" and statuses(odd)["bug_path"] == "skipped"


async def test_loop_outputs_are_in_item_order_with_max_concurrency(db: Path, tmp_path: Path) -> None:
    # No stopwatch: each item waits until all four are in flight (so they ran concurrently) and
    # then until every later item has finished (so they finish in reverse), whatever the load.
    meet = tmp_path / "meet"
    meet.mkdir()
    body = {"nodes": [
        {"id": "wait", "type": "action", "connector": "probe", "operation": "rendezvous",
         "config": {"dir": str(meet), "index": "{{ index }}", "count": 4}},
        transform("square", "item * item"),
    ], "edges": [{"source": "wait", "target": "square"}]}
    workflow = wf([{"id": "each", "type": "loop", "config": {"items": "{{ trigger.values }}", "max_concurrency": 4},
                    "body": body}], [("start", "each")])
    async with runtime_at(db) as rt:
        result = await rt.run(workflow, {"values": [1, 2, 3, 4]})
    assert result["status"] == "completed", result.get("error")
    assert (meet / "order").read_text().split() == ["3", "2", "1", "0"]  # later items finished first
    assert result["output"] == [{"value": 1}, {"value": 4}, {"value": 9}, {"value": 16}]  # yet item order
    paths = {s["loop_path"] for s in result["steps"] if s["node_id"] == "square"}
    assert paths == {"each[0]", "each[1]", "each[2]", "each[3]"}


async def test_a_loop_runs_no_more_items_at_once_than_max_concurrency(db: Path, tmp_path: Path) -> None:
    meet = tmp_path / "meet"
    meet.mkdir()
    body = {"nodes": [{"id": "wait", "type": "action", "connector": "probe", "operation": "rendezvous",
                       "config": {"dir": str(meet), "index": "{{ index }}", "count": 3, "timeout_s": 0.5}}],
            "edges": []}
    workflow = wf([{"id": "each", "type": "loop", "config": {"items": "{{ trigger.values }}", "max_concurrency": 2},
                    "body": body}], [("start", "each")])
    async with runtime_at(db) as rt:
        result = await rt.run(workflow, {"values": [1, 2, 3]})
    # two in flight can never meet a third: the rendezvous gives up
    assert result["status"] == "failed"
    assert "fewer than 3 calls arrived" in result["error"]["message"]


async def test_loop_max_concurrency_one_runs_items_in_sequence(db: Path, tmp_path: Path) -> None:
    log = tmp_path / "count.txt"
    body = {"nodes": [count("visit", log, tag="{{ $string(item) }}", sleep_s=0.02)], "edges": []}
    workflow = wf([{"id": "each", "type": "loop", "config": {"items": "trigger.values", "max_concurrency": 1},
                    "body": body}], [("start", "each")])
    async with runtime_at(db) as rt:
        result = await rt.run(workflow, {"values": [3, 1, 2]})
    assert log.read_text().split() == ["3", "1", "2"]
    assert [r["tag"] for r in result["output"]] == ["3", "1", "2"]


async def test_loop_max_items_and_batch_size(db: Path) -> None:
    capped = wf([{"id": "each", "type": "loop", "config": {"items": "{{ [1,2,3,4,5] }}", "max_items": 3},
                  "body": {"nodes": [transform("dbl", "item * 2")], "edges": []}}], [("start", "each")])
    batched = wf([{"id": "each", "type": "loop", "config": {"items": "{{ [1,2,3,4,5] }}", "batch_size": 2},
                   "body": {"nodes": [transform("total", "$sum(item)")], "edges": []}}], [("start", "each")])
    async with runtime_at(db) as rt:
        first = await rt.run(capped)
        second = await rt.run(batched)
    assert first["output"] == [{"value": 2}, {"value": 4}, {"value": 6}]
    assert second["output"] == [{"value": 3}, {"value": 7}, {"value": 5}]


async def test_loop_body_sees_outer_nodes_and_empty_list(db: Path) -> None:
    workflow = wf([
        transform("base", "100"),
        {"id": "each", "type": "loop", "config": {"items": "{{ trigger.values }}"},
         "body": {"nodes": [transform("add", "nodes.base.value + item + index")], "edges": []}},
    ], [("start", "base"), ("base", "each")])
    async with runtime_at(db) as rt:
        full = await rt.run(workflow, {"values": [10, 20]})
        empty = await rt.run(workflow, {"values": []})
    assert full["output"] == [{"value": 110}, {"value": 121}]
    assert empty["status"] == "completed" and empty["output"] == []


async def test_nested_loops(db: Path) -> None:
    inner = {"id": "inner", "type": "loop", "config": {"items": "{{ item }}"},
             "body": {"nodes": [transform("cell", "item * 10")], "edges": []}}
    workflow = wf([{"id": "outer", "type": "loop", "config": {"items": "{{ [[1, 2], [3]] }}"},
                    "body": {"nodes": [inner], "edges": []}}], [("start", "outer")])
    async with runtime_at(db) as rt:
        result = await rt.run(workflow)
    assert result["output"] == [[{"value": 10}, {"value": 20}], [{"value": 30}]]
    assert "outer[0].inner[1]" in {s.get("loop_path") for s in result["steps"]}


async def test_merge_all_waits_and_merge_first_does_not(db: Path, tmp_path: Path) -> None:
    log = tmp_path / "count.txt"
    nodes = [
        {"id": "fast", "type": "action", "connector": "probe", "operation": "sleep", "config": {"seconds": 0.01}},
        {"id": "slow", "type": "action", "connector": "probe", "operation": "sleep", "config": {"seconds": 0.3}},
        {"id": "both", "type": "merge", "config": {"mode": "all"}},
        {"id": "either", "type": "merge", "config": {"mode": "first"}},
        count("after_either", log), count("after_both", log),
    ]
    edges = [("start", "fast"), ("start", "slow"), ("fast", "both"), ("slow", "both"), ("fast", "either"),
             ("slow", "either"), ("either", "after_either"), ("both", "after_both")]
    async with runtime_at(db) as rt:
        result = await rt.run(wf(nodes, edges))
    steps = {s["node_id"]: s for s in result["steps"]}
    assert steps["both"]["output"] == {"fast": {"slept": 0.01}, "slow": {"slept": 0.3}}
    assert steps["either"]["output"] == {"fast": {"slept": 0.01}}
    assert log.read_text().split() == ["after_either", "after_both"]  # first did not wait for slow


async def test_merge_all_with_one_branch_skipped(db: Path) -> None:
    workflow = wf(
        [{"id": "check", "type": "condition", "config": {"expression": "true"}},
         transform("yes", "'y'"), transform("no", "'n'"), {"id": "m", "type": "merge"}],
        [("start", "check"), ("check", "yes", "true"), ("check", "no", "false"), ("yes", "m"), ("no", "m")],
    )
    async with runtime_at(db) as rt:
        result = await rt.run(workflow)
    assert result["output"] == {"yes": {"value": "y"}}


async def test_core_operations(db: Path) -> None:
    workflow = wf([
        {"id": "values", "type": "action", "connector": "core", "operation": "set",
         "config": {"values": {"name": "{{ trigger.name }}", "greeting": "Hi {{ trigger.name }}!",
                               "n": "{{ trigger.n }}", "fixed": [1, 2]}}},
        {"id": "note", "type": "action", "connector": "core", "operation": "log",
         "config": {"message": "greeted {{ nodes.values.name }}", "level": "warning"}},
        {"id": "pause", "type": "action", "connector": "core", "operation": "delay", "config": {"seconds": 0.2}},
    ], [("start", "values"), ("values", "note"), ("note", "pause")])
    async with runtime_at(db) as rt:
        t0 = time.perf_counter()
        result = await rt.run(workflow, {"name": "Ada", "n": 3})
        elapsed = time.perf_counter() - t0
        logs = rt.store.logs(result["id"])
    steps = {s["node_id"]: s for s in result["steps"]}
    assert steps["values"]["output"] == {"name": "Ada", "greeting": "Hi Ada!", "n": 3, "fixed": [1, 2]}
    assert [(row.level, row.message) for row in logs] == [("warning", "greeted Ada")]
    assert steps["pause"]["status"] == "completed" and elapsed >= 0.2


async def test_core_fail_fails_the_execution(db: Path) -> None:
    workflow = wf([{"id": "stop", "type": "action", "connector": "core", "operation": "fail",
                    "config": {"message": "nope"}}, transform("later", "1")], [("start", "stop"), ("stop", "later")])
    async with runtime_at(db) as rt:
        result = await rt.run(workflow)
    assert result["status"] == "failed"
    assert result["error"]["code"] == "core_fail" and result["error"]["node_id"] == "stop"
    assert result["error"]["message"] == "nope"
    assert "later" not in statuses(result)


async def test_expression_interpolation_keeps_type_for_whole_templates(db: Path) -> None:
    workflow = wf([
        {"id": "s", "type": "action", "connector": "core", "operation": "set",
         "config": {"values": {"list": "{{ trigger.items }}", "text": "n={{ $count(trigger.items) }}",
                               "obj": "{{ {'a': 1} }}", "none": "{{ trigger.missing }}", "mixed": "x{{ trigger.missing }}y"}}},
    ], [("start", "s")])
    async with runtime_at(db) as rt:
        result = await rt.run(workflow, {"items": [1, 2]})
    assert result["output"] == {"list": [1, 2], "text": "n=2", "obj": {"a": 1}, "none": None, "mixed": "xy"}


async def test_execution_scope_fields(db: Path) -> None:
    workflow = wf([transform("who", "{'id': execution.id, 'wf': execution.workflow_name, 'x': trigger.x}")],
                  [("start", "who")], name="scoped")
    async with runtime_at(db) as rt:
        result = await rt.run(workflow, {"x": 1})
    assert result["output"] == {"value": {"id": result["id"], "wf": "scoped", "x": 1}}


async def test_invalid_workflow_and_input_are_refused(db: Path) -> None:
    bad = wf([transform("a", "1")], [("start", "zzz")])
    schema_wf = wf([transform("a", "trigger.n")], [("start", "a")])
    schema_wf["nodes"][0]["config"] = {"input_schema": {"type": "object", "required": ["n"],
                                                        "properties": {"n": {"type": "integer"}}}}
    async with runtime_at(db) as rt:
        with pytest.raises(WorkflowInvalidError) as invalid:
            await rt.start(bad)
        with pytest.raises(InputInvalidError) as bad_input:
            await rt.start(schema_wf, {"n": "three"})
        ok = await rt.run(schema_wf, {"n": 3})
    assert invalid.value.problems[0].code == "dangling_edge"
    assert "$.n" in bad_input.value.message
    assert ok["output"] == {"value": 3}


async def test_many_executions_at_once(db: Path) -> None:
    workflow = wf([transform("a", "trigger.i * 2")], [("start", "a")])
    async with runtime_at(db) as rt:
        ids = [await rt.start(workflow, {"i": i}) for i in range(50)]
        results = await asyncio.gather(*(rt.wait(i) for i in ids))
    assert [r["output"]["value"] for r in results] == [i * 2 for i in range(50)]


async def test_the_design_example_runs(db: Path) -> None:
    from tests.engine.workflows import digest

    async with runtime_at(db) as rt:
        result = await rt.run(digest())
        logs = [row.message for row in rt.store.logs(result["id"])]
    assert result["status"] == "completed", result["error"]
    assert statuses(result)["tell_region@each_region[0]"] == "completed"
    assert set(result["output"]) == {"each_region", "send_digest"}
    assert sorted(logs) == ["eu: 5", "ok"]


async def test_passes_output_runs(db: Path) -> None:
    """A workflow after the guardrail/error-handling passes (inserted nodes included) still runs."""
    from connectors.registry import default_registry
    from engine.passes import run_passes
    from engine.validation import parse_workflow
    from tests.engine.workflows import digest

    registry = default_registry()
    passed = run_passes(parse_workflow(digest(), registry), registry)
    async with runtime_at(db) as rt:
        result = await rt.run(passed.workflow)
    assert result["status"] == "completed", result["error"]
    assert result["output"]["each_region"] == [{"message": "eu: 5", "level": "info"}]
