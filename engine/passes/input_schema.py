"""Pass: a ``schema`` guardrail right after a webhook trigger.

The schema is the trigger's ``input_schema`` when it has one; otherwise it is built from the
fields the workflow reads (``trigger.body.<field>``), each required, typed where the workflow's
use leaves no doubt: a field compared with a number is a number, a field an email is sent to is
an email address. The check reads ``body`` (the request body) of the webhook's envelope.
"""

from __future__ import annotations

import re
from typing import Any

from engine.passes.graph import Editor, guardrail
from engine.workflow import Workflow

_FIELD_RE = re.compile(r"(?<![\w$.])trigger\.(?:body\.)?([A-Za-z_][A-Za-z0-9_]*)")
_ENVELOPE = {"body", "headers", "query", "method", "path", "params"}
_REF = r"(?<![\w$.])trigger\.(?:body\.)?([A-Za-z_][A-Za-z0-9_]*)"
_NUMERIC_RE = re.compile(rf"{_REF}\s*(?:>=|<=|>|<)\s*-?\d|-?\d[\d.]*\s*(?:>=|<=|>|<)\s*{_REF}")
_RECIPIENT_KEYS = ("to", "cc", "bcc", "reply_to")


def apply(workflow: Workflow, catalog: Any = None) -> Workflow:  # noqa: ARG001 - every pass takes the catalog
    """Insert a schema guardrail after a webhook trigger that has none."""
    edit = Editor(workflow)
    trigger = edit.trigger
    if trigger.get("kind") != "webhook":
        return workflow
    if any(g.get("kind") == "schema" for g in edit.guard_chain_after(edit.data, trigger["id"])):
        return workflow
    texts = _config_texts(edit)
    schema = (trigger.get("config") or {}).get("input_schema")
    if schema:
        fields = sorted((schema.get("properties") or {}).keys()) if isinstance(schema, dict) else []
        source = "the trigger's input_schema"
    else:
        fields = sorted({m for t in texts for m in _FIELD_RE.findall(t)} - _ENVELOPE)
        types = _field_types(edit, texts)
        schema = {"type": "object", "properties": {f: types.get(f, {}) for f in fields}, "required": fields}
        source = "the fields the workflow reads" if fields else "a JSON object"
    # A webhook's input is the request envelope {body, headers, ...}; the schema describes the body
    # (the guardrail checks the data itself when it has no ``body`` key).
    config: dict[str, Any] = {"schema": schema, "path": "body"}
    named = f" ({', '.join(fields)})" if fields else ""
    reason = f"Rejects webhook calls whose data does not match {source}{named} before any step uses it."
    # The schema check comes first, in front of any other guardrail already after the trigger.
    node = guardrail(edit.unique_id("check_input"), "schema", config, reason, "Check webhook input")
    edit.insert_after(edit.data, trigger["id"], node)
    return edit.result()


def _field_types(edit: Editor, texts: list[str]) -> dict[str, dict[str, Any]]:
    types: dict[str, dict[str, Any]] = {}
    for text in texts:
        for match in _NUMERIC_RE.finditer(text):
            types[match.group(1) or match.group(2)] = {"type": "number"}
    for node, _, _ in edit.all_nodes():
        if node.get("type") == "action" and node.get("connector") == "email":
            config = node.get("config") or {}
            for key in _RECIPIENT_KEYS:
                for text in _strings(config.get(key)):
                    whole = re.fullmatch(r"\s*\{\{\s*" + _REF + r"\s*\}\}\s*", text)
                    if whole:
                        types[whole.group(1)] = {"type": "string", "format": "email"}
    return types


def _config_texts(edit: Editor) -> list[str]:
    out: list[str] = []
    for node, _, _ in edit.all_nodes():
        out.extend(_strings(node.get("config")))
    return out


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []
