"""Workflow format, version 1: the pydantic models that define it (DESIGN.md, "Workflow format").

This shape is a public contract. Change it only by adding optional fields, or by a new
``schema_version`` with a migration. ``engine/workflow.schema.json`` is generated from these
models (``flowwright schema``) and a test fails when the committed copy drifts.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

NODE_ID_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
FORMAT_VERSION = "1.1"  # the minor version adds optional fields and node types only

NodeId = Annotated[str, Field(pattern=NODE_ID_PATTERN, description="Unique in its graph.")]
OnError = Literal["fail", "continue", "route"]
Origin = Literal["user", "generated", "guardrail"]
TriggerKind = Literal["manual", "webhook", "schedule", "poll"]
GuardrailKind = Literal["schema", "pii_redaction", "approval", "content_filter", "rate_limit", "budget"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class RetryPolicy(_Model):
    """How a failing node is retried (tenacity underneath)."""

    max_attempts: int = Field(3, ge=1, le=100, description="Total attempts, the first one included.")
    backoff: Literal["fixed", "exponential"] = "exponential"
    initial_delay_s: float = Field(1.0, ge=0, le=86_400)
    max_delay_s: float = Field(60.0, ge=0, le=86_400)
    jitter: bool = Field(True, description="Add random jitter to each delay.")


class _NodeBase(_Model):
    id: NodeId
    name: str | None = None
    description: str | None = None
    retry: RetryPolicy | None = None
    timeout_s: float | None = Field(None, gt=0, le=7 * 86_400)
    on_error: OnError = "fail"
    origin: Origin = "user"
    reason: str | None = Field(None, description="Why the node is there (set on inserted guardrails).")


class WebhookSigning(_Model):
    """How a webhook's callers sign their requests: HMAC-SHA256 over ``"<timestamp>.<body>"`` with
    the secret of a vault credential, sent as ``X-Flowwright-Signature: t=<unix seconds>,v1=<hex>``."""

    credential: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$",
                            description="Name of the workspace credential (type api_key) holding the signing secret.")
    tolerance_s: int = Field(300, ge=1, le=86_400,
                             description="How far the signed timestamp may be from the service's clock, in seconds.")


class TriggerConfig(_Model):
    """Trigger settings; which fields apply depends on ``kind``."""

    cron: str | None = Field(None, description="schedule: five-field cron expression.")
    timezone: str | None = Field(None, description="schedule: IANA time zone, default UTC.")
    at: str | None = Field(None, description="schedule: ISO 8601 date-time for a single run.")
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] | None = Field(None, description="webhook")
    path: str | None = Field(None, description="webhook: optional path suffix.")
    input_schema: dict[str, Any] | None = Field(None, description="webhook/manual: JSON Schema of the input.")
    signing: WebhookSigning | None = Field(None, description="webhook: requests must carry a valid HMAC signature.")
    interval_s: float | None = Field(None, ge=1, le=7 * 86_400, description="poll: seconds between polls (default 60).")
    per: Literal["item", "batch"] | None = Field(
        None, description="poll: one execution per new item (default; its input is the item) or one per poll "
                          "(its input is {items, count}).")
    max_items: int | None = Field(
        None, ge=1, le=1000, description="poll: most new items one poll takes (default 100); the rest are taken "
                                         "by the next poll, which then follows at once.")
    start: Literal["new", "all"] | None = Field(
        None, description="poll: 'new' (default) fires only for items that appear after activation; 'all' fires "
                          "for what is already there too.")
    input: dict[str, Any] | None = Field(None, description="poll: the polling trigger's input (checked against its model).")


class TriggerNode(_NodeBase):
    type: Literal["trigger"] = "trigger"
    kind: TriggerKind
    config: TriggerConfig = Field(default_factory=TriggerConfig)
    connector: str | None = Field(None, min_length=1, description="poll: the connector whose trigger is polled.")
    operation: str | None = Field(None, min_length=1, description="poll: the connector's polling trigger, e.g. new_rows.")
    credential: str | None = Field(None, description="poll: name of a credential in the workspace vault.")


class ActionNode(_NodeBase):
    type: Literal["action"] = "action"
    connector: str = Field(min_length=1)
    operation: str = Field(min_length=1)
    config: dict[str, Any] = Field(default_factory=dict)
    credential: str | None = Field(None, description="Name of a credential in the workspace vault.")


class ConditionConfig(_Model):
    expression: str = Field(min_length=1, description="Bare JSONata, evaluated to a boolean.")


class ConditionNode(_NodeBase):
    type: Literal["condition"] = "condition"
    config: ConditionConfig


class SwitchCase(_Model):
    name: str = Field(min_length=1)
    equals: Any = None


class SwitchConfig(_Model):
    value: str = Field(min_length=1, description="Bare JSONata whose result is compared to each case.")
    cases: list[SwitchCase] = Field(min_length=1)


class SwitchNode(_NodeBase):
    type: Literal["switch"] = "switch"
    config: SwitchConfig


class LoopConfig(_Model):
    """A for-each loop (``items``) or, since format 1.1, a while-loop (``while`` + ``max_iterations``)."""

    model_config = ConfigDict(
        extra="forbid", populate_by_name=True,
        json_schema_extra={"oneOf": [{"required": ["items"]}, {"required": ["while", "max_iterations"]}]},
    )

    items: str | None = Field(None, min_length=1, description="Expression yielding the list to iterate.")
    max_concurrency: int = Field(1, ge=1, le=1000)
    max_items: int | None = Field(None, ge=1)
    batch_size: int | None = Field(None, ge=1, description="Run the body once per batch of this many items.")
    while_: str | None = Field(
        None, alias="while", min_length=1,
        description="1.1, instead of items: bare JSONata boolean checked after each iteration over `previous` "
                    "(that iteration's result), `iteration` (iterations done) and the usual scope; the body runs "
                    "again while it is true.",
    )
    max_iterations: int | None = Field(None, ge=1, le=10_000, description="1.1, required with while.")
    delay_s: float | None = Field(
        None, ge=0, le=366 * 86_400, description="1.1, while only: durable wait before each further iteration.",
    )
    output: Literal["list", "last"] = Field(
        "list", description="1.1, while only: the list of iteration results, or the last one.",
    )
    on_max_iterations: Literal["fail", "stop"] = Field(
        "fail", description="1.1, while only: at max_iterations with the condition still true, fail the node "
                            "(code loop_max_iterations) or stop and complete.",
    )

    @model_validator(mode="after")
    def _items_or_while(self) -> LoopConfig:
        if (self.items is None) == (self.while_ is None):
            raise ValueError("a loop needs either 'items' (for each) or 'while' (with max_iterations), not both")
        if self.while_ is not None and self.max_iterations is None:
            raise ValueError("a while loop needs 'max_iterations'")
        if self.items is not None:
            extra = [k for k in ("max_iterations", "delay_s", "output", "on_max_iterations")
                     if k in self.model_fields_set]
            if extra:
                raise ValueError(f"{', '.join(extra)} apply to while loops only")
        elif self.max_items is not None or self.batch_size is not None:
            raise ValueError("max_items and batch_size apply to for-each loops only")
        return self


class Graph(_Model):
    """A graph of nodes and edges: the workflow itself, or a loop body."""

    nodes: list[Node] = Field(default_factory=list)
    edges: list[Edge] = Field(default_factory=list)


class LoopNode(_NodeBase):
    type: Literal["loop"] = "loop"
    config: LoopConfig
    body: Graph


class MergeConfig(_Model):
    mode: Literal["all", "first"] = "all"


class MergeNode(_NodeBase):
    type: Literal["merge"] = "merge"
    config: MergeConfig = Field(default_factory=MergeConfig)


class GuardrailNode(_NodeBase):
    type: Literal["guardrail"] = "guardrail"
    kind: GuardrailKind
    config: dict[str, Any] = Field(default_factory=dict)


Node = Annotated[
    TriggerNode | ActionNode | ConditionNode | SwitchNode | LoopNode | MergeNode | GuardrailNode,
    Field(discriminator="type"),
]


class Edge(_Model):
    source: NodeId
    target: NodeId
    branch: str | None = Field(
        None, description="condition: true/false; switch: a case name or default; error: the error path."
    )


class Workflow(_Model):
    """A complete workflow (format version 1)."""

    schema_version: Literal["1", "1.1"] = Field(
        "1", description="1 or 1.1; 1.1 adds while-loops, sub-workflows and polling triggers (optional additions, 1.0 documents are unchanged).",
    )
    name: str = Field(min_length=1, max_length=200)
    description: str | None = None
    nodes: list[Node] = Field(min_length=1)
    edges: list[Edge] = Field(default_factory=list)
    timeout_s: float | None = Field(None, gt=0, description="Whole-execution timeout.")
    max_concurrency: int | None = Field(None, ge=1, le=1000, description="Nodes running at once.")
    guardrails: Literal["auto", "manual"] | None = Field(
        None, description="auto (the default): every saved version gets the guardrail passes; manual: an "
        "admin saved this version as written, without them.",
    )
    max_concurrent_executions: int | None = Field(
        None, ge=1, le=100_000,
        description="Executions of this saved workflow holding a slot at once (from start to end, delays, approvals "
                    "and pauses included); later ones wait, pending, in start order. Unset: no limit.")

    def to_json_dict(self) -> dict[str, Any]:
        """The canonical JSON form: defaults that were never set are left out, as in the input."""
        return self.model_dump(mode="json", exclude_unset=True, by_alias=True)

    def content_hash(self) -> str:
        """SHA-256 of the canonical JSON (sorted keys), used to identify identical versions."""
        return content_hash(self.to_json_dict())

    @property
    def trigger(self) -> TriggerNode | None:
        return next((n for n in self.nodes if isinstance(n, TriggerNode)), None)


Graph.model_rebuild()
LoopNode.model_rebuild()


def content_hash(data: dict[str, Any]) -> str:
    """SHA-256 hex digest of a JSON document in canonical form."""
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


def json_schema() -> dict[str, Any]:
    """The JSON Schema of format v1 (minor version ``FORMAT_VERSION``), generated from the models."""
    schema = Workflow.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://flowwright.dev/schemas/workflow-v1.json"
    schema["version"] = FORMAT_VERSION
    return schema


def iter_graph_nodes(nodes: list[Node], prefix: str = "$") -> list[tuple[str, Node]]:
    """Every node of a graph and of its nested loop bodies, with its JSON path."""
    out: list[tuple[str, Node]] = []
    for i, node in enumerate(nodes):
        path = f"{prefix}.nodes[{i}]"
        out.append((path, node))
        if isinstance(node, LoopNode):
            out.extend(iter_graph_nodes(node.body.nodes, f"{path}.body"))
    return out
