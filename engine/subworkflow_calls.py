"""What a workflow's sub-workflow calls (``core.run_workflow`` with a literal ``workflow_id``) are
checked against when it is saved or validated in a workspace: the callee exists there (and its
pinned version), is not archived, and no chain of calls leads back to the workflow being saved
(A calls B calls A), reported with the cycle's path.

Only what the document says can be checked: an id or a version computed at run time
(``{{ ... }}``), or a callee's current version changed after this one was saved, are guarded by
the runtime's depth limit instead (``subworkflow_depth``, ``engine.subworkflows``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from engine.errors import NotFoundError, Problem

OPERATION = ("core", "run_workflow")


class _Row(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def status(self) -> str: ...


class _Version(Protocol):
    @property
    def version(self) -> int: ...

    def definition_dict(self) -> dict[str, Any]: ...


class Workflows(Protocol):
    """The workspace's workflows (``engine.workflow_store.WorkflowStore``); ``NotFoundError`` for
    what the workspace does not have."""

    def get(self, workspace_id: str, workflow_id: str) -> _Row: ...

    def version(self, workspace_id: str, workflow_id: str, version: int | None = None) -> _Version: ...


@dataclass(frozen=True)
class Call:
    """One ``core.run_workflow`` node: its JSON path, the workflow it names and the pinned version."""

    path: str
    node_id: str
    workflow_id: str
    version: int | None


def calls_of(definition: Mapping[str, Any]) -> list[Call]:
    """The sub-workflow calls of a workflow document whose target is written out (loop bodies
    included); a ``{{ }}`` id is left to run time."""
    return list(_walk(definition.get("nodes") or [], "$"))


def _walk(nodes: list[Any], prefix: str) -> Iterator[Call]:
    for i, node in enumerate(nodes):
        if not isinstance(node, Mapping):
            continue
        path = f"{prefix}.nodes[{i}]"
        raw = node.get("config")
        config: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        if node.get("type") == "action" and (node.get("connector"), node.get("operation")) == OPERATION:
            target, version = config.get("workflow_id"), config.get("version")
            if isinstance(target, str) and target and "{{" not in target:
                pinned = version if isinstance(version, int) and not isinstance(version, bool) else None
                yield Call(path, str(node.get("id")), target, pinned)
        body = node.get("body")
        if node.get("type") == "loop" and isinstance(body, Mapping):
            yield from _walk(body.get("nodes") or [], f"{path}.body")


def check_calls(definition: Mapping[str, Any], workflows: Workflows, workspace_id: str, *,
                self_id: str | None = None, self_name: str | None = None) -> list[Problem]:
    """Every problem with the document's sub-workflow calls in ``workspace_id``.

    ``self_id``: the workflow the document is (a new version of it, or a version made current);
    a call chain reaching it again is a ``subworkflow_cycle``. Codes: ``subworkflow_not_found``
    (unknown or archived workflow, unknown pinned version), ``subworkflow_cycle``.
    """
    problems: list[Problem] = []
    graph = _CallGraph(workflows, workspace_id)
    for call in calls_of(definition):
        where = f"{call.path}.config"
        row = graph.row(call.workflow_id)
        if row is None:
            problems.append(Problem("subworkflow_not_found", f"{where}.workflow_id",
                                    f"node {call.node_id!r} runs workflow {call.workflow_id!r}, which does not "
                                    "exist in this workspace", extra={"workflow_id": call.workflow_id}))
            continue
        if row.status == "archived":
            problems.append(Problem("subworkflow_not_found", f"{where}.workflow_id",
                                    f"node {call.node_id!r} runs workflow {call.workflow_id!r} ({row.name}), "
                                    "which is archived", extra={"workflow_id": call.workflow_id}))
            continue
        if call.version is not None and graph.calls(call.workflow_id, call.version) is None:
            problems.append(Problem("subworkflow_not_found", f"{where}.version",
                                    f"workflow {call.workflow_id!r} ({row.name}) has no version {call.version}",
                                    extra={"workflow_id": call.workflow_id, "version": call.version}))
            continue
        if self_id is None:
            continue
        back = graph.path_to(call.workflow_id, call.version, self_id)
        if back is not None:
            cycle = [self_id, *back]
            names = {self_id: self_name or graph.name(self_id)}
            shown = " → ".join(f"{names.get(w) or graph.name(w)} ({w})" for w in cycle)
            problems.append(Problem(
                "subworkflow_cycle", f"{where}.workflow_id",
                f"node {call.node_id!r} makes the workflow call itself: {shown}",
                hint="break the cycle, or compute the id at run time and rely on the depth limit",
                extra={"cycle": cycle}))
    return problems


class _CallGraph:
    """The workspace's workflows as a call graph, read lazily and once per (workflow, version)."""

    def __init__(self, workflows: Workflows, workspace_id: str) -> None:
        self.workflows = workflows
        self.workspace_id = workspace_id
        self._rows: dict[str, _Row | None] = {}
        self._calls: dict[tuple[str, int | None], list[Call] | None] = {}

    def row(self, workflow_id: str) -> _Row | None:
        if workflow_id not in self._rows:
            try:
                self._rows[workflow_id] = self.workflows.get(self.workspace_id, workflow_id)
            except NotFoundError:
                self._rows[workflow_id] = None
        return self._rows[workflow_id]

    def name(self, workflow_id: str) -> str:
        row = self.row(workflow_id)
        return row.name if row is not None else "?"

    def calls(self, workflow_id: str, version: int | None) -> list[Call] | None:
        """The calls of that version (the current one for ``None``); ``None`` if there is none."""
        key = (workflow_id, version)
        if key not in self._calls:
            try:
                stored = self.workflows.version(self.workspace_id, workflow_id, version)
            except NotFoundError:
                self._calls[key] = None
            else:
                self._calls[key] = calls_of(stored.definition_dict())
        return self._calls[key]

    def path_to(self, start: str, version: int | None, target: str) -> list[str] | None:
        """The workflow ids from ``start`` to ``target`` along stored calls (depth first), or ``None``."""
        stack: list[tuple[str, int | None, list[str]]] = [(start, version, [start])]
        seen: set[tuple[str, int | None]] = set()
        while stack:
            workflow_id, pinned, path = stack.pop()
            if workflow_id == target:
                return path
            if (workflow_id, pinned) in seen:
                continue
            seen.add((workflow_id, pinned))
            for call in reversed(self.calls(workflow_id, pinned) or []):
                stack.append((call.workflow_id, call.version, [*path, call.workflow_id]))
        return None


__all__ = ["Call", "Workflows", "calls_of", "check_calls"]
