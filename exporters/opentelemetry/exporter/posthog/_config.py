"""Settings of the PostHog exporters, in one place.

Every setting resolves constructor argument → environment variable → default, the way the
OpenTelemetry SDK's own exporters do. A bad environment value must never stop the host
program: it costs one warning that names the variable and what it accepts, then the default
is used. A bad constructor argument is a programming error and raises ``ValueError`` at once.
A missing API key or a host that is not an http(s) URL disables the exporter instead of
raising, because telemetry must never be the reason a training run fails to start.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from urllib.parse import urlsplit

_logger = logging.getLogger("opentelemetry.exporter.posthog")

OTEL_EXPORTER_POSTHOG_API_KEY = "OTEL_EXPORTER_POSTHOG_API_KEY"
"""PostHog project API key (the public ``phc_...`` token). No default: without a key the
exporters are disabled and every export returns FAILURE without sending anything."""

OTEL_EXPORTER_POSTHOG_HOST = "OTEL_EXPORTER_POSTHOG_HOST"
"""PostHog ingestion host, an ``http://`` or ``https://`` URL. Default
``https://us.i.posthog.com``. Anything else disables the exporters."""

OTEL_EXPORTER_POSTHOG_TIMEOUT = "OTEL_EXPORTER_POSTHOG_TIMEOUT"
"""Seconds, a positive number. The total deadline of ``force_flush`` and ``shutdown`` (and of
the flush at process exit), also used as the timeout of each HTTP request. Default 2."""

OTEL_EXPORTER_POSTHOG_MAX_QUEUE_SIZE = "OTEL_EXPORTER_POSTHOG_MAX_QUEUE_SIZE"
"""Events buffered in the shared PostHog client before new ones are dropped (and counted), a
positive integer. Default 2048."""

DEFAULT_HOST = "https://us.i.posthog.com"
DEFAULT_TIMEOUT_S = 2.0
DEFAULT_MAX_QUEUE_SIZE = 2048

# Each distinct complaint is logged once per process: three exporters reading the same bad
# environment must not print the same warning three times.
_warned: set[tuple[str, str]] = set()
_warned_lock = threading.Lock()


def warn_once(key: tuple[str, str], level: int, msg: str, *args: object) -> None:
    """Log ``msg`` at ``level`` unless a message with the same ``key`` was logged already."""
    with _warned_lock:
        if key in _warned:
            return
        _warned.add(key)
    _logger.log(level, msg, *args)


@dataclass(frozen=True)
class Settings:
    """Resolved settings. ``disabled_reason`` is None when the exporter may send."""

    api_key: str
    host: str
    timeout_s: float
    max_queue_size: int
    disabled_reason: str | None = None

    @property
    def enabled(self) -> bool:
        return self.disabled_reason is None

    def __repr__(self) -> str:  # never show the key, even in a debugger or a log line
        return (
            f"Settings(host={self.host!r}, timeout_s={self.timeout_s!r}, "
            f"max_queue_size={self.max_queue_size!r}, disabled_reason={self.disabled_reason!r})"
        )


def _env(name: str) -> str | None:
    value = os.environ.get(name)
    if value is None or not value.strip():
        return None
    return value.strip()


def _positive_float(argument: float | None, env_name: str, default: float) -> float:
    if argument is not None:
        if isinstance(argument, bool) or not isinstance(argument, (int, float)) or not argument > 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {argument!r}")
        return float(argument)
    raw = _env(env_name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value > 0 and value != float("inf"):
        return value
    warn_once(
        (env_name, raw),
        logging.WARNING,
        "Invalid value %r for %s: expected a positive number of seconds; using the default %s.",
        raw,
        env_name,
        default,
    )
    return default


def _positive_int(argument: int | None, env_name: str, default: int) -> int:
    if argument is not None:
        if isinstance(argument, bool) or not isinstance(argument, int) or argument <= 0:
            raise ValueError(f"max_queue_size must be a positive integer, got {argument!r}")
        return argument
    raw = _env(env_name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value > 0:
        return value
    warn_once(
        (env_name, raw),
        logging.WARNING,
        "Invalid value %r for %s: expected a positive integer; using the default %s.",
        raw,
        env_name,
        default,
    )
    return default


def _is_http_url(host: str) -> bool:
    try:
        parts = urlsplit(host)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc) and " " not in host


def resolve(
    api_key: str | None = None,
    host: str | None = None,
    timeout: float | None = None,
    max_queue_size: int | None = None,
) -> Settings:
    """Resolve every setting; log (once) why the exporters are disabled, if they are."""
    timeout_s = _positive_float(timeout, OTEL_EXPORTER_POSTHOG_TIMEOUT, DEFAULT_TIMEOUT_S)
    queue_size = _positive_int(max_queue_size, OTEL_EXPORTER_POSTHOG_MAX_QUEUE_SIZE, DEFAULT_MAX_QUEUE_SIZE)

    key = (api_key if api_key is not None else _env(OTEL_EXPORTER_POSTHOG_API_KEY) or "").strip()
    resolved_host = (host if host is not None else _env(OTEL_EXPORTER_POSTHOG_HOST) or DEFAULT_HOST).strip()

    reason: str | None = None
    if not _is_http_url(resolved_host):
        reason = "invalid host"
        source = "the host argument" if host is not None else OTEL_EXPORTER_POSTHOG_HOST
        # The host is not a secret; it is shown so that the typo can be found.
        warn_once(
            ("host", resolved_host),
            logging.ERROR,
            "PostHog exporter disabled: %s is %r, expected an http:// or https:// URL "
            "such as %s. Nothing will be sent to PostHog.",
            source,
            resolved_host,
            DEFAULT_HOST,
        )
    elif not key:
        reason = "no api key"
        warn_once(
            ("api_key", ""),
            logging.WARNING,
            "PostHog exporter disabled: no API key (pass api_key or set %s). "
            "Nothing will be sent to PostHog.",
            OTEL_EXPORTER_POSTHOG_API_KEY,
        )
    return Settings(
        api_key=key,
        host=resolved_host.rstrip("/"),
        timeout_s=timeout_s,
        max_queue_size=queue_size,
        disabled_reason=reason,
    )
