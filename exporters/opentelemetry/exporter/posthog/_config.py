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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple
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
    """Resolved settings; ``enabled`` is False when the exporter must not send (no key, bad host)."""

    api_key: str = field(repr=False)  # never shown, even in a debugger or a log line
    host: str
    timeout_s: float
    mapping: MappingOptions
    enabled: bool


class _Kind(NamedTuple):
    """What one kind of setting accepts: ``valid`` checks an argument or a parsed variable."""

    valid: Callable[[Any], bool]
    parse: Callable[[str], Any]  # the variable's text → a value (ValueError, KeyError: not one)
    accepts: str


_TRUE_WORDS, _FALSE_WORDS = ("true", "1", "yes", "on"), ("false", "0", "no", "off")
_FLAG_WORDS = {**dict.fromkeys(_TRUE_WORDS, True), **dict.fromkeys(_FALSE_WORDS, False)}
_TEXT = _Kind(lambda value: isinstance(value, str), str, "a string")
_NAME = _Kind(lambda value: isinstance(value, str) and bool(value.strip()), str, "a non-empty string")
_FLAG = _Kind(lambda value: isinstance(value, bool), lambda raw: _FLAG_WORDS[raw.lower()], "true or false")
_SECONDS = _Kind(
    lambda value: isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < math.inf,
    float,
    "a positive number of seconds",
)


def _setting(env_name: str, argument: Any, kind: _Kind, default: Any) -> Any:
    """One setting, by the rule for all of them: the argument if given (invalid: ``ValueError``),
    else the variable if set (invalid: one warning naming it, then the default), else
    ``default``. Only a number or a boolean is echoed in the error: anything else may be a key."""
    if argument is not None:
        if not kind.valid(argument):
            name = env_name.removeprefix("OTEL_EXPORTER_POSTHOG_").lower()
            shown = repr(argument) if isinstance(argument, (bool, int, float)) else type(argument).__name__
            raise ValueError(f"{name} must be {kind.accepts}, got {shown}")
        return argument
    raw = os.environ.get(env_name, "").strip()
    if not raw:
        return default
    try:
        value = kind.parse(raw)
    except (KeyError, ValueError):
        value = None
    if kind.valid(value):
        return value
    message = "Invalid value %r for %s: expected %s; using the default %s."
    warn_once((env_name, raw), logging.WARNING, message, raw, env_name, kind.accepts, default)
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
    *,
    distinct_id: str | None = None,
    resource_attributes: bool | None = None,
    trace_context: bool | None = None,
) -> Settings:
    """Resolve every setting; log (once) why the exporters are disabled, if they are."""
    timeout_s = float(_setting(OTEL_EXPORTER_POSTHOG_TIMEOUT, timeout, _SECONDS, DEFAULT_TIMEOUT_S))
    mapping = MappingOptions(
        _setting(OTEL_EXPORTER_POSTHOG_DISTINCT_ID, distinct_id, _NAME, uuid.uuid4().hex).strip(),
        _setting(OTEL_EXPORTER_POSTHOG_RESOURCE_ATTRIBUTES, resource_attributes, _FLAG, False),
        _setting(OTEL_EXPORTER_POSTHOG_TRACE_CONTEXT, trace_context, _FLAG, False),
    )
    key = _setting(OTEL_EXPORTER_POSTHOG_API_KEY, api_key, _TEXT, "").strip()
    resolved_host = _setting(OTEL_EXPORTER_POSTHOG_HOST, host, _TEXT, DEFAULT_HOST).strip()
    valid_host = _is_http_url(resolved_host)
    if not valid_host:
        source = "the host argument" if host is not None else OTEL_EXPORTER_POSTHOG_HOST
        # The host is not a secret; it is shown so that the typo can be found.
        message = "PostHog exporter disabled: %s is %r, expected an http:// or https:// URL such as %s."
        warn_once(("host", resolved_host), logging.ERROR, message, source, resolved_host, DEFAULT_HOST)
    elif not key:
        message = "PostHog exporter disabled: no API key (pass api_key or set %s)."
        warn_once(("api_key", ""), logging.WARNING, message, OTEL_EXPORTER_POSTHOG_API_KEY)
    return Settings(key, resolved_host.rstrip("/"), timeout_s, mapping, enabled=valid_host and bool(key))
