"""What the span, log and metric exporters have in common, composed rather than inherited.

Each exporter maps its own kind of telemetry; everything after that is the same and lives
here: whether the exporter may send at all, turning mapping bugs into a count and one log
line instead of an exception in the host program, the synchronous send, and a shutdown that
may be called any number of times.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import TypeVar

from opentelemetry.exporter.posthog._config import Settings, warn_once
from opentelemetry.exporter.posthog._mapping import MappingOptions, PostHogEvent
from opentelemetry.exporter.posthog._transport import Transport

_logger = logging.getLogger("opentelemetry.exporter.posthog")

T = TypeVar("T")


class EventSink:
    """Maps telemetry to events and sends them, synchronously, never raising."""

    def __init__(self, owner: str, settings: Settings) -> None:
        self.owner = owner
        self.settings = settings
        self._transport: Transport | None = Transport(settings) if settings.enabled else None
        self._shutdown = False
        self._lock = threading.Lock()
        self._unmapped = 0

    @property
    def enabled(self) -> bool:
        """False when misconfigured (no key, bad host) or shut down: exports then fail fast."""
        return self._transport is not None and not self._shutdown

    @property
    def dropped_events(self) -> int:
        """Items never sent because they could not be: over PostHog's per-event limit, or not
        mappable to an event (a bug, logged once). Sending them again would fail the same way."""
        sent_nowhere = self._transport.dropped_events if self._transport is not None else 0
        with self._lock:
            return sent_nowhere + self._unmapped

    def send(
        self,
        items: Iterable[T],
        to_events: Callable[[T, MappingOptions], Iterable[PostHogEvent]],
        timeout_s: float | None = None,
    ) -> bool:
        """Map and send ``items``; True when PostHog accepted every event that can be sent."""
        transport = self._transport
        if transport is None or self._shutdown:
            return False
        events: list[PostHogEvent] = []
        for item in items:
            try:
                events.extend(to_events(item, self.settings.mapping))
            except Exception as exc:
                with self._lock:
                    self._unmapped += 1
                warn_once(
                    ("unmappable", self.owner),
                    logging.WARNING,
                    "%s could not map an item to a PostHog event (%s); such items are dropped and "
                    "counted in dropped_events.",
                    self.owner,
                    type(exc).__name__,
                )
        if not events:
            return True
        try:
            return transport.send(events, timeout_s)
        except Exception as exc:  # never let a bug here escape into the host program
            _logger.warning("%s: export failed (%s).", self.owner, type(exc).__name__)
            return False

    def stop_retrying(self) -> None:
        """Each request from now on is tried once; a retry backoff in progress ends."""
        if self._transport is not None:
            self._transport.stop_retrying()

    def shutdown(self) -> None:
        """Refuse further exports and end a retry backoff in progress. Safe to call twice."""
        with self._lock:
            if self._shutdown:
                return
            self._shutdown = True
        if self._transport is not None:
            self._transport.shutdown()


def single(
    mapper: Callable[[T, MappingOptions], PostHogEvent | None],
) -> Callable[[T, MappingOptions], list[PostHogEvent]]:
    """Adapt a one-item-to-at-most-one-event mapper to :meth:`EventSink.send`."""

    def to_events(item: T, options: MappingOptions) -> list[PostHogEvent]:
        event = mapper(item, options)
        return [] if event is None else [event]

    return to_events
