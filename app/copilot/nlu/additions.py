"""Refinements that add structure to the current plan: failure paths, batch sizes, switch cases,
a model step in front of an output, a parallel fetch with its merge, conditional steps, and
further actions ("three days later, send them a second email").

``NewSteps`` builds the steps themselves (the planner, run on the new text against the current
plan); this module decides where they go and which existing steps must point at them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from app.copilot.nlu.entities import Protected, channels, snake
from app.copilot.nlu.numbers import NUMBER, to_int
from app.copilot.nlu.structure import ACTION_VERBS, BATCH_RE, CONCURRENCY_RE, _looks_like_condition
from app.copilot.plan import (
    ActionStep,
    AddStep,
    ConditionStep,
    EditPlan,
    LoopStep,
    MergeStep,
    SwitchStep,
    UpdateStep,
    WorkflowPlan,
)

NewSteps = Callable[..., list[AddStep]]
_EXTERNAL = ("http", "email", "slack", "database", "llm")
_STARTS_WITH_VERB = re.compile(rf"^(?:(?:also|then|and|please|just)\s+)*(?:{ACTION_VERBS})(?:s|es)?\b", re.I)
_FAILURE_INTRO = re.compile(
    r"^(?:and\s+)?(?:if|when|should|in case)\s+(?:it|that|this|the\s+[\w ]{1,30}?)\s+(?:still\s+|ultimately\s+|ever\s+)?"
    r"(?:fails?|errors?(?:\s+out)?|goes wrong|breaks|times?\s+out)\b,?\s*(?:then\s+)?(?P<rest>.+)$"
    r"|^(?:and\s+)?on\s+(?:failure|error)\s*,?\s*(?P<rest2>.+)$",
    re.I,
)


def _named(plan: WorkflowPlan, text: str) -> Any:
    words = [(r"\b(query|sql|database|db)\b", "database"), (r"\b(api|call\w*|request\w*|fetch\w*|pull\w*|endpoint|http|backup|upload\w*)\b", "http"),
             (r"\b(e-?mail|mail)\b", "email"), (r"\b(slack|message|post)\b", "slack"), (r"\b(ai|model|llm|summary)\b", "llm")]
    for pattern, connector in words:
        if re.search(pattern, text, re.I):
            found = [s for s in plan.steps if isinstance(s, ActionStep) and s.connector == connector]
            if found:
                return found[-1]
    return None


def _last_external(plan: WorkflowPlan) -> Any:
    handlers = {s.on_failure for s in plan.steps if s.on_failure}
    for step in reversed(plan.steps):
        if isinstance(step, ActionStep) and step.connector in _EXTERNAL and step.id not in handlers:
            return step
    return None


def _edit(edits: list[Any], explanation: str) -> EditPlan:
    return EditPlan(edits=edits, explanation=explanation + " Everything else is unchanged.")


def failure_path(text: str, plan: WorkflowPlan, new_steps: NewSteps) -> EditPlan | None:
    """'If it fails, email admin@example.com' → a failure handler for the step it means."""
    m = _FAILURE_INTRO.match(text.strip())
    if not m:
        return None
    rest = m.group("rest") or m.group("rest2") or ""
    subject = text[:m.start("rest") if m.group("rest") else m.start("rest2")]
    target = _named(plan, subject) or _last_external(plan)
    if target is None:
        return None
    added = new_steps(rest, failure=True)
    if not added:
        return None
    return _edit([*added, UpdateStep(id=target.id, changes={"on_failure": added[0].step.id})],
                 f"When {target.id} finally fails, {added[0].step.id} runs.")


def loop_settings(text: str, plan: WorkflowPlan) -> EditPlan | None:
    """'Do it in batches of 20' → the loop's batch size; 'check 5 at a time' → its concurrency."""
    loops = [s for s in plan.steps if isinstance(s, LoopStep)]
    if not loops:
        return None
    if m := BATCH_RE.search(text):
        size = next(to_int(g) for g in m.groups() if g)
        return _edit([UpdateStep(id=loops[-1].id, changes={"batch_size": size})], f"{loops[-1].id} now takes batches of {size}.")
    if m := CONCURRENCY_RE.search(text):
        return _edit([UpdateStep(id=loops[-1].id, changes={"max_concurrency": to_int(m.group(1))})],
                     f"{loops[-1].id} now runs {m.group(1)} at once.")
    return None


def switch_case(text: str, plan: WorkflowPlan, new_steps: NewSteps) -> EditPlan | None:
    """'Also send high priority tickets to #support-high' → a new case of the existing switch."""
    switches = [s for s in plan.steps if isinstance(s, SwitchStep)]
    if not switches:
        return None
    m = re.search(r"\b(?:send|route|post|forward|email|put)\s+(?:the\s+|all\s+|any\s+)?['\"]?([\w-]+)['\"]?\s+"
                  r"(?:priority\s+|severity\s+|level\s+|type\s+|status\s+)?(?:[a-z]+\s+)?(?:to|into|in)\s+(.+)$", text, re.I)
    if not m or m.group(1).lower() in ("it", "them", "this", "that", "everything", "the", "a", "an", "all", "those", "these"):
        return None
    switch = switches[-1]
    value = m.group(1).lower()
    if any(c.name == value or str(c.equals).lower() == value for c in switch.cases):
        return None
    verb = "email" if re.match(r"^\S+@", m.group(2)) else "post"
    added = new_steps(f"{verb} it to {m.group(2)}", after=[(switch.id, snake(value))])
    if not added:
        return None
    cases = [c.model_dump() for c in switch.cases] + [{"name": snake(value), "equals": value}]
    return _edit([UpdateStep(id=switch.id, changes={"cases": cases}), *added], f"Added the case '{value}' to {switch.id}.")


# "summarize it first", "can the AI summarize it first in 50 words and send me the summary instead?"
_FIRST_RE = re.compile(r"^(.*?)\s*,?\s*\b(?:first|beforehand|before that|before it goes out)\b\s*(?P<size>(?:in|to|under)\s+(?:about\s+)?\d+\s+words)?"
                       r"\s*(?:,?\s*(?:and|then)\s+(?:just\s+)?(?P<out>send|post|email|mail|forward|save|store)\b[^.!?]*)?[.!?]*$", re.I)
_ASK_AI_RE = re.compile(r"^(?:(?:can|could|would|will)\s+(?:you\s+)?)?(?:please\s+)?(?:(?:have|let|get|ask|make)\s+)?(?:the\s+)?(?:ai|model|llm|gpt)?\s*"
                        r"(?:to\s+)?", re.I)


def step_before(text: str, plan: WorkflowPlan, new_steps: NewSteps) -> EditPlan | None:
    """'Summarize the feedback with AI before emailing it' → a model step in front of the output."""
    m = re.search(r"^(.*?)\bbefore\s+(?:you\s+)?(emailing|sending|posting|saving|storing|mailing|it is sent|it's sent)\b", text, re.I)
    said = [part for part in re.split(r"(?<=[.!?])\s+", text.strip()) if re.search(r"\b(?:first|beforehand|before)\b", part, re.I)]
    text = said[-1] if said else text  # "people write novels in there. can the AI summarize it first ...?"
    first = _FIRST_RE.search(text.strip())
    ask = _ASK_AI_RE.sub("", first.group(1).strip()) if first else ""
    if first and _STARTS_WITH_VERB.search(ask) and re.match(
            r"^(?:(?:also|then|and|please|just)\s+)*(?:summari[sz]e|classify|translate|extract|rewrite|draft|condense|shorten|"
            r"write|compose|generate|turn)\b", ask, re.I):
        m = re.match(r"^(.*)$", f"{ask} {first.group('size') or ''}".strip())
        kind = (first.group("out") or "sending").lower()
    elif not m or not _STARTS_WITH_VERB.search(m.group(1).strip()):
        return None
    else:
        kind = m.group(2).lower()
    assert m is not None
    connector = "email" if kind.startswith(("email", "mail")) else "slack" if kind.startswith("post") else (
        "datastore" if kind.startswith(("sav", "stor")) else None)
    outputs = [s for s in plan.steps if isinstance(s, ActionStep) and (connector is None or s.connector == connector)
               and (connector is not None or s.connector in ("email", "slack", "http"))]
    if not outputs:
        return None
    target = outputs[-1]
    added = new_steps(m.group(1).strip(), upto=target.id, after=[(a, None) for a in (target.after or [])] or None)
    if not added:
        return None
    new = added[0].step
    new_id = new.id
    edits: list[Any] = [AddStep(step=new.model_copy(update={"after": None, "branch": None}), before=target.id)]
    if isinstance(new, ActionStep) and new.connector == "llm":
        field = "summary" if new.operation == "summarize" else "text" if new.operation == "complete" else "data"
        key = "body" if target.connector == "email" else "text" if target.connector == "slack" else None
        if key:
            edits.append(UpdateStep(id=target.id, config={key: f"{{{{ nodes.{new_id}.{field} }}}}"}))
    return _edit(edits, f"{new_id} now runs before {target.id}.")


def parallel_fetch(text: str, plan: WorkflowPlan, new_steps: NewSteps) -> EditPlan | None:
    """'Also fetch <url> at the same time and put both in the email' → a parallel fetch and a merge."""
    if not re.search(r"\b(at the same time|in parallel|simultaneously|concurrently|alongside)\b", text, re.I):
        return None
    fetches = [s for s in plan.steps if isinstance(s, ActionStep) and s.connector in ("http", "database", "datastore")
               and s.in_loop is None]
    if not fetches:
        return None
    first = fetches[0]
    clause = re.split(r"\s+\b(?:at the same time|in parallel|simultaneously|concurrently|alongside)\b", text, flags=re.I)[0]
    added = new_steps(clause, after=[(a, first.branch) for a in (first.after or ["trigger"])])
    if not added:
        return None
    fetch = added[0].step
    followers = [s for s in plan.steps if s.after and first.id in s.after]
    merge = MergeStep(id=f"combine_{first.id}"[:60], after=[first.id, fetch.id])
    edits: list[Any] = [added[0], AddStep(step=merge)]
    for follower in followers:
        after = [merge.id if a == first.id else a for a in follower.after or []]
        edits.append(UpdateStep(id=follower.id, changes={"after": after}))
        if re.search(r"\b(both|all|together|everything|combined)\b", text, re.I) and isinstance(follower, ActionStep):
            key = "body" if follower.connector == "email" else "text" if follower.connector == "slack" else None
            if key:
                edits.append(UpdateStep(id=follower.id, config={key: f"{{{{ $string(nodes.{merge.id}) }}}}"}))
    return _edit(edits, f"{fetch.id} runs alongside {first.id}; {merge.id} combines them.")


def conditional(text: str, plan: WorkflowPlan, new_steps: NewSteps, condition_for: Callable[[str], str]) -> EditPlan | None:
    """'Only when the total is above 1000' / 'When it's down, also email ops@' / 'If X, also post ...'."""
    stripped = text.strip().rstrip(".")
    if m := re.match(r"^(?:but\s+)?(?:only|just)\s+(?:do\s+(?:it|this)\s+|send\s+(?:it|this)\s+|run\s+(?:it|this)\s+)?(?:when|if)\s+(.+)$",
                     stripped, re.I):
        if _STARTS_WITH_VERB.search(m.group(1)):
            return None
        target = next((s for s in reversed(plan.steps) if isinstance(s, ActionStep) and s.connector in ("email", "slack", "http")),
                      plan.steps[-1])
        condition = ConditionStep(id=f"check_{snake(m.group(1), 24) or 'condition'}", expression=condition_for(m.group(1)),
                                  name=f"If {m.group(1)}")
        return _edit([AddStep(step=condition, before=target.id), UpdateStep(id=target.id, changes={"branch": "true"})],
                     f"{target.id} now only runs if {m.group(1)}.")
    m = re.match(r"^(?:and\s+)?(?:if|when|whenever|in case)\s+(.+?)(?:,\s*|\s+(?=(?:also\s+)?(?:" + ACTION_VERBS + r")\b))(?:then\s+)?(.+)$",
                 stripped, re.I)
    if not m:
        return None
    condition_text, action = m.group(1), m.group(2)
    existing = [s for s in plan.steps if isinstance(s, ConditionStep)]
    refers_back = re.search(r"\b(it's down|it is down|that happens|so|that's the case|it does|it is|there are|it fails)\b",
                            condition_text, re.I) and not _looks_like_condition(condition_text.replace("it's down", ""))
    if existing and (refers_back or not _looks_like_condition(condition_text)):
        cond = existing[-1]
        added = new_steps(action, after=[(cond.id, "true")])
        return _edit(added, f"Added {', '.join(a.step.id for a in added)} to the 'true' branch of {cond.id}.") if added else None
    added = new_steps(f"if {condition_text}, {action}")
    return _edit(added, "Added " + ", ".join(a.step.id for a in added) + ".") if added else None


def further_action(text: str, plan: WorkflowPlan, new_steps: NewSteps) -> EditPlan | None:
    """'Three days later, send them a second email ...', 'After the refund, email the customer ...'."""
    p = Protected.of(text)
    additive = re.search(r"\b(second|another|additional|extra|follow-?up|later|afterwards|after that|after the|then|also|as well|too)\b",
                         p.text, re.I)
    starts = _STARTS_WITH_VERB.search(re.sub(r"^\s*(?:after\s+[^,]{1,40},|" + NUMBER + r"\s+\w+\s+later,?)\s*", "", p.text, flags=re.I))
    if not (additive or starts):
        return None
    if channels(text) and not additive and not starts:
        return None
    added = new_steps(text)
    del plan
    return _edit(added, "Added " + ", ".join(a.step.id for a in added) + ".") if added else None
