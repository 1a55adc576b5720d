"""What the span, log and metric exporters share, written once.

Each exporter only says how one item of its telemetry becomes an event. The rest is here:
the settings, whether the exporter may send at all, turning mapping bugs into a count and one
log line instead of an exception in the host program, the synchronous send within one
deadline, and the trivial parts of the SDK exporter interface (nothing is buffered, so
``force_flush`` has nothing to do; ``shutdown`` may be called any number of times).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from typing import Any

from opentelemetry.exporter.posthog._config import resolve, warn_once
from opentelemetry.exporter.posthog._mapping import MappingOptions, PostHogEvent
from opentelemetry.exporter.posthog._transport import post_with_retries, requests_for

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
        self._settings = resolve(
            api_key,
            host,
            timeout,
            distinct_id=distinct_id,
            resource_attributes=resource_attributes,
            trace_context=trace_context,
        )
        self._stopped = threading.Event()
        self._no_retries = threading.Event()  # set by stop_retrying and by shutdown
        self._lock = threading.Lock()
        self._dropped = 0

    def _to_event(self, item: Any, options: MappingOptions) -> PostHogEvent | None:
        raise NotImplementedError

    @property
    def enabled(self) -> bool:
        """Whether exports can reach PostHog (configured, not shut down)."""
        return self._settings.enabled and not self._stopped.is_set()

    @property
    def dropped_events(self) -> int:
        """Items never sent because they could not be: over PostHog's per-event limit, or not
        mappable to an event (a bug, logged once). Sending them again would fail the same way."""
        with self._lock:
            return self._dropped

    def _count_dropped(self, count: int) -> None:
        with self._lock:
            self._dropped += count

    def _send(self, items: Iterable[Any], timeout_s: float | None = None) -> bool:
        """Map and send ``items``; True when PostHog accepted every event that can be sent."""
        if not self.enabled:
            return False
        budget = self._settings.timeout_s if timeout_s is None else min(timeout_s, self._settings.timeout_s)
        deadline = time.monotonic() + max(0.0, budget)
        name = type(self).__name__
        events: list[PostHogEvent] = []
        for item in items:
            try:
                event = self._to_event(item, self._settings.mapping)
            except Exception as exc:
                self._count_dropped(1)
                message = "%s could not map an item to a PostHog event (%s); it is dropped and counted."
                warn_once(("unmappable", name), logging.WARNING, message, name, type(exc).__name__)
                continue
            if event is not None:
                events.append(event)
        try:
            requests, oversized = requests_for(events) if events else ([], 0)
            self._count_dropped(oversized)
            # The first request that fails ends the export: the caller keeps (or drops) the whole
            # batch, and PostHog deduplicates by uuid what an earlier request of it delivered.
            return all(post_with_retries(self._settings, r, deadline, self._no_retries) for r in requests)
        except Exception as exc:  # never let a bug here escape into the host program
            _logger.warning("%s: export failed (%s).", name, type(exc).__name__)
            return False

    def force_flush(self, timeout_millis: float = 30_000) -> bool:
        """Nothing is buffered here: ``export`` has already sent or failed."""
        return True

    def stop_retrying(self) -> None:
        """From now on each request is tried once, and a retry backoff in progress ends: what
        the backend refuses fails at once (a process at its exit spools it instead of waiting)."""
        self._no_retries.set()

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        """Refuse further exports and end a retry backoff in progress (a request in flight
        runs on). Safe to call twice."""
        self._stopped.set()
        self._no_retries.set()
