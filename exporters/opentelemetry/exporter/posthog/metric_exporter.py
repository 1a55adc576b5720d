"""Metrics to PostHog as one snapshot event per export.

PostHog is not a time-series store; what product analytics needs from metrics is the
latest value of each (loss, throughput, GPU memory, ...) at a point in time. Each export
of a ``PeriodicExportingMetricReader`` therefore becomes one event whose properties are the
metric names and their latest values.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.exporter.posthog import _config
from opentelemetry.exporter.posthog._mapping import MappingOptions, PostHogEvent, metrics_to_events
from opentelemetry.exporter.posthog._sink import EventSink
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    MetricExporter,
    MetricExportResult,
    MetricsData,
)

DEFAULT_METRICS_EVENT_NAME = "otel-metrics"


class PostHogMetricExporter(MetricExporter):
    """OpenTelemetry SDK metric exporter: one PostHog event named ``event_name`` per export.

    Properties: gauge and sum values, histogram ``<name>.count/.sum/.min/.max``; a metric
    with several data points keys each ``<name>{k=v,...}``. ``export`` sends synchronously
    within ``timeout_millis`` and the exporter's ``timeout``. Settings as for
    :class:`PostHogSpanExporter`.
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
        event_name: str = DEFAULT_METRICS_EVENT_NAME,
        preferred_temporality: dict[type, AggregationTemporality] | None = None,
        preferred_aggregation: dict[type, Any] | None = None,
    ) -> None:
        if not event_name:
            raise ValueError("event_name must be a non-empty string")
        super().__init__(
            preferred_temporality=preferred_temporality,
            preferred_aggregation=preferred_aggregation,
        )
        self._event_name = event_name
        settings = _config.resolve(
            api_key,
            host,
            timeout,
            distinct_id=distinct_id,
            resource_attributes=resource_attributes,
            trace_context=trace_context,
        )
        self._sink = EventSink(type(self).__name__, settings)

    @property
    def enabled(self) -> bool:
        """Whether exports can reach PostHog (configured, not shut down)."""
        return self._sink.enabled

    @property
    def dropped_events(self) -> int:
        """Events never sent because they could not be (over PostHog's per-event limit)."""
        return self._sink.dropped_events

    def _to_events(self, metrics_data: MetricsData, options: MappingOptions) -> list[PostHogEvent]:
        return metrics_to_events(metrics_data, self._event_name, options)

    def export(
        self,
        metrics_data: MetricsData,
        timeout_millis: float = 10_000,
        **kwargs: Any,
    ) -> MetricExportResult:
        if self._sink.send([metrics_data], self._to_events, timeout_millis / 1000):
            return MetricExportResult.SUCCESS
        return MetricExportResult.FAILURE

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        """Nothing is buffered here: ``export`` has already sent or failed."""
        return True

    def stop_retrying(self) -> None:
        """From now on each request is tried once, and a retry backoff in progress ends: what
        the backend refuses fails at once (a process at its exit spools it instead of waiting)."""
        self._sink.stop_retrying()

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self._sink.shutdown()
