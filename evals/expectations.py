"""Machine-checkable expectations on a generated workflow, and the checker.

An expectation says what the request demands and nothing more, so that every correct workflow
passes whatever ids, names or layout a model picks. Nodes are picked by *selectors*:

- ``"http.request"``, ``"llm.*"`` — an action by connector and operation (``*`` for any);
- ``"trigger"``, ``"trigger:webhook"``, ``"guardrail"``, ``"guardrail:approval"``;
- a node type: ``"condition"``, ``"switch"``, ``"loop"``, ``"merge"``, ``"action"``; ``"*"`` for any;
- an object ``{"sel": "email.send", "where": {"to": "bob@example.com"}}`` whose ``where`` values
  must each occur (case-insensitively) in the node's config at that dotted path.

Steps inserted by the guardrail passes (``origin: "guardrail"``, such as the error path's log step)
match only guardrail selectors and ``"*"``: they are not the steps the user asked for.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, model_validator

from evals.graph import FlatGraph, FlatNode, always_before, flatten, normalise_value, reaches, unordered

GuardrailKind = Literal["schema", "pii_redaction", "approval", "content_filter", "rate_limit", "budget"]
FIRING_TIMES = 16
# Starts in winter and just before both DST changes, so zone rules matter to the comparison.
FIRING_STARTS = (
    datetime(2026, 1, 5, 0, 0, tzinfo=UTC),
    datetime(2026, 3, 27, 12, 0, tzinfo=UTC),
    datetime(2026, 10, 23, 12, 0, tzinfo=UTC),
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Selector(_Strict):
    """Which nodes an expectation is about (see the module docstring)."""

    sel: str
    where: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        return {"sel": value} if isinstance(value, str) else value

    def matches(self, node: FlatNode) -> bool:
        # Steps the guardrail passes insert (the error path's log step...) are not the user's steps:
        # only guardrail selectors (and "*") see them.
        if node.origin == "guardrail" and not self.sel.startswith("guardrail") and self.sel != "*":
            return False
        if not _label_matches(self.sel, node):
            return False
        for path, wanted in self.where.items():
            found = get_path(node.config, path)
            if found is _MISSING or normalise_value(wanted) not in _text(found).lower():
                return False
        return True

    def __str__(self) -> str:
        return self.sel if not self.where else f"{self.sel}{json.dumps(self.where, sort_keys=True)}"


def _label_matches(sel: str, node: FlatNode) -> bool:
    if sel == "*":
        return True
    if "." in sel:
        connector, _, operation = sel.partition(".")
        return (node.type == "action" and str(node.raw.get("connector")) == connector
                and operation in ("*", str(node.raw.get("operation"))))
    kind_of, _, kind = sel.partition(":")
    if kind_of != node.type:
        return False
    return not kind or str(node.raw.get("kind")) == kind


class TriggerExpect(_Strict):
    kind: Literal["manual", "webhook", "schedule"] | None = None
    cron: str | None = Field(None, description="Compared by firing times, never as a string.")
    timezone: str | None = Field(None, description="Compared by UTC offsets over a year (aliases pass).")
    at: str | None = Field(None, description="One run: compared as an instant.")
    method: str | None = None


class CountExpect(_Strict):
    sel: Selector
    min: int | None = None
    max: int | None = None


class FieldExpect(_Strict):
    """A node matching ``sel`` has, at the dotted ``path`` (from the node: ``config.url``, ``retry.max_attempts``;
    ``a|b`` for alternatives), a value that ``equals`` / ``contains`` / is one of / is within bounds."""

    sel: Selector
    path: str
    equals: Any = None
    contains: str | None = None
    one_of: list[Any] | None = None
    gte: float | None = None
    lte: float | None = None
    exists: bool | None = None


class RouteExpect(_Strict):
    """An edge out of a ``from`` node with ``branch`` (a condition's true/false, a switch case's name
    or the value it matches, ``default``, ``error``) leads, directly or later, to a ``to`` node."""

    from_: Selector = Field(alias="from")
    branch: str
    to: Selector

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ErrorRouteExpect(_Strict):
    """A ``from`` node routes its failures (``on_error: route``) to a path that reaches ``to``."""

    from_: Selector = Field(alias="from")
    to: Selector = Field(default_factory=lambda: Selector(sel="*"))

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class UnchangedExpect(_Strict):
    """Refinement: every node of the previous turn's workflow that no ``except_`` selector matches is
    still there with the same type, operation and config, and no other node was added."""

    except_: list[Selector] = Field(default_factory=list, alias="except")

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Expect(_Strict):
    """Everything a case (or a refinement turn) demands of the model's answer."""

    question: bool = Field(False, description="True: the answer must be a clarifying question, not a workflow.")
    trigger: TriggerExpect | None = None
    operations: list[Selector] = Field(default_factory=list, description="Each matches at least one node.")
    absent: list[Selector] = Field(default_factory=list, description="Each matches no node.")
    node_types: list[str] = Field(default_factory=list)
    counts: list[CountExpect] = Field(default_factory=list)
    values: list[str] = Field(default_factory=list, description="Each occurs in some node's config.")
    fields: list[FieldExpect] = Field(default_factory=list)
    order: list[tuple[Selector, Selector]] = Field(default_factory=list, description="A before B on every path.")
    parallel: list[tuple[Selector, Selector]] = Field(default_factory=list, description="Some A and B unordered.")
    in_loop: list[Selector] = Field(default_factory=list, description="Each matches a node inside a loop body.")
    routes: list[RouteExpect] = Field(default_factory=list)
    error_routes: list[ErrorRouteExpect] = Field(default_factory=list)
    guardrails: list[GuardrailKind] = Field(default_factory=list, description="Guardrail kinds that must be present.")
    unchanged: UnchangedExpect | None = None
    mentions: list[str] = Field(
        default_factory=list,
        description="Question answers only: each string occurs (case-insensitively) in the reply text.",
    )

    def selectors(self) -> list[Selector]:
        """Every selector used (so a dataset test can check each one matches the reference)."""
        out = [*self.operations, *self.in_loop]
        out += [c.sel for c in self.counts] + [f.sel for f in self.fields]
        for a, b in [*self.order, *self.parallel]:
            out += [a, b]
        for r in self.routes:
            out += [r.from_, r.to]
        for e in self.error_routes:
            out += [e.from_, e.to]
        return out


# --- checking -------------------------------------------------------------------------------


_MISSING = object()


def get_path(value: Any, path: str) -> Any:
    """Follow a dotted path (``config.to.0``) through dicts and lists; ``_MISSING`` when absent."""
    for part in path.split(".") if path else []:
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)


def _equal(actual: Any, wanted: Any) -> bool:
    if isinstance(wanted, bool) or isinstance(actual, bool):
        return actual is wanted
    if isinstance(wanted, int | float) and isinstance(actual, int | float):
        return math.isclose(float(actual), float(wanted), rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(wanted, str) and isinstance(actual, str):
        return actual.strip().lower() == wanted.strip().lower()
    if isinstance(wanted, list) and isinstance(actual, list):
        return len(wanted) == len(actual) and all(_equal(a, w) for a, w in zip(actual, wanted, strict=True))
    if isinstance(wanted, dict) and isinstance(actual, dict):
        return wanted.keys() == actual.keys() and all(_equal(actual[k], wanted[k]) for k in wanted)
    return bool(actual == wanted)


def field_ok(node: FlatNode, spec: FieldExpect) -> bool:
    """Whether the node meets the field expectation at any of its ``|``-separated paths."""
    return any(_field_ok_at(node, spec, path) for path in spec.path.split("|"))


def _field_ok_at(node: FlatNode, spec: FieldExpect, path: str) -> bool:
    value = get_path(node.raw, path)
    if spec.exists is not None:
        return (value is not _MISSING and value is not None) == spec.exists
    if value is _MISSING:
        return False
    if spec.equals is not None and not _equal(value, spec.equals):
        return False
    if spec.contains is not None and spec.contains.lower() not in _text(value).lower():
        return False
    if spec.one_of is not None and not any(_equal(value, option) for option in spec.one_of):
        return False
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if spec.gte is not None and not (number and value >= spec.gte):
        return False
    return spec.lte is None or (number and value <= spec.lte)


def fire_times(cron: str, timezone: str | None) -> list[datetime] | None:
    """The firing times (in UTC) from each reference start, or None when the cron does not parse."""
    from engine.schedules import next_fire_times

    try:
        return [t.astimezone(UTC) for start in FIRING_STARTS for t in next_fire_times(cron, timezone, start, FIRING_TIMES)]
    except Exception:  # any parse or zone problem means "not equivalent"
        return None


def same_zone(a: str | None, b: str | None) -> bool:
    """Two IANA zones are the same when their UTC offsets agree all year (aliases pass)."""
    try:
        za, zb = ZoneInfo(a or "UTC"), ZoneInfo(b or "UTC")
    except Exception:
        return False
    for day in range(0, 365, 7):
        moment = datetime(2026, 1, 1, 12, tzinfo=UTC).timestamp() + day * 86_400
        instant = datetime.fromtimestamp(moment, UTC)
        if instant.astimezone(za).utcoffset() != instant.astimezone(zb).utcoffset():
            return False
    return True


def _instant(text: str, timezone: str | None) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=ZoneInfo(timezone or "UTC"))
        return moment.astimezone(UTC)
    except Exception:
        return None


def check_trigger(graph: FlatGraph, spec: TriggerExpect) -> list[str]:
    triggers = [n for n in graph.nodes.values() if n.type == "trigger" and not n.loops]
    if len(triggers) != 1:
        return [f"trigger: expected one trigger, found {len(triggers)}"]
    node = triggers[0]
    config = node.config if isinstance(node.config, dict) else {}
    failures = []
    if spec.kind and node.raw.get("kind") != spec.kind:
        failures.append(f"trigger: kind is {node.raw.get('kind')!r}, expected {spec.kind!r}")
    actual_tz = config.get("timezone")
    if spec.timezone and not same_zone(actual_tz, spec.timezone):
        failures.append(f"trigger: time zone is {actual_tz!r}, expected {spec.timezone!r}")
    if spec.cron:
        cron = config.get("cron")
        expected_tz = spec.timezone or actual_tz  # no zone demanded: compare wall-clock times
        got = fire_times(cron, actual_tz) if isinstance(cron, str) else None
        if got is None or got != fire_times(spec.cron, expected_tz):
            failures.append(f"trigger: cron {cron!r} ({actual_tz or 'UTC'}) does not fire like {spec.cron!r}")
    if spec.at:
        at = config.get("at")
        got_at = _instant(at, actual_tz) if isinstance(at, str) else None
        if got_at is None or got_at != _instant(spec.at, spec.timezone or actual_tz):
            failures.append(f"trigger: one run at {at!r}, expected {spec.at!r}")
    if spec.method and str(config.get("method") or "POST").upper() != spec.method.upper():
        failures.append(f"trigger: method is {config.get('method')!r}, expected {spec.method!r}")
    return failures


def matching(graph: FlatGraph, selector: Selector) -> list[str]:
    return [k for k, n in graph.nodes.items() if selector.matches(n)]


def _config_text(graph: FlatGraph) -> str:
    parts = []
    for node in graph.nodes.values():
        for key in ("config", "retry", "timeout_s", "credential"):
            if key in node.raw:
                parts.append(_text(node.raw[key]))
    return "\n".join(parts).lower()


def _route_ok(graph: FlatGraph, spec: RouteExpect) -> bool:
    wanted = spec.branch.strip().lower()
    targets = matching(graph, spec.to)
    for source in matching(graph, spec.from_):
        for s, t, branch in graph.edges:
            if s != source or branch is None:
                continue
            raw_branch = graph.raw_branches.get((s, t), "")
            if wanted not in {branch.lower(), branch.lower().removeprefix("case:"), raw_branch}:
                continue
            if any(t == target or reaches(graph, t, target) for target in targets):
                return True
    return False


def _error_route_ok(graph: FlatGraph, spec: ErrorRouteExpect) -> bool:
    targets = matching(graph, spec.to)
    for source in matching(graph, spec.from_):
        if graph.nodes[source].raw.get("on_error") != "route":
            continue
        for s, t, branch in graph.edges:
            if s == source and branch == "error" and any(t == x or reaches(graph, t, x) for x in targets):
                return True
    return False


def check(workflow: dict[str, Any] | None, question: str | None, expect: Expect) -> list[str]:
    """Every expectation the answer misses, as readable messages (empty: all met)."""
    if expect.question:
        if workflow is not None or not question:
            return ["expected a clarifying question, got a workflow"]
        lowered = question.lower()
        return [f"the reply does not mention {m!r}" for m in expect.mentions if m.lower() not in lowered]
    if workflow is None:
        return ["expected a workflow, got " + ("a question: " + question[:80] if question else "nothing")]
    graph = flatten(workflow)
    return _check_nodes(graph, expect) + _check_structure(graph, expect)


def _check_nodes(graph: FlatGraph, expect: Expect) -> list[str]:
    """Trigger, operations present and absent, node types, counts, values and fields."""
    failures: list[str] = []
    if expect.trigger is not None:
        failures += check_trigger(graph, expect.trigger)
    for selector in expect.operations:
        if not matching(graph, selector):
            failures.append(f"missing node: {selector}")
    for selector in expect.absent:
        if matching(graph, selector):
            failures.append(f"unexpected node: {selector}")
    types = {n.type for n in graph.nodes.values()}
    failures += [f"missing node type: {t}" for t in expect.node_types if t not in types]
    for count in expect.counts:
        found = len(matching(graph, count.sel))
        if (count.min is not None and found < count.min) or (count.max is not None and found > count.max):
            failures.append(f"count of {count.sel} is {found}, expected [{count.min}, {count.max}]")
    text = _config_text(graph)
    failures += [f"missing value: {v!r}" for v in expect.values if v.lower() not in text]
    for spec in expect.fields:
        if not any(field_ok(graph.nodes[k], spec) for k in matching(graph, spec.sel)):
            failures.append(f"field: no {spec.sel} with {spec.path} {_describe(spec)}")
    return failures


def _check_structure(graph: FlatGraph, expect: Expect) -> list[str]:
    """Order, parallel branches, loops, routes, error paths and guardrails."""
    failures: list[str] = []
    for first, then in expect.order:
        if not always_before(graph, matching(graph, first), matching(graph, then)):
            failures.append(f"order: {first} is not before {then} on every path")
    for a, b in expect.parallel:
        if not any(unordered(graph, x, y) for x in matching(graph, a) for y in matching(graph, b)):
            failures.append(f"parallel: {a} and {b} are not independent branches")
    for selector in expect.in_loop:
        if not any(graph.nodes[k].loops for k in matching(graph, selector)):
            failures.append(f"not in a loop: {selector}")
    for route in expect.routes:
        if not _route_ok(graph, route):
            failures.append(f"route: no {route.branch!r} branch from {route.from_} to {route.to}")
    for error_route in expect.error_routes:
        if not _error_route_ok(graph, error_route):
            failures.append(f"error path: {error_route.from_} does not route failures to {error_route.to}")
    present = {str(n.raw.get("kind")) for n in graph.nodes.values() if n.type == "guardrail"}
    failures += [f"missing guardrail: {g}" for g in expect.guardrails if g not in present]
    return failures


def _describe(spec: FieldExpect) -> str:
    parts = [f"{k} {v!r}" for k, v in (("equals", spec.equals), ("contains", spec.contains), ("one of", spec.one_of),
                                          (">=", spec.gte), ("<=", spec.lte), ("exists", spec.exists)) if v is not None]
    return ", ".join(parts)


def check_unchanged(previous: dict[str, Any] | None, current: dict[str, Any] | None, spec: UnchangedExpect) -> list[str]:
    """Nodes the user did not mention kept their operation and config; nothing else was added.

    Nodes inserted by the guardrail passes (origin ``guardrail``) are left out on both sides.
    """
    if previous is None or current is None:
        return ["unchanged: no previous workflow to compare with"]
    before = flatten(previous, drop_guardrail_origin=True)
    after = flatten(current, drop_guardrail_origin=True)
    exempt = spec.except_

    def free(node: FlatNode) -> bool:
        return any(s.matches(node) for s in exempt)

    def signature(node: FlatNode) -> str:
        return node.label + _text(node.config)

    failures = []
    used: set[str] = set()
    for node in before.nodes.values():
        if free(node):
            continue
        twin = after.nodes.get(node.key)
        if twin is None or signature(twin) != signature(node):
            twin = next((n for k, n in after.nodes.items() if k not in used and signature(n) == signature(node)), None)
        if twin is None or signature(twin) != signature(node):
            failures.append(f"unchanged: node {node.key!r} ({node.label}) was changed or removed")
        else:
            used.add(twin.key)
    for key, node in after.nodes.items():
        if key in used or free(node):
            continue
        if key in before.nodes and not free(before.nodes[key]):
            continue  # already reported as changed
        failures.append(f"unchanged: node {key!r} ({node.label}) was added")
    return failures
