"""An execution as a trace: spans built from the store, through the SDK's in-memory exporter.

A real run (a real SQLite data dir, the http connector against a loopback server, the gateway
with the scripted ``fake/`` provider) is exported by the runtime's ``on_stop`` hook."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from app.insights.trace_export import TraceExport
from app.insights.traces import build, span_id_of, trace_id_of, traces_endpoint
from app.llm.fake_provider import FakeModel, fake_model
from app.settings import Settings
from app.wiring import Container
from tests.app.insights.loopback import Receiver, traced_workflow

MODEL = "fake/traced"


@pytest.fixture
async def container(tmp_path: Path) -> AsyncIterator[Container]:
    fake_model().reset()
    FakeModel.set_price(MODEL, input_per_token=1e-6, output_per_token=2e-6)
    built = Container(Settings(data_dir=tmp_path, http_allow_hosts="127.0.0.1", model=MODEL, cache_enabled=False),
                      vault=False)
    try:
        yield built
    finally:
        await built.aclose()
        fake_model().reset()


async def run_traced(container: Container, workflow: dict[str, Any]) -> tuple[dict[str, Any], list[Any], TraceExport]:
    memory = InMemorySpanExporter()
    tracing = TraceExport(container.db, SimpleSpanProcessor(memory))
    container.runtime.on_stop.append(tracing.on_stop)
    result = await container.runtime.run(workflow)
    await tracing.drain()
    return result, list(memory.get_finished_spans()), tracing


async def test_an_execution_is_a_trace_and_each_attempt_a_span(container: Container, receiver: Receiver) -> None:
    fake_model().enqueue("Hi there")
    result, spans, _ = await run_traced(container, traced_workflow(receiver.url))
    assert result["status"] == "completed"
    execution_id = result["id"]
    assert {s.context.trace_id for s in spans} == {trace_id_of(execution_id)}
    by_name: dict[str, list[Any]] = {}
    for span in spans:
        by_name.setdefault(span.name, []).append(span)
    assert sorted(by_name) == ["chat fake/traced", "execution Traced", "node ask", "node double", "node each", "node fetch",
                               "node start"]
    (root,) = by_name["execution Traced"]
    assert root.parent is None and root.context.span_id == span_id_of(execution_id)
    assert root.status.status_code is StatusCode.UNSET
    assert root.attributes["flowwright.execution.status"] == "completed"
    assert root.attributes["flowwright.execution.id"] == execution_id

    # the flaky GET: two attempts, the first one failed (error status, its code), both under the root
    fetches = sorted(by_name["node fetch"], key=lambda s: s.attributes["flowwright.step.attempt"])
    assert [s.attributes["flowwright.step.attempt"] for s in fetches] == [1, 2]
    assert [s.attributes["flowwright.step.status"] for s in fetches] == ["failed", "completed"]
    assert fetches[0].status.status_code is StatusCode.ERROR and "503" in (fetches[0].status.description or "")
    assert fetches[0].attributes["error.type"] == "http_status"
    assert fetches[1].status.status_code is StatusCode.UNSET and "error.type" not in fetches[1].attributes
    assert {s.parent.span_id for s in fetches} == {root.context.span_id}
    assert fetches[0].attributes["flowwright.node.operation"] == "http.request"
    assert fetches[0].end_time <= fetches[1].start_time

    # loop body attempts hang under the loop's span, one per item
    (loop,) = by_name["node each"]
    doubles = by_name["node double"]
    assert sorted(s.attributes["flowwright.loop_path"] for s in doubles) == ["each[0]", "each[1]"]
    assert {s.parent.span_id for s in doubles} == {loop.context.span_id}
    assert all(loop.start_time <= s.start_time and s.end_time <= loop.end_time for s in doubles)

    # the model call: a client span under the llm step's attempt, with the usage row's GenAI attributes
    (call,) = by_name["chat fake/traced"]
    (usage,) = container.gateway.tracker.rows(workspace_id="default")
    ask = next(s for s in spans if s.attributes.get("flowwright.node.id") == "ask")
    assert call.kind is SpanKind.CLIENT and call.parent.span_id == ask.context.span_id
    assert ask.name == "node ask" and ask.attributes["flowwright.node.operation"] == "llm.complete"
    assert call.attributes["gen_ai.request.model"] == MODEL
    assert call.attributes["gen_ai.operation.name"] == usage.operation
    assert call.attributes["gen_ai.usage.input_tokens"] == usage.prompt_tokens > 0
    assert call.attributes["gen_ai.usage.output_tokens"] == usage.completion_tokens > 0
    assert call.attributes["flowwright.cost.usd"] == pytest.approx(usage.cost_usd) and usage.cost_usd > 0
    assert call.attributes["flowwright.node.id"] == "ask"
    assert ask.start_time <= call.start_time <= call.end_time <= ask.end_time + 5_000_000
    assert all(s.start_time <= s.end_time and root.start_time <= s.start_time for s in spans)


async def test_a_failed_execution_is_an_error_trace_and_exporting_again_repeats_its_ids(container: Container) -> None:
    workflow = {"schema_version": "1", "name": "Broken", "nodes": [
        {"id": "start", "type": "trigger", "kind": "manual"},
        {"id": "boom", "type": "action", "connector": "core", "operation": "fail", "config": {"message": "no"}}],
        "edges": [{"source": "start", "target": "boom"}]}
    result, spans, tracing = await run_traced(container, workflow)
    assert result["status"] == "failed"
    root = next(s for s in spans if s.parent is None)
    boom = next(s for s in spans if s.name == "node boom")
    assert root.status.status_code is StatusCode.ERROR and boom.status.status_code is StatusCode.ERROR
    assert root.attributes["error.type"] == boom.attributes["error.type"]
    assert "no" in (boom.status.description or "")

    again = build(container.db, result["id"])
    assert again is not None
    assert sorted(s.span_id for s in again.spans) == sorted(s.context.span_id for s in spans)
    assert tracing.export("ex_unknown") == 0  # gone (or still running): nothing is sent


def test_the_endpoint_comes_from_the_setting_or_the_standard_variables() -> None:
    assert traces_endpoint(None, {}) is None
    assert traces_endpoint("http://collector:4318", {}) == "http://collector:4318/v1/traces"
    assert traces_endpoint("http://collector:4318/", {}) == "http://collector:4318/v1/traces"
    assert traces_endpoint("http://c:4318/v1/traces", {}) == "http://c:4318/v1/traces"
    assert traces_endpoint(None, {"OTEL_EXPORTER_OTLP_ENDPOINT": "https://otel.example:4318"}) == \
        "https://otel.example:4318/v1/traces"
    # the traces-only variable is a full URL, used as it is, ahead of the general one
    assert traces_endpoint(None, {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://t:9/custom",
                                  "OTEL_EXPORTER_OTLP_ENDPOINT": "http://g:4318"}) == "http://t:9/custom"
    assert traces_endpoint("http://mine:4318", {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://g:4318"}) == \
        "http://mine:4318/v1/traces"
    assert traces_endpoint("http://mine:4318", {"OTEL_SDK_DISABLED": "true"}) is None
