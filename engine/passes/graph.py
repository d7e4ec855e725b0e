"""Graph editing for the passes: a workflow's JSON form, walked and changed in place.

Passes copy the workflow into its canonical JSON (``Workflow.to_json_dict``), edit that copy with
these helpers, and validate the result back into a ``Workflow`` — so a pass never mutates its
input. Node ids are kept unique across the whole workflow (loop bodies included), because the
expression scope ``nodes.<id>`` is shared by every level.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from engine.expressions import TEMPLATE_RE
from engine.workflow import Workflow

Graph = dict[str, Any]
NodeDict = dict[str, Any]

_ID_MAX = 64


def is_inserted_guard(node: NodeDict) -> bool:
    """A guardrail the passes inserted (``origin: guardrail``). Guardrails a model or a person wrote
    never stand in for the passes' own: their config could be a no-op (``{"kinds": []}``)."""
    return node.get("type") == "guardrail" and node.get("origin") == "guardrail"


class Editor:
    """A mutable copy of a workflow plus the helpers passes share."""

    def __init__(self, workflow: Workflow) -> None:
        self.data: dict[str, Any] = workflow.to_json_dict()
        self.data.setdefault("edges", [])

    # --- reading -------------------------------------------------------------------------

    def graphs(self) -> Iterator[tuple[Graph, NodeDict | None]]:
        """Every graph (the workflow, then loop bodies) with the loop node that owns it."""
        stack: list[tuple[Graph, NodeDict | None]] = [(self.data, None)]
        while stack:
            graph, owner = stack.pop(0)
            graph.setdefault("edges", [])
            yield graph, owner
            for node in graph.get("nodes", []):
                if node.get("type") == "loop" and isinstance(node.get("body"), dict):
                    stack.append((node["body"], node))

    def all_nodes(self) -> Iterator[tuple[NodeDict, Graph, NodeDict | None]]:
        """Every node with its graph and the loop that owns the graph (None at the top level)."""
        for graph, owner in self.graphs():
            for node in graph.get("nodes", []):
                yield node, graph, owner

    def ids(self) -> set[str]:
        return {node["id"] for node, _, _ in self.all_nodes()}

    def node(self, node_id: str) -> NodeDict | None:
        return next((n for n, _, _ in self.all_nodes() if n["id"] == node_id), None)

    @property
    def trigger(self) -> NodeDict:
        return next(n for n in self.data["nodes"] if n.get("type") == "trigger")

    @staticmethod
    def outgoing(graph: Graph, node_id: str, *, errors: bool = False) -> list[dict[str, Any]]:
        return [e for e in graph["edges"] if e["source"] == node_id and (errors or e.get("branch") != "error")]

    @staticmethod
    def incoming(graph: Graph, node_id: str) -> list[dict[str, Any]]:
        return [e for e in graph["edges"] if e["target"] == node_id]

    @staticmethod
    def by_id(graph: Graph, node_id: str) -> NodeDict | None:
        return next((n for n in graph["nodes"] if n["id"] == node_id), None)

    def guard_chain_after(self, graph: Graph, node_id: str) -> list[NodeDict]:
        """Inserted guardrails that directly follow ``node_id`` one after another (its only
        plain successor, that node's only plain successor, and so on)."""
        chain: list[NodeDict] = []
        current = node_id
        while True:
            out = self.outgoing(graph, current)
            if len(out) != 1:
                return chain
            nxt = self.by_id(graph, out[0]["target"])
            if nxt is None or not is_inserted_guard(nxt) or len(self.incoming(graph, nxt["id"])) != 1:
                return chain
            chain.append(nxt)
            current = nxt["id"]

    def guard_before(self, graph: Graph, node_id: str, kind: str) -> NodeDict | None:
        """A guardrail of ``kind`` that is the only way into ``node_id`` (through other guards)."""
        current = node_id
        while True:
            into = self.incoming(graph, current)
            if len(into) != 1:
                return None
            prev = self.by_id(graph, into[0]["source"])
            if prev is None or not is_inserted_guard(prev):
                return None
            if prev.get("kind") == kind:
                return prev
            current = prev["id"]

    # --- writing -------------------------------------------------------------------------

    def unique_id(self, base: str) -> str:
        base = re.sub(r"[^a-z0-9_]+", "_", base.lower()).strip("_")[:_ID_MAX] or "guard"
        if not base[0].isalpha():
            base = f"g_{base}"[:_ID_MAX]
        taken = self.ids()
        candidate, n = base, 2
        while candidate in taken:
            suffix = f"_{n}"
            candidate = base[: _ID_MAX - len(suffix)] + suffix
            n += 1
        return candidate

    def insert_after(self, graph: Graph, node_id: str, new: NodeDict) -> NodeDict:
        """Put ``new`` between ``node_id`` and all its plain successors (error edges stay)."""
        for edge in self.outgoing(graph, node_id):
            edge["source"] = new["id"]
            edge.pop("branch", None)  # only plain edges leave the nodes that get guards after them
        graph["nodes"].insert(self._position(graph, node_id) + 1, new)
        graph["edges"].append({"source": node_id, "target": new["id"]})
        return new

    def insert_before(self, graph: Graph, node_id: str, new: NodeDict) -> NodeDict:
        """Put ``new`` between all the edges into ``node_id`` (branches kept) and ``node_id``."""
        for edge in self.incoming(graph, node_id):
            edge["target"] = new["id"]
        graph["nodes"].insert(self._position(graph, node_id), new)
        graph["edges"].append({"source": new["id"], "target": node_id})
        return new

    @staticmethod
    def _position(graph: Graph, node_id: str) -> int:
        return next(i for i, n in enumerate(graph["nodes"]) if n["id"] == node_id)

    def result(self) -> Workflow:
        """The edited workflow, edges in a canonical order (by node position; error edges last)
        so that the same graph always serialises the same way, whatever edits produced it."""
        for graph, _ in self.graphs():
            position = {n["id"]: i for i, n in enumerate(graph.get("nodes", []))}
            graph["edges"].sort(key=lambda e: (e.get("branch") == "error", position.get(e["source"], -1),
                                               position.get(e["target"], -1), e.get("branch") or ""))
        return Workflow.model_validate(self.data)


def guardrail(node_id: str, kind: str, config: dict[str, Any], reason: str, name: str | None = None) -> NodeDict:
    """A guardrail node as the passes insert it."""
    node: NodeDict = {"id": node_id, "type": "guardrail", "kind": kind, "config": config,
                      "origin": "guardrail", "reason": reason}
    if name:
        node["name"] = name
    return node


# --- expressions -----------------------------------------------------------------------------

_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")


def _outside_quotes(source: str, pattern: re.Pattern[str], repl: str) -> str:
    out, last = [], 0
    for match in _QUOTED.finditer(source):
        out.append(pattern.sub(repl, source[last : match.start()]))
        out.append(match.group(0))
        last = match.end()
    out.append(pattern.sub(repl, source[last:]))
    return "".join(out)


def _ref_pattern(root: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w$.]){re.escape(root)}\b")


def refers_to(value: Any, root: str) -> bool:
    """True when a config value has an expression that reads ``root`` (``trigger``, ``nodes.x``)."""
    pattern = _ref_pattern(root)
    for text in _strings(value):
        for source in (m.group(1) for m in TEMPLATE_RE.finditer(text)):
            if pattern.search(_QUOTED.sub("''", source)):
                return True
    return False


def rewrite_refs(value: Any, root: str, replacement: str) -> Any:
    """Replace reads of ``root`` by ``replacement`` inside every ``{{ }}`` of a config value."""
    pattern = _ref_pattern(root)

    def fix(text: str) -> str:
        return TEMPLATE_RE.sub(lambda m: "{{" + _outside_quotes(m.group(1), pattern, replacement) + "}}", text)

    if isinstance(value, str):
        return fix(value)
    if isinstance(value, dict):
        return {k: rewrite_refs(v, root, replacement) for k, v in value.items()}
    if isinstance(value, list):
        return [rewrite_refs(v, root, replacement) for v in value]
    return value


def node_refs(value: Any) -> set[str]:
    """Node ids read as ``nodes.<id>`` in a config value (templates and bare expressions)."""
    found: set[str] = set()
    pattern = re.compile(r"(?<![\w$.])nodes\.([a-z][a-z0-9_]*)")
    for text in _strings(value):
        sources = [m.group(1) for m in TEMPLATE_RE.finditer(text)] if "{{" in text else [text]
        for source in sources:
            found.update(pattern.findall(_QUOTED.sub("''", source)))
    return found


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


__all__ = ["Editor", "guardrail", "node_refs", "refers_to", "rewrite_refs"]
