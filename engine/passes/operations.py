"""What the passes need to know about an action's operation: the catalog's flags, or a
conservative guess when the catalog does not know it (unknown operations count as external)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

# Money-moving or destructive words in a connector/operation name, a node id or a URL.
DESTRUCTIVE_WORDS = re.compile(
    r"(?<![a-z])(refund|payment|pay|payout|charge|transfer|wire|delete|remove|destroy|drop|truncate|purge|cancel_subscription)s?(?![a-z])"
)
DESTRUCTIVE_OPERATIONS = {("database", "execute"), ("datastore", "delete")}
SEND_OPERATIONS = {("email", "send"), ("sms", "send"), ("twilio", "send_sms")}
OUTBOUND_NOT = {"core", "llm", "datastore"}

DEFAULT_TIMEOUTS_S = {"llm": 120.0, "database": 60.0, "http": 30.0, "email": 30.0, "slack": 30.0}
FALLBACK_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class OpInfo:
    external: bool
    destructive: bool
    idempotent: bool
    rate_limit: tuple[int, float] | None  # (requests, per_seconds)


def op_info(catalog: Any, node: dict[str, Any]) -> OpInfo:
    connector, operation = node.get("connector", ""), node.get("operation", "")
    op = catalog.operation(connector, operation) if catalog is not None else None
    if op is not None:
        limit = op.rate_limit
        conn = catalog.get(connector)
        if limit is None and conn is not None:
            limit = getattr(conn, "rate_limit", None)
        return OpInfo(bool(op.external), bool(op.destructive), bool(op.idempotent),
                      (limit.requests, limit.per_seconds) if limit is not None else None)
    internal = connector == "core"
    return OpInfo(external=not internal, destructive=False, idempotent=internal, rate_limit=None)


def is_destructive(catalog: Any, node: dict[str, Any]) -> str | None:
    """Why an action deletes data or moves money (a short phrase), or None."""
    connector, operation = node.get("connector", ""), node.get("operation", "")
    if op_info(catalog, node).destructive:
        return f"{connector}.{operation} is marked destructive in the catalog"
    if (connector, operation) in DESTRUCTIVE_OPERATIONS:
        return f"{connector}.{operation} changes stored data"
    words = DESTRUCTIVE_WORDS.search(f"{connector}.{operation}".lower())
    if words:
        return f"{connector}.{operation} looks like a {words.group(1)} step"
    config = node.get("config") or {}
    if connector == "http":
        method = str(config.get("method", "GET")).upper()
        url = str(config.get("url", "")).lower()
        if method == "DELETE":
            return "it sends an HTTP DELETE"
        # the path names the endpoint better than the host ("pay.example.com/api/refunds" is a refund)
        path = urlsplit(url).path if "://" in url else url
        found = DESTRUCTIVE_WORDS.search(re.sub(r"[^a-z]+", " ", path)) or DESTRUCTIVE_WORDS.search(
            re.sub(r"[^a-z]+", " ", url))
        if method in ("POST", "PUT", "PATCH") and found:
            return f"it calls a {found.group(1)} endpoint ({method} {config.get('url')})"
    found = DESTRUCTIVE_WORDS.search(re.sub(r"[^a-z]+", " ", node.get("id", "").replace("_", " ")))
    if found and connector not in ("core", "llm"):
        return f"the step {node['id']!r} looks like a {found.group(1)}"
    return None


def is_llm(node: dict[str, Any]) -> bool:
    return node.get("type") == "action" and node.get("connector") == "llm"


def is_outbound(catalog: Any, node: dict[str, Any]) -> bool:
    """An action that sends something out of Flowwright (http, email, slack, plugins...)."""
    if node.get("type") != "action" or node.get("connector") in OUTBOUND_NOT:
        return False
    return op_info(catalog, node).external


def is_send(node: dict[str, Any]) -> bool:
    return node.get("type") == "action" and (node.get("connector"), node.get("operation")) in SEND_OPERATIONS


def default_timeout(node: dict[str, Any]) -> float:
    return DEFAULT_TIMEOUTS_S.get(node.get("connector", ""), FALLBACK_TIMEOUT_S)


__all__ = ["OpInfo", "default_timeout", "is_destructive", "is_llm", "is_outbound", "is_send", "op_info"]
