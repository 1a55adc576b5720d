"""Finished spans to PostHog: one event per span, named after the span.

A program's bounded phases (a request, a job, a training run's epochs) are spans; as PostHog
events they carry the phase's attributes, its duration and its status.
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry.exporter.posthog import _config
from opentelemetry.exporter.posthog._mapping import span_to_event
from opentelemetry.exporter.posthog._sink import EventSink, single
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult


class PostHogSpanExporter(SpanExporter):
    """OpenTelemetry SDK span exporter that sends each finished span as a PostHog event.

    ``export`` sends the batch synchronously and returns the real result, as the OTLP
    exporters do; use it behind a ``BatchSpanProcessor``, which owns the queue. Settings
    resolve argument → ``OTEL_EXPORTER_POSTHOG_*`` environment → default (see
    ``exporters/README.md``). Without an API key, or with a host that is not an http(s) URL,
    the exporter is disabled and ``export`` returns FAILURE without sending.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        host: str | None = None,
        timeout: float | None = None,
        distinct_id: str | None = None,
        resource_attributes: bool | None = None,
        trace_context: bool | None = None,
    ) -> None:
        settings = _config.resolve(
            api_key,
            host,
            timeout,
            distinct_id=distinct_id,
            resource_attributes=resource_attributes,
            trace_context=trace_context,
        )
        self._sink = EventSink(type(self).__name__, settings)
        self._to_events = single(span_to_event)

    @property
    def enabled(self) -> bool:
        """Whether exports can reach PostHog (configured, not shut down)."""
        return self._sink.enabled

    @property
    def dropped_events(self) -> int:
        """Spans never sent because they could not be (over PostHog's per-event limit)."""
        return self._sink.dropped_events

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._sink.send(spans, self._to_events):
            return SpanExportResult.SUCCESS
        return SpanExportResult.FAILURE

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Nothing is buffered here: ``export`` has already sent or failed."""
        return True

    def stop_retrying(self) -> None:
        """From now on each request is tried once, and a retry backoff in progress ends: what
        the backend refuses fails at once (a process at its exit spools it instead of waiting)."""
        self._sink.stop_retrying()

    def shutdown(self) -> None:
        self._sink.shutdown()
