"""The response schema as hosted models get it: OpenAI's strict structured-output form, small.

OpenAI's strict mode (and the providers that copy it) accepts a subset of JSON Schema: every
object lists all its properties in ``required`` and has ``additionalProperties: false``; an
optional value is a nullable one; ``anyOf`` instead of ``oneOf``; no free-form objects; only the
keywords in :data:`SUPPORTED_KEYWORDS`. :func:`strict_schema` derives that form from the plan
models' pydantic schema, so there is one definition of the reply, and :func:`wire_input` lets
the same models read what such a model sends back:

* a free-form object (a step's ``config``, a trigger's ``input_schema``, an edit's patch) is a
  string holding the JSON object — decoded before validation;
* ``null`` for a field whose default is not ``null`` means "not given" — dropped before
  validation, so the default applies.

Replies in the plain form (objects, omitted fields: the local model's, the examples') validate
as before. :func:`strict_problems` checks a schema against the rules; the tests hold the
copilot's schema to it and to :data:`MAX_SCHEMA_TOKENS`.
"""

from __future__ import annotations

import copy
import functools
import json
import types
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel

MAX_SCHEMA_TOKENS = 4000
SUPPORTED_KEYWORDS = frozenset({
    "type", "properties", "required", "additionalProperties", "items", "enum", "anyOf", "$ref", "$defs",
    "description", "title", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
    "pattern", "format", "minItems", "maxItems",
})
# Supported, but left out of the strict form: the models' own validation enforces them (and names
# the field in the re-ask), some OpenAI-compatible servers refuse them, and they cost tokens.
_LEFT_OUT = frozenset({"title", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"})
JSON_TEXT = "A JSON object written as a string"
_SCALARS = ["string", "number", "boolean", "null"]
# Field descriptions left out of the strict form: the system prompt explains these (rules 3-5),
# and each would otherwise be repeated in every step type.
_SHARED = frozenset({"name", "description", "after", "branch", "in_loop", "max_attempts", "backoff",
                     "retry_delay_s", "timeout_s", "on_failure"})


def strict_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The strict, compact form of a pydantic JSON Schema (see the module docstring)."""
    out: dict[str, Any] = _strict(copy.deepcopy(schema))
    if "title" in schema:
        out["title"] = schema["title"]  # the tool's name: instructor reads it, the local model too
    return out


def _strict(node: Any, *, shared: bool = False) -> Any:
    if isinstance(node, list):
        return [_strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    if "oneOf" in node:
        node["anyOf"] = node.pop("oneOf")
    if "const" in node:
        node["enum"] = [node.pop("const")]
    if shared:
        node.pop("description", None)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key not in SUPPORTED_KEYWORDS or key in _LEFT_OUT:
            continue
        if key == "$defs":
            out[key] = {name: _strict(d) for name, d in value.items()}
        elif key == "properties":
            out[key] = {name: _strict(p, shared=name in _SHARED) for name, p in value.items()}
        elif key in ("items", "anyOf", "additionalProperties"):
            out[key] = _strict(value)
        else:
            out[key] = value
    if _is_free_object(out):
        return _json_text(out)
    if not any(k in out for k in ("type", "anyOf", "$ref", "enum")):
        return {**({"description": out["description"]} if "description" in out else {}), "type": list(_SCALARS)}
    if out.get("type") == "object" and "properties" in out:
        _require_all(out)
    return _compact(out)


def _require_all(out: dict[str, Any]) -> None:
    """Strict objects list every property as required: the optional ones become nullable."""
    originally = set(out.get("required", []))
    for name, prop in out["properties"].items():
        if name not in originally and not _is_tag(prop):
            out["properties"][name] = _nullable(prop)
    out["required"] = list(out["properties"])
    out["additionalProperties"] = False


def _is_free_object(node: dict[str, Any]) -> bool:
    return node.get("type") == "object" and (not node.get("properties") or node.get("additionalProperties")
                                             not in (None, False))


def _json_text(node: dict[str, Any]) -> dict[str, Any]:
    described = node.get("description", "").rstrip(".")
    return {"type": "string", "description": f"{described}. {JSON_TEXT}." if described else f"{JSON_TEXT}."}


def _is_tag(node: dict[str, Any]) -> bool:
    return isinstance(node.get("enum"), list) and len(node["enum"]) == 1


def _nullable(node: dict[str, Any]) -> dict[str, Any]:
    if "anyOf" in node:
        if not any(b.get("type") == "null" for b in node["anyOf"]):
            node["anyOf"].append({"type": "null"})
        return _compact(node)
    if "$ref" in node:
        described = {"description": node.pop("description")} if "description" in node else {}
        return {**described, "anyOf": [node, {"type": "null"}]}
    kind = node.get("type")
    if isinstance(kind, str):
        node["type"] = [kind, "null"]
    elif isinstance(kind, list) and "null" not in kind:
        node["type"] = [*kind, "null"]
    if isinstance(node.get("enum"), list) and None not in node["enum"]:
        node["enum"] = [*node["enum"], None]
    return node


def _compact(node: dict[str, Any]) -> dict[str, Any]:
    """``anyOf: [{type: X, ...}, {type: null}]`` → ``type: [X, null]`` (same meaning, fewer tokens)."""
    branches = node.get("anyOf")
    if not isinstance(branches, list) or len(branches) != 2:
        return node
    plain = [b for b in branches if b != {"type": "null"}]
    if len(plain) != 1 or not isinstance(plain[0].get("type"), str) or "$ref" in plain[0]:
        return node
    merged = {k: v for k, v in node.items() if k != "anyOf"}
    merged.update(plain[0])
    merged["type"] = [plain[0]["type"], "null"]
    if isinstance(merged.get("enum"), list) and None not in merged["enum"]:
        merged["enum"] = [*merged["enum"], None]
    return merged


# --- checking the rules -------------------------------------------------------------------------


def strict_problems(schema: dict[str, Any]) -> list[str]:
    """Where a schema breaks OpenAI's strict structured-output rules (empty when it keeps them)."""
    problems: list[str] = []
    if schema.get("type") != "object" or "anyOf" in schema:
        problems.append("$: the root must be an object, not a union")
    _check(schema, "$", problems, depth=0)
    return problems


def _check(node: Any, path: str, problems: list[str], depth: int) -> None:
    if isinstance(node, list):
        for i, item in enumerate(node):
            _check(item, f"{path}[{i}]", problems, depth)
        return
    if not isinstance(node, dict):
        return
    for key in node:
        if key not in SUPPORTED_KEYWORDS:
            problems.append(f"{path}: unsupported keyword {key!r}")
    if node.get("type") == "object" or "properties" in node:
        _check_object(node, path, problems, depth)
    if not any(k in node for k in ("type", "anyOf", "$ref", "enum", "$defs")):
        problems.append(f"{path}: a value needs a type")
    for key in ("items", "anyOf"):
        if key in node:
            _check(node[key], f"{path}.{key}", problems, depth)
    for name, definition in (node.get("$defs") or {}).items():
        _check(definition, f"{path}.$defs.{name}", problems, depth)


def _check_object(node: dict[str, Any], path: str, problems: list[str], depth: int) -> None:
    props = node.get("properties")
    if not isinstance(props, dict):
        problems.append(f"{path}: an object needs its properties listed")
        props = {}
    if node.get("additionalProperties") is not False:
        problems.append(f"{path}: additionalProperties must be false")
    if sorted(node.get("required", [])) != sorted(props):
        problems.append(f"{path}: every property must be required")
    if depth > 10:
        problems.append(f"{path}: nested deeper than 10 objects")
    for name, prop in props.items():
        _check(prop, f"{path}.{name}", problems, depth + 1)


def estimate_tokens(schema: dict[str, Any]) -> int:
    """Tokens of the schema as sent (compact JSON), about four characters a token — close to
    tiktoken's count on JSON Schema text, without needing its vocabulary files."""
    return (len(json.dumps(schema, separators=(",", ":"), ensure_ascii=False)) + 3) // 4


# --- reading what a strict model sends --------------------------------------------------------


def wire_input(model: type[BaseModel], data: Any) -> Any:
    """``data`` with strict-form values turned back into the plain form (see the module docstring)."""
    if not isinstance(data, dict):
        return data
    json_fields, drop_null = _wire_fields(model)
    out = {}
    for key, value in data.items():
        if value is None and (key in drop_null or key not in model.model_fields):
            continue
        if key in json_fields and isinstance(value, str):
            value = _decode(value)
        out[key] = value
    return out


def _decode(text: str) -> Any:
    stripped = text.strip()
    if not stripped:
        return {}
    try:
        return json.loads(stripped)
    except ValueError:
        return text  # left as is: validation names the field and says it is not an object


@functools.cache
def _wire_fields(model: type[BaseModel]) -> tuple[frozenset[str], frozenset[str]]:
    json_fields, drop_null = set(), set()
    for name, info in model.model_fields.items():
        if _is_dict(info.annotation):
            json_fields.update({name, info.alias or name})
        if not info.is_required() and (info.default is not None or info.default_factory is not None):
            drop_null.update({name, info.alias or name})
    return frozenset(json_fields), frozenset(drop_null)


def _is_dict(annotation: Any) -> bool:
    if get_origin(annotation) is dict or annotation is dict:
        return True
    if get_origin(annotation) in (Union, types.UnionType):
        return any(_is_dict(a) for a in get_args(annotation) if a is not type(None))
    return False


__all__ = ["MAX_SCHEMA_TOKENS", "SUPPORTED_KEYWORDS", "estimate_tokens", "strict_problems", "strict_schema",
           "wire_input"]
