"""Running one action or guardrail node: attempts with retries (tenacity), timeouts, credentials,
rate limits, dry-run recording, durable sleeps, approvals, and ``on_error`` handling."""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import inspect
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from connectors.errors import ApprovalRequired, ConnectorError, CredentialError, PermanentError, Suspend
from engine import events as ev
from engine.circuit_breaker import circuit_key
from engine.collaborators import ReauthorizingCredentials
from engine.context import Scope, StepContext
from engine.database_faults import busy_error, describe, is_transient
from engine.dry_run import sample_output
from engine.errors import FlowwrightError, NodeFailed, Parked, Paused
from engine.execution_run import Checkpoint, ExecutionRun
from engine.execution_store import approval_insert, dumps, new_id, now
from engine.expressions import ExpressionEvaluationError, ExpressionSyntaxError
from engine.retry import NO_RETRY, NodeTimeoutError, is_retryable, make_wait
from engine.workflow import ActionNode, GuardrailNode, Node

EVENT_OUTPUT_LIMIT = 16 * 1024  # larger outputs are in the step row, not in the event
MAX_SUSPENDS = 100


class StepOutputTooLarge(PermanentError):
    code = "step_output_too_large"


class GuardrailUnavailable(PermanentError):
    code = "guardrail_unavailable"


class OutcomeUnknown(PermanentError):
    """A side effect that must not be repeated was in flight when its process died."""

    code = "outcome_unknown"


def error_payload(exc: BaseException, node_id: str, attempt: int) -> dict[str, Any]:
    """The JSON form of a node's error (step rows, events, the ``error`` route's output)."""
    payload: dict[str, Any]
    if isinstance(exc, FlowwrightError):
        payload = exc.to_dict()
    elif isinstance(exc, ValidationError):
        problems = [
            {"path": "config" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in e["loc"]), "message": e["msg"]}
            for e in exc.errors(include_url=False)
        ]
        message = "; ".join(f"{p['path']}: {p['message']}" for p in problems[:5])
        payload = {"code": "input_invalid", "message": f"invalid input: {message}", "details": {"problems": problems}}
    elif isinstance(exc, ExpressionEvaluationError):
        payload = {"code": exc.code, "message": str(exc), "details": {"expression": exc.expression}}
    elif isinstance(exc, ExpressionSyntaxError):
        payload = {"code": "expression_syntax", "message": f"expression does not parse: {exc}"}
    elif isinstance(exc, TimeoutError):
        payload = {"code": "node_timeout", "message": "the node timed out"}
    elif isinstance(exc, SQLAlchemyError):  # Flowwright's own database: never show the SQL
        payload = busy_error(exc).to_dict() if is_transient(exc) else {"code": "database_error",
                                                                        "message": describe(exc)}
    else:
        payload = {"code": "node_error", "message": f"{type(exc).__name__}: {exc}"}
    payload["node_id"] = node_id
    payload["attempt"] = attempt
    return payload


def _retry_predicate(exc: BaseException) -> bool:
    # Control signals (pause, park, suspend) are BaseExceptions: never retried, never a failure.
    return isinstance(exc, Exception) and is_retryable(exc)


class _Attempt:
    """The step row of the attempt in progress (for on_error handling after the last one)."""

    __slots__ = ("number", "started", "step_id")

    def __init__(self) -> None:
        self.step_id: str | None = None
        self.started: datetime = now()
        self.number = 0


class NodeRunner:
    def __init__(self, run: ExecutionRun) -> None:
        self.run = run

    # -- shared endings --

    async def complete(self, node: Node, loop_path: str, step_id: str, started: datetime, output: Any) -> Checkpoint:
        """Check the output's size, commit it (durable before any dependent starts), emit."""
        run = self.run
        if run.redact:
            output = run.redact(output)
        text = dumps(output)
        limit = run.limits.step_output_limit_bytes
        size = len(text) if len(text) * 4 <= limit else len(text.encode())  # UTF-8: at most 4 bytes a char
        if size > limit:
            raise StepOutputTooLarge(
                f"node {node.id} produced {size} bytes of output, over the limit of "
                f"{run.limits.step_output_limit_bytes} (FLOWWRIGHT_STEP_OUTPUT_LIMIT_BYTES)",
                node_id=node.id, size=size, limit=run.limits.step_output_limit_bytes,
            )
        await run.step_finished(step_id, started, status="completed", output_json=text, final=True)
        data: dict[str, Any] = {"output": output} if size <= EVENT_OUTPUT_LIMIT else {"output_bytes": size}
        where = f',"loop_path":{dumps(loop_path)}' if loop_path else ""
        if loop_path:
            data["loop_path"] = loop_path
        raw = f'{{"output":{text}{where}}}' if size <= EVENT_OUTPUT_LIMIT else f'{{"output_bytes":{size}{where}}}'
        run.emit(ev.NODE_COMPLETED, node.id, raw=raw, **data)
        return Checkpoint("completed", output, None)

    async def handle_failure(
        self, node: Node, loop_path: str, error: dict[str, Any], step_id: str | None, started: datetime,
    ) -> Checkpoint:
        """The node failed for good: apply ``on_error``."""
        run = self.run
        error = run.redact(error) if run.redact else error
        where = {"loop_path": loop_path} if loop_path else {}
        run.emit(ev.NODE_FAILED, node.id, error=error, on_error=node.on_error, **where)
        if node.on_error == "fail":
            raise NodeFailed(node.id, error)
        branch = "error" if node.on_error == "route" else None
        if step_id is None:
            step_id, started = run.step_started(node.id, node.type, loop_path, run.next_attempt((loop_path, node.id)), None)
        await run.step_finished(step_id, started, status="failed", error=error, branch=branch, final=True)
        return Checkpoint("failed", None, branch, error)

    async def structural_failure(self, node: Node, loop_path: str, error: dict[str, Any]) -> Checkpoint:
        run = self.run
        step_id, started = run.step_started(node.id, node.type, loop_path, run.next_attempt((loop_path, node.id)), None)
        run.step_finished(step_id, started, status="failed", error=error, durable=False)
        return await self.handle_failure(node, loop_path, error, step_id if node.on_error != "fail" else None, started)

    # -- retries --

    async def _with_retries(self, node: ActionNode | GuardrailNode, loop_path: str, attempt_fn: Any) -> Checkpoint:
        run = self.run
        policy = node.retry or NO_RETRY
        current = _Attempt()
        if policy.max_attempts == 1:  # the common case, without tenacity's per-call machinery
            try:
                return await attempt_fn(current)  # type: ignore[no-any-return]
            except Exception as exc:
                error = error_payload(exc, node.id, current.number)
                return await self.handle_failure(node, loop_path, error, current.step_id, current.started)

        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            delay = state.next_action.sleep if state.next_action else 0
            run.emit(ev.NODE_RETRYING, node.id, attempt=current.number, next_attempt=current.number + 1,
                     delay_s=round(float(delay), 3), error=error_payload(exc, node.id, current.number) if exc else None,
                     **({"loop_path": loop_path} if loop_path else {}))

        retrying = AsyncRetrying(
            stop=stop_after_attempt(policy.max_attempts), wait=make_wait(policy),
            retry=retry_if_exception(_retry_predicate), reraise=True, before_sleep=before_sleep,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    result: Checkpoint = await attempt_fn(current)
            return result
        except Exception as exc:
            error = error_payload(exc, node.id, current.number)
            if _retry_predicate(exc) and current.number >= policy.max_attempts:
                error["retries_exhausted"] = True  # a dead letter if the execution fails for it
            return await self.handle_failure(node, loop_path, error, current.step_id, current.started)

    def _fail_attempt(self, current: _Attempt, node: Node, loop_path: str, exc: BaseException, input_: Any) -> None:
        run = self.run
        if current.step_id is None:
            current.step_id, current.started = run.step_started(node.id, node.type, loop_path, current.number, input_)
        error = error_payload(exc, node.id, current.number)
        run.step_finished(current.step_id, current.started, status="failed",
                          error=run.redact(error) if run.redact else error, durable=False)

    # -- actions --

    async def run_action(self, node: ActionNode, scope: Scope, loop_path: str) -> Checkpoint:
        run = self.run
        key = (loop_path, node.id)
        op = run.registry.operation(node.connector, node.operation)
        connector = run.registry.get(node.connector)
        skip = frozenset({"expression"}) if (node.connector, node.operation) == ("core", "transform") else frozenset()
        where = {"loop_path": loop_path} if loop_path else {}

        async def attempt_fn(current: _Attempt) -> Checkpoint:
            resume = run.suspended.pop(key, None)
            current.step_id = None
            if resume is not None:
                current.step_id, until = resume
                current.number = run.attempts.get(key, 1)
                current.started = now()
            else:
                current.number = run.next_attempt(key)
                until = None
            rendered: Any = node.config
            await run.semaphore.acquire()
            held = True
            try:
                if op is None or connector is None:
                    raise PermanentError(f"unknown operation {node.connector}.{node.operation}", code="unknown_operation")
                rendered = await run.expressions.render(node.config, scope.data(), skip_keys=skip)
                if current.step_id is None:
                    current.step_id, current.started = run.step_started(node.id, "action", loop_path, current.number, rendered)
                    run.emit(ev.NODE_STARTED, node.id, attempt=current.number, **where)
                inp = op.input_model.model_validate(rendered)
                recorder = run.dry_run and op.external
                if key in run.interrupted:
                    _refuse_replay(run, node, op, inp, key, recorder)
                if not recorder and op.external and not op.safe_to_replay(inp):
                    await run.store.flush()  # the running row is committed before the side effect starts
                credential = None if recorder else await self._credential(node)
                ctx = StepContext(run, scope, node.id, loop_path, credential=credential, resumed=until is not None,
                                  step_id=current.step_id)
                for _ in range(MAX_SUSPENDS):
                    if until is not None:
                        ctx.resume_at = until
                        run.semaphore.release()
                        held = False
                        await self.sleep_until(until)
                        await run.semaphore.acquire()
                        held = True
                        ctx.resumed = True
                    try:
                        out_model = await self._invoke(node, op, connector, inp, ctx, rendered, recorder)
                        break
                    except Suspend as suspend:
                        until = _aware(suspend.until)
                        if run.dry_run:
                            until = None
                            ctx.resumed = True
                            continue
                        await run.step_finished(current.step_id, current.started, status="suspended", resume_at=until)
                        run.emit(ev.NODE_SUSPENDED, node.id, until=until.isoformat(), **where)
                else:
                    raise PermanentError("the operation suspended too many times", code="suspend_loop")
                output = out_model.model_dump(mode="json")
                return await self.complete(node, loop_path, current.step_id, current.started, output)
            except asyncio.CancelledError:
                if current.step_id is not None:
                    run.step_finished(current.step_id, current.started, status="cancelled", durable=False)
                raise
            except Exception as exc:
                self._fail_attempt(current, node, loop_path, exc, rendered)
                raise
            finally:
                if held:
                    run.semaphore.release()

        return await self._with_retries(node, loop_path, attempt_fn)

    async def _invoke(self, node: ActionNode, op: Any, connector: Any, inp: Any, ctx: StepContext,
                      rendered: Any, recorder: bool) -> Any:
        """One call of the operation, rate-limited; in a dry run, for an operation that reaches out,
        the sample output of its model instead (logged, never called)."""
        run = self.run
        if recorder:
            ctx.log("info", f"dry run: {node.connector}.{node.operation} was not called",
                    input=run.redact(rendered) if run.redact else rendered)
            return sample_output(op.output_model)
        await self._rate_limit(connector, op)
        return await self._call_guarded(op, inp, ctx, node)

    async def _call(self, op: Any, inp: Any, ctx: StepContext, timeout_s: float | None) -> Any:
        try:
            if timeout_s is None:
                return await op.run(inp, ctx)
            async with asyncio.timeout(timeout_s):
                return await op.run(inp, ctx)
        except TimeoutError:
            if timeout_s is None:
                raise  # the operation's own timeout, not the node's
            raise NodeTimeoutError(f"node {ctx.node_id} ran longer than {timeout_s} s", timeout_s=timeout_s) from None
        except ApprovalRequired:
            raise PermanentError(f"{op.name} asked for an approval; only an approval guardrail can",
                                 code="approval_outside_guardrail") from None

    async def _call_guarded(self, op: Any, inp: Any, ctx: StepContext, node: ActionNode) -> Any:
        """``_call_authorized`` behind the circuit breaker of the connector's host (external
        operations only): an open circuit fails fast; transient failures and successes count."""
        run, breakers = self.run, self.run.breakers
        if breakers is None or not op.external:
            return await self._call_authorized(op, inp, ctx, node)
        key = circuit_key(node.connector, inp)
        if await asyncio.to_thread(breakers.before_call, run.workspace_id, key) == "half_open":
            run.emit(ev.CIRCUIT_HALF_OPEN, node.id, key=key)
        try:
            out = await self._call_authorized(op, inp, ctx, node)
        except Exception as exc:
            if is_retryable(exc):
                changed = await asyncio.to_thread(breakers.record, run.workspace_id, key, ok=False)
                if changed is not None:
                    run.emit(f"circuit.{changed}", node.id, key=key)
            raise
        changed = await asyncio.to_thread(breakers.record, run.workspace_id, key, ok=True)
        if changed is not None:
            run.emit(f"circuit.{changed}", node.id, key=key)
        return out

    async def _call_authorized(self, op: Any, inp: Any, ctx: StepContext, node: ActionNode) -> Any:
        """``_call``; after a 401 made with a renewable (OAuth 2.0) credential, one refresh and one retry."""
        try:
            return await self._call(op, inp, ctx, node.timeout_s)
        except ConnectorError as exc:
            resolver = self.run.credentials
            if exc.details.get("status_code") != 401 or node.credential is None or ctx.credential is None \
                    or not isinstance(resolver, ReauthorizingCredentials):
                raise
            fresh = await resolver.refresh_after_unauthorized(self.run.workspace_id, node.credential)
            if fresh is None:
                raise
            self.run.redact.add_credential(fresh)
            ctx.credential = fresh
            ctx.log("info", f"credential {node.credential!r} was refreshed after a 401; calling again")
            return await self._call(op, inp, ctx, node.timeout_s)

    async def sleep_until(self, until: datetime) -> None:
        """A durable sleep: the step row says when to wake; pausing interrupts it (it resumes later)."""
        delay = (until - datetime.now(UTC)).total_seconds()
        if delay <= 0:
            return
        try:
            await asyncio.wait_for(self.run.stop_event.wait(), timeout=delay)
        except TimeoutError:
            return
        raise Paused()

    async def _credential(self, node: ActionNode) -> dict[str, Any] | None:
        if node.credential is None:
            return None
        resolver = self.run.credentials
        if resolver is None:
            raise CredentialError(f"node {node.id} needs credential {node.credential!r} but no vault is configured",
                                  credential=node.credential)
        resolve = resolver.resolve
        if inspect.iscoroutinefunction(resolve):
            value = await resolve(self.run.workspace_id, node.credential)
        else:
            value = await asyncio.to_thread(resolve, self.run.workspace_id, node.credential)
        if not isinstance(value, dict):
            raise CredentialError(f"credential {node.credential!r} did not resolve to an object")
        self.run.redact.add_credential(value)
        return dict(value)

    async def _rate_limit(self, connector: Any, op: Any) -> None:
        limiter = self.run.rate_limiter
        if limiter is None:
            return
        if connector.rate_limit is not None:
            await limiter.acquire(self.run.workspace_id, connector.name, connector.rate_limit)
        if op.rate_limit is not None:
            await limiter.acquire(self.run.workspace_id, f"{connector.name}.{op.name}", op.rate_limit)

    # -- guardrails --

    async def run_guardrail(self, node: GuardrailNode, data: Any, scope: Scope, loop_path: str) -> Checkpoint:
        run = self.run
        key = (loop_path, node.id)
        where = {"loop_path": loop_path} if loop_path else {}

        async def attempt_fn(current: _Attempt) -> Checkpoint:
            approval_row = run.approval_rows.get(key)
            if approval_row is not None and approval_row.status == "pending":
                raise Parked()
            decision = approval_row.status if approval_row is not None else None
            current.number = run.next_attempt(key)
            current.step_id, current.started = run.step_started(node.id, "guardrail", loop_path, current.number, data)
            run.emit(ev.NODE_STARTED, node.id, attempt=current.number, **where)
            try:
                apply = _guardrail_function()
                ctx = StepContext(run, scope, node.id, loop_path, approval=decision)
                async with run.semaphore:
                    if node.timeout_s is not None:
                        async with asyncio.timeout(node.timeout_s):
                            output = await apply(node, data, ctx)
                    else:
                        output = await apply(node, data, ctx)
                return await self.complete(node, loop_path, current.step_id, current.started, output)
            except ApprovalRequired as wait:
                await self._request_approval(node, loop_path, current, wait)
                raise Parked() from None
            except asyncio.CancelledError:
                run.step_finished(current.step_id, current.started, status="cancelled", durable=False)
                raise
            except Exception as exc:
                self._fail_attempt(current, node, loop_path, exc, data)
                raise

        return await self._with_retries(node, loop_path, attempt_fn)

    async def _request_approval(self, node: GuardrailNode, loop_path: str, current: _Attempt, wait: ApprovalRequired) -> None:
        run = self.run
        details = run.redact(wait.details) if run.redact else wait.details
        reason = run.redact.text(wait.reason) if run.redact else wait.reason
        row = {
            "id": new_id("ap"), "execution_id": run.execution_id, "workspace_id": run.workspace_id,
            "node_id": node.id, "loop_path": loop_path, "status": "pending", "reason": reason,
            "details": None if details is None else dumps(details), "requested_at": now(),
        }
        assert current.step_id is not None
        run.step_finished(current.step_id, current.started, status="waiting", durable=False)
        await run.store.write(approval_insert(row), None, durable=True)
        run.emit(ev.NODE_WAITING, node.id, approval_id=row["id"], reason=reason, details=details,
                 **({"loop_path": loop_path} if loop_path else {}))


def _refuse_replay(run: ExecutionRun, node: ActionNode, op: Any, inp: Any, key: tuple[str, str], recorder: bool) -> None:
    """The node's last attempt was cut off by a crash: repeat it only when that is safe."""
    run.interrupted.discard(key)
    if not recorder and not op.safe_to_replay(inp):
        raise OutcomeUnknown(
            f"node {node.id} ({node.connector}.{node.operation}) was in flight when the process "
            "driving it stopped; it may have taken effect, so it was not repeated. Check the "
            "receiver, then retry the execution to send it again (same Idempotency-Key).",
            node_id=node.id)


def _guardrail_function() -> Any:
    if importlib.util.find_spec("engine.guardrails") is None:
        raise GuardrailUnavailable("guardrail nodes need engine/guardrails.py, which is not installed")
    return importlib.import_module("engine.guardrails").apply_guardrail


def _aware(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(value, datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    if not isinstance(value, datetime):
        raise PermanentError(f"cannot suspend until {value!r}", code="suspend_invalid")
    return value
