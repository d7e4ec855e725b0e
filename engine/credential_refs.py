"""Which vault credentials a workflow definition names: an action's ``credential`` and a webhook
trigger's ``config.signing.credential``, inside loop bodies too. Read from the stored JSON (not
the parsed model), so a version saved before a format change is still counted."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def credential_refs(definition: Mapping[str, Any]) -> dict[str, list[str]]:
    """Each credential name the definition uses, with the ids of the nodes using it (a loop
    body's node as ``loop/node``), in document order."""
    found: dict[str, list[str]] = {}

    def note(name: Any, node_key: str) -> None:
        if isinstance(name, str) and name:
            keys = found.setdefault(name, [])
            if node_key not in keys:
                keys.append(node_key)

    def walk(graph: Mapping[str, Any], prefix: str) -> None:
        nodes = graph.get("nodes")
        for node in nodes if isinstance(nodes, list) else []:
            if not isinstance(node, Mapping):
                continue
            key = f"{prefix}{node.get('id')}"
            note(node.get("credential"), key)
            config = node.get("config")
            signing = config.get("signing") if isinstance(config, Mapping) else None
            if isinstance(signing, Mapping):
                note(signing.get("credential"), key)
            body = node.get("body")
            if isinstance(body, Mapping):
                walk(body, f"{key}/")

    walk(definition, "")
    return found
