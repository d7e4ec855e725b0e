"""Dry-run samples: deterministic, schema-valid outputs for any operation's output model."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from connectors.registry import default_registry
from engine.dry_run import sample_from_schema, sample_output


class Inner(BaseModel):
    code: str = Field(pattern=r"^[A-Z]{3}$", default="ABC")
    n: int = Field(ge=5, le=9)


class Rich(BaseModel):
    when: datetime
    kind: Literal["x", "y"]
    inner: Inner
    many: list[Inner] = Field(min_length=2)
    maybe: float | None
    anything: Any = None
    mapping: dict[str, int] = {}


def test_samples_validate_and_are_deterministic() -> None:
    first = sample_output(Rich)
    assert isinstance(first, Rich)
    assert first.model_dump() == sample_output(Rich).model_dump()
    assert 5 <= first.inner.n <= 9 and len(first.many) == 2


def test_every_builtin_operation_gets_a_valid_sample() -> None:
    for connector in default_registry(plugins=False):
        for op in connector.operations:
            sample = sample_output(op.output_model)
            op.output_model.model_validate(sample.model_dump(mode="json"))


def test_schema_keywords() -> None:
    assert sample_from_schema({"type": "string", "format": "email"}) == "sample@example.com"
    assert sample_from_schema({"type": "integer", "minimum": 3}) == 3
    assert sample_from_schema({"enum": ["b", "a"]}) == "b"
    assert sample_from_schema({"type": "array", "items": {"type": "boolean"}, "minItems": 3}) == [True, True, True]
    assert sample_from_schema({"anyOf": [{"type": "null"}, {"type": "number"}]}) == 1.0
    assert len(sample_from_schema({"type": "string", "minLength": 10})) == 10


def test_untyped_values_get_samples_later_steps_can_use() -> None:
    schema = {"type": "object", "properties": {"total": {}, "customer_email": {}, "note": {}, "body": {},
                                               "items": {}, "optional_count": {"default": None}},
              "required": ["total"]}
    assert sample_from_schema(schema) == {"total": 1, "customer_email": "sample@example.com", "note": "sample",
                                          "body": None, "items": [], "optional_count": 1}
