"""A change request against the current workflow → an ``EditPlan`` that touches only what it names.

Understands: renaming; removing a step by what it does ("remove the Slack step", "drop the
delay"); schedule changes that keep what is not mentioned ("make it Fridays instead" keeps the
time, "at 10am instead" keeps the days, "in London time" changes only the zone), trigger kind
changes; extra or replacement recipients ("send it to bob@example.com too", "... instead"),
channels ("also post it to #sales", "use #ops instead of #sales"), subjects and messages, URLs,
retries, a wait before a step, a condition in front of a step, and any further action ("also
save it to the orders table"), added where the workflow's output is.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import Any

from app.copilot.nlu.entities import Protected, channels
from app.copilot.nlu.schedule import parse_schedule, parse_times
from app.copilot.nlu.structure import RETRY_RE
from app.copilot.plan import (
    ActionStep,
    AddStep,
    ChangeTrigger,
    ConditionStep,
    DelayStep,
    EditPlan,
    GuardrailStep,
    Question,
    RemoveStep,
    Rename,
    TriggerSpec,
    UpdateStep,
    WorkflowPlan,
)

_ALSO_RE = re.compile(r"\b(also|too|as well|additionally|in addition|plus)\b", re.I)
_INSTEAD_RE = re.compile(r"\b(instead|rather than|replace|switch|change|swap|move|only)\b", re.I)
_REMOVE_RE = re.compile(r"\b(remove|delete|drop|get rid of|take out|skip|disable|no longer|stop|don't|do not|without)\b", re.I)
_KIND_WORDS: list[tuple[re.Pattern[str], Any]] = [
    (re.compile(r"\bslack\b|#\w", re.I), lambda s: _is(s, "slack")),
    (re.compile(r"\bpost(?:ing|s)?\b", re.I),
     lambda s: _is(s, "slack") or (_is(s, "http") and str(s.config.get("method", "GET")).upper() in ("POST", "PUT", "PATCH"))),
    (re.compile(r"\b(?:sending|emailing|mailing)\b", re.I), lambda s: _is(s, "email")),
    (re.compile(r"\b(?:saving|storing|inserting|writing)\b", re.I), lambda s: _is(s, "datastore") or _is(s, "database")),
    (re.compile(r"\b(?:calling|fetching|requesting)\b", re.I), lambda s: _is(s, "http")),
    (re.compile(r"\be-?mails?\b|\bmail\b", re.I), lambda s: _is(s, "email")),
    (re.compile(r"\b(delay|wait|pause)\b", re.I), lambda s: _is(s, "core", "delay")),
    (re.compile(r"\b(summary|summari[sz]e|summari[sz]ation)\b", re.I), lambda s: _is(s, "llm", "summarize")),
    (re.compile(r"\b(classif\w*|categori\w*)\b", re.I), lambda s: _is(s, "llm", "classify")),
    (re.compile(r"\b(extract\w*)\b", re.I), lambda s: _is(s, "llm", "extract")),
    (re.compile(r"\b(ai|llm|model)\s+step\b", re.I), lambda s: _is(s, "llm")),
    (re.compile(r"\b(log|logging)\b", re.I), lambda s: _is(s, "core", "log")),
    (re.compile(r"\b(http|api|request|fetch|call)\b", re.I), lambda s: _is(s, "http")),
    (re.compile(r"\b(database|sql|query)\b", re.I), lambda s: _is(s, "database")),
    (re.compile(r"\b(table|datastore|save|store)\b", re.I), lambda s: _is(s, "datastore")),
    (re.compile(r"\b(condition|check|if)\b", re.I), lambda s: getattr(s, "type", "") == "condition"),
    (re.compile(r"\b(loop|for each)\b", re.I), lambda s: getattr(s, "type", "") == "loop"),
]


def _is(step: Any, connector: str, operation: str | None = None) -> bool:
    if getattr(step, "type", "") == "delay":
        return connector == "core" and operation in (None, "delay")
    if getattr(step, "type", "") == "ai":
        return connector == "llm" and operation in (None, step.task)
    return isinstance(step, ActionStep) and step.connector == connector and operation in (None, step.operation)


def _targets(text: str, plan: WorkflowPlan) -> list[Any]:
    """Steps a phrase points at: by id or name first, then by what they do."""
    lower = text.lower()
    by_id = [s for s in plan.steps if re.search(rf"\b{re.escape(s.id.replace('_', ' '))}\b|\b{re.escape(s.id)}\b", lower)]
    if by_id:
        return by_id
    for pattern, test in _KIND_WORDS:
        if pattern.search(text):
            found = [s for s in plan.steps if test(s)]
            if found:
                return found
    return []


def _main_output(plan: WorkflowPlan) -> Any:
    """The step whose text the workflow sends (the latest email/Slack step), if any."""
    for step in reversed(plan.steps):
        if _is(step, "email") or _is(step, "slack"):
            return step
    return None


def _message_of(step: Any) -> str | None:
    config = getattr(step, "config", None)
    if not isinstance(config, dict):
        return None
    text = config.get("text") or config.get("body")
    return str(text) if text is not None else None


def _last_main(plan: WorkflowPlan) -> Any:
    handlers = {s.on_failure for s in plan.steps if s.on_failure}
    for step in reversed(plan.steps):
        if step.in_loop is None and step.id not in handlers:
            return step
    return plan.steps[-1]


def _new_id(base: str, plan: WorkflowPlan) -> str:
    taken = {s.id for s in plan.steps}
    candidate, n = base, 2
    while candidate in taken:
        candidate = f"{base}_{n}"
        n += 1
    return candidate


def _beside(step: Any) -> dict[str, Any]:
    """Position fields for a new step running alongside ``step`` (same predecessors and branch)."""
    return {"after": list(step.after) if step.after is not None else None, "branch": step.branch, "in_loop": step.in_loop}


def _rewire_references(plan: WorkflowPlan, removed: list[Any]) -> list[UpdateStep]:
    """Steps that used a removed step's output read that step's own input instead."""
    gone = {s.id for s in removed}
    updates = []
    for step in plan.steps:
        config = getattr(step, "config", None)
        if step.id in gone or not isinstance(config, dict):
            continue
        patch = {}
        for key, value in config.items():
            if not isinstance(value, str):
                continue
            new_value = value
            for target in removed:
                replacement = next((v for v in getattr(target, "config", {}).values()
                                    if isinstance(v, str) and "{{" in v and f"nodes.{target.id}" not in v), "")
                new_value = re.sub(r"\{\{[^{}]*\bnodes\." + re.escape(target.id) + r"\b[^{}]*\}\}", replacement, new_value)
            if new_value != value:
                patch[key] = new_value or f"{plan.name}"
        if patch:
            updates.append(UpdateStep(id=step.id, config=patch))
    return updates


def _is_number(word: str) -> bool:
    from app.copilot.nlu.numbers import NUMBER_WORDS

    return word.isdigit() or word.lower() in NUMBER_WORDS


def _expand_days(field: str) -> list[int]:
    out: list[int] = []
    for part in field.split(","):
        if "-" in part:
            a, b = part.split("-")
            out.extend(range(int(a), int(b) + 1))
        elif part.isdigit():
            out.append(int(part))
    return out


def _days_field(days: list[int]) -> str:
    if len(days) > 2 and days == list(range(days[0], days[-1] + 1)):
        return f"{days[0]}-{days[-1]}"
    return ",".join(str(d) for d in days)


def _schedule_edit(text: str, plan: WorkflowPlan, today: date | None) -> ChangeTrigger | None:
    lower = text.lower()
    if re.search(r"\b(manual(?:ly)?|by hand|on demand)\b", lower) and re.search(r"\b(run|make|trigger|start|instead)\b", lower):
        return ChangeTrigger(trigger=TriggerSpec(kind="manual"))
    if re.search(r"\bwebhook\b", lower) and plan.trigger.kind != "webhook":
        return ChangeTrigger(trigger=TriggerSpec(kind="webhook", method="POST"))
    new = parse_schedule(text, today=today)
    if not new.found and new.timezone is None:
        times = parse_times(text)
        if not times or plan.trigger.kind != "schedule":
            return None
    old = plan.trigger
    if new.at:
        return ChangeTrigger(trigger=TriggerSpec(kind="schedule", at=new.at, cron=None, timezone=new.timezone or old.timezone))
    if not new.found:
        times = parse_times(text)
        if times and old.cron:
            fields = old.cron.split()
            fields[0], fields[1] = str(times[0][1]), ",".join(str(h) for h in sorted({t[0] for t in times}))
            return ChangeTrigger(trigger=TriggerSpec(kind="schedule", cron=" ".join(fields),
                                                     **({"timezone": new.timezone} if new.timezone else {})))
        if new.timezone:
            return ChangeTrigger(trigger=TriggerSpec(kind="schedule", timezone=new.timezone))
        return None
    assert new.cron is not None
    fields = new.cron.split()
    time_given = bool(parse_times(text)) or bool(re.search(r"\b(morning|evening|noon|midnight|night|afternoon)\b", lower))
    if _ALSO_RE.search(text) and old.kind == "schedule" and old.cron and not parse_times(text):
        old_fields = old.cron.split()
        if fields[4] != "*" and old_fields[4] != "*":
            days = sorted({int(d) for part in (old_fields[4], fields[4]) for d in _expand_days(part)})
            merged = old_fields[:4] + [_days_field(days)]
            return ChangeTrigger(trigger=TriggerSpec(kind="schedule", cron=" ".join(merged)))
    days_given = bool(re.search(r"\b(every|each|daily|weekly|monthly|hourly|day|days|week|weekdays?|weekends?|month|"
                                r"mon|tue|wed|thu|fri|sat|sun)\w*\b", lower.replace("instead", "")))
    if old.kind == "schedule" and old.cron and not days_given:
        old_fields = old.cron.split()
        fields[2], fields[3], fields[4] = old_fields[2], old_fields[3], old_fields[4]  # "at 10am instead" keeps the days
    if old.kind == "schedule" and old.cron and not time_given and fields[0] == "0" and fields[1].isdigit():
        old_fields = old.cron.split()
        if old_fields[0].isdigit() and old_fields[1].replace(",", "").isdigit():
            fields[0], fields[1] = old_fields[0], old_fields[1]  # "make it Fridays instead" keeps the time
    spec: dict[str, Any] = {"kind": "schedule", "cron": " ".join(fields)}
    if new.timezone:
        spec["timezone"] = new.timezone
    elif old.kind != "schedule":
        spec["timezone"] = None
    return ChangeTrigger(trigger=TriggerSpec(**spec))


_ONLY_THOSE_RE = re.compile(
    r"\bonly\s+(?:for\s+|send\s+|post\s+|keep\s+|do\s+(?:it\s+)?for\s+)?(?:the\s+|those\s+)?(?:ones|those|items|[a-z]+s)?\s*"
    r"(?:that\s+(?:are|cost|have)\s+|which\s+are\s+|with\s+(?:an?\s+|the\s+)?(?P<field>[a-z_]+)?\s*(?:of\s+)?)?"
    r"(?P<op>over|above|under|below|more than|less than|greater than|at least|at most|worth(?:\s+(?:over|more than))?)\s+(?P<value>[$€£]?[\d.,]+[km]?)",
    re.I)
_MONEY_FIELDS = ("total", "amount", "price", "value", "sum", "cost", "revenue")


def _only_those(text: str, plan: WorkflowPlan) -> str | None:
    """'only the ones over 50', 'only orders worth more than $100': the test on the amount it names."""
    m = _ONLY_THOSE_RE.search(text)
    if m is None:
        return None
    fields = list(getattr(plan.trigger, "fields", None) or [])
    field = m.group("field") if m.group("field") and m.group("field") not in ("a", "an", "the") else next(
        (f for f in fields if f in _MONEY_FIELDS), next((f for f in fields if any(w in f for w in _MONEY_FIELDS)), "amount"))
    op = m.group("op").lower().replace("worth over", "over").replace("worth more than", "more than")
    return f"the {field} is {'over' if op == 'worth' else op} {m.group('value')}"


_APPROVAL_RE = re.compile(
    r"\b(?:add\s+(?:an?\s+)?(?:manual\s+|human\s+)?approval(?:\s+(?:step|gate|check))?|(?:ask|check\s+with)\s+(?:me|us|someone|a\s+manager|my\s+boss)"
    r"(?:\s+for\s+approval)?(?:\s+first)?|require\s+(?:an?\s+|my\s+)?approval|needs?\s+(?:my\s+|an?\s+|manager\s+)?approval|"
    r"(?:get|wait\s+for)\s+(?:my\s+|an?\s+)?approval|let\s+me\s+(?:approve|sign\s+off)(?:\s+it)?)\b\s*(?:first\s*)?(?:before\s+(?P<what>.+))?",
    re.I)


def _approval_before(text: str, plan: WorkflowPlan) -> EditPlan | None:
    """'add an approval step before the post', 'ask me first before emailing': a person approves that step."""
    m = _APPROVAL_RE.search(text)
    if m is None or any(isinstance(s, GuardrailStep) and s.kind == "approval" for s in plan.steps):
        return None
    target = (_targets(m.group("what"), plan) if m.group("what") else []) or [_main_output(plan) or _last_main(plan)]
    step = target[0]
    if step is None:
        return None
    gate = GuardrailStep(id=_new_id("ask_for_approval", plan), kind="approval", name="Ask for approval",
                         config={"message": f"Approve {step.id} of '{plan.name}'?"})
    return EditPlan(edits=[AddStep(step=gate, before=step.id)],
                    explanation=f"A person now approves before {step.id} runs; everything else is unchanged.")


def refine(text: str, plan: WorkflowPlan, *, today: date | None = None, plan_new: Any = None) -> EditPlan | Question | None:
    """Edits for ``text`` against ``plan``; ``None`` when the text does not read as a change."""
    p = Protected.of(text)
    restored = text
    lower = p.text.lower()
    emails = p.in_text(p.text, "email")
    chans = channels(restored)
    urls = p.in_text(p.text, "url")
    quoted = p.in_text(p.text, "quoted")
    edits: list[Any] = []
    said: list[str] = []

    if m := re.search(r"\b(?:rename|call|name)\s+(?:it|the workflow|this workflow|this)\s+(?:to\s+)?(.+)$", text, re.I):
        name = quoted[0] if quoted else m.group(1).strip(" .\"'")
        return EditPlan(edits=[Rename(name=name)], explanation=f"Renamed the workflow to '{name}'.")

    removing = _REMOVE_RE.search(p.text) and not emails and not re.search(r"\b(instead|but)\b", lower)
    if removing and not urls:
        if re.search(r"\b(retr(?:y|ies))\b", lower):
            for step in plan.steps:
                if step.max_attempts:
                    edits.append(UpdateStep(id=step.id, changes={"max_attempts": None}))
            if edits:
                return EditPlan(edits=edits, explanation="Removed the retries.")
        targets = _targets(p.text[_REMOVE_RE.search(p.text).end():] or p.text, plan)  # type: ignore[union-attr]
        if chans:
            targets = [s for s in targets if s.config.get("channel") in chans] or targets
        if targets and len({s.id for s in targets}) >= len(plan.steps):
            return Question(question="That would remove every step. What should the workflow do instead?",
                            missing=["remaining steps"])
        if targets:
            edits = [RemoveStep(id=s.id) for s in targets]
            edits.extend(_rewire_references(plan, targets))
            return EditPlan(edits=edits,
                            explanation="Removed " + ", ".join(s.id for s in targets) + "; everything else is unchanged.")

    if plan_new is not None:
        from app.copilot.nlu import additions
        from app.copilot.nlu.conditions import DataRef, condition_expression

        def condition_for(condition_text: str) -> str:
            source = next((s for s in reversed(plan.steps) if _is(s, "http")), None)
            data = DataRef(expr=f"nodes.{source.id}.body", source=source.id, operation="http.request") if source else DataRef(
                expr="trigger.body" if plan.trigger.kind == "webhook" else "trigger")
            return condition_expression(p.restore(condition_text), data)

        checks: list[Callable[[], EditPlan | None]] = [
                        lambda: additions.failure_path(text, plan, plan_new),
                        lambda: additions.loop_settings(text, plan),
                        lambda: additions.switch_case(text, plan, plan_new),
                        lambda: additions.step_before(text, plan, plan_new),
                        lambda: additions.parallel_fetch(text, plan, plan_new),
                        lambda: additions.conditional(text, plan, plan_new, condition_for)]
        for handler in checks:
            found = handler()
            if found is not None:
                return found

    change = _schedule_edit(p.text, plan, today)
    if change is not None and not emails and not chans:
        edits.append(change)
        said.append("changed when it runs")

    if m := RETRY_RE.search(p.text):
        from app.copilot.nlu.numbers import to_int

        words = {"once": 1, "twice": 2, "thrice": 3}
        count = next((words[g.lower()] if g.lower() in words else to_int(g) for g in m.groups()
                      if g and g.strip().lower() != "more" and (g.lower() in words or re.fullmatch(r"[\w.-]+", g) and _is_number(g))), None) or 3
        if re.search(r"\b(?:once|twice|thrice|\d+\s+times)\s+more\b", m.group(0), re.I):
            count += 1  # "retry twice more": the first attempt plus two
        backoff = "fixed" if re.search(r"\b(fixed|constant|same|flat)\b", m.group(0), re.I) else "exponential"
        delay = re.search(r"(\d+(?:\.\d+)?)\s*-?\s*(seconds?|secs?|s|minutes?|mins?)\b", m.group(0), re.I)
        retry_changes: dict[str, Any] = {"max_attempts": count, "backoff": backoff}
        if delay:
            retry_changes["retry_delay_s"] = float(delay.group(1)) * (60 if delay.group(2).lower().startswith("m") else 1)
        targets = _targets(re.sub(r"\b(retry|retries|retrying|re-?try|try|times|attempts|up to|add|with)\b", " ", p.text, flags=re.I), plan)
        handlers = {s.on_failure for s in plan.steps if s.on_failure}
        routed = [s for s in plan.steps if s.on_failure and s.on_failure not in ("continue", "fail")]
        externals = [s for s in plan.steps if isinstance(s, ActionStep) and s.connector in ("http", "email", "slack", "database", "llm")
                     and s.id not in handlers]
        targets = targets or routed or [s for s in externals if s.connector in ("http", "database")] or externals
        for step in targets:
            edits.append(UpdateStep(id=step.id, changes=dict(retry_changes)))
        said.append(f"retries up to {count} attempts")

    if plan_new is not None and not edits and re.search(r"\b(second|another|additional|extra|follow-?up|later|afterwards|after the|"
                                                        r"after that)\b", p.text, re.I):
        from app.copilot.nlu import additions

        found = additions.further_action(text, plan, plan_new)
        if found is not None:
            return found
    instead = _INSTEAD_RE.search(p.text) and not _ALSO_RE.search(p.text)
    email_steps = [s for s in plan.steps if _is(s, "email")]
    slack_steps = [s for s in plan.steps if _is(s, "slack")]
    swap = re.search(r"\b(?:instead\s+of|rather\s+than)\s+(?:the\s+)?(e-?mail(?:ing)?|mail(?:ing)?|sending\s+(?:an?\s+)?e-?mail|slack|posting)",
                     p.text, re.I)
    if swap and ((chans and email_steps and not swap.group(1).lower().startswith(("slack", "post")))
                 or (emails and slack_steps and swap.group(1).lower().startswith(("slack", "post")))):
        old_step = email_steps[-1] if chans else slack_steps[-1]
        message = _message_of(old_step) or plan.name
        if chans:
            new: Any = ActionStep(id=_new_id(f"post_to_{re.sub(r'[^a-z0-9_]', '_', chans[0].lstrip('#').lower())}", plan),
                                  connector="slack", operation="post_message", config={"channel": chans[0], "text": message},
                                  **_beside(old_step))
        else:
            new = ActionStep(id=_new_id("send_email", plan), connector="email", operation="send",
                             config={"to": emails, "subject": plan.name[:100], "body": message}, **_beside(old_step))
        followers = [UpdateStep(id=s.id, changes={"after": [new.id if a == old_step.id else a for a in s.after]})
                     for s in plan.steps if s.after and old_step.id in s.after]
        return EditPlan(edits=[RemoveStep(id=old_step.id), AddStep(step=new), *followers],
                        explanation=f"Replaced {old_step.id} with {new.id}; everything else is unchanged.")
    if emails:
        if email_steps:
            for step in email_steps[-1:]:
                field = "cc" if re.search(r"\bcc\b", lower) else "to"
                if instead:
                    edits.append(UpdateStep(id=step.id, config={field: emails}))
                else:
                    edits.append(UpdateStep(id=step.id, append={field: emails}))
            said.append(("sends it to " if instead else "also sends it to ") + ", ".join(emails))
        else:
            anchor = _main_output(plan) or _last_main(plan)
            message = _message_of(_main_output(plan)) or "Workflow update"
            step = ActionStep(id=_new_id("send_email", plan), connector="email", operation="send",
                              config={"to": emails, "subject": plan.name[:100], "body": message},
                              **(_beside(anchor) if _main_output(plan) else {"after": [anchor.id]}))
            edits.append(AddStep(step=step))
            said.append("also emails " + ", ".join(emails))
    if chans:
        old_chans = [c for c in chans if any(getattr(s, "config", {}).get("channel") == c for s in slack_steps)]
        new_chans = [c for c in chans if c not in old_chans]
        if slack_steps and (instead or (old_chans and new_chans)) and new_chans:
            targets = [s for s in slack_steps if getattr(s, "config", {}).get("channel") in old_chans] or slack_steps[-1:]
            for step in targets:
                edits.append(UpdateStep(id=step.id, config={"channel": new_chans[0]}))
            said.append(f"posts to {new_chans[0]} instead")
        elif new_chans:
            anchor = _main_output(plan)
            message = _message_of(anchor) or "Workflow update"
            for channel in new_chans:
                step = ActionStep(id=_new_id(f"post_to_{re.sub(r'[^a-z0-9_]', '_', channel.lstrip('#').lower())}", plan),
                                  connector="slack", operation="post_message", config={"channel": channel, "text": message},
                                  **(_beside(anchor) if anchor else {"after": [_last_main(plan).id]}))
                edits.append(AddStep(step=step))
            said.append("also posts to " + ", ".join(new_chans))
    if m := re.search(r"\bsubject\b[^⟦]*?(⟦\d+⟧)", p.text, re.I):
        subject = p.in_text(m.group(1), "quoted")
        for step in email_steps[-1:]:
            if subject:
                edits.append(UpdateStep(id=step.id, config={"subject": subject[0]}))
                said.append("changed the subject")
    elif quoted and re.search(r"\b(message|text|body|say|says|saying|wording)\b", lower):
        for step in (slack_steps + email_steps)[-1:]:
            key = "text" if _is(step, "slack") else "body"
            edits.append(UpdateStep(id=step.id, config={key: quoted[0]}))
            said.append("changed the message")
    if urls:
        http_steps = [s for s in plan.steps if _is(s, "http")]
        if http_steps and (instead or re.search(r"\b(use|point|change|switch|update)\b", lower)):
            edits.append(UpdateStep(id=http_steps[0].id, config={"url": urls[0]}))
            said.append(f"calls {urls[0]}")
    if m := re.search(r"\b(?:wait|pause|delay)\b.*?\bbefore\b\s+(.+)$", p.text, re.I):
        from app.copilot.nlu.numbers import parse_duration

        duration = parse_duration(p.text)
        targets = _targets(m.group(1), plan)
        if duration and targets:
            seconds = duration[0]
            from app.copilot.nlu.builder import _duration_words

            edits.append(AddStep(step=DelayStep(id=_new_id(f"wait_{_duration_words(seconds)}", plan), seconds=seconds),
                                 before=targets[0].id))
            said.append(f"waits {int(seconds)} s before {targets[0].id}")
    only = re.search(r"\bonly\s+(?:send|post|do|run|email|notify)?\s*(?:it|this|that)?\s*(?:if|when)\s+(.+)$", p.text, re.I)
    condition_text = p.restore(only.group(1)) if only else _only_those(p.text, plan)
    if condition_text:
        from app.copilot.nlu.conditions import DataRef, condition_expression

        target = _main_output(plan) or _last_main(plan)
        source = next((s for s in reversed(plan.steps) if _is(s, "http")), None)
        data = DataRef(expr=f"nodes.{source.id}.body", source=source.id, operation="http.request") if source else DataRef(
            expr="trigger.body" if plan.trigger.kind == "webhook" else "trigger")
        condition = ConditionStep(id=_new_id("check_condition", plan), expression=condition_expression(condition_text, data))
        edits.append(AddStep(step=condition, before=target.id))
        edits.append(UpdateStep(id=target.id, changes={"branch": "true"}))
        said.append(f"only continues if {condition_text}")
    if not edits and (approval := _approval_before(p.text, plan)) is not None:
        return approval
    if not edits and plan_new is not None:
        from app.copilot.nlu import additions

        found = additions.further_action(text, plan, plan_new)
        if found is not None:
            return found
    if not edits:
        return None
    return EditPlan(edits=edits, explanation="Changed: " + "; ".join(said) + ". Everything else is unchanged.")
