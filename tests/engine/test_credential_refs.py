"""credential_refs: the credential names a workflow uses, with the nodes using them."""

from __future__ import annotations

from engine.credential_refs import credential_refs


def test_actions_loop_bodies_and_webhook_signing_are_counted() -> None:
    definition = {
        "nodes": [
            {"id": "hook", "type": "trigger", "kind": "webhook", "config": {"signing": {"credential": "hook-secret"}}},
            {"id": "post", "type": "action", "connector": "slack", "operation": "post_message", "credential": "slack"},
            {"id": "each", "type": "loop", "config": {"items": "{{ trigger.body }}"},
             "body": {"nodes": [{"id": "tell", "type": "action", "connector": "slack", "operation": "post_message",
                                 "credential": "slack"},
                                {"id": "plain", "type": "action", "connector": "core", "operation": "log"}]}},
        ],
        "edges": [],
    }
    assert credential_refs(definition) == {"hook-secret": ["hook"], "slack": ["post", "each/tell"]}


def test_odd_shapes_are_skipped_not_fatal() -> None:
    assert credential_refs({}) == {}
    assert credential_refs({"nodes": "x"}) == {}
    assert credential_refs({"nodes": [1, {"id": "a", "credential": 5, "config": {"signing": "s"}, "body": []}]}) == {}
