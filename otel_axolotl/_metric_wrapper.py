"""The one base for metric exporters that wrap another (privacy stage, failure guard, fork guard).

The metric reader asks the OUTERMOST exporter for its preferred temporality and aggregation,
so a wrapper that did not pass the wrapped exporter's on would silently undo, for example,
``OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE=delta``. Read with ``getattr``: an
embedder's exporter need not have run ``MetricExporter.__init__``.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.metrics.export import MetricExporter


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
