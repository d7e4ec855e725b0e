"""engine/json_depth.py: nesting measured without recursion, reported as a JSON path."""

from __future__ import annotations

from typing import Any

from engine.json_depth import MAX_LOOP_NESTING, loop_too_deep, too_deep
from engine.validation import validate_workflow
from tests.engine.workflows import nested_loops


def test_too_deep_names_the_first_place_over_the_limit() -> None:
    assert too_deep({"a": [1]}, 2) is None
    assert too_deep({"a": [{}]}, 2) == "$.a[0]"
    assert too_deep({"x": 1, "b": [[], {"c": {}}]}, 2) == "$.b[0]"
    value: Any = []
    for _ in range(100_000):  # far beyond the recursion limit
        value = [value]
    assert too_deep(value, 3) == "$[0][0][0]"
    assert too_deep("text", 0) is None


def test_loop_nesting_is_counted_through_bodies() -> None:
    assert loop_too_deep(nested_loops(MAX_LOOP_NESTING)) is None
    assert loop_too_deep(nested_loops(12)) == ("$.nodes[1]" + ".body.nodes[0]" * 10, 12)
    assert loop_too_deep({"nodes": "not a list"}) is None


def test_validation_reports_deep_loops_as_one_problem() -> None:
    result = validate_workflow(nested_loops(300))
    assert [p.code for p in result.problems] == ["loop_too_deep"]
    assert "300 deep" in result.problems[0].message
    flat = nested_loops(1)
    flat["nodes"][1]["config"]["deep"] = too = {}
    for _ in range(120):
        too["a"] = too = {}
    assert [p.code for p in validate_workflow(flat).problems] == ["too_deep"]
