"""``core.map``: map and convert fields declaratively — rename, pick nested values, convert types,
fill defaults, parse dates — for one object or a list of them, optionally checked against the
input model of the operation the result feeds (``target``).

A config::

    {"source": "{{ nodes.fetch.output.body.rows }}",
     "target": "slack.post_message",
     "fields": {"channel": {"value": "#sales"},
                "text": {"from": "customer.name", "type": "string", "default": "someone"},
                "amount": {"from": "total", "type": "number"},
                "due": {"from": "due_date", "type": "date", "format": "%d/%m/%Y"}}}

A field is ``{"from": PATH}`` (dot-separated; a number indexes a list), ``{"value": CONSTANT}`` or
just ``"PATH"``. Conversions never guess silently: a value that does not convert fails the step
naming the item and the field (``map_invalid``), or becomes ``null`` with ``on_error: "null"``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from connectors.contract import OperationContext
from connectors.errors import PermanentError

FieldType = Literal["any", "string", "integer", "number", "boolean", "date", "datetime", "json"]
MAX_ITEMS = 100_000
_TRUE = {"true", "yes", "y", "1", "on"}
_FALSE = {"false", "no", "n", "0", "off"}
_MISSING = object()
_THOUSANDS = re.compile(r"^[-+]?\d{1,3}(,\d{3})+(\.\d+)?$")


class MapField(BaseModel):
    """How one output field is made."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: str | None = Field(None, alias="from", min_length=1, max_length=500,
                              description="Dot path into the source item (a.b.0.c).")
    value: Any = Field(None, description="A constant instead of 'from'.")
    type: FieldType = Field("any", description="Convert to this type.")
    default: Any = Field(None, description="Used when the value is missing, null or an empty string.")
    format: str | None = Field(None, max_length=100, description="strptime format for date/datetime strings.")
    timezone: str | None = Field(None, max_length=64,
                                 description="date/datetime: IANA zone of values that carry none (default UTC).")
    required: bool = Field(False, description="Fail when the value is missing and there is no default.")
    trim: bool = Field(True, description="Strip surrounding whitespace from strings first.")

    @model_validator(mode="after")
    def _one_source(self) -> MapField:
        if self.from_ is not None and "value" in self.model_fields_set:
            raise ValueError("give 'from' or 'value', not both")
        if self.from_ is None and "value" not in self.model_fields_set:
            raise ValueError("give 'from' (a path into the source item) or 'value' (a constant)")
        if self.format is not None and self.type not in ("date", "datetime"):
            raise ValueError("'format' applies to type date or datetime only")
        if self.timezone is not None:
            if self.type not in ("date", "datetime"):
                raise ValueError("'timezone' applies to type date or datetime only")
            try:
                ZoneInfo(self.timezone)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone {self.timezone!r}") from None
        return self


class MapInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: Any = Field(description="An object or a list of objects (usually an expression).")
    fields: dict[str, MapField | str] = Field(min_length=1, max_length=500,
                                              description="Output field -> how to make it ('PATH' or an object).")
    target: str | None = Field(None, pattern=r"^([A-Za-z0-9_.-]+\.[A-Za-z0-9_]+|next)$",
                               description="connector.operation whose input the result must fit, or 'next': "
                                           "the action this step leads to (checked when the workflow is validated).")
    keep_unmapped: bool = Field(False, description="Copy the source's other top-level fields too.")
    on_error: Literal["fail", "null"] = Field("fail", description="A value that does not convert: fail, or null.")


class MapOutput(BaseModel):
    value: Any = Field(description="The mapped object, or list of objects (as the source).")
    count: int = Field(description="Items mapped.")


class ConversionError(ValueError):
    """A value did not convert to its field's type."""


def _field(spec: MapField | str | Mapping[str, Any]) -> MapField:
    if isinstance(spec, MapField):
        return spec
    return MapField.model_validate({"from": spec} if isinstance(spec, str) else spec)


def pick(item: Any, path: str) -> Any:
    """The value at a dot path (``_MISSING`` when a step of it is absent)."""
    current = item
    for part in path.split("."):
        if isinstance(current, Mapping) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.lstrip("-").isdigit() and -len(current) <= int(part) < len(current):
            current = current[int(part)]
        else:
            return _MISSING
    return current


def _number(value: Any) -> float:
    if isinstance(value, bool):
        raise ConversionError(f"{value!r} is a boolean, not a number")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        text = value.strip()
        if _THOUSANDS.match(text):  # 1,234,567.5 — never "1,5", which is 1.5 in half the world
            text = text.replace(",", "")
        try:
            number = float(text)
        except ValueError:
            raise ConversionError(f"{value!r} is not a number") from None
    else:
        raise ConversionError(f"{type(value).__name__} is not a number")
    if not math.isfinite(number):
        raise ConversionError(f"{value!r} is not a finite number")
    return number


def _integer(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    number = _number(value)
    if not number.is_integer():
        raise ConversionError(f"{value!r} is not a whole number")
    return int(number)


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
        return value.lower() in _TRUE
    raise ConversionError(f"{value!r} is not a yes/no value")


def _moment(value: Any, fmt: str | None, zone: str | None = None) -> datetime:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value / 1000 if abs(value) > 1e11 else value  # epoch milliseconds or seconds
        try:
            moment = datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            raise ConversionError(f"{value!r} is not a timestamp") from None
    elif isinstance(value, str):
        try:
            moment = datetime.strptime(value, fmt) if fmt else datetime.fromisoformat(value)
        except ValueError:
            expected = f"the format {fmt!r}" if fmt else "ISO 8601 (or give 'format')"
            raise ConversionError(f"{value!r} is not a date in {expected}") from None
    else:
        raise ConversionError(f"{type(value).__name__} is not a date")
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=ZoneInfo(zone) if zone else UTC)


def _json(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError as exc:
        raise ConversionError(f"not JSON: {exc}") from None


def _string(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).lower() if isinstance(value, bool) else str(value)


def _date(value: Any, spec: MapField) -> str:
    return _moment(value, spec.format, spec.timezone).date().isoformat()


def _datetime(value: Any, spec: MapField) -> str:
    return _moment(value, spec.format, spec.timezone).isoformat()


def _plain(convert_one: Callable[[Any], Any]) -> Callable[[Any, MapField], Any]:
    return lambda value, _spec: convert_one(value)


CONVERTERS: dict[str, Callable[[Any, MapField], Any]] = {
    "any": _plain(lambda value: value), "string": _plain(_string), "integer": _plain(_integer),
    "number": _plain(_number), "boolean": _plain(_boolean), "date": _date, "datetime": _datetime,
    "json": _plain(_json),
}


def convert(value: Any, spec: MapField) -> Any:
    """One field's value: trimmed, defaulted, converted (raises :class:`ConversionError`)."""
    if isinstance(value, str) and spec.trim:
        value = value.strip()
    if value is _MISSING or value is None or value == "":
        if spec.default is not None:
            value = spec.default
        elif spec.required:
            raise ConversionError("missing (no default)")
        else:
            return None
    return CONVERTERS[spec.type](value, spec)


def map_item(item: Any, fields: Mapping[str, MapField | str | Mapping[str, Any]], *, keep_unmapped: bool = False,
             on_error: str = "fail", where: str = "source") -> dict[str, Any]:
    """Map one source object."""
    if not isinstance(item, Mapping):
        raise PermanentError(f"{where} is {type(item).__name__}, not an object", code="map_invalid", path=where)
    out: dict[str, Any] = {}
    if keep_unmapped:  # the other fields: a renamed one is not kept under its old name too
        renamed = {_field(raw).from_ for raw in fields.values()} - set(fields)
        out = {k: v for k, v in item.items() if k not in renamed}
    for name, raw in fields.items():
        spec = _field(raw)
        value = spec.value if spec.from_ is None else pick(item, spec.from_)
        try:
            out[name] = convert(value, spec)
        except ConversionError as exc:
            if on_error == "null" and not spec.required:
                out[name] = None
                continue
            origin = f"'{spec.from_}'" if spec.from_ is not None else "its value"
            raise PermanentError(f"{where}: field {name!r} (from {origin}, type {spec.type}): {exc}",
                                 code="map_invalid", path=f"{where}", field=name) from None
    return out


async def run_map(inp: MapInput, ctx: OperationContext) -> MapOutput:  # noqa: ARG001
    """The operation: map the source object, or each object of the source list."""
    kwargs: dict[str, Any] = {"keep_unmapped": inp.keep_unmapped, "on_error": inp.on_error}
    if isinstance(inp.source, list):
        if len(inp.source) > MAX_ITEMS:
            raise PermanentError(f"source has {len(inp.source)} items; core.map takes at most {MAX_ITEMS}",
                                 code="map_invalid")
        items = [map_item(item, inp.fields, where=f"source[{i}]", **kwargs) for i, item in enumerate(inp.source)]
        return MapOutput(value=items, count=len(items))
    return MapOutput(value=map_item(inp.source, inp.fields, **kwargs), count=1)


# A value of each declared type, to ask the target model whether it takes that type at all.
_SAMPLES: dict[str, Any] = {"string": "x", "date": "2026-01-05", "datetime": "2026-01-05T09:30:00+00:00",
                            "integer": 1, "number": 1.5, "boolean": True}


def _type_refused(model: type[BaseModel], name: str, declared: str) -> bool:
    """True when ``model`` refuses a value of the declared type for field ``name`` for its type
    (not for its range, pattern or other constraints: those depend on the value)."""
    if declared not in _SAMPLES:
        return False
    try:
        model.model_validate({name: _SAMPLES[declared]})
    except ValidationError as exc:
        return any(err["loc"][:1] == (name,) and err["type"].endswith(("_type", "_parsing"))
                   and len(err["loc"]) == 1 for err in exc.errors())
    return False


def _resolve_target(target: str, successors: Sequence[Mapping[str, Any]]) -> str | None:
    if target != "next":
        return target
    actions = [n for n in successors if n.get("type") == "action"]
    if len(successors) != 1 or len(actions) != 1:
        return None
    return f"{actions[0].get('connector')}.{actions[0].get('operation')}"


def check_target(config: Mapping[str, Any], catalog: Any,
                 successors: Sequence[Mapping[str, Any]] = ()) -> list[tuple[str, str, str]]:
    """Validation (before any run): the mapped fields fit the input model of ``target`` (an
    operation, or ``next``: the one action this step leads to) — no field it does not take, none it
    requires left out, no declared type it does not accept. Returns ``(path under config, code,
    message)`` per problem."""
    target, fields = config.get("target"), config.get("fields")
    if not isinstance(target, str) or not isinstance(fields, dict) or catalog is None:
        return []
    resolved = _resolve_target(target, successors)
    if resolved is None:
        return [(".target", "map_target_unknown",
                 "target 'next' needs exactly one next step, an action (an edge from this step to it)")]
    connector, _, operation = resolved.rpartition(".")
    spec = catalog.operation(connector, operation) if hasattr(catalog, "operation") else None
    if spec is None:
        return [(".target", "map_target_unknown", f"unknown target operation {resolved!r}")]
    model: type[BaseModel] = spec.input_model
    by_name = {(info.alias or name): info for name, info in model.model_fields.items()}
    problems: list[tuple[str, str, str]] = []
    for name, raw in fields.items():
        if name not in by_name:
            if model.model_config.get("extra") == "forbid":
                problems.append((f".fields.{name}", "map_target_field_unknown",
                                 f"{resolved} takes no field {name!r} (it takes {', '.join(sorted(by_name))})"))
            continue
        declared = str(raw.get("type", "any")) if isinstance(raw, Mapping) else "any"
        if _type_refused(model, name, declared):
            shown = by_name[name].annotation
            problems.append((f".fields.{name}.type", "map_target_type_mismatch",
                             f"{resolved} does not take {name!r} as {declared} (it takes "
                             f"{getattr(shown, '__name__', None) or shown})"))
    if not config.get("keep_unmapped"):
        for name, info in by_name.items():
            if info.is_required() and name not in fields:
                problems.append((".fields", "map_target_field_missing",
                                 f"{resolved} requires {name!r}, which is not mapped"))
    return problems


__all__ = ["MapField", "MapInput", "MapOutput", "check_target", "convert", "map_item", "pick", "run_map"]
