"""Delivery to one destination: a bounded queue, a worker that exports in batches, counted
drops, and the spool for whatever could not be delivered.

It stands where the SDK's BatchSpanProcessor / BatchLogRecordProcessor would, behind the
privacy stage, because the spool needs what those keep to themselves: the items still queued
or in flight when the exit deadline passes, and a count of what a full queue refused (the SDK
drops silently unless its internal metrics are switched on).

    privacy stage -> DeliverySpanProcessor -> Delivery (bounded queue, daemon worker)
                                                 |-> exporter.export + exporter.force_flush
                                                 '-> spool, for what failed or was left over

(The two processors are in ``delivery_processors.py``; sending the spool of an earlier run,
through the same :func:`deliver`, is ``replay.py``'s job.)

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
import logging
import threading
import time
from pathlib import Path
from typing import Any

from opentelemetry.instrumentation.utils import suppress_instrumentation

from . import settings as _s
from .drops import DropCounter
from .forksafe import after_fork_in_child
from .retry_watch import Answered, retry_watch
from .spool import Spool

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
