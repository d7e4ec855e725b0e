"""Traces over OTLP/HTTP to a real receiver on loopback (protobuf export requests decoded as a
collector does), wired by the container when an endpoint is configured, and no SDK import when not."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from app.insights.traces import span_id_of, trace_id_of
from app.llm.fake_provider import fake_model
from app.settings import Settings
from app.wiring import Container
from tests.app.insights.loopback import Receiver, attributes, traced_workflow

MODEL = "fake/traced"


async def run_with(settings: Settings, receiver: Receiver) -> str:
    fake_model().reset()
    fake_model().enqueue("Hi there")
    container = Container(settings, vault=False)
    try:
        assert container.trace_export is not None
        result = await container.runtime.run(traced_workflow(receiver.url))
        assert result["status"] == "completed"
    finally:
        await container.aclose()  # waits for the export and flushes the batch processor
        fake_model().reset()
    return str(result["id"])


async def test_an_execution_reaches_an_otlp_receiver_as_one_trace(tmp_path: Path, receiver: Receiver) -> None:
    settings = Settings(data_dir=tmp_path, http_allow_hosts="127.0.0.1", model=MODEL, cache_enabled=False,
                        otel_endpoint=receiver.url)
    execution_id = await run_with(settings, receiver)
    received = receiver.wait_for(9)
    assert set(receiver.content_types) == {"application/x-protobuf"}
    spans = {span.name: (span, resource, scope) for span, resource, scope in received}
    assert len(received) == 9  # the execution, start, two fetch attempts, ask, each, two doubles, the model call
    trace_id = trace_id_of(execution_id).to_bytes(16, "big")
    assert {span.trace_id for span, _, _ in received} == {trace_id}
    root, resource, scope = spans["execution Traced"]
    assert root.parent_span_id == b"" and root.span_id == span_id_of(execution_id).to_bytes(8, "big")
    assert resource["service.name"] == "flowwright" and scope == "flowwright"
    assert attributes(root.attributes)["flowwright.execution.status"] == "completed"
    ask, _, _ = spans["node ask"]
    call, _, _ = spans[f"chat {MODEL}"]
    assert call.parent_span_id == ask.span_id and ask.parent_span_id == root.span_id
    assert call.kind == call.SPAN_KIND_CLIENT
    attrs = attributes(call.attributes)
    assert attrs["gen_ai.request.model"] == MODEL and attrs["gen_ai.usage.input_tokens"] > 0
    assert attrs["gen_ai.usage.output_tokens"] > 0 and attrs["flowwright.purpose"]
    assert root.start_time_unix_nano <= ask.start_time_unix_nano <= ask.end_time_unix_nano <= root.end_time_unix_nano
    fetch_status = sorted((attributes(s.attributes)["flowwright.step.attempt"], s.status.code)
                          for s, _, _ in received if s.name == "node fetch")
    assert fetch_status == [(1, 2), (2, 0)]  # STATUS_CODE_ERROR, then UNSET


async def test_the_standard_variable_turns_it_on(tmp_path: Path, receiver: Receiver,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url)
    monkeypatch.setenv("OTEL_SERVICE_NAME", "flowwright-eu")
    settings = Settings(data_dir=tmp_path, http_allow_hosts="127.0.0.1", model=MODEL, cache_enabled=False)
    execution_id = await run_with(settings, receiver)
    received = receiver.wait_for(9)
    assert {span.trace_id for span, _, _ in received} == {trace_id_of(execution_id).to_bytes(16, "big")}
    assert {resource["service.name"] for _, resource, _ in received} == {"flowwright-eu"}


def test_off_without_an_endpoint_and_the_sdk_is_never_imported(tmp_path: Path) -> None:
    script = textwrap.dedent(f"""
        import asyncio, os, sys
        for name in [k for k in os.environ if k.startswith("OTEL_")]:
            del os.environ[name]
        from app.settings import Settings
        from app.wiring import Container

        async def main():
            container = Container(Settings(data_dir={str(tmp_path)!r}), vault=False)
            try:
                assert container.trace_export is None
                flow = {{"schema_version": "1", "name": "Plain", "nodes": [
                    {{"id": "start", "type": "trigger", "kind": "manual"}},
                    {{"id": "say", "type": "action", "connector": "core", "operation": "log",
                      "config": {{"message": "hi"}}}}], "edges": [{{"source": "start", "target": "say"}}]}}
                result = await container.runtime.run(flow)
                assert result["status"] == "completed", result
            finally:
                await container.aclose()
            loaded = sorted(m for m in sys.modules if m.startswith(("opentelemetry.sdk", "opentelemetry.exporter",
                                                                   "app.insights.trace_export")))
            print("loaded:", loaded)

        asyncio.run(main())
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[3])
    assert done.returncode == 0, done.stderr[-2000:]
    assert "loaded: []" in done.stdout, done.stdout


def test_a_bad_endpoint_is_refused_with_its_name() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as info:
        Settings(otel_endpoint="collector:4318")
    assert "otel_endpoint" in str(info.value) and "http://collector:4318" in str(info.value)
