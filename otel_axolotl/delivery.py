"""Delivery to one destination: a bounded queue, a worker that exports in batches, counted
drops, and the spool for whatever could not be delivered.

It stands where the SDK's BatchSpanProcessor / BatchLogRecordProcessor would, behind the
privacy stage, because the spool needs what those keep to themselves: the items still queued
or in flight when the exit deadline passes, and a count of what a full queue refused (the SDK
drops silently unless its internal metrics are switched on).

    privacy stage -> DeliverySpanProcessor -> Delivery (bounded queue, daemon worker)
                                                 |-> exporter.export + exporter.force_flush
                                                 '-> spool, for what failed or was left over

An item counts as delivered when ``export`` returned SUCCESS and the exporter's
``force_flush`` then returned True (both exporters here send in ``export``; ``force_flush`` is
a no-op). Everything else is spooled (or, with the spool off, counted as dropped).

At exit (:meth:`Delivery.begin_exit`) nothing is retried for a backend that has answered: the
exporter is told to stop retrying (``stop_retrying()`` where it has one, the PostHog
exporter), or shut down the moment it announces a backoff (``retry_watch``: the OTLP
exporters); once an export has failed at exit, the rest of the queue goes to the spool
untried. Only a backend that never answers may cost the exit deadline.

The training thread only appends to a deque under a lock. The worker is a daemon thread,
exporter exceptions are caught, and instrumentation is suppressed while exporting. In a
forked child (a DataLoader worker) a delivery is closed (the fork policy, ``forksafe``):
the parent's items are the parent's to deliver, and what
the child hands it is dropped and counted as ``forked``; no worker starts, no exporter is
touched.
"""

from __future__ import annotations

import collections
import contextlib
import copy
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opentelemetry.context import Context
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.sdk._logs import LogRecordProcessor, ReadableLogRecord, ReadWriteLogRecord
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from . import settings as _s
from ._metric_wrapper import GuardedMetricExporter as GuardedMetricExporter  # its old home
from .drops import DropCounter
from .forksafe import after_fork_in_child
from .retry_watch import Answered, retry_watch
from .spool import Spool, SpoolFileError, SpoolVersionError
from .spool_layout import SpoolFile

_logger = logging.getLogger("otel_axolotl")

LEFTOVERS_WRITE_WAIT_S = 0.5
"""At the exit deadline, how long to wait for a spool write the worker has begun."""


def deliver(exporter: Any, items: list[Any], timeout_s: float, answered: Answered | None = None) -> bool:
    """Export ``items``; True only when the exporter says they were sent. Never raises.
    ``answered``: called (on this thread) if the exporter announces a retry backoff."""
    from opentelemetry.sdk._logs.export import LogRecordExportResult
    from opentelemetry.sdk.trace.export import SpanExportResult

    watching = retry_watch().exporting(answered) if answered is not None else contextlib.nullcontext()
    try:
        with suppress_instrumentation(), watching:
            result = exporter.export(items)
            if result not in (SpanExportResult.SUCCESS, LogRecordExportResult.SUCCESS):
                return False
            flush = getattr(exporter, "force_flush", None)
            return True if flush is None else bool(flush(max(1, int(timeout_s * 1000))))
    except Exception as exc:
        _logger.debug("otel-axolotl: export failed: %s", type(exc).__name__, exc_info=True)
        return False


class Delivery:
    """One destination's spans or events: bounded queue, daemon worker, spool on failure."""

    def __init__(
        self,
        destination: str,
        signal: str,
        exporter: Any,
        *,
        drops: DropCounter,
        spool: Spool | None = None,
        max_queue_size: int = 2048,
        max_batch_size: int = 512,
        schedule_delay_s: float = 1.0,
        export_timeout_s: float = 5.0,
    ) -> None:
        if max_queue_size < 1 or max_batch_size < 1 or schedule_delay_s <= 0 or export_timeout_s <= 0:
            raise ValueError("queue and batch sizes must be >= 1, delays and timeouts > 0")
        self.destination = destination
        self.signal = signal
        self.exporter = exporter
        self.spool = spool
        self._drops = drops
        self._max_queue_size = max_queue_size
        self._max_batch_size = max_batch_size
        self._delay_s = schedule_delay_s
        self._export_timeout_s = export_timeout_s
        self._forked = False
        self._reset()
        self._start()
        after_fork_in_child(self._close_in_forked_child)

    def _close_in_forked_child(self) -> None:
        """In a forked child: fresh locks, nothing queued, closed for good (see ``forksafe``)."""
        self._reset()
        self._forked = self._closed = self._shut = True

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._wake = threading.Event()
        self._queue: collections.deque[Any] = collections.deque()
        self._inflight: list[Any] = []
        self._accepted = 0  # items ever queued
        self._settled = 0  # of those: delivered, spooled or dropped
        self._stopping = False
        self._closed = False
        self._shut = False
        self._exiting = False  # begin_exit: the exit flush has begun
        self._answered = False  # at exit the backend answered no: the rest is spooled untried
        self._backed_off = False  # the export in flight announced a retry backoff
        self._exporter_shut = False
        # The batch in flight when the exit deadline passed: spooled, and deleted from the
        # spool again should the abandoned export still succeed (see spool_leftovers).
        self._abandoned: list[Any] | None = None
        self._abandoned_file: Path | None = None
        self._abandoned_delivered = False
        self._thread: threading.Thread | None = None

    def _start(self) -> None:
        self._thread = threading.Thread(
            target=self._work, name=f"otel-axolotl-{self.destination}-{self.signal}", daemon=True
        )
        self._thread.start()

    # -- the training thread's side ---------------------------------------------------------------
    def put(self, item: Any) -> None:
        """Queue ``item`` without blocking; a full or closed queue drops it (counted)."""
        full_batch = False
        with self._lock:
            if self._forked:
                reason = "forked"
            elif self._closed or self._stopping:
                reason = "shutdown"
            elif len(self._queue) >= self._max_queue_size:
                reason = "queue_full"
            else:
                reason = ""
                self._queue.append(item)
                self._accepted += 1
                full_batch = len(self._queue) >= self._max_batch_size
        if reason:
            self._drops.add(self.destination, self.signal, reason)
        elif full_batch:
            self._wake.set()

    # -- the worker ---------------------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            self._wake.wait(self._delay_s)
            self._wake.clear()
            if not self._send_queued():
                return

    def _send_queued(self) -> bool:
        """Export batches until the queue is empty; False once the worker should stop."""
        while True:
            with self._lock:
                if self._stopping or self._closed:
                    return False
                if not self._queue:
                    return True
                untried = self._answered  # at exit, after a refusal: straight to the spool
                size = len(self._queue) if untried else min(self._max_batch_size, len(self._queue))
                batch = [self._queue.popleft() for _ in range(size)]
                self._inflight = batch
                self._backed_off = False
            delivered = not untried and deliver(
                self.exporter, batch, self._export_timeout_s, answered=self._backing_off
            )
            if not delivered:
                with self._lock:
                    self._answered = self._answered or self._exiting
            # Held from the decision until the failed batch is on disk: spool_leftovers waits
            # for it, so no batch is ever neither in memory nor in the spool at exit.
            with self._write_lock:
                sent_after_all: Path | None = None
                with self._lock:
                    mine = self._inflight is batch  # else the exit deadline already took it
                    if mine:
                        self._inflight = []
                    elif delivered and self._abandoned is batch:
                        self._abandoned_delivered = True
                        sent_after_all, self._abandoned_file = self._abandoned_file, None
                self._discard(sent_after_all)  # its spool copy must not be sent again
                if mine and not delivered:
                    self._keep(batch)
            if mine:
                with self._lock:
                    self._settled += len(batch)
                    self._changed.notify_all()

    def _keep(self, items: list[Any]) -> Path | None:
        """Items that were not delivered: into the spool (the file is returned), or counted as
        dropped."""
        path = self.spool.write(self.signal, items) if self.spool is not None else None
        if path is None:
            self._drops.add(self.destination, self.signal, "undelivered", len(items))
            return None
        _s.warn_once(
            f"spooled:{self.destination}",
            "otel-axolotl: telemetry that could not be delivered to the %s destination is kept in %s "
            "and sent at the next start (or with `otel-axolotl flush`); further such batches are not logged.",
            self.destination,
            self.spool.directory if self.spool is not None else "",
        )
        return path

    # -- at exit: a backend that answered is not retried ------------------------------------------
    def begin_exit(self) -> None:
        """The exit flush begins: from now on a failed answer ends the tries (see the module
        docstring). An exporter with ``stop_retrying()`` is told so; one already backing off
        (its backend answered before exit) is shut down now. Never raises."""
        with self._lock:
            if self._exiting or self._closed:
                return
            self._exiting = True
            backing_off = bool(self._inflight) and self._backed_off
        stop_retrying = getattr(self.exporter, "stop_retrying", None)
        if callable(stop_retrying):
            try:
                stop_retrying()
            except Exception:
                _logger.debug("otel-axolotl: %s stop_retrying failed", self.destination, exc_info=True)
        elif backing_off:
            self._stop_exporter()

    def _backing_off(self) -> None:
        """The export on the worker thread announced a backoff: its backend answered no."""
        with self._lock:
            self._backed_off = True
            exiting = self._exiting
        if exiting:
            self._stop_exporter()

    def _stop_exporter(self) -> None:
        """End the exporter's retries: its shutdown ends a backoff at once (OTLP on SDK 1.39
        and 1.45); whatever is left is spooled untried."""
        with self._lock:
            self._answered = True
        self._shut_exporter()

    def _shut_exporter(self) -> None:
        with self._lock:
            if self._exporter_shut:
                return
            self._exporter_shut = True
        try:
            self.exporter.shutdown()
        except Exception:
            _logger.debug("otel-axolotl: %s exporter shutdown failed", self.destination, exc_info=True)

    # -- flush, shutdown, exit deadline -----------------------------------------------------------
    def flush(self, timeout_s: float) -> bool:
        """Deliver (or spool) everything queued before this call; False if ``timeout_s`` ran out."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            target = self._accepted
            if self._settled >= target or self._stopping or self._closed:
                return self._settled >= target
        self._wake.set()
        with self._changed:
            while self._settled < target:
                left = deadline - time.monotonic()
                if left <= 0 or self._closed:
                    return self._settled >= target
                self._changed.wait(left)
        return True

    def shutdown(self, timeout_s: float | None = None) -> bool:
        """Flush, stop the worker, shut the exporter down (which also ends the OTLP exporters'
        retry back-off). What is still queued stays queued for :meth:`spool_leftovers`.
        Only the first call does anything (later calls return True), so a provider's shutdown
        after the pipeline's is free. True when everything queued was delivered (or spooled on
        failure) in time."""
        with self._lock:
            if self._shut or self._closed:
                return True
            self._shut = True
        flushed = self.flush(self._export_timeout_s if timeout_s is None else timeout_s)
        with self._lock:
            self._stopping = True
            exporting = bool(self._inflight)
        self._wake.set()
        if exporting:
            # Its answer may still come while the process lives (and then the batch's spool
            # copy is deleted); shutting the exporter down would cancel a gRPC call the
            # collector may already have taken. The worker is a daemon: it cannot hold exit.
            return flushed
        self._shut_exporter()
        return flushed

    def withdraw(self) -> int:
        """Consent withdrawn (``init(product_telemetry=False)`` after a first init that enabled
        it): drop what is queued, unsent and unspooled (counted), accept nothing more, stop the
        exporter. How many items were dropped."""
        with self._lock:
            if self._closed:
                return 0
            self._closed = self._shut = True
            dropped = len(self._queue)
            self._settled += dropped
            self._queue.clear()
            self._changed.notify_all()
        self._wake.set()
        if dropped:
            self._drops.add(self.destination, self.signal, "shutdown", dropped)
        with contextlib.suppress(Exception):
            self.exporter.shutdown()
        return dropped

    def spool_leftovers(self, write_wait_s: float = LEFTOVERS_WRITE_WAIT_S) -> int:
        """At the exit deadline: close, and keep what is still queued or in flight. How many.

        The batch in flight goes to a file of its own: if its abandoned export still succeeds
        while the process lives, the worker deletes that file, so the next start does not send
        it again. (An export the backend accepts after this process is gone is the one case
        left where an item can arrive twice.)"""
        # A failed batch the worker is writing right now must be on disk before we return.
        writing_done = self._write_lock.acquire(timeout=max(0.0, write_wait_s))
        try:
            return self._spool_leftovers_locked()
        finally:
            if writing_done:
                self._write_lock.release()

    def _spool_leftovers_locked(self) -> int:
        with self._lock:
            if self._closed:  # done already: keep the record of the abandoned batch
                return 0
            self._closed = True
            inflight, queued = self._inflight, list(self._queue)
            self._inflight = []
            self._queue.clear()
            self._abandoned = inflight or None
            self._settled += len(inflight) + len(queued)
            self._changed.notify_all()
        self._wake.set()
        if queued:
            self._keep(queued)
        if inflight:
            path = self._keep(inflight)
            with self._lock:
                delivered = self._abandoned_delivered
                if not delivered:
                    self._abandoned_file = path
            if delivered:
                self._discard(path)
        return len(inflight) + len(queued)

    def _discard(self, path: Path | None) -> None:
        if path is not None and self.spool is not None:
            self.spool.discard(path)

    @property
    def queued(self) -> int:
        with self._lock:
            return len(self._queue) + len(self._inflight)


class DeliverySpanProcessor(SpanProcessor):
    """Feeds finished (already scrubbed) spans to a :class:`Delivery`."""

    def __init__(self, delivery: Delivery) -> None:
        self.delivery = delivery

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        if span.context is not None and span.context.trace_flags.sampled:
            self.delivery.put(span)

    def shutdown(self) -> None:
        self.delivery.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.delivery.flush(timeout_millis / 1000)


class DeliveryLogRecordProcessor(LogRecordProcessor):
    """Feeds (already scrubbed) events to a :class:`Delivery` as ``ReadableLogRecord``s."""

    def __init__(self, delivery: Delivery) -> None:
        self.delivery = delivery

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        # As the SDK's batch processor does: a shallow copy without the (possibly large) context.
        record = copy.copy(log_record.log_record)
        record.context = Context()
        resource = log_record.resource if log_record.resource is not None else Resource.create({})
        self.delivery.put(
            ReadableLogRecord(
                log_record=record, resource=resource, instrumentation_scope=log_record.instrumentation_scope
            )
        )

    def shutdown(self) -> None:
        self.delivery.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.delivery.flush(timeout_millis / 1000)


# -- replay: the spool of an earlier run, to the destination configured now ---------------------------


@dataclass
class ReplayReport:
    destination: str
    sent_files: int = 0
    sent_items: int = 0
    skipped_files: int = 0  # unreadable: deleted with a warning
    set_aside_files: int = 0  # refused while the destination accepted others: deleted, counted
    failed: bool = False  # the destination refused; the rest waits for next time
    left_files: int = 0


BACKEND_DOWN_AFTER = 2
"""Consecutive failed files after which a replay stops: the destination is down, not the file."""


def replay(
    spool: Spool,
    exporters: Mapping[str, Any],
    *,
    deadline: float,
    export_timeout_s: float = 5.0,
    stop: threading.Event | None = None,
) -> ReplayReport:
    """Send what was spooled for this destination (``spool``: its recipient at its level; see
    ``Spool.sources``: never data of a laxer level) through ``exporters`` (by signal), until
    the ``deadline`` (``time.monotonic()``) or until the destination looks down.

    Files that never failed go first, oldest first, then those that failed before, so a file
    the destination refuses cannot hold back newer ones. A file that fails is given back
    (``MAX_ATTEMPTS`` in all); one that fails again in the same replay after the destination
    accepted another file, or fails at a later start right after one was accepted, is refused
    for itself (too large for the transport, invalid) and is set aside. ``BACKEND_DOWN_AFTER``
    failures in a row end the replay. A file is deleted only once delivered, so nothing is
    sent twice by us; PostHog events keep their uuids besides. Never raises."""
    report = ReplayReport(spool.destination)
    sources = spool.sources()
    try:
        queue = [
            (source, f) for source in sources for f in source.pending() if exporters.get(f.signal) is not None
        ]
        queue.sort(key=lambda item: (item[1].attempts > 0, item[1].written_ns, item[1].path.name))
        failed_once: list[tuple[Spool, SpoolFile]] = []
        in_a_row = failures = 0
        accepted = False

        def out_of_time() -> bool:
            return time.monotonic() >= deadline or (stop is not None and stop.is_set())

        for source, f in queue:
            if out_of_time() or in_a_row >= BACKEND_DOWN_AFTER:
                break
            fresh = f.attempts == 0
            outcome = _replay_file(
                source, f, exporters, export_timeout_s, report, set_aside=accepted and not fresh
            )
            if outcome == "sent":
                in_a_row, accepted = 0, True
            elif outcome is not None:  # given back (the file is returned), given up or set aside
                in_a_row += 1
                failures += outcome != "set aside"
                if isinstance(outcome, SpoolFile):
                    failed_once.append((source, outcome))
        down = in_a_row >= BACKEND_DOWN_AFTER
        if accepted and not down:  # the destination is up: what failed is refused for itself
            for source, f in failed_once:
                if out_of_time():
                    break
                _replay_file(source, f, exporters, export_timeout_s, report, set_aside=True)
        report.left_files = sum(len(source.pending()) for source in sources)
        report.failed = (down and report.left_files > 0) or (failures > 0 and not accepted)
    except Exception:  # a spool must never break start-up
        _logger.warning("otel-axolotl: replaying the %s spool failed", spool.destination, exc_info=True)
    return report


ReplayJob = tuple[Spool, Mapping[str, Any]]
"""One destination's spool and its exporters now, by signal."""


def replay_all(
    jobs: Sequence[ReplayJob],
    *,
    deadline: float,
    export_timeout_s: float,
    stop: threading.Event | None = None,
) -> list[ReplayReport]:
    """:func:`replay` each job in turn, all within one ``deadline`` (``time.monotonic()``), each
    request within ``export_timeout_s`` or what is left; log what was sent. The one replay
    loop, shared by the pipeline at start-up and ``otel-axolotl flush``. Never raises."""
    reports = []
    for spool, exporters in jobs:
        timeout = max(0.1, min(export_timeout_s, deadline - time.monotonic()))
        report = replay(spool, exporters, deadline=deadline, export_timeout_s=timeout, stop=stop)
        reports.append(report)
        if report.sent_files or report.skipped_files:
            _logger.info(
                "otel-axolotl: sent %d spooled item(s) from %d file(s) to the %s destination.",
                report.sent_items,
                report.sent_files,
                report.destination,
            )
    return reports


def _replay_file(
    spool: Spool,
    f: SpoolFile,
    exporters: Mapping[str, Any],
    export_timeout_s: float,
    report: ReplayReport,
    *,
    set_aside: bool,
) -> str | SpoolFile | None:
    """Send one file: ``"sent"``; ``"set aside"``; failed and given back (the file is
    returned) or ``"given up"`` (MAX_ATTEMPTS); None: not tried (another process has it,
    unreadable, another format version)."""
    claimed = spool.claim(f)
    if claimed is None:  # another process (a rank on this node) took it
        return None
    try:
        items = spool.read(claimed)
    except SpoolVersionError:
        return None
    except SpoolFileError:
        report.skipped_files += 1
        return None
    if deliver(exporters[f.signal], items, export_timeout_s):
        spool.done(claimed)
        report.sent_files += 1
        report.sent_items += len(items)
        return "sent"
    if set_aside:
        spool.set_aside(claimed, "refused")
        report.set_aside_files += 1
        return "set aside"
    back = spool.give_back(claimed)
    return back if back is not None else "given up"
