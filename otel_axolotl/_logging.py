"""The one way otel-axolotl says something once.

A telemetry problem recurs (a bad variable read at every start of a component, a dead sensor
every 10 s, an unreachable collector every batch); the training log must see it once. Every
"say it once" in the package goes through :func:`log_once` (or :func:`warn_once`, its
warning-level form), keyed by what the problem is, so repeats are free and silent.

The same registry backs :class:`RepeatFilter`, the filter put on OpenTelemetry's own export
loggers: an unreachable collector during a three-day run would otherwise fill the log, since
the SDK logs every failed export, with retries.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable

_logger = logging.getLogger("otel_axolotl")

POSTHOG_LOGGER = "posthog"
"""The posthog package's own logger (its request module), quieted like OpenTelemetry's."""

_warned: set[str] = set()
"""Keys already said in this process (tests clear it to see a message again)."""
_warned_lock = threading.Lock()
_scopes = itertools.count(1)


def new_scope(name: str) -> str:
    """A scope name no other instance has (for :func:`once_in`)."""
    return f"{name}#{next(_scopes)}"


def first_time(key: str) -> bool:
    """True exactly once per process for ``key``."""
    with _warned_lock:
        if key in _warned:
            return False
        _warned.add(key)
        return True


def log_once(key: str, level: int, message: str, *args: object, exc_info: bool = False) -> None:
    """Log ``message`` at ``level`` the first time ``key`` is seen in this process."""
    if first_time(key):
        _logger.log(level, message, *args, exc_info=exc_info)


OnceLog = Callable[..., None]
"""``(key, message, *args)``: log once per key within one scope (see :func:`once_in`)."""


def once_in(scope: str, level: int, *, exc_info: bool = False) -> OnceLog:
    """:func:`log_once` with every key under ``scope``: a component whose "once" is per
    instance (one hardware registration, one manager) rather than per process."""

    def log(key: str, message: str, *args: object) -> None:
        log_once(f"{scope}:{key}", level, message, *args, exc_info=exc_info)

    return log


def warn_once(key: str, message: str, *args: object) -> None:
    """Log a configuration or runtime problem once per process, however often it recurs."""
    log_once(key, logging.WARNING, message, *args)


# Loggers of the OTel SDK and OTLP exporters that report export failures.
SDK_EXPORT_LOGGERS = (
    "opentelemetry.exporter.otlp.proto.grpc.exporter",
    "opentelemetry.exporter.otlp.proto.http._common",
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "opentelemetry.exporter.otlp.proto.http.metric_exporter",
    "opentelemetry.exporter.otlp.proto.http._log_exporter",
    "opentelemetry.sdk._shared_internal",
    "opentelemetry.sdk.metrics._internal.export",
    "opentelemetry.sdk.trace.export",
    "opentelemetry.sdk._logs._internal.export",
)


class RepeatFilter(logging.Filter):
    """Pass the first record per (logger, message template); count and drop the repeats."""

    def __init__(self) -> None:
        super().__init__("otel-axolotl-repeats")
        self._lock = threading.Lock()
        self.suppressed = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if not first_time(f"repeat:{record.name}:{record.msg}"):
            with self._lock:
                self.suppressed += 1
            return False
        record.msg = f"{record.msg} (otel-axolotl: further identical messages are suppressed)"
        return True


_filter = RepeatFilter()


HEADER_PARSER_LOGGER = "opentelemetry.util.re"
"""Where the SDK logs an OTEL_EXPORTER_OTLP_*HEADERS entry it cannot parse, text included."""


class _DropRecords(logging.Filter):
    """Drop every record: the SDK's header parser quotes the entry (an API key, often);
    ``settings.parse_headers`` has already said which variable and entry, without the text."""

    def filter(self, record: logging.LogRecord) -> bool:
        return False


_drop = _DropRecords("otel-axolotl-headers")


def quiet_repeats(names: tuple[str, ...] = SDK_EXPORT_LOGGERS, *, first: bool = False) -> RepeatFilter:
    """Install the shared filter on ``names`` (idempotent) and return it; silence the SDK's
    header parser too (it runs when the exporters are built, right after this).

    ``first``: ahead of the logger's other filters, so it sees the message template before a
    filter that formats it (posthog's own prefix filter merges the arguments into ``msg``,
    which would make every repeat look new)."""
    for name in names:
        logger = logging.getLogger(name)
        if _filter not in logger.filters:
            if first:
                logger.filters.insert(0, _filter)
            else:
                logger.addFilter(_filter)
    header_logger = logging.getLogger(HEADER_PARSER_LOGGER)
    if _drop not in header_logger.filters:
        header_logger.addFilter(_drop)
    return _filter
