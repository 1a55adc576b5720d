"""The privacy stage: every destination is fed only from here.

A ``Scrubber`` applies one privacy level to OpenTelemetry data and always returns NEW
objects: in the Python SDK a finished span is frozen (attributes are read-only since 1.43 and
changes in ``_on_ending`` are dropped), so scrubbing means building a new ``ReadableSpan``.
The processors wrap a destination's own processor (or exporter, for metrics) and hand it the
scrubbed copy; the original never reaches a destination.

Strict level (PostHog always, OTLP by default) is fail-closed: an attribute key that the
semconv registry does not list is dropped. Secrets-only (``OTEL_AXOLOTL_PRIVACY``) keeps
unregistered keys, paths and model names, and still removes every secret.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk._logs import LogRecordProcessor, ReadWriteLogRecord
from opentelemetry.sdk.metrics.export import (
    Metric,
    MetricExporter,
    MetricExportResult,
    MetricsData,
    ResourceMetrics,
    ScopeMetrics,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import Link, Status

from .. import semconv as sc
from .._metric_wrapper import WrappingMetricExporter
from .stacktrace import sanitize_stack_trace
from .tree import scrub_tree
from .values import REDACTED, Level, RedactionCounter, scrub_text
from .whitelist import Whitelist

_logger = logging.getLogger("otel_axolotl")

_PRIMITIVES = (bool, int, float)
_CACHED_TEXT_LEN = 128
_UNKNOWN = object()


class _Count:
    """A per-item redaction count: one item is scrubbed on one thread, so no lock is needed."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0

    def add(self, n: int = 1) -> None:
        self.count += n


@functools.lru_cache(maxsize=8192)
def _scrub_short(text: str, level: Level) -> tuple[str, int]:
    """Attribute values repeat (names, enums, model ids): scrub each distinct one once."""
    counter = _Count()
    return scrub_text(text, level, counter), counter.count  # type: ignore[arg-type]


def _secrets_only(value: Any, counter: RedactionCounter) -> Any:
    """A user-configured resource value: only secrets removed (strings, and strings in lists)."""
    if isinstance(value, str):
        return scrub_text(value, Level.SECRETS_ONLY, counter)
    if isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
        return [_secrets_only(item, counter) for item in value]
    return value


class Scrubber:
    """One privacy level's rules, applied to attributes, text, resources, spans and records."""

    def __init__(
        self,
        level: Level,
        whitelist: Whitelist,
        *,
        user_resource_keys: frozenset[str] = frozenset(),
        product: bool = False,
    ) -> None:
        self.user_resource_keys = user_resource_keys
        """Resource keys the user configured for their own backend (OTEL_RESOURCE_ATTRIBUTES,
        OTEL_SERVICE_NAME): kept with secrets-only rules at any level, dropped for ``product``."""
        self.product = product
        self.level = Level(level)
        self.whitelist = whitelist
        self._strict = self.level is Level.STRICT
        self._resources: dict[int, tuple[Resource, Resource]] = {}
        self._privacy: dict[str, str | None] = {}  # key -> privacy class, bounded

    # -- values ---------------------------------------------------------------------------
    def text(self, value: str, counter: RedactionCounter) -> str:
        if len(value) <= _CACHED_TEXT_LEN:
            clean, redactions = _scrub_short(value, self.level)
            if redactions:
                counter.add(redactions)
            return clean
        return scrub_text(value, self.level, counter)

    def _leaf(self, key: str, value: Any, counter: RedactionCounter) -> Any:
        if value.__class__ in _PRIMITIVES or value is None:
            return value
        if isinstance(value, str):
            return self.text(value, counter)
        if isinstance(value, _PRIMITIVES):
            return value
        if isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
            return [self._leaf(key, item, counter) for item in value]
        counter.add()
        return REDACTED

    def _open(self, key: str, value: Any, counter: RedactionCounter) -> Any:
        """Free-form content under an open namespace: key and value rules, as for a config."""
        if key == sc.ATTR_EXCEPTION_STACKTRACE and isinstance(value, str):
            return sanitize_stack_trace(value, self.level, counter)
        # The full dotted key gives the key rules their context (``axolotl.config.datasets.0.path``).
        return scrub_tree(value, level=self.level, whitelist=self.whitelist, counter=counter, _key=key)

    def attributes(self, attributes: Mapping[str, Any] | None, counter: RedactionCounter) -> dict[str, Any]:
        """Scrub a span/event/record attribute map; unregistered keys fail closed at strict."""
        result: dict[str, Any] = {}
        if not attributes:
            return result
        strict = self._strict
        copy = getattr(attributes, "copy", None)  # SDK attribute maps copy at C speed, unlocked
        items = copy().items() if copy is not None else attributes.items()
        privacy_of = self._privacy
        for key, value in items:
            privacy = privacy_of.get(key, _UNKNOWN)
            if privacy is _UNKNOWN:
                privacy = sc.attribute_privacy(key)
                if len(privacy_of) < 4096:  # bounded: keys are few unless a caller invents them
                    privacy_of[key] = privacy
            if privacy == "never" or (privacy is None and strict):
                counter.add()
                continue
            if privacy is None:  # secrets-only: keep the key, but a key can hide a secret too
                clean_key = scrub_text(key, self.level, counter)
                result[clean_key] = self._open(key, value, counter)
            elif privacy == "public":  # the common case, inlined: numbers pass as they are
                result[key] = value if value.__class__ in _PRIMITIVES else self._leaf(key, value, counter)
            elif privacy == "whitelisted-name":
                result[key] = (
                    self.whitelist.filter_name(value, self.level, counter)
                    if isinstance(value, str)
                    else self._leaf(key, value, counter)
                )
            elif privacy == "redacted":
                if strict:
                    counter.add()
                    result[key] = REDACTED
                else:
                    result[key] = self._leaf(key, value, counter)
            else:  # open namespace
                namespaced = key.startswith(sc.OPEN_NAMESPACES) and key not in sc.ATTRIBUTES
                clean_key = scrub_text(key, self.level, counter) if namespaced else key
                result[clean_key] = self._open(key, value, counter)
        return result

    def body(self, body: Any, counter: RedactionCounter) -> Any:
        """An event body is the open namespace of its event (config, send_event properties)."""
        if body is None or isinstance(body, _PRIMITIVES):
            return body
        return scrub_tree(body, level=self.level, whitelist=self.whitelist, counter=counter)

    def resource(self, resource: Resource) -> Resource:
        """Scrubbed once per resource object: resources are shared by every item of a provider."""
        cached = self._resources.get(id(resource))
        if cached is not None and cached[0] is resource:
            return cached[1]
        counter = RedactionCounter()
        configured = self.user_resource_keys
        attributes = {k: v for k, v in resource.attributes.items() if k not in configured}
        clean_attributes = self.attributes(attributes, counter)
        if not self.product:
            for key in configured & set(resource.attributes):
                if sc.attribute_privacy(key) != "never":  # host.name stays home even when set
                    clean_attributes[scrub_text(key, Level.SECRETS_ONLY, counter)] = _secrets_only(
                        resource.attributes[key], counter
                    )
        clean = Resource(clean_attributes, resource.schema_url)
        self._resources[id(resource)] = (resource, clean)
        return clean

    # -- spans ----------------------------------------------------------------------------
    def span(self, span: ReadableSpan) -> ReadableSpan:
        counter: Any = _Count()
        name = span.name if sc.is_registered_span(span.name) else self.text(span.name, counter)
        attributes = self.attributes(span.attributes, counter)
        events = (
            [
                Event(
                    name=e.name if sc.is_registered_event(e.name) else self.text(e.name, counter),
                    attributes=self.attributes(e.attributes, counter),
                    timestamp=e.timestamp,
                )
                for e in span.events
            ]
            if span.events
            else ()
        )
        links = (
            [Link(link.context, self.attributes(link.attributes, counter)) for link in span.links]
            if span.links
            else ()
        )
        status = span.status
        if status.description:
            status = Status(status.status_code, self.text(status.description, counter))
        attributes[sc.ATTR_PRIVACY_REDACTIONS] = counter.count
        return ReadableSpan(
            name=name,
            context=span.context,
            parent=span.parent,
            resource=self.resource(span.resource),
            attributes=attributes,
            events=events,
            links=links,
            kind=span.kind,
            status=status,
            start_time=span.start_time,
            end_time=span.end_time,
            instrumentation_scope=span.instrumentation_scope,
        )

    # -- events (log records) ---------------------------------------------------------------
    def log_record(self, record: ReadWriteLogRecord) -> ReadWriteLogRecord:
        from opentelemetry._logs import LogRecord

        original = record.log_record
        counter: Any = _Count()
        event_name = original.event_name
        if event_name and not sc.is_registered_event(event_name):
            event_name = self.text(event_name, counter)
        attributes = self.attributes(original.attributes, counter)
        body = self.body(original.body, counter)
        attributes[sc.ATTR_PRIVACY_REDACTIONS] = counter.count
        # context (SDK >= 1.40) and trace_id/span_id/trace_flags (1.39) both: one call for both.
        clean = LogRecord(  # type: ignore[call-overload]
            timestamp=original.timestamp,
            observed_timestamp=original.observed_timestamp,
            context=original.context,
            trace_id=original.trace_id,
            span_id=original.span_id,
            trace_flags=original.trace_flags,
            severity_text=original.severity_text,
            severity_number=original.severity_number,
            body=body,
            attributes=attributes,
            event_name=event_name,
        )
        resource = self.resource(record.resource) if record.resource is not None else None
        return ReadWriteLogRecord(
            clean, resource=resource, instrumentation_scope=record.instrumentation_scope
        )

    # -- metrics --------------------------------------------------------------------------
    def metrics(self, data: MetricsData) -> MetricsData:
        counter: Any = _Count()

        def points(metric: Metric) -> Metric:
            d = metric.data
            new_points = [
                replace(p, attributes=self.attributes(p.attributes, counter)) for p in d.data_points
            ]
            return replace(metric, data=replace(d, data_points=new_points))  # type: ignore[arg-type]

        return MetricsData(
            resource_metrics=[
                ResourceMetrics(
                    resource=self.resource(rm.resource),
                    scope_metrics=[
                        ScopeMetrics(sm.scope, [points(m) for m in sm.metrics], sm.schema_url)
                        for sm in rm.scope_metrics
                    ],
                    schema_url=rm.schema_url,
                )
                for rm in data.resource_metrics
            ]
        )


class PrivacySpanProcessor(SpanProcessor):
    """Hands the destination's processor a scrubbed copy of every finished span."""

    def __init__(self, scrubber: Scrubber, delegate: SpanProcessor) -> None:
        self._scrubber = scrubber
        self._delegate = delegate

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        # Deliberately not forwarded: a destination never sees an unscrubbed live span.
        return None

    def on_end(self, span: ReadableSpan) -> None:
        try:
            clean = self._scrubber.span(span)
        except Exception:  # fail closed: a span we cannot scrub is not exported at all
            _logger.debug("otel-axolotl: dropping a span the privacy stage could not scrub", exc_info=True)
            return
        self._delegate.on_end(clean)

    def shutdown(self) -> None:
        self._delegate.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._delegate.force_flush(timeout_millis)


class PrivacyLogRecordProcessor(LogRecordProcessor):
    """Hands the destination's processor a scrubbed copy of every event."""

    def __init__(self, scrubber: Scrubber, delegate: LogRecordProcessor) -> None:
        self._scrubber = scrubber
        self._delegate = delegate

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        try:
            clean = self._scrubber.log_record(log_record)
        except Exception:
            _logger.debug("otel-axolotl: dropping an event the privacy stage could not scrub", exc_info=True)
            return
        self._delegate.on_emit(clean)

    def shutdown(self) -> None:
        self._delegate.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._delegate.force_flush(timeout_millis)


class PrivacyMetricExporter(WrappingMetricExporter):
    """Scrubs data point attributes and the resource before the wrapped exporter sees them.

    Attribute keys are already limited by a View at the provider; this is the value half.
    """

    def __init__(self, scrubber: Scrubber, delegate: MetricExporter) -> None:
        super().__init__(delegate)
        self._scrubber = scrubber

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        try:
            clean = self._scrubber.metrics(metrics_data)
        except Exception:
            _logger.debug("otel-axolotl: dropping metrics the privacy stage could not scrub", exc_info=True)
            return MetricExportResult.FAILURE
        return self.delegate.export(clean, timeout_millis=timeout_millis, **kwargs)
