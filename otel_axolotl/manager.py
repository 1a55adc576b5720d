"""TelemetryManager: the Axolotl-compatible facade, one per process.

It keeps the public surface of Axolotl's manager (``get_instance()``, ``enabled``, ``run_id``,
``send_event``, ``send_system_info``, ``shutdown``) so existing call sites keep working, and
reads top-down:

    Settings (environment, or given)  ->  consent  ->  plan (pure: which destinations, which level)
        ->  runtime (``runtime.Runtime``: built only when the plan has a destination)
            or the no-op runtime (``host.NoopRuntime``: nothing built, every call returns at once)

Everything the runtime sends is OpenTelemetry data that passes the privacy stage. Processes:
a forked child (a DataLoader worker) never exports (``forksafe``): there the facade drops to
the no-op runtime; a rank started by a launcher is exec'd, not forked, and builds its own
manager. Ranks: every rank of a distributed run derives the same run id (one trace); the rank
strategy (OTEL_AXOLOTL_RANKS) decides which ranks export to observability destinations;
product telemetry always comes from the main rank only.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from . import plan as _plan
from . import ranks
from . import settings as _s
from .consent import ConsentDecision, decide, honour_withdrawal, read_recorded_choice, show_notice
from .forksafe import after_fork_in_child
from .host import NOOP, NoopRuntime, OpenRun

if TYPE_CHECKING:
    from opentelemetry.metrics import Meter
    from opentelemetry.trace import Span, Tracer

    from .destinations import Destination
    from .instruments import TrainingInstruments
    from .pipeline import Pipeline
    from .runtime import Runtime

_logger = logging.getLogger("otel_axolotl")

_default: TelemetryManager | None = None
_default_lock = threading.Lock()


class TelemetryManager:
    """Decides where telemetry goes and emits spans, metrics and events for one run.

    ``TelemetryManager()`` with no arguments is the process's manager (``get_instance()``),
    as in Axolotl; with arguments it is a private one (tests, embedders)."""

    _initialised = False

    def __new__(cls, *args: Any, **kwargs: Any) -> TelemetryManager:
        if not args and not kwargs:
            return get_default()
        return super().__new__(cls)

    def __init__(
        self,
        settings: _s.Settings | None = None,
        *,
        product_telemetry: bool | None = None,
        posthog_api_key: str | None = None,
        library_name: str | None = None,
        library_version: str | None = None,
        destinations: Sequence[Destination] | None = None,
        extra_destinations: Sequence[Destination] = (),
        env: Mapping[str, str] | None = None,
        show_consent_notice: bool = True,
    ) -> None:
        if self._initialised:  # TelemetryManager() returned the process's manager: built already
            return
        self._initialised = True
        self.settings = s = settings if settings is not None else _s.Settings.from_env(env)
        self.rank: ranks.RankInfo = s.rank
        self.run_id: str = s.run_id or s.shared_run_id or uuid.uuid4().hex
        if self.rank.distributed and not s.run_id and s.shared_run_id is None:
            _s.warn_once(
                "run_id:ranks",
                "otel-axolotl: the launcher names no job (rendezvous id, SLURM step, MPI job, or "
                "on one node MASTER_PORT), so each rank has its own run id and trace; pass torchrun "
                "a --rdzv-id per launch, or set %s to "
                "one value for every rank (`otel-axolotl run` does).",
                _s.OTEL_AXOLOTL_RUN_ID,
            )
        self.library_name = library_name
        self.library_version = library_version
        self._closed = False
        self._forked = False
        self._runtime: Runtime | NoopRuntime = NOOP

        api_key = posthog_api_key or s.posthog_api_key
        needs_file = s.consent is None and product_telemetry is None
        self.consent: ConsentDecision = decide(
            s,
            code_choice=product_telemetry,
            recorded=read_recorded_choice(s.config_file) if needs_file and api_key else None,
            env=os.environ if env is None else env,
        )
        if self.consent.explicit and not self.consent.product_telemetry:
            honour_withdrawal(self.consent, settings=s)  # withdrawn consent: drop the unsent PostHog spool
        if show_consent_notice and _plan.needs_notice(s, self.consent, api_key):
            show_notice(s.notice_seconds)
        self.plan = _plan.plan(s, self.consent, api_key=api_key)
        if self.consent.product_telemetry and self.plan.skipped.get("posthog") == _plan.NO_KEY:
            _s.warn_once(
                "posthog:key",
                "otel-axolotl: product telemetry is enabled but no PostHog project key is set "
                "(%s or init(posthog_api_key=...)); the PostHog destination is off.",
                _s.OTEL_AXOLOTL_POSTHOG_API_KEY,
            )
        self.product_telemetry = self.plan.product_telemetry
        built = [] if s.sdk_disabled else self._build(destinations, extra_destinations)
        if built:
            from .runtime import Runtime, resource_attributes

            self._runtime = Runtime(
                s,
                built,
                run_id=self.run_id,
                resource=resource_attributes(s, self.run_id, library_name, library_version),
                exit_hooks=self,
            )
        after_fork_in_child(self._after_fork_in_child)

    def _build(
        self, destinations: Sequence[Destination] | None, extra: Sequence[Destination]
    ) -> list[Destination]:
        """The planned destinations, built (tests and embedders may replace them)."""
        if destinations is not None:
            return [*destinations, *extra]
        if self.settings.debug:
            from .destinations import debug

            return [debug(p) for p in self.plan.destinations] + list(extra)
        built = []
        for planned in self.plan.destinations:
            try:
                destination = planned.build()
            except Exception as exc:  # a broken destination must not stop training or the others
                _s.warn_once(
                    f"build:{planned.name}", "otel-axolotl: the %s destination is off: %s", planned.name, exc
                )
                continue
            if destination is not None:
                built.append(destination)
        return built + list(extra)

    # -- state -----------------------------------------------------------------------------
    @property
    def enabled(self) -> bool:
        """Axolotl's meaning: product telemetry is on for this process."""
        return self.product_telemetry and not self._closed

    @property
    def active(self) -> bool:
        """Any destination at all; False means every call is a no-op."""
        return self._runtime.active and not self._closed

    @property
    def destinations(self) -> list[str]:
        return list(self._runtime.destinations)

    @property
    def tracer(self) -> Tracer:
        return self._runtime.tracer

    @property
    def meter(self) -> Meter:
        return self._runtime.meter

    @property
    def instruments(self) -> TrainingInstruments:
        return self._runtime.instruments

    @property
    def run_span(self) -> Span | None:
        return self._runtime.run_span

    @property
    def _lock(self) -> threading.RLock | None:
        """The runtime's lock (None on the no-op runtime)."""
        return getattr(self._runtime, "lock", None)

    @property
    def _pipeline(self) -> Pipeline | None:
        """The runtime's pipeline, for tests that wait on it (None when nothing is enabled)."""
        return getattr(self._runtime, "pipeline", None)

    # -- the run, events: delegated to the runtime --------------------------------------------
    def start_run(self, attributes: Mapping[str, Any] | None = None) -> Span | None:
        """Start (once) the run span: the root of the run's trace, or, on a non-zero rank of a
        distributed run, a child of rank 0's run span (see ``runtime``)."""
        return None if self._closed else self._runtime.start_run(attributes)

    def end_run(self, status: str = "completed", error: BaseException | None = None) -> None:
        """End the run span once: completed, failed (with the sanitized error) or interrupted."""
        self._runtime.end_run(status, error)

    def send_event(
        self,
        event_type: str,
        properties: Mapping[str, Any] | None = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> None:
        """Emit one event. ``properties`` is free-form (the event body, scrubbed key by key);
        ``attributes`` must be registered names. Never raises."""
        if not self._closed:
            self._runtime.send_event(event_type, properties, attributes)

    def send_system_info(self) -> None:
        """The ``system-info`` event, once per run."""
        if not self._closed:
            self._runtime.send_system_info()

    def track_run(self, recorder: OpenRun) -> None:
        self._runtime.track_run(recorder)

    def untrack_run(self, recorder: OpenRun) -> None:
        self._runtime.untrack_run(recorder)

    def interrupt(self, status: str = "interrupted") -> None:
        """End every open run as ``status``: each recorder's ``train-end`` event and the run span."""
        self._runtime.interrupt(status)

    def handle_signal(self, signum: int, *, fatal: bool) -> None:
        """Called by the signal handler (main thread) before the previous handler runs: end the
        open run as interrupted, then flush or, if the signal ends the process, shut down."""
        if not self._closed:
            self._runtime.handle_signal(signum, fatal=fatal)

    # -- lifecycle --------------------------------------------------------------------------
    def force_flush(self, timeout: float | None = None) -> bool:
        if self._closed:
            return True
        return self._runtime.force_flush(self.settings.shutdown_timeout if timeout is None else timeout)

    def shutdown(self, timeout: float | None = None) -> bool:
        """Flush and stop every destination within ``timeout`` seconds in total (default
        OTEL_AXOLOTL_SHUTDOWN_TIMEOUT, 2 s). Safe to call twice; never raises."""
        if self._closed:
            return True
        self._closed = True
        return self._runtime.shutdown(self.settings.shutdown_timeout if timeout is None else timeout)

    def _after_fork_in_child(self) -> None:
        """In a forked child (a DataLoader worker): the no-op runtime, for good (``forksafe``).
        ``get_default()`` keeps returning this manager unless the child is another rank."""
        self._forked = True
        self._closed = True
        self._runtime = NOOP

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
            manager = object.__new__(TelemetryManager)
            manager.__init__(**kwargs)  # type: ignore[misc]
            _default = manager
        return _default


def _stale(manager: TelemetryManager) -> bool:
    """Shut down, or inherited through fork by a process that is a different rank (a forked
    DataLoader worker is the same rank and keeps the inactive inherited manager)."""
    if manager._forked:
        return ranks.detect(os.environ) != manager.rank
    return manager._closed


def current() -> TelemetryManager | None:
    return _default


def _reinit_after_fork() -> None:
    global _default_lock
    _default_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reinit_after_fork)


def reset_default() -> None:
    """Forget the process's manager after shutting it down (tests, or a second run)."""
    global _default
    with _default_lock:
        manager, _default = _default, None
    if manager is not None:
        manager.shutdown()
