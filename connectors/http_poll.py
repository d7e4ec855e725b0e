"""The ``http`` connector's polling trigger ``new_items``: GET a URL whose JSON holds a list of
objects with an id; every object whose id was not seen before is a new item.

The cursor is the list of ids seen (most recent last), trimmed to ``remember`` ids but never
below what the latest answer held, so an id still listed never fires twice. The request is
``http.request``'s own (the host policy and SSRF guard, the credential's headers, redirects that
drop credentials on another origin, the response size cap).
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from connectors.contract import OperationContext, PolledItem, PollTrigger
from connectors.errors import PermanentError

PATH = r"^[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*$"


class NewItemsInput(BaseModel):
    """Where the list is and how its items are told apart."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, description="http:// or https:// URL answering JSON.")
    headers: dict[str, str] = Field(default_factory=dict)
    query: dict[str, str | int | float | bool] = Field(default_factory=dict, description="Query parameters.")
    items: str | None = Field(None, pattern=PATH, description="Dotted path to the list in the JSON answer "
                                                             "(e.g. data.items); none: the answer is the list.")
    id_field: str = Field("id", pattern=PATH, description="Dotted path to each item's id.")
    newest_first: bool = Field(False, description="The list comes newest first (runs still start oldest first).")
    remember: int = Field(1000, ge=1, le=10_000, description="How many ids the cursor keeps.")
    timeout_s: float = Field(30.0, gt=0, le=600)
    max_response_bytes: int = Field(10 * 1024 * 1024, ge=1, le=100 * 1024 * 1024)


def _dig(value: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


async def _fetch(inp: NewItemsInput, ctx: OperationContext) -> list[tuple[str, dict[str, Any]]]:
    """The answer's items with their ids, oldest first (items without an id are logged and left)."""
    from connectors.http import RequestInput, _request  # the connector module imports this one

    out = await _request(RequestInput(
        method="GET", url=inp.url, headers=inp.headers, query=dict(inp.query), timeout_s=inp.timeout_s,
        response_format="json", max_response_bytes=inp.max_response_bytes), ctx)
    listed = _dig(out.body, inp.items) if inp.items else out.body
    if not isinstance(listed, list):
        where = f"at {inp.items!r}" if inp.items else "at the top"
        raise PermanentError(f"http.new_items: the answer of {inp.url} has no list {where}", code="poll_not_a_list")
    found: list[tuple[str, dict[str, Any]]] = []
    for i, item in enumerate(listed):
        ident = _dig(item, inp.id_field) if isinstance(item, dict) else None
        if ident is None or isinstance(ident, dict | list):
            ctx.log("warning", f"http.new_items: item {i} has no {inp.id_field!r}; it is left out")
            continue
        found.append((json.dumps(ident), item))
    return found[::-1] if inp.newest_first else found


def _trim(seen: list[str], keep: set[str], remember: int) -> list[str]:
    """The most recent ``remember`` ids, plus every id in ``keep`` (the latest answer's)."""
    if len(seen) <= remember:
        return seen
    extra = len(seen) - max(remember, len(keep))
    out = []
    for ident in seen:
        if extra > 0 and ident not in keep:
            extra -= 1
            continue
        out.append(ident)
    return out


async def _arm(inp: NewItemsInput, ctx: OperationContext) -> Any:
    """The cursor of now: every id the list holds (all kept, however many: they are listed)."""
    return {"seen": [ident for ident, _item in await _fetch(inp, ctx)]}


async def _poll(inp: NewItemsInput, ctx: OperationContext, cursor: Any, max_items: int) -> list[PolledItem]:
    """Items whose id is not in the cursor, oldest first; each carries the cursor once it is handled."""
    listed = await _fetch(inp, ctx)
    seen: list[str] = list((cursor or {}).get("seen") or []) if isinstance(cursor, dict) else []
    known = set(seen)
    current = {ident for ident, _item in listed}
    items = []
    for ident, item in listed:
        if ident in known:
            continue
        known.add(ident)
        seen.append(ident)
        items.append(PolledItem(key=f"id={ident}", value=item, cursor={"seen": _trim(list(seen), current, inp.remember)}))
        if len(items) >= max_items:
            break
    return items


NEW_ITEMS = PollTrigger(
    "new_items",
    "Start a run for every new item of a JSON list fetched from a URL: items whose id (`id_field`) was "
    "not seen before. The run's input is the item.",
    NewItemsInput, _poll, _arm,
)
