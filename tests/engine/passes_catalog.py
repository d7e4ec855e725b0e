"""A connector catalog for the pass tests: the built-in names with the flags the passes read.

The real connectors' run functions are not needed here (passes only read the catalog), so each
operation's ``run`` refuses to be called.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from connectors.contract import AuthType, Connector, Operation, RateLimit
from connectors.core import CONNECTOR as CORE
from connectors.registry import Registry


class _Any(BaseModel):
    model_config = ConfigDict(extra="allow")


async def _never(inp: Any, ctx: Any) -> BaseModel:
    raise AssertionError("passes never run operations")


def _op(name: str, **flags: Any) -> Operation:
    return Operation(name, name, _Any, _Any, _never, **flags)


def _connector(name: str, *ops: Operation, rate_limit: RateLimit | None = None) -> Connector:
    return Connector(name, name.title(), name, "test", "", AuthType.NONE, ops, rate_limit=rate_limit)


def catalog() -> Registry:
    return Registry([
        CORE,
        _connector("http", _op("request")),
        _connector("email", _op("send")),
        _connector("slack", _op("post_message"), rate_limit=RateLimit(1, 1.0)),
        _connector("database", _op("query", idempotent=True), _op("execute", destructive=True)),
        _connector("datastore", _op("insert", external=False), _op("delete", external=False, destructive=True)),
        _connector("llm", *(_op(n, idempotent=True) for n in ("complete", "classify", "extract", "summarize"))),
        _connector("stripe", _op("create_refund", destructive=True)),
    ])
