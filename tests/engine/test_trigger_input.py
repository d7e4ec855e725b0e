"""A manual run's input as its trigger hands it on (engine/trigger_input.py)."""

from __future__ import annotations

from typing import Any

from engine.trigger_input import is_webhook_envelope, manual_input


def hook(**config: Any) -> dict[str, Any]:
    return {"nodes": [{"id": "t", "type": "trigger", "kind": "webhook", "config": config}], "edges": []}


def test_a_webhook_trigger_wraps_the_body_in_the_envelope() -> None:
    assert manual_input(hook(method="PUT", path="/orders/"), {"id": 7}) == {
        "body": {"id": 7}, "headers": {}, "query": {}, "method": "PUT", "path": "orders"}
    assert manual_input(hook(), [1, 2])["body"] == [1, 2]  # any JSON body
    envelope = {"body": {}, "headers": {"a": "b"}}
    assert manual_input(hook(), envelope) is envelope and is_webhook_envelope(envelope)
    assert manual_input(hook(), None) is None  # no input: the run's own default


def test_other_triggers_and_odd_documents_pass_the_input_through() -> None:
    manual = {"nodes": [{"id": "t", "type": "trigger", "kind": "manual"}]}
    assert manual_input(manual, {"body": 1}) == {"body": 1}
    assert manual_input({}, {"x": 1}) == {"x": 1}
    assert manual_input({"nodes": "?"}, {"x": 1}) == {"x": 1}
    assert not is_webhook_envelope({"body": {}}) and not is_webhook_envelope([])
