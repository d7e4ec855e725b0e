"""The deterministic repair pass."""

from __future__ import annotations

from app.copilot.repair import repair
from connectors.registry import default_registry
from tests.engine.workflows import digest, minimal

REGISTRY = default_registry(plugins=False)


def test_repairs_what_validation_can_name() -> None:
    doc = minimal()
    doc["nodes"][1]["connector"] = "cor"  # did you mean 'core'?
    doc["nodes"][1]["config"]["colour"] = "red"
    doc["nodes"].append({"id": "lost", "type": "action", "connector": "core", "operation": "log",
                         "config": {"message": "x"}, "on_error": "route"})
    doc["edges"] += [{"source": "say", "target": "ghost"}, {"source": "start", "target": "say"}]
    result = repair(doc, REGISTRY)
    assert result.ok, [p.to_dict() for p in result.problems]
    assert result.document["nodes"][1]["connector"] == "core"
    assert "colour" not in result.document["nodes"][1]["config"]
    assert {"source": "start", "target": "lost"} in result.document["edges"]
    assert result.document["nodes"][2]["on_error"] == "fail"
    assert len(result.fixed) >= 5
    assert doc["nodes"][1]["connector"] == "cor"  # the input is left alone


def test_timezone_branch_and_cycle() -> None:
    doc = digest()
    doc["nodes"][0]["config"]["timezone"] = "Europe/Berln"
    doc["edges"].append({"source": "fetch_sales", "target": "send_digest", "branch": "yes"})
    doc["edges"].append({"source": "send_digest", "target": "fetch_sales"})
    result = repair(doc, REGISTRY)
    assert result.ok, [p.to_dict() for p in result.problems]
    assert result.document["nodes"][0]["config"]["timezone"] == "Europe/Berlin"


def test_what_cannot_be_fixed_is_reported() -> None:
    doc = minimal()
    doc["nodes"][1]["config"]["message"] = "{{ nodes.nowhere.x }}"
    result = repair(doc, REGISTRY)
    assert not result.ok and result.problems[0].code == "unknown_reference"
