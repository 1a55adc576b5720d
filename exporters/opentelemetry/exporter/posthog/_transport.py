"""One export, sent synchronously to PostHog's ``/batch/`` through posthog's public request
layer, within the export's deadline (the exporter's ``timeout``, retries included; each
request gets what is left of it). Shaped like the OTLP/HTTP exporters: the caller's batch
processor owns the queue; ``export`` sends what it is given and returns the real answer.

What the span, log and metric exporters share is written once, in :class:`PostHogExporterBase`
(at the end): a mapping bug costs a count and one log line, never an exception in the host
program; nothing is buffered, so ``force_flush`` has nothing to do; ``shutdown`` may be called
any number of times.

The answer, by posthog-python's own rules (``posthog/consumer.py``):

* 2xx: delivered.
* 408, 429, 5xx, and network errors (timeouts, resets): retried with capped exponential
  backoff (1, 2, 4 ... s, at most 30 s), or after the server's ``Retry-After``; a retry that
  could not finish before the deadline is not started. Once the exporter is told to stop
  retrying (its ``shutdown()``, or ``stop_retrying()`` at a process's exit) every request is
  tried once, and a backoff in progress ends at once.
* Any other 4xx (413 included: the same request would be refused again), and a refused
  connection (nothing listens on the port: an answer, not a hiccup; posthog does not retry
  it either): failed at once.

Before anything is sent, an event over PostHog's per-event limit is dropped (counted, logged
once): the server would refuse the whole request for it. What remains is cut into requests
under posthog's request-size cap.

Only public names of posthog are used (``posthog.request.post``, which exists with the same
keywords in 6.x and 7.x, and ``posthog.version.VERSION``). posthog is imported on the first
send: it costs ~190 ms, which a process that never sends does not pay.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import threading
import time
from collections.abc import Iterable
from email.utils import parsedate_to_datetime
from typing import Any, NamedTuple

from opentelemetry.exporter.posthog._config import Settings, resolve, warn_once
from opentelemetry.exporter.posthog._mapping import (
    POSTHOG_MAX_EVENT_BYTES,
    MappingOptions,
    PostHogEvent,
    json_size,
)

_logger = logging.getLogger("opentelemetry.exporter.posthog")

MAX_REQUEST_BYTES = 5 * 1024 * 1024
"""posthog.consumer.BATCH_SIZE_LIMIT: requests stay under it (the server takes up to 20 MiB)."""
_REQUEST_ENVELOPE_BYTES = 1024  # api_key, sent_at, historical_migration, brackets
MAX_BACKOFF_S = 30.0
"""posthog's own cap on one backoff."""


class Failure(NamedTuple):
    """Why one request was not delivered, and whether (and when) posthog's rules retry it."""

    what: str  # "HTTP 503", "connection refused", "ReadTimeout": never a payload
    retryable: bool = False
    retry_after_s: float | None = None  # the server's Retry-After, if it sent one


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds (delay-seconds or an HTTP date); None if absent or unreadable."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError, OverflowError):
            return None
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _refused(exc: BaseException) -> bool:
    """Whether a requests error wraps ConnectionRefusedError (requests and urllib3 nest it in
    their own errors' args, ``reason``, cause and context)."""
    pending: list[Any] = [exc]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if isinstance(current, ConnectionRefusedError):
            return True
        if isinstance(current, BaseException) and id(current) not in seen:
            seen.add(id(current))
            pending.extend(current.args)
            pending.extend((current.__cause__, current.__context__, getattr(current, "reason", None)))
    return False


def _reset_posthog_sessions_after_fork() -> None:
    """A forked child must not share the parent's pooled connections: posthog 7 offers
    ``posthog.request.reset_sessions`` for exactly that (posthog 6 has no such function, and
    its pool is then shared). Nothing to do where posthog was never imported."""
    reset = getattr(sys.modules.get("posthog.request"), "reset_sessions", None)
    if callable(reset):
        try:
            reset()
        except Exception:
            _logger.debug("PostHog exporter: resetting posthog's sessions after fork failed", exc_info=True)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_posthog_sessions_after_fork)


def requests_for(events: list[PostHogEvent]) -> tuple[list[list[dict[str, Any]]], int]:
    """The events as posthog's messages, cut into requests under its request cap (one event
    always fits), and how many were dropped as over the per-event limit (logged once)."""
    from posthog.version import VERSION

    requests: list[list[dict[str, Any]]] = []
    size = MAX_REQUEST_BYTES  # no request open yet
    dropped: list[int] = []
    for event in events:
        message = {
            "event": event.event,
            "distinct_id": event.distinct_id,
            "properties": {**event.properties, "$lib": "posthog-python", "$lib_version": VERSION},
            "timestamp": event.timestamp.isoformat(),
            "uuid": event.uuid,
        }
        message_size = json_size(message)
        if message_size > POSTHOG_MAX_EVENT_BYTES:
            dropped.append(message_size)
        elif size + message_size + 1 > MAX_REQUEST_BYTES:
            requests.append([message])
            size = _REQUEST_ENVELOPE_BYTES + message_size + 1
        else:
            requests[-1].append(message)
            size += message_size + 1
    if dropped:
        warning = (
            "PostHog exporter dropped %d event(s) (largest %d bytes) over PostHog's per-event limit "
            "of %d bytes; further drops are counted in dropped_events, not logged."
        )
        args = (len(dropped), max(dropped), POSTHOG_MAX_EVENT_BYTES)
        warn_once(("oversized", ""), logging.WARNING, warning, *args)
    return requests, len(dropped)


def post_with_retries(
    settings: Settings, request: list[dict[str, Any]], deadline: float, no_retries: threading.Event
) -> bool:
    """Post one request until it is delivered, refused for good, out of time, or ``no_retries``
    is set; True when delivered. Failures are logged once per kind, never with a payload."""
    attempt_number = 0
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return _failed(len(request), "timed out", retried=attempt_number > 0)
        failure = _post_once(settings, request, remaining)
        if failure is None:
            return True
        delay = failure.retry_after_s
        if delay is None:
            delay = min(2.0**attempt_number, MAX_BACKOFF_S)
        if not failure.retryable or no_retries.is_set() or delay >= deadline - time.monotonic():
            return _failed(len(request), failure.what, retried=attempt_number > 0)
        _logger.debug("PostHog export: %s, retrying in %.1f s.", failure.what, delay)
        if no_retries.wait(delay):
            return _failed(len(request), f"{failure.what}, then told to stop retrying", retried=True)
        attempt_number += 1


def _post_once(settings: Settings, request: list[dict[str, Any]], timeout_s: float) -> Failure | None:
    """One request, judged by posthog's rules: None when delivered (2xx); 408, 429 and 5xx
    retryable."""
    import requests

    from posthog import request as posthog_request

    try:
        response = posthog_request.post(
            settings.api_key,
            host=settings.host,
            path="/batch/",
            gzip=True,
            timeout=timeout_s,
            batch=request,
            historical_migration=False,
        )
    except requests.exceptions.RequestException as exc:
        if _refused(exc):
            return Failure("connection refused")
        return Failure(type(exc).__name__, retryable=True)
    except Exception as exc:  # not the network: the same request would fail the same way
        return Failure(type(exc).__name__)
    status = response.status_code
    if 200 <= status < 300:
        return None
    if status in (408, 429) or status >= 500:
        return Failure(f"HTTP {status}", True, parse_retry_after(response.headers.get("Retry-After")))
    return Failure(f"HTTP {status}")


def _failed(count: int, what: str, *, retried: bool) -> bool:
    # One warning per kind of failure; a dead host must not print a line per batch.
    message = "PostHog export of %d event(s) failed (%s%s); further such failures are logged at DEBUG."
    args = (count, what, ", after retries" if retried else "")
    if not warn_once(("export", what), logging.WARNING, message, *args):
        _logger.debug(message, *args)
    return False


class PostHogExporterBase:
    """What every PostHog exporter is; a subclass only says how one item becomes an event
    (``_to_event``). Settings resolve argument → ``OTEL_EXPORTER_POSTHOG_*`` → default (see
    ``exporters/README.md``); without an API key, or with a host that is not an http(s) URL, the
    exporter is disabled and ``export`` returns FAILURE without sending."""

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
        """One item of the exporter's telemetry as an event (None: it is not one)."""
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
