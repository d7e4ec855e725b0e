"""What changed between two workflow versions: nodes added, removed and changed (with the fields
that changed), edges added and removed, and a short human summary. Loop bodies are included:
node ids are unique across the whole workflow."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.workflow import Workflow, iter_graph_nodes


@dataclass
class WorkflowDiff:
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: dict[str, list[str]] = field(default_factory=dict)  # node id -> changed fields
    edges_added: list[str] = field(default_factory=list)
    edges_removed: list[str] = field(default_factory=list)
    renamed: bool = False

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed or self.edges_added or self.edges_removed
                    or self.renamed)

    def to_dict(self) -> dict[str, Any]:
        return {"added": self.added, "removed": self.removed, "changed": self.changed,
                "edges_added": self.edges_added, "edges_removed": self.edges_removed, "renamed": self.renamed}

    def summary(self) -> str:
        parts = []
        if self.added:
            parts.append(f"added {', '.join(self.added)}")
        if self.removed:
            parts.append(f"removed {', '.join(self.removed)}")
        if self.changed:
            parts.append("changed " + ", ".join(f"{k} ({', '.join(v)})" for k, v in self.changed.items()))
        if self.renamed:
            parts.append("renamed")
        if not parts and (self.edges_added or self.edges_removed):
            parts.append("rewired")
        return "; ".join(parts) or "no change"


def _nodes(workflow: Workflow | None) -> dict[str, dict[str, Any]]:
    if workflow is None:
        return {}
    out = {}
    for _, node in iter_graph_nodes(workflow.nodes):
        data = node.model_dump(mode="json", exclude_unset=True)
        if data.get("type") == "loop":
            data.pop("body", None)  # body nodes are compared on their own
        out[node.id] = data
    return out


def _edges(workflow: Workflow | None) -> set[str]:
    if workflow is None:
        return set()
    found: set[str] = set()

    def walk(edges: list[Any], nodes: list[Any]) -> None:
        for e in edges:
            found.add(f"{e.source} → {e.target}" + (f" [{e.branch}]" if e.branch else ""))
        for n in nodes:
            body = getattr(n, "body", None)
            if body is not None:
                walk(body.edges, body.nodes)

    walk(workflow.edges, workflow.nodes)
    return found


def diff_workflows(old: Workflow | None, new: Workflow) -> WorkflowDiff:
    """The difference from ``old`` (None: nothing before) to ``new``."""
    before, after = _nodes(old), _nodes(new)
    result = WorkflowDiff(
        added=[n for n in after if n not in before],
        removed=[n for n in before if n not in after],
    )
    for node_id, node in after.items():
        if node_id in before and before[node_id] != node:
            keys = sorted({*node, *before[node_id]})
            result.changed[node_id] = [k for k in keys if node.get(k) != before[node_id].get(k)]
    old_edges, new_edges = _edges(old), _edges(new)
    result.edges_added = sorted(new_edges - old_edges)
    result.edges_removed = sorted(old_edges - new_edges)
    result.renamed = old is not None and (old.name != new.name or old.description != new.description)
    return result


def unified_diff(old: dict[str, Any], new: dict[str, Any], old_name: str = "old", new_name: str = "new") -> list[str]:
    """The two documents' JSON (indented, keys sorted) as unified-diff lines, for a person to read."""
    import difflib
    import json

    def lines(document: dict[str, Any]) -> list[str]:
        return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False).splitlines()

    return list(difflib.unified_diff(lines(old), lines(new), old_name, new_name, lineterm=""))


__all__ = ["WorkflowDiff", "diff_workflows", "unified_diff"]
