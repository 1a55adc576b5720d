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
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from . import coerce, ranks
from . import plan as _plan
from . import settings as _s
from ._logging import POSTHOG_LOGGER as POSTHOG_LOGGER  # where tests look for it
from .consent import ConsentDecision, discard_product_spool, settle
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
        self._init_arguments: dict[str, Any] = {
            "product_telemetry": product_telemetry,
            "posthog_api_key": posthog_api_key,
            "library_name": library_name,
            "library_version": library_version,
        }
        self.settings = s = settings if settings is not None else _s.Settings.from_env(env)
        self.rank: ranks.RankInfo = s.rank
        self.run_id: str = ranks.choose_run_id(s.run_id, s.shared_run_id, s.rank)
        self.library_name = library_name
        self.library_version = library_version
        self._closed = False
        self._forked = False
        self._runtime: Runtime | NoopRuntime = NOOP

        api_key = posthog_api_key or s.posthog_api_key
        notice = show_consent_notice
        self.consent: ConsentDecision = settle(
            s, code_choice=product_telemetry, api_key=api_key, env=env, show_consent_notice=notice
        )
        self.plan = _plan.plan(s, self.consent, api_key=api_key)
        if self.consent.product_telemetry and self.plan.skipped.get("posthog") == _plan.NO_KEY:
            _s.warn_once(
                "posthog:key",
                "otel-axolotl: product telemetry is enabled but no PostHog project key is set "
                "(%s or init(posthog_api_key=...)); the PostHog destination is off.",
                _s.OTEL_AXOLOTL_POSTHOG_API_KEY,
            )
        self.product_telemetry = self.plan.product_telemetry
        wanted = destinations is not None or extra_destinations or self.plan.destinations
        if wanted and not s.sdk_disabled:  # else nothing is imported: the disabled path stays cheap
            if destinations is not None:  # tests and embedders bring their own
                built = [*destinations, *extra_destinations]
            else:
                from .destinations import build

                built = build(self.plan, debug_mode=s.debug, extra=extra_destinations)
            if built:
                from .resource import resource_attributes
                from .runtime import Runtime

                self._runtime = Runtime(
                    s,
                    built,
                    run_id=self.run_id,
                    resource=resource_attributes(s, self.run_id, library_name, library_version),
                    exit_hooks=self,
                )
        after_fork_in_child(self._after_fork_in_child)

    # -- state -----------------------------------------------------------------------------
    @property
    def enabled(self) -> bool:
        """Axolotl's meaning: product telemetry is on for this process."""
        return self.product_telemetry and not self._closed

    @property
    def closed(self) -> bool:
        """Shut down (or a forked child's inert copy): every call is a no-op, for good."""
        return self._closed

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
        return None if self._closed else self._runtime.start_run(coerce.attributes(attributes))

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
        ``attributes`` must be registered names. Every value is made plain and the body bounded
        here (``coerce``), before the privacy stage and any queue. Never raises."""
        if self._closed:
            return
        try:
            body, truncated = coerce.event_body(properties)
            plain_attributes = coerce.attributes(attributes)
        except Exception:  # coerce never raises; this guard keeps the promise of the docstring
            _logger.debug("otel-axolotl: event %s dropped: its values could not be read", exc_info=True)
            return
        if truncated:
            _s.warn_once(
                f"event:truncated:{event_type}",
                "otel-axolotl: a %s event was over %d KiB; its largest values were replaced by "
                "[TRUNCATED:<bytes>] markers.",
                event_type,
                coerce.MAX_EVENT_BYTES // 1024,
            )
        self._runtime.send_event(event_type, body, plain_attributes)

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
        open run as interrupted, then flush or, if the signal ends the process, shut down.
        During the exit flush (``shutdown`` under way) the runtime spools what is in memory."""
        self._runtime.handle_signal(signum, fatal=fatal)

    def spool_in_memory(self) -> None:
        """A second signal while the first is handled: keep what is in memory, the process is
        about to die. Never raises."""
        self._runtime.spool_in_memory()

    # -- lifecycle --------------------------------------------------------------------------
    def force_flush(self, timeout: float | None = None) -> bool:
        if self._closed:
            return True
        return self._runtime.force_flush(self.settings.shutdown_timeout if timeout is None else timeout)

    def note_error(self, error: BaseException) -> None:
        """An error was reported during the open run: if nothing completes the run, it failed."""
        self._runtime.note_error(error)

    def shutdown(self, timeout: float | None = None) -> bool:
        """Flush and stop every destination within ``timeout`` seconds in total (default
        OTEL_AXOLOTL_SHUTDOWN_TIMEOUT, 2 s). Once shut, shut for good: the process's manager
        is not rebuilt by ``get_instance()`` or ``init()``. Safe to call twice (the second
        call does and prints nothing); never raises."""
        if self._closed:
            return True
        self._closed = True
        return self._runtime.shutdown(self.settings.shutdown_timeout if timeout is None else timeout)

    def reconcile(self, arguments: Mapping[str, Any]) -> None:
        """A later ``init()``: its arguments cannot rebuild what is running. Say once what is
        ignored (names only: a key is a secret); a request to stop product telemetry is
        always honoured."""
        if arguments.get("product_telemetry") is False:
            self._withdraw_product_telemetry()
        given = getattr(self, "_init_arguments", {})
        ignored = sorted(
            name
            for name, value in arguments.items()
            if not (name == "product_telemetry" and value is False) and given.get(name) != value
        )
        if ignored:
            _s.warn_once(
                "init:ignored:" + ",".join(ignored),
                "otel-axolotl: init() was called again with other %s; the first call's stand "
                "(this process's telemetry is already set up), these are ignored.",
                ", ".join(ignored),
            )

    def _withdraw_product_telemetry(self) -> None:
        """Stop product telemetry now: PostHog deliveries closed with their queue dropped, the
        product spool deleted (as on withdrawal). Observability destinations carry on."""
        was_on = self.product_telemetry
        self.product_telemetry = False
        self.consent = ConsentDecision(False, self.consent.explicit, self.consent.source)
        self._runtime.withdraw_product()
        discard_product_spool(settings=self.settings)
        if was_on:
            _s.warn_once(
                "init:withdrawn",
                "otel-axolotl: product telemetry turned off by init(product_telemetry=False); "
                "nothing more is sent to PostHog and its unsent spool is deleted.",
            )

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
    """Return the process's manager, building it on the first call (``init()``).

    Later calls return the same manager, also once it is shut down (no second notice, no new
    run id, nothing built inside an atexit hook); their arguments go to ``reconcile``."""
    global _default
    with _default_lock:
        existing = _default
        if existing is None or _stale(existing):
            manager = object.__new__(TelemetryManager)
            manager.__init__(**kwargs)  # type: ignore[misc]
            _default = manager
            return manager
    if kwargs:
        existing.reconcile(kwargs)
    return existing


def _stale(manager: TelemetryManager) -> bool:
    """Inherited through fork by a process that is a different rank (a forked DataLoader
    worker is the same rank and keeps the inactive inherited manager)."""
    return manager._forked and ranks.detect(os.environ) != manager.rank


def current() -> TelemetryManager | None:
    return _default


def _reinit_after_fork() -> None:
    global _default_lock
    _default_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reinit_after_fork)


def reset_default() -> None:
    """Test-only: shut the process's manager down and forget it, so the next ``init()`` builds
    a new one (a fresh "process start"). Programs never need it: a process's manager, once
    shut, stays shut."""
    global _default
    with _default_lock:
        manager, _default = _default, None
    if manager is not None:
        manager.shutdown()
