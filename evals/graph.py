"""A workflow (raw format-v1 JSON, possibly invalid) seen as a flat labelled graph.

Loop bodies are flattened into the same graph: for matching and F1 a loop has a ``body`` edge to
each start node of its body; for ordering questions ("A before B on every path") a loop is split
into a start and an end, the body running between them. Everything here tolerates malformed
input, because the metrics must score whatever a model produced.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

LOOP_END = "#end"


@dataclass
class FlatNode:
    """One node of a workflow or of a nested loop body."""

    key: str  # unique in the flat graph: loop ids joined with "/", then the node id
    id: str
    type: str
    label: str  # what matching compares: "http.request", "trigger:schedule", "guardrail:approval", "loop"
    raw: dict[str, Any]
    loops: tuple[str, ...] = ()  # keys of the enclosing loops, outermost first

    @property
    def origin(self) -> str:
        return str(self.raw.get("origin") or "user")

    @property
    def config(self) -> Any:
        return self.raw.get("config")


@dataclass
class FlatGraph:
    """Nodes by key; edges as ``(source_key, target_key, normalised_branch)``."""

    nodes: dict[str, FlatNode] = field(default_factory=dict)
    edges: list[tuple[str, str, str | None]] = field(default_factory=list)
    raw_branches: dict[tuple[str, str], str] = field(default_factory=dict)  # as written (switch case names)
    order: nx.DiGraph = field(default_factory=nx.DiGraph)  # loops split into start and end
    roots: list[str] = field(default_factory=list)


def node_label(node: dict[str, Any]) -> str:
    """The label nodes are matched by: connector+operation for actions, type (and kind) otherwise."""
    ntype = str(node.get("type") or "?")
    if ntype == "action":
        return f"{node.get('connector')}.{node.get('operation')}"
    if ntype in ("trigger", "guardrail"):
        return f"{ntype}:{node.get('kind')}"
    return ntype


def _branch(source: dict[str, Any] | None, branch: Any) -> str | None:
    """Branches compared across workflows: switch case names become the value they match."""
    if branch is None:
        return None
    name = str(branch)
    if source is not None and source.get("type") == "switch" and name not in ("default", "error"):
        config = source.get("config")
        for case in (config.get("cases") if isinstance(config, dict) else None) or []:
            if isinstance(case, dict) and case.get("name") == name:
                return f"case:{normalise_value(case.get('equals'))}"
        return f"case:{name.lower()}"
    return name


def normalise_value(value: Any) -> str:
    """A case-insensitive string form of a JSON value (for comparing switch cases and values)."""
    if isinstance(value, str):
        return value.strip().lower()
    return json.dumps(value, sort_keys=True).lower()


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def flatten(workflow: Any, *, drop_guardrail_origin: bool = False, keep_guardrail_nodes: bool = False) -> FlatGraph:
    """Flatten a workflow document.

    With ``drop_guardrail_origin`` nodes whose origin is ``guardrail`` are contracted away (their
    predecessors are wired to their successors), except, with ``keep_guardrail_nodes``, nodes of
    type ``guardrail``.
    """
    graph = FlatGraph()
    if not isinstance(workflow, dict):
        return graph
    _flatten_into(graph, workflow, prefix="", loops=())
    if drop_guardrail_origin:
        for key in [k for k, n in graph.nodes.items() if n.origin == "guardrail"]:
            if keep_guardrail_nodes and graph.nodes[key].type == "guardrail":
                continue
            _contract(graph, key)
    _build_order(graph)
    return graph


def _flatten_into(graph: FlatGraph, doc: dict[str, Any], prefix: str, loops: tuple[str, ...]) -> list[str]:
    """Add a graph's nodes and edges; return the keys of its start nodes (no incoming edge)."""
    local: dict[str, FlatNode] = {}
    for raw in _dicts(doc.get("nodes")):
        node_id = str(raw.get("id") or f"_anon{len(local)}")
        key = f"{prefix}{node_id}"
        if key in graph.nodes:
            continue  # duplicate id: keep the first, as validation reports the second
        node = FlatNode(key, node_id, str(raw.get("type") or "?"), node_label(raw), raw, loops)
        graph.nodes[key] = node
        local[node_id] = node
    targets = set()
    for edge in _dicts(doc.get("edges")):
        source, target = local.get(str(edge.get("source"))), local.get(str(edge.get("target")))
        if source is None or target is None or source.key == target.key:
            continue
        graph.edges.append((source.key, target.key, _branch(source.raw, edge.get("branch"))))
        graph.raw_branches[(source.key, target.key)] = str(edge.get("branch") or "").strip().lower()
        targets.add(target.key)
    for node in list(local.values()):
        if node.type == "loop" and isinstance(node.raw.get("body"), dict):
            for start in _flatten_into(graph, node.raw["body"], f"{node.key}/", (*loops, node.key)):
                graph.edges.append((node.key, start, "body"))
    return [n.key for n in local.values() if n.key not in targets]


def _contract(graph: FlatGraph, key: str) -> None:
    incoming = [(s, b) for s, t, b in graph.edges if t == key]
    outgoing = [t for s, t, b in graph.edges if s == key and b != "error"]
    kept = [e for e in graph.edges if key not in (e[0], e[1])]
    for source, branch in incoming:
        for target in outgoing:
            edge = (source, target, branch)
            if edge not in kept:
                kept.append(edge)
                graph.raw_branches[(source, target)] = graph.raw_branches.get((source, key), "")
    graph.edges = kept
    del graph.nodes[key]


def _build_order(graph: FlatGraph) -> None:
    order = graph.order
    for key in graph.nodes:
        order.add_node(key)
        if graph.nodes[key].type == "loop":
            order.add_node(key + LOOP_END)
    for source, target, branch in graph.edges:
        if branch == "body":
            order.add_edge(source, target)
            continue
        start = source + LOOP_END if graph.nodes[source].type == "loop" else source
        order.add_edge(start, target)
    for key, node in graph.nodes.items():
        if node.type != "loop":
            continue
        body = [k for k, n in graph.nodes.items() if n.loops and n.loops[-1] == key]
        sinks = [k for k in body if not any(s == k and b != "error" for s, _, b in graph.edges)]
        for sink in sinks:
            end = sink + LOOP_END if graph.nodes[sink].type == "loop" else sink
            order.add_edge(end, key + LOOP_END)
        if not body:
            order.add_edge(key, key + LOOP_END)
    triggers = [k for k, n in graph.nodes.items() if n.type == "trigger" and not n.loops]
    if triggers:
        graph.roots = triggers
    else:
        graph.roots = [k for k in order.nodes if order.in_degree(k) == 0 and not k.endswith(LOOP_END)]


def node_set(graph: FlatGraph, keys: list[str]) -> set[str]:
    """The order-graph vertices a node set stands for (a loop is its start and its end)."""
    out = set()
    for key in keys:
        out.add(key)
        if graph.nodes[key].type == "loop":
            out.add(key + LOOP_END)
    return out


def always_before(graph: FlatGraph, first: list[str], then: list[str]) -> bool:
    """True when every path from the trigger to each ``then`` node passes through a ``first`` node."""
    if not first or not then:
        return False
    blocked = node_set(graph, first)
    if set(then) & set(first):
        return False
    order = graph.order.subgraph([n for n in graph.order.nodes if n not in blocked])
    reached: set[str] = set()
    for root in graph.roots:
        if root in order:
            reached |= {root} | nx.descendants(order, root)
    return not (set(then) & reached)


def reaches(graph: FlatGraph, source: str, target: str) -> bool:
    """True when ``target`` can run after ``source`` on some path (loop bodies included)."""
    start = source + LOOP_END if graph.nodes[source].type == "loop" else source
    if source in graph.nodes and graph.nodes[source].type == "loop" and target.startswith(source + "/"):
        return True
    return nx.has_path(graph.order, start, target) if start in graph.order and target in graph.order else False


def unordered(graph: FlatGraph, a: str, b: str) -> bool:
    """True when neither node can come after the other (they may run in parallel)."""
    return a != b and not reaches(graph, a, b) and not reaches(graph, b, a)
