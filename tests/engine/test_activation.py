"""What activating a workflow makes fire: the preview of a polling trigger."""

from __future__ import annotations

from engine.activation import preview
from engine.workflow import Workflow


def test_preview_of_a_poll_trigger() -> None:
    wf = Workflow.model_validate({"schema_version": "1.1", "name": "p", "nodes": [
        {"id": "t", "type": "trigger", "kind": "poll", "connector": "database", "operation": "new_rows",
         "config": {"interval_s": 30, "per": "batch", "input": {"table": "orders", "cursor_column": "id"}}}]})
    shown = preview(wf, "wf_1")
    assert shown == {"kind": "poll", "connector": "database", "operation": "new_rows", "interval_s": 30,
                     "per": "batch", "start": "new",
                     "description": "polls database.new_rows every 30 s: one run per poll's batch of new items "
                                    "(only items that appear from now on)"}
