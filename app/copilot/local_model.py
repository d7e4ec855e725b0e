"""``local/flowwright-planner``: the built-in offline model behind the litellm ``local`` provider.

``respond(messages, response_schema)`` reads the same chat a hosted model would get and answers
with the same structured output:

* when the first system message starts with ``[flowwright:task=<task>]`` it performs that llm-node
  task (``app.copilot.local_tasks``: classify, extract, summarize, complete);
* otherwise, when asked for a ``CopilotResponse`` (the schema's title) or given the copilot's
  system prompt, it plans: the last user message is the request; the context message carries
  the catalog excerpt (the operations the catalog retrieval chose), the workspace preferences and,
  when refining, the current plan in a ```` ```json current_plan ```` block. It answers with a
  ``workflow``, an ``edit`` of the current plan, or a ``question`` naming what is missing
  (``app.copilot.nlu``);
* any other schema gets a minimal valid instance; no schema gets a short labelled text.

Everything is deterministic and offline: regular grammars plus all-MiniLM-L6-v2 embeddings.
"""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Any

from app.copilot import local_tasks
from app.copilot.local_tasks import text_of
from app.copilot.nlu import integrations
from app.copilot.nlu.dialogue import request_of
from app.copilot.nlu.messages import Preferences
from app.copilot.nlu.operations import default_embedder, operation_index
from app.copilot.nlu.planner import Request, plan_additions, plan_request
from app.copilot.nlu.refine import refine
from app.copilot.plan import CopilotResponse, EditPlan, Question, WorkflowPlan, load_plan

TASK_TAG = re.compile(r"^\s*\[flowwright:task=([a-z_][a-z0-9_-]*)\]")
_PLAN_BLOCK = re.compile(r"```json current_plan\s*\n(.*?)\n```", re.S)
_WORKFLOW_BLOCK = re.compile(r"```(?:json)?\s*\n(\{.*?\})\s*\n```", re.S)
_KNOWN_TASKS = {"complete", "classify", "extract", "summarize"}


def respond(messages: list[dict[str, Any]], response_schema: dict[str, Any] | None) -> str:
    """Answer a chat the way a hosted model would (JSON text when a schema is given)."""
    task = _task(messages)
    if task is not None:
        return local_tasks.run_task(task if task in _KNOWN_TASKS else "complete", messages, response_schema,
                                    default_embedder())
    if _wants_plan(messages, response_schema):
        reply = plan_reply(messages)
        return CopilotResponse(reply=reply).model_dump_json(exclude_none=True)
    if response_schema:
        return local_tasks.fill_schema(response_schema, {})
    return local_tasks.complete(_last_user(messages))


def _task(messages: list[dict[str, Any]]) -> str | None:
    if messages and messages[0].get("role") == "system":
        match = TASK_TAG.match(text_of(messages[0]))
        if match:
            return match.group(1)
    return None


def _wants_plan(messages: list[dict[str, Any]], schema: dict[str, Any] | None) -> bool:
    if schema is not None:
        return schema.get("title") == "CopilotResponse" or "reply" in (schema.get("properties") or {})
    system = " ".join(text_of(m) for m in messages if m.get("role") == "system")
    return "CopilotResponse" in system or "workflow copilot" in system.lower()


def _last_user(messages: list[dict[str, Any]]) -> str:
    users = [text_of(m) for m in messages if m.get("role") == "user"]
    return users[-1] if users else ""


def parse_preferences(system: str) -> Preferences:
    """Workspace preferences from the context ('- timezone: Europe/Berlin', '- default email: ...')."""
    prefs = Preferences()
    section = system.split("## Workspace preferences", 1)[1] if "## Workspace preferences" in system else system
    if m := re.search(r"^\s*-?\s*(?:time ?zone|timezone)\s*:\s*([A-Za-z_]+(?:/[A-Za-z_+-]+)*)\s*$", section, re.M | re.I):
        prefs.timezone = m.group(1)
    if m := re.search(r"^\s*-?\s*default e-?mail\s*:\s*(\S+@\S+)\s*$", section, re.M | re.I):
        prefs.email = m.group(1)
    if m := re.search(r"^\s*-?\s*default (?:slack )?channel\s*:\s*(#?[\w.-]+)\s*$", section, re.M | re.I):
        prefs.channel = m.group(1) if m.group(1).startswith("#") else f"#{m.group(1)}"
    return prefs


def _catalog_ops(system: str) -> set[str] | None:
    section = system.split("## Catalog", 1)[1] if "## Catalog" in system else ""
    found = set(re.findall(r"`([a-z][a-z0-9_]*\.[a-z][a-z0-9_]*)`", section.split("\n## ", 1)[0]))
    return found or None


def current_plan(messages: list[dict[str, Any]]) -> WorkflowPlan | None:
    """The plan being refined: the context's ``current_plan`` block, or a workflow JSON in the chat."""
    for message in reversed(messages):
        text = text_of(message)
        if m := _PLAN_BLOCK.search(text):
            try:
                return load_plan(m.group(1))
            except ValueError:
                continue
    for message in reversed(messages):
        if message.get("role") == "assistant":
            continue
        for block in reversed(_WORKFLOW_BLOCK.findall(text_of(message))):
            try:
                data = json.loads(block)
            except json.JSONDecodeError:
                continue
            if isinstance(data, dict) and "nodes" in data and "schema_version" in data:
                from app.copilot.plan import plan_from_workflow

                try:
                    return plan_from_workflow(data)
                except (ValueError, KeyError, TypeError):
                    continue
    return None


def plan_reply(messages: list[dict[str, Any]]) -> WorkflowPlan | Question | EditPlan:
    """The planner's reply to a copilot chat."""
    system = "\n".join(text_of(m) for m in messages if m.get("role") == "system")
    prefs = parse_preferences(system)
    allowed = _catalog_ops(system)
    index = operation_index()
    today = _today(system)
    text = drop_retracted(request_of(messages, text_of))
    absent = integrations.missing(text)
    if absent:
        return Question(question=integrations.reply(absent), missing=[m.app.name for m in absent])
    base = current_plan(messages)
    if base is not None and not base.trigger.fields and isinstance(base.trigger.input_schema, dict):
        properties = base.trigger.input_schema.get("properties")
        if isinstance(properties, dict):
            base.trigger.fields = [str(k) for k in properties]
    request = Request(text=text, prefs=prefs, today=today, allowed_ops=allowed)
    if base is not None:
        new_workflow = re.search(r"\b(new|another|separate|different) workflow\b|\bstart over\b|\bfrom scratch\b", text, re.I)
        if not new_workflow:
            def new_steps(t: str, **options: Any) -> list[Any]:
                return plan_additions(Request(text=t, prefs=prefs, today=today, allowed_ops=allowed), base, index, **options)

            edit = refine(text, base, today=today, plan_new=new_steps)
            if edit is not None:
                return edit
            return Question(question="What should I change in the current workflow? For example: 'also post it to "
                                     "#sales', 'make it Fridays instead' or 'remove the Slack step'.",
                            missing=["change to make"])
    return plan_request(request, index)


def drop_retracted(text: str) -> str:
    """'Use Osaka time... no wait, London time' → 'London time' (the person corrected themselves)."""
    parts = re.split(r"(?:\.\.\.|…|,|;|\.)?\s*\b(?:no wait|wait,? no|actually no|sorry,? i meant|i mean)\b\s*[,:]?\s*", text, flags=re.I)
    tail = parts[-1].strip()
    return tail if len(parts) > 1 and len(tail.split()) >= 2 else text


def _today(system: str) -> date | None:
    if m := re.search(r"\bToday is (\d{4}-\d{2}-\d{2})", system):
        try:
            return date.fromisoformat(m.group(1))
        except ValueError:
            return None
    return None
