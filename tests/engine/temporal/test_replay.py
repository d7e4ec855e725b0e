"""Replay every committed history of the interpreter (``tests.engine.temporal.histories``) with
Temporal's ``Replayer``: the current interpreter must issue the same commands for them (it is
deterministic, and in-flight executions survive a deploy). No server needed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from engine.temporal.interpreter import FlowwrightInterpreter
from tests.engine.temporal.histories import HISTORIES, scenarios

FILES = sorted(HISTORIES.glob("*.json"))


def test_every_scenario_has_a_committed_history() -> None:
    assert {f.stem for f in FILES} == set(scenarios())


def test_the_histories_cover_every_node_type_and_signal() -> None:
    import base64

    types: set[str] = set()
    signals: set[str] = set()
    kinds: set[str] = set()
    for path in FILES:
        for event in json.loads(path.read_text(encoding="utf-8"))["history"]["events"]:
            kinds.add(event["eventType"])
            attrs = event.get("workflowExecutionStartedEventAttributes")
            if attrs:
                payload = json.loads(base64.b64decode(attrs["input"]["payloads"][0]["data"]))
                stack = list(payload["definition"]["nodes"])
                while stack:
                    node = stack.pop()
                    types.add(node["type"])
                    stack.extend((node.get("body") or {}).get("nodes", []))
            signal = event.get("workflowExecutionSignaledEventAttributes")
            if signal:
                signals.add(signal["signalName"])
    assert types == {"trigger", "action", "condition", "switch", "loop", "merge", "guardrail"}
    assert signals == {"pause", "resume", "decide"}
    assert "EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED" in kinds  # core.run_workflow's child workflows


@pytest.mark.parametrize("path", FILES, ids=[f.stem for f in FILES])
async def test_history_replays_on_the_current_interpreter(path: Path) -> None:
    recorded = json.loads(path.read_text(encoding="utf-8"))
    history = WorkflowHistory.from_json(recorded["workflow_id"], recorded["history"])
    result = await Replayer(workflows=[FlowwrightInterpreter]).replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name}: {result.replay_failure}"
