"""core.map: renames, nested picks, conversions, defaults and dates, one object or a list; the
failures name the item and the field; a workflow runs it on the real runtime."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from connectors import core
from connectors.core_map import MapField, MapInput, map_item
from connectors.errors import PermanentError
from tests.connectors.conftest import Ctx
from tests.engine.runtime_helpers import runtime_at

run_map = core.CONNECTOR.operation("map")
assert run_map is not None


async def mapped(source: Any, fields: dict[str, Any], **more: Any) -> Any:
    out = await run_map.run(MapInput.model_validate({"source": source, "fields": fields, **more}), Ctx())
    return out.model_dump()


async def test_rename_pick_convert_and_default() -> None:
    row = {"customer": {"name": " Ada ", "tags": ["vip", "eu"]}, "total": "1,234.50", "qty": "3", "paid": "yes",
           "note": "", "meta": '{"source": "web"}'}
    out = await mapped(row, {
        "name": "customer.name", "first_tag": "customer.tags.0",
        "amount": {"from": "total", "type": "number"}, "quantity": {"from": "qty", "type": "integer"},
        "paid": {"from": "paid", "type": "boolean"}, "note": {"from": "note", "default": "none"},
        "meta": {"from": "meta", "type": "json"}, "label": {"from": "qty", "type": "string"},
        "currency": {"value": "EUR"}, "missing": "nowhere.at.all",
    })
    assert out == {"count": 1, "value": {
        "name": "Ada", "first_tag": "vip", "amount": 1234.5, "quantity": 3, "paid": True, "note": "none",
        "meta": {"source": "web"}, "label": "3", "currency": "EUR", "missing": None}}


async def test_dates_with_formats_zones_and_epochs() -> None:
    row = {"eu": "05/01/2026", "iso": "2026-01-05T09:30:00Z", "local": "2026-01-05 09:30", "ms": 1767605400000,
           "s": 1767605400}
    out = await mapped(row, {
        "eu": {"from": "eu", "type": "date", "format": "%d/%m/%Y"},
        "iso": {"from": "iso", "type": "datetime"},
        "berlin": {"from": "local", "type": "datetime", "timezone": "Europe/Berlin"},
        "day": {"from": "iso", "type": "date"},
        "ms": {"from": "ms", "type": "datetime"}, "s": {"from": "s", "type": "datetime"},
    })
    assert out["value"] == {"eu": "2026-01-05", "iso": "2026-01-05T09:30:00+00:00",
                            "berlin": "2026-01-05T09:30:00+01:00", "day": "2026-01-05",
                            "ms": "2026-01-05T09:30:00+00:00", "s": "2026-01-05T09:30:00+00:00"}


async def test_a_list_is_mapped_item_by_item_and_a_bad_value_names_item_and_field() -> None:
    rows = [{"id": "1", "total": "10"}, {"id": "2", "total": "ten"}]
    fields = {"id": {"from": "id", "type": "integer"}, "total": {"from": "total", "type": "number"}}
    with pytest.raises(PermanentError) as failed:
        await mapped(rows, fields)
    assert failed.value.code == "map_invalid"
    assert "source[1]" in str(failed.value) and "'total'" in str(failed.value) and "'ten' is not a number" in str(failed.value)
    out = await mapped(rows, fields, on_error="null")
    assert out == {"count": 2, "value": [{"id": 1, "total": 10.0}, {"id": 2, "total": None}]}


async def test_required_fields_and_guesses_it_refuses() -> None:
    with pytest.raises(PermanentError, match="'email'.*missing"):
        await mapped({"name": "x"}, {"email": {"from": "email", "required": True}})
    for value, kind in (("1,5", "number"), ("2.5", "integer"), ("maybe", "boolean"), (True, "number"),
                        ("5 Jan", "date")):
        with pytest.raises(PermanentError, match="map_invalid|not"):
            await mapped({"v": value}, {"v": {"from": "v", "type": kind}})
    with pytest.raises(PermanentError, match="not an object"):
        await mapped([{"a": 1}, 7], {"a": "a"})


async def test_keep_unmapped_copies_the_rest_and_drops_renamed_names() -> None:
    out = await mapped({"full_name": "Ada", "email": "ada@example.com", "age": "36"},
                       {"name": "full_name", "age": {"from": "age", "type": "integer"}}, keep_unmapped=True)
    assert out["value"] == {"email": "ada@example.com", "name": "Ada", "age": 36}


def test_field_specs_are_checked() -> None:
    for bad in ({"from": "a", "value": 1}, {}, {"from": "a", "format": "%Y"}, {"from": "a", "type": "date",
                                                                               "timezone": "Mars/Olympus"}):
        with pytest.raises(ValidationError):
            MapField.model_validate(bad)
    assert map_item({"a": {"b": [1, 2]}}, {"last": "a.b.-1"}) == {"last": 2}


async def test_a_workflow_maps_webhook_rows_for_the_next_step(tmp_path: Path) -> None:
    workflow = {"name": "map", "nodes": [
        {"id": "start", "type": "trigger", "kind": "manual"},
        {"id": "tidy", "type": "action", "connector": "core", "operation": "map",
         "config": {"source": "{{ trigger.orders }}", "fields": {
             "ref": "id", "amount": {"from": "total", "type": "number"},
             "placed": {"from": "when", "type": "date", "format": "%d.%m.%Y"}}}},
        {"id": "sum", "type": "action", "connector": "core", "operation": "transform",
         "config": {"expression": "$sum(nodes.tidy.value.amount) & ' ' & nodes.tidy.value[0].placed"}},
    ], "edges": [{"source": "start", "target": "tidy"}, {"source": "tidy", "target": "sum"}]}
    async with runtime_at(tmp_path / "fw.db") as runtime:
        done = await runtime.run(workflow, {"orders": [{"id": "A", "total": "12.5", "when": "03.02.2026"},
                                                      {"id": "B", "total": "7", "when": "04.02.2026"}]})
    assert done["status"] == "completed", done
    assert done["output"] == {"value": "19.5 2026-02-03"}
