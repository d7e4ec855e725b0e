"""Reading an OpenAPI 3.x document: loading it (JSON or YAML, size- and node-capped), resolving
its local ``$ref`` pointers, and turning its JSON Schemas into pydantic types.

Every problem is reported with the JSON path of the part of the document that caused it
(``$.paths['/pets'].get.parameters[0].schema``), so a person can fix the spec.
"""

from __future__ import annotations

import json
import keyword
import re
from dataclasses import dataclass, field
from typing import Any, Literal, Optional, Union

import yaml
from pydantic import ConfigDict, Field, create_model

from connectors.errors import PermanentError

DEFAULT_MAX_BYTES = 2 * 1024 * 1024
MAX_NODES = 500_000  # values in the parsed document, counting every visit (YAML aliases included)
MAX_SCHEMA_DEPTH = 12
MAX_UNION = 6


@dataclass(frozen=True)
class SpecProblem:
    """One reason a document cannot be imported: where (a JSON path) and what."""

    path: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}


class SpecInvalidError(PermanentError):
    """An OpenAPI document that cannot be imported; ``problems`` lists each with its JSON path."""

    code = "openapi_invalid"
    status = 422

    def __init__(self, problems: list[SpecProblem]) -> None:
        self.problems = problems
        summary = "; ".join(f"{p.path}: {p.message}" for p in problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        super().__init__(f"OpenAPI document cannot be imported: {summary}{more}",
                         problems=[p.to_dict() for p in problems])


def child(path: str, key: str | int) -> str:
    """The JSON path of ``key`` under ``path``: ``$.paths['/pets'].get``, ``$.servers[0]``."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
        return f"{path}.{key}"
    quoted = key.replace("\\", "\\\\").replace("'", "\\'")
    return f"{path}['{quoted}']"


def load_document(data: bytes | str, *, max_bytes: int = DEFAULT_MAX_BYTES) -> dict[str, Any]:
    """Parse a document's bytes (JSON, or YAML — a superset), refusing it when it is larger than
    ``max_bytes``, is not an object, or holds more than ``MAX_NODES`` values."""
    raw = data.encode() if isinstance(data, str) else data
    if len(raw) > max_bytes:
        raise SpecInvalidError([SpecProblem("$", f"the document is {len(raw)} bytes; the limit is {max_bytes}")])
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SpecInvalidError([SpecProblem("$", f"not UTF-8 text (byte {exc.start})")]) from None
    try:
        doc = json.loads(text) if text.lstrip().startswith("{") else yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise SpecInvalidError([SpecProblem("$", f"not valid JSON: line {exc.lineno}, column {exc.colno}: {exc.msg}")]) \
            from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        reason = getattr(exc, "problem", None) or str(exc)
        raise SpecInvalidError([SpecProblem("$", f"not valid YAML: {where}{reason}")]) from None
    if not isinstance(doc, dict):
        raise SpecInvalidError([SpecProblem("$", "an OpenAPI document must be an object")])
    _count_nodes(doc)
    return doc


def _count_nodes(doc: Any) -> None:
    # An alias-heavy YAML file is small on disk and huge once walked; count every visit.
    seen = 0
    stack = [doc]
    while stack:
        value = stack.pop()
        seen += 1
        if seen > MAX_NODES:
            raise SpecInvalidError([SpecProblem("$", f"the document holds more than {MAX_NODES} values")])
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str):
                    raise SpecInvalidError([SpecProblem("$", f"a key is not a string: {key!r}")])
                stack.append(item)
        elif isinstance(value, list):
            stack.extend(value)


def identifier(name: str) -> str:
    """``petId`` → ``pet_id``, ``X-Request-ID`` → ``x_request_id``: a snake_case Python name."""
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    text = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", text)
    text = re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower()
    if not text or not text[0].isalpha():
        text = f"f_{text}" if text else "field"
    if keyword.iskeyword(text) or text in {"model_config", "model_fields"}:
        text += "_"
    return text


def model_name(text: str) -> str:
    """A CamelCase class name for a generated model."""
    parts = re.split(r"[^A-Za-z0-9]+", text)
    name = "".join(p[:1].upper() + p[1:] for p in parts if p)
    return name if name[:1].isalpha() else f"M{name}"


@dataclass
class SchemaConverter:
    """Turns the document's JSON Schemas into pydantic types (one model class per named schema).

    ``$ref`` pointers must be local (``#/components/schemas/Pet``); a schema that refers to itself
    becomes ``Any`` below its first level, so recursive types still import. Unknown keywords are
    ignored; a malformed schema (a ``type`` we do not know, a ``properties`` that is not an
    object) is a problem at its path.
    """

    doc: dict[str, Any]
    input: bool  # input models forbid unknown fields at the top level; outputs allow them
    problems: list[SpecProblem] = field(default_factory=list)
    _models: dict[str, Any] = field(default_factory=dict)
    _resolving: set[str] = field(default_factory=set)

    def resolve(self, value: Any, path: str) -> tuple[Any, str, str | None]:
        """Follow ``$ref`` chains: (the target, its path, the name of the last ``$ref``)."""
        name = None
        for _ in range(32):
            if not (isinstance(value, dict) and "$ref" in value):
                return value, path, name
            ref = value["$ref"]
            if not isinstance(ref, str) or not ref.startswith("#/"):
                self.problems.append(SpecProblem(child(path, "$ref"),
                                                 f"only local references (#/...) are supported, not {ref!r}"))
                return {}, path, name
            target: Any = self.doc
            for token in ref[2:].split("/"):
                token = token.replace("~1", "/").replace("~0", "~")
                if isinstance(target, dict) and token in target:
                    target = target[token]
                else:
                    self.problems.append(SpecProblem(child(path, "$ref"), f"{ref!r} points at nothing"))
                    return {}, path, name
            value, path, name = target, "$." + ".".join(ref[2:].split("/")), ref.rsplit("/", 1)[-1]
        self.problems.append(SpecProblem(path, "a $ref chain is too long (or loops)"))
        return {}, path, name

    def type_for(self, schema: Any, path: str, *, hint: str, depth: int = 0, top: bool = False) -> Any:
        """The Python type of ``schema`` (``hint`` names a generated model)."""
        if depth > MAX_SCHEMA_DEPTH:
            return Any
        ref_name = None
        if isinstance(schema, dict) and "$ref" in schema:
            ref = str(schema["$ref"])
            if ref in self._resolving:
                return Any  # recursion
            if ref in self._models:
                return self._models[ref]
            self._resolving.add(ref)
            try:
                target, target_path, ref_name = self.resolve(schema, path)
                made = self.type_for(target, target_path, hint=ref_name or hint, depth=depth + 1, top=top)
            finally:
                self._resolving.discard(ref)
            self._models[ref] = made
            return made
        if schema is True or schema is None or schema == {}:
            return Any
        if not isinstance(schema, dict):
            self.problems.append(SpecProblem(path, "a schema must be an object"))
            return Any
        made = self._plain_type(schema, path, hint=hint, depth=depth, top=top)
        return Optional[made] if _nullable(schema) and made is not Any else made  # noqa: UP045 - runtime type

    def _plain_type(self, schema: dict[str, Any], path: str, *, hint: str, depth: int, top: bool) -> Any:
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            values = tuple(v for v in schema["enum"] if isinstance(v, str | int | bool))
            if values and len(values) == len([v for v in schema["enum"] if v is not None]):
                return Literal[values]
        for key in ("oneOf", "anyOf"):
            if key in schema:
                return self._union(schema[key], child(path, key), hint=hint, depth=depth)
        if "allOf" in schema:
            return self._all_of(schema, path, hint=hint, depth=depth, top=top)
        kind = schema.get("type")
        if isinstance(kind, list):
            kinds = [k for k in kind if k != "null"]
            kind = kinds[0] if len(kinds) == 1 else None
            if kind is None:
                return Any
        if kind is None:
            kind = "object" if "properties" in schema else ("array" if "items" in schema else None)
        simple = {"string": str, "integer": int, "number": float, "boolean": bool, "null": type(None)}
        if kind in simple:
            return simple[kind]
        if kind == "array":
            items = self.type_for(schema.get("items", {}), child(path, "items"), hint=f"{hint}Item", depth=depth + 1)
            return list[items]  # type: ignore[valid-type]
        if kind == "object":
            return self._object(schema, path, hint=hint, depth=depth, top=top)
        if kind is not None:
            self.problems.append(SpecProblem(child(path, "type"), f"unknown type {kind!r}"))
        return Any

    def _union(self, options: Any, path: str, *, hint: str, depth: int) -> Any:
        if not isinstance(options, list) or not options:
            self.problems.append(SpecProblem(path, "must be a non-empty list of schemas"))
            return Any
        if len(options) > MAX_UNION:
            return Any
        types = [self.type_for(o, child(path, i), hint=f"{hint}Option{i + 1}", depth=depth + 1)
                 for i, o in enumerate(options)]
        if any(t is Any for t in types):
            return Any
        unique = list(dict.fromkeys(types))
        return unique[0] if len(unique) == 1 else Union[tuple(unique)]  # noqa: UP007 - runtime type

    def _all_of(self, schema: dict[str, Any], path: str, *, hint: str, depth: int, top: bool) -> Any:
        parts = schema["allOf"]
        if not isinstance(parts, list) or not parts:
            self.problems.append(SpecProblem(child(path, "allOf"), "must be a non-empty list of schemas"))
            return Any
        merged: dict[str, Any] = {"type": "object", "properties": {}, "required": []}
        for i, part in enumerate(parts):
            target, _, _ = self.resolve(part, child(child(path, "allOf"), i))
            if not isinstance(target, dict) or (target.get("type") not in (None, "object")):
                return Any
            merged["properties"].update(target.get("properties") or {})
            merged["required"].extend(target.get("required") or [])
        merged["properties"].update(schema.get("properties") or {})
        merged["required"].extend(schema.get("required") or [])
        return self._object(merged, path, hint=hint, depth=depth, top=top)

    def _object(self, schema: dict[str, Any], path: str, *, hint: str, depth: int, top: bool) -> Any:
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        if props is None or props == {}:
            if isinstance(extra, dict) and extra:
                value = self.type_for(extra, child(path, "additionalProperties"), hint=f"{hint}Value", depth=depth + 1)
                return dict[str, value]  # type: ignore[valid-type]
            return dict[str, Any]
        if not isinstance(props, dict):
            self.problems.append(SpecProblem(child(path, "properties"), "must be an object of schemas"))
            return dict[str, Any]
        required = schema.get("required") or []
        if not isinstance(required, list):
            self.problems.append(SpecProblem(child(path, "required"), "must be a list of property names"))
            required = []
        forbid = extra is False or (self.input and top)
        fields: dict[str, Any] = {}
        used: set[str] = set()
        for name, prop in props.items():
            py = unique_identifier(name, used)
            prop_path = child(child(path, "properties"), name)
            typ = self.type_for(prop, prop_path, hint=f"{hint}{model_name(name)}", depth=depth + 1)
            fields[py] = field_definition(typ, prop, self.resolve(prop, prop_path)[0], alias=name,
                                          required=name in required)
        config = ConfigDict(extra="forbid" if forbid else "allow", populate_by_name=True)
        return create_model(model_name(hint) or "Model", __config__=config, **fields)


def unique_identifier(name: str, used: set[str]) -> str:
    """``identifier(name)``, suffixed until it is not in ``used`` (which it joins)."""
    base = identifier(name)
    candidate, n = base, 2
    while candidate in used:
        candidate, n = f"{base}_{n}", n + 1
    used.add(candidate)
    return candidate


def field_definition(typ: Any, raw: Any, resolved: Any, *, alias: str, required: bool) -> tuple[Any, Any]:
    """A ``(type, Field(...))`` pair for ``create_model``: description, default, alias."""
    info = resolved if isinstance(resolved, dict) else {}
    own = raw if isinstance(raw, dict) else {}
    description = own.get("description") or info.get("description")
    kwargs: dict[str, Any] = {"alias": alias} if identifier(alias) != alias else {}
    if description:
        kwargs["description"] = str(description)[:500]
    if required:
        return typ, Field(..., **kwargs)
    if "default" in info and _json_scalar(info["default"]):
        return typ, Field(info["default"], **kwargs)
    return Optional[typ], Field(None, **kwargs)  # noqa: UP045 - runtime type


def _json_scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _nullable(schema: dict[str, Any]) -> bool:
    kind = schema.get("type")
    return bool(schema.get("nullable")) or (isinstance(kind, list) and "null" in kind)


__all__ = [
    "DEFAULT_MAX_BYTES", "SchemaConverter", "SpecInvalidError", "SpecProblem", "child", "field_definition",
    "identifier", "load_document", "model_name", "unique_identifier",
]
