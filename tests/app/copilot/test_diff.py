"""Diffs between workflow versions."""

from __future__ import annotations

from app.copilot.diff import diff_workflows
from engine.workflow import Workflow
from tests.engine.workflows import digest


def test_diff_added_removed_changed_and_nested() -> None:
    old = Workflow.model_validate(digest())
    data = digest()
    data["nodes"] = [n for n in data["nodes"] if n["id"] != "send_digest"]
    data["edges"] = [e for e in data["edges"] if e["target"] != "send_digest"]
    data["nodes"][0]["config"]["cron"] = "0 9 * * 5"
    data["nodes"][3]["body"]["nodes"][0]["config"]["message"] = "changed"
    data["nodes"].append({"id": "extra", "type": "action", "connector": "core", "operation": "log",
                          "config": {"message": "x"}})
    data["edges"].append({"source": "fetch_sales", "target": "extra"})
    diff = diff_workflows(old, Workflow.model_validate(data))
    assert diff.added == ["extra"] and diff.removed == ["send_digest"]
    assert diff.changed == {"every_monday": ["config"], "tell_region": ["config"]}
    assert diff.edges_added == ["fetch_sales → extra"] and diff.edges_removed == ["fetch_sales → send_digest"]
    assert "added extra" in diff.summary() and "removed send_digest" in diff.summary()


def test_diff_from_nothing_and_of_identical_versions() -> None:
    wf = Workflow.model_validate(digest())
    first = diff_workflows(None, wf)
    assert set(first.added) == {"every_monday", "fetch_sales", "big_week", "each_region", "tell_region", "send_digest"}
    same = diff_workflows(wf, Workflow.model_validate(digest()))
    assert same.empty and same.summary() == "no change"
