"""Compiling a ``WorkflowPlan`` into format v1: nodes, edges, nested loop bodies, merges, error routes."""

from __future__ import annotations

import re
from typing import Any

from app.copilot.plan import (
    _FAILURE_KEYWORDS,
    _ID_RE,
    TRIGGER_REF,
    ActionStep,
    AiStep,
    ConditionStep,
    DelayStep,
    GuardrailStep,
    LoopStep,
    MergeStep,
    PlanInvalidError,
    SwitchStep,
    TriggerSpec,
    WorkflowPlan,
)
from engine.errors import Problem

# --- compile --------------------------------------------------------------------------------


def _slug(value: str) -> str:
    if _ID_RE.match(value):
        return value
    slug = re.sub(r"[^a-z0-9_]+", "_", value.strip().lower()).strip("_")
    if not slug or not slug[0].isalpha():
        slug = f"s_{slug}"
    return slug[:64]


def _trigger_id(trigger: TriggerSpec) -> str:
    return _slug(trigger.id) if trigger.id else TRIGGER_REF


def _trigger_node(trigger: TriggerSpec) -> dict[str, Any]:
    config: dict[str, Any] = {}
    if trigger.kind == "schedule":
        for key in ("cron", "timezone", "at"):
            value = getattr(trigger, key)
            if value is not None:
                config[key] = value
    else:
        if trigger.kind == "webhook":
            config["method"] = trigger.method or "POST"
            if trigger.path:
                config["path"] = trigger.path
        schema = trigger.input_schema
        if schema is None and trigger.fields:
            schema = fields_schema(trigger.fields)
        if schema is not None:
            config["input_schema"] = schema
    node: dict[str, Any] = {"id": _trigger_id(trigger), "type": "trigger", "kind": trigger.kind}
    if config:
        node["config"] = config
    return node


def fields_schema(fields: list[str]) -> dict[str, Any]:
    """The input schema a list of named fields stands for (every field present, any type)."""
    return {"type": "object", "properties": {f: {} for f in fields}, "required": list(fields)}


# Field names the llm connector's input models may use, most likely first.
_AI_FIELD_CANDIDATES = {
    "input": ("text", "input", "prompt", "content"),
    "instructions": ("instructions", "system", "prompt"),
    "labels": ("labels", "categories"),
    "fields": ("fields", "schema"),
}


def _ai_config(step: AiStep, catalog: Any) -> dict[str, Any]:
    model_fields: set[str] = set()
    op = catalog.operation("llm", step.task) if catalog is not None else None
    if op is not None:
        model_fields = set(op.input_model.model_fields)
    config: dict[str, Any] = {}
    for attr, candidates in _AI_FIELD_CANDIDATES.items():
        value = getattr(step, attr)
        if value is None:
            continue
        names = [c for c in candidates if c in model_fields and c not in config] if model_fields else [candidates[0]]
        if names:
            config[names[0]] = value
        elif attr != "instructions":
            config[candidates[0]] = value  # let validation name the field
    config.update(step.config)
    return config


def _node_for(step: Any, node_id: str, catalog: Any) -> dict[str, Any]:
    node: dict[str, Any] = {"id": node_id}
    _set_kind(node, step, catalog)
    _set_common(node, step)
    return node


def _set_kind(node: dict[str, Any], step: Any, catalog: Any) -> None:
    """The node's type and type-specific fields."""
    if isinstance(step, ActionStep):
        node.update(type="action", connector=step.connector, operation=step.operation, config=dict(step.config))
        if step.credential:
            node["credential"] = step.credential
    elif isinstance(step, DelayStep):
        wait: dict[str, Any] = {"seconds": step.seconds} if step.seconds is not None else {}
        if step.until is not None:
            wait["until"] = step.until
        node.update(type="action", connector="core", operation="delay", config=wait)
    elif isinstance(step, AiStep):
        node.update(type="action", connector="llm", operation=step.task, config=_ai_config(step, catalog))
    elif isinstance(step, ConditionStep):
        node.update(type="condition", config={"expression": step.expression})
    elif isinstance(step, SwitchStep):
        node.update(type="switch", config={"value": step.value, "cases": [c.model_dump() for c in step.cases]})
    elif isinstance(step, LoopStep):
        node.update(type="loop", config=_loop_config(step), body={"nodes": [], "edges": []})
    elif isinstance(step, MergeStep):
        node.update(type="merge", config={"mode": step.mode})
    elif isinstance(step, GuardrailStep):
        node.update(type="guardrail", kind=step.kind, config=dict(step.config))


# a loop's optional settings, in the order the format lists them (None: not given, left out)
_LOOP_OPTIONS = ("max_items", "batch_size", "max_iterations", "delay_s", "output", "on_max_iterations")


def _loop_config(step: LoopStep) -> dict[str, Any]:
    """A for-each loop's ``items`` or a while-loop's ``while``, then the options that were given
    (validation refuses a mix, naming the field)."""
    config: dict[str, Any] = {}
    if step.items is not None or step.while_ is None:
        config["items"] = step.items or ""  # neither: validation says a loop needs one of them
    if step.while_ is not None:
        config["while"] = step.while_
    config["max_concurrency"] = step.max_concurrency
    for key in _LOOP_OPTIONS:
        value = getattr(step, key)
        if value is not None:
            config[key] = value
    return config


def _set_common(node: dict[str, Any], step: Any) -> None:
    """The fields every node type has (name, description, retry, timeout, origin, reason)."""
    if step.name:
        node["name"] = step.name
    if step.description:
        node["description"] = step.description
    if step.max_attempts is not None:
        retry: dict[str, Any] = {"max_attempts": step.max_attempts, "backoff": step.backoff or "exponential"}
        if step.retry_delay_s is not None:
            retry["initial_delay_s"] = step.retry_delay_s
        node["retry"] = retry
    if step.timeout_s is not None:
        node["timeout_s"] = step.timeout_s
    if step.origin is not None and step.origin != "user":
        node["origin"] = step.origin
    if step.reason:
        node["reason"] = step.reason


def _levels(plan: WorkflowPlan, ids: list[str], trigger_id: str,
            problems: list[Problem]) -> tuple[dict[str, Any], dict[str, str | None]]:
    """Steps by id, and the loop each step sits in (``None``: the top level); records duplicate
    ids and unknown loops in ``problems``."""
    by_id: dict[str, Any] = {}
    for i, (sid, step) in enumerate(zip(ids, plan.steps, strict=True)):
        if sid in by_id or sid == trigger_id:
            problems.append(Problem("plan_duplicate_id", f"$.steps[{i}].id", f"step id {sid!r} is used twice"))
        by_id.setdefault(sid, step)
    level: dict[str, str | None] = {}
    for i, (sid, step) in enumerate(zip(ids, plan.steps, strict=True)):
        loop = _slug(step.in_loop) if step.in_loop else None
        if loop is not None and not isinstance(by_id.get(loop), LoopStep):
            problems.append(Problem("plan_unknown_loop", f"$.steps[{i}].in_loop", f"{step.in_loop!r} is not a loop step"))
            loop = None
        level.setdefault(sid, loop)
    return by_id, level


def _incoming(i: int, sid: str, step: Any, pred: str, here: str | None, by_id: dict[str, Any],
              level: dict[str, str | None], trigger_id: str, problems: list[Problem]) -> dict[str, Any] | None:
    """The edge from ``pred`` to step ``sid`` (``None``: no edge, a problem may have been recorded)."""
    if here is not None and pred == here:
        return None  # the loop itself: this step starts the body
    if pred != trigger_id and pred not in by_id:
        return {"source": pred, "target": sid}  # dangling: validation names it
    if pred != trigger_id and level[pred] != here or (pred == trigger_id and here is not None):
        problems.append(Problem("plan_cross_level", f"$.steps[{i}].after",
                                f"step {sid!r} follows {pred!r}, which is outside its loop level"))
        return None
    edge: dict[str, Any] = {"source": pred, "target": sid}
    if step.branch is not None and isinstance(by_id.get(pred), ConditionStep | SwitchStep):
        edge["branch"] = step.branch
    return edge


def _join_before(sid: str, edges: list[dict[str, Any]], nodes: dict[str, dict[str, Any]], graph: dict[str, Any],
                 trigger_id: str) -> None:
    """Several edges lead to ``sid``: route them through a generated ``merge`` (mode ``all``)."""
    merge_id = _unique(f"merge_before_{sid}"[:64], set(nodes) | {trigger_id})
    merge = {"id": merge_id, "type": "merge", "config": {"mode": "all"}, "origin": "generated",
             "reason": f"joins the branches that lead to {sid!r}"}
    nodes[merge_id] = merge
    graph["nodes"].insert(graph["nodes"].index(nodes[sid]), merge)
    graph["edges"].extend({**e, "target": merge_id} for e in edges)
    graph["edges"].append({"source": merge_id, "target": sid})


def _route_failure(i: int, sid: str, step: Any, here: str | None, by_id: dict[str, Any], level: dict[str, str | None],
                   nodes: dict[str, dict[str, Any]], graph: dict[str, Any], problems: list[Problem]) -> None:
    """The step's ``on_failure``: a keyword (``on_error``), or an error edge to a handler step."""
    if step.on_failure in _FAILURE_KEYWORDS:
        nodes[sid]["on_error"] = step.on_failure
        return
    if not step.on_failure:
        return
    handler = _slug(step.on_failure)
    if handler not in by_id:
        problems.append(Problem("plan_unknown_step", f"$.steps[{i}].on_failure", f"no step {handler!r}"))
    elif level[handler] != here:
        problems.append(Problem("plan_cross_level", f"$.steps[{i}].on_failure",
                                f"error handler {handler!r} must be at the same loop level as {sid!r}"))
    else:
        nodes[sid]["on_error"] = "route"
        graph["edges"].append({"source": sid, "target": handler, "branch": "error"})


def compile_plan(plan: WorkflowPlan, catalog: Any = None) -> dict[str, Any]:
    """Compile a plan into a format v1 workflow document (a dict, ready for ``validate_workflow``).

    ``catalog`` (the connector registry) lets AI steps use the llm operations' own field names.
    Raises ``PlanInvalidError`` when the plan's structure cannot be expressed (unknown loop,
    duplicate id, an edge across loop levels); everything else is left to workflow validation.
    """
    problems: list[Problem] = []
    trigger_id = _trigger_id(plan.trigger)
    ids = [_slug(s.id) for s in plan.steps]
    by_id, level = _levels(plan, ids, trigger_id, problems)
    handlers = {
        _slug(s.on_failure) for s in plan.steps if s.on_failure and s.on_failure not in _FAILURE_KEYWORDS
    }

    nodes: dict[str, dict[str, Any]] = {}
    graphs: dict[str | None, dict[str, Any]] = {None: {"nodes": [_trigger_node(plan.trigger)], "edges": []}}
    for sid, step in zip(ids, plan.steps, strict=True):
        if sid in nodes:
            continue
        node = _node_for(step, sid, catalog)
        nodes[sid] = node
        if isinstance(step, LoopStep):
            graphs[sid] = node["body"]
    for sid, node in nodes.items():
        graphs.get(level[sid], graphs[None])["nodes"].append(node)

    seen: set[str] = set()
    for i, (sid, step) in enumerate(zip(ids, plan.steps, strict=True)):
        if sid in seen:
            continue
        seen.add(sid)
        here = level[sid]
        graph = graphs[here] if here in graphs else graphs[None]
        preds = _predecessors(i, sid, step, ids, plan.steps, level, handlers, trigger_id)
        edges = [edge for pred in preds
                 if (edge := _incoming(i, sid, step, pred, here, by_id, level, trigger_id, problems)) is not None]
        if len(edges) > 1 and not isinstance(step, MergeStep):
            _join_before(sid, edges, nodes, graph, trigger_id)
        else:
            graph["edges"].extend(edges)
        _route_failure(i, sid, step, here, by_id, level, nodes, graph, problems)
    if problems:
        raise PlanInvalidError(problems)
    workflow: dict[str, Any] = {"schema_version": "1", "name": plan.name}
    if plan.description:
        workflow["description"] = plan.description
    workflow["nodes"] = graphs[None]["nodes"]
    workflow["edges"] = graphs[None]["edges"]
    return workflow


def _unique(base: str, taken: set[str]) -> str:
    candidate, n = base, 2
    while candidate in taken:
        candidate = f"{base[:60]}_{n}"
        n += 1
    return candidate


def _predecessors(
    i: int,
    sid: str,
    step: Any,
    ids: list[str],
    steps: list[Any],
    level: dict[str, str | None],
    handlers: set[str],
    trigger_id: str,
) -> list[str]:
    here = level[sid]
    if step.after is not None:
        out = []
        for ref in step.after:
            ref_id = trigger_id if ref == TRIGGER_REF else _slug(ref)
            if ref_id not in out:
                out.append(ref_id)
        return out
    if sid in handlers:
        return []
    earlier = [(j, ids[j]) for j in range(i - 1, -1, -1) if level.get(ids[j]) == here and ids[j] != sid]
    if step.branch is not None:
        for j, other in earlier:
            if isinstance(steps[j], ConditionStep | SwitchStep):
                return [other]
    for _, other in earlier:
        if other not in handlers:
            return [other]
    return [trigger_id] if here is None else []


