"""The connector contract: a connector declares operations; an operation has an input model, an
output model and one async function. Third-party packages register connectors through the
entry-point group ``flowwright.connectors`` (each entry point names a ``Connector`` object or a
zero-argument callable returning one)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from pydantic import BaseModel

from connectors.services import ConnectorServices


class AuthType(StrEnum):
    NONE = "none"
    API_KEY = "api_key"
    BASIC = "basic"
    OAUTH2 = "oauth2"
    SMTP = "smtp"
    URL = "url"


@dataclass(frozen=True)
class RateLimit:
    """Token bucket: at most ``requests`` per ``per_seconds``, per connector and workspace."""

    requests: int
    per_seconds: float


class OperationContext(Protocol):
    """What the engine hands an operation. Secrets arrive only in ``credential``, never in input;
    the collaborators an operation may use arrive in ``services`` (see ``connectors.services``)."""

    workspace_id: str
    execution_id: str | None
    node_id: str | None
    credential: Mapping[str, Any] | None
    services: ConnectorServices
    dry_run: bool

    resumed: bool  # True when the operation is called again after a ``Suspend``
    resume_at: datetime | None  # when resumed: the time the operation asked to sleep until
    # the same for every attempt of this node in this execution (receivers deduplicate on it)
    idempotency_key: str | None

    def log(self, level: str, message: str, **metadata: Any) -> None: ...

    async def evaluate(self, expression: str) -> Any:
        """Evaluate a bare JSONata expression against the execution's expression scope (an
        expression that outgrows a few milliseconds runs in a supervised worker process)."""
        ...

    async def run_workflow(self, workflow_id: str, version: int | None, input: Any, *, wait: bool) -> dict[str, Any]:
        """Run another workflow of this workspace as a child execution of this step (waiting for
        its end, or not); ``{"execution_id", "workflow_id", "version", "status", "output"}``."""
        ...


Run = Callable[[Any, OperationContext], Awaitable[BaseModel]]


@dataclass(frozen=True)
class Operation:
    name: str
    description: str  # written for people and for models
    input_model: type[BaseModel]
    output_model: type[BaseModel]
    run: Run
    idempotent: bool = False
    external: bool = True  # reaches outside Flowwright (dry runs replace it; passes add retries)
    destructive: bool = False  # deletes, writes or moves money (the approval pass guards it)
    rate_limit: RateLimit | None = None
    # Whether an attempt cut off by a crash may simply run again for this input (default: when
    # the operation is idempotent or reaches nothing outside Flowwright). When it may not, the
    # engine fails the node with ``outcome_unknown`` instead of repeating a side effect that may
    # already have happened (an email, a POST, a Slack message).
    replay_safe: Callable[[Any], bool] | None = None
    # Extra validation of a step's config beyond its input model, given the catalog and the nodes
    # (JSON) its plain edges lead to (core.map checks its fields against the target operation's
    # input model): ``(path under config, code, message)`` per problem.
    check: Callable[[Mapping[str, Any], Any, Sequence[Mapping[str, Any]]], list[tuple[str, str, str]]] | None = None

    def safe_to_replay(self, inp: Any) -> bool:
        """True when re-running an interrupted attempt with ``inp`` cannot repeat a side effect."""
        if self.replay_safe is not None:
            return self.replay_safe(inp)
        return self.idempotent or not self.external


@dataclass(frozen=True)
class PolledItem:
    """One new item a poll found: ``key`` identifies it for good (two polls that see the same
    item give the same key), ``value`` is what the execution it starts receives as its input,
    ``cursor`` is the trigger's cursor once this item (and every one before it) is handled."""

    key: str
    value: dict[str, Any]
    cursor: Any


@dataclass(frozen=True)
class PollTrigger:
    """A polling trigger: ``poll(input, ctx, cursor)`` returns the items that are new since
    ``cursor``, oldest first (at most ``max_items``); ``arm(input, ctx)`` the cursor of "now"
    (what exists when the workflow is activated does not fire). Cursors are JSON values."""

    name: str
    description: str
    input_model: type[BaseModel]
    poll: Callable[[Any, OperationContext, Any, int], Awaitable[list[PolledItem]]]
    arm: Callable[[Any, OperationContext], Awaitable[Any]]


@dataclass(frozen=True)
class Connector:
    name: str
    title: str
    description: str
    category: str
    icon: str
    auth: AuthType
    operations: tuple[Operation, ...]
    rate_limit: RateLimit | None = None
    credential_fields: Mapping[str, str] = field(default_factory=dict)  # field -> description
    # Every credential type the connector reads, when that is more than ``auth`` (slack: a bot token
    # or a webhook URL) or when a credential is optional (http, whose ``auth`` is none).
    credential_types: tuple[AuthType, ...] = ()
    triggers: tuple[PollTrigger, ...] = ()  # polling triggers (a workflow's ``kind: poll`` trigger)

    def operation(self, name: str) -> Operation | None:
        return next((op for op in self.operations if op.name == name), None)

    def trigger(self, name: str) -> PollTrigger | None:
        """The polling trigger called ``name``, if the connector has one."""
        return next((t for t in self.triggers if t.name == name), None)

    @property
    def reads_credentials(self) -> tuple[AuthType, ...]:
        """The credential types a step of this connector can use (empty: none)."""
        if self.credential_types:
            return self.credential_types
        return () if self.auth is AuthType.NONE else (self.auth,)
