"""Nothing leaves a forked child: every destination's exporters drop what a child hands them.

A DataLoader with ``num_workers > 0`` forks the training process. The child inherits the
manager, its providers and their queues, and OpenTelemetry's SDK restarts its batch and
periodic-metric threads there after fork, so without a guard each worker would export copies
of the parent's metrics (same resource, stale cumulative values) and anything it records.
Each exporter is wrapped once, when the manager builds its pipeline, in a guard that remembers
the process that built it; in any other process ``export`` drops the batch and reports
success, and ``force_flush`` and ``shutdown`` leave the parent's clients (gRPC channels,
HTTP sessions, the PostHog client) untouched. The manager also marks itself inactive in the
child (``TelemetryManager._after_fork_in_child``), so integrations stop recording there.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricsData
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from ._metric_wrapper import WrappingMetricExporter
from .destinations import Destination


class ForkSafeSpanExporter(SpanExporter):
    """Exports in the process that built it; drops (reporting success) in a forked child."""

    def __init__(self, delegate: SpanExporter) -> None:
        self.delegate = delegate
        self._pid = os.getpid()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if os.getpid() != self._pid:
            return SpanExportResult.SUCCESS
        return self.delegate.export(spans)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True if os.getpid() != self._pid else self.delegate.force_flush(timeout_millis)

    def shutdown(self) -> None:
        if os.getpid() == self._pid:
            self.delegate.shutdown()


class ForkSafeLogRecordExporter(LogRecordExporter):
    """Exports in the process that built it; drops (reporting success) in a forked child."""

    def __init__(self, delegate: LogRecordExporter) -> None:
        self.delegate = delegate
        self._pid = os.getpid()

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        if os.getpid() != self._pid:
            return LogRecordExportResult.SUCCESS
        return self.delegate.export(batch)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True if os.getpid() != self._pid else self.delegate.force_flush(timeout_millis)

    def shutdown(self) -> None:
        if os.getpid() == self._pid:
            self.delegate.shutdown()


class ForkSafeMetricExporter(WrappingMetricExporter):
    """Exports in the process that built it; drops (reporting success) in a forked child."""

    def __init__(self, delegate: MetricExporter) -> None:
        super().__init__(delegate)
        self._pid = os.getpid()

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        if os.getpid() != self._pid:
            return MetricExportResult.SUCCESS
        return self.delegate.export(metrics_data, timeout_millis=timeout_millis, **kwargs)

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True if os.getpid() != self._pid else self.delegate.force_flush(timeout_millis=timeout_millis)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        if os.getpid() == self._pid:
            self.delegate.shutdown(timeout_millis=timeout_millis, **kwargs)


def guard(destination: Destination) -> Destination:
    """A copy of ``destination`` whose exporters send nothing from a forked child."""
    return dataclasses.replace(
        destination,
        span_exporter=None
        if destination.span_exporter is None
        else ForkSafeSpanExporter(destination.span_exporter),
        log_exporter=None
        if destination.log_exporter is None
        else ForkSafeLogRecordExporter(destination.log_exporter),
        metric_exporter=(
            None
            if destination.metric_exporter is None
            else ForkSafeMetricExporter(destination.metric_exporter)
        ),
    )
