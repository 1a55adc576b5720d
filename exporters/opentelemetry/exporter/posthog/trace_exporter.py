"""Finished spans to PostHog: one event per span, named after the span.

A program's bounded phases (a request, a job, a training run's epochs) are spans; as PostHog
events they carry the phase's attributes, its duration and its status.
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry.exporter.posthog._mapping import MappingOptions, PostHogEvent, span_to_event
from opentelemetry.exporter.posthog._transport import PostHogExporterBase
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult


class PostHogSpanExporter(PostHogExporterBase, SpanExporter):
    """OpenTelemetry SDK span exporter that sends each finished span as a PostHog event.

    ``export`` sends the batch synchronously and returns the real result, as the OTLP
    exporters do; use it behind a ``BatchSpanProcessor``, which owns the queue.
    """

    def _to_event(self, item: ReadableSpan, options: MappingOptions) -> PostHogEvent | None:
        return span_to_event(item, options)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS if self._send(spans) else SpanExportResult.FAILURE
