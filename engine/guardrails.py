"""The guardrail runtime: what a ``guardrail`` node does to the data passing through it.

The runtime calls :func:`apply_guardrail` with the node, the data flowing into it and a context.
A guardrail returns the data to pass on (the input itself, or the redacted copy for
``pii_redaction``), raises :class:`engine.errors.GuardrailViolation` (``details`` carry ``kind``,
``node_id`` and the offending JSON ``paths``) to fail the node, or raises
:class:`connectors.errors.ApprovalRequired` to put the execution in ``waiting`` until a person
decides; the runtime then calls again with ``ctx.approval`` set to ``"approved"``/``"rejected"``.

Kinds and their ``config`` (validated by the models below; a bad config is a
``guardrail_config_invalid`` error naming the field):

=================  ========================================================================
``schema``         ``schema`` (JSON Schema, draft 2020-12), optional ``path`` (dotted path into
                   the data to check; when the data is an object without that key, the whole
                   data is checked). Fails with every offending path.
``pii_redaction``  ``kinds`` (subset of email, card, iban, national_id, phone), ``skip_keys``.
                   Returns the data with every nested string masked.
``approval``       ``message`` shown to the approver, optional ``approvers``.
``content_filter`` ``categories`` (prompt_injection, exfiltration, secrets, unsafe), extra
                   ``patterns`` (regexes), ``action``: ``block`` (default) | ``redact`` | ``flag``.
``rate_limit``     ``max`` calls per ``per_seconds``, ``scope``: ``workflow`` | ``workspace``,
                   ``on_exceed``: ``wait`` (default; waits up to ``max_wait_s``) | ``fail``.
``budget``         ``max_tokens`` and/or ``max_usd`` per ``period``: ``execution`` | ``day``.
=================  ========================================================================

Collaborators come through the context (``engine.collaborators`` types them):

- ``ctx.rate_limits`` — a :class:`RateLimitStore`. Without one, counts are kept in this process
  only (:data:`PROCESS_RATE_LIMITS`): correct for one worker, not shared across several.
- ``ctx.usage`` — the model usage tracker (``totals(workspace_id, *, execution_id=None,
  since=None)``, sync or async, returning ``tokens`` (or ``total_tokens``) and ``cost_usd``;
  ``app.llm``'s ``UsageTracker``). Without one a budget guardrail logs a warning and passes, or
  fails when ``require_usage`` is true.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import re
import threading
import time
from collections import deque
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from connectors.errors import ApprovalRequired
from engine.collaborators import RateLimitStore, UsageTotals
from engine.content_filter import DEFAULT_CATEGORIES, ContentFilter
from engine.errors import FlowwrightError, GuardrailViolation
from engine.pii import redact
from engine.workflow import GuardrailNode

MAX_APPROVAL_DATA_CHARS = 20_000


class GuardrailConfigError(FlowwrightError):
    """A guardrail node's ``config`` does not fit its kind."""

    code = "guardrail_config_invalid"
    status = 422


class GuardrailContext(Protocol):
    """What the runtime hands a guardrail (``workflow_id`` is read when present)."""

    workspace_id: str
    execution_id: str | None
    node_id: str | None
    usage: UsageTotals | None
    rate_limits: RateLimitStore | None
    approval: Literal["approved", "rejected"] | None

    def log(self, level: str, message: str, **metadata: Any) -> None: ...


# --- configs ---------------------------------------------------------------------------------


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class SchemaConfig(_Config):
    json_schema: dict[str, Any] = Field(alias="schema", description="JSON Schema the data must satisfy.")
    path: str | None = Field(None, description="Dotted path into the data to check instead of all of it.")

    @model_validator(mode="after")
    def _check_schema(self) -> SchemaConfig:
        import jsonschema

        try:
            jsonschema.Draft202012Validator.check_schema(self.json_schema)
        except jsonschema.SchemaError as exc:
            raise ValueError(f"not a valid JSON Schema: {exc.message}") from None
        return self


PiiKind = Literal["email", "card", "iban", "national_id", "phone"]


def _all_pii_kinds() -> list[PiiKind]:
    return ["email", "card", "iban", "national_id", "phone"]


class PiiConfig(_Config):
    kinds: list[PiiKind] = Field(default_factory=_all_pii_kinds)
    skip_keys: list[str] = Field(default_factory=list, description="Mapping keys whose values are left as is.")


class ApprovalConfig(_Config):
    message: str = "A person must approve this step before it runs."
    approvers: list[str] = Field(default_factory=list)
    include_data: bool = Field(True, description="Show the data waiting for approval to the approver.")


class ContentFilterConfig(_Config):
    categories: list[str] = Field(default_factory=lambda: list(DEFAULT_CATEGORIES))
    patterns: list[str] = Field(default_factory=list, description="Extra regular expressions to block.")
    action: Literal["block", "redact", "flag"] = "block"


class RateLimitConfig(_Config):
    max: int = Field(ge=1, description="Calls allowed per window.")
    per_seconds: float = Field(60.0, gt=0)
    scope: Literal["workflow", "workspace"] = "workflow"
    on_exceed: Literal["wait", "fail"] = "wait"
    max_wait_s: float = Field(30.0, ge=0, le=3600)


class BudgetConfig(_Config):
    max_tokens: int | None = Field(None, ge=1)
    max_usd: float | None = Field(None, gt=0)
    period: Literal["execution", "day"] = "execution"
    require_usage: bool = False

    @model_validator(mode="after")
    def _one_limit(self) -> BudgetConfig:
        if self.max_tokens is None and self.max_usd is None:
            raise ValueError("give max_tokens, max_usd or both")
        return self


CONFIG_MODELS: dict[str, type[_Config]] = {
    "schema": SchemaConfig,
    "pii_redaction": PiiConfig,
    "approval": ApprovalConfig,
    "content_filter": ContentFilterConfig,
    "rate_limit": RateLimitConfig,
    "budget": BudgetConfig,
}


def parse_config(kind: str, config: Mapping[str, Any]) -> BaseModel:
    """The typed config of a guardrail kind; raises ``GuardrailConfigError`` naming the field."""
    model = CONFIG_MODELS.get(kind)
    if model is None:
        raise GuardrailConfigError(f"unknown guardrail kind {kind!r}", kind=kind)
    try:
        return model.model_validate(dict(config))
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise GuardrailConfigError(
            f"{kind} guardrail config{'.' + where if where else ''}: {first.get('msg')}",
            kind=kind, path=f"$.config{'.' + where if where else ''}",
        ) from None


# --- entry point -----------------------------------------------------------------------------


async def apply_guardrail(node: GuardrailNode, data: Any, ctx: GuardrailContext) -> Any:
    """Apply one guardrail node to ``data``; return what flows on (see the module docstring)."""
    config = parse_config(node.kind, node.config)
    handler = _HANDLERS[node.kind]
    return await handler(node, config, data, ctx)


def _violation(node: GuardrailNode, message: str, paths: list[str] | None = None, **details: Any) -> GuardrailViolation:
    exc = GuardrailViolation(
        f"{node.kind} guardrail {node.id!r}: {message}", kind=node.kind, node_id=node.id, paths=paths or [], **details
    )
    exc.paths = paths or []  # type: ignore[attr-defined]
    return exc


def _json_path(parts: Any) -> str:
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts)


def _dig(data: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if isinstance(data, Mapping) and part in data:
            data = data[part]
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return None
    return data


async def _schema(node: GuardrailNode, config: Any, data: Any, ctx: GuardrailContext) -> Any:
    import jsonschema

    path = config.path
    if path and isinstance(data, Mapping) and path.split(".")[0] not in data:
        # A trigger that hands over the payload itself (no envelope): check the data as it is.
        path = None
    target = _dig(data, path) if path else data
    prefix = f"$.{path}" if path else "$"
    validator = jsonschema.Draft202012Validator(config.json_schema, format_checker=jsonschema.FormatChecker())
    problems: list[dict[str, str]] = []
    for err in sorted(validator.iter_errors(target), key=lambda e: list(map(str, e.absolute_path))):
        path = prefix + _json_path(err.absolute_path)[1:]
        if err.validator == "required" and isinstance(err.instance, Mapping):
            for name in err.validator_value:
                if name not in err.instance:
                    problems.append({"path": f"{path}.{name}", "message": f"'{name}' is required"})
            continue
        problems.append({"path": path, "message": err.message})
    if problems:
        paths = list(dict.fromkeys(p["path"] for p in problems))
        ctx.log("warning", f"schema guardrail rejected the data at {', '.join(paths)}", paths=paths)
        summary = "; ".join(f"{p['path']}: {p['message']}" for p in problems[:5])
        raise _violation(node, f"data does not match the schema: {summary}", paths, problems=problems)
    return data


async def _pii(node: GuardrailNode, config: Any, data: Any, ctx: GuardrailContext) -> Any:  # noqa: ARG001
    if _is_large(data):  # big payloads: keep the event loop responsive
        redacted, counts = await asyncio.to_thread(redact, data, config.kinds, skip_keys=config.skip_keys)
    else:
        redacted, counts = redact(data, config.kinds, skip_keys=config.skip_keys)
    if counts:
        ctx.log("info", f"redacted {sum(counts.values())} PII value(s)", redacted=dict(counts))
    return redacted


def _is_large(data: Any) -> bool:
    return len(repr(data)) > 200_000 if isinstance(data, dict | list | str) else False


async def _approval(node: GuardrailNode, config: Any, data: Any, ctx: GuardrailContext) -> Any:
    decision = getattr(ctx, "approval", None)
    if decision == "approved":
        ctx.log("info", "approved", node_id=node.id)
        return data
    if decision == "rejected":
        raise _violation(node, "a person rejected this step", decision="rejected")
    details: dict[str, Any] = {"node_id": node.id, "message": config.message, "reason": node.reason}
    if config.approvers:
        details["approvers"] = config.approvers
    if config.include_data:
        text = json.dumps(data, default=str, ensure_ascii=False)
        # the approver needs to see what will happen, not megabytes: large data is shown truncated
        details["data"] = data if len(text) <= MAX_APPROVAL_DATA_CHARS else {
            "truncated": True, "preview": text[:MAX_APPROVAL_DATA_CHARS]}
    raise ApprovalRequired(config.message, details)


async def _content_filter(node: GuardrailNode, config: Any, data: Any, ctx: GuardrailContext) -> Any:
    try:
        content_filter = ContentFilter(config.categories, config.patterns)
    except (ValueError, re.error) as exc:
        raise GuardrailConfigError(f"content_filter guardrail config: {exc}", kind="content_filter") from None
    findings: list[dict[str, str]] = []
    for path, text in _strings_with_paths(data):
        for finding in content_filter.scan(text):
            findings.append({"path": path, "category": finding.category, "excerpt": finding.excerpt, "via": finding.via})
    if not findings:
        return data
    paths = list(dict.fromkeys(f["path"] for f in findings))
    categories = sorted({f["category"] for f in findings})
    if config.action == "flag":
        ctx.log("warning", f"content filter flagged {', '.join(categories)} at {', '.join(paths)}", findings=findings)
        return data
    if config.action == "redact":
        ctx.log("warning", f"content filter redacted {', '.join(categories)} at {', '.join(paths)}", findings=findings)
        return _map_strings(data, content_filter.redact)
    ctx.log("warning", f"content filter blocked {', '.join(categories)} at {', '.join(paths)}", findings=findings)
    raise _violation(node, f"blocked content ({', '.join(categories)}) at {', '.join(paths)}", paths,
                     categories=categories, findings=findings)


def _strings_with_paths(data: Any, path: str = "$") -> list[tuple[str, str]]:
    """Every string in the data with its path — object keys too (a model can write text into keys)."""
    if isinstance(data, str):
        return [(path, data)]
    if isinstance(data, Mapping):
        out: list[tuple[str, str]] = []
        for key, value in data.items():
            out.append((f"{path}.{key}#key", str(key)))
            out.extend(_strings_with_paths(value, f"{path}.{key}"))
        return out
    if isinstance(data, list | tuple):
        return [item for i, v in enumerate(data) for item in _strings_with_paths(v, f"{path}[{i}]")]
    return []


def _map_strings(data: Any, fn: Any) -> Any:
    if isinstance(data, str):
        return fn(data)
    if isinstance(data, Mapping):
        return {(fn(k) if isinstance(k, str) else k): _map_strings(v, fn) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [_map_strings(v, fn) for v in data]
    return data


# --- rate limits -----------------------------------------------------------------------------


class InMemoryRateLimitStore:
    """A sliding-window log per key, kept in this process (thread-safe)."""

    def __init__(self) -> None:
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def acquire(self, key: str, limit: int, window_s: float, now: float) -> float:
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - window_s:
                hits.popleft()
            if len(hits) < limit:
                hits.append(now)
                return 0.0
            return max(hits[0] + window_s - now, 0.001)


PROCESS_RATE_LIMITS = InMemoryRateLimitStore()
"""Used when the context has no ``rate_limits`` store: counts are per process."""


def rate_limit_key(config: RateLimitConfig, node: GuardrailNode, ctx: GuardrailContext) -> str:
    if config.scope == "workspace":
        return f"ws:{ctx.workspace_id}:{node.id}"
    workflow = getattr(ctx, "workflow_id", None) or "-"
    return f"wf:{ctx.workspace_id}:{workflow}:{node.id}"


async def _rate_limit(node: GuardrailNode, config: Any, data: Any, ctx: GuardrailContext) -> Any:
    store: RateLimitStore = ctx.rate_limits or PROCESS_RATE_LIMITS
    key = rate_limit_key(config, node, ctx)
    deadline = time.monotonic() + config.max_wait_s
    while True:
        wait = store.acquire(key, config.max, config.per_seconds, time.monotonic())
        if wait <= 0:
            return data
        if config.on_exceed == "fail" or time.monotonic() + wait > deadline:
            raise _violation(
                node, f"rate limit of {config.max} per {config.per_seconds:g}s exceeded",
                retry_after_s=round(wait, 3), limit=config.max, per_seconds=config.per_seconds,
            )
        ctx.log("info", f"rate limit reached; waiting {wait:.2f}s", key=key)
        await asyncio.sleep(wait)


# --- budgets ---------------------------------------------------------------------------------


async def _budget(node: GuardrailNode, config: Any, data: Any, ctx: GuardrailContext) -> Any:
    usage = ctx.usage
    if usage is None:
        if config.require_usage:
            raise _violation(node, "no usage tracker is available to check the budget")
        ctx.log("warning", "budget guardrail: no usage tracker in this context; budget not enforced")
        return data
    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    totals: Any = (usage.totals(workspace_id=ctx.workspace_id, execution_id=ctx.execution_id)
                   if config.period == "execution" else usage.totals(workspace_id=ctx.workspace_id, since=day))
    if inspect.isawaitable(totals):
        totals = await totals
    totals = dict(totals or {})
    tokens = int(totals.get("tokens", totals.get("total_tokens", 0)) or 0)
    cost = float(totals.get("cost_usd", 0.0) or 0.0)
    over = []
    if config.max_tokens is not None and tokens >= config.max_tokens:
        over.append(f"{tokens} tokens used of {config.max_tokens}")
    if config.max_usd is not None and cost >= config.max_usd:
        over.append(f"${cost:.4f} spent of ${config.max_usd:g}")
    if over:
        raise _violation(node, f"{config.period} budget exhausted: {'; '.join(over)}",
                         tokens=tokens, cost_usd=cost, period=config.period)
    return data


_HANDLERS = {
    "schema": _schema,
    "pii_redaction": _pii,
    "approval": _approval,
    "content_filter": _content_filter,
    "rate_limit": _rate_limit,
    "budget": _budget,
}

__all__ = [
    "CONFIG_MODELS",
    "PROCESS_RATE_LIMITS",
    "GuardrailConfigError",
    "GuardrailContext",
    "InMemoryRateLimitStore",
    "RateLimitStore",
    "apply_guardrail",
    "parse_config",
]
