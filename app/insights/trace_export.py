"""Execution traces exported through the OpenTelemetry SDK (OTLP/HTTP when configured).

Imported only when tracing is on (``FLOWWRIGHT_OTEL_ENDPOINT`` or the standard
``OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT``; see :func:`app.insights.traces.traces_endpoint`), so a
process without it never loads the SDK. The wiring hands :meth:`TraceExport.on_stop` to the
runtime's ``on_stop`` hook: when a drive ends and the execution has ended, its trace is read from
the store (:func:`app.insights.traces.build`) in a worker thread and handed to a span processor
(a ``BatchSpanProcessor`` over the OTLP/HTTP exporter in the service; any processor in tests).
Export failures are logged, never raised into the runtime.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from sqlalchemy.engine import Engine

from app.insights.traces import ExecutionTrace, SpanRecord, build

log = logging.getLogger(__name__)
SCOPE = InstrumentationScope("flowwright")
_KINDS = {"internal": SpanKind.INTERNAL, "client": SpanKind.CLIENT}


def default_resource(environ: Mapping[str, str] | None = None) -> Resource:
    """The process's resource: ``service.name`` ``flowwright`` unless ``OTEL_SERVICE_NAME`` (or
    ``OTEL_RESOURCE_ATTRIBUTES``) names another, plus the package version."""
    from importlib.metadata import PackageNotFoundError, version

    environ = os.environ if environ is None else environ
    attributes: dict[str, str] = {}
    if not environ.get("OTEL_SERVICE_NAME") and "service.name=" not in environ.get("OTEL_RESOURCE_ATTRIBUTES", ""):
        attributes["service.name"] = "flowwright"
    try:
        attributes["service.version"] = version("flowwright")
    except PackageNotFoundError:  # a source tree that was never installed
        pass
    return Resource.create(attributes)


def readable_spans(trace: ExecutionTrace, resource: Resource) -> list[ReadableSpan]:
    """The trace's records as SDK spans (sampled, with the ids the records carry)."""
    flags = TraceFlags(TraceFlags.SAMPLED)

    def context(span_id: int, trace_id: int = trace.trace_id) -> SpanContext:
        return SpanContext(trace_id, span_id, is_remote=False, trace_flags=flags)

    def one(record: SpanRecord) -> ReadableSpan:
        status = Status(StatusCode.ERROR, record.error) if record.error is not None else Status(StatusCode.UNSET)
        return ReadableSpan(
            name=record.name, context=context(record.span_id),
            parent=context(record.parent_id) if record.parent_id is not None else None,
            resource=resource, attributes=record.attributes, kind=_KINDS[record.kind], status=status,
            start_time=record.start_ns, end_time=record.end_ns, instrumentation_scope=SCOPE,
            links=[Link(SpanContext(t, s, is_remote=True, trace_flags=flags)) for t, s in record.links])

    return [one(record) for record in trace.spans]


class TraceExport:
    """Exports each ended execution's trace to a span processor.

    Args:
        db: Flowwright's database (executions, steps, ``llm_usage``).
        processor: where spans go (it is shut down by :meth:`close`).
        resource: the spans' resource (default :func:`default_resource`).
    """

    def __init__(self, db: Engine, processor: SpanProcessor, *, resource: Resource | None = None) -> None:
        self.db = db
        self.processor = processor
        self.resource = resource if resource is not None else default_resource()
        self._pending: set[asyncio.Future[int]] = set()

    @classmethod
    def otlp(cls, db: Engine, endpoint: str, *, timeout_s: float = 10.0) -> TraceExport:
        """Batched export over OTLP/HTTP (protobuf) to ``endpoint`` (a full ``…/v1/traces`` URL);
        headers, certificates and compression come from the standard ``OTEL_EXPORTER_OTLP_*``
        variables, which the exporter reads itself."""
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return cls(db, BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint, timeout=timeout_s)))

    def export(self, execution_id: str) -> int:
        """Hand an ended execution's spans to the processor; how many (0 while it runs or when gone)."""
        trace = build(self.db, execution_id)
        if trace is None:
            return 0
        spans = readable_spans(trace, self.resource)
        for span in spans:
            self.processor.on_end(span)
        return len(spans)

    def on_stop(self, execution_id: str, status: str | None) -> None:
        """The runtime's ``on_stop`` hook: export in a thread if the execution has ended (the
        status is looked up, since a backend that follows a remote run reports none)."""
        del status  # paused or waiting executions end later; the stored status decides
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._export_logged(execution_id)
            return
        future = loop.run_in_executor(None, self._export_logged, execution_id)
        self._pending.add(future)
        future.add_done_callback(self._pending.discard)

    def _export_logged(self, execution_id: str) -> int:
        try:
            return self.export(execution_id)
        except Exception:
            log.exception("tracing: exporting execution %s failed", execution_id)
            return 0

    async def drain(self) -> None:
        """Wait for the exports under way (the processor may still be batching them)."""
        if self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    def close(self) -> None:
        """Send what the processor holds and stop it."""
        try:
            self.processor.shutdown()
        except Exception:
            log.exception("tracing: shutting the span processor down failed")


__all__ = ["SCOPE", "TraceExport", "default_resource", "readable_spans"]
