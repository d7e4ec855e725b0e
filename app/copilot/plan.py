"""The response model the copilot asks models for, and its compiler into workflow format v1.

Models are bad at nested graphs and good at flat lists, so a plan is a flat list of steps: each
step names the steps it follows (``after``), the branch it takes when it follows a condition or a
switch, and the loop it belongs to (``in_loop``). ``compile_plan`` turns that into format v1
(nodes, edges, nested loop bodies, merges for fan-in, error routes); ``plan_from_workflow`` goes
back, so a refinement (an ``EditPlan``) is applied to the current plan and the parts the user did
not mention never change.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from pydantic.json_schema import SkipJsonSchema

from engine.errors import Problem, WorkflowInvalidError

TRIGGER_REF = "trigger"
_ID_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_FAILURE_KEYWORDS = ("continue", "fail")


class PlanInvalidError(WorkflowInvalidError):
    """A plan cannot be compiled (a step in an unknown loop, an edit naming an unknown step...)."""

    code = "plan_invalid"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


# --- trigger --------------------------------------------------------------------------------


class TriggerSpec(_Model):
    """How the workflow starts."""

    kind: Literal["manual", "webhook", "schedule"] = Field(
        "manual", description="schedule: runs on a cron or once at 'at'; webhook: an HTTP call starts it; manual: a person starts it."
    )
    id: str | None = Field(None, description="Node id of the trigger; default derived from the kind.")
    cron: str | None = Field(None, description="schedule: five-field cron, e.g. '0 9 * * 1' for Mondays 09:00.")
    timezone: str | None = Field(None, description="schedule: IANA time zone such as 'Asia/Tokyo'; omit for UTC.")
    at: str | None = Field(None, description="schedule: ISO 8601 date-time for a single run (instead of cron).")
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] | None = Field(None, description="webhook: HTTP method.")
    path: str | None = Field(None, description="webhook: optional path suffix.")
    fields: list[str] = Field(default_factory=list, description="webhook/manual: names of the input fields the request mentions.")
    input_schema: dict[str, Any] | None = Field(None, description="webhook/manual: full JSON Schema of the input, if known.")


# --- steps ----------------------------------------------------------------------------------


class _StepBase(_Model):
    id: str = Field(description="Short snake_case id, unique in the plan, e.g. 'fetch_orders'.")
    name: str | None = Field(None, description="Human-readable name.")
    description: str | None = None
    after: list[str] | None = Field(
        None,
        description=(
            "Ids of the steps this one follows; 'trigger' for the trigger; inside a loop, the loop's id "
            "for the body's first step. Omit to follow the previous step at the same level."
        ),
    )
    branch: str | None = Field(
        None, description="When following a condition: 'true' or 'false'; a switch: a case name or 'default'."
    )
    in_loop: str | None = Field(None, description="Id of the loop step whose body this step belongs to.")
    max_attempts: int | None = Field(
        None, ge=1, le=100, description="Total attempts including the first ('retry up to 5 times' → 5)."
    )
    backoff: Literal["fixed", "exponential"] | None = Field(None, description="Retry backoff; default exponential.")
    retry_delay_s: float | None = Field(None, ge=0, le=86_400, description="First retry delay in seconds.")
    timeout_s: float | None = Field(None, gt=0, le=7 * 86_400)
    on_failure: str | None = Field(
        None, description="When this step finally fails: id of a step to route the error to, or 'continue', or 'fail'."
    )
    origin: SkipJsonSchema[Literal["user", "generated", "guardrail"] | None] = None
    reason: SkipJsonSchema[str | None] = None


class ActionStep(_StepBase):
    """Calls one connector operation; ``config`` follows that operation's input model."""

    type: Literal["action"] = "action"
    connector: str = Field(description="Connector name from the catalog, e.g. 'http', 'email', 'slack'.")
    operation: str = Field(description="Operation of that connector, e.g. 'request', 'send', 'post_message'.")
    config: dict[str, Any] = Field(default_factory=dict, description="Operation input; '{{ expr }}' for JSONata values.")
    credential: str | None = Field(None, description="Name of a credential in the workspace vault.")


class ConditionStep(_StepBase):
    """Two-way branch: following steps set ``branch`` to 'true' or 'false'."""

    type: Literal["condition"] = "condition"
    expression: str = Field(description="Bare JSONata boolean, e.g. 'nodes.fetch.body.total > 1000'.")


class SwitchCaseSpec(_Model):
    name: str = Field(description="Branch name used by following steps' 'branch'.")
    equals: Any = Field(None, description="Value compared with the switch value.")


class SwitchStep(_StepBase):
    """Multi-way routing: following steps set ``branch`` to a case name or 'default'."""

    type: Literal["switch"] = "switch"
    value: str = Field(description="Bare JSONata whose result is compared with each case.")
    cases: list[SwitchCaseSpec] = Field(min_length=1)


class LoopStep(_StepBase):
    """Runs its body (the steps whose ``in_loop`` is this id) once per item, or per batch."""

    type: Literal["loop"] = "loop"
    items: str = Field(description="Expression giving the list, e.g. '{{ nodes.fetch_customers.rows }}'.")
    max_concurrency: int = Field(1, ge=1, le=1000)
    max_items: int | None = Field(None, ge=1)
    batch_size: int | None = Field(None, ge=1, description="'10 at a time' → 10.")


class MergeStep(_StepBase):
    """Waits for several branches (fan-in) and combines their outputs."""

    type: Literal["merge"] = "merge"
    mode: Literal["all", "first"] = "all"


class DelayStep(_StepBase):
    """Waits ('wait 2 days' → seconds 172800); compiled to core.delay."""

    type: Literal["delay"] = "delay"
    seconds: float | None = Field(None, ge=0, le=366 * 86_400)
    until: str | None = Field(None, description="ISO 8601 date-time to wait for.")


class AiStep(_StepBase):
    """A model step: complete, classify, extract or summarize; compiled to the llm connector."""

    type: Literal["ai"] = "ai"
    task: Literal["complete", "classify", "extract", "summarize"]
    input: str = Field(description="Text to work on, usually an expression like '{{ trigger.body.message }}'.")
    instructions: str | None = Field(None, description="Extra instructions or the prompt.")
    labels: list[str] | None = Field(None, description="classify: the labels to choose from.")
    fields: list[str] | None = Field(None, description="extract: the field names to pull out.")
    config: dict[str, Any] = Field(default_factory=dict, description="Other llm operation inputs.")


class GuardrailStep(_StepBase):
    """An explicit guardrail the user asked for ('ask me before refunding' → approval)."""

    type: Literal["guardrail"] = "guardrail"
    kind: Literal["schema", "pii_redaction", "approval", "content_filter", "rate_limit", "budget"]
    config: dict[str, Any] = Field(default_factory=dict)


Step = Annotated[
    ActionStep | ConditionStep | SwitchStep | LoopStep | MergeStep | DelayStep | AiStep | GuardrailStep,
    Field(discriminator="type"),
]
STEP_ADAPTER: TypeAdapter[Any] = TypeAdapter(Step)


# --- replies --------------------------------------------------------------------------------


class WorkflowPlan(_Model):
    """A new workflow."""

    kind: Literal["workflow"] = "workflow"
    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(None, description="One sentence saying what the workflow does.")
    explanation: str = Field("", description="Plain words for the user: what it does and any assumption made.")
    trigger: TriggerSpec = Field(default_factory=TriggerSpec)
    steps: list[Step] = Field(min_length=1)


class Question(_Model):
    """A clarifying question, when a required value is missing or the request is ambiguous."""

    kind: Literal["question"] = "question"
    question: str = Field(min_length=1, description="One clear question for the user.")
    missing: list[str] = Field(default_factory=list, description="What is missing, e.g. ['email recipient'].")


class AddStep(_Model):
    op: Literal["add_step"] = "add_step"
    step: Step
    before: str | None = Field(None, description="Insert in front of this step id (it then follows the new step).")


class RemoveStep(_Model):
    op: Literal["remove_step"] = "remove_step"
    id: str = Field(description="Step to remove; its followers are reconnected to its predecessors.")


class UpdateStep(_Model):
    op: Literal["update_step"] = "update_step"
    id: str
    config: dict[str, Any] = Field(default_factory=dict, description="Merge patch of the step's config (null removes a key).")
    append: dict[str, list[Any]] = Field(
        default_factory=dict, description="Values appended to list fields of the config, e.g. {'to': ['bob@example.com']}."
    )
    changes: dict[str, Any] = Field(default_factory=dict, description="Other step fields to set (name, connector, max_attempts...).")


class ChangeTrigger(_Model):
    op: Literal["change_trigger"] = "change_trigger"
    trigger: TriggerSpec = Field(description="Fields to change; with the same kind, unset fields keep their value.")


class Rename(_Model):
    op: Literal["rename"] = "rename"
    name: str = Field(min_length=1, max_length=200)
    description: str | None = None


Edit = Annotated[AddStep | RemoveStep | UpdateStep | ChangeTrigger | Rename, Field(discriminator="op")]


class EditPlan(_Model):
    """Changes to the current workflow; everything not named stays as it is."""

    kind: Literal["edit"] = "edit"
    explanation: str = Field("", description="Plain words: what changed.")
    edits: list[Edit] = Field(min_length=1)


class CopilotResponse(_Model):
    """What the copilot asks a model for: a new workflow, a clarifying question, or edits."""

    reply: Annotated[WorkflowPlan | Question | EditPlan, Field(discriminator="kind")]


def response_schema() -> dict[str, Any]:
    """The JSON Schema of ``CopilotResponse`` (what the local model recognises by its title)."""
    return CopilotResponse.model_json_schema()


def load_plan(data: Any) -> WorkflowPlan:
    """A ``WorkflowPlan`` from JSON that may lack defaulted discriminators.

    ``model_dump(exclude_defaults=True)`` drops ``kind: "workflow"`` and each step's ``type``
    (they are defaults); this puts them back from the fields each step type has.
    """
    if isinstance(data, str | bytes):
        import json

        data = json.loads(data)
    data = dict(data)
    data.setdefault("kind", "workflow")
    steps = []
    for step in data.get("steps") or []:
        if isinstance(step, dict) and "type" not in step:
            step = dict(step)
            step["type"] = _infer_type(step)
        steps.append(step)
    data["steps"] = steps
    return WorkflowPlan.model_validate(data)


def _infer_type(step: dict[str, Any]) -> str:
    if "connector" in step or "operation" in step:
        return "action"
    for key, kind in (("expression", "condition"), ("cases", "switch"), ("items", "loop"), ("task", "ai"),
                      ("kind", "guardrail"), ("seconds", "delay"), ("until", "delay")):
        if key in step:
            return kind
    return "merge"


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
    if isinstance(step, ActionStep):
        node.update(type="action", connector=step.connector, operation=step.operation, config=dict(step.config))
        if step.credential:
            node["credential"] = step.credential
    elif isinstance(step, DelayStep):
        config = {"seconds": step.seconds} if step.seconds is not None else {}
        if step.until is not None:
            config["until"] = step.until
        node.update(type="action", connector="core", operation="delay", config=config)
    elif isinstance(step, AiStep):
        node.update(type="action", connector="llm", operation=step.task, config=_ai_config(step, catalog))
    elif isinstance(step, ConditionStep):
        node.update(type="condition", config={"expression": step.expression})
    elif isinstance(step, SwitchStep):
        node.update(type="switch", config={"value": step.value, "cases": [c.model_dump() for c in step.cases]})
    elif isinstance(step, LoopStep):
        config: dict[str, Any] = {"items": step.items, "max_concurrency": step.max_concurrency}
        if step.max_items is not None:
            config["max_items"] = step.max_items
        if step.batch_size is not None:
            config["batch_size"] = step.batch_size
        node.update(type="loop", config=config, body={"nodes": [], "edges": []})
    elif isinstance(step, MergeStep):
        node.update(type="merge", config={"mode": step.mode})
    elif isinstance(step, GuardrailStep):
        node.update(type="guardrail", kind=step.kind, config=dict(step.config))
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
    return node


def compile_plan(plan: WorkflowPlan, catalog: Any = None) -> dict[str, Any]:
    """Compile a plan into a format v1 workflow document (a dict, ready for ``validate_workflow``).

    ``catalog`` (the connector registry) lets AI steps use the llm operations' own field names.
    Raises ``PlanInvalidError`` when the plan's structure cannot be expressed (unknown loop,
    duplicate id, an edge across loop levels); everything else is left to workflow validation.
    """
    problems: list[Problem] = []
    trigger_id = _trigger_id(plan.trigger)
    ids = [_slug(s.id) for s in plan.steps]
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
        edges: list[dict[str, Any]] = []
        for pred in preds:
            if here is not None and pred == here:
                continue  # the loop itself: this step starts the body
            if pred != trigger_id and pred not in by_id:
                edges.append({"source": pred, "target": sid})  # dangling: validation names it
                continue
            if pred != trigger_id and level[pred] != here or (pred == trigger_id and here is not None):
                problems.append(Problem("plan_cross_level", f"$.steps[{i}].after",
                                        f"step {sid!r} follows {pred!r}, which is outside its loop level"))
                continue
            edge: dict[str, Any] = {"source": pred, "target": sid}
            source = by_id.get(pred)
            if step.branch is not None and isinstance(source, ConditionStep | SwitchStep):
                edge["branch"] = step.branch
            edges.append(edge)
        if len(edges) > 1 and not isinstance(step, MergeStep):
            merge_id = _unique(f"merge_before_{sid}"[:64], set(nodes) | {trigger_id})
            merge = {"id": merge_id, "type": "merge", "config": {"mode": "all"}, "origin": "generated",
                     "reason": f"joins the branches that lead to {sid!r}"}
            nodes[merge_id] = merge
            graph["nodes"].insert(graph["nodes"].index(nodes[sid]), merge)
            graph["edges"].extend({**e, "target": merge_id} for e in edges)
            graph["edges"].append({"source": merge_id, "target": sid})
        else:
            graph["edges"].extend(edges)
        if step.on_failure in _FAILURE_KEYWORDS:
            nodes[sid]["on_error"] = step.on_failure
        elif step.on_failure:
            handler = _slug(step.on_failure)
            if handler not in by_id:
                problems.append(Problem("plan_unknown_step", f"$.steps[{i}].on_failure", f"no step {handler!r}"))
            elif level[handler] != here:
                problems.append(Problem("plan_cross_level", f"$.steps[{i}].on_failure",
                                        f"error handler {handler!r} must be at the same loop level as {sid!r}"))
            else:
                nodes[sid]["on_error"] = "route"
                graph["edges"].append({"source": sid, "target": handler, "branch": "error"})
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


# --- back from a workflow -------------------------------------------------------------------


def plan_from_workflow(workflow: Any, *, drop_origins: tuple[str, ...] = ("guardrail",)) -> WorkflowPlan:
    """The plan of an existing workflow (a ``Workflow`` or its JSON), for refinement.

    Nodes whose origin is in ``drop_origins`` (inserted guardrails: the passes put them back) are
    left out and the edges through them are joined up. Every step gets an explicit ``after`` so
    that applying edits and compiling again reproduces the untouched parts exactly.
    """
    data = workflow.to_json_dict() if hasattr(workflow, "to_json_dict") else workflow
    nodes = data.get("nodes", [])
    trigger = next((n for n in nodes if n.get("type") == "trigger"), {"id": TRIGGER_REF, "kind": "manual"})
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
            "in_loop": loop_id, "name": node.get("name"), "description": node.get("description"),
            "timeout_s": node.get("timeout_s"), "origin": node.get("origin"), "reason": node.get("reason"),
        }
        retry = node.get("retry")
        if retry:
            common["max_attempts"] = retry.get("max_attempts", 3)
            common["backoff"] = retry.get("backoff", "exponential")
            common["retry_delay_s"] = retry.get("initial_delay_s")
        on_error = node.get("on_error")
        if on_error == "route" and nid in error_targets:
            common["on_failure"] = error_targets[nid]
        elif on_error == "continue":
            common["on_failure"] = "continue"
        config = dict(node.get("config") or {})
        if ntype == "action":
            step: Any = ActionStep(connector=node["connector"], operation=node["operation"], config=config,
                                   credential=node.get("credential"), **common)
        elif ntype == "condition":
            step = ConditionStep(expression=config.get("expression", ""), **common)
        elif ntype == "switch":
            step = SwitchStep(value=config.get("value", ""), cases=config.get("cases", []), **common)
        elif ntype == "merge":
            step = MergeStep(mode=config.get("mode", "all"), **common)
        elif ntype == "guardrail":
            step = GuardrailStep(kind=node["kind"], config=config, **common)
        elif ntype == "loop":
            step = LoopStep(items=config.get("items", ""), max_concurrency=config.get("max_concurrency", 1),
                            max_items=config.get("max_items"), batch_size=config.get("batch_size"), **common)
        else:
            continue
        out.append(step)
        if ntype == "loop":
            body = node.get("body") or {}
            _collect_steps(body.get("nodes", []), body.get("edges", []), trigger_id, nid, drop, out)


# --- edits ----------------------------------------------------------------------------------


def apply_edits(plan: WorkflowPlan, edit: EditPlan) -> WorkflowPlan:
    """Apply an ``EditPlan`` to a plan; steps and fields it does not name are kept as they are.

    Raises ``PlanInvalidError`` when an edit names a step that does not exist.
    """
    data = _explicit(plan).model_dump(mode="json", exclude_none=False)
    steps: list[dict[str, Any]] = data["steps"]
    problems: list[Problem] = []

    def find(step_id: str) -> int | None:
        sid = _slug(step_id)
        return next((k for k, s in enumerate(steps) if s["id"] == sid), None)

    for i, change in enumerate(edit.edits):
        path = f"$.edits[{i}]"
        if isinstance(change, Rename):
            data["name"] = change.name
            if change.description is not None:
                data["description"] = change.description
        elif isinstance(change, ChangeTrigger):
            new = change.trigger.model_dump(mode="json", exclude_unset=True)
            if new.get("kind", data["trigger"]["kind"]) != data["trigger"]["kind"]:
                data["trigger"] = {"id": data["trigger"].get("id"), **new}
            else:
                data["trigger"].update(new)
                if new.get("cron"):
                    data["trigger"]["at"] = None
                elif new.get("at"):
                    data["trigger"]["cron"] = None
        elif isinstance(change, RemoveStep):
            k = find(change.id)
            if k is None:
                problems.append(Problem("plan_unknown_step", f"{path}.id", f"no step {change.id!r} to remove"))
                continue
            _remove(steps, k)
        elif isinstance(change, UpdateStep):
            k = find(change.id)
            if k is None:
                problems.append(Problem("plan_unknown_step", f"{path}.id", f"no step {change.id!r} to update"))
                continue
            step = steps[k]
            step.update({key: v for key, v in change.changes.items() if key not in ("id", "type")})
            target = step["config"] if isinstance(step.get("config"), dict) else step
            _merge_patch(target, change.config)
            for key, values in change.append.items():
                current = target.get(key)
                current = [] if current is None else current if isinstance(current, list) else [current]
                target[key] = current + [v for v in values if v not in current]
        elif isinstance(change, AddStep):
            new_step = change.step.model_dump(mode="json")
            new_step["id"] = _unique(_slug(new_step["id"]), {s["id"] for s in steps} | {TRIGGER_REF})
            if change.before is not None and (k := find(change.before)) is not None:
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
    if problems:
        raise PlanInvalidError(problems)
    try:
        return WorkflowPlan.model_validate(data)
    except ValidationError as exc:
        from engine.validation import format_loc

        raise PlanInvalidError([Problem(f"plan_{e.get('type', 'invalid')}", format_loc(e.get("loc", ())), e.get("msg", "invalid"))
                                for e in exc.errors(include_url=False)]) from None


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
            after = [TRIGGER_REF if p == trigger_id else p for p in preds] or ([level[sid]] if level[sid] else [])
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


__all__ = [
    "ActionStep", "AddStep", "AiStep", "ChangeTrigger", "ConditionStep", "CopilotResponse", "DelayStep",
    "EditPlan", "GuardrailStep", "LoopStep", "MergeStep", "PlanInvalidError", "Question", "RemoveStep",
    "Rename", "Step", "SwitchCaseSpec", "SwitchStep", "TriggerSpec", "UpdateStep", "WorkflowPlan",
    "apply_edits", "compile_plan", "fields_schema", "load_plan", "plan_from_workflow", "response_schema",
]
