"""Short, typed descriptions of an operation's input fields and output, for the copilot's context.

A hosted model writes better configs when it sees each field's type (``method:
GET|POST|...``, ``to*: list of string``) and better expressions when it sees what a step's
output holds (``status: integer, body: any``) — the same output model the validator's
``unknown_output_field`` rule reads. ``*`` marks a required input field; ``any`` and ``object``
mark open data whose inside is not known in advance (an HTTP body, extracted fields).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

MAX_ENUM = 8  # longer enums are shown as their type


def input_fields(model: type[BaseModel]) -> str:
    """``url*: string, method: GET|POST|..., headers: object`` — the names the config uses."""
    schema = model.model_json_schema()
    required = set(schema.get("required", []))
    defs = schema.get("$defs", {})
    parts = []
    for name, prop in (schema.get("properties") or {}).items():
        parts.append(f"{name}{'*' if name in required else ''}: {type_of(prop, defs)}")
    return ", ".join(parts)


def output_shape(model: type[BaseModel]) -> str:
    """``status: integer, ok: boolean, body: any`` — what ``nodes.<id>.<field>`` can read."""
    if model.model_config.get("extra") == "allow":
        return "the values it was given, by name"
    schema = model.model_json_schema(by_alias=False, mode="serialization")
    defs = schema.get("$defs", {})
    fields = [f"{name}: {type_of(prop, defs)}" for name, prop in (schema.get("properties") or {}).items()]
    return ", ".join(fields) or "nothing"


def type_of(prop: dict[str, Any], defs: dict[str, Any]) -> str:
    """A JSON Schema property in a few words."""
    if "$ref" in prop:
        return type_of(defs.get(prop["$ref"].rsplit("/", 1)[-1], {}), defs)
    if "const" in prop:
        return repr(prop["const"])
    if isinstance(prop.get("enum"), list):
        values = [str(v) for v in prop["enum"] if v is not None]
        return "|".join(values) if len(values) <= MAX_ENUM else "string"
    for key in ("anyOf", "oneOf"):
        if key in prop:
            kinds = list(dict.fromkeys(type_of(p, defs) for p in prop[key] if p.get("type") != "null"))
            return " or ".join(kinds) if kinds else "any"
    kind = prop.get("type")
    if kind == "array":
        return f"list of {type_of(prop.get('items') or {}, defs)}"
    if kind == "object":
        return "object"
    if isinstance(kind, str):
        return kind
    return "any"


__all__ = ["input_fields", "output_shape", "type_of"]
