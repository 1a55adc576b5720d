"""Log records that are events (they have an ``event_name``) to PostHog, one event each.

This is how product events (config loaded, train start, train end, error, ...) reach PostHog
under their own names, with a dict body spread into top-level properties so that existing
dashboards keep working. Plain log lines without an event name are skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opentelemetry.exporter.posthog._mapping import MappingOptions, PostHogEvent, log_to_event
from opentelemetry.exporter.posthog._transport import PostHogExporterBase
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult


class PostHogLogExporter(PostHogExporterBase, LogRecordExporter):
    """OpenTelemetry SDK log record exporter that sends events as PostHog events.

    ``export`` sends synchronously and returns the real result; use it behind a
    ``BatchLogRecordProcessor``. Settings: see :class:`PostHogExporterBase`.
    """

    def _to_event(self, item: Any, options: MappingOptions) -> PostHogEvent | None:
        return log_to_event(item, options)

    def export(self, batch: Sequence[Any]) -> LogRecordExportResult:
        return LogRecordExportResult.SUCCESS if self._send(batch) else LogRecordExportResult.FAILURE
