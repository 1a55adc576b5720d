"""One export, sent synchronously to PostHog's ``/batch/`` through posthog's public request layer.

Shaped like the OTLP/HTTP exporters' client: the caller's batch processor owns the queue;
``send`` posts what it is given and returns the real answer, within one deadline (the
exporter's ``timeout``, retries included; each request gets what is left of it).

The answer, by posthog-python's own rules (``posthog/consumer.py``):

* 2xx: delivered.
* 408, 429, 5xx, and network errors (timeouts, resets): retried with capped exponential
  backoff (1, 2, 4 ... s, at most 30 s), or after the server's ``Retry-After``; a retry that
  could not finish before the deadline is not started. ``shutdown()`` ends a backoff at once;
  after ``stop_retrying()`` (a process at its exit) every request is tried once, and a backoff
  in progress ends at once.
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

import json
import logging
import math
import os
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

from opentelemetry.exporter.posthog._config import Settings, warn_once
from opentelemetry.exporter.posthog._mapping import POSTHOG_MAX_EVENT_BYTES, PostHogEvent

_logger = logging.getLogger("opentelemetry.exporter.posthog")

BATCH_PATH = "/batch/"
MAX_REQUEST_BYTES = 5 * 1024 * 1024
"""posthog.consumer.BATCH_SIZE_LIMIT: requests stay under it (the server takes up to 20 MiB)."""
_REQUEST_ENVELOPE_BYTES = 1024  # api_key, sent_at, historical_migration, brackets
MAX_BACKOFF_S = 30.0
"""posthog's own cap on one backoff."""


@dataclass(frozen=True)
class Attempt:
    """What one request came to."""

    delivered: bool
    retryable: bool = False
    what: str = ""  # "HTTP 503", "connection refused", "ReadTimeout": never a payload
    retry_after_s: float | None = None


def answer_for_status(status: int, retry_after: str | None) -> Attempt:
    """posthog's rules for an HTTP answer: 2xx delivered; 408, 429 and 5xx retryable."""
    if 200 <= status < 300:
        return Attempt(delivered=True)
    retryable = status in (408, 429) or status >= 500
    return Attempt(
        delivered=False,
        retryable=retryable,
        what=f"HTTP {status}",
        retry_after_s=parse_retry_after(retry_after) if retryable else None,
    )


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
    """Whether a requests error wraps ConnectionRefusedError (requests and urllib3 nest it)."""
    pending: list[Any] = [exc]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ConnectionRefusedError):
            return True
        if isinstance(current, BaseException):
            pending.extend(current.args)
            pending.extend((current.__cause__, current.__context__, getattr(current, "reason", None)))
    return False


def _encoded_size(message: dict[str, Any]) -> int:
    return len(json.dumps(message, separators=(",", ":")).encode("utf-8"))


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


class Transport:
    """Sends events for one exporter. Thread-safe; holds no events between calls."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._stopped = threading.Event()
        self._no_retries = threading.Event()  # set by stop_retrying and by shutdown
        self._lock = threading.Lock()
        self._dropped = 0

    @property
    def dropped_events(self) -> int:
        """Events never sent because they were over PostHog's per-event limit."""
        with self._lock:
            return self._dropped

    def shutdown(self) -> None:
        """Refuse new sends and end a backoff in progress (a request in flight runs on)."""
        self._stopped.set()
        self._no_retries.set()

    def stop_retrying(self) -> None:
        """From now on each request is tried once; a backoff in progress ends (its request
        counts as failed). Sends go on: at exit, what the backend refuses is the caller's to keep."""
        self._no_retries.set()

    def send(self, events: Sequence[PostHogEvent], timeout_s: float | None = None) -> bool:
        """Post ``events``; True when every one that can be sent was accepted by PostHog."""
        if self._stopped.is_set():
            return False
        budget = self._settings.timeout_s if timeout_s is None else min(timeout_s, self._settings.timeout_s)
        deadline = time.monotonic() + max(0.0, budget)
        from posthog.version import VERSION

        messages = self._fitting([self._message(event, VERSION) for event in events])
        # The first request that fails ends the export: the caller keeps (or drops) the whole
        # batch, and PostHog deduplicates by uuid what an earlier request of it delivered.
        return all(self._post_with_retries(chunk, deadline) for chunk in self._requests(messages))

    # -- what goes into a request ------------------------------------------------------------
    @staticmethod
    def _message(event: PostHogEvent, lib_version: str) -> dict[str, Any]:
        properties = dict(event.properties)
        properties["$lib"] = "posthog-python"
        properties["$lib_version"] = lib_version
        return {
            "event": event.event,
            "distinct_id": event.distinct_id,
            "properties": properties,
            "timestamp": event.timestamp.isoformat(),
            "uuid": event.uuid,
        }

    def _fitting(self, messages: list[dict[str, Any]]) -> list[tuple[dict[str, Any], int]]:
        """Each message with its size; those over the per-event limit dropped and counted."""
        fitting = []
        dropped: list[int] = []
        for message in messages:
            size = _encoded_size(message)
            if size > POSTHOG_MAX_EVENT_BYTES:
                dropped.append(size)
            else:
                fitting.append((message, size))
        if dropped:
            with self._lock:
                self._dropped += len(dropped)
            warn_once(
                ("oversized", ""),
                logging.WARNING,
                "PostHog exporter dropped %d event(s) (largest %d bytes) over PostHog's per-event "
                "limit of %d bytes; further drops are counted in dropped_events, not logged.",
                len(dropped),
                max(dropped),
                POSTHOG_MAX_EVENT_BYTES,
            )
        return fitting

    @staticmethod
    def _requests(messages: list[tuple[dict[str, Any], int]]) -> Iterator[list[dict[str, Any]]]:
        """Messages cut into requests under posthog's request cap (one event always fits)."""
        chunk: list[dict[str, Any]] = []
        size = _REQUEST_ENVELOPE_BYTES
        for message, message_size in messages:
            if chunk and size + message_size + 1 > MAX_REQUEST_BYTES:
                yield chunk
                chunk, size = [], _REQUEST_ENVELOPE_BYTES
            chunk.append(message)
            size += message_size + 1
        if chunk:
            yield chunk

    # -- one request, then the retries -----------------------------------------------------------
    def _post_with_retries(self, chunk: list[dict[str, Any]], deadline: float) -> bool:
        attempt_number = 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return self._failed(len(chunk), "timed out", retried=attempt_number > 0)
            attempt = self._post_once(chunk, remaining)
            if attempt.delivered:
                return True
            if not attempt.retryable or self._no_retries.is_set():
                return self._failed(len(chunk), attempt.what, retried=attempt_number > 0)
            if attempt.retry_after_s is not None:
                delay = attempt.retry_after_s
            else:
                delay = min(2.0**attempt_number, MAX_BACKOFF_S)
            if delay >= deadline - time.monotonic():
                return self._failed(len(chunk), attempt.what, retried=attempt_number > 0)
            _logger.debug("PostHog export: %s, retrying in %.1f s.", attempt.what, delay)
            if self._no_retries.wait(delay):
                return self._failed(len(chunk), f"{attempt.what}, then told to stop retrying", retried=True)
            attempt_number += 1

    def _post_once(self, chunk: list[dict[str, Any]], timeout_s: float) -> Attempt:
        import requests

        from posthog import request as posthog_request

        settings = self._settings
        try:
            response = posthog_request.post(
                settings.api_key,
                host=settings.host,
                path=BATCH_PATH,
                gzip=True,
                timeout=timeout_s,
                batch=chunk,
                historical_migration=False,
            )
        except requests.exceptions.RequestException as exc:
            if _refused(exc):
                return Attempt(delivered=False, what="connection refused")
            return Attempt(delivered=False, retryable=True, what=type(exc).__name__)
        except Exception as exc:  # not the network: the same request would fail the same way
            return Attempt(delivered=False, what=type(exc).__name__)
        return answer_for_status(response.status_code, response.headers.get("Retry-After"))

    @staticmethod
    def _failed(count: int, what: str, *, retried: bool) -> bool:
        # One warning per kind of failure; a dead host must not print a line per batch.
        message = "PostHog export of %d event(s) failed (%s%s); further such failures are logged at DEBUG."
        args = (count, what, ", after retries" if retried else "")
        if not warn_once(("export", what), logging.WARNING, message, *args):
            _logger.debug(message, *args)
        return False
