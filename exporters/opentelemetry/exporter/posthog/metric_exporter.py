"""Metrics to PostHog as one snapshot event per export.

PostHog is not a time-series store; what product analytics needs from metrics is the
latest value of each (loss, throughput, GPU memory, ...) at a point in time. Each export
of a ``PeriodicExportingMetricReader`` therefore becomes one event whose properties are the
metric names and their latest values.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.exporter.posthog._mapping import MappingOptions, PostHogEvent, resource_metrics_to_event
from opentelemetry.exporter.posthog._transport import PostHogExporterBase
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    MetricExporter,
    MetricExportResult,
    MetricsData,
    ResourceMetrics,
)

DEFAULT_METRICS_EVENT_NAME = "otel-metrics"


class PostHogMetricExporter(PostHogExporterBase, MetricExporter):
    """OpenTelemetry SDK metric exporter: one PostHog event named ``event_name`` per export.

    Properties: gauge and sum values, histogram ``<name>.count/.sum/.min/.max``; a metric
    with several data points keys each ``<name>{k=v,...}``. ``export`` sends synchronously
    within ``timeout_millis`` and the exporter's ``timeout``. Settings: see
    :class:`PostHogExporterBase`.
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
        MetricExporter.__init__(
            self, preferred_temporality=preferred_temporality, preferred_aggregation=preferred_aggregation
        )
        super().__init__(
            api_key,
            host=host,
            timeout=timeout,
            distinct_id=distinct_id,
            resource_attributes=resource_attributes,
            trace_context=trace_context,
        )
        self._event_name = event_name

    def _to_event(self, item: ResourceMetrics, options: MappingOptions) -> PostHogEvent | None:
        return resource_metrics_to_event(item, self._event_name, options)

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        sent = self._send(metrics_data.resource_metrics, timeout_millis / 1000)
        return MetricExportResult.SUCCESS if sent else MetricExportResult.FAILURE
