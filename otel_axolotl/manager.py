"""TelemetryManager: one per process; decides consent, rank and destinations, owns the pipeline.

It keeps the public surface of Axolotl's manager (``get_instance()``, ``enabled``, ``run_id``,
``send_event``, ``send_system_info``, ``shutdown``) so existing call sites keep working, and
everything it sends is OpenTelemetry data that passes the privacy stage.

With no destination (no consent for product telemetry, no OTLP endpoint, no console/file)
nothing is built: no SDK provider, no thread, no socket; every call returns at once.

Processes: a forked child (a DataLoader worker) never exports: the manager turns inactive
there and every exporter drops what a child hands it (``forksafe``); a rank started by a
launcher is exec'd, not forked, and builds its own manager. Signals: SIGTERM/SIGINT end the
open run as ``interrupted`` and flush before the previous handler runs (``signals``).
Ranks: every rank of a distributed run derives the same run id (one trace), and the rank
strategy (OTEL_AXOLOTL_RANKS) decides which ranks export to observability destinations;
product telemetry always comes from the main rank only.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import platform
import sys
import threading
import time
import uuid
import weakref
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from . import ranks
from . import settings as _s
from .consent import ConsentDecision, decide, honour_withdrawal, read_recorded_choice, show_notice
from .version import __version__

if TYPE_CHECKING:
    from . import destinations as _dest

_logger = logging.getLogger("otel_axolotl")

_default: TelemetryManager | None = None
_default_lock = threading.Lock()


class TelemetryManager:
    """Decides where telemetry goes and emits spans, metrics and events for one run."""

    def __init__(
        self,
        settings: _s.Settings | None = None,
        *,
        product_telemetry: bool | None = None,
        posthog_api_key: str | None = None,
        library_name: str | None = None,
        library_version: str | None = None,
        destinations: Sequence[_dest.Destination] | None = None,
        extra_destinations: Sequence[_dest.Destination] = (),
        env: Mapping[str, str] | None = None,
        show_consent_notice: bool = True,
    ) -> None:
        env = os.environ if env is None else env
        self.settings = settings if settings is not None else _s.Settings.from_env(env)
        self.rank = ranks.detect(env)
        self.rank_strategy = _s.parse_choice(
            env, _s.OTEL_AXOLOTL_RANKS, _s.RANK_STRATEGIES, _s.DEFAULT_RANK_STRATEGY
        )
        shared = None if self.settings.run_id else ranks.shared_run_id(env, self.rank)
        self.run_id: str = self.settings.run_id or shared or uuid.uuid4().hex
        if self.rank.distributed and not self.settings.run_id and shared is None:
            _s.warn_once(
                "run_id:ranks",
                "otel-axolotl: the launcher names no job (rendezvous id, SLURM step, MPI job, or "
                "MASTER_ADDR/MASTER_PORT), so each rank has its own run id and trace; set %s to "
                "one value for every rank (`otel-axolotl run` does).",
                _s.OTEL_AXOLOTL_RUN_ID,
            )
        # Rank 0's first run span in a distributed run gets this id; other ranks parent on it.
        self._run_span_id = ranks.run_span_id(self.run_id, env) if self.rank.distributed else None
        self._run_span_id_used = False
        self._signals = _s.parse_bool(env, _s.OTEL_AXOLOTL_SIGNALS, True)
        self.library_name = library_name
        self.library_version = library_version
        # Re-entrant: a signal handler runs on the main thread, maybe while it holds the lock.
        self._lock = threading.RLock()
        self._closed = False
        self._forked = False
        self._recorders: weakref.WeakSet[Any] = weakref.WeakSet()
        self._ids: _PinnableSpanIds | None = None
        self._pipeline: Any = None
        self._tracer: Any = None
        self._event_logger: Any = None
        self._meter: Any = None
        self._instruments: Any = None
        self._run_span: Any = None
        self._system_info_sent = False
        self.whitelist: Any = None

        api_key = posthog_api_key or self.settings.posthog_api_key
        needs_file = self.settings.consent is None and product_telemetry is None
        self.consent: ConsentDecision = decide(
            self.settings,
            code_choice=product_telemetry,
            recorded=read_recorded_choice() if needs_file and api_key else None,
            env=env,
        )
        if self.consent.explicit and not self.consent.product_telemetry:
            honour_withdrawal(self.consent, env)  # withdrawn consent: drop the unsent PostHog spool
        if (
            not self.consent.explicit
            and api_key
            and self.rank.is_main
            and show_consent_notice
            and not self.settings.sdk_disabled
        ):
            show_notice(self.settings.notice_seconds)

        plans = [] if self.settings.sdk_disabled else self._plan(api_key)
        self.product_telemetry = any(p.product_analytics for p in plans)
        if destinations is not None:  # tests and embedders replace the planned destinations
            built = list(destinations)
        elif self.settings.debug:
            from .destinations import debug

            built = [debug(p) for p in plans]
        else:
            built = [d for d in (self._build(p) for p in plans) if d is not None]
        built += extra_destinations
        if self.settings.sdk_disabled:
            built = []
        if built:
            self._start_pipeline(built)
        if hasattr(os, "register_at_fork"):
            at_fork = weakref.WeakMethod(self._after_fork_in_child)

            def _after_in_child() -> None:
                method = at_fork()
                if method is not None:
                    method()

            os.register_at_fork(after_in_child=_after_in_child)

    # -- decisions -------------------------------------------------------------------------
    def _plan(self, api_key: str | None) -> list[_dest.Plan]:
        s = self.settings
        plans: list[_dest.Plan] = []
        if not (self.consent.product_telemetry or s.otlp or s.console or s.file):
            return plans  # nothing wanted: the destination and privacy modules are never imported
        from . import destinations as _dest
        from .privacy.values import Level

        if self.consent.product_telemetry and self.rank.is_main:
            if not api_key:
                _s.warn_once(
                    "posthog:key",
                    "otel-axolotl: product telemetry is enabled but no PostHog project key is set "
                    "(%s or init(posthog_api_key=...)); the PostHog destination is off.",
                    _s.OTEL_AXOLOTL_POSTHOG_API_KEY,
                )
            elif s.posthog_host:
                plans.append(
                    _dest.Plan(
                        "posthog",
                        Level.STRICT,
                        frozenset({"traces", "logs"}),
                        lambda: _dest.posthog(s, api_key),
                        product_analytics=True,
                    )
                )
        level = Level(s.privacy)
        if not self.rank.exports(self.rank_strategy):  # OTEL_AXOLOTL_RANKS: not this rank
            return plans
        if s.otlp:
            plans.append(_dest.Plan("otlp", level, frozenset(s.otlp), lambda: _dest.otlp(s)))
        if s.console:
            plans.append(_dest.Plan("console", level, frozenset(_s.SIGNALS), lambda: _dest.console(level)))
        if s.file:
            path = s.file
            plans.append(_dest.Plan("file", level, frozenset(_s.SIGNALS), lambda: _dest.file(path, level)))
        return plans

    @staticmethod
    def _build(plan: _dest.Plan) -> _dest.Destination | None:
        try:
            return plan.build()
        except Exception as exc:  # a broken destination must not stop training or the others
            _s.warn_once(f"build:{plan.name}", "otel-axolotl: the %s destination is off: %s", plan.name, exc)
            return None

    def _resource_attributes(self) -> dict[str, Any]:
        from . import semconv as sc

        attrs: dict[str, Any] = {
            sc.ATTR_SERVICE_NAME: self.settings.service_name,
            sc.ATTR_SERVICE_VERSION: self.library_version or __version__,
            sc.ATTR_SERVICE_INSTANCE_ID: uuid.uuid4().hex,
            sc.ATTR_TELEMETRY_DISTRO_NAME: "otel-axolotl",
            sc.ATTR_TELEMETRY_DISTRO_VERSION: __version__,
            sc.ATTR_RUN_ID: self.run_id,
            sc.ATTR_RANK: self.rank.rank,
            sc.ATTR_LOCAL_RANK: self.rank.local_rank,
            sc.ATTR_WORLD_SIZE: self.rank.world_size,
            sc.ATTR_PROCESS_RUNTIME_NAME: sys.implementation.name,
            sc.ATTR_PROCESS_RUNTIME_VERSION: platform.python_version(),
            sc.ATTR_OS_TYPE: sys.platform if sys.platform != "win32" else "windows",
            sc.ATTR_HOST_ARCH: platform.machine().lower(),
        }
        if self.library_name:
            attrs[sc.ATTR_LIBRARY_NAME] = self.library_name
        if self.library_version:
            attrs[sc.ATTR_LIBRARY_VERSION] = self.library_version
        return attrs

    def _start_pipeline(self, built: list[_dest.Destination]) -> None:
        from opentelemetry.sdk.resources import Resource

        from .forksafe import guard
        from .pipeline import Pipeline
        from .privacy.whitelist import Whitelist

        self.whitelist = Whitelist.load(self.settings.whitelist_path)
        resource = Resource.create(self._resource_attributes())
        self._pipeline = Pipeline(
            [guard(d) for d in built],
            resource,
            self.run_id,
            self.whitelist,
            self.settings.metric_interval_millis,
        )
        provider = self._pipeline.tracer_provider
        if self._run_span_id is not None:  # before get_tracer: tracers keep the provider's generator
            self._ids = _PinnableSpanIds(provider.id_generator)
            provider.id_generator = self._ids
        self._tracer = provider.get_tracer("otel_axolotl", __version__)
        self._meter = self._pipeline.meter_provider.get_meter("otel_axolotl", __version__)
        self._event_logger = self._pipeline.logger_provider.get_logger("otel_axolotl", __version__)
        if self.settings.hardware_metrics:
            try:
                from .hardware import register_observables

                register_observables(self._meter, self.rank)
            except Exception:
                _logger.debug("otel-axolotl: hardware metrics unavailable", exc_info=True)
        atexit.register(self.shutdown)
        if self._signals:
            from . import signals

            signals.install(self)

    # -- state -----------------------------------------------------------------------------
    @property
    def enabled(self) -> bool:
        """Axolotl's meaning: product telemetry is on for this process."""
        return self.product_telemetry and not self._closed

    @property
    def active(self) -> bool:
        """Any destination at all; False means every call is a no-op."""
        return self._pipeline is not None and not self._closed

    @property
    def destinations(self) -> list[str]:
        return [d.name for d in self._pipeline.destinations] if self._pipeline is not None else []

    @property
    def tracer(self) -> Any:
        if self._tracer is None:
            from opentelemetry.trace import NoOpTracer

            self._tracer = NoOpTracer()
        return self._tracer

    @property
    def meter(self) -> Any:
        if self._meter is None:
            from opentelemetry.metrics import NoOpMeter

            self._meter = NoOpMeter("otel_axolotl")
        return self._meter

    @property
    def instruments(self) -> Any:
        """The training instruments (lazily: a run that never trains never creates them)."""
        if self._instruments is None:
            from . import semconv as sc
            from .instruments import TrainingInstruments

            self._instruments = TrainingInstruments(self.meter, {sc.ATTR_RANK: self.rank.rank})
        return self._instruments

    # -- the run span ------------------------------------------------------------------------
    def start_run(self, attributes: Mapping[str, Any] | None = None) -> Any:
        """Start (once) the run span: the root of the run's trace, or, on a non-zero rank of a
        distributed run, a child of rank 0's run span (see ``_run_parent_context``).

        It is deliberately not attached as the current context: hooks run in whatever order
        and thread the framework chooses, and a detach out of order would leave an ended span
        current. Integrations pass it as the explicit parent instead (``run_span``).
        """
        if not self.active:
            return None
        from . import semconv as sc

        with self._lock:
            if self._run_span is None:
                attrs = {
                    sc.ATTR_RUN_ID: self.run_id,
                    sc.ATTR_RANK: self.rank.rank,
                    sc.ATTR_WORLD_SIZE: self.rank.world_size,
                }
                attrs.update(attributes or {})
                parent = self._run_parent_context()
                try:
                    self._run_span = self.tracer.start_span(sc.SPAN_RUN, context=parent, attributes=attrs)
                finally:
                    if self._ids is not None:
                        self._ids.unpin()
            elif attributes:
                self._run_span.set_attributes(dict(attributes))
            return self._run_span

    def _run_parent_context(self) -> Any:
        """Where the run span goes: a root in a single-process run; in a distributed run, rank
        0's first run span gets the id derived from the run id (``ranks.run_span_id``) and every
        other rank's run span is its child, so the whole run is one tree in one trace."""
        from opentelemetry import context, trace
        from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

        if self._run_span_id is None:
            return context.Context()
        if not self.rank.is_main:
            remote = SpanContext(
                int(self.run_id, 16),
                self._run_span_id,
                is_remote=True,
                trace_flags=TraceFlags(TraceFlags.SAMPLED),
            )
            return trace.set_span_in_context(NonRecordingSpan(remote), context.Context())
        if not self._run_span_id_used and self._ids is not None:
            self._run_span_id_used = True  # a second run in this process gets a random id
            self._ids.pin(self._run_span_id)
        return context.Context()

    @property
    def run_span(self) -> Any:
        return self._run_span

    def end_run(self, status: str = "completed", error: BaseException | None = None) -> None:
        """End the run span once: completed, failed (with the sanitized error) or interrupted."""
        self._record_pending_steps()
        with self._lock:
            span, self._run_span = self._run_span, None
        if span is None:
            return
        from opentelemetry.trace import Status, StatusCode

        from . import semconv as sc

        span.set_attribute(sc.ATTR_RUN_STATUS, status)
        if error is not None:
            span.set_attribute(sc.ATTR_ERROR_TYPE, type(error).__name__)
            span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
        elif status == "completed":
            span.set_status(Status(StatusCode.OK))
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
        """Emit one event. ``properties`` is free-form (the event body, scrubbed key by key);
        ``attributes`` must be registered names. Never raises."""
        if not self.active:
            return
        try:
            from opentelemetry._logs import LogRecord

            from . import semconv as sc

            now = time.time_ns()
            self._event_logger.emit(
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

    def _event_context(self) -> Any:
        """Every event belongs to the run's trace: on the current span when there is one,
        else on the run span, else (before training starts) on the run's trace id alone."""
        from opentelemetry import trace
        from opentelemetry.trace import NonRecordingSpan, SpanContext

        current = trace.get_current_span()
        if current.get_span_context().is_valid:
            return None  # the current context
        if self._run_span is not None:
            return trace.set_span_in_context(self._run_span)
        return trace.set_span_in_context(NonRecordingSpan(SpanContext(int(self.run_id, 16), 0, False)))

    def send_system_info(self) -> None:
        """The ``system-info`` event, once per run."""
        if not self.active or self._system_info_sent:
            return
        self._system_info_sent = True
        try:
            from .system_info import collect
        except ImportError:
            return
        try:
            info = collect()
        except Exception:
            _logger.debug("otel-axolotl: system info unavailable", exc_info=True)
            return
        self.send_event("system-info", info)

    # -- interruption, signals, fork ---------------------------------------------------------------
    def track_run(self, recorder: Any) -> None:
        """A recorder whose run is open: ``interrupt()`` ends it (with its ``train-end``)."""
        with self._lock:
            self._recorders.add(recorder)

    def untrack_run(self, recorder: Any) -> None:
        with self._lock:
            self._recorders.discard(recorder)

    def interrupt(self, status: str = "interrupted") -> None:
        """End every open run as ``status``: each recorder's ``train-end`` event and the run span."""
        with self._lock:
            open_runs = list(self._recorders)
        for recorder in open_runs:
            recorder.train_end(status)
        self.end_run(status)

    def handle_signal(self, signum: int, *, fatal: bool) -> None:
        """Called by the signal handler (main thread) before the previous handler runs: end the
        open run as interrupted, then flush (or, when the signal is about to end the process,
        shut down), all within OTEL_AXOLOTL_SHUTDOWN_TIMEOUT.

        The recording runs on a helper thread: the interrupted main thread may hold a lock that
        recording needs, and then the deadline, not a deadlock, ends the wait."""
        if not self.active:
            return
        from .pipeline import run_with_deadline

        timeout = self.settings.shutdown_timeout
        deadline = time.monotonic() + timeout
        run_with_deadline([[self.interrupt]], timeout, "interrupt")
        left = max(0.1, deadline - time.monotonic())
        if fatal:
            self.shutdown(left)
        else:
            self.force_flush(left)

    def _after_fork_in_child(self) -> None:
        """In a forked child (a DataLoader worker): inactive for good, fresh locks, no run.

        The parent's providers, threads and clients are left alone (the SDK restarts its own
        workers; ``forksafe`` makes their exporters drop). ``get_default()`` keeps returning
        this inactive manager unless the child turns out to be a different rank."""
        self._lock = threading.RLock()
        self._forked = True
        self._closed = True
        self._run_span = None
        self._recorders = weakref.WeakSet()
        self._tracer = self._meter = self._event_logger = self._instruments = None

    # -- lifecycle --------------------------------------------------------------------------
    def _record_pending_steps(self) -> None:
        """Step durations are recorded in batches (``instruments.record_step``): record the rest."""
        instruments = self._instruments
        if instruments is not None:
            try:
                instruments.record_pending()
            except Exception:
                _logger.debug("otel-axolotl: recording step durations failed", exc_info=True)

    def force_flush(self, timeout: float | None = None) -> bool:
        if not self.active:
            return True
        self._record_pending_steps()
        return bool(
            self._pipeline.force_flush(self.settings.shutdown_timeout if timeout is None else timeout)
        )

    def shutdown(self, timeout: float | None = None) -> bool:
        """Flush and stop every destination within ``timeout`` seconds in total (default
        OTEL_AXOLOTL_SHUTDOWN_TIMEOUT, 2 s). Safe to call twice; never raises."""
        if self._closed:
            return True
        self.end_run("interrupted")  # a run still open at exit did not complete
        with self._lock:
            if self._closed:
                return True
            self._closed = True
        with contextlib.suppress(Exception):
            atexit.unregister(self.shutdown)
        if "otel_axolotl.signals" in sys.modules:
            from . import signals

            signals.uninstall(self)
        if self._pipeline is None:
            return True
        try:
            return bool(
                self._pipeline.shutdown(self.settings.shutdown_timeout if timeout is None else timeout)
            )
        except Exception:
            _logger.debug("otel-axolotl: shutdown failed", exc_info=True)
            return False

    # -- Axolotl compatibility -----------------------------------------------------------------
    @classmethod
    def get_instance(cls) -> TelemetryManager:
        """The process's manager, created from the environment on first use."""
        return get_default()


def get_default(**kwargs: Any) -> TelemetryManager:
    """Return the process's manager, building it on the first call (``init()``)."""
    global _default
    with _default_lock:
        if _default is None or _stale(_default):
            _default = TelemetryManager(**kwargs)
        return _default


def _stale(manager: TelemetryManager) -> bool:
    """Shut down, or inherited through fork by a process that is a different rank (a forked
    DataLoader worker is the same rank and keeps the inactive inherited manager)."""
    if manager._forked:
        return ranks.detect() != manager.rank
    return manager._closed


def current() -> TelemetryManager | None:
    return _default


def _reinit_after_fork() -> None:
    global _default_lock
    _default_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reinit_after_fork)


class _PinnableSpanIds:
    """The tracer provider's id generator, plus a one-shot span id pinned by the calling
    thread: how rank 0's run span gets the id every other rank already parents on."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._pinned = threading.local()

    def pin(self, span_id: int) -> None:
        self._pinned.span_id = span_id

    def unpin(self) -> None:
        self._pinned.span_id = None

    def generate_span_id(self) -> int:
        pinned = getattr(self._pinned, "span_id", None)
        if pinned:
            self._pinned.span_id = None
            return int(pinned)
        return int(self._inner.generate_span_id())

    def generate_trace_id(self) -> int:
        return int(self._inner.generate_trace_id())

    def is_trace_id_random(self) -> bool:
        return bool(self._inner.is_trace_id_random())


def reset_default() -> None:
    """Forget the process's manager after shutting it down (tests, or a second run)."""
    global _default
    with _default_lock:
        manager, _default = _default, None
    if manager is not None:
        manager.shutdown()
