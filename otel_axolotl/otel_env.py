"""What OpenTelemetry's own environment variables say: OTLP endpoints, protocols, headers and
timeouts per signal, the exporter selection (OTEL_<SIGNAL>_EXPORTER), the user's resource.

These are the specification's variables, read the way the Python SDK reads them, except that
a bad value gets our one warning naming the variable (never the value: OTLP headers usually
carry an API key) and a safe default, instead of an exception or the SDK logging the value.
``settings`` reads them through here into the one ``Settings`` object and re-exports the names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ._logging import warn_once
from .env_values import parse_choice, parse_float, parse_headers, validate_url

OTEL_SDK_DISABLED = "OTEL_SDK_DISABLED"
"""OpenTelemetry's switch: ``true`` turns every destination off, OTLP included."""
OTEL_EXPORTER_OTLP_ENDPOINT = "OTEL_EXPORTER_OTLP_ENDPOINT"
OTEL_EXPORTER_OTLP_PROTOCOL = "OTEL_EXPORTER_OTLP_PROTOCOL"
OTEL_EXPORTER_OTLP_SIGNAL_ENDPOINT = "OTEL_EXPORTER_OTLP_{signal}_ENDPOINT"
OTEL_EXPORTER_OTLP_SIGNAL_PROTOCOL = "OTEL_EXPORTER_OTLP_{signal}_PROTOCOL"
OTEL_SERVICE_NAME = "OTEL_SERVICE_NAME"
OTEL_METRIC_EXPORT_INTERVAL = "OTEL_METRIC_EXPORT_INTERVAL"
OTEL_RESOURCE_ATTRIBUTES = "OTEL_RESOURCE_ATTRIBUTES"
"""``key=value,key2=value2`` (values percent-encoded): resource facts for the user's own
destinations (OTLP, console, file) at every level, secrets still removed; never PostHog.
``OTEL_SERVICE_NAME`` wins over a ``service.name`` given here, which wins over the default."""
OTEL_SIGNAL_EXPORTER = "OTEL_{signal}_EXPORTER"
"""``OTEL_TRACES_EXPORTER``, ``OTEL_METRICS_EXPORTER``, ``OTEL_LOGS_EXPORTER``: a comma list of
``none``, ``otlp``, ``console`` or installed entry points (``opentelemetry_<signal>_exporter``)
that receive this signal at the observability level. Unset: OTLP when an endpoint is set.
``none`` alone: the signal goes to no observability exporter."""
TRACEPARENT = "TRACEPARENT"
"""W3C trace context of the process that started this one (CI systems, orchestrators,
``opentelemetry-instrument`` launchers): the run span becomes its child when no span is active."""
TRACESTATE = "TRACESTATE"
"""The W3C ``tracestate`` that goes with TRACEPARENT."""
BUILTIN_EXPORTERS = ("none", "otlp", "console", "prometheus")  # prometheus: metrics, pulled

OTEL_METRICS_EXPORTER = "OTEL_METRICS_EXPORTER"
"""OpenTelemetry's metrics exporter selection; ``prometheus`` in its comma-separated list serves
the metrics for scraping (extra ``otel-axolotl[prometheus]``)."""
OTEL_EXPORTER_PROMETHEUS_HOST = "OTEL_EXPORTER_PROMETHEUS_HOST"
"""Address the Prometheus endpoint listens on. Default ``127.0.0.1`` (loopback only: set
``0.0.0.0`` to let another machine scrape it)."""
OTEL_EXPORTER_PROMETHEUS_PORT = "OTEL_EXPORTER_PROMETHEUS_PORT"
"""Port of the Prometheus endpoint. Default 9464 (local rank N of a multi-process run listens
on 9464 + N, so ranks on one node do not collide)."""
OTLP_PROTOCOLS = ("grpc", "http/protobuf")
SIGNALS = ("traces", "metrics", "logs")
MAX_EXPORT_TIMEOUT_SECONDS = 600.0

OTEL_EXPORTER_OTLP_HEADERS = "OTEL_EXPORTER_OTLP_HEADERS"
OTEL_EXPORTER_OTLP_SIGNAL_HEADERS = "OTEL_EXPORTER_OTLP_{signal}_HEADERS"
OTEL_EXPORTER_OTLP_TIMEOUT = "OTEL_EXPORTER_OTLP_TIMEOUT"
OTEL_EXPORTER_OTLP_SIGNAL_TIMEOUT = "OTEL_EXPORTER_OTLP_{signal}_TIMEOUT"
DEFAULT_OTLP_TIMEOUT = 10.0


@dataclass(frozen=True)
class OtlpSignal:
    """Where one signal goes over OTLP, as the standard variables describe it."""

    endpoint: str
    protocol: str
    signal_specific: bool  # the per-signal variable names the full URL (no /v1/<signal> suffix)
    headers: tuple[tuple[str, str], ...] = ()
    """Validated here, passed to the exporter: the SDK's own parser logs a bad entry verbatim,
    and these headers usually carry an API key."""
    timeout: float = DEFAULT_OTLP_TIMEOUT
    """Seconds one export may take (the Python SDK reads OTEL_EXPORTER_OTLP_TIMEOUT in seconds)."""


def resolve_otlp(env: Mapping[str, str]) -> dict[str, OtlpSignal]:
    """The OTLP destination per signal. An endpoint variable enables it; none, no OTLP."""
    default_protocol = parse_choice(env, OTEL_EXPORTER_OTLP_PROTOCOL, OTLP_PROTOCOLS, "grpc")
    base = env.get(OTEL_EXPORTER_OTLP_ENDPOINT, "").strip()
    base_url = validate_url(base, OTEL_EXPORTER_OTLP_ENDPOINT) if base else None
    base_headers = parse_headers(env, OTEL_EXPORTER_OTLP_HEADERS) or ()
    base_timeout = parse_float(
        env,
        OTEL_EXPORTER_OTLP_TIMEOUT,
        DEFAULT_OTLP_TIMEOUT,
        minimum=0.01,
        maximum=MAX_EXPORT_TIMEOUT_SECONDS,
    )
    result: dict[str, OtlpSignal] = {}
    for signal in SIGNALS:
        upper = signal.upper()
        var = OTEL_EXPORTER_OTLP_SIGNAL_ENDPOINT.format(signal=upper)
        protocol = parse_choice(
            env, OTEL_EXPORTER_OTLP_SIGNAL_PROTOCOL.format(signal=upper), OTLP_PROTOCOLS, default_protocol
        )
        headers = parse_headers(env, OTEL_EXPORTER_OTLP_SIGNAL_HEADERS.format(signal=upper))
        timeout = parse_float(
            env,
            OTEL_EXPORTER_OTLP_SIGNAL_TIMEOUT.format(signal=upper),
            base_timeout,
            minimum=0.01,
            maximum=MAX_EXPORT_TIMEOUT_SECONDS,
        )
        chosen = base_headers if headers is None else headers
        specific = env.get(var, "").strip()
        if specific:
            url = validate_url(specific, var)
            if url:
                result[signal] = OtlpSignal(url, protocol, True, chosen, timeout)
        elif base_url:
            result[signal] = OtlpSignal(base_url, protocol, False, chosen, timeout)
    return result


def user_resource(env: Mapping[str, str]) -> dict[str, str]:
    """OTEL_RESOURCE_ATTRIBUTES (the spec's ``key=value`` list, values percent-decoded) with
    OTEL_SERVICE_NAME as ``service.name`` on top. A malformed pair is skipped with one warning
    that names the variable, never the value (it may hold a secret)."""
    from urllib.parse import unquote

    result: dict[str, str] = {}
    bad = 0
    for pair in (env.get(OTEL_RESOURCE_ATTRIBUTES) or "").split(","):
        if not pair.strip():
            continue
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            bad += 1
            continue
        result[key] = unquote(value.strip())
    if bad:
        warn_once(
            "resource:malformed",
            "otel-axolotl: %s has %d entr%s that are not key=value; %s skipped.",
            OTEL_RESOURCE_ATTRIBUTES,
            bad,
            "y" if bad == 1 else "ies",
            "it is" if bad == 1 else "they are",
        )
    service = (env.get(OTEL_SERVICE_NAME) or "").strip()
    if service:
        result["service.name"] = service
    return result


def exporter_selection(env: Mapping[str, str]) -> dict[str, tuple[str, ...]]:
    """OTEL_{TRACES,METRICS,LOGS}_EXPORTER: signal -> selected names. Unknown names get one
    warning naming the variable and what is accepted, and are left out. Entry points are looked
    up only when a name is not built in (the common, unset case imports nothing)."""
    result: dict[str, tuple[str, ...]] = {}
    for signal in SIGNALS:
        var = OTEL_SIGNAL_EXPORTER.format(signal=signal.upper())
        raw = env.get(var)
        if raw is None or not raw.strip():
            continue
        names = [n.strip().lower() for n in raw.split(",") if n.strip()]
        installed = (
            installed_exporters(signal) if any(n not in BUILTIN_EXPORTERS for n in names) else frozenset()
        )
        known = [n for n in dict.fromkeys(names) if n in BUILTIN_EXPORTERS or n in installed]
        unknown = [n for n in names if n not in known]
        if unknown:
            warn_once(
                f"exporter:{var}",
                "otel-axolotl: %s names %s, not an installed exporter; accepted: %s. Ignored.",
                var,
                ", ".join(repr(n) for n in unknown),
                ", ".join((*BUILTIN_EXPORTERS, *sorted(installed - set(BUILTIN_EXPORTERS)))),
            )
        if not known:
            continue  # nothing usable was named: as if unset
        result[signal] = tuple(n for n in known if n != "none")  # () : ``none``, the signal is off
    return result


def installed_exporters(signal: str) -> frozenset[str]:
    """Names of the ``opentelemetry_<signal>_exporter`` entry points installed."""
    from importlib.metadata import entry_points

    try:
        return frozenset(ep.name for ep in entry_points(group=f"opentelemetry_{signal}_exporter"))
    except Exception:
        return frozenset()


def otlp_defaults(env: Mapping[str, str]) -> dict[str, OtlpSignal]:
    """The spec's default OTLP endpoint per signal, for the protocol the variables name."""
    general = parse_choice(env, OTEL_EXPORTER_OTLP_PROTOCOL, OTLP_PROTOCOLS, "grpc")
    result = {}
    for signal in SIGNALS:
        var = OTEL_EXPORTER_OTLP_SIGNAL_PROTOCOL.format(signal=signal.upper())
        protocol = parse_choice(env, var, OTLP_PROTOCOLS, general)
        port = 4317 if protocol == "grpc" else 4318
        result[signal] = OtlpSignal(f"http://localhost:{port}", protocol, False)
    return result
