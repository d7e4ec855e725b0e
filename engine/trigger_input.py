"""Checking a trigger's input against its ``input_schema`` before an execution starts."""

from __future__ import annotations

from typing import Any

from engine.errors import FlowwrightError
from engine.workflow import Workflow


class InputInvalidError(FlowwrightError):
    """The trigger input does not match the trigger's ``input_schema``."""

    code = "input_invalid"
    status = 422


def check_trigger_input(wf: Workflow, value: Any) -> None:
    """Raise ``InputInvalidError`` (every problem, with its path) unless ``value`` fits the
    trigger's ``input_schema``."""
    schema = wf.trigger.config.input_schema if wf.trigger else None
    if not schema:
        return
    import jsonschema

    root = "$"
    if wf.trigger is not None and wf.trigger.kind == "webhook" and is_webhook_envelope(value):
        # A webhook's input is the request envelope; its input_schema describes the body.
        value, root = value["body"], "$.body"
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(value), key=lambda e: list(e.path))
    if errors:
        problems = [{"path": root + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in e.path),
                     "message": e.message} for e in errors]
        raise InputInvalidError(
            "input does not match the trigger's input_schema: "
            + "; ".join(f"{p['path']}: {p['message']}" for p in problems[:5]), problems=problems,
        )


def is_webhook_envelope(value: Any) -> bool:
    """Whether ``value`` already is what the webhook endpoint hands a run (``body`` and ``headers``)."""
    return isinstance(value, dict) and "body" in value and "headers" in value


def manual_input(definition: dict[str, Any], value: Any) -> Any:
    """A manual run's input as the trigger hands it on: for a webhook trigger, the request envelope
    ``{body, headers, query, method, path}`` with ``value`` as the body (unless it already is an
    envelope), so ``trigger.body.x`` reads the same in a manual run as in a real call; any other
    trigger gets ``value`` as it is."""
    nodes = definition.get("nodes")
    trigger = next((n for n in nodes if isinstance(n, dict) and n.get("type") == "trigger"), None) \
        if isinstance(nodes, list) else None
    if trigger is None or trigger.get("kind") != "webhook" or value is None or is_webhook_envelope(value):
        return value
    raw = trigger.get("config")
    config: dict[str, Any] = raw if isinstance(raw, dict) else {}
    return {"body": value, "headers": {}, "query": {}, "method": config.get("method") or "POST",
            "path": str(config.get("path") or "").strip("/")}
