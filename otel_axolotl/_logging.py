"""Telemetry failures are logged once, not once per batch.

OpenTelemetry's exporters and batch processors log every failed export, with retries: an
unreachable collector during a three-day run would fill the training log. A filter on those
loggers lets the first record of each kind through, says that repeats are suppressed, and
counts the rest.
"""

from __future__ import annotations

import logging
import threading

# Loggers of the OTel SDK and OTLP exporters that report export failures.
SDK_EXPORT_LOGGERS = (
    "opentelemetry.exporter.otlp.proto.grpc.exporter",
    "opentelemetry.exporter.otlp.proto.http._common",
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "opentelemetry.exporter.otlp.proto.http.metric_exporter",
    "opentelemetry.exporter.otlp.proto.http._log_exporter",
    "opentelemetry.sdk._shared_internal",
    "opentelemetry.sdk.metrics._internal.export",
    "opentelemetry.sdk.trace.export",
    "opentelemetry.sdk._logs._internal.export",
)


class RepeatFilter(logging.Filter):
    """Pass the first record per (logger, message template); count and drop the repeats."""

    def __init__(self) -> None:
        super().__init__("otel-axolotl-repeats")
        self._seen: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        self.suppressed = 0

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, str(record.msg))
        with self._lock:
            if key in self._seen:
                self.suppressed += 1
                return False
            self._seen.add(key)
        record.msg = f"{record.msg} (otel-axolotl: further identical messages are suppressed)"
        return True


_filter = RepeatFilter()


def quiet_repeats(names: tuple[str, ...] = SDK_EXPORT_LOGGERS) -> RepeatFilter:
    """Install the shared filter on ``names`` (idempotent) and return it."""
    for name in names:
        logger = logging.getLogger(name)
        if _filter not in logger.filters:
            logger.addFilter(_filter)
    return _filter
