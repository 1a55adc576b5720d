"""The spool's codec: a batch of finished spans or events <-> the bytes of one spool file.

A file is JSON lines: a header (format, version, signal, item count, destination kind,
recipient, level), then one span or event per line. The header is checked again on reading,
so a file of another release, a truncated one, or one moved into another recipient's
directory is never sent (:func:`decode_file`).

Each item keeps everything an exporter reads from a span or an event, nothing more.
Attribute values are primitives or sequences of them (OpenTelemetry's own rule); JSON keeps
both. The SDK is imported only when decoding, so the spool's module stays cheap on the
disabled path.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from .spool_layout import SPOOLED_SIGNALS

FORMAT = "otel-axolotl-spool"
VERSION = 2
"""2: bound to a recipient and a level. Version-1 files are never replayed."""

Binding = tuple[str, str | None, str | None]
"""``(destination kind, recipient, level)``: the spool a file was written for, in its header."""


class SpoolFileError(Exception):
    """A spool file that cannot be read: corrupt, truncated, or not a spool file at all."""


class SpoolVersionError(SpoolFileError):
    """A spool file of another format version (another otel-axolotl release): left alone."""


def encode_file(signal: str, items: Sequence[Any], binding: Binding) -> bytes:
    """One spool file: the header, then ``items`` (spans or ``ReadableLogRecord``s)."""
    encode = encode_span if signal == "traces" else encode_log
    destination, recipient, level = binding
    header = {
        "format": FORMAT,
        "version": VERSION,
        "signal": signal,
        "items": len(items),
        "destination": destination,
        "recipient": recipient,
        "level": level,
    }
    lines = [json.dumps(header)]
    lines += [json.dumps(encode(item), separators=(",", ":"), default=str) for item in items]
    return ("\n".join(lines) + "\n").encode("utf-8")


def decode_file(data: bytes, binding: Binding) -> list[Any]:
    """The items of one spool file written for ``binding``, rebuilt as SDK objects.

    Raises SpoolVersionError for another format version, SpoolFileError for a truncated file,
    one without a header or one written for another spool; any other exception for an item
    that cannot be decoded."""
    if not data.endswith(b"\n"):
        raise SpoolFileError("truncated")
    lines = data[:-1].split(b"\n")
    header = json.loads(lines[0])
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise SpoolFileError("no spool header")
    if header.get("version") != VERSION:
        raise SpoolVersionError(f"format version {header.get('version')!r}, expected {VERSION}")
    if (header.get("destination"), header.get("recipient"), header.get("level")) != binding:
        raise SpoolFileError("written for another recipient or privacy level")
    signal, count = header.get("signal"), header.get("items")
    if signal not in SPOOLED_SIGNALS or count != len(lines) - 1:
        raise SpoolFileError(f"truncated: {len(lines) - 1} of {count!r} items")
    decode = decode_span if signal == "traces" else decode_log
    return [decode(json.loads(line)) for line in lines[1:]]


def _context(ctx: Any) -> dict[str, Any] | None:
    if ctx is None:
        return None
    return {
        "trace_id": f"{ctx.trace_id:032x}",
        "span_id": f"{ctx.span_id:016x}",
        "remote": bool(ctx.is_remote),
        "flags": int(ctx.trace_flags),
        "state": list(ctx.trace_state.items()) if ctx.trace_state else [],
    }


def _resource(resource: Any) -> dict[str, Any]:
    if resource is None:
        return {"attributes": {}, "schema_url": ""}
    return {"attributes": dict(resource.attributes), "schema_url": resource.schema_url or ""}


def _scope(scope: Any) -> dict[str, Any] | None:
    if scope is None:
        return None
    return {
        "name": scope.name,
        "version": scope.version,
        "schema_url": scope.schema_url or "",
        "attributes": dict(scope.attributes or {}),
    }


def encode_span(span: Any) -> dict[str, Any]:
    return {
        "name": span.name,
        "context": _context(span.context),
        "parent": _context(span.parent),
        "kind": span.kind.name,
        "start": span.start_time,
        "end": span.end_time,
        "attributes": dict(span.attributes or {}),
        "events": [
            {"name": e.name, "timestamp": e.timestamp, "attributes": dict(e.attributes or {})}
            for e in span.events
        ],
        "links": [
            {"context": _context(link.context), "attributes": dict(link.attributes or {})}
            for link in span.links
        ],
        "status": {"code": span.status.status_code.name, "description": span.status.description},
        "resource": _resource(span.resource),
        "scope": _scope(span.instrumentation_scope),
    }


def encode_log(record: Any) -> dict[str, Any]:
    r = record.log_record
    return {
        "timestamp": r.timestamp,
        "observed_timestamp": r.observed_timestamp,
        "trace_id": f"{r.trace_id or 0:032x}",
        "span_id": f"{r.span_id or 0:016x}",
        "flags": int(r.trace_flags or 0),
        "severity_text": r.severity_text,
        "severity_number": r.severity_number.value if r.severity_number is not None else None,
        "body": r.body,
        "attributes": dict(r.attributes or {}),
        "event_name": r.event_name,
        "resource": _resource(record.resource),
        "scope": _scope(record.instrumentation_scope),
    }


def _attrs(doc: Any) -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise ValueError("attributes are not a mapping")
    return {str(k): tuple(v) if isinstance(v, list) else v for k, v in doc.items()}


def _decode_context(doc: Any) -> Any:
    from opentelemetry.trace import SpanContext, TraceFlags, TraceState

    if doc is None:
        return None
    return SpanContext(
        int(doc["trace_id"], 16),
        int(doc["span_id"], 16),
        bool(doc["remote"]),
        TraceFlags(int(doc["flags"])),
        TraceState([tuple(pair) for pair in doc.get("state") or []]),
    )


def _decode_resource(doc: Any) -> Any:
    from opentelemetry.sdk.resources import Resource

    return Resource(_attrs(doc["attributes"]), doc.get("schema_url") or None)


def _decode_scope(doc: Any) -> Any:
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope

    if doc is None:
        return None
    return InstrumentationScope(
        doc["name"], doc.get("version"), doc.get("schema_url") or None, _attrs(doc.get("attributes") or {})
    )


def decode_span(doc: dict[str, Any]) -> Any:
    from opentelemetry.sdk.trace import Event, ReadableSpan
    from opentelemetry.trace import Link, SpanKind, Status, StatusCode

    return ReadableSpan(
        name=str(doc["name"]),
        context=_decode_context(doc["context"]),
        parent=_decode_context(doc.get("parent")),
        resource=_decode_resource(doc["resource"]),
        attributes=_attrs(doc["attributes"]),
        events=[Event(str(e["name"]), _attrs(e["attributes"]), int(e["timestamp"])) for e in doc["events"]],
        links=[Link(_decode_context(link["context"]), _attrs(link["attributes"])) for link in doc["links"]],
        kind=SpanKind[doc["kind"]],
        status=Status(StatusCode[doc["status"]["code"]], doc["status"].get("description")),
        start_time=doc["start"],
        end_time=doc["end"],
        instrumentation_scope=_decode_scope(doc.get("scope")),
    )


def decode_log(doc: dict[str, Any]) -> Any:
    from opentelemetry._logs import LogRecord, SeverityNumber
    from opentelemetry.sdk._logs import ReadableLogRecord
    from opentelemetry.trace import TraceFlags

    severity = doc.get("severity_number")
    fields: dict[str, Any] = {  # ids as recorded: the replaying thread's context plays no part
        "timestamp": doc.get("timestamp"),
        "observed_timestamp": doc.get("observed_timestamp"),
        "trace_id": int(doc["trace_id"], 16),
        "span_id": int(doc["span_id"], 16),
        "trace_flags": TraceFlags(int(doc.get("flags") or 0)),
        "severity_text": doc.get("severity_text"),
        "severity_number": SeverityNumber(severity) if severity is not None else None,
        "body": doc.get("body"),
        "attributes": _attrs(doc.get("attributes") or {}),
        "event_name": doc.get("event_name"),
    }
    record = LogRecord(**fields)
    return ReadableLogRecord(
        log_record=record,
        resource=_decode_resource(doc["resource"]),
        instrumentation_scope=_decode_scope(doc.get("scope")),
    )
