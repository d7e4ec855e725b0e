"""Proposed new versions: a finding's fix applied to the workflow as it ran, validated and guarded.

A proposal starts from the newest definition the report saw, changes it (one small, named edit),
then goes through what every version goes through — ``parse_workflow`` against the connector
catalog and the graph passes (guardrails, error handling) — so that accepting it stores nothing a
person could not have stored by hand. Accepting (:func:`accept`) refuses when the workflow has
moved on since the report (its current version is not the one the proposal was made from).
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable
from typing import Any

from app.insights.errors import ProposalStaleError
from app.insights.findings import Proposal
from app.insights.stats import WorkflowStats
from engine.passes import run_passes
from engine.passes.graph import rewrite_refs
from engine.validation import parse_workflow, validate_workflow
from engine.workflow_store import WorkflowStore

Edit = Callable[[dict[str, Any]], None]


def propose(wf: WorkflowStats, summary: str, changes: list[str], edit: Edit, catalog: Any = None) -> Proposal | None:
    """Apply ``edit`` to a copy of the workflow's newest definition; None when the result is not a
    valid workflow, changes nothing, or the runs were not of a stored workflow."""
    if wf.workflow_id is None or not wf.definitions:
        return None
    base_version = max(wf.definitions)
    definition = copy.deepcopy(wf.definitions[base_version])
    edit(definition)
    if not validate_workflow(definition, catalog).ok:
        return None
    guarded = run_passes(parse_workflow(definition, catalog), catalog)
    result = guarded.workflow.to_json_dict()
    changes = [*changes, *(f"{c.pass_name}: {c.reason}" for c in guarded.inserted)]
    original = wf.definitions[base_version]
    before = parse_workflow(original, catalog).to_json_dict() if validate_workflow(original, catalog).ok else original
    if json.dumps(result, sort_keys=True) == json.dumps(before, sort_keys=True):
        return None
    digest = hashlib.sha256(f"{wf.workflow_id}|{base_version}|{json.dumps(result, sort_keys=True)}".encode())
    return Proposal(id="prop_" + digest.hexdigest()[:12], workflow_id=wf.workflow_id, base_version=base_version,
                    summary=summary, changes=changes, definition=result)


def accept(store: WorkflowStore, workspace_id: str, proposal: Proposal, catalog: Any = None,
           created_by: str | None = None) -> int:
    """Store the proposal as the workflow's new current version; its number."""
    row = store.get(workspace_id, proposal.workflow_id)
    if row.current_version != proposal.base_version:
        raise ProposalStaleError(
            f"workflow {proposal.workflow_id} is at version {row.current_version}, the proposal was made from "
            f"version {proposal.base_version}: build a new report", current_version=row.current_version,
            base_version=proposal.base_version)
    workflow = parse_workflow(proposal.definition, catalog)
    version = store.add_version(workspace_id, proposal.workflow_id, workflow, source="api", created_by=created_by,
                                note=f"insights {proposal.id}: {proposal.summary}")
    return version.version


# --- edits ---------------------------------------------------------------------------------------


def find_node(definition: dict[str, Any], node_id: str) -> dict[str, Any] | None:
    """The node with this id, at any depth."""
    stack = [definition]
    while stack:
        graph = stack.pop()
        for node in graph.get("nodes", []):
            if node.get("id") == node_id:
                return node  # type: ignore[no-any-return]
            if node.get("type") == "loop" and isinstance(node.get("body"), dict):
                stack.append(node["body"])
    return None


def set_loop_concurrency(loop_id: str, value: int) -> Edit:
    def edit(definition: dict[str, Any]) -> None:
        node = find_node(definition, loop_id)
        if node is not None:
            node.setdefault("config", {})["max_concurrency"] = value
    return edit


def stop_retrying(node_id: str) -> Edit:
    """One attempt: the error is not transient, so retrying only repeats the call and the wait."""
    def edit(definition: dict[str, Any]) -> None:
        node = find_node(definition, node_id)
        if node is not None:
            node["retry"] = {"max_attempts": 1}
    return edit


def use_https(node_id: str) -> Edit:
    def edit(definition: dict[str, Any]) -> None:
        node = find_node(definition, node_id)
        config = node.get("config") if node else None
        if isinstance(config, dict) and isinstance(config.get("url"), str) and config["url"].startswith("http://"):
            config["url"] = "https://" + config["url"][len("http://"):]
    return edit


def drop_repeated(node_id: str, same_as: str) -> Edit:
    """Remove a node that repeats an earlier identical call: its dependents read the earlier one."""
    def edit(definition: dict[str, Any]) -> None:
        graph = _graph_of(definition, node_id)
        if graph is None:
            return
        edges = graph.get("edges", [])
        incoming = [e for e in edges if e.get("target") == node_id]
        outgoing = [e for e in edges if e.get("source") == node_id]
        kept = [e for e in edges if node_id not in (e.get("source"), e.get("target"))]
        for out in outgoing:
            for inc in incoming:
                edge = {"source": inc["source"], "target": out["target"]}
                if inc.get("branch"):
                    edge["branch"] = inc["branch"]
                if edge not in kept:
                    kept.append(edge)
        graph["edges"] = kept
        graph["nodes"] = [n for n in graph["nodes"] if n.get("id") != node_id]
        for key in ("nodes", "edges"):
            definition[key] = rewrite_refs(definition[key], f"nodes.{node_id}", f"nodes.{same_as}")
    return edit


def _graph_of(definition: dict[str, Any], node_id: str) -> dict[str, Any] | None:
    stack = [definition]
    while stack:
        graph = stack.pop()
        for node in graph.get("nodes", []):
            if node.get("id") == node_id:
                return graph
            if node.get("type") == "loop" and isinstance(node.get("body"), dict):
                stack.append(node["body"])
    return None


def guard_only() -> Edit:
    """No edit of its own: the passes add what is missing."""
    def edit(definition: dict[str, Any]) -> None:
        del definition  # the passes run on every proposal
    return edit
