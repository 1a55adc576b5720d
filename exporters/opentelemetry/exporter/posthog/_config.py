"""Settings of the PostHog exporters, in one place.

Every setting resolves constructor argument → environment variable → default, the way the
OpenTelemetry SDK's own exporters do. A bad environment value must never stop the host
program: it costs one warning that names the variable and what it accepts, then the default
is used. A bad constructor argument is a programming error and raises ``ValueError`` at once.
A missing API key or a host that is not an http(s) URL disables the exporter instead of
raising, because telemetry must never be the reason a program fails to start.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

from opentelemetry.exporter.posthog._mapping import MappingOptions

_logger = logging.getLogger("opentelemetry.exporter.posthog")

OTEL_EXPORTER_POSTHOG_API_KEY = "OTEL_EXPORTER_POSTHOG_API_KEY"
"""PostHog project API key (the public ``phc_...`` token). No default: without a key the
exporters are disabled and every export returns FAILURE without sending anything."""

OTEL_EXPORTER_POSTHOG_HOST = "OTEL_EXPORTER_POSTHOG_HOST"
"""PostHog ingestion host, an ``http://`` or ``https://`` URL. Default
``https://us.i.posthog.com``. Anything else disables the exporters."""

OTEL_EXPORTER_POSTHOG_TIMEOUT = "OTEL_EXPORTER_POSTHOG_TIMEOUT"
"""Seconds, a positive number: how long one ``export`` may take, retries included (each
request gets what is left), as ``OTEL_EXPORTER_OTLP_TIMEOUT`` for the OTLP exporters.
Default 10."""

OTEL_EXPORTER_POSTHOG_DISTINCT_ID = "OTEL_EXPORTER_POSTHOG_DISTINCT_ID"
"""The ``distinct_id`` of every event. Default: a random id chosen per exporter instance
(never derived from the telemetry: a trace id is an id the user's tracing backend holds)."""

OTEL_EXPORTER_POSTHOG_RESOURCE_ATTRIBUTES = "OTEL_EXPORTER_POSTHOG_RESOURCE_ATTRIBUTES"
"""``true``: every event also carries the resource attributes as properties. Default false."""

OTEL_EXPORTER_POSTHOG_TRACE_CONTEXT = "OTEL_EXPORTER_POSTHOG_TRACE_CONTEXT"
"""``true``: events also carry ``$trace_id``, ``$span_id`` (and, for spans,
``$parent_span_id``), linking them to the user's traces. Default false."""

DEFAULT_HOST = "https://us.i.posthog.com"
DEFAULT_TIMEOUT_S = 10.0

# Each distinct complaint is logged once per process: three exporters reading the same bad
# environment, or a dead host failing every batch, must not print the same line again and again.
_warned: set[tuple[str, str]] = set()
_warned_lock = threading.Lock()


def warn_once(key: tuple[str, str], level: int, msg: str, *args: object) -> bool:
    """Log ``msg`` at ``level`` unless a message with the same ``key`` was logged already.
    True when it was logged now."""
    with _warned_lock:
        if key in _warned:
            return False
        _warned.add(key)
    _logger.log(level, msg, *args)
    return True


@dataclass(frozen=True)
class Settings:
    """Resolved settings. ``disabled_reason`` is None when the exporter may send."""

    api_key: str
    host: str
    timeout_s: float
    mapping: MappingOptions
    disabled_reason: str | None = None

    @property
    def enabled(self) -> bool:
        return self.disabled_reason is None

    def __repr__(self) -> str:  # never show the key, even in a debugger or a log line
        return (
            f"Settings(host={self.host!r}, timeout_s={self.timeout_s!r}, "
            f"resource_attributes={self.mapping.resource_attributes!r}, "
            f"trace_context={self.mapping.trace_context!r}, "
            f"disabled_reason={self.disabled_reason!r})"
        )


def _env(name: str) -> str | None:
    value = os.environ.get(name)
    if value is None or not value.strip():
        return None
    return value.strip()


def _positive_seconds(argument: float | None, env_name: str, default: float) -> float:
    if argument is not None:
        if (
            isinstance(argument, bool)
            or not isinstance(argument, (int, float))
            or not 0 < argument < math.inf
        ):
            raise ValueError(f"timeout must be a positive number of seconds, got {argument!r}")
        return float(argument)
    raw = _env(env_name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if 0 < value < math.inf:
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


def _flag(argument: bool | None, env_name: str) -> bool:
    if argument is not None:
        if not isinstance(argument, bool):
            raise ValueError(f"expected True or False, got {argument!r}")
        return argument
    raw = _env(env_name)
    if raw is None:
        return False
    if raw.lower() in ("true", "1", "yes", "on"):
        return True
    if raw.lower() not in ("false", "0", "no", "off"):
        warn_once(
            (env_name, raw),
            logging.WARNING,
            "Invalid value %r for %s: expected true or false; using false.",
            raw,
            env_name,
        )
    return False


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
    *,
    distinct_id: str | None = None,
    resource_attributes: bool | None = None,
    trace_context: bool | None = None,
) -> Settings:
    """Resolve every setting; log (once) why the exporters are disabled, if they are."""
    timeout_s = _positive_seconds(timeout, OTEL_EXPORTER_POSTHOG_TIMEOUT, DEFAULT_TIMEOUT_S)
    if distinct_id is not None and (not isinstance(distinct_id, str) or not distinct_id.strip()):
        raise ValueError("distinct_id must be a non-empty string")
    resolved_id = (distinct_id or _env(OTEL_EXPORTER_POSTHOG_DISTINCT_ID) or uuid.uuid4().hex).strip()
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
        mapping=MappingOptions(
            distinct_id=resolved_id,
            resource_attributes=_flag(resource_attributes, OTEL_EXPORTER_POSTHOG_RESOURCE_ATTRIBUTES),
            trace_context=_flag(trace_context, OTEL_EXPORTER_POSTHOG_TRACE_CONTEXT),
        ),
        disabled_reason=reason,
    )
