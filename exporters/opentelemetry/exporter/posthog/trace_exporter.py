"""Finished spans to PostHog: one event per span, named after the span.

A training run's bounded phases (run, model load, epoch, evaluation, checkpoint) are spans;
as PostHog events they carry the phase's attributes, its duration and its status.
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry.exporter.posthog import _config
from opentelemetry.exporter.posthog._mapping import span_to_event
from opentelemetry.exporter.posthog._sink import EventSink, single
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult


class PostHogSpanExporter(SpanExporter):
    """OpenTelemetry SDK span exporter that captures each finished span as a PostHog event.

    ``export`` only enqueues on the shared PostHog client (never network I/O); use it behind
    a ``BatchSpanProcessor``. Settings resolve argument → ``OTEL_EXPORTER_POSTHOG_*`` env →
    default. Without an API key, or with a host that is not an http(s) URL, the exporter is
    disabled and ``export`` returns FAILURE without sending.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        host: str | None = None,
        timeout: float | None = None,
        max_queue_size: int | None = None,
    ) -> None:
        self._sink = EventSink(type(self).__name__, _config.resolve(api_key, host, timeout, max_queue_size))
        self._to_events = single(span_to_event)

    @property
    def enabled(self) -> bool:
        """Whether exports can reach PostHog (configured, not shut down)."""
        return self._sink.enabled

    @property
    def dropped_events(self) -> int:
        """Events dropped because the client's queue was full or closed."""
        return self._sink.dropped_events

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._sink.send(spans, self._to_events):
            return SpanExportResult.SUCCESS
        return SpanExportResult.FAILURE

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._sink.force_flush(timeout_millis / 1000)

    def shutdown(self) -> None:
        self._sink.shutdown()
