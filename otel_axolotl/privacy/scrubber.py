"""The Scrubber: one privacy level applied to OpenTelemetry data, always into NEW objects.

Why new objects: in the Python SDK a finished span is frozen (attributes are read-only since
1.43 and changes in ``_on_ending`` are dropped), so scrubbing means building a new
``ReadableSpan``, log record or metrics batch; the original never reaches a destination.

Strict level (PostHog always, OTLP by default) is fail-closed twice: an attribute key that
the semconv registry does not list is dropped, and a string value passes only when its kind
or the vocabulary vouches for it (``strict.py``). Secrets-only (``OTEL_AXOLOTL_PRIVACY``)
keeps unregistered keys, paths and model names, and still removes every secret. Names,
descriptions, units, scopes and resources pass the same stage (``channels.py``); a scrubber
for product analytics also keeps only the SDK's own resource facts. The processors that feed
destinations from here are in ``stage.py``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from opentelemetry.sdk._logs import ReadWriteLogRecord
from opentelemetry.sdk.metrics.export import Metric, MetricsData, ResourceMetrics, ScopeMetrics
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.trace import Link, Status

from .. import semconv as sc
from . import channels
from .detector import load as load_detector
from .markers import Tally, marker
from .stacktrace import sanitize_stack_trace
from .strict import strict_key
from .tree import scrub_tree
from .values import Level, RedactionCounter, scrub_text
from .vocabulary import vocabulary
from .whitelist import Whitelist

__all__ = ["Scrubber"]

_PRIMITIVES = (bool, int, float)
_UNKNOWN = object()
_INT64 = (-(2**63), 2**63 - 1)
_CACHED_VALUE = 128
_MAX_CACHED = 8192


class Scrubber:
    """One privacy level's rules, applied to attributes, text, resources, spans and records."""

    def __init__(
        self,
        level: Level,
        whitelist: Whitelist,
        *,
        product_analytics: bool = False,
        product_id: str | None = None,
        user_resource_keys: frozenset[str] = frozenset(),
    ) -> None:
        self.user_resource_keys = user_resource_keys
        """Resource keys the user configured for their own backend (OTEL_RESOURCE_ATTRIBUTES,
        OTEL_SERVICE_NAME): kept with secrets-only rules at any level, never for product analytics."""
        self.level = Level(level)
        self.whitelist = whitelist
        self._strict = self.level is Level.STRICT
        self.product_analytics = product_analytics
        """Product analytics (PostHog): strict, and only the SDK's own resource facts."""
        if product_analytics:
            self.level, self._strict = Level.STRICT, True
        self.product_id = product_id if product_analytics else None
        """The run's random product id, stamped on the product resource (``posthog.distinct_id``)
        so what is spooled for PostHog is sent later under this run's id, never another's."""
        self._resources: dict[int, tuple[Resource, Resource]] = {}
        self._privacy: dict[str, str | None] = {}  # key -> privacy class, bounded
        if product_analytics:  # the run id is the trace id of the user's own backends: never here
            self._privacy[sc.ATTR_RUN_ID] = "never"
        self._values: dict[tuple[str, str], tuple[str, int]] = {}  # (key, value) -> judged, bounded
        self._scopes: dict[int, tuple[Any, Any]] = {}  # id(scope) -> (scope, scrubbed), bounded
        # Rules, vocabulary and schemas load now (a destination is being built), not at the
        # first event on the training thread.
        load_detector()
        vocabulary()

    # -- values ---------------------------------------------------------------------------
    def text(self, value: str, counter: RedactionCounter) -> str:
        """Free text at this scrubber's level (cached for short values)."""
        return channels.text(value, self._strict, self.whitelist, counter)

    def _leaf(self, key: str, value: Any, counter: RedactionCounter) -> Any:
        cls = value.__class__
        if cls is int:
            return value if _INT64[0] <= value <= _INT64[1] else self._marker("number", counter)
        if cls in _PRIMITIVES or value is None:
            return value
        if isinstance(value, str):
            return channels.value(key, value, self._strict, self.whitelist, counter)
        if isinstance(value, _PRIMITIVES):
            return value
        if isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
            return scrub_tree(
                list(value), level=self.level, whitelist=self.whitelist, counter=counter, _key=key
            )
        return self._marker("value", counter)

    @staticmethod
    def _marker(reason: str, counter: RedactionCounter) -> str:
        counter.add()
        return marker(reason)

    def _open(self, key: str, value: Any, counter: RedactionCounter) -> Any:
        """Free-form content under an open namespace: key and value rules, as for a config."""
        if key == sc.ATTR_EXCEPTION_STACKTRACE and isinstance(value, str):
            return sanitize_stack_trace(value, self.level, counter)
        # The full dotted key gives the key rules their context (``axolotl.config.datasets.0.path``).
        return scrub_tree(value, level=self.level, whitelist=self.whitelist, counter=counter, _key=key)

    def _open_key(self, key: str, counter: RedactionCounter) -> str:
        """``axolotl.config.<k>``: at strict each segment after the namespace must be a known
        key or vocabulary word (``strict_key``); list indexes pass."""
        if not self._strict:
            return scrub_text(key, self.level, counter)
        namespace = next(ns for ns in sc.OPEN_NAMESPACES if key.startswith(ns))
        segments = key[len(namespace) :].split(".")
        return namespace + ".".join(seg if seg.isdigit() else strict_key(seg, counter) for seg in segments)

    def attributes(self, attributes: Mapping[str, Any] | None, counter: RedactionCounter) -> dict[str, Any]:
        """Scrub a span/event/record attribute map; unregistered keys fail closed at strict."""
        result: dict[str, Any] = {}
        if not attributes:
            return result
        strict = self._strict
        copy = getattr(attributes, "copy", None)  # SDK attribute maps copy at C speed, unlocked
        items = copy().items() if copy is not None else attributes.items()
        privacy_of = self._privacy
        values = self._values
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
                cls = value.__class__
                if cls is float or cls is bool or (cls is int and _INT64[0] <= value <= _INT64[1]):
                    result[key] = value
                elif cls is str and len(value) <= _CACHED_VALUE:
                    hit = values.get((key, value))
                    if hit is None:
                        tally = Tally()
                        hit = (channels.value(key, value, strict, self.whitelist, tally), tally.count)
                        if len(values) < _MAX_CACHED:
                            values[key, value] = hit
                    if hit[1]:
                        counter.add(hit[1])
                    result[key] = hit[0]
                else:
                    result[key] = self._leaf(key, value, counter)
            elif privacy == "whitelisted-name":
                result[key] = (
                    self.whitelist.filter_name(value, self.level, counter)
                    if isinstance(value, str)
                    else self._leaf(key, value, counter)
                )
            elif privacy == "redacted":
                if strict:
                    result[key] = self._marker("text", counter)
                else:
                    result[key] = self._leaf(key, value, counter)
            else:  # open namespace
                namespaced = key.startswith(sc.OPEN_NAMESPACES) and key not in sc.ATTRIBUTES
                clean_key = self._open_key(key, counter) if namespaced else key
                result[clean_key] = self._open(key, value, counter)
        return result

    def body(self, body: Any, counter: RedactionCounter) -> Any:
        """An event body is the open namespace of its event (config, send_event properties)."""
        if body is None or isinstance(body, _PRIMITIVES):
            return body
        return scrub_tree(body, level=self.level, whitelist=self.whitelist, counter=counter)

    def resource(self, resource: Resource) -> Resource:
        """Scrubbed once per resource object: resources are shared by every item of a provider.
        For product analytics only ``channels.PRODUCT_RESOURCE_KEYS`` pass, each judged strictly."""
        cached = self._resources.get(id(resource))
        if cached is not None and cached[0] is resource:
            return cached[1]
        counter = RedactionCounter()
        configured = self.user_resource_keys
        if self.product_analytics:  # the SDK's own facts only, never what the user configured
            kept = {
                k: v
                for k, v in resource.attributes.items()
                if k in channels.PRODUCT_RESOURCE_KEYS and k not in configured
            }
            scrubbed = self.attributes(kept, counter)
            if self.product_id:  # ours (uuid4 hex): set after scrubbing, never a user value
                scrubbed = {**scrubbed, channels.PRODUCT_ID_ATTRIBUTE: self.product_id}
        else:
            attributes = {k: v for k, v in resource.attributes.items() if k not in configured}
            scrubbed = self.attributes(attributes, counter)
            for key in configured & set(resource.attributes):
                if sc.attribute_privacy(key) != "never":  # host.name stays home even when set
                    scrubbed[scrub_text(key, Level.SECRETS_ONLY, counter)] = channels.user_resource_value(
                        resource.attributes[key], counter
                    )
        clean = Resource(scrubbed, resource.schema_url)
        self._resources[id(resource)] = (resource, clean)
        return clean

    # -- spans ----------------------------------------------------------------------------
    def span(self, span: ReadableSpan) -> ReadableSpan:
        counter: Any = Tally()
        strict, whitelist = self._strict, self.whitelist
        name = channels.span_name(span.name, strict, whitelist, counter)
        attributes = self.attributes(span.attributes, counter)
        events = (
            [
                Event(
                    name=channels.event_name(e.name, strict, whitelist, counter),
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
            instrumentation_scope=self.scope(span.instrumentation_scope),
        )

    def scope(self, scope: Any) -> Any:
        """The tracer's, logger's or meter's name and version, at this level."""
        if scope is None:
            return None
        cached = self._scopes.get(id(scope))
        if cached is not None and cached[0] is scope:
            return cached[1]
        clean = scope
        name = channels.scope_name(scope.name, self._strict)
        if name != scope.name:
            from opentelemetry.sdk.util.instrumentation import InstrumentationScope

            clean = InstrumentationScope(name, None, scope.schema_url)
        if len(self._scopes) < 256:
            self._scopes[id(scope)] = (scope, clean)
        return clean

    # -- events (log records) ---------------------------------------------------------------
    def log_record(self, record: ReadWriteLogRecord) -> ReadWriteLogRecord:
        from opentelemetry._logs import LogRecord

        original = record.log_record
        counter: Any = Tally()
        event_name = original.event_name
        if event_name:
            event_name = channels.event_name(event_name, self._strict, self.whitelist, counter)
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
            clean, resource=resource, instrumentation_scope=self.scope(record.instrumentation_scope)
        )

    # -- metrics --------------------------------------------------------------------------
    def metrics(self, data: MetricsData) -> MetricsData:
        counter: Any = Tally()
        strict, whitelist = self._strict, self.whitelist

        def clean(metric: Metric) -> Metric | None:
            name = channels.metric_name(metric.name, strict, whitelist, counter)
            if name is None:
                return None  # strict: a metric nobody registered does not leave
            d = metric.data
            new_points = [
                replace(p, attributes=self.attributes(p.attributes, counter)) for p in d.data_points
            ]
            return replace(
                metric,
                name=name,
                description=channels.metric_description(metric.description or "", strict, whitelist, counter),
                unit=channels.metric_unit(metric.unit or "", strict, whitelist, counter),
                data=replace(d, data_points=new_points),  # type: ignore[arg-type]
            )

        def kept(metrics: Sequence[Metric]) -> list[Metric]:
            return [m for m in (clean(metric) for metric in metrics) if m is not None]

        return MetricsData(
            resource_metrics=[
                ResourceMetrics(
                    resource=self.resource(rm.resource),
                    scope_metrics=[
                        ScopeMetrics(self.scope(sm.scope), kept(sm.metrics), sm.schema_url)
                        for sm in rm.scope_metrics
                    ],
                    schema_url=rm.schema_url,
                )
                for rm in data.resource_metrics
            ]
        )
