"""`flowwright worker` (drive executions from the durable queue, or run a Temporal worker) and
`flowwright workers` (list them)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import Annotated, Any

import typer

from app.cli.container import container
from app.cli.output import console, print_json


def register(app: typer.Typer) -> None:
    app.command("worker")(worker)
    app.command("workers")(workers)


def worker(
    capacity: Annotated[int | None, typer.Option(help="Executions driven at once (FLOWWRIGHT_WORKER_CAPACITY); "
                                                 "temporal: node activities at once.", min=1)] = None,
    heartbeat: Annotated[float | None, typer.Option(help="Heartbeat interval in seconds "
                                                    "(FLOWWRIGHT_WORKER_HEARTBEAT_S).", min=0.05)] = None,
    backend: Annotated[str | None, typer.Option(help="local or temporal (FLOWWRIGHT_BACKEND).")] = None,
    workspace: Annotated[list[str] | None, typer.Option(
        "--workspace", "-w", help="temporal: a workspace whose task queue this worker serves (repeatable; "
        "default: every workspace in the database).")] = None,
) -> None:
    """Claim executions from the queue and drive them until stopped (SIGTERM/SIGINT: hand them back);
    with the temporal backend, run a Temporal worker for the workspaces' task queues."""
    import os

    from app.data_dir import SERVICE_UMASK
    from app.settings import get_settings

    os.umask(SERVICE_UMASK)  # what the worker writes in the data dir is its user's alone
    settings = get_settings()
    chosen = backend or settings.backend
    if chosen not in ("local", "temporal"):
        console.print(f"[bold red]error:[/] --backend: expected local or temporal, got {chosen!r}")
        raise typer.Exit(2)
    services = container(overrides={"backend": chosen} if chosen != settings.backend else None)
    if chosen == "temporal":
        asyncio.run(_work_temporal(services, workspace, capacity or 100))
    else:
        asyncio.run(_work(services, capacity or settings.worker_capacity, heartbeat or settings.worker_heartbeat_s))
    raise typer.Exit(0)


async def _work_temporal(services: Any, workspaces: list[str] | None, capacity: int) -> None:
    """A Temporal worker process: the interpreter workflow and its activities, for each
    workspace's task queue, until SIGTERM/SIGINT (in-flight activities get a grace period;
    Temporal gives what does not finish to another worker)."""
    from engine.errors import FlowwrightError
    from engine.temporal.runtime import TemporalRuntime, build_workers

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    runtime = services.runtime
    assert isinstance(runtime, TemporalRuntime)
    names = workspaces or [str(w["name"]) for w in await asyncio.to_thread(services.api_keys.workspaces)] \
        or ["default"]
    try:
        client = await runtime.client()
    except FlowwrightError as exc:
        console.print(f"[bold red]error:[/] {exc.message}")
        raise typer.Exit(1) from None
    workers = build_workers(client, runtime.options, runtime.activities(), names, max_concurrent_activities=capacity)
    queues = ", ".join(runtime.options.task_queue(n) for n in names)
    console.print(f"temporal worker at {runtime.options.address} ({runtime.options.namespace}): {queues}",
                  markup=False)
    try:
        async with contextlib.AsyncExitStack() as stack:
            for one in workers:
                await stack.enter_async_context(one)
            await stop.wait()
    finally:
        await runtime.aclose()


async def _work(services: Any, capacity: int, heartbeat_s: float) -> None:
    from engine.worker import Worker

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    runtime = services.runtime
    node = Worker(runtime, services.queue, capacity=capacity, heartbeat_s=heartbeat_s)
    try:
        await node.run(stop)
    finally:
        await runtime.aclose()
    if node.fenced:
        raise typer.Exit(75)  # EX_TEMPFAIL: the supervisor starts a fresh worker


def workers(as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False) -> None:
    """List the worker processes (alive, dead, stopped) and the queue's depth."""
    from engine.execution_store import aware

    services = container(vault=False)
    rows = services.queue.workers()
    depth = services.queue.depth()
    items: list[dict[str, Any]] = [{"id": r.id, "kind": r.kind, "status": r.status, "capacity": r.capacity,
              "heartbeat_at": aware(r.heartbeat_at).isoformat()} for r in rows]  # type: ignore[union-attr]
    if as_json:
        print_json({"workers": items, "queue": {"queued": depth.get("queued", 0), "claimed": depth.get("claimed", 0)}})
        return
    console.print(f"queue: {depth.get('queued', 0)} queued, {depth.get('claimed', 0)} claimed", markup=False)
    for item in items:
        console.print(f"{item['id']}  {item['kind']}  {item['status']}  capacity {item['capacity']}  "
                      f"last heartbeat {item['heartbeat_at'][:19]}", markup=False)
