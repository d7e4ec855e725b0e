"""The ``core`` connector: transform, set, map, delay, log, fail, run_workflow — steps that never leave Flowwright."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from connectors.contract import AuthType, Connector, Operation, OperationContext
from connectors.core_map import MapInput, MapOutput, check_target, run_map
from connectors.errors import PermanentError, Suspend


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TransformInput(_In):
    expression: str = Field(min_length=1, description="Bare JSONata over {trigger, nodes, item, index, vars}.")


class ValueOutput(BaseModel):
    value: Any = None


class SetInput(_In):
    values: dict[str, Any] = Field(description="Fixed values; {{ }} expressions inside are interpolated.")


class SetOutput(BaseModel):
    model_config = ConfigDict(extra="allow")


class DelayInput(_In):
    seconds: float | None = Field(None, ge=0, le=366 * 86_400)
    until: datetime | None = Field(None, description="ISO 8601 date-time to wait for.")

    @model_validator(mode="after")
    def _one_of(self) -> DelayInput:
        if (self.seconds is None) == (self.until is None):
            raise ValueError("give exactly one of 'seconds' or 'until'")
        return self


class DelayOutput(BaseModel):
    waited_until: datetime


class LogInput(_In):
    message: str
    level: Literal["debug", "info", "warning", "error"] = "info"


class LogOutput(BaseModel):
    message: str
    level: str


class FailInput(_In):
    message: str = "failed on purpose"


class NoOutput(BaseModel):
    pass


class RunWorkflowInput(_In):
    workflow_id: str = Field(min_length=1, description="Id of a workflow of this workspace (wf_…).")
    version: int | None = Field(None, ge=1, description="Pin a version; default: the workflow's current version.")
    input: Any = Field(None, description="The child's trigger input ({{ }} expressions inside are interpolated).")
    wait: bool = Field(True, description="Wait for the child and output its output (default), or start it and go on.")


class RunWorkflowOutput(BaseModel):
    execution_id: str = Field(description="The child execution.")
    workflow_id: str
    version: int
    status: Literal["completed", "started"] = Field(description="completed (waited for) or started (wait: false).")
    output: Any = Field(None, description="The child's output (null when not waited for).")


async def _transform(inp: TransformInput, ctx: OperationContext) -> ValueOutput:
    return ValueOutput(value=await ctx.evaluate(inp.expression))


async def _set(inp: SetInput, ctx: OperationContext) -> BaseModel:  # noqa: ARG001
    # Values arrive already interpolated by the engine; the output *is* the mapping.
    return SetOutput(**inp.values)


async def _delay(inp: DelayInput, ctx: OperationContext) -> DelayOutput:
    if ctx.resumed and ctx.resume_at is not None:
        # Called again after the sleep: the wait ended at the time asked for, not a new delay from now.
        return DelayOutput(waited_until=ctx.resume_at)
    now = datetime.now(UTC)
    until = inp.until if inp.until is not None else now + timedelta(seconds=inp.seconds or 0)
    if until.tzinfo is None:
        until = until.replace(tzinfo=UTC)
    if until > now and not ctx.resumed:
        raise Suspend(until)
    return DelayOutput(waited_until=until)


async def _log(inp: LogInput, ctx: OperationContext) -> LogOutput:
    ctx.log(inp.level, inp.message)
    return LogOutput(message=inp.message, level=inp.level)


async def _fail(inp: FailInput, ctx: OperationContext) -> NoOutput:  # noqa: ARG001
    raise PermanentError(inp.message, code="core_fail")


async def _run_workflow(inp: RunWorkflowInput, ctx: OperationContext) -> RunWorkflowOutput:
    # The engine runs the child (a linked execution it can join after a crash and cancel with its parent).
    result = await ctx.run_workflow(inp.workflow_id, inp.version, inp.input, wait=inp.wait)
    return RunWorkflowOutput.model_validate(result)


CONNECTOR = Connector(
    name="core",
    title="Core",
    description="Built-in steps that never leave Flowwright: compute, set values, map fields, wait, log, fail, run another workflow.",
    category="core",
    icon="⚙️",
    auth=AuthType.NONE,
    operations=(
        Operation("transform", "Compute a value with a JSONata expression over earlier results.",
                  TransformInput, ValueOutput, _transform, idempotent=True, external=False),
        Operation("set", "Output fixed values (expressions inside are interpolated).",
                  SetInput, SetOutput, _set, idempotent=True, external=False),
        Operation("map", "Map and convert fields of an object or a list of objects: rename, pick nested "
                  "values, convert types (string, integer, number, boolean, date, datetime, json), fill "
                  "defaults, parse dates; checked against a target operation's input.",
                  MapInput, MapOutput, run_map, idempotent=True, external=False, check=check_target),
        Operation("delay", "Wait a number of seconds or until a date-time; the wait survives restarts.",
                  DelayInput, DelayOutput, _delay, idempotent=True, external=False),
        Operation("log", "Write a line to the execution log.", LogInput, LogOutput, _log,
                  idempotent=True, external=False),
        Operation("fail", "Stop this path with an error message.", FailInput, NoOutput, _fail,
                  idempotent=True, external=False),
        Operation("run_workflow", "Run another workflow of this workspace (a sub-workflow) with an input; wait "
                  "for it and output its output, or start it and go on (wait: false).",
                  RunWorkflowInput, RunWorkflowOutput, _run_workflow, external=False),
    ),
)
