"""Graph passes: pure functions ``Workflow -> Workflow`` that add guardrails and error handling.

Each pass module exposes ``apply(workflow, catalog=None) -> Workflow``: it never mutates its
input, inserts nodes with ``origin: "guardrail"`` and a human ``reason``, is idempotent (a second
run changes nothing) and returns a workflow that still validates. :func:`run_passes` runs them
all in order — always after the model, so nothing a prompt says can remove a guardrail — and
reports what each pass did.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from engine.passes import approval, content_filter, error_path, input_schema, loops, pii, retries
from engine.workflow import Workflow, iter_graph_nodes

Pass = Callable[[Workflow, Any], Workflow]

PASSES: tuple[tuple[str, Pass], ...] = (
    ("input_schema", input_schema.apply),
    ("pii_redaction", pii.apply),
    ("content_filter", content_filter.apply),
    ("approval", approval.apply),
    ("loops", loops.apply),
    ("retries", retries.apply),
    ("error_path", error_path.apply),
)

_FIELD_NOTES = {
    "retry": "retry with exponential backoff added",
    "timeout_s": "timeout added",
    "on_error": "failures routed to the error path",
    "max_items": "max_items cap added",
}


@dataclass(frozen=True)
class PassChange:
    """One thing a pass did: a node inserted (``inserted`` with its kind) or a node changed."""

    pass_name: str
    node_id: str
    action: str  # "inserted" | "changed"
    kind: str | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"pass": self.pass_name, "node_id": self.node_id, "action": self.action, "kind": self.kind,
                "reason": self.reason}


@dataclass
class PassResult:
    workflow: Workflow
    changes: list[PassChange] = field(default_factory=list)

    @property
    def inserted(self) -> list[PassChange]:
        return [c for c in self.changes if c.action == "inserted"]


def run_passes(workflow: Workflow, catalog: Any = None, *, skip: tuple[str, ...] = ()) -> PassResult:
    """Run every pass in order; the result lists what each one inserted or changed."""
    result = PassResult(workflow)
    for name, apply in PASSES:
        if name in skip:
            continue
        before = _index(result.workflow)
        after_wf = apply(result.workflow, catalog)
        result.changes.extend(_changes(name, before, _index(after_wf)))
        result.workflow = after_wf
    return result


GUARDRAIL_PASSES: tuple[str, ...] = ("pii_redaction", "content_filter", "approval")
"""The passes a version saved outside the copilot gets: the ones that stand between a workflow and
harm (personal data reaching a model, model output sent out unchecked, a destructive step or a bulk
send nobody approved). Not the rest: a webhook's declared ``input_schema`` is already enforced on
arrival, and a schema guessed from the fields read would refuse calls a hand-written workflow
means to accept; loop caps, retry defaults and the error path change how failures behave, which
stays the author's choice."""


def guard_saved(workflow: Workflow, catalog: Any = None) -> PassResult:
    """The guardrail passes for a version saved through the API, an import or the CLI.

    A workflow marked ``guardrails: "manual"`` is returned as written, with no changes: the caller
    must have been allowed to opt out (the API lets admin keys only). Idempotent: saving a guarded
    version again changes nothing.
    """
    if workflow.guardrails == "manual":
        return PassResult(workflow)
    return run_passes(workflow, catalog, skip=tuple(name for name, _ in PASSES if name not in GUARDRAIL_PASSES))


def _index(workflow: Workflow) -> dict[str, dict[str, Any]]:
    return {node.id: node.model_dump(mode="json", exclude_unset=True) for _, node in iter_graph_nodes(workflow.nodes)}


def _changes(name: str, before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]) -> list[PassChange]:
    out: list[PassChange] = []
    for node_id, node in after.items():
        if node_id not in before:
            kind = node.get("kind") if node.get("type") == "guardrail" else f"{node.get('connector')}.{node.get('operation')}"
            out.append(PassChange(name, node_id, "inserted", kind, node.get("reason") or ""))
            continue
        old = before[node_id]
        notes = [note for key, note in _FIELD_NOTES.items() if key != "max_items" and old.get(key) != node.get(key)]
        if (old.get("config") or {}).get("max_items") != (node.get("config") or {}).get("max_items"):
            notes.append(_FIELD_NOTES["max_items"])
        if notes:
            out.append(PassChange(name, node_id, "changed", None, "; ".join(notes)))
    return out


__all__ = ["GUARDRAIL_PASSES", "PASSES", "PassChange", "PassResult", "guard_saved", "run_passes"]
