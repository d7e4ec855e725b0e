"""Going back from a workflow to its plan, and applying ``EditPlan`` refinements to a plan."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from app.copilot.plan import (
    _FAILURE_KEYWORDS,
    TRIGGER_REF,
    ActionStep,
    AddStep,
    ChangeTrigger,
    ConditionStep,
    EditPlan,
    GuardrailStep,
    LoopStep,
    MergeStep,
    PlanInvalidError,
    RemoveStep,
    Rename,
    SwitchStep,
    TriggerSpec,
    UpdateStep,
    WorkflowPlan,
)
from app.copilot.plan_compile import _predecessors, _slug, _trigger_id, _unique, fields_schema
from engine.errors import Problem

# --- back from a workflow -------------------------------------------------------------------


def plan_from_workflow(workflow: Any, *, drop_origins: tuple[str, ...] = ("guardrail",)) -> WorkflowPlan:
    """The plan of an existing workflow (a ``Workflow`` or its JSON), for refinement.

    Nodes whose origin is in ``drop_origins`` (inserted guardrails: the passes put them back) are
    left out and the edges through them are joined up. Every step gets an explicit ``after`` so
    that applying edits and compiling again reproduces the untouched parts exactly.
    """
    data: dict[str, Any] = workflow.to_json_dict() if hasattr(workflow, "to_json_dict") else workflow
    nodes: list[dict[str, Any]] = data.get("nodes", [])
    trigger: dict[str, Any] = next((n for n in nodes if n.get("type") == "trigger"), {"id": TRIGGER_REF, "kind": "manual"})
    tconfig = dict(trigger.get("config") or {})
    spec = TriggerSpec(kind=trigger.get("kind", "manual"), id=None if trigger["id"] == TRIGGER_REF else trigger["id"])
    for key in ("cron", "timezone", "at", "method", "path", "input_schema"):
        if tconfig.get(key) is not None:
            setattr(spec, key, tconfig[key])
    schema = spec.input_schema
    if isinstance(schema, dict) and isinstance(schema.get("required"), list) and isinstance(schema.get("properties"), dict):
        required = [f for f in schema["required"] if isinstance(f, str)]
        if schema == fields_schema(required) or (set(schema) == {"type", "properties", "required"} and schema["type"] == "object"
                                                  and set(schema["properties"]) == set(required)
                                                  and all(v == {} for v in schema["properties"].values())):
            spec.fields, spec.input_schema = required, None
    steps: list[Any] = []
    _collect_steps(nodes, data.get("edges", []), trigger["id"], None, drop_origins, steps)
    return WorkflowPlan(name=data.get("name", "Workflow"), description=data.get("description"),
                        trigger=spec, steps=steps or [ActionStep(id="log", connector="core", operation="log",
                                                                   config={"message": "started"})])


def _collect_steps(
    nodes: list[dict[str, Any]],
    edges: list[dict[str, Any]],
    trigger_id: str,
    loop_id: str | None,
    drop: tuple[str, ...],
    out: list[Any],
) -> None:
    dropped = {n["id"] for n in nodes if n.get("origin") in drop and n.get("type") != "trigger"}
    incoming: dict[str, list[dict[str, Any]]] = {}
    for edge in edges:
        incoming.setdefault(edge["target"], []).append(edge)

    def sources(target: str, visited: frozenset[str] = frozenset()) -> list[tuple[str, str | None]]:
        found: list[tuple[str, str | None]] = []
        for edge in incoming.get(target, []):
            if edge.get("branch") == "error":
                continue
            src = edge["source"]
            if src in dropped and src not in visited:
                found.extend(sources(src, visited | {src}))
            else:
                found.append((src, edge.get("branch")))
        return found

    error_targets = {e["source"]: e["target"] for e in edges if e.get("branch") == "error"}
    for node in nodes:
        nid, ntype = node["id"], node.get("type")
        if ntype == "trigger" or nid in dropped:
            continue
        preds = sources(nid)
        after = [TRIGGER_REF if s == trigger_id else s for s, _ in preds]
        branches = {b for _, b in preds if b is not None}
        if loop_id is not None and not after:
            after = [loop_id]
        common: dict[str, Any] = {
            "id": nid, "after": after, "branch": branches.pop() if len(branches) == 1 else None,
            "in_loop": loop_id, **_common_fields(node, error_targets.get(nid)),
        }
        step = _step_of(node, common)
        if step is None:
            continue
        out.append(step)
        if ntype == "loop":
            body = node.get("body") or {}
            _collect_steps(body.get("nodes", []), body.get("edges", []), trigger_id, nid, drop, out)


def _common_fields(node: dict[str, Any], error_target: str | None) -> dict[str, Any]:
    """A node's fields every plan step has (name, retry, on_failure...)."""
    common: dict[str, Any] = {
        "name": node.get("name"), "description": node.get("description"), "timeout_s": node.get("timeout_s"),
        "origin": node.get("origin"), "reason": node.get("reason"),
    }
    retry = node.get("retry")
    if retry:
        common["max_attempts"] = retry.get("max_attempts", 3)
        common["backoff"] = retry.get("backoff", "exponential")
        common["retry_delay_s"] = retry.get("initial_delay_s")
    on_error = node.get("on_error")
    if on_error == "route" and error_target is not None:
        common["on_failure"] = error_target
    elif on_error == "continue":
        common["on_failure"] = "continue"
    return common


def _step_of(node: dict[str, Any], common: dict[str, Any]) -> Any:
    """The plan step for a workflow node (``None`` for a node type plans do not have)."""
    ntype = node.get("type")
    config = dict(node.get("config") or {})
    if ntype == "action":
        return ActionStep(connector=node["connector"], operation=node["operation"], config=config,
                          credential=node.get("credential"), **common)
    if ntype == "condition":
        return ConditionStep(expression=config.get("expression", ""), **common)
    if ntype == "switch":
        return SwitchStep(value=config.get("value", ""), cases=config.get("cases", []), **common)
    if ntype == "merge":
        return MergeStep(mode=config.get("mode", "all"), **common)
    if ntype == "guardrail":
        return GuardrailStep(kind=node["kind"], config=config, **common)
    if ntype == "loop":
        loop = {key: config.get(key) for key in ("items", "while", "max_items", "batch_size", "max_iterations",
                                                 "delay_s", "output", "on_max_iterations")}
        if loop["items"] is None and loop["while"] is None:
            loop["items"] = ""  # as stored: compiling it again lets validation name what is missing
        return LoopStep.model_validate({**common, **loop, "max_concurrency": config.get("max_concurrency", 1)})
    return None


# --- edits ----------------------------------------------------------------------------------


def apply_edits(plan: WorkflowPlan, edit: EditPlan) -> WorkflowPlan:
    """Apply an ``EditPlan`` to a plan; steps and fields it does not name are kept as they are.

    Raises ``PlanInvalidError`` when an edit names a step that does not exist.
    """
    data = _explicit(plan).model_dump(mode="json", exclude_none=False)
    steps: list[dict[str, Any]] = data["steps"]
    problems: list[Problem] = []

    for i, change in enumerate(edit.edits):
        problem = _apply(data, steps, change, f"$.edits[{i}]")
        if problem is not None:
            problems.append(problem)
    if problems:
        raise PlanInvalidError(problems)
    try:
        return WorkflowPlan.model_validate(data)
    except ValidationError as exc:
        from engine.validation import format_loc

        raise PlanInvalidError([Problem(f"plan_{e.get('type', 'invalid')}", format_loc(e.get("loc", ())), e.get("msg", "invalid"))
                                for e in exc.errors(include_url=False)]) from None


def _find(steps: list[dict[str, Any]], step_id: str) -> int | None:
    sid = _slug(step_id)
    return next((k for k, s in enumerate(steps) if s["id"] == sid), None)


def _apply(data: dict[str, Any], steps: list[dict[str, Any]], change: Any, path: str) -> Problem | None:
    """Apply one edit to the plan's data; a problem when it names a step that does not exist."""
    if isinstance(change, Rename):
        data["name"] = change.name
        if change.description is not None:
            data["description"] = change.description
    elif isinstance(change, ChangeTrigger):
        _change_trigger(data, change)
    elif isinstance(change, RemoveStep | UpdateStep):
        k = _find(steps, change.id)
        if k is None:
            verb = "remove" if isinstance(change, RemoveStep) else "update"
            return Problem("plan_unknown_step", f"{path}.id", f"no step {change.id!r} to {verb}")
        if isinstance(change, RemoveStep):
            _remove(steps, k)
        else:
            _update(steps[k], change)
    elif isinstance(change, AddStep):
        _add(steps, change)
    return None


def _change_trigger(data: dict[str, Any], change: ChangeTrigger) -> None:
    new = change.trigger.model_dump(mode="json", exclude_unset=True)
    if new.get("kind", data["trigger"]["kind"]) != data["trigger"]["kind"]:
        data["trigger"] = {"id": data["trigger"].get("id"), **new}
        return
    data["trigger"].update(new)
    if new.get("cron"):
        data["trigger"]["at"] = None
    elif new.get("at"):
        data["trigger"]["cron"] = None


def _update(step: dict[str, Any], change: UpdateStep) -> None:
    step.update({key: v for key, v in change.changes.items() if key not in ("id", "type")})
    target = step["config"] if isinstance(step.get("config"), dict) else step
    _merge_patch(target, change.config)
    for key, values in change.append.items():
        current = target.get(key)
        current = [] if current is None else current if isinstance(current, list) else [current]
        target[key] = current + [v for v in values if v not in current]


def _add(steps: list[dict[str, Any]], change: AddStep) -> None:
    new_step = change.step.model_dump(mode="json")
    new_step["id"] = _unique(_slug(new_step["id"]), {s["id"] for s in steps} | {TRIGGER_REF})
    if change.before is not None and (k := _find(steps, change.before)) is not None:
        follower = steps[k]
        if new_step.get("after") is None:
            new_step["after"] = follower.get("after") or [TRIGGER_REF]
            new_step["in_loop"] = new_step.get("in_loop") or follower.get("in_loop")
            new_step["branch"] = new_step.get("branch") or follower.get("branch")
        follower["after"], follower["branch"] = [new_step["id"]], None
        steps.insert(k, new_step)
    else:
        if new_step.get("after") is None:
            new_step["after"] = _leaf_after(steps, new_step.get("in_loop"))
        steps.append(new_step)


def _explicit(plan: WorkflowPlan) -> WorkflowPlan:
    """The same plan with every ``after`` spelled out, so edits cannot shift implicit links."""
    trigger_id = _trigger_id(plan.trigger)
    ids = [_slug(s.id) for s in plan.steps]
    level = {sid: (_slug(s.in_loop) if s.in_loop else None) for sid, s in zip(ids, plan.steps, strict=True)}
    handlers = {_slug(s.on_failure) for s in plan.steps if s.on_failure and s.on_failure not in _FAILURE_KEYWORDS}
    steps = []
    for i, (sid, step) in enumerate(zip(ids, plan.steps, strict=True)):
        if step.after is None and sid not in handlers:
            preds = _predecessors(i, sid, step, ids, plan.steps, level, handlers, trigger_id)
            loop_id = level[sid]
            after = [TRIGGER_REF if p == trigger_id else p for p in preds] or ([loop_id] if loop_id else [])
            step = step.model_copy(update={"after": after})
        steps.append(step)
    return plan.model_copy(update={"steps": steps})


def _merge_patch(target: dict[str, Any], patch: dict[str, Any]) -> None:
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge_patch(target[key], value)
        else:
            target[key] = value


def _remove(steps: list[dict[str, Any]], k: int) -> None:
    gone = steps.pop(k)
    gid = gone["id"]
    if gone["type"] == "loop":
        for body in [s for s in steps if s.get("in_loop") == gid]:
            _remove(steps, steps.index(body))
    for step in steps:
        after = step.get("after")
        if after and gid in after:
            replacement = [a for a in (gone.get("after") or [TRIGGER_REF]) if a not in after]
            position = after.index(gid)
            step["after"] = after[:position] + replacement + after[position + 1:]
            if not step["branch"] and gone.get("branch"):
                step["branch"] = gone["branch"]
        if step.get("on_failure") == gid:
            step["on_failure"] = None


def _leaf_after(steps: list[dict[str, Any]], in_loop: str | None) -> list[str]:
    """A step added without a position goes after the last step of the main path at its level."""
    same = [s for s in steps if s.get("in_loop") == in_loop]
    handlers = {s.get("on_failure") for s in steps}
    for step in reversed(same):
        if step["id"] not in handlers:
            return [step["id"]]
    return [in_loop] if in_loop else [TRIGGER_REF]
