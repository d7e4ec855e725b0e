"""Hand-made workflows shared by the engine tests."""

from __future__ import annotations

import copy
from typing import Any

_DIGEST: dict[str, Any] = {
    "schema_version": "1",
    "name": "Weekly sales digest",
    "description": "Every Monday 09:00 Berlin time, compute sales, alert each big region, log a summary.",
    "nodes": [
        {"id": "every_monday", "type": "trigger", "kind": "schedule",
         "config": {"cron": "0 9 * * 1", "timezone": "Europe/Berlin"}},
        {"id": "fetch_sales", "type": "action", "connector": "core", "operation": "transform",
         "config": {"expression": "{'total': 20000, 'regions': [{'name': 'eu', 'total': 5}], 'summary': 'ok'}"},
         "retry": {"max_attempts": 3, "backoff": "exponential", "initial_delay_s": 1, "max_delay_s": 60},
         "timeout_s": 30},
        {"id": "big_week", "type": "condition", "config": {"expression": "nodes.fetch_sales.value.total > 10000"}},
        {"id": "each_region", "type": "loop",
         "config": {"items": "{{ nodes.fetch_sales.value.regions }}", "max_concurrency": 4},
         "body": {"nodes": [
             {"id": "tell_region", "type": "action", "connector": "core", "operation": "log",
              "config": {"message": "{{ item.name & ': ' & $string(item.total) }}"}}
         ], "edges": []}},
        {"id": "send_digest", "type": "action", "connector": "core", "operation": "log",
         "config": {"message": "{{ nodes.fetch_sales.value.summary }}"}},
    ],
    "edges": [
        {"source": "every_monday", "target": "fetch_sales"},
        {"source": "fetch_sales", "target": "big_week"},
        {"source": "big_week", "target": "each_region", "branch": "true"},
        {"source": "fetch_sales", "target": "send_digest"},
    ],
}


def digest() -> dict[str, Any]:
    """A valid workflow using every structural feature (fresh copy each call)."""
    return copy.deepcopy(_DIGEST)


def minimal() -> dict[str, Any]:
    return {
        "schema_version": "1",
        "name": "Minimal",
        "nodes": [
            {"id": "start", "type": "trigger", "kind": "manual"},
            {"id": "say", "type": "action", "connector": "core", "operation": "log", "config": {"message": "hi"}},
        ],
        "edges": [{"source": "start", "target": "say"}],
    }


def nested_loops(depth: int) -> dict[str, Any]:
    """A manual workflow whose loops nest ``depth`` deep around one log step."""
    body: dict[str, Any] = {"nodes": [{"id": "say", "type": "action", "connector": "core", "operation": "log",
                                       "config": {"message": "{{ item }}"}}], "edges": []}
    for level in range(depth):
        body = {"nodes": [{"id": f"loop_{level}", "type": "loop", "config": {"items": "{{ [1] }}"}, "body": body}],
                "edges": []}
    wf = minimal()
    wf["name"] = f"Loops {depth}"
    wf["nodes"] = [wf["nodes"][0], *body["nodes"]]
    wf["edges"] = [{"source": "start", "target": f"loop_{depth - 1}"}]
    return wf
