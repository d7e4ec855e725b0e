"""Dry runs: every external operation is replaced by a recorder that logs the input it would have
sent and returns a deterministic, schema-valid sample of the operation's output model."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ValidationError

SAMPLE_DATETIME = "2000-01-01T00:00:00Z"
_FORMAT_SAMPLES = {
    "date-time": SAMPLE_DATETIME,
    "date": "2000-01-01",
    "time": "00:00:00",
    "email": "sample@example.com",
    "uri": "https://example.com/",
    "url": "https://example.com/",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "ipv4": "192.0.2.1",
    "hostname": "example.com",
    "duration": "P1D",
}


_NUMERIC_NAME = re.compile(
    r"(total|amount|count|price|qty|quantity|sum|score|age|number|size|stock|level|balance|cost|rate|"
    r"percent|duration|minutes|hours|days|seconds|weight|height|width|length|limit|threshold)$", re.I)
# Payload-like values stay null: a loop over them runs no item, a lookup in them is undefined.
_PAYLOAD_NAME = re.compile(r"^(body|data|json|payload|result|response|record|item|object|content)$", re.I)


def _untyped_sample(name: str | None) -> Any:
    """A sample for a value of any type, chosen by its field name so that the expressions a
    workflow writes over it (``total > 100``, ``body.items``) evaluate in a dry run."""
    if name is None or _PAYLOAD_NAME.match(name):
        return None
    if _NUMERIC_NAME.search(name):
        return 1
    if "email" in name.lower():
        return "sample@example.com"
    if name.lower() in ("items", "rows", "records", "results", "list", "entries"):
        return []
    return "sample"


_NO_VALUE = object()  # "this schema fixes no value": go on to the next rule


def sample_from_schema(schema: dict[str, Any], root: dict[str, Any] | None = None, depth: int = 0,
                       name: str | None = None) -> Any:
    """A deterministic value that satisfies ``schema`` (the JSON Schema pydantic generates);
    ``name`` is the property it is for, used to pick a sample when the schema allows anything."""
    root = root if root is not None else schema
    if depth > 12:
        return None
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        return sample_from_schema(_resolve_ref(schema, ref, root), root, depth + 1, name)
    fixed = _fixed_value(schema)
    if fixed is not _NO_VALUE:
        return fixed
    combined = _combined(schema)
    if combined is not None:
        return sample_from_schema(combined, root, depth + 1, name)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), kind[0] if kind else None)
    if kind == "object" or (kind is None and "properties" in schema):
        props = schema.get("properties") or {}
        # Every property, optional ones too: a dry run should hand later steps data to work on.
        return {prop: sample_from_schema(sub, root, depth + 1, prop) for prop, sub in props.items() if isinstance(sub, dict)}
    if kind == "array":
        count = int(schema.get("minItems", 1) or 0)
        items: dict[str, Any] = schema["items"] if isinstance(schema.get("items"), dict) else {}
        return [sample_from_schema(items, root, depth + 1) for _ in range(max(count, 1) if items else count)]
    if kind == "string":
        return _string(schema)
    if kind in _SCALARS:
        return _SCALARS[kind](schema)
    return _untyped_sample(name)  # ``Any``: every JSON value is valid; pick a useful one


def _resolve_ref(schema: dict[str, Any], ref: str, root: dict[str, Any]) -> dict[str, Any]:
    """The schema a local ``$ref`` points at, with the referring schema's other keys on top."""
    target: Any = root
    for part in ref[2:].split("/"):
        target = target.get(part, {}) if isinstance(target, dict) else {}
    return {**target, **{k: v for k, v in schema.items() if k != "$ref"}}


def _combined(schema: dict[str, Any]) -> dict[str, Any] | None:
    """The schema to sample for ``anyOf``/``oneOf`` (the first non-null option) or ``allOf`` (merged)."""
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            non_null = [o for o in options if not (isinstance(o, dict) and o.get("type") == "null")]
            chosen: dict[str, Any] = non_null[0] if non_null else options[0]
            return chosen
    if isinstance(schema.get("allOf"), list):
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            if isinstance(part, dict):
                merged.update(part)
        return merged
    return None


def _fixed_value(schema: dict[str, Any]) -> Any:
    """The value the schema names itself: ``const``, a non-null ``default``, the first example or enum member."""
    if "const" in schema:
        return schema["const"]
    if "default" in schema and schema["default"] is not None:
        return schema["default"]
    if "examples" in schema and isinstance(schema["examples"], list) and schema["examples"]:
        return schema["examples"][0]
    if "enum" in schema and schema["enum"]:
        return schema["enum"][0]
    return _NO_VALUE


def _string(schema: dict[str, Any]) -> str:
    fmt = schema.get("format")
    if isinstance(fmt, str) and fmt in _FORMAT_SAMPLES:
        return _FORMAT_SAMPLES[fmt]
    text = "sample"
    min_len = int(schema.get("minLength", 0) or 0)
    max_len = schema.get("maxLength")
    if len(text) < min_len:
        text = text + "x" * (min_len - len(text))
    if isinstance(max_len, int):
        text = text[:max_len]
    return text


def _number(schema: dict[str, Any], default: float, *, integer: bool) -> Any:
    value: float = default
    if "minimum" in schema:
        value = max(value, schema["minimum"])
    if "exclusiveMinimum" in schema:
        value = max(value, schema["exclusiveMinimum"] + 1)
    if "maximum" in schema:
        value = min(value, schema["maximum"])
    if "exclusiveMaximum" in schema:
        value = min(value, schema["exclusiveMaximum"] - 1)
    return int(value) if integer else float(value)


def sample_output(model: type[BaseModel]) -> BaseModel:
    """A valid instance of ``model`` built from its JSON Schema (deterministic)."""
    schema = model.model_json_schema(mode="serialization")
    sample = sample_from_schema(schema)
    try:
        return model.model_validate(sample)
    except ValidationError:
        # Constraints the sampler does not model (validators, patterns): fall back to the
        # validation-mode schema, then to an unvalidated instance with the sampled fields.
        try:
            return model.model_validate(sample_from_schema(model.model_json_schema(mode="validation")))
        except ValidationError:
            return model.model_construct(**(sample if isinstance(sample, dict) else {}))


_SCALARS: dict[str, Any] = {
    "integer": lambda schema: _number(schema, 1, integer=True),
    "number": lambda schema: _number(schema, 1.0, integer=False),
    "boolean": lambda _schema: True,
    "null": lambda _schema: None,
}
