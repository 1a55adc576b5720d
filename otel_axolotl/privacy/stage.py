"""The privacy stage: every destination is fed only from here.

Each processor wraps a destination's own processor (or exporter, for metrics) and hands it a
scrubbed copy made by a ``Scrubber`` (``scrubber.py``: one privacy level's rules, new objects
only); the original never reaches a destination. What cannot be scrubbed is dropped, never
passed on: the stage fails closed.
"""

from __future__ import annotations

import logging
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk._logs import LogRecordProcessor, ReadWriteLogRecord
from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricsData
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from .._metric_wrapper import WrappingMetricExporter
from .scrubber import Scrubber

__all__ = ["PrivacyLogRecordProcessor", "PrivacyMetricExporter", "PrivacySpanProcessor", "Scrubber"]

_logger = logging.getLogger("otel_axolotl")


class PrivacySpanProcessor(SpanProcessor):
    """Hands the destination's processor a scrubbed copy of every finished span."""

    def __init__(self, scrubber: Scrubber, delegate: SpanProcessor) -> None:
        self._scrubber = scrubber
        self._delegate = delegate

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        # Deliberately not forwarded: a destination never sees an unscrubbed live span.
        return None

    def on_end(self, span: ReadableSpan) -> None:
        try:
            clean = self._scrubber.span(span)
        except Exception:  # fail closed: a span we cannot scrub is not exported at all
            _logger.debug("otel-axolotl: dropping a span the privacy stage could not scrub", exc_info=True)
            return
        self._delegate.on_end(clean)

    def shutdown(self) -> None:
        self._delegate.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._delegate.force_flush(timeout_millis)


class PrivacyLogRecordProcessor(LogRecordProcessor):
    """Hands the destination's processor a scrubbed copy of every event."""

    def __init__(self, scrubber: Scrubber, delegate: LogRecordProcessor) -> None:
        self._scrubber = scrubber
        self._delegate = delegate

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        try:
            clean = self._scrubber.log_record(log_record)
        except Exception:
            _logger.debug("otel-axolotl: dropping an event the privacy stage could not scrub", exc_info=True)
            return
        self._delegate.on_emit(clean)

    def shutdown(self) -> None:
        self._delegate.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._delegate.force_flush(timeout_millis)


class PrivacyMetricExporter(WrappingMetricExporter):
    """Scrubs data point attributes and the resource before the wrapped exporter sees them.

    Attribute keys are already limited by a View at the provider; this is the value half.
    """

    def __init__(self, scrubber: Scrubber, delegate: MetricExporter) -> None:
        super().__init__(delegate)
        self._scrubber = scrubber

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        try:
            clean = self._scrubber.metrics(metrics_data)
        except Exception:
            _logger.debug("otel-axolotl: dropping metrics the privacy stage could not scrub", exc_info=True)
            return MetricExportResult.FAILURE
        return self.delegate.export(clean, timeout_millis=timeout_millis, **kwargs)
