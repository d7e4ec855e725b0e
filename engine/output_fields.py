"""Checks of what expressions read: other steps' output fields, classify labels, trigger fields.

Three rules that catch the commonest mistakes of a workflow's author (a person or a model), each
with a stable code, a JSON path and, where one is close, a did-you-mean hint that the copilot's
re-ask loop and its repair pass can act on:

* ``unknown_output_field`` — ``nodes.<id>.<field>`` where ``<id>``'s output has no ``<field>``.
  The output shape comes from the operation's output model (an action), or is fixed by the node
  type (a condition gives ``result``, a switch ``value`` and ``case``). Open outputs are exempt
  below their open point: a field typed ``Any`` or ``dict`` (an HTTP ``body``, ``llm.extract``'s
  ``data``, a query's ``rows``), a model that allows extra fields (``core.set``), and nodes whose
  output is not a model at all (triggers, loops, merges, guardrails, unknown operations). A node
  with ``on_error: route`` also offers its error's fields (``code``, ``message``...) to its
  error branch. A ``core.map`` step's ``value`` has the fields it maps (unless ``keep_unmapped``).
* ``switch_case_not_label`` — a switch on ``nodes.<id>.label`` of an ``llm.classify`` step whose
  case ``equals`` is not one of that step's labels (classify answers a label exactly, so a case
  differing in case or spelling never matches).
* ``undeclared_trigger_field`` — a condition or switch on ``trigger.body.<field>`` of a webhook
  whose ``input_schema`` declares properties but not that one.
"""

from __future__ import annotations

import difflib
import re
import types
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel

from engine.errors import Problem
from engine.expressions import iter_strings, templates_in

# What ``nodes.<id>`` holds on the error branch of a node with ``on_error: route``
# (``engine.node_runner.error_payload``).
ERROR_FIELDS = ("code", "message", "details", "node_id", "attempt")
STRUCTURAL_FIELDS: dict[str, tuple[str, ...]] = {"condition": ("result",), "switch": ("value", "case")}

_QUOTED_RE = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")
_NAME = r"(?:[A-Za-z_][A-Za-z0-9_]*|`[^`]+`)"
_NODE_PATH_RE = re.compile(rf"(?<![\w$.`])nodes\.([a-z][a-z0-9_]*)((?:\.{_NAME})*)")
_SEGMENT_RE = re.compile(_NAME)
_TRIGGER_FIELD_RE = re.compile(rf"(?<![\w$.`])trigger\.body\.({_NAME})")
_LABEL_RE = re.compile(r"^\s*(?:\$(lowercase|uppercase)\(\s*)?nodes\.([a-z][a-z0-9_]*)\.label\s*(\))?\s*$")


@dataclass(frozen=True)
class _Located:
    path: str
    node: dict[str, Any]


def output_field_problems(data: dict[str, Any], catalog: Any | None) -> list[Problem]:
    """Every problem of the three rules in a workflow document (parsed JSON). Never raises on
    malformed input: what cannot be read is left to the other validation rules."""
    nodes = dict(_all_nodes(data, "$"))
    trigger = next((n.node for n in nodes.values() if n.node.get("type") == "trigger"), None)
    problems: list[Problem] = []
    for located in nodes.values():
        for path, source in _expressions(located.node, located.path):
            problems.extend(_field_references(source, path, nodes, catalog))
            if located.node.get("type") in ("condition", "switch") and trigger is not None:
                problems.extend(_trigger_fields(source, path, trigger))
        if located.node.get("type") == "switch":
            problems.extend(_switch_labels(located, nodes))
    return problems


# --- walking the document ---------------------------------------------------------------------


def _all_nodes(graph: Any, prefix: str) -> Iterator[tuple[str, _Located]]:
    if not isinstance(graph, dict) or not isinstance(graph.get("nodes"), list):
        return
    for i, node in enumerate(graph["nodes"]):
        if not isinstance(node, dict):
            continue
        path = f"{prefix}.nodes[{i}]"
        if isinstance(node.get("id"), str):
            yield node["id"], _Located(path, node)
        if node.get("type") == "loop":
            yield from _all_nodes(node.get("body"), f"{path}.body")


def _bare_fields(node: dict[str, Any]) -> set[str]:
    """Config fields holding a bare JSONata expression (the rest hold text with ``{{ }}``)."""
    kind = node.get("type")
    if kind == "condition":
        return {"expression"}
    if kind == "switch":
        return {"value"}
    if kind == "loop":
        return {"items"}
    if kind == "action" and node.get("connector") == "core" and node.get("operation") == "transform":
        return {"expression"}
    return set()


def _expressions(node: dict[str, Any], path: str) -> Iterator[tuple[str, str]]:
    """``(json path, expression source)`` of every expression in a node's config."""
    config = node.get("config")
    if not isinstance(config, dict):
        return
    bare = _bare_fields(node)
    for spath, value in iter_strings(config, f"{path}.config"):
        if "{{" in value:
            for source in templates_in(value):
                yield spath, source
        elif spath.removeprefix(f"{path}.config.") in bare:
            yield spath, value


def _name(segment: str) -> str:
    return segment[1:-1] if segment.startswith("`") else segment


def _suggest(name: str, choices: list[str]) -> str | None:
    lowered = {c.lower(): c for c in choices}
    if name.lower() in lowered:
        return lowered[name.lower()]
    match = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    return match[0] if match else None


def _hint(suggestion: str | None) -> str | None:
    return f"did you mean '{suggestion}'?" if suggestion else None


# --- unknown_output_field ----------------------------------------------------------------------


def _output_model(node: dict[str, Any], catalog: Any | None) -> type[BaseModel] | None:
    if node.get("type") != "action" or catalog is None:
        return None
    connector, operation = node.get("connector"), node.get("operation")
    if not isinstance(connector, str) or not isinstance(operation, str):
        return None
    spec = catalog.operation(connector, operation)
    model = getattr(spec, "output_model", None)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _is_open(model: type[BaseModel]) -> bool:
    return model.model_config.get("extra") == "allow"


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    """The model a field holds (``Model`` or ``Model | None``), or None when it is open data."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) in (Union, types.UnionType):
        models = [a for a in get_args(annotation) if a is not type(None)]
        if len(models) == 1:
            return _nested_model(models[0])
    return None


def _field_references(source: str, path: str, nodes: dict[str, _Located], catalog: Any | None) -> list[Problem]:
    problems = []
    for match in _NODE_PATH_RE.finditer(_QUOTED_RE.sub("''", source)):
        ref, rest = match.group(1), match.group(2)
        target = nodes.get(ref)
        segments = [_name(s) for s in _SEGMENT_RE.findall(rest)]
        if target is None or not segments:
            continue  # an unknown node is reported by unknown_reference
        problem = _check_segments(ref, target.node, segments, path, catalog)
        if problem is not None:
            problems.append(problem)
    return problems


def _mapped_fields(node: dict[str, Any]) -> list[str] | None:
    """The field names a ``core.map`` step's ``value`` has (None: not such a step, or open)."""
    if node.get("type") != "action" or (node.get("connector"), node.get("operation")) != ("core", "map"):
        return None
    config = node.get("config")
    if not isinstance(config, dict) or not isinstance(config.get("fields"), dict) or config.get("keep_unmapped"):
        return None
    return [str(name) for name in config["fields"]]


def _check_segments(ref: str, node: dict[str, Any], segments: list[str], path: str,
                    catalog: Any | None) -> Problem | None:
    extra = list(ERROR_FIELDS) if node.get("on_error") == "route" else []
    fixed = STRUCTURAL_FIELDS.get(str(node.get("type")))
    model = _output_model(node, catalog)
    mapped = _mapped_fields(node)
    if mapped is not None and len(segments) > 1 and segments[0] == "value":
        # core.map: its value holds exactly the fields it maps (of one object, or of each in a list)
        fields, what, segments = mapped, "core.map", segments[:2]
        if segments[1] in fields:
            return None
    elif fixed is not None:
        fields, what = [*fixed, *extra], f"a {node.get('type')}"
        if segments[0] in fields:
            return None
    elif model is not None:
        what = f"{node.get('connector')}.{node.get('operation')}"
        for depth, segment in enumerate(segments):
            if _is_open(model):
                return None
            fields = list(model.model_fields) + (extra if depth == 0 else [])
            if segment not in fields:
                break
            if depth == 0 and segment in extra and segment not in model.model_fields:
                return None
            nested = _nested_model(model.model_fields[segment].annotation)
            if nested is None:
                return None
            model = nested
        else:
            return None
        segments = segments[: depth + 1]
    else:
        return None
    field = segments[-1]
    shown = ".".join(segments)
    listing = ", ".join(fields) if fields else "no fields"
    return Problem(
        "unknown_output_field", path,
        f"expression reads nodes.{ref}.{shown}, but the output of {ref!r} ({what}) has no field {field!r} "
        f"(it has: {listing})",
        _hint(_suggest(field, fields)), {"node_id": ref, "field": shown, "fields": fields},
    )


# --- switch_case_not_label ---------------------------------------------------------------------


def _classify_labels(node: dict[str, Any]) -> list[str] | None:
    if node.get("type") != "action" or (node.get("connector"), node.get("operation")) != ("llm", "classify"):
        return None
    config = node.get("config")
    labels = config.get("labels") if isinstance(config, dict) else None
    if not isinstance(labels, list) or not labels or not all(isinstance(x, str) and "{{" not in x for x in labels):
        return None
    return [label.strip() for label in labels]


def _switch_labels(switch: _Located, nodes: dict[str, _Located]) -> list[Problem]:
    config = switch.node.get("config")
    if not isinstance(config, dict) or not isinstance(config.get("value"), str):
        return []
    match = _LABEL_RE.match(config["value"])
    if match is None or bool(match.group(1)) != bool(match.group(3)):
        return []
    case_fn, ref = match.group(1), match.group(2)
    target = nodes.get(ref)
    labels = _classify_labels(target.node) if target is not None else None
    if labels is None:
        return []
    if case_fn == "lowercase":
        labels = [label.lower() for label in labels]
    elif case_fn == "uppercase":
        labels = [label.upper() for label in labels]
    problems = []
    cases: list[Any] = config["cases"] if isinstance(config.get("cases"), list) else []
    for k, case in enumerate(cases):
        if not isinstance(case, dict) or case.get("equals") in labels:
            continue
        equals = case.get("equals")
        named = ", ".join(repr(label) for label in labels)
        suggestion = _suggest(equals, labels) if isinstance(equals, str) else None
        problems.append(Problem(
            "switch_case_not_label", f"{switch.path}.config.cases[{k}].equals",
            f"case {case.get('name')!r} compares with {equals!r}, which classify step {ref!r} never answers: "
            f"its labels are {named} (matched exactly, case included)",
            _hint(suggestion), {"node_id": switch.node.get("id"), "classify_node": ref, "labels": labels},
        ))
    return problems


# --- undeclared_trigger_field ------------------------------------------------------------------


def _declared_fields(trigger: dict[str, Any]) -> list[str] | None:
    if trigger.get("kind") != "webhook":
        return None
    config = trigger.get("config")
    schema = config.get("input_schema") if isinstance(config, dict) else None
    if not isinstance(schema, dict):
        return None
    properties = schema.get("properties")
    if not isinstance(properties, dict) or not properties:
        return None
    if schema.get("additionalProperties") not in (None, False):
        return None  # the schema says other fields are expected too
    return [str(name) for name in properties]


def _trigger_fields(source: str, path: str, trigger: dict[str, Any]) -> list[Problem]:
    declared = _declared_fields(trigger)
    if declared is None:
        return []
    problems = []
    for match in _TRIGGER_FIELD_RE.finditer(_QUOTED_RE.sub("''", source)):
        field = _name(match.group(1))
        if field in declared:
            continue
        problems.append(Problem(
            "undeclared_trigger_field", path,
            f"expression reads trigger.body.{field}, which the webhook's input_schema does not declare "
            f"(it declares: {', '.join(declared)})",
            _hint(_suggest(field, declared)), {"field": field, "fields": declared},
        ))
    return problems


__all__ = ["ERROR_FIELDS", "output_field_problems"]
