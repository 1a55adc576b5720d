"""What the span, log and metric exporters share, written once.

Each exporter only says how one item of its telemetry becomes an event; the rest is here: the
settings, whether the exporter may send at all, turning mapping bugs into a count and one log
line instead of an exception in the host program, the synchronous send, and the trivial
parts of the SDK exporter interface (nothing is buffered, so ``force_flush`` has nothing to
do; ``shutdown`` may be called any number of times).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from opentelemetry.exporter.posthog._config import resolve, warn_once
from opentelemetry.exporter.posthog._mapping import MappingOptions, PostHogEvent
from opentelemetry.exporter.posthog._transport import Transport

_logger = logging.getLogger("opentelemetry.exporter.posthog")


class PostHogExporterBase:
    """Settings resolve argument → ``OTEL_EXPORTER_POSTHOG_*`` environment → default (see
    ``exporters/README.md``). Without an API key, or with a host that is not an http(s) URL,
    the exporter is disabled and ``export`` returns FAILURE without sending."""

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
        settings = resolve(
            api_key,
            host,
            timeout,
            distinct_id=distinct_id,
            resource_attributes=resource_attributes,
            trace_context=trace_context,
        )
        self._sink = Transport(settings)

    def _to_event(self, item: Any, options: MappingOptions) -> PostHogEvent | None:
        raise NotImplementedError

    @property
    def enabled(self) -> bool:
        """Whether exports can reach PostHog (configured, not shut down)."""
        return self._sink.enabled

    @property
    def dropped_events(self) -> int:
        """Items never sent because they could not be: over PostHog's per-event limit, or not
        mappable to an event (a bug, logged once). Sending them again would fail the same way."""
        return self._sink.dropped_events

    def _send(self, items: Iterable[Any], timeout_s: float | None = None) -> bool:
        """Map and send ``items``; True when PostHog accepted every event that can be sent."""
        if not self._sink.enabled:
            return False
        events: list[PostHogEvent] = []
        for item in items:
            try:
                event = self._to_event(item, self._sink.settings.mapping)
            except Exception as exc:
                self._sink.count_dropped(1)
                message = (
                    "%s could not map an item to a PostHog event (%s); such items are dropped and counted."
                )
                warn_once(
                    ("unmappable", type(self).__name__),
                    logging.WARNING,
                    message,
                    type(self).__name__,
                    type(exc).__name__,
                )
                continue
            if event is not None:
                events.append(event)
        try:
            return not events or self._sink.send(events, timeout_s)
        except Exception as exc:  # never let a bug here escape into the host program
            _logger.warning("%s: export failed (%s).", type(self).__name__, type(exc).__name__)
            return False

    def force_flush(self, timeout_millis: float = 30_000) -> bool:
        """Nothing is buffered here: ``export`` has already sent or failed."""
        return True

    def stop_retrying(self) -> None:
        """From now on each request is tried once, and a retry backoff in progress ends: what
        the backend refuses fails at once (a process at its exit spools it instead of waiting)."""
        self._sink.stop_retrying()

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        """Refuse further exports and end a retry backoff in progress. Safe to call twice."""
        self._sink.shutdown()
