"""At exit, an exporter whose backend has answered stops retrying.

The OTLP exporters retry a refused connection, 429, 5xx and RESOURCE_EXHAUSTED/UNAVAILABLE
with exponential backoff (1, 2, 4 ... s) until their own timeout (10 s by default). During
the run that is what one wants; during the exit flush it spends the deadline waiting on a
backend that has already said no. A refusal or an error status is an answer: the data goes
to the spool at once, and only a backend that never answers may cost the deadline.

The SDK offers no "stop retrying" call, and its retry loop differs between releases (1.39's
exporters retry themselves, 1.45's HTTP exporters through a shared client), but every release
here (1.39 and 1.45, both in CI) does the same two public things before each backoff: it logs
a WARNING "... retrying in N s" from the thread doing the export, and it waits on the event
that ``shutdown()`` sets (shutdown ends the backoff at once, and a shut exporter retries no
more). So the watch is a logging filter on the exporters' loggers that tells the export
running on that thread "your backend answered"; an exporter told so at exit is shut down.
Exporters that can be told directly (the PostHog exporter's ``stop_retrying()``) are told
directly and never need the watch.

If the host program silences those loggers below WARNING, nothing is announced and an
answered backend costs at most the exit deadline, as before (the deadline still bounds exit).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricsData

from ._logging import SDK_EXPORT_LOGGERS
from ._metric_wrapper import WrappingMetricExporter

RETRY_MARKER = "retrying in"
"""In every OTLP exporter's WARNING before a backoff (SDK 1.39 and 1.45, HTTP and gRPC)."""

WATCHED_LOGGERS = (*SDK_EXPORT_LOGGERS, "opentelemetry.exporter.otlp.common.http")
"""Where the OTLP exporters log their retries (1.45's HTTP client logs through the
exporter's own logger, else its module's)."""

Answered = Callable[[], None]
"""Told, on the exporting thread, that the backend answered and the exporter will back off."""


class RetryWatch(logging.Filter):
    """Passes every record; one announcing a backoff tells the export on its thread."""

    def __init__(self) -> None:
        super().__init__("otel-axolotl-retry-watch")
        self._exports = threading.local()

    @contextlib.contextmanager
    def exporting(self, answered: Answered) -> Iterator[None]:
        """While the body runs, a retry announced on this thread calls ``answered``."""
        previous = getattr(self._exports, "answered", None)
        self._exports.answered = answered
        try:
            yield
        finally:
            self._exports.answered = previous

    def filter(self, record: logging.LogRecord) -> bool:
        answered: Answered | None = getattr(self._exports, "answered", None)
        if answered is not None and record.levelno == logging.WARNING and RETRY_MARKER in str(record.msg):
            try:
                answered()
            except Exception:  # a filter must never break the exporter's logging
                logging.getLogger("otel_axolotl").debug("otel-axolotl: retry watch failed", exc_info=True)
        return True


_watch = RetryWatch()


def retry_watch() -> RetryWatch:
    """The process's watch, put first on the exporters' loggers (before the repeat filter,
    which drops repeats: a dropped record would never reach a later filter). Idempotent."""
    for name in WATCHED_LOGGERS:
        logger = logging.getLogger(name)
        if _watch not in logger.filters:
            logger.filters.insert(0, _watch)
    return _watch


class StopsRetryingAtExit(WrappingMetricExporter):
    """A metric exporter that, once :meth:`begin_exit` was called, retries no more: told
    directly (``stop_retrying()``) where it can be, else shut down when it announces a backoff.
    Once shut, exports fail at once (metrics are not spooled: the next run starts afresh)."""

    def __init__(self, delegate: MetricExporter) -> None:
        super().__init__(delegate)
        self._watch = retry_watch()
        self._lock = threading.Lock()
        self._exiting = False
        self._backing_off = False
        self._shut = False

    def begin_exit(self) -> None:
        with self._lock:
            self._exiting = True
            backing_off = self._backing_off
        stop_retrying = getattr(self.delegate, "stop_retrying", None)
        if callable(stop_retrying):
            stop_retrying()
        elif backing_off:
            self._shut_once()

    def _backed_off(self) -> None:
        with self._lock:
            self._backing_off = True
            exiting = self._exiting
        if exiting:
            self._shut_once()

    def _shut_once(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        with self._lock:
            if self._shut:
                return
            self._shut = True
        self.delegate.shutdown(timeout_millis=timeout_millis, **kwargs)

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        with self._lock:
            if self._shut:
                return MetricExportResult.FAILURE
            self._backing_off = False
        with self._watch.exporting(self._backed_off):
            return self.delegate.export(metrics_data, timeout_millis=timeout_millis, **kwargs)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self._shut_once(timeout_millis, **kwargs)
