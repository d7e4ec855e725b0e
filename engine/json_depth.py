"""How deep a JSON value nests, measured without recursion (a hostile document cannot blow the stack).

Used by the HTTP edge (every JSON request body) and by workflow validation (loops nested in loops):
both answer with the JSON path of the first place that goes too deep, so the caller can find it.
"""

from __future__ import annotations

from typing import Any

MAX_LOOP_NESTING = 10
"""Loops inside loops a workflow may nest (each level multiplies the work of the ones around it)."""
MAX_DOCUMENT_DEPTH = 100
"""Levels of objects and arrays a workflow document may nest (serialisers give up near 255)."""


def too_deep(value: Any, limit: int, prefix: str = "$") -> str | None:
    """The JSON path of the first container nested deeper than ``limit`` levels, or ``None``.

    The outermost object or array is level 1, so ``{"a": [1]}`` is 2 deep.
    """
    stack: list[tuple[Any, str, int]] = [(value, prefix, 1)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, dict):
            children = [(v, f"{path}.{k}", depth + 1) for k, v in item.items() if isinstance(v, dict | list)]
        elif isinstance(item, list):
            children = [(v, f"{path}[{i}]", depth + 1) for i, v in enumerate(item) if isinstance(v, dict | list)]
        else:
            continue
        if depth > limit:
            return path
        stack.extend(reversed(children))
    return None


def loop_too_deep(document: Any, limit: int = MAX_LOOP_NESTING) -> tuple[str, int] | None:
    """The path of the first loop nested more than ``limit`` loops deep in a workflow document
    (``$.nodes[1].body.nodes[0]...``) and how deep loops go there, or ``None``. Reads the raw JSON,
    so it runs before (and instead of) model validation of a document that would exhaust it."""
    stack: list[tuple[Any, str, int]] = [(document, "$", 0)]
    while stack:
        graph, path, depth = stack.pop()
        nodes = graph.get("nodes") if isinstance(graph, dict) else None
        if not isinstance(nodes, list):
            continue
        for i, node in reversed(list(enumerate(nodes))):
            if isinstance(node, dict) and node.get("type") == "loop":
                if depth + 1 > limit:
                    return f"{path}.nodes[{i}]", depth + _deepest_loop(node)
                stack.append((node.get("body"), f"{path}.nodes[{i}].body", depth + 1))
    return None


def _deepest_loop(loop: dict[str, Any]) -> int:
    deepest, stack = 0, [(loop, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        body = node.get("body")
        nodes = body.get("nodes") if isinstance(body, dict) else None
        for child in nodes if isinstance(nodes, list) else []:
            if isinstance(child, dict) and child.get("type") == "loop":
                stack.append((child, depth + 1))
    return deepest
