"""The running side of telemetry, built only when some destination is enabled.

It owns what a run needs while it lasts: the pipeline (providers, privacy stage, deliveries,
spool; ``pipeline.py``), its one id generator (``pipeline.RunIdGenerator``, which also pins
rank 0's run span id in a distributed run), the tracer, meter and event logger, the training
instruments, the run span and the events of the run, the hardware observers, and the exit
hooks (``atexit`` and, unless OTEL_AXOLOTL_SIGNALS=false, SIGTERM/SIGINT through
``signals``). The disabled path never imports this module: it runs on ``host.NoopRuntime``.

Run span: a child of the span active when the run starts (the user's own), else of
TRACEPARENT/TRACESTATE (``Settings.traceparent``), else a root whose trace id is the run id.
In a distributed run rank 0's first run span gets the id derived from the run id
(``ranks.run_span_id``) and every other rank's run span is its child, in TRACEPARENT's trace
when there is one, so the whole run is one tree in one trace. Events of the run attach to the
run span, never to a foreign active span. The providers are ours alone: nothing here touches
the global OpenTelemetry providers (the user's stay theirs); only their ``service.name`` is read.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import sys
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from opentelemetry import context, trace
from opentelemetry._logs import Logger, LogRecord
from opentelemetry.metrics import Meter
from opentelemetry.sdk.resources import Resource
from opentelemetry.trace import NonRecordingSpan, Span, SpanContext, Status, StatusCode, TraceFlags, Tracer

from . import ranks
from . import semconv as sc
from . import settings as _s
from .destinations import Destination
from .error_report import exception_type_name as exception_type
from .host import OpenRun
from .instruments import TrainingInstruments
from .pipeline import Pipeline, run_with_deadline
from .plan import spool_config
from .privacy.whitelist import Whitelist
from .resource import user_configured_keys
from .version import __version__

_logger = logging.getLogger("otel_axolotl")


class ExitHooks(Protocol):
    """Who the signal handler and ``atexit`` call: the manager facade."""

    def handle_signal(self, signum: int, *, fatal: bool) -> None: ...

    def shutdown(self, timeout: float | None = None) -> bool: ...

    def spool_in_memory(self) -> None: ...


def incoming_context(settings: _s.Settings) -> context.Context | None:
    """TRACEPARENT/TRACESTATE (OpenTelemetry's environment carrier) as a parent context, or
    None. A malformed value gets one warning naming the variable (never the value)."""
    if not settings.traceparent:
        return None
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    carrier = {"traceparent": settings.traceparent}
    if settings.tracestate:
        carrier["tracestate"] = settings.tracestate
    extracted = TraceContextTextMapPropagator().extract(carrier, context=context.Context())
    if not trace.get_current_span(extracted).get_span_context().is_valid:
        _s.warn_once(
            "traceparent",
            "otel-axolotl: %s is not a W3C traceparent (00-<32 hex>-<16 hex>-<2 hex>); the run "
            "starts its own trace.",
            _s.TRACEPARENT,
        )
        return None
    return extracted


class Runtime:
    """Spans, metrics and events of one process, through the pipeline to its destinations."""

    active = True

    def __init__(
        self,
        settings: _s.Settings,
        destinations: Sequence[Destination],
        *,
        run_id: str,
        resource: Mapping[str, Any],
        exit_hooks: ExitHooks,
    ) -> None:
        self.settings = settings
        self.rank = settings.rank
        self.run_id = run_id
        self.whitelist = Whitelist.load(settings.whitelist_path)
        # Resource(), not Resource.create(): that reads OTEL_RESOURCE_ATTRIBUTES from os.environ
        # itself; here it comes from the settings, with the spec's precedence.
        self.pipeline = Pipeline(
            destinations,
            Resource(dict(resource)),
            run_id,
            self.whitelist,
            settings.metric_interval_millis,
            spool=spool_config(settings),
            user_resource_keys=user_configured_keys(resource),
        )
        self._incoming = incoming_context(settings)
        self.ids = self.pipeline.ids
        # Rank 0's first run span in a distributed run gets this id; other ranks parent on it.
        self._run_span_id: int | None = (
            ranks.run_span_id(run_id, {_s.TORCHELASTIC_RESTART_COUNT: settings.restart_attempt})
            if self.rank.distributed
            else None
        )
        self.tracer: Tracer = self.pipeline.tracer_provider.get_tracer("otel_axolotl", __version__)
        self.meter: Meter = self.pipeline.meter_provider.get_meter("otel_axolotl", __version__)
        self._events: Logger = self.pipeline.logger_provider.get_logger("otel_axolotl", __version__)
        self._instruments: TrainingInstruments | None = None
        # Re-entrant: a signal handler runs on the main thread, maybe while it holds the lock.
        self.lock = threading.RLock()
        self._run_span: Span | None = None
        self.run_error: BaseException | None = None  # reported while the run is open (note_error)
        self._recorders: weakref.WeakSet[OpenRun] = weakref.WeakSet()
        self._system_info_sent = False
        if settings.hardware_metrics:
            try:
                from .hardware import register_observables

                register_observables(self.meter, self.rank, settings)
            except Exception:
                _logger.debug("otel-axolotl: hardware metrics unavailable", exc_info=True)
        # The one exit deadline (time.monotonic()) the signal path and the atexit path share:
        # set when a signal's flush ran out of time; None while no exit is under way.
        self._exit_deadline: float | None = None
        self._exiting = False  # shutdown has begun (a signal now spools and lets the process die)
        self._exit_hooks = exit_hooks
        atexit.register(exit_hooks.shutdown)
        if settings.signals:
            from . import signals

            signals.install(exit_hooks)

    @property
    def destinations(self) -> list[str]:
        return [d.name for d in self.pipeline.destinations]

    @property
    def instruments(self) -> TrainingInstruments:
        """The training instruments (lazily: a run that never trains never creates them)."""
        if self._instruments is None:
            self._instruments = TrainingInstruments(self.meter, {sc.ATTR_RANK: self.rank.rank})
        return self._instruments

    # -- the run span ------------------------------------------------------------------------
    @property
    def run_span(self) -> Span | None:
        return self._run_span

    def start_run(self, attributes: Mapping[str, Any] | None = None) -> Span | None:
        """Start (once) the run span, or add ``attributes`` to the open one.

        It is deliberately not attached as the current context: hooks run in whatever order
        and thread the framework chooses, and a detach out of order would leave an ended span
        current. Integrations pass it as the explicit parent instead (``run_span``)."""
        with self.lock:
            if self._run_span is None:
                attrs: dict[str, Any] = {
                    sc.ATTR_RUN_ID: self.run_id,
                    sc.ATTR_RANK: self.rank.rank,
                    sc.ATTR_WORLD_SIZE: self.rank.world_size,
                    **(attributes or {}),
                }
                parent = self._run_parent_context()
                try:
                    self._run_span = self.tracer.start_span(sc.SPAN_RUN, context=parent, attributes=attrs)
                finally:
                    self.ids.unpin()
            elif attributes:
                self._run_span.set_attributes(dict(attributes))
            return self._run_span

    def _run_parent_context(self) -> context.Context:
        """The user's active span (this rank only), else TRACEPARENT (every rank inherits it),
        else none: a root whose trace id is the run id. In a distributed run rank 0's run span
        gets the id derived from the run id, and every other rank's run span is its child
        (in TRACEPARENT's trace when there is one), unless that rank is inside a span of its own."""
        active = trace.get_current_span()
        user = active if active.get_span_context().is_valid else None
        parent = trace.set_span_in_context(user, context.Context()) if user is not None else self._incoming
        if self._run_span_id is None:
            return parent or context.Context()
        if not self.rank.is_main:
            if user is not None:
                return parent or context.Context()
            incoming = trace.get_current_span(self._incoming) if self._incoming is not None else None
            trace_id = incoming.get_span_context().trace_id if incoming is not None else int(self.run_id, 16)
            remote = SpanContext(
                trace_id,
                self._run_span_id,
                is_remote=True,
                trace_flags=TraceFlags(TraceFlags.SAMPLED),
            )
            return trace.set_span_in_context(NonRecordingSpan(remote), context.Context())
        self.ids.pin(self._run_span_id)
        self._run_span_id = None  # a second run in this process gets a random id
        return parent or context.Context()

    def end_run(self, status: str = "completed", error: BaseException | None = None) -> None:
        """End the run span once: completed, failed (with the sanitized error) or interrupted."""
        self._record_pending_steps()
        with self.lock:
            span, self._run_span = self._run_span, None
            self.run_error = None
        if span is None:
            return
        span.set_attribute(sc.ATTR_RUN_STATUS, status)
        # Instrumentation leaves the status UNSET on success (OK is the application's to set).
        if error is not None:
            span.set_attribute(sc.ATTR_ERROR_TYPE, exception_type(error))
            span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
        elif status == "interrupted":
            span.set_status(Status(StatusCode.ERROR, "interrupted"))
        span.end()

    # -- events -----------------------------------------------------------------------------
    def send_event(
        self,
        event_type: str,
        properties: Mapping[str, Any] | None = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> None:
        try:
            now = time.time_ns()
            self._events.emit(
                LogRecord(
                    timestamp=now,
                    observed_timestamp=now,
                    context=self._event_context(),
                    event_name=event_type,
                    body=dict(properties) if properties else {},
                    attributes={sc.ATTR_RANK: self.rank.rank, **(attributes or {})},
                )
            )
        except Exception as exc:
            _s.warn_once("send_event", "otel-axolotl: failed to send telemetry event: %s", exc)
        if event_type == "config-loaded":
            self.send_system_info()

    def _event_context(self) -> context.Context:
        """Every event of the run attaches to the run span, never to whatever span is active
        (a user's span would put the run's events in another trace). Before the run span starts
        (``config-loaded``): the run's trace alone (TRACEPARENT's, else the run id)."""
        run = self._run_span
        if run is not None:
            return trace.set_span_in_context(run, context.Context())
        incoming = trace.get_current_span(self._incoming) if self._incoming is not None else None
        trace_id = incoming.get_span_context().trace_id if incoming is not None else int(self.run_id, 16)
        return trace.set_span_in_context(NonRecordingSpan(SpanContext(trace_id, 0, False)), context.Context())

    def send_system_info(self) -> None:
        """The ``system-info`` event, once per run."""
        if self._system_info_sent:
            return
        self._system_info_sent = True
        try:
            from .system_info import collect

            info = collect(self.settings)
        except Exception:
            _logger.debug("otel-axolotl: system info unavailable", exc_info=True)
            return
        self.send_event("system-info", info)

    # -- interruption and signals ----------------------------------------------------------------
    def track_run(self, recorder: OpenRun) -> None:
        """A recorder whose run is open: ``interrupt()`` ends it (with its ``train-end``)."""
        with self.lock:
            self._recorders.add(recorder)

    def untrack_run(self, recorder: OpenRun) -> None:
        with self.lock:
            self._recorders.discard(recorder)

    def interrupt(self, status: str = "interrupted", error: BaseException | None = None) -> None:
        """End every open run as ``status``: each recorder's ``train-end`` event and the run span."""
        with self.lock:
            open_runs = list(self._recorders)
        for recorder in open_runs:
            recorder.train_end(status, error) if error is not None else recorder.train_end(status)
        self.end_run(status, error)

    def note_error(self, error: BaseException) -> None:
        """An error was reported while the run is open (``send_errors``, the excepthook): if the
        run is still open at shutdown, it failed with this error rather than being interrupted."""
        if self._run_span is not None:
            self.run_error = error

    def withdraw_product(self) -> None:
        """Product telemetry withdrawn while running: PostHog deliveries closed, their queue
        dropped (observability destinations carry on)."""
        for delivery in list(self.pipeline.deliveries):
            if delivery.destination == "posthog":
                delivery.withdraw()

    def handle_signal(self, signum: int, *, fatal: bool) -> None:
        """End the open run as interrupted, then flush (or, when the signal is about to end the
        process, shut down), all within OTEL_AXOLOTL_SHUTDOWN_TIMEOUT. A signal is a request to
        stop: from here on nothing is retried for a backend that answered (``begin_exit``).

        A signal that arrives while the exit flush runs (a scheduler's SIGTERM while ``atexit``
        waits on a silent backend) spools what is in memory at once, before the process dies.
        When this flush runs out of time, the ``atexit`` shutdown that follows (SIGINT's
        KeyboardInterrupt ends the program) gets only what is left of the same deadline: one
        deadline for the whole exit, not two.

        The recording runs on a helper thread: the interrupted main thread may hold a lock that
        recording needs, and then the deadline, not a deadlock, ends the wait."""
        if self._exiting:
            self.spool_in_memory()
            return
        timeout = self.settings.shutdown_timeout
        deadline = time.monotonic() + timeout
        self._exit_deadline = deadline
        self.pipeline.begin_exit()
        run_with_deadline([[self.interrupt]], timeout, "interrupt")
        left = max(0.1, deadline - time.monotonic())
        if fatal:
            self._exit_hooks.shutdown(left)
        elif self.force_flush(left):
            self._exit_deadline = None  # all out: a later exit gets its own deadline

    def spool_in_memory(self) -> None:
        """The process is about to die: what is queued or in flight goes to the spool now."""
        try:
            self.pipeline.spool_in_memory()
        except Exception:
            _logger.debug("otel-axolotl: spooling on a signal failed", exc_info=True)

    # -- flush and shutdown ---------------------------------------------------------------------
    def _record_pending_steps(self) -> None:
        """Step durations are recorded in batches (``instruments.record_step``): record the rest."""
        if self._instruments is not None:
            try:
                self._instruments.record_pending()
            except Exception:
                _logger.debug("otel-axolotl: recording step durations failed", exc_info=True)

    def force_flush(self, timeout: float) -> bool:
        self._record_pending_steps()
        return bool(self.pipeline.force_flush(timeout))

    def shutdown(self, timeout: float) -> bool:
        """End an open run as interrupted, then flush and stop every destination within
        ``timeout`` seconds in total (or what is left of a signal's deadline), then remove the
        exit hooks. The signal handlers stay until the flush is over, so a SIGTERM during it
        spools what is in memory before the process dies. Never raises."""
        self._exiting = True
        # A run still open at exit did not complete: it failed if an error was reported while
        # it ran (and nothing completed it since), else it was interrupted; train-end either way.
        error = self.run_error
        self.interrupt("failed" if error is not None else "interrupted", error)
        with contextlib.suppress(Exception):
            atexit.unregister(self._exit_hooks.shutdown)
        if self._exit_deadline is not None:  # a signal's flush already spent part of it
            timeout = min(timeout, max(0.05, self._exit_deadline - time.monotonic()))
        try:
            return bool(self.pipeline.shutdown(timeout))
        except Exception:
            _logger.debug("otel-axolotl: shutdown failed", exc_info=True)
            return False
        finally:
            if "otel_axolotl.signals" in sys.modules:
                from . import signals

                signals.uninstall(self._exit_hooks)
