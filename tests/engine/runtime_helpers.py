"""A test connector and runtime factory shared by the runtime, recovery and event tests.

The ``probe`` connector's operations have real side effects the tests can count: ``count``
appends a line to a file (so a test — or a crash test's parent process — can prove how often a
node ran), ``flaky`` fails a given number of times, ``sleep`` waits, ``secret`` echoes its
credential, ``remote`` is an external operation with a rich output model (dry runs);
``rendezvous`` proves concurrency without a stopwatch (each call waits until ``count`` calls have
arrived, then until every higher ``index`` has finished, and appends its index to a file).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from connectors import core
from connectors.contract import AuthType, Connector, Operation, OperationContext, RateLimit
from connectors.errors import ConnectorError, CredentialError, PermanentError
from connectors.registry import Registry
from engine.db import make_engine
from engine.execution_run import RuntimeLimits
from engine.execution_store import ExecutionStore
from engine.runtime import Runtime
from engine.workflow_store import WorkflowStore


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CountInput(_In):
    file: str
    tag: str
    sleep_s: float = 0
    value: Any = None


class CountOutput(BaseModel):
    tag: str
    value: Any = None


class FlakyInput(_In):
    key: str
    failures: int
    mode: Literal["retryable", "permanent", "crash", "http404", "http429"] = "retryable"
    retry_after_s: float | None = None


class FlakyOutput(BaseModel):
    attempts: int


class SleepInput(_In):
    seconds: float


class SleepOutput(BaseModel):
    slept: float


class RendezvousInput(_In):
    dir: str
    index: int
    count: int
    timeout_s: float = 20.0


class RendezvousOutput(BaseModel):
    index: int


class SecretInput(_In):
    note: str = ""


class SecretOutput(BaseModel):
    token: str
    note: str


class RemoteInput(_In):
    url: str
    count: int = 1


class Item(BaseModel):
    name: str = Field(min_length=3)
    score: float = Field(ge=10)


class RemoteOutput(BaseModel):
    status: int = Field(ge=100, le=599)
    ok: bool
    when: datetime
    email: str
    items: list[Item]
    tags: list[str] = []
    kind: Literal["a", "b"]
    maybe: int | None


class BigInput(_In):
    size: int


class BigOutput(BaseModel):
    data: str


ATTEMPTS: dict[str, int] = {}


async def _count(inp: CountInput, ctx: OperationContext) -> CountOutput:
    with open(inp.file, "a", encoding="utf-8") as fh:
        fh.write(f"{inp.tag}\n")
        fh.flush()
    if inp.sleep_s:
        await asyncio.sleep(inp.sleep_s)
    ctx.log("info", f"counted {inp.tag}")
    return CountOutput(tag=inp.tag, value=inp.value)


async def _flaky(inp: FlakyInput, ctx: OperationContext) -> FlakyOutput:
    ATTEMPTS[inp.key] = ATTEMPTS.get(inp.key, 0) + 1
    n = ATTEMPTS[inp.key]
    if n <= inp.failures:
        if inp.mode == "permanent":
            raise PermanentError(f"permanent failure {n}")
        if inp.mode == "crash":
            raise RuntimeError(f"boom {n}")
        if inp.mode == "http404":
            raise ConnectorError("not found", status_code=404)
        if inp.mode == "http429":
            raise ConnectorError("slow down", status_code=429, retry_after_s=inp.retry_after_s)
        raise ConnectorError(f"transient failure {n}", retry_after_s=inp.retry_after_s)
    return FlakyOutput(attempts=n)


async def _sleep(inp: SleepInput, ctx: OperationContext) -> SleepOutput:
    await asyncio.sleep(inp.seconds)
    return SleepOutput(slept=inp.seconds)


async def _secret(inp: SecretInput, ctx: OperationContext) -> SecretOutput:
    token = (ctx.credential or {}).get("token", "")
    ctx.log("info", f"using token {token}", token=token)
    return SecretOutput(token=token, note=f"{inp.note} {token}")


async def _remote(inp: RemoteInput, ctx: OperationContext) -> RemoteOutput:
    raise AssertionError("a dry run must never call an external operation")


async def _rendezvous(inp: RendezvousInput, ctx: OperationContext) -> RendezvousOutput:
    folder = Path(inp.dir)
    (folder / f"arrived_{inp.index}").touch()
    deadline = asyncio.get_running_loop().time() + inp.timeout_s

    async def until(done: Any, what: str) -> None:
        while not done():
            if asyncio.get_running_loop().time() > deadline:
                raise PermanentError(f"rendezvous {inp.index}: {what} within {inp.timeout_s} s")
            await asyncio.sleep(0.005)

    await until(lambda: len(list(folder.glob("arrived_*"))) >= inp.count, f"fewer than {inp.count} calls arrived")
    await until(lambda: all((folder / f"done_{j}").exists() for j in range(inp.index + 1, inp.count)),
                "a later call did not finish")
    with open(folder / "order", "a") as fh:
        fh.write(f"{inp.index}\n")
    (folder / f"done_{inp.index}").touch()
    return RendezvousOutput(index=inp.index)


async def _big(inp: BigInput, ctx: OperationContext) -> BigOutput:
    return BigOutput(data="x" * inp.size)


PROBE = Connector(
    name="probe", title="Probe", description="Test operations with countable side effects.",
    category="test", icon="🧪", auth=AuthType.NONE,
    operations=(
        Operation("count", "Append a tag to a file.", CountInput, CountOutput, _count, external=False),
        Operation("flaky", "Fail a number of times.", FlakyInput, FlakyOutput, _flaky, external=False),
        Operation("sleep", "Sleep.", SleepInput, SleepOutput, _sleep, external=False),
        Operation("secret", "Echo the credential.", SecretInput, SecretOutput, _secret, external=False),
        Operation("remote", "Pretend to call a remote API.", RemoteInput, RemoteOutput, _remote, external=True),
        Operation("rendezvous", "Wait for the others.", RendezvousInput, RendezvousOutput, _rendezvous,
                  external=False),
        Operation("big", "Return a large output.", BigInput, BigOutput, _big, external=False),
        Operation("limited", "Rate-limited.", SleepInput, SleepOutput, _sleep, external=False,
                  rate_limit=RateLimit(requests=2, per_seconds=1)),
    ),
)


def registry() -> Registry:
    return Registry([core.CONNECTOR, PROBE])


class DictVault:
    """A CredentialResolver over a dict (the real vault has its own tests)."""

    def __init__(self, secrets: dict[str, dict[str, Any]]) -> None:
        self.secrets = secrets

    def resolve(self, workspace_id: str, name: str) -> dict[str, Any]:
        if name not in self.secrets:
            raise CredentialError(f"no credential {name!r}")
        return self.secrets[name]


# (backend, Temporal address): set by the ``backend`` fixture (tests/engine/conftest.py)
BACKEND: tuple[str, str | None] = ("local", None)


@contextlib.asynccontextmanager
async def runtime_at(db_path: Path, **kwargs: Any) -> AsyncIterator[Runtime]:
    """A runtime over a real SQLite file, with the workflow store beside it (sub-workflows);
    closed (store flushed) on exit. On the backend the ``backend`` fixture chose (the
    conformance tests run on both): the local runtime, or a Temporal-backed one."""
    if BACKEND[0] == "temporal":
        assert BACKEND[1] is not None
        async with temporal_runtime_at(db_path, BACKEND[1], **kwargs) as temporal:
            yield temporal
        return
    store = ExecutionStore(make_engine(f"sqlite:///{db_path}"))
    kwargs.setdefault("limits", RuntimeLimits())
    kwargs.setdefault("workflows", WorkflowStore(store.engine))
    runtime = Runtime(store, kwargs.pop("registry", None) or registry(), **kwargs)
    try:
        yield runtime
    finally:
        await runtime.aclose()
        store.close()
        store.engine.dispose()


def wf(nodes: list[dict[str, Any]], edges: list[tuple[str, str] | tuple[str, str, str]], **extra: Any) -> dict[str, Any]:
    """A workflow with a manual trigger ``start`` prepended."""
    return {
        "name": extra.pop("name", "test"),
        "nodes": [{"id": "start", "type": "trigger", "kind": "manual"}, *nodes],
        "edges": [{"source": e[0], "target": e[1], **({"branch": e[2]} if len(e) > 2 else {})} for e in edges],
        **extra,
    }


def transform(node_id: str, expression: str, **extra: Any) -> dict[str, Any]:
    return {"id": node_id, "type": "action", "connector": "core", "operation": "transform",
            "config": {"expression": expression}, **extra}


def count(node_id: str, file: Path, **config: Any) -> dict[str, Any]:
    extra = {k: config.pop(k) for k in ("retry", "on_error", "timeout_s") if k in config}
    return {"id": node_id, "type": "action", "connector": "probe", "operation": "count",
            "config": {"file": str(file), "tag": config.pop("tag", node_id), **config}, **extra}


def statuses(result: dict[str, Any]) -> dict[str, str]:
    """node id (with loop path) → status of its last step row."""
    out = {}
    for step in result["steps"]:
        key = step["node_id"] + (f"@{step['loop_path']}" if step.get("loop_path") else "")
        out[key] = step["status"]
    return out


@contextlib.asynccontextmanager
async def temporal_runtime_at(db_path: Path, address: str, **kwargs: Any) -> AsyncIterator[Runtime]:
    """A Temporal-backed runtime over a real SQLite file and a real Temporal server, with an
    embedded worker on a task queue of its own (tests share one server)."""
    import hashlib

    from engine.temporal.runtime import TemporalOptions, TemporalRuntime

    store = ExecutionStore(make_engine(f"sqlite:///{db_path}"))
    kwargs.setdefault("limits", RuntimeLimits())
    kwargs.setdefault("workflows", WorkflowStore(store.engine))
    # a task queue of this database's own: a later runtime over the same file (another process,
    # later) serves its executions; other tests' workflows never reach it
    queue = hashlib.sha256(str(db_path.resolve()).encode()).hexdigest()[:16]
    options = TemporalOptions(address=address, task_queue_prefix=f"fw-test-{queue}",
                              per_workspace=kwargs.pop("per_workspace", False),
                              heartbeat_timeout_s=kwargs.pop("heartbeat_timeout_s", 10.0))
    workspaces = kwargs.pop("workspaces", ("default",))
    embedded = kwargs.pop("embedded", True)
    runtime = TemporalRuntime(store, kwargs.pop("registry", None) or registry(), options=options, **kwargs)
    try:
        if embedded:
            async with runtime.embedded_worker(workspaces):
                yield runtime
        else:
            yield runtime
    finally:
        await runtime.aclose()
        store.close()
        store.engine.dispose()
