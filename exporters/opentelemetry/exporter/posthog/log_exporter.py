"""Log records that are events (they have an ``event_name``) to PostHog, one event each.

This is how Axolotl's product events (config loaded, train start, train end, error, ...)
reach PostHog under their own names, with a dict body spread into top-level properties so
that existing dashboards keep working. Plain log lines without an event name are skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opentelemetry.exporter.posthog import _config
from opentelemetry.exporter.posthog._mapping import log_to_event
from opentelemetry.exporter.posthog._sink import EventSink, single

try:  # SDK >= 1.39 names
    from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
except ImportError:  # pragma: no cover - older SDKs
    from opentelemetry.sdk._logs.export import (  # type: ignore[assignment,attr-defined,no-redef,unused-ignore]
        LogExporter as LogRecordExporter,
    )
    from opentelemetry.sdk._logs.export import (  # type: ignore[assignment,attr-defined,no-redef,unused-ignore]
        LogExportResult as LogRecordExportResult,
    )


class PostHogLogExporter(LogRecordExporter):
    """OpenTelemetry SDK log record exporter that captures events as PostHog events.

    ``export`` only enqueues on the shared PostHog client; use it behind a
    ``BatchLogRecordProcessor``. Settings as for :class:`PostHogSpanExporter`.
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
        self._to_events = single(log_to_event)

    @property
    def enabled(self) -> bool:
        """Whether exports can reach PostHog (configured, not shut down)."""
        return self._sink.enabled

    @property
    def dropped_events(self) -> int:
        """Events dropped because the client's queue was full or closed."""
        return self._sink.dropped_events

    def export(self, batch: Sequence[Any]) -> LogRecordExportResult:
        if self._sink.send(batch, self._to_events):
            return LogRecordExportResult.SUCCESS
        return LogRecordExportResult.FAILURE

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._sink.force_flush(timeout_millis / 1000)

    def shutdown(self) -> None:
        self._sink.shutdown()
