"""The deterministic repair pass: fixes what validation can fix without guessing intent.

It runs on a compiled workflow document when the model's re-asks are used up. Each fix follows a
validation problem's code and (when there is one) its hint: a misspelt connector or operation
becomes the suggested one, a misspelt time zone the suggested zone, an unknown config field is
dropped, a dangling or duplicate edge is dropped, a branch on a node that has none is removed,
``on_error: route`` without an error edge falls back to ``fail``, an unreachable node is attached
after the trigger, a cycle loses the edge that closes it, and a misspelt output field, trigger
field or classify label (``unknown_output_field``, ``undeclared_trigger_field``,
``switch_case_not_label`` with a did-you-mean) becomes the suggested one. What it cannot fix stays a problem.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

from engine.errors import Problem
from engine.validation import validate_workflow

MAX_ROUNDS = 3
_SUGGESTION = re.compile(r"did you mean '([^']+)'")
_STEP = re.compile(r"\.(nodes|edges)\[(\d+)\]")
_STEP_PREFIX = re.compile(r"^\$(?:\.nodes\[\d+\]\.body)*\.nodes\[\d+\]")


@dataclass
class RepairResult:
    document: dict[str, Any]
    fixed: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def repair(document: dict[str, Any], catalog: Any) -> RepairResult:
    """Fix what can be fixed; returns the new document, what was fixed, and what is left."""
    doc = copy.deepcopy(document)
    fixed: list[str] = []
    problems = validate_workflow(doc, catalog).problems
    for _ in range(MAX_ROUNDS):
        if not problems:
            break
        changed = False
        # Edges go last and from the highest index down, so earlier indices stay right.
        for problem in sorted(problems, key=_order):
            note = _fix(doc, problem)
            if note:
                fixed.append(note)
                changed = True
        if not changed:
            break
        problems = validate_workflow(doc, catalog).problems
    return RepairResult(doc, fixed, problems)


def _order(problem: Problem) -> tuple[int, int]:
    indices = [int(m.group(2)) for m in _STEP.finditer(problem.path)]
    is_edge = ".edges[" in problem.path
    return (1 if is_edge else 0, -(indices[-1] if indices else 0))


def _resolve(doc: dict[str, Any], path: str) -> tuple[dict[str, Any], dict[str, Any] | None, str | None]:
    """The graph a problem is in, the node or edge its path names, and which ('nodes'/'edges')."""
    graph: dict[str, Any] = doc
    target: dict[str, Any] | None = None
    kind: str | None = None
    for match in _STEP.finditer(path):
        kind, index = match.group(1), int(match.group(2))
        items = graph.get(kind, [])
        if not isinstance(items, list) or index >= len(items):
            return graph, None, None
        target = items[index]
        if kind == "nodes" and path[match.end():].startswith(".body") and isinstance(target, dict):
            graph = target.get("body", {})
    return graph, target, kind


def _fix(doc: dict[str, Any], problem: Problem) -> str | None:
    graph, target, kind = _resolve(doc, problem.path)
    if target is None or not isinstance(target, dict):
        return None
    if kind == "edges":
        return _fix_edge(graph, target, problem)
    return _fix_node(doc, graph, target, problem)


def _fix_edge(graph: dict[str, Any], target: dict[str, Any], problem: Problem) -> str | None:
    code = problem.code
    if code == "cycle":
        return _break_cycle(graph, problem)
    if code in ("dangling_edge", "duplicate_edge", "trigger_has_incoming"):
        if target in graph.get("edges", []):
            graph["edges"].remove(target)
            return f"removed edge {target.get('source')} → {target.get('target')} ({code})"
    if code == "invalid_branch" and target.get("branch") is not None:
        source: dict[str, Any] = next(
            (n for n in graph.get("nodes", []) if n.get("id") == target.get("source")), {})
        if source.get("type") not in ("condition", "switch") and target.get("branch") != "error":
            target.pop("branch")
            return f"removed branch from edge {target.get('source')} → {target.get('target')}"
    return None


def _fix_node(doc: dict[str, Any], graph: dict[str, Any], target: dict[str, Any], problem: Problem) -> str | None:
    suggestion = _SUGGESTION.search(problem.hint or "")
    code = problem.code
    node_id = target.get("id")
    if code == "unknown_connector" and suggestion:
        target["connector"] = suggestion.group(1)
        return f"{node_id}: connector → {suggestion.group(1)}"
    if code == "unknown_operation" and suggestion:
        target["operation"] = suggestion.group(1)
        return f"{node_id}: operation → {suggestion.group(1)}"
    if code == "invalid_timezone" and suggestion:
        target.setdefault("config", {})["timezone"] = suggestion.group(1)
        return f"{node_id}: time zone → {suggestion.group(1)}"
    if code == "config_unknown_field":
        name = problem.path.rsplit(".", 1)[-1]
        config = target.get("config")
        if isinstance(config, dict) and name in config:
            del config[name]
            return f"{node_id}: dropped unknown config field {name!r}"
    if code in _DATA_FLOW_CODES and suggestion:
        return _fix_data_flow(target, problem, suggestion.group(1))
    if code == "missing_error_edge" and target.get("on_error") == "route":
        target["on_error"] = "fail"
        return f"{node_id}: on_error route without an error edge → fail"
    if code == "unreachable" and target.get("type") != "trigger":
        root = _root(graph, doc)
        if root is not None:
            graph.setdefault("edges", []).append({"source": root, "target": node_id})
            return f"{node_id}: attached after {root} (it was unreachable)"
    return None


_DATA_FLOW_CODES = ("unknown_output_field", "undeclared_trigger_field", "switch_case_not_label")
_LOCAL_PATH = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]")


def _fix_data_flow(node: dict[str, Any], problem: Problem, suggestion: str) -> str | None:
    """A misspelt output field, trigger field or classify label becomes the suggested one."""
    node_path = _STEP_PREFIX.match(problem.path)
    steps = _LOCAL_PATH.findall(problem.path[node_path.end():]) if node_path else []
    if not steps:
        return None
    parent: Any = node
    for key, index in steps[:-1]:
        parent = parent.get(key) if isinstance(parent, dict) and key else (
            parent[int(index)] if isinstance(parent, list) and index and int(index) < len(parent) else None)
    key, index = steps[-1]
    slot: Any = key if key else int(index)
    try:
        value = parent[slot]
    except (KeyError, IndexError, TypeError):
        return None
    node_id = node.get("id")
    if problem.code == "switch_case_not_label":
        parent[slot] = suggestion
        return f"{node_id}: case {value!r} → classify label {suggestion!r}"
    if not isinstance(value, str):
        return None
    if problem.code == "unknown_output_field":
        field = str(problem.extra.get("field", ""))
        head = field.rpartition(".")[0]
        old = f"nodes.{problem.extra.get('node_id')}.{field}"
        new = f"nodes.{problem.extra.get('node_id')}.{head + '.' if head else ''}{suggestion}"
    else:
        old, new = f"trigger.body.{problem.extra.get('field')}", f"trigger.body.{suggestion}"
    fixed = re.sub(re.escape(old) + r"(?![A-Za-z0-9_])", new, value)
    if fixed == value:
        return None
    parent[slot] = fixed
    return f"{node_id}: {old} → {new}"


def _break_cycle(graph: dict[str, Any], problem: Problem) -> str | None:
    """Drop the edges of the cycle that point backwards in the node list (the step order the
    author wrote): those are the ones that closed it."""
    members = set(problem.extra.get("nodes") or [])
    position = {n.get("id"): i for i, n in enumerate(graph.get("nodes", []))}
    back = [e for e in graph.get("edges", []) if e.get("source") in members and e.get("target") in members
            and position.get(e.get("target"), 0) <= position.get(e.get("source"), 0)]
    for edge in back:
        graph["edges"].remove(edge)
    if not back:
        return None
    return "removed " + ", ".join(f"{e['source']} → {e['target']}" for e in back) + " (cycle)"


def _root(graph: dict[str, Any], doc: dict[str, Any]) -> str | None:
    if graph is doc:
        trigger = next((n for n in doc.get("nodes", []) if n.get("type") == "trigger"), None)
        return trigger.get("id") if trigger else None
    return None  # in a loop body an unreachable node is a start node already


__all__ = ["RepairResult", "repair"]
