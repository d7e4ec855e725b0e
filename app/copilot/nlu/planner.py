"""A request in plain words → a ``WorkflowPlan`` (or a ``Question`` when something is missing).

Pipeline: protect the values (emails, URLs, quoted text, JSON, SQL) → read the trigger (schedule,
webhook, manual) → split the rest into a tree of actions and control structures (``structure``) →
build the steps (``builder``). ``plan_additions`` runs the same machinery on a refinement that adds
steps to an existing plan.
"""

from __future__ import annotations

import re
from typing import Any

from app.copilot.nlu import cases, clauses, phrasebook, structure
from app.copilot.nlu.actions import MissingValue
from app.copilot.nlu.builder import _EITHER_WAY_RE, Frontier, Request, _Builder, _unlabelled_classify
from app.copilot.nlu.conditions import DataRef
from app.copilot.nlu.entities import Protected
from app.copilot.nlu.messages import Preferences
from app.copilot.nlu.messages import _labels as messages_labels
from app.copilot.nlu.schedule import Schedule
from app.copilot.nlu.trigger import TriggerRead, read_trigger
from app.copilot.plan import ActionStep, Question, TriggerSpec, WorkflowPlan


def plan_request(request: Request, index: Any) -> WorkflowPlan | Question:
    """Plan a workflow for a request, or ask the one question that blocks it."""
    text = request.text.strip()
    if not text:
        return Question(question="What should the workflow do?", missing=["request"])
    protected = Protected.of(text)
    protected.text = phrasebook.normalize(protected.text)
    trigger = read_trigger(protected.text, request.today)
    if trigger.schedule is not None and trigger.schedule.vague:
        return Question(question="How often should it run (for example every hour, every weekday at 9:00, or every Monday)?",
                        missing=["schedule"])
    schedule = trigger.schedule
    items = _instructions(structure.parse(trigger.rest), trigger, index)
    items = cases.group(items, lambda clause: messages_labels(protected.restore(clause)),
                        cases.enumerated_fields(protected.restore(text)))
    if trigger.only_if and items:
        items = [structure.Item("condition", text=trigger.only_if, then=items)]
    if not items:
        return Question(question="What should the workflow do when it runs?", missing=["actions"])
    builder = _Builder(protected, index, request, trigger)
    start = DataRef(expr="trigger.body" if trigger.kind == "webhook" else "trigger", source=None,
                    operation="manual_input" if trigger.kind == "manual" and trigger.fields else None,
                    fields=tuple(trigger.fields))
    try:
        builder.walk(items, [], None, start)
    except MissingValue as missing:
        return Question(question=missing.question, missing=missing.missing)
    if not builder.steps:
        return Question(question="What should the workflow do when it runs? I could not find an action in the request.",
                        missing=["actions"])
    unlabelled = _unlabelled_classify(builder.steps)
    if unlabelled is not None:
        return unlabelled
    if schedule is not None and schedule.no_time:  # asked last: what the steps need comes first
        return Question(question="At what time of day should it run (for example 9:00, or 18:30 Berlin time)?",
                        missing=["schedule time"])
    spec = _trigger_spec(trigger, schedule, request.prefs)
    name = _name(protected.restore(trigger.rest) or text)
    explanation = _explain(spec, builder, schedule)
    return WorkflowPlan(name=name, description=text[:300], explanation=explanation, trigger=spec, steps=builder.steps)


def _instructions(items: list[structure.Item], trigger: TriggerRead, index: Any) -> list[structure.Item]:
    """The items that ask for something: a sentence describing the incoming data adds the trigger's
    fields, a remark ("We run a small bakery", "that's all") is dropped."""
    kept = []
    for item in items:
        if item.kind == "action":
            described = clauses.payload_fields(item.text)
            if described and trigger.kind in ("webhook", "manual"):
                trigger.fields.extend(f for f in described if f not in trigger.fields)
                continue
            if clauses.is_remark(_EITHER_WAY_RE.sub("", item.text).strip(" ,"), index.embedder):
                continue
        kept.append(item)
    return kept


def _trigger_spec(trigger: TriggerRead, schedule: Schedule | None, prefs: Preferences) -> TriggerSpec:
    if trigger.kind == "schedule" and schedule is not None:
        tz = schedule.timezone or prefs.timezone
        return TriggerSpec(kind="schedule", cron=schedule.cron, at=schedule.at,
                           timezone=tz if tz and tz != "UTC" or schedule.timezone else None)
    if trigger.kind == "webhook":
        return TriggerSpec(kind="webhook", method=trigger.method, fields=trigger.fields)
    return TriggerSpec(kind="manual", fields=trigger.fields)


_POLITE_RE = re.compile(r"\b(?:hi|hello|hallo|hey|thanks|thank you|cheers|please|pls|kindly|could you|can you|would you|"
                        r"i'd (?:love|like)(?: you)? to|i want(?: you)? to|i need(?: you)? to|create a workflow (?:that|to)|"
                        r"build a workflow (?:that|to)|set up a workflow (?:that|to))\b[!,.]*\s*", re.I)


def _name(text: str) -> str:
    """A short name from the request's first sentence: no greetings, arrows read as commas,
    addresses shortened to their host."""
    text = re.sub(r"https?://([^/\s]+)\S*", r"\1", text)
    text = re.sub(r"\s*(?:→|->|=>)\s*", ", ", text)
    text = re.sub(r"\s+", " ", _POLITE_RE.sub("", text)).strip(" ,.!?;:-")
    first = re.split(r"(?<=[a-z0-9)\]'\"])[.!?]\s+(?=[A-Z])|\n", text)[0]
    text = re.sub(r"^(?:(?:and|then|also|so|it)\b[\s,]*)+", "", first, flags=re.I).strip(" ,.!?;:-")
    words = text.split()
    name = " ".join(words[:8]) + ("…" if len(words) > 8 else "")
    return (name[:1].upper() + name[1:])[:200] or "Workflow"


def _explain(spec: TriggerSpec, builder: _Builder, schedule: Schedule | None) -> str:
    if spec.kind == "schedule":
        when = f"Runs on the schedule '{spec.cron}'" if spec.cron else f"Runs once at {spec.at}"
        when += f" ({spec.timezone or 'UTC'})."
    elif spec.kind == "webhook":
        when = f"Runs when a {spec.method or 'POST'} request reaches its webhook."
    else:
        when = "Runs when started by hand."
    parts = [when, "Then: " + "; ".join(builder.summary) + "."]
    assumptions = list(schedule.assumptions if schedule else []) + builder.notes
    if assumptions:
        parts.append("Assumed: " + "; ".join(assumptions) + ".")
    return " ".join(parts)


def plan_additions(request: Request, plan: WorkflowPlan, index: Any, *, after: list[tuple[str, str | None]] | None = None,
                   failure: bool = False, upto: str | None = None) -> list[Any]:
    """New steps for 'also <do something>' on an existing plan, each as an ``AddStep`` edit.

    By default they follow the plan's last step on the main path and work on the latest data it
    produces; ``after`` places them elsewhere (e.g. a condition's true branch), ``failure`` makes
    them a failure path (no predecessor; the caller routes an error edge to the first one), and
    ``upto`` only counts data produced before that step.
    """
    from app.copilot.plan import AddStep

    text = re.sub(r"\b(?:also|too|as well|additionally|in addition)\b", "", request.text, flags=re.I)
    text = re.sub(r"^\s*(?:and\s+|then\s+|please\s+|add\s+a\s+step\s+(?:to|that)\s+)+", "", text.strip(), flags=re.I)
    text = re.sub(r"^\s*after\s+(?:the|that|this|it)\b[^,]{0,40},\s*", "", text, flags=re.I)
    protected = Protected.of(text)
    fields = list(plan.trigger.fields)
    builder = _Builder(protected, index, request, TriggerRead(kind=plan.trigger.kind, rest=protected.text,
                                                               name_hint=plan.name, fields=fields))
    builder.ids |= {s.id for s in plan.steps}
    handlers = {s.on_failure for s in plan.steps if s.on_failure}
    main = [s for s in plan.steps if s.in_loop is None and s.id not in handlers]
    if upto is not None:
        main = main[:next((i for i, s in enumerate(main) if s.id == upto), len(main))]
    data = DataRef(expr="trigger.body" if plan.trigger.kind == "webhook" else "trigger",
                   operation="manual_input" if plan.trigger.kind == "manual" and fields else None,
                   fields=tuple(plan.trigger.fields))
    for step in main:
        if isinstance(step, ActionStep):
            key = f"{step.connector}.{step.operation}"
            out_field = index.output_field(step.connector, step.operation)
            if key in ("http.request", "database.query", "datastore.query", "llm.extract", "core.transform", "llm.classify"):
                data = DataRef(expr=f"nodes.{step.id}.{out_field}" if out_field else f"nodes.{step.id}", source=step.id,
                               operation=key)
            elif key in ("llm.summarize", "llm.complete"):
                builder.ai_text = f"nodes.{step.id}.{out_field}" if out_field else f"nodes.{step.id}"
    if failure:
        data = DataRef(expr="execution.error")
        builder.ai_text = None
    frontier: Frontier = after if after is not None else ([(main[-1].id, None)] if main else [])
    try:
        builder.walk(structure.parse(protected.text), [] if failure else frontier, None, data)
    except MissingValue:
        return []
    if failure and builder.steps:
        builder.steps[0].after = []
    if _unlabelled_classify(builder.steps) is not None:
        return []
    return [AddStep(step=step) for step in builder.steps]


__all__ = ["Request", "plan_additions", "plan_request"]
