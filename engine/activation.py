"""Activation: the explicit, checked act that makes a workflow version the one its triggers run,
and the preview of what will then fire — the next schedule times in words and in UTC, or the
webhook's method and path.

Nothing the copilot or an import writes fires by itself: those are drafts
(``engine.workflow_store``). ``activate`` re-validates the version against today's connector
catalog first, so a draft that was saved with problems, or whose connector has since gone, is
refused with every problem listed rather than failing at 9 on Monday.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from engine.cron_scheduler import next_fire
from engine.validation import Catalog, parse_workflow
from engine.workflow import Workflow
from engine.workflow_store import WorkflowRow, WorkflowStore

PREVIEW_COUNT = 5


def describe_cron(cron: str) -> str:
    """A cron expression in words ("At 09:00, only on Monday"), 24-hour clock."""
    from cron_descriptor import ExpressionDescriptor, Options

    options = Options()
    options.use_24hour_time_format = True
    options.verbose = False
    try:
        return str(ExpressionDescriptor(cron, options).get_description())
    except Exception:  # the validator already vetted it with croniter; words are a courtesy
        return cron


def _in_words(moment: datetime, zone: str) -> str:
    local = moment.astimezone(ZoneInfo(zone))
    return f"{local:%A} {local.day} {local:%B %Y}, {local:%H:%M} {zone}"


def preview(workflow: Workflow, workflow_id: str, *, now: datetime | None = None,
            count: int = PREVIEW_COUNT) -> dict[str, Any]:
    """What activating ``workflow`` makes fire. A schedule: ``description`` (the cron in words)
    and ``next``: up to ``count`` firing times, each ``{"utc", "local", "words"}``; a webhook:
    ``method`` and ``path`` (``/v1/hooks/<id>[/<path>]``; the caller prefixes its base URL);
    a poll trigger: what is polled, how often and what starts a run; a manual trigger: nothing
    fires by itself."""
    trigger = workflow.trigger
    kind = trigger.kind if trigger is not None else "manual"
    if trigger is None or kind == "manual":
        return {"kind": "manual", "description": "runs only when started by hand"}
    config = trigger.config
    if kind == "webhook":
        suffix = f"/{config.path.strip('/')}" if config.path and config.path.strip("/") else ""
        method = config.method or "POST"
        path = f"/v1/hooks/{workflow_id}{suffix}"
        return {"kind": "webhook", "method": method, "path": path,
                "description": f"runs on every {method} to {path}"}
    if kind == "poll":
        interval = config.interval_s or 60.0
        per = "one run per poll's batch of new items" if config.per == "batch" else "one run per new item"
        since = "items already there fire too" if config.start == "all" else "only items that appear from now on"
        return {"kind": "poll", "connector": trigger.connector, "operation": trigger.operation,
                "interval_s": interval, "per": config.per or "item", "start": config.start or "new",
                "description": f"polls {trigger.connector}.{trigger.operation} every {interval:g} s: {per} ({since})"}
    zone = config.timezone or "UTC"
    raw = config.model_dump(exclude_none=True)
    moment = now or datetime.now(UTC)
    times: list[datetime] = []
    while len(times) < count and (following := next_fire(raw, moment)) is not None:
        times.append(following)
        moment = following
    if config.at:
        description = f"once, at {config.at}" + (" (already past: it will not fire)" if not times else "")
    else:
        description = f"{describe_cron(config.cron or '')} ({zone})"
    return {
        "kind": "schedule", "cron": config.cron, "at": config.at, "timezone": zone, "description": description,
        "next": [{"utc": t.astimezone(UTC).isoformat(), "local": t.astimezone(ZoneInfo(zone)).isoformat(),
                  "words": _in_words(t, zone)} for t in times],
    }


def activate(store: WorkflowStore, catalog: Catalog | None, workspace_id: str, workflow_id: str,
             version: int | None = None, *, now: datetime | None = None) -> tuple[WorkflowRow, dict[str, Any]]:
    """Validate ``version`` (the draft by default), make it the active one, and return the row and
    the :func:`preview` of what now fires. Raises ``WorkflowInvalidError`` listing every problem
    (nothing changes then) and ``NotFoundError`` for an unknown workflow or version."""
    found = store.version(workspace_id, workflow_id, version)
    workflow = parse_workflow(found.definition_dict(), catalog)
    # its sub-workflows may have gone (deleted, archived) or changed into a cycle since it was saved
    store.check_calls(workspace_id, found.definition_dict(), self_id=workflow_id)
    row = store.activate(workspace_id, workflow_id, found.version)
    return row, preview(workflow, workflow_id, now=now)


def rollback(store: WorkflowStore, catalog: Catalog | None, workspace_id: str, workflow_id: str,
             version: int, *, now: datetime | None = None) -> tuple[WorkflowRow, dict[str, Any] | None]:
    """Make an earlier ``version`` the draft again and, if the workflow is active, the active one
    too (validated first). Returns the row and, when it is active, the preview of what fires."""
    found = store.version(workspace_id, workflow_id, version)
    row = store.get(workspace_id, workflow_id)
    if row.status == "active":
        workflow = parse_workflow(found.definition_dict(), catalog)
        store.set_current(workspace_id, workflow_id, version)
        return store.activate(workspace_id, workflow_id, version), preview(workflow, workflow_id, now=now)
    return store.set_current(workspace_id, workflow_id, version), None
