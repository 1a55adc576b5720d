"""Pure functions from OpenTelemetry data to PostHog events.

Kept free of I/O and of the ``posthog`` package so that every rule below can be unit-tested
with plain SDK objects, and so that the rules read in one place:

* one finished span, or one log record that has an ``event_name``, becomes one event;
* ``distinct_id`` is the resource's ``posthog.distinct_id`` when it has one (data recorded
  under another id and sent later keeps it), else the exporter's (given, or random per
  exporter), never derived from the
  telemetry: a trace id is an id the user's own tracing backend holds, and product analytics
  must not be linkable to it;
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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

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
_RESERVED = frozenset(
    {
        "$trace_id",
        "$span_id",
        "$parent_span_id",
        "$geoip_disable",
        "$process_person_profile",
        TRIMMED_PROPERTY,
        DROPPED_PROPERTIES_PROPERTY,
    }
)
_TRIM_MARKER = "...[trimmed]"
_MAX_TRIM_ROUNDS = 32
_MAX_DEPTH = 16

# Fixed namespace: the same telemetry always yields the same event uuid, in any process.
_UUID_NAMESPACE = _uuid.uuid5(_uuid.NAMESPACE_URL, "https://opentelemetry.io/exporter/posthog")

_STATUS_NAMES = {StatusCode.OK: "ok", StatusCode.ERROR: "error", StatusCode.UNSET: "unset"}


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


# ---------------------------------------------------------------------------- values


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


def _json_size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":")).encode("utf-8"))


def fit_properties(properties: dict[str, Any], limit: int = MAX_PROPERTIES_BYTES) -> dict[str, Any]:
    """Return ``properties`` small enough for PostHog, truncating the largest values first.

    The client would otherwise drop the whole event with nothing but a log line. A trimmed
    event carries ``$otel_trimmed: true`` (and ``$otel_dropped_properties: n`` in the rare
    case where truncating values was not enough). ``properties`` must already be JSON-safe.
    """
    size = _json_size(properties)
    if size <= limit:
        return properties
    props = dict(properties)
    props[TRIMMED_PROPERTY] = True
    size = _json_size(props)
    # Serialized size of each value that may be cut; the total is kept up to date from
    # these (JSON sizes add up per value), so that one pass costs one serialization.
    sizes = {k: _json_size(v) for k, v in props.items() if k not in _RESERVED}
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
        new_size = _json_size(props[key])
        size += new_size - sizes[key]
        sizes[key] = new_size
    size = _json_size(props)
    if size > limit:
        # Too many properties rather than too large ones: keep only the computed fields,
        # and say how many were dropped.
        kept = {k: v for k, v in props.items() if k in _RESERVED}
        kept[DROPPED_PROPERTIES_PROPERTY] = len(props) - len(kept)
        kept[TRIMMED_PROPERTY] = True
        props = kept
    return props


# ---------------------------------------------------------------------- identities


def format_trace_id(trace_id: int | None) -> str | None:
    return f"{trace_id:032x}" if trace_id else None


def format_span_id(span_id: int | None) -> str | None:
    return f"{span_id:016x}" if span_id else None


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


def _distinct_id(resource: Resource | None, options: MappingOptions) -> str:
    value = resource.attributes.get(DISTINCT_ID_ATTRIBUTE) if resource is not None else None
    return value if isinstance(value, str) and value else options.distinct_id


def _base_properties(resource: Resource | None, options: MappingOptions) -> dict[str, Any]:
    # Opt-in only; the pipeline in front of the exporter has already scrubbed the resource.
    if resource is None or not options.resource_attributes:
        return {}
    return {str(k): json_value(v) for k, v in resource.attributes.items() if k != DISTINCT_ID_ATTRIBUTE}


def _add_trace_context(properties: dict[str, Any], trace_id: str | None, span_id: str | None) -> None:
    if trace_id:
        properties["$trace_id"] = trace_id
    if span_id:
        properties["$span_id"] = span_id


def _finish(properties: dict[str, Any]) -> dict[str, Any]:
    # Anonymous runs: no GeoIP lookup, no person profile.
    properties["$geoip_disable"] = True
    properties["$process_person_profile"] = False
    return fit_properties(properties)


# --------------------------------------------------------------------------- spans


def span_to_event(span: ReadableSpan, options: MappingOptions) -> PostHogEvent | None:
    """One finished span → one event named after the span (None if the span has no context)."""
    context = span.context
    if context is None or not span.name:
        return None
    trace_id = format_trace_id(context.trace_id)
    span_id = format_span_id(context.span_id)
    properties = _base_properties(span.resource, options)
    properties.update({str(k): json_value(v) for k, v in (span.attributes or {}).items()})
    if options.trace_context:
        _add_trace_context(properties, trace_id, span_id)
        parent_id = format_span_id(span.parent.span_id) if span.parent is not None else None
        if parent_id:
            properties["$parent_span_id"] = parent_id
    if span.start_time is not None and span.end_time is not None:
        properties["duration_ms"] = (span.end_time - span.start_time) / 1e6
    status = span.status
    properties["status"] = _STATUS_NAMES.get(status.status_code, "unset")
    if status.description:
        properties["status_message"] = status.description
    distinct_id = _distinct_id(span.resource, options)
    return PostHogEvent(
        event=span.name,
        distinct_id=distinct_id,
        uuid=event_uuid("span", distinct_id, trace_id, span_id),
        timestamp=datetime_from_ns(span.end_time or span.start_time),
        properties=_finish(properties),
    )


# ---------------------------------------------------------------------------- logs


def log_to_event(record: Any, options: MappingOptions) -> PostHogEvent | None:
    """One log record with an ``event_name`` → one event of that name; others → None.

    ``record`` is an SDK ``ReadableLogRecord`` (typed loosely: its module moved between
    SDK releases).
    """
    log = record.log_record
    name = getattr(log, "event_name", None)
    if not name:
        return None
    resource = getattr(record, "resource", None)
    properties = _base_properties(resource, options)
    body = log.body
    if isinstance(body, Mapping):
        properties.update({str(k): json_value(v) for k, v in body.items()})
    elif body is not None:
        properties["body"] = json_value(body)
    properties.update({str(k): json_value(v) for k, v in (log.attributes or {}).items()})
    trace_id = format_trace_id(log.trace_id)
    span_id = format_span_id(log.span_id)
    if options.trace_context:
        _add_trace_context(properties, trace_id, span_id)
    timestamp_ns = log.timestamp or log.observed_timestamp
    distinct_id = _distinct_id(resource, options)
    return PostHogEvent(
        event=str(name),
        distinct_id=distinct_id,
        uuid=event_uuid("log", distinct_id, trace_id, span_id, timestamp_ns, name),
        timestamp=datetime_from_ns(timestamp_ns),
        properties=_finish(properties),
    )


# ------------------------------------------------------------------------- metrics


def _point_key(metric_name: str, attributes: Mapping[str, Any] | None, keyed: bool) -> str:
    if not keyed:
        return metric_name
    pairs = ",".join(f"{k}={v}" for k, v in sorted((attributes or {}).items()))
    return f"{metric_name}{{{pairs}}}"


def metric_properties(metrics: Iterable[Any]) -> tuple[dict[str, Any], int]:
    """Latest value of each metric as properties, and the newest point's time in ns.

    Gauges and sums give their value; histograms give ``.count``, ``.sum``, ``.min`` and
    ``.max``. A metric with several data points keys each ``name{k=v,...}``.
    """
    properties: dict[str, Any] = {}
    newest = 0
    for metric in metrics:
        points = list(getattr(metric.data, "data_points", ()) or ())
        keyed = len(points) > 1
        for point in points:
            newest = max(newest, getattr(point, "time_unix_nano", 0) or 0)
            key = _point_key(metric.name, point.attributes, keyed)
            if hasattr(point, "value"):
                properties[key] = json_value(point.value)
            elif hasattr(point, "count"):
                properties[f"{key}.count"] = json_value(point.count)
                properties[f"{key}.sum"] = json_value(point.sum)
                properties[f"{key}.min"] = json_value(point.min)
                properties[f"{key}.max"] = json_value(point.max)
    return properties, newest


def metrics_to_events(metrics_data: Any, event_name: str, options: MappingOptions) -> list[PostHogEvent]:
    """One event per resource in ``metrics_data``, i.e. one per export of a MeterProvider."""
    events: list[PostHogEvent] = []
    for resource_metrics in metrics_data.resource_metrics:
        resource = resource_metrics.resource
        metrics = [m for scope in resource_metrics.scope_metrics for m in scope.metrics]
        values, newest = metric_properties(metrics)
        if not values:
            continue
        properties = _base_properties(resource, options)
        properties.update(values)
        events.append(
            PostHogEvent(
                event=event_name,
                distinct_id=options.distinct_id,
                uuid=event_uuid("metrics", event_name, options.distinct_id, newest),
                timestamp=datetime_from_ns(newest),
                properties=_finish(properties),
            )
        )
    return events
