import json
import sys
from pathlib import Path

import pytest

from connectors.registry import ENTRY_POINT_GROUP, default_registry

BUILTINS = {"core", "http", "email", "slack", "database", "datastore", "llm"}


def test_every_builtin_is_registered_with_a_complete_catalog() -> None:
    registry = default_registry(plugins=False)
    assert set(registry.names()) == BUILTINS
    catalog = json.loads(json.dumps(registry.catalog()))
    for entry in catalog:
        assert entry["description"] and entry["icon"] and entry["operations"], entry["name"]
        for op in entry["operations"]:
            assert len(op["description"]) > 20, (entry["name"], op["name"])
            assert op["input_schema"]["type"] == "object"
            assert op["output_schema"]["type"] == "object"
    destructive = {(c["name"], op["name"]) for c in catalog for op in c["operations"] if op["destructive"]}
    assert destructive == {("database", "execute"), ("datastore", "delete")}
    internal = {c["name"] for c in catalog for op in c["operations"] if not op["external"]}
    assert internal == {"core", "datastore"}


def test_entry_point_plugins_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A third-party package registers a connector through the entry-point group."""
    (tmp_path / "fw_weather.py").write_text(
        "from pydantic import BaseModel\n"
        "from connectors.contract import AuthType, Connector, Operation\n"
        "class In(BaseModel):\n    city: str\n"
        "class Out(BaseModel):\n    temp_c: float\n"
        "async def now(inp, ctx):\n    return Out(temp_c=21.5)\n"
        "def connector():\n"
        "    return Connector('weather', 'Weather', 'Current weather.', 'data', '☀️', AuthType.NONE,\n"
        "                     (Operation('now', 'Current temperature for a city.', In, Out, now),))\n")
    dist = tmp_path / "fw_weather-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: fw-weather\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\nweather = fw_weather:connector\n"
                                           "broken = fw_weather:does_not_exist\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = default_registry()
    assert "weather" in registry.names()  # the broken plugin is logged and skipped
    assert registry.operation("weather", "now") is not None
    sys.modules.pop("fw_weather", None)
