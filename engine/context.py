"""What a running node sees: the operation context, the expression scope, and secret redaction."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from connectors.services import ConnectorServices
from engine.collaborators import RateLimitStore, UsageTotals
from engine.errors import SubworkflowError

if TYPE_CHECKING:
    from engine.execution_run import ExecutionRun

class Scope:
    """The expression scope of one graph instance (the workflow, or one loop iteration).

    ``nodes`` holds the outputs of every settled node visible here: the outer graphs' and this
    iteration's. Only JSON data goes in — never credentials.
    """

    __slots__ = ("execution", "index", "item", "nodes", "outer", "trigger", "vars")

    def __init__(
        self, *, trigger: Any, execution: dict[str, Any], outer: Scope | None = None,
        item: Any = None, index: int | None = None,
    ) -> None:
        self.trigger = trigger
        self.execution = execution
        self.outer = outer
        self.nodes: dict[str, Any] = {}
        self.item = item
        self.index = index
        self.vars: dict[str, Any] = {}

    def all_nodes(self) -> dict[str, Any]:
        if self.outer is None:
            return self.nodes
        return {**self.outer.all_nodes(), **self.nodes}

    def data(self) -> dict[str, Any]:
        """The document expressions are evaluated against."""
        data: dict[str, Any] = {
            "trigger": self.trigger, "nodes": self.all_nodes(), "vars": self.vars, "execution": self.execution,
        }
        if self.index is not None:
            data["item"] = self.item
            data["index"] = self.index
        return data


def idempotency_key(execution_id: str, node_id: str, loop_path: str) -> str:
    """A key that is the same for every attempt of one node (one loop item) of one execution."""
    import hashlib

    digest = hashlib.sha256(f"{execution_id}\x00{node_id}\x00{loop_path}".encode()).hexdigest()
    return f"fw-{digest[:32]}"


class StepContext:
    """The ``OperationContext`` (and guardrail context) handed to one node attempt."""

    def __init__(
        self, run: ExecutionRun, scope: Scope, node_id: str, loop_path: str, *,
        credential: Mapping[str, Any] | None = None, resumed: bool = False,
        approval: Literal["approved", "rejected"] | None = None, step_id: str | None = None,
    ) -> None:
        self._run = run
        self._scope = scope
        self._loop_path = loop_path
        self._step_id = step_id
        self.workspace_id = run.workspace_id
        self.execution_id: str | None = run.execution_id
        self.workflow_id = run.workflow_id
        self.node_id: str | None = node_id
        self.credential = credential
        self.services: ConnectorServices = run.services
        self.usage: UsageTotals | None = run.usage
        self.rate_limits: RateLimitStore | None = run.rate_limits
        self.dry_run = run.dry_run
        self.resumed = resumed
        self.resume_at: datetime | None = None
        self.approval = approval
        self.idempotency_key: str | None = idempotency_key(run.execution_id, node_id, loop_path)

    def log(self, level: str, message: str, **metadata: Any) -> None:
        metadata.pop("node_id", None)  # the row says which node already
        metadata.pop("loop_path", None)
        self._run.log(level, message, node_id=self.node_id, loop_path=self._loop_path, **metadata)

    async def evaluate(self, expression: str) -> Any:
        """Evaluate a bare expression against the execution's scope, off the loop when it is slow."""
        return await self._run.expressions.evaluate(expression, self._scope.data())

    async def run_workflow(self, workflow_id: str, version: int | None, input: Any, *, wait: bool) -> dict[str, Any]:
        """Run another workflow of this workspace as a child execution of this step (see
        ``engine.subworkflows``): ``{"execution_id", "workflow_id", "version", "status", "output"}``."""
        if self._run.subworkflows is None:
            raise SubworkflowError("this runtime has no workflow store, so it cannot run sub-workflows",
                                   code="subworkflows_unavailable")
        return await self._run.subworkflows.run(
            self._run, node_id=self.node_id or "", loop_path=self._loop_path, step_id=self._step_id,
            workflow_id=workflow_id, version=version, input=input, wait=wait,
        )
