"""Where telemetry can go, each behind its own privacy level.

A destination is a named set of exporters (spans, events, metrics) plus the level the privacy
stage applies before them. Exporter modules are imported only when their destination is
used: grpc alone costs ~200 ms, posthog ~190 ms.
"""

from __future__ import annotations

import json
import logging
import sys
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from . import settings as _s
from ._logging import POSTHOG_LOGGER
from .privacy.values import Level

if TYPE_CHECKING:
    from opentelemetry.sdk._logs.export import LogRecordExporter
    from opentelemetry.sdk.metrics.export import MetricExporter, MetricReader
    from opentelemetry.sdk.trace.export import SpanExporter

    from .plan import Plan, PlannedDestination
    from .privacy.scrubber import Scrubber

_logger = logging.getLogger("otel_axolotl")


@dataclass
class Destination:
    name: str
    level: Level
    span_exporter: SpanExporter | None = None
    log_exporter: LogRecordExporter | None = None
    metric_exporter: MetricExporter | None = None
    product_analytics: bool = False  # PostHog: main rank only, strict only, needs consent
    recipient: str | None = None
    """Who receives it (``spool_layout.recipient_id``, a hash): the spool replays only to the same
    recipient. None: not spooled."""
    product_id: str | None = None
    """PostHog: this run's random product id (``distinct_id``), also stamped on what is spooled."""
    metric_reader: Callable[[Scrubber], MetricReader] | None = None
    """A pull destination (Prometheus): builds its metric reader around the destination's
    scrubber, which runs before the reader hands anything on."""


_EXPORTER_FIELD = {"traces": "span_exporter", "logs": "log_exporter", "metrics": "metric_exporter"}


def otlp_targets(settings: _s.Settings) -> dict[str, _s.OtlpSignal]:
    """Signal -> where OTLP sends it: the endpoint variables, then OTEL_<SIGNAL>_EXPORTER
    (``otlp`` without an endpoint: the spec's default; any list without ``otlp``: not over OTLP)."""
    targets: dict[str, _s.OtlpSignal] = {}
    for signal in _s.SIGNALS:
        chosen = settings.exporters.get(signal)
        if chosen is None:
            if signal in settings.otlp:
                targets[signal] = settings.otlp[signal]
        elif "otlp" in chosen:
            default = settings.otlp_defaults.get(signal) or _s.OtlpSignal(
                "http://localhost:4317", "grpc", False
            )
            targets[signal] = settings.otlp.get(signal, default)
    return targets


def otlp(settings: _s.Settings) -> Destination | None:
    """OTLP over gRPC or HTTP as the standard OTEL_EXPORTER_OTLP_* and OTEL_<SIGNAL>_EXPORTER
    variables say."""
    targets = otlp_targets(settings)
    if not targets:
        return None
    from ._logging import quiet_repeats
    from .spool_layout import otlp_recipient

    quiet_repeats()  # an unreachable collector is reported once, not once per batch
    level = Level(settings.privacy)
    dest = Destination("otlp", level)
    for signal, target in targets.items():
        setattr(dest, _EXPORTER_FIELD[signal], _otlp_exporter(signal, target))
    dest.recipient = otlp_recipient({s: (t.protocol, _otlp_url(s, t)) for s, t in targets.items()})
    return dest


def entry_point(name: str, signals: frozenset[str], level: Level) -> Destination | None:
    """An exporter that OTEL_<SIGNAL>_EXPORTER names by its entry point
    (``opentelemetry_<signal>_exporter``), built with no arguments (it reads its own variables),
    fed from the privacy stage at the observability level like OTLP. A metric *reader* (it would
    pull from the provider, past the stage) is refused."""
    from importlib.metadata import entry_points

    from opentelemetry.sdk.metrics.export import MetricReader

    dest = Destination(f"exporter:{name}", level)
    for signal in sorted(signals):
        var = _s.OTEL_SIGNAL_EXPORTER.format(signal=signal.upper())
        found = [ep for ep in entry_points(group=f"opentelemetry_{signal}_exporter") if ep.name == name]
        try:
            cls = found[0].load()
            if isinstance(cls, type) and issubclass(cls, MetricReader):
                raise TypeError("it is a metric reader, which would bypass the privacy stage")
            exporter = cls()
        except Exception as exc:
            _s.warn_once(
                f"exporter:{var}:{name}", "otel-axolotl: %s=%s cannot be used (%s); left out.", var, name, exc
            )
            continue
        setattr(dest, _EXPORTER_FIELD[signal], exporter)
    if dest.span_exporter is None and dest.log_exporter is None and dest.metric_exporter is None:
        return None
    return dest


def _otlp_url(signal: str, target: _s.OtlpSignal) -> str:
    """Where the exporter of ``signal`` sends: gRPC takes the endpoint, HTTP a per-signal path."""
    if target.protocol == "grpc" or target.signal_specific:
        return target.endpoint
    return target.endpoint.rstrip("/") + f"/v1/{signal}"


def _otlp_exporter(signal: str, target: _s.OtlpSignal) -> Any:
    Exp: type[Any]
    HExp: type[Any]
    if target.protocol == "grpc":
        if signal == "traces":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as Exp
        elif signal == "metrics":
            from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as Exp
        else:
            from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as Exp
        return Exp(
            endpoint=target.endpoint,
            insecure=target.endpoint.startswith("http://"),
            headers=dict(target.headers) or None,  # validated in settings; the SDK logs bad ones raw
            timeout=target.timeout,
        )
    if signal == "traces":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HExp
    elif signal == "metrics":
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HExp
    else:
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HExp
    headers = dict(target.headers) or None
    return HExp(endpoint=_otlp_url(signal, target), headers=headers, timeout=target.timeout)


def json_lines(name: str, out: IO[str], level: Level, *, label: str | None = None) -> Destination:
    """Console or file destination: one JSON document per line, so `jq` and grep work on it."""
    from opentelemetry.sdk._logs.export import ConsoleLogRecordExporter
    from opentelemetry.sdk.metrics.export import ConsoleMetricExporter
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter

    prefix = f"[{label}] " if label else ""

    def fmt(kind: str) -> Callable[[Any], str]:
        def render(item: Any) -> str:
            doc = json.loads(item.to_json(indent=None))
            return prefix + json.dumps({"signal": kind, **doc}, default=str) + "\n"

        return render

    return Destination(
        name,
        level,
        span_exporter=ConsoleSpanExporter(out=out, formatter=fmt("span")),
        log_exporter=ConsoleLogRecordExporter(out=out, formatter=fmt("event")),
        metric_exporter=ConsoleMetricExporter(out=out, formatter=fmt("metrics")),
    )


def console(
    level: Level = Level.STRICT, out: IO[str] | None = None, signals: frozenset[str] | None = None
) -> Destination:
    """JSON lines on stderr: every signal (OTEL_AXOLOTL_CONSOLE), or those OTEL_<SIGNAL>_EXPORTER
    names ``console`` for."""
    return only(json_lines("console", out or sys.stderr, level), signals)


def only(dest: Destination, signals: frozenset[str] | None) -> Destination:
    """``dest`` without the exporters of signals not in ``signals`` (None: all signals)."""
    if signals is not None:
        for signal, name in _EXPORTER_FIELD.items():
            if signal not in signals:
                setattr(dest, name, None)
    return dest


def file(path: str, level: Level = Level.STRICT) -> Destination | None:
    try:
        stream = open(path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115 - lives as long as the manager
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the path
        _s.warn_once(
            f"file:{path}",
            "otel-axolotl: the file %s names cannot be opened (%s; path not shown); file destination off.",
            _s.OTEL_AXOLOTL_FILE,
            getattr(exc, "strerror", None) or type(exc).__name__,
        )
        return None
    return json_lines("file", stream, level)


def posthog(
    settings: _s.Settings,
    api_key: str,
    *,
    distinct_id: str | None = None,
    export_timeout: float | None = None,
) -> Destination | None:
    """Anonymous product analytics: always strict, Axolotl's events (and the run's spans as
    events only with OTEL_AXOLOTL_POSTHOG_SPANS; progress events already carry the metrics, so
    periodic metric events would only add volume).

    Only what the user set is passed on (the host, when ``OTEL_AXOLOTL_POSTHOG_HOST`` names
    another than the default), so the exporter's own ``OTEL_EXPORTER_POSTHOG_*`` variables
    work for the rest; ``export_timeout`` (seconds one export may take, retries included)
    likewise defaults to the exporter's. Never left to those variables: the ``distinct_id``
    (the run's random product id, or a fresh one here, so no variable can pin a persistent
    identity) and the exporter's opt-in extras (resource attributes, trace ids), which would
    link the product stream to the machine and to the user's own traces."""
    if not settings.posthog_host:
        return None
    from opentelemetry.exporter.posthog import PostHogLogExporter, PostHogSpanExporter

    from .spool_layout import posthog_recipient

    product_id = distinct_id or uuid.uuid4().hex
    options: dict[str, Any] = {
        "api_key": api_key,
        "distinct_id": product_id,
        "resource_attributes": False,
        "trace_context": False,
    }
    if settings.posthog_host != _s.DEFAULT_POSTHOG_HOST:
        options["host"] = settings.posthog_host
    if export_timeout is not None:
        options["timeout"] = export_timeout
    return Destination(
        "posthog",
        Level.STRICT,
        # The run's spans as events only when asked (OTEL_AXOLOTL_POSTHOG_SPANS): Axolotl sends none.
        span_exporter=PostHogSpanExporter(**options) if settings.posthog_spans else None,
        log_exporter=PostHogLogExporter(**options),
        product_analytics=True,
        recipient=posthog_recipient(settings.posthog_host, api_key),
        product_id=product_id,
    )


def debug(plan: PlannedDestination, out: IO[str] | None = None) -> Destination:
    """What OTEL_AXOLOTL_DEBUG prints instead of sending: the same level, the same signals."""
    label = f"debug {plan.name}"
    printed = only(json_lines(label, out or sys.stderr, plan.level, label=label), plan.signals)
    printed.product_analytics = plan.product_analytics
    return printed


PROMETHEUS_EXTRA = "otel-axolotl[prometheus]"


def prometheus(settings: _s.Settings, level: Level) -> Destination | None:
    """Metrics served for scraping at OTEL_EXPORTER_PROMETHEUS_HOST:PORT (default 127.0.0.1:9464),
    scrubbed at ``level`` before the exporter's collector sees them (``prometheus.py``).

    Local rank N of a multi-process run listens on the port + N: ranks on one node would
    otherwise fight over one port (port 0 picks a free one for every rank). Missing extra, a
    port in use: one message naming the cause, no endpoint, training goes on."""
    try:
        from .prometheus import Endpoint
    except ImportError as exc:
        _s.warn_once(
            "prometheus:extra",
            "otel-axolotl: %s=prometheus needs the extra %s (pip install '%s'; missing: %s); "
            "no Prometheus endpoint.",
            _s.OTEL_METRICS_EXPORTER,
            PROMETHEUS_EXTRA,
            PROMETHEUS_EXTRA,
            exc.name or exc,
        )
        return None
    port = settings.prometheus_port
    if port and settings.rank.local_rank:
        port += settings.rank.local_rank
    try:
        endpoint = Endpoint(settings.prometheus_host, port)
    except (OSError, ValueError) as exc:
        _s.warn_once(
            "prometheus:listen",
            "otel-axolotl: the Prometheus endpoint cannot listen on %s:%s (%s, %s); no endpoint.",
            settings.prometheus_host,
            port,
            f"{_s.OTEL_EXPORTER_PROMETHEUS_HOST}/{_s.OTEL_EXPORTER_PROMETHEUS_PORT}",
            exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__,
        )
        return None
    return Destination("prometheus", level, metric_reader=endpoint.reader)


def build(plan: Plan, *, debug_mode: bool = False, extra: Sequence[Destination] = ()) -> list[Destination]:
    """The planned destinations, built, and ``extra`` added. In debug mode each prints what it
    would send instead. A destination whose exporter cannot be built is left out, said once:
    it must not stop training or the others."""
    if debug_mode:
        return [debug(p) for p in plan.destinations] + list(extra)
    built = []
    for planned in plan.destinations:
        try:
            destination = planned.build()
        except Exception as exc:
            # The type only: an exporter's message may quote a variable's value (a header).
            _s.warn_once(
                f"build:{planned.name}",
                "otel-axolotl: the %s destination is off: its exporter could not be built (%s; "
                "check the OTEL_EXPORTER_* variables).",
                planned.name,
                type(exc).__name__,
            )
            _logger.debug("otel-axolotl: building %s failed", planned.name, exc_info=True)
            continue
        if destination is not None:
            built.append(destination)
    if any(d.product_analytics for d in built):
        from ._logging import quiet_repeats

        # The posthog package's own logger (its request module): one line per kind, not
        # one per failed batch with a dead host.
        quiet_repeats((POSTHOG_LOGGER,), first=True)
    return built + list(extra)
