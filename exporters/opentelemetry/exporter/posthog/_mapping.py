"""Pure functions from OpenTelemetry data to PostHog events.

Kept free of I/O and of the ``posthog`` package so that every rule below can be unit-tested
with plain SDK objects, and so that the rules read in one place:

* one finished span, or one log record that has an ``event_name``, becomes one event;
* ``distinct_id`` is the resource's ``posthog.distinct_id`` when it has one (data recorded
  under another id and sent later keeps it), else the exporter's (given, or random per
  exporter), never derived from the telemetry: a trace id is an id the user's own tracing
  backend holds, and product analytics must not be linkable to it;
* the event ``uuid`` is derived from the telemetry's identity, so a retried export is
  deduplicated by PostHog instead of counted twice;
* properties are a dict body spread at top level (Axolotl's dashboards expect config keys
  there), then the attributes, then the fields this module computes; later ones win. The
  resource attributes and the trace context (``$trace_id``, ``$span_id``) are added only when
  the exporter is asked to: by default an event says what happened, not where it ran;
* every value is made JSON-serializable, and an event over PostHog's per-event limit is
  trimmed and marked, never dropped silently.
"""

from __future__ import annotations

import json
import math
import uuid as _uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan

# posthog.consumer.MAX_MSG_SIZE: PostHog's own client drops any single event whose JSON is
# larger, and so does our request layer. Copied (and checked by a test) so that mapping never
# imports posthog.
POSTHOG_MAX_EVENT_BYTES = 900 * 1024
# Room for the envelope around the properties (event name, uuid, timestamp, distinct_id, $lib).
_ENVELOPE_BYTES = 8 * 1024
MAX_PROPERTIES_BYTES = POSTHOG_MAX_EVENT_BYTES - _ENVELOPE_BYTES

TRIMMED_PROPERTY = "$otel_trimmed"
DROPPED_PROPERTIES_PROPERTY = "$otel_dropped_properties"
# Computed here and always small: never truncated, kept when everything else must go.
_COMPUTED = ("$trace_id", "$span_id", "$parent_span_id", "$geoip_disable", "$process_person_profile")
_RESERVED = frozenset((*_COMPUTED, TRIMMED_PROPERTY, DROPPED_PROPERTIES_PROPERTY))
_TRIM_MARKER = "...[trimmed]"
_MAX_TRIM_ROUNDS = 32
_MAX_DEPTH = 16

# Fixed namespace: the same telemetry always yields the same event uuid, in any process.
_UUID_NAMESPACE = _uuid.uuid5(_uuid.NAMESPACE_URL, "https://opentelemetry.io/exporter/posthog")


@dataclass(frozen=True)
class MappingOptions:
    """What every event of one exporter gets: its ``distinct_id``, and the opt-in extras."""

    distinct_id: str
    resource_attributes: bool = False
    trace_context: bool = False


@dataclass(frozen=True)
class PostHogEvent:
    """One PostHog event, before the request layer adds ``$lib`` and ``$lib_version``."""

    event: str
    distinct_id: str
    uuid: str
    timestamp: datetime
    properties: dict[str, Any] = field(default_factory=dict)


def json_value(value: Any, _depth: int = 0) -> Any:
    """Return ``value`` as something ``json.dumps`` accepts and PostHog stores faithfully.

    Tuples and other sequences become lists, bytes become hex, mappings get string keys,
    non-finite floats and unknown objects become their ``str``. Never raises.
    """
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if _depth >= _MAX_DEPTH:
        return _safe_str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, Mapping):
        return {str(k): json_value(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, (Sequence, set, frozenset)):
        return [json_value(v, _depth + 1) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return _safe_str(value)


def _safe_str(value: Any) -> str:
    try:
        return str(value)
    except Exception:
        return f"<unprintable {type(value).__name__}>"


def json_size(value: Any) -> int:
    """Bytes of ``value`` as compact JSON, as it travels."""
    return len(json.dumps(value, separators=(",", ":")).encode("utf-8"))


def fit_properties(properties: dict[str, Any], limit: int = MAX_PROPERTIES_BYTES) -> dict[str, Any]:
    """Return ``properties`` small enough for PostHog, truncating the largest values first.

    The client would otherwise drop the whole event with nothing but a log line. A trimmed
    event carries ``$otel_trimmed: true`` (and ``$otel_dropped_properties: n`` in the rare
    case where truncating values was not enough). ``properties`` must already be JSON-safe.
    """
    if json_size(properties) <= limit:
        return properties
    props = {**properties, TRIMMED_PROPERTY: True}
    size = json_size(props)
    # Serialized size of each value that may be cut; the total is kept up to date from
    # these (JSON sizes add up per value), so that one pass costs one serialization.
    sizes = {k: json_size(v) for k, v in props.items() if k not in _RESERVED}
    for _ in range(_MAX_TRIM_ROUNDS):
        if size <= limit or not sizes:
            break
        key = max(sizes, key=sizes.__getitem__)
        if sizes[key] <= len(_TRIM_MARKER) + 2:
            break  # only small values left: cutting them cannot help
        value = props[key]
        text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
        # Each character removed saves at least one byte of JSON.
        keep = len(text) - (size - limit) - len(_TRIM_MARKER) - 2
        props[key] = text[:keep] + _TRIM_MARKER if keep > 0 else _TRIM_MARKER
        new_size = json_size(props[key])
        size += new_size - sizes[key]
        sizes[key] = new_size
    if json_size(props) > limit:
        # Too many properties rather than too large ones: keep only the computed fields,
        # and say how many were dropped.
        kept = {k: v for k, v in props.items() if k in _RESERVED}
        return {**kept, DROPPED_PROPERTIES_PROPERTY: len(props) - len(kept), TRIMMED_PROPERTY: True}
    return props


def _hex_id(value: int | None, digits: int) -> str | None:
    return f"{value:0{digits}x}" if value else None


def event_uuid(*parts: object) -> str:
    """A uuid5 of ``parts``: stable across retries and processes, so PostHog deduplicates. The
    parts include the event's ``distinct_id``, a random id only PostHog sees: whoever holds the
    trace and span ids (the user's own tracing backend) cannot recompute the uuid and so cannot
    link PostHog's events to the traces."""
    return str(_uuid.uuid5(_UUID_NAMESPACE, "\x1f".join(str(p) for p in parts)))


def datetime_from_ns(ns: int | None) -> datetime:
    """Nanoseconds since the epoch as an aware UTC datetime (microsecond precision)."""
    if not ns:
        return datetime.now(timezone.utc)
    seconds, rest = divmod(int(ns), 1_000_000_000)
    return datetime.fromtimestamp(seconds, tz=timezone.utc) + timedelta(microseconds=rest // 1000)


DISTINCT_ID_ATTRIBUTE = "posthog.distinct_id"
"""A resource attribute that, when present, is the ``distinct_id`` of that resource's events
(over the exporter's own): so data kept and sent later (a spool replayed by another process)
arrives under the id it was recorded with, never under the sender's. Never a property."""


def _trace_context(options: MappingOptions, **ids: str | None) -> dict[str, str]:
    """``$trace_id``, ``$span_id``, ... when the exporter is asked for them (opt-in)."""
    return {f"${name}": value for name, value in ids.items() if value} if options.trace_context else {}


def _event(
    name: str,
    identity: tuple[object, ...],
    timestamp_ns: int | None,
    resource: Resource | None,
    options: MappingOptions,
    *layers: Mapping[str, Any],
) -> PostHogEvent:
    """The one way every event is built. ``identity`` (the telemetry's kind and ids) makes the
    uuid; the properties are the resource attributes (opt-in; the pipeline in front of the
    exporter has already scrubbed them), then ``layers`` in order, JSON-safe; later keys win."""
    attributes = resource.attributes if resource is not None else {}
    recorded_id = attributes.get(DISTINCT_ID_ATTRIBUTE)
    distinct_id = recorded_id if isinstance(recorded_id, str) and recorded_id else options.distinct_id
    if options.resource_attributes:
        layers = ({k: v for k, v in attributes.items() if k != DISTINCT_ID_ATTRIBUTE}, *layers)
    properties: dict[str, Any] = {}
    for layer in layers:
        properties.update({str(k): json_value(v) for k, v in layer.items()})
    # Anonymous runs: no GeoIP lookup, no person profile.
    properties["$geoip_disable"] = True
    properties["$process_person_profile"] = False
    uuid = event_uuid(identity[0], distinct_id, *identity[1:])
    return PostHogEvent(name, distinct_id, uuid, datetime_from_ns(timestamp_ns), fit_properties(properties))


def span_to_event(span: ReadableSpan, options: MappingOptions) -> PostHogEvent | None:
    """One finished span → one event named after the span (None if the span has no context)."""
    context = span.context
    if context is None or not span.name:
        return None
    trace_id, span_id = _hex_id(context.trace_id, 32), _hex_id(context.span_id, 16)
    parent_id = _hex_id(span.parent.span_id, 16) if span.parent is not None else None
    computed: dict[str, Any] = _trace_context(
        options, trace_id=trace_id, span_id=span_id, parent_span_id=parent_id
    )
    if span.start_time is not None and span.end_time is not None:
        computed["duration_ms"] = (span.end_time - span.start_time) / 1e6
    computed["status"] = span.status.status_code.name.lower()
    if span.status.description:
        computed["status_message"] = span.status.description
    identity = ("span", trace_id, span_id)
    timestamp_ns = span.end_time or span.start_time
    return _event(span.name, identity, timestamp_ns, span.resource, options, span.attributes or {}, computed)


def log_to_event(record: Any, options: MappingOptions) -> PostHogEvent | None:
    """One log record with an ``event_name`` → one event of that name; others → None.

    ``record`` is an SDK ``ReadableLogRecord`` (typed loosely: its module moved between
    SDK releases).
    """
    log = record.log_record
    name = getattr(log, "event_name", None)
    if not name:
        return None
    body = log.body if isinstance(log.body, Mapping) else {} if log.body is None else {"body": log.body}
    trace_id, span_id = _hex_id(log.trace_id, 32), _hex_id(log.span_id, 16)
    timestamp_ns = log.timestamp or log.observed_timestamp
    identity = ("log", trace_id, span_id, timestamp_ns, name)
    context = _trace_context(options, trace_id=trace_id, span_id=span_id)
    resource = getattr(record, "resource", None)
    return _event(str(name), identity, timestamp_ns, resource, options, body, log.attributes or {}, context)


def resource_metrics_to_event(
    resource_metrics: Any, event_name: str, options: MappingOptions
) -> PostHogEvent | None:
    """The metrics of one resource (one export of a MeterProvider) → one event of their latest
    values (None if none has one): gauges and sums give their value; histograms give
    ``.count``, ``.sum``, ``.min`` and ``.max``; several data points are keyed ``name{k=v,...}``."""
    values: dict[str, Any] = {}
    newest = 0
    for metric in (m for scope in resource_metrics.scope_metrics for m in scope.metrics):
        points = list(getattr(metric.data, "data_points", ()) or ())
        for point in points:
            newest = max(newest, getattr(point, "time_unix_nano", 0) or 0)
            key = metric.name
            if len(points) > 1:
                key += "{" + ",".join(f"{k}={v}" for k, v in sorted((point.attributes or {}).items())) + "}"
            if hasattr(point, "value"):
                values[key] = point.value
            elif hasattr(point, "count"):
                values.update(
                    {f"{key}.{part}": getattr(point, part) for part in ("count", "sum", "min", "max")}
                )
    if not values:
        return None
    return _event(
        event_name, ("metrics", event_name, newest), newest, resource_metrics.resource, options, values
    )


def metrics_to_events(metrics_data: Any, event_name: str, options: MappingOptions) -> list[PostHogEvent]:
    """One event per resource in ``metrics_data`` that has a value."""
    events = (resource_metrics_to_event(rm, event_name, options) for rm in metrics_data.resource_metrics)
    return [event for event in events if event is not None]
