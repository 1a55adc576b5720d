"""Log records that are events (they have an ``event_name``) to PostHog, one event each.

This is how product events (config loaded, train start, train end, error, ...) reach PostHog
under their own names, with a dict body spread into top-level properties so that existing
dashboards keep working. Plain log lines without an event name are skipped.
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
    """OpenTelemetry SDK log record exporter that sends events as PostHog events.

    ``export`` sends synchronously and returns the real result; use it behind a
    ``BatchLogRecordProcessor``. Settings as for :class:`PostHogSpanExporter`.
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
    ) -> None:
        settings = _config.resolve(
            api_key,
            host,
            timeout,
            distinct_id=distinct_id,
            resource_attributes=resource_attributes,
            trace_context=trace_context,
        )
        self._sink = EventSink(type(self).__name__, settings)
        self._to_events = single(log_to_event)

    @property
    def enabled(self) -> bool:
        """Whether exports can reach PostHog (configured, not shut down)."""
        return self._sink.enabled

    @property
    def dropped_events(self) -> int:
        """Events never sent because they could not be (over PostHog's per-event limit)."""
        return self._sink.dropped_events

    def export(self, batch: Sequence[Any]) -> LogRecordExportResult:
        if self._sink.send(batch, self._to_events):
            return LogRecordExportResult.SUCCESS
        return LogRecordExportResult.FAILURE

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Nothing is buffered here: ``export`` has already sent or failed."""
        return True

    def stop_retrying(self) -> None:
        """From now on each request is tried once, and a retry backoff in progress ends: what
        the backend refuses fails at once (a process at its exit spools it instead of waiting)."""
        self._sink.stop_retrying()

    def shutdown(self) -> None:
        self._sink.shutdown()
