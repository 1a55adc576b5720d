"""The PostHog client shared by the exporters, and the deadlines around it.

Why shared: ``posthog.Posthog`` owns a queue and a consumer thread; the span, log and metric
exporters of one process talking to one project need only one of each. The registry holds
one client per ``(host, api_key)``, counts the exporters using it, and shuts it down when the
last one lets go.

Why deadlines: the client's own ``shutdown()`` drains "with no timeout" (100 events against
a host that accepts and never answers: over a minute). Every flush and shutdown here runs the
client call on a daemon thread and waits for it at most the configured timeout; a client
that is still busy after that is abandoned, and its daemon threads cannot hold up exit.
Process exit shares one deadline: whichever exit-time flush or shutdown comes first starts
it, and all the others (the SDK providers' own exit hooks calling our ``shutdown``, in any
order) only get what is left of it. posthog's own exit hook is replaced by ours.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.exporter.posthog._config import Settings
from opentelemetry.exporter.posthog._mapping import PostHogEvent

_logger = logging.getLogger("opentelemetry.exporter.posthog")

# Part of each budget kept for the flush thread to notice it is over and report back, so
# that the caller's wait, not only the client's, ends within the budget.
_GRACE_S = 0.05
# Per-client settings chosen for "never in the way": one retry, compressed batches.
_MAX_RETRIES = 1


def run_bounded(
    fn: Callable[[], Any],
    timeout_s: float,
    name: str,
    *,
    without_thread: Callable[[], Any] | None = None,
) -> bool:
    """Run ``fn`` on a daemon thread; wait at most ``timeout_s``. True if it finished.

    A call still running after the deadline is left behind on its daemon thread, which
    cannot delay process exit. Where no thread can be started (some Python versions refuse
    during exit hooks), ``without_thread``, which must bound itself, runs inline instead.
    """
    done = threading.Event()

    def guarded(call: Callable[[], Any]) -> None:
        try:
            call()
        except Exception as exc:  # never let a client bug escape into the host program
            _logger.warning("PostHog %s failed: %s", name, type(exc).__name__)
        finally:
            done.set()

    thread = threading.Thread(target=guarded, args=(fn,), name=f"otel-posthog-{name}", daemon=True)
    try:
        thread.start()
    except RuntimeError:  # "can't create new thread at interpreter shutdown"
        if without_thread is None:
            return False
        guarded(without_thread)
        return True
    return done.wait(max(0.0, timeout_s))


@dataclass
class _Shared:
    """One client and the bookkeeping of the exporters using it."""

    settings: Settings
    client: Any
    refs: int = 0
    drop_warned: bool = False
    failed_batches: int = 0  # batches the client gave up on (it tells ``on_error``)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note_failure(self, _error: Exception, _batch: Any) -> None:
        """posthog's ``on_error``, on its consumer thread: a batch was not delivered."""
        with self.lock:
            self.failed_batches += 1


_registry: dict[tuple[str, str], _Shared] = {}
_registry_lock = threading.Lock()
_exit_hook_registered = False
_exit_deadline: float | None = None


def _exiting() -> bool:
    # During atexit callbacks the main thread is already marked stopped.
    return _exit_deadline is not None or not threading.main_thread().is_alive()


def _budget(timeout_s: float) -> float:
    """Seconds this flush or shutdown may take: its own timeout, capped by the exit deadline."""
    global _exit_deadline
    if not _exiting():
        return timeout_s
    now = time.monotonic()
    with _registry_lock:
        if _exit_deadline is None:
            _exit_deadline = now + timeout_s
        deadline = _exit_deadline
    return max(0.0, min(timeout_s, deadline - now))


def _build_client(settings: Settings, on_error: Callable[[Exception, Any], None] | None = None) -> Any:
    # Imported here: posthog costs ~190 ms to import, which a disabled exporter never pays.
    from posthog import Posthog

    posthog_logger = logging.getLogger("posthog")
    previous_level = posthog_logger.level
    try:
        client = Posthog(
            settings.api_key,
            host=settings.host,
            timeout=settings.timeout_s,
            max_retries=_MAX_RETRIES,
            gzip=True,
            max_queue_size=settings.max_queue_size,
            disable_geoip=True,
            enable_exception_autocapture=False,
            on_error=on_error,
        )
    finally:
        # The constructor sets the "posthog" logger's level; the host application owns it.
        posthog_logger.setLevel(previous_level)
    # posthog's exit hook flushes on its own clock, and may run before the OpenTelemetry
    # providers' hooks have handed us their last data; ours (below) shares the exporters'
    # deadline. posthog offers no public way to opt out, hence the private bound method,
    # looked up defensively: if a release renames it, its hook simply stays (it is bounded).
    hook = getattr(client, "_atexit", None)
    if callable(hook):
        atexit.unregister(hook)
    return client


def _flush_client(client: Any, budget_s: float, name: str) -> bool:
    """Ask ``client`` to send what it holds; True if its queue drained within ``budget_s``."""
    drained = [False]
    flush_budget = max(0.0, budget_s - _GRACE_S)

    def flush() -> None:
        started = time.monotonic()
        client.flush(timeout_seconds=flush_budget)
        # The client's flush returns before its budget only once the queue is empty.
        drained[0] = time.monotonic() - started < flush_budget

    # The client's flush bounds itself, so it may also run inline.
    finished = run_bounded(flush, budget_s, name, without_thread=flush)
    return finished and drained[0]


def _close_client(shared: _Shared, budget_s: float) -> bool:
    client = shared.client
    delivered = [False]
    flush_budget = max(0.0, budget_s - _GRACE_S)

    def flush() -> None:
        started = time.monotonic()
        client.flush(timeout_seconds=flush_budget)
        delivered[0] = time.monotonic() - started < flush_budget

    def close() -> None:
        flush()
        # Quick once the queue is empty; otherwise it goes on, unbounded, on this daemon
        # thread after we stopped waiting, so that the client stops for good eventually.
        client.shutdown()

    # Inline (no thread to be had), only the self-bounded flush runs; the client's daemon
    # consumer threads then simply end with the process.
    run_bounded(close, budget_s, "shutdown", without_thread=flush)
    if not delivered[0]:
        _logger.warning(
            "PostHog exporter shutdown ran out of time (%.1f s allowed) with events still "
            "queued or in flight; they are abandoned.",
            budget_s,
        )
        return False
    return True


def _flush_all_at_exit() -> None:
    """Exit hook: one bounded flush of every live client (their consumers are daemons)."""
    try:
        _flush_live_clients()
    except Exception as exc:  # an exit hook must not print a traceback into the host's exit
        _logger.warning("PostHog exporter exit flush failed: %s", type(exc).__name__)


def _flush_live_clients() -> None:
    with _registry_lock:
        entries = list(_registry.values())
    if not entries:
        return
    budget = _budget(max(entry.settings.timeout_s for entry in entries))
    for entry in entries:
        remaining = max(0.0, min(budget, (_exit_deadline or 0.0) - time.monotonic()))
        if not _flush_client(entry.client, remaining, "exit-flush"):
            _logger.warning(
                "PostHog exporter: events still queued at exit after %.1f s are abandoned.",
                entry.settings.timeout_s,
            )


def _reset_lock_after_fork() -> None:
    global _registry_lock
    # A lock held by another thread at fork time would stay locked forever in the child.
    _registry_lock = threading.Lock()
    for entry in _registry.values():
        entry.lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_lock_after_fork)


class ClientLease:
    """One exporter's handle on the shared client: enqueue, flush, release (once)."""

    def __init__(self, shared: _Shared) -> None:
        self._shared = shared
        self._released = False
        self._dropped = 0
        self._capture_failed = False
        self._failures_seen = shared.failed_batches

    @property
    def dropped_events(self) -> int:
        return self._dropped

    @property
    def client(self) -> Any:
        return self._shared.client

    def capture(self, event: PostHogEvent) -> bool:
        """Enqueue ``event`` without blocking; False (and counted) if the client refused it."""
        if self._released:
            self._note_drop()
            return False
        try:
            accepted = self._shared.client.capture(
                event.event,
                distinct_id=event.distinct_id,
                properties=event.properties,
                timestamp=event.timestamp,
                uuid=event.uuid,
            )
        except Exception as exc:
            accepted = None
            if not self._capture_failed:
                self._capture_failed = True
                _logger.warning("PostHog capture of %r failed: %s", event.event, type(exc).__name__)
        if accepted is None:
            self._note_drop()
            return False
        return True

    def _note_drop(self) -> None:
        shared = self._shared
        with shared.lock:
            self._dropped += 1
            first = not shared.drop_warned
            shared.drop_warned = True
        if first:
            _logger.warning(
                "PostHog exporter queue is full (max_queue_size=%d) or closed: dropping events. "
                "Further drops are not logged; they are counted in dropped_events.",
                shared.settings.max_queue_size,
            )

    def flush(self, timeout_s: float) -> bool:
        """True when what was enqueued so far was sent: the queue drained within the budget and
        no batch failed since this lease's previous flush (a failure is counted against every
        lease of the client: a caller that keeps what it could not confirm may send it twice,
        and PostHog deduplicates it by event uuid)."""
        if self._released:
            return True
        drained = _flush_client(self._shared.client, _budget(timeout_s), "flush")
        failures = self._shared.failed_batches
        delivered = drained and failures == self._failures_seen
        self._failures_seen = failures
        return delivered

    def release(self, timeout_s: float) -> bool:
        """Stop using the client; the last user shuts it down within ``timeout_s``. Idempotent."""
        shared = self._shared
        with _registry_lock:
            if self._released:
                return True
            self._released = True
            shared.refs -= 1
            last = shared.refs <= 0
            if last:
                key = (shared.settings.host, shared.settings.api_key)
                if _registry.get(key) is shared:
                    del _registry[key]
        if not last:
            # The client stays up for the other exporters; the last one (or the exit hook)
            # flushes what this one enqueued, so this shutdown costs nothing.
            return True
        return _close_client(shared, _budget(timeout_s))


def acquire(settings: Settings) -> ClientLease | None:
    """A lease on the client for ``settings``' host and key, built on first use."""
    global _exit_hook_registered
    key = (settings.host, settings.api_key)
    with _registry_lock:
        shared = _registry.get(key)
        if shared is None:
            shared = _Shared(settings=settings, client=None)
            try:
                shared.client = _build_client(settings, shared.note_failure)
            except Exception as exc:
                _logger.error("PostHog exporter disabled: client could not start (%s).", type(exc).__name__)
                return None
            _registry[key] = shared
            if not _exit_hook_registered:
                atexit.register(_flush_all_at_exit)
                _exit_hook_registered = True
        shared.refs += 1
        return ClientLease(shared)


def shared_client_count() -> int:
    """How many shared clients are live (for tests and diagnostics)."""
    with _registry_lock:
        return len(_registry)
