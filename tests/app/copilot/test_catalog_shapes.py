"""Typed field lists and output shapes of operations, as the copilot's context shows them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from app.copilot.catalog_shapes import input_fields, output_shape, type_of
from app.copilot.context import ContextBuilder, Retriever, catalog_entries
from connectors.registry import default_registry
from prompts.loader import load

REGISTRY = default_registry(plugins=False)


class _Inner(BaseModel):
    n: int


class _Input(BaseModel):
    url: str
    method: Literal["GET", "POST"] = "GET"
    to: list[str] = []
    params: dict[str, Any] | list[dict[str, Any]] | None = None
    inner: _Inner | None = None
    anything: Any = None


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class _Empty(BaseModel):
    pass


def test_input_fields_name_each_type_and_mark_required_ones() -> None:
    assert input_fields(_Input) == ("url*: string, method: GET|POST, to: list of string, "
                                    "params: object or list of object, inner: object, anything: any")


def test_output_shapes_say_what_a_reference_can_read() -> None:
    assert output_shape(_Inner) == "n: integer"
    assert output_shape(_Open) == "the values it was given, by name"
    assert output_shape(_Empty) == "nothing"


def test_long_enums_and_constants() -> None:
    assert type_of({"enum": [str(i) for i in range(20)]}, {}) == "string"
    assert type_of({"const": "x"}, {}) == "'x'"
    assert type_of({"anyOf": [{"type": "null"}]}, {}) == "any"


def test_the_catalog_shows_http_status_and_body_so_conditions_can_reference_them() -> None:
    entries = {f"{e.connector}.{e.operation}": e for e in catalog_entries(REGISTRY)}
    http = entries["http.request"]
    assert "url*: string" in http.fields and "expected_status: list of integer" in http.fields
    assert "status: integer" in http.outputs and "body: any" in http.outputs
    assert "label: string" in entries["llm.classify"].outputs
    assert "rows: list of object" in entries["database.query"].outputs
    ctx = ContextBuilder(REGISTRY, Retriever(None)).build("fetch https://example.com/health and check the status")
    text = load("copilot.context").render(**ctx.variables())
    assert "Output: status: integer, ok: boolean" in text
    # the budget counts what is rendered: one catalog line costs about what the entry says
    line = next(row for row in text.splitlines() if row.startswith("- `http.request`"))
    assert abs(len(line) - len(http.rendered)) < 10
