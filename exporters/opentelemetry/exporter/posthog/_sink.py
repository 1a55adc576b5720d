"""What the span, log and metric exporters have in common, composed rather than inherited.

Each exporter maps its own kind of telemetry; everything after that is the same and lives
here: whether the exporter may send at all, the lease on the shared client, turning mapping
bugs into a log line instead of an exception in the host program, the flush deadline and a
shutdown that may be called any number of times.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from opentelemetry.exporter.posthog._client import ClientLease, acquire
from opentelemetry.exporter.posthog._config import Settings
from opentelemetry.exporter.posthog._mapping import PostHogEvent

_logger = logging.getLogger("opentelemetry.exporter.posthog")

T = TypeVar("T")


class EventSink:
    """Maps telemetry to events and enqueues them on the shared client, never raising."""

    def __init__(self, owner: str, settings: Settings) -> None:
        self.owner = owner
        self.settings = settings
        # Used as distinct_id when the telemetry carries neither trace id nor run id.
        self.fallback_distinct_id = uuid.uuid4().hex
        self._lease: ClientLease | None = acquire(settings) if settings.enabled else None
        self._shutdown = False
        self._shutdown_lock = threading.Lock()
        self._mapping_failed = False
        self._unmapped = 0

    @property
    def enabled(self) -> bool:
        """False when misconfigured (no key, bad host) or shut down: exports then fail fast."""
        return self._lease is not None and not self._shutdown

    @property
    def dropped_events(self) -> int:
        """Events the client refused (full queue, or already shut down)."""
        return self._lease.dropped_events if self._lease is not None else 0

    @property
    def unmapped_items(self) -> int:
        """Items skipped because mapping them raised (a bug: logged once)."""
        return self._unmapped

    @property
    def client(self) -> Any:
        """The shared ``posthog.Posthog`` client, or None when disabled."""
        return self._lease.client if self._lease is not None else None

    def send(self, items: Iterable[T], to_events: Callable[[T, str], Iterable[PostHogEvent]]) -> bool:
        """Map and enqueue ``items``; True only if every resulting event was accepted."""
        lease = self._lease
        if lease is None or self._shutdown:
            return False
        ok = True
        for item in items:
            try:
                events = list(to_events(item, self.fallback_distinct_id))
            except Exception as exc:
                ok = False
                self._unmapped += 1
                if not self._mapping_failed:
                    self._mapping_failed = True
                    _logger.warning(
                        "%s could not map an item to a PostHog event (%s); such items are skipped.",
                        self.owner,
                        type(exc).__name__,
                    )
                continue
            for event in events:
                if not lease.capture(event):
                    ok = False
        return ok

    def force_flush(self, timeout_s: float | None = None) -> bool:
        """Send what is queued, within ``timeout_s`` and the configured deadline."""
        lease = self._lease
        if lease is None or self._shutdown:
            return True
        return lease.flush(self._deadline(timeout_s))

    def shutdown(self, timeout_s: float | None = None) -> None:
        """Release the shared client (the last exporter shuts it down). Safe to call twice."""
        with self._shutdown_lock:
            if self._shutdown:
                return
            self._shutdown = True
        if self._lease is not None:
            self._lease.release(self._deadline(timeout_s))

    def _deadline(self, timeout_s: float | None) -> float:
        limit = self.settings.timeout_s
        if timeout_s is None or timeout_s < 0:
            return limit
        return min(limit, timeout_s)


def single(mapper: Callable[[T, str], PostHogEvent | None]) -> Callable[[T, str], list[PostHogEvent]]:
    """Adapt a one-item-to-at-most-one-event mapper to :meth:`EventSink.send`."""

    def to_events(item: T, fallback_distinct_id: str) -> list[PostHogEvent]:
        event = mapper(item, fallback_distinct_id)
        return [] if event is None else [event]

    return to_events
