"""Metric exporters that wrap another: the one base (privacy stage, guard), and the guard.

The metric reader asks the OUTERMOST exporter for its preferred temporality and aggregation,
so a wrapper that did not pass the wrapped exporter's on would silently undo, for example,
``OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE=delta``. Read with ``getattr``: an
embedder's exporter need not have run ``MetricExporter.__init__``.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricsData

from . import settings as _s

_logger = logging.getLogger("otel_axolotl")


class WrappingMetricExporter(MetricExporter):
    """Passes the wrapped exporter's preferences, ``force_flush`` and ``shutdown`` through;
    subclasses write ``export``."""

    def __init__(self, delegate: MetricExporter) -> None:
        super().__init__(
            preferred_temporality=getattr(delegate, "_preferred_temporality", None),
            preferred_aggregation=getattr(delegate, "_preferred_aggregation", None),
        )
        self.delegate = delegate

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return self.delegate.force_flush(timeout_millis=timeout_millis)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self.delegate.shutdown(timeout_millis=timeout_millis, **kwargs)


class GuardedMetricExporter(WrappingMetricExporter):
    """Metrics to one destination, never raising into the metric reader, never from a fork.

    The metrics' one fork guard: the SDK restarts its periodic reader in a forked child, whose
    copies of the parent's cumulative values (and the child's own recordings) must not be
    exported. In any process but the one that built it, ``export`` drops the batch (reporting
    success) and ``force_flush`` / ``shutdown`` leave the parent's client alone.

    Some exporters raise instead of returning FAILURE (OTLP/HTTP on SDK 1.39 raises
    ``ConnectionError`` on a refused connection), and the SDK's reader then prints a traceback
    into the training log at every interval. Here it is one warning per destination and
    exception type, then FAILURE. With the default cumulative temporality the next export that
    gets through carries the totals; with delta (``OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE``)
    the failed interval is lost. (The reader already suppresses instrumentation around export.)"""

    def __init__(self, destination: str, delegate: MetricExporter) -> None:
        super().__init__(delegate)
        self.destination = destination
        self._pid = os.getpid()

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        if os.getpid() != self._pid:
            return MetricExportResult.SUCCESS
        try:
            return self.delegate.export(metrics_data, timeout_millis=timeout_millis, **kwargs)
        except Exception as exc:
            _s.warn_once(
                f"metric-export:{self.destination}:{type(exc).__name__}",
                "otel-axolotl: exporting metrics to the %s destination failed (%s: %s); further such "
                "failures are not logged.",
                self.destination,
                type(exc).__name__,
                exc,
            )
            _logger.debug("otel-axolotl: metric export failed", exc_info=True)
            return MetricExportResult.FAILURE

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True if os.getpid() != self._pid else super().force_flush(timeout_millis)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        if os.getpid() == self._pid:
            super().shutdown(timeout_millis=timeout_millis, **kwargs)
