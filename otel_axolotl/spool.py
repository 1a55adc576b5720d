"""The on-disk spool: spans and events that could not be delivered, kept for the next start.

Where: one directory per destination (``otlp``, ``posthog``) under the per-user cache
directory, ``$XDG_CACHE_HOME/otel-axolotl/spool/`` (``~/.cache/...``), or under
``OTEL_AXOLOTL_SPOOL_DIR``. Console and file destinations write locally and are never spooled.

What: only data that has passed the privacy stage. The spool is fed by the delivery stage
behind it (``delivery.py``), so a file never holds anything the destination itself would not
have received. Metrics are not spooled: they are cumulative and exported periodically, so the
next successful export carries the totals again.

How: one file per failed batch or per shutdown, written to a hidden temporary name and renamed
into place, so a reader sees whole files or none. Each file is JSON lines: a header line
(format, version, signal, item count), then one span or event per line. The file name carries
the time it was written, the signal, the item count and how often delivering it failed, so
ordering, the size cap and counting drops need no reading. Over the cap
(``OTEL_AXOLOTL_SPOOL_MAX_BYTES`` per destination) the oldest files are deleted first.

Several processes (the ranks of a node) may share a directory: a file is claimed by renaming
it before it is sent, so only one process sends it; a claim left by a process that died is
taken back after ``STALE_SECONDS``. A file that cannot be read (corrupt, truncated) is deleted
with one warning naming it; reading never raises into start-up.

Only the standard library is imported here at module level: consent withdrawal deletes the
product spool on the disabled path, which must stay cheap.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import settings as _s

_logger = logging.getLogger("otel_axolotl")

FORMAT = "otel-axolotl-spool"
VERSION = 1
SIGNALS = ("traces", "logs")
SPOOLED_DESTINATIONS = ("otlp", "posthog")
"""Destinations that cross the network. Console, file and debug destinations are never spooled."""
PRODUCT_DESTINATION = "posthog"
"""The product-telemetry destination, whose spool is deleted when consent is withdrawn."""
MAX_ATTEMPTS = 5
"""Replays of one file that may fail before it is given up (and its items counted as dropped),
so that one file the backend always refuses cannot hold back the others."""
STALE_SECONDS = 600.0
"""A claim (or a temporary file) this old belongs to a process that died; it is taken back."""

_NAME = re.compile(r"^(\d{20})-(\d+)-([0-9a-f]{6})\.(traces|logs)\.(\d+)\.(\d+)\.jsonl$")
_CLAIMED = ".claimed"
_TMP = ".tmp"

DropSink = Callable[[str, str, int], None]
"""``(signal, reason, count)``: told about items the spool itself gives up."""


class SpoolFileError(Exception):
    """A spool file that cannot be read: corrupt, truncated, or not a spool file at all."""


class SpoolVersionError(SpoolFileError):
    """A spool file of another format version (another otel-axolotl release): left alone."""


def spool_root(env: Mapping[str, str] | None = None) -> Path:
    """``OTEL_AXOLOTL_SPOOL_DIR``, else ``$XDG_CACHE_HOME/otel-axolotl/spool``, else ``~/.cache/...``."""
    return _s.spool_dir(os.environ if env is None else env)


@dataclass(frozen=True)
class SpoolConfig:
    """Whether to spool, where, and how much per destination."""

    enabled: bool = True
    root: Path = Path(".")
    max_bytes: int = _s.DEFAULT_SPOOL_MAX_BYTES

    @classmethod
    def from_settings(cls, settings: _s.Settings) -> SpoolConfig:
        return cls(enabled=settings.spool, root=settings.spool_dir, max_bytes=settings.spool_max_bytes)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SpoolConfig:
        return cls.from_settings(_s.Settings.from_env(env))

    def spool(self, destination: str, drops: DropSink | None = None) -> Spool:
        """The spool of ``destination`` (whether or not spooling is enabled: to read or clear it)."""
        return Spool(self.root / destination, destination, self.max_bytes, drops)


@dataclass(frozen=True)
class SpoolFile:
    """One file, as its name describes it."""

    path: Path
    written_ns: int
    signal: str
    items: int
    attempts: int

    @classmethod
    def parse(cls, path: Path) -> SpoolFile | None:
        name = path.name[: -len(_CLAIMED)] if path.name.endswith(_CLAIMED) else path.name
        match = _NAME.match(name)
        if match is None:
            return None
        written, _pid, _token, signal, items, attempts = match.groups()
        return cls(path, int(written), signal, int(items), int(attempts))

    def renamed(self, attempts: int) -> str:
        base = self.path.name[: -len(_CLAIMED)] if self.path.name.endswith(_CLAIMED) else self.path.name
        head = base.split(".", 1)[0]
        return f"{head}.{self.signal}.{self.items}.{attempts}.jsonl"


class Spool:
    """The files of one destination: write, list, claim, read, delete, cap."""

    def __init__(self, directory: Path, destination: str, max_bytes: int, drops: DropSink | None = None):
        self.directory = Path(directory)
        self.destination = destination
        self.max_bytes = max_bytes
        self._drops = drops
        self._cap_warned = False

    # -- writing ----------------------------------------------------------------------------
    def write(self, signal: str, items: Sequence[Any]) -> Path | None:
        """Keep ``items`` (spans or ``ReadableLogRecord``s, already scrubbed) in one new file.

        Returns the file, or None when it could not be written (one warning per spool; the
        caller counts the items as dropped). Never raises.
        """
        if not items:
            return None
        try:
            encode = encode_span if signal == "traces" else encode_log
            header = {"format": FORMAT, "version": VERSION, "signal": signal, "items": len(items)}
            lines = [json.dumps(header)]
            lines += [json.dumps(encode(item), separators=(",", ":"), default=str) for item in items]
            data = ("\n".join(lines) + "\n").encode("utf-8")
            name = f"{time.time_ns():020d}-{os.getpid()}-{secrets.token_hex(3)}.{signal}.{len(items)}.0.jsonl"
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            tmp = self.directory / f".{name}{_TMP}"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            final = self.directory / name
            os.replace(tmp, final)
        except Exception as exc:  # disk full, read-only home, an item we cannot encode
            _s.warn_once(
                f"spool-write:{self.directory}",
                "otel-axolotl: cannot write the %s spool in %s (%s); undelivered telemetry is dropped.",
                self.destination,
                self.directory,
                exc,
            )
            return None
        self._enforce_cap()
        return final

    def _enforce_cap(self) -> None:
        """Delete the oldest files until the spool fits ``max_bytes``; count what they held."""
        sized = []
        for f in self._entries(claimed=True):
            try:
                sized.append((f, f.path.stat().st_size))
            except OSError:
                continue
        total = sum(size for _, size in sized)
        for f, size in sized:  # oldest first
            if total <= self.max_bytes:
                break
            if _unlink(f.path):
                total -= size
                self._drop(f.signal, "spool_full", f.items)
                if not self._cap_warned:
                    self._cap_warned = True
                    _logger.warning(
                        "otel-axolotl: the %s spool in %s is over its %d-byte cap (%s); the oldest "
                        "files are deleted first.",
                        self.destination,
                        self.directory,
                        self.max_bytes,
                        _s.OTEL_AXOLOTL_SPOOL_MAX_BYTES,
                    )

    # -- reading ----------------------------------------------------------------------------
    def pending(self) -> list[SpoolFile]:
        """Files waiting to be sent, oldest first. Takes back stale claims and temporary files."""
        return list(self._entries(claimed=False))

    def _entries(self, *, claimed: bool) -> list[SpoolFile]:
        try:
            entries = list(os.scandir(self.directory))
        except OSError:  # no spool yet (the usual case), or unreadable
            return []
        now = time.time()
        found = []
        for entry in entries:
            name = entry.name
            if name.startswith(".") and name.endswith(_TMP):
                if _age(entry, now) > STALE_SECONDS:
                    _unlink(Path(entry.path))  # a writer died half-way
                continue
            f = SpoolFile.parse(Path(entry.path))
            if f is None:
                continue  # not ours: left alone
            if name.endswith(_CLAIMED):
                if not claimed and _age(entry, now) > STALE_SECONDS:
                    back = self.directory / f.renamed(f.attempts)
                    try:
                        os.rename(entry.path, back)  # the claimant died; send it again
                    except OSError:
                        continue
                    f = SpoolFile(back, f.written_ns, f.signal, f.items, f.attempts)
                elif not claimed:
                    continue
            found.append(f)
        return sorted(found, key=lambda f: (f.written_ns, f.path.name))

    def claim(self, f: SpoolFile) -> SpoolFile | None:
        """Take ``f`` for sending; None when another process took it first."""
        claimed = f.path.with_name(f.path.name + _CLAIMED)
        try:
            os.rename(f.path, claimed)
            os.utime(claimed)  # the claim's age, for STALE_SECONDS
        except OSError:
            return None
        return SpoolFile(claimed, f.written_ns, f.signal, f.items, f.attempts)

    def read(self, f: SpoolFile) -> list[Any]:
        """The items of a claimed file, rebuilt as SDK objects.

        Raises SpoolFileError after deleting a corrupt or truncated file (with one warning
        naming it), or SpoolVersionError for another format version (the file is given back).
        """
        try:
            if f.path.stat().st_size > max(self.max_bytes, 1):
                raise SpoolFileError("larger than the spool cap")
            data = f.path.read_bytes()
            if not data.endswith(b"\n"):
                raise SpoolFileError("truncated")
            lines = data[:-1].split(b"\n")
            header = json.loads(lines[0])
            if not isinstance(header, dict) or header.get("format") != FORMAT:
                raise SpoolFileError("no spool header")
            if header.get("version") != VERSION:
                raise SpoolVersionError(f"format version {header.get('version')!r}, expected {VERSION}")
            signal, count = header.get("signal"), header.get("items")
            if signal not in SIGNALS or count != len(lines) - 1:
                raise SpoolFileError(f"truncated: {len(lines) - 1} of {count!r} items")
            decode = decode_span if signal == "traces" else decode_log
            return [decode(json.loads(line)) for line in lines[1:]]
        except SpoolVersionError as exc:
            _s.warn_once(
                f"spool-version:{f.path}",
                "otel-axolotl: skipping spool file %s (%s); left in place.",
                f.path,
                exc,
            )
            self.give_back(f, failed=False)
            raise
        except Exception as exc:
            why = str(exc) if isinstance(exc, SpoolFileError) else f"corrupt: {type(exc).__name__}"
            _logger.warning("otel-axolotl: skipping unreadable spool file %s (%s); deleting it.", f.path, why)
            _unlink(f.path)
            raise SpoolFileError(why) from exc

    # -- after sending ----------------------------------------------------------------------
    def done(self, f: SpoolFile) -> None:
        """Delivered: delete it."""
        _unlink(f.path)

    def discard(self, path: Path) -> None:
        """A file this process wrote turned out to be delivered after all: delete it (unless
        another process has claimed it meanwhile)."""
        _unlink(path)

    def give_back(self, f: SpoolFile, *, failed: bool = True) -> None:
        """Not delivered: unclaim it for a later start, or give it up after MAX_ATTEMPTS."""
        attempts = f.attempts + 1 if failed else f.attempts
        if attempts >= MAX_ATTEMPTS:
            if _unlink(f.path):
                self._drop(f.signal, "undelivered", f.items)
            return
        try:
            os.rename(f.path, self.directory / f.renamed(attempts))
        except OSError:
            _logger.debug("otel-axolotl: cannot unclaim %s", f.path, exc_info=True)

    def clear(self) -> int:
        """Delete every spool file here (consent withdrawn); how many files were deleted."""
        try:
            entries = list(os.scandir(self.directory))
        except OSError:
            return 0
        deleted = 0
        for entry in entries:
            name = entry.name
            ours = SpoolFile.parse(Path(entry.path)) is not None
            if ours or (name.startswith(".") and name.endswith(_TMP)):
                deleted += _unlink(Path(entry.path))
        with contextlib.suppress(OSError):
            self.directory.rmdir()  # only when nothing else is in it
        return deleted

    def _drop(self, signal: str, reason: str, count: int) -> None:
        if self._drops is not None and count > 0:
            self._drops(signal, reason, count)


def _unlink(path: Path) -> bool:
    try:
        os.unlink(path)
        return True
    except OSError:
        return False


def _age(entry: os.DirEntry[str], now: float) -> float:
    try:
        return now - entry.stat().st_mtime
    except OSError:
        return 0.0


# -- the codec: SDK objects <-> JSON documents --------------------------------------------------
# Everything an exporter reads from a span or an event, nothing more. Attribute values are
# primitives or sequences of them (OpenTelemetry's own rule); JSON keeps both.


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
