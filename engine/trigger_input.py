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
    if (wf.trigger is not None and wf.trigger.kind == "webhook" and isinstance(value, dict)
            and "body" in value and "headers" in value):
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
