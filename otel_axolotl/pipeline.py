"""Providers wired to destinations through the privacy stage, with bounded queues and deadlines.

The SDK's own providers register an ``atexit`` shutdown with no overall deadline (an
unreachable OTLP endpoint costs tens of seconds of retries). We build them with
``shutdown_on_exit=False`` and shut them down ourselves under one deadline, on a daemon
thread, so exit never waits longer than ``OTEL_AXOLOTL_SHUTDOWN_TIMEOUT``. And at exit no
exporter retries a backend that has answered (``begin_exit``; ``retry_watch``): its data goes
to the spool at once, so only a backend that never answers may cost that deadline.

Per destination and signal, spans and events pass the privacy stage, then a ``Delivery``
(bounded queue, counted drops, daemon worker; ``delivery.py``). What fails to export, and
what is still queued when the exit deadline passes, goes to the destination's on-disk spool
(``spool.py``), already scrubbed; the next pipeline for that destination sends it in the
background (``otel-axolotl flush`` does it on demand). Drops are the
``axolotl.telemetry.dropped`` metric. Metrics are not spooled: cumulative (by default) and
periodic, the next successful export carries the totals.

A forked child (a DataLoader worker) exports nothing: the package's one fork policy
(``forksafe``) closes every delivery there and the metric exporters keep one pid guard.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.sdk.trace.sampling import ALWAYS_ON

from . import semconv as sc
from ._metric_wrapper import GuardedMetricExporter
from .delivery import LEFTOVERS_WRITE_WAIT_S, Delivery
from .delivery_processors import DeliveryLogRecordProcessor, DeliverySpanProcessor
from .destinations import Destination
from .drops import DropCounter
from .forksafe import after_fork_in_child
from .privacy.stage import (
    PrivacyLogRecordProcessor,
    PrivacyMetricExporter,
    PrivacySpanProcessor,
    Scrubber,
)
from .privacy.values import Level
from .privacy.whitelist import Whitelist
from .replay import ReplayReport, replay_all
from .retry_watch import StopsRetryingAtExit
from .spool import SPOOLED_DESTINATIONS, Spool, SpoolConfig
from .version import __version__

_logger = logging.getLogger("otel_axolotl")

MAX_QUEUE_SIZE = 2048
"""Spans or events buffered per destination before new ones are dropped (and counted)."""
MAX_EXPORT_BATCH_SIZE = 512
SCHEDULE_DELAY_MILLIS = 1000
EXPORT_TIMEOUT_MILLIS = 5000
SPOOL_AT_EXIT_SECONDS = 1.0
"""After the exit deadline, how long writing the leftovers to the spool may take at most."""
SPOOL_RESERVE_SECONDS = 0.2
"""Of the exit deadline, kept for writing the leftovers (at most a quarter of it), so that a
backend that never answers costs the deadline in all, not the deadline plus the writing."""
REPLAY_TIMEOUT_SECONDS = 60.0
"""How long the background replay of an earlier run's spool may go on starting new files."""


class RunIdGenerator(IdGenerator):
    """Every trace this process starts is the run's trace: one run, one trace, every rank.

    A span id may be pinned for the next span the calling thread starts: how rank 0's run span
    gets the id every other rank of a distributed run already parents on (``ranks.run_span_id``).
    """

    def __init__(self, run_id: str) -> None:
        self._trace_id = int(run_id, 16)
        self._pinned = threading.local()

    def pin(self, span_id: int) -> None:
        """The next span id this thread generates is ``span_id`` (once)."""
        self._pinned.span_id = span_id

    def unpin(self) -> None:
        self._pinned.span_id = None

    def generate_span_id(self) -> int:
        pinned: int | None = getattr(self._pinned, "span_id", None)
        if pinned:
            self._pinned.span_id = None
            return pinned
        return secrets.randbits(64) or 1

    def generate_trace_id(self) -> int:
        return self._trace_id


STEP_DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
"""Seconds. The SDK's default buckets (0, 5, 10, ... s) would put every millisecond step in one."""


def metric_views() -> list[View]:
    """One View per registered metric: its registered attributes only become dimensions.

    An unregistered key never becomes a dimension here; the privacy exporter behind the reader
    drops it again at strict level (fail closed twice).
    """
    views = []
    for name, spec in sc.METRICS.items():
        options: dict[str, Any] = {"attribute_keys": set(spec.attributes)}
        if name == sc.METRIC_TRAIN_STEP_DURATION:
            options["aggregation"] = ExplicitBucketHistogramAggregation(STEP_DURATION_BUCKETS)
        views.append(View(instrument_name=name, **options))
    return views


class Pipeline:
    """The three providers of one manager, fed from the privacy stage."""

    def __init__(
        self,
        destinations: Sequence[Destination],
        resource: Resource,
        run_id: str,
        whitelist: Whitelist,
        metric_interval_millis: float,
        *,
        spool: SpoolConfig | None = None,
        user_resource_keys: frozenset[str] = frozenset(),
    ) -> None:
        # What the user configured for their own backend (``resource.user_configured_keys``)
        # reaches their destinations at every level, secrets removed, and never product analytics.
        scrubbers = {
            level: Scrubber(level, whitelist, user_resource_keys=user_resource_keys) for level in Level
        }
        self.destinations = list(destinations)
        self.spool_config = SpoolConfig(enabled=False) if spool is None else spool
        self.forked = False
        self.drops = DropCounter()
        self.deliveries: list[Delivery] = []
        self.metric_exporters: list[StopsRetryingAtExit] = []
        self._spooled_at_exit = False
        self._spool_lock = threading.Lock()
        self.replay_reports: list[ReplayReport] = []
        self._replay_done = threading.Event()
        self._replay_stop = threading.Event()
        self.ids = RunIdGenerator(run_id)
        # ALWAYS_ON, not the SDK's default (OTEL_TRACES_SAMPLER from os.environ, parent-based):
        # a run is a handful of spans, and a parent the user did not sample (TRACEPARENT with
        # flags 00) must not silently drop the whole run.
        self.tracer_provider = TracerProvider(
            resource=resource, id_generator=self.ids, sampler=ALWAYS_ON, shutdown_on_exit=False
        )
        self.logger_provider = LoggerProvider(resource=resource, shutdown_on_exit=False)
        readers: list[MetricReader] = []
        for dest in self.destinations:
            scrubber = (  # one product destination (PostHog) per pipeline: its own scrubber and id
                Scrubber(
                    Level.STRICT,
                    whitelist,
                    product_analytics=True,
                    product_id=dest.product_id,
                    user_resource_keys=user_resource_keys,
                )
                if dest.product_analytics
                else scrubbers[dest.level]
            )
            kept = self._spool(dest)
            if dest.span_exporter is not None:
                spans = self._delivery(dest, "traces", dest.span_exporter, kept)
                self.tracer_provider.add_span_processor(
                    PrivacySpanProcessor(scrubber, DeliverySpanProcessor(spans))
                )
            if dest.log_exporter is not None:
                logs = self._delivery(dest, "logs", dest.log_exporter, kept)
                self.logger_provider.add_log_record_processor(
                    PrivacyLogRecordProcessor(scrubber, DeliveryLogRecordProcessor(logs))
                )
            if dest.metric_exporter is not None:
                metric_exporter = StopsRetryingAtExit(dest.metric_exporter)
                self.metric_exporters.append(metric_exporter)
                readers.append(
                    PeriodicExportingMetricReader(
                        PrivacyMetricExporter(scrubber, GuardedMetricExporter(dest.name, metric_exporter)),
                        export_interval_millis=metric_interval_millis,
                        export_timeout_millis=EXPORT_TIMEOUT_MILLIS,
                    )
                )
            if dest.metric_reader is not None:  # a pull destination (Prometheus)
                readers.append(dest.metric_reader(scrubber))
        self.meter_provider = MeterProvider(
            resource=resource,
            metric_readers=readers,
            views=metric_views(),
            shutdown_on_exit=False,
        )
        self.meter_provider.get_meter("otel_axolotl", __version__).create_observable_counter(
            sc.METRIC_TELEMETRY_DROPPED,
            callbacks=[self.drops.observe],
            unit="{item}",
            description="Spans and events lost before delivery, by destination, signal and reason.",
        )
        self._replay_thread = self._start_replay()
        after_fork_in_child(self._after_fork_in_child)

    def _after_fork_in_child(self) -> None:
        """The fork policy (``forksafe``): every delivery has closed itself, so nothing the
        child records is queued or exported (it is counted as ``forked``); metrics have their
        pid guard (``GuardedMetricExporter``); the parent's replay thread is not the child's."""
        self.forked = True
        self._replay_done.set()

    # -- delivery and spool -------------------------------------------------------------------------
    def _spool(self, dest: Destination) -> Spool | None:
        """Network destinations keep what they could not deliver (unless OTEL_AXOLOTL_SPOOL=false)."""
        if not self.spool_config.enabled or dest.name not in SPOOLED_DESTINATIONS:
            return None
        name = dest.name

        def dropped(signal: str, reason: str, count: int) -> None:
            self.drops.add(name, signal, reason, count)

        return self.spool_config.spool(name, dropped, recipient=dest.recipient, level=dest.level)

    def _delivery(self, dest: Destination, signal: str, exporter: Any, spool: Spool | None) -> Delivery:
        delivery = Delivery(
            dest.name,
            signal,
            exporter,
            drops=self.drops,
            spool=spool,
            max_queue_size=MAX_QUEUE_SIZE,
            max_batch_size=MAX_EXPORT_BATCH_SIZE,
            schedule_delay_s=SCHEDULE_DELAY_MILLIS / 1000,
            export_timeout_s=EXPORT_TIMEOUT_MILLIS / 1000,
        )
        self.deliveries.append(delivery)
        return delivery

    def _start_replay(self) -> threading.Thread | None:
        """Send what earlier runs spooled for the destinations configured now, on a daemon
        thread, so start-up never waits. A product-telemetry spool is sent only through a
        product-telemetry destination, which exists only with consent and on the main rank."""
        jobs = []
        for delivery_group in _by_destination(self.deliveries):
            spool = delivery_group[0].spool
            if spool is not None and any(source.pending() for source in spool.sources()):
                jobs.append((spool, {d.signal: d.exporter for d in delivery_group}))
        if not jobs:
            self._replay_done.set()
            return None

        def work() -> None:
            try:
                self.replay_reports.extend(
                    replay_all(
                        jobs,
                        deadline=time.monotonic() + REPLAY_TIMEOUT_SECONDS,
                        export_timeout_s=EXPORT_TIMEOUT_MILLIS / 1000,
                        stop=self._replay_stop,
                    )
                )
            finally:
                self._replay_done.set()

        thread = threading.Thread(target=work, name="otel-axolotl-replay", daemon=True)
        thread.start()
        return thread

    def wait_for_replay(self, timeout: float) -> bool:
        """Whether the start-up replay of earlier spools is over (tests, `flush`)."""
        return self._replay_done.wait(timeout)

    def begin_exit(self) -> None:
        """The exit flush begins: from now on no exporter retries a backend that answered
        (``Delivery.begin_exit``, ``StopsRetryingAtExit``). Idempotent; never raises."""
        self._replay_stop.set()
        exiting: list[Delivery | StopsRetryingAtExit] = [*self.deliveries, *self.metric_exporters]
        for part in exiting:
            try:
                part.begin_exit()
            except Exception:
                _logger.debug("otel-axolotl: beginning the exit failed", exc_info=True)

    def spool_in_memory(self) -> None:
        """Now (a signal during exit: the process is about to die): what is still queued or in
        flight goes to the spool, within ``SPOOL_AT_EXIT_SECONDS``. Once; later calls return."""
        run_with_deadline([[self._after_deadline]], SPOOL_AT_EXIT_SECONDS, "spool")

    def _after_deadline(self) -> None:
        """After the deadline: whatever is still queued or in flight goes to the spool, then the
        providers are marked shut (the deliveries are closed, so that is all their shutdown
        does now; spans and events recorded later are dropped, as after any shutdown). Once."""
        with self._spool_lock:
            if self._spooled_at_exit:
                return
            self._spooled_at_exit = True
        self._replay_stop.set()
        waits_until = time.monotonic() + LEFTOVERS_WRITE_WAIT_S  # one wait for all deliveries
        for delivery in self.deliveries:
            try:
                delivery.spool_leftovers(waits_until - time.monotonic())
            except Exception:
                _logger.debug("otel-axolotl: spooling at shutdown failed", exc_info=True)
        for provider in (self.tracer_provider, self.logger_provider):
            try:
                provider.shutdown()
            except Exception:
                _logger.debug("otel-axolotl: provider shutdown failed", exc_info=True)

    def _lanes(self, deadline: float, *, stop: bool) -> list[list[Callable[[], object]]]:
        """One lane per delivery and one for the metric readers, run side by side: a
        destination that never answers costs the others nothing."""

        def remaining() -> float:
            return max(0.001, deadline - time.monotonic())

        def by_deadline(step: Callable[[float], object]) -> Callable[[], object]:
            return lambda: step(remaining())

        lanes: list[list[Callable[[], object]]] = [
            [by_deadline(delivery.shutdown if stop else delivery.flush)] for delivery in self.deliveries
        ]
        metrics = [by_deadline(lambda s: self.meter_provider.force_flush(s * 1000))]
        if stop:
            metrics.append(by_deadline(lambda s: self.meter_provider.shutdown(timeout_millis=s * 1000)))
        lanes.append(metrics)
        return lanes

    def force_flush(self, timeout: float) -> bool:
        return run_with_deadline(self._lanes(time.monotonic() + timeout, stop=False), timeout, "flush")

    def shutdown(self, timeout: float) -> bool:
        """Flush every destination at once, then shut down, all within ``timeout`` seconds;
        what is left then goes to the spool. A backend that answered is not retried."""
        self.begin_exit()
        lanes_timeout = timeout - min(SPOOL_RESERVE_SECONDS, timeout / 4)
        finished = run_with_deadline(
            self._lanes(time.monotonic() + lanes_timeout, stop=True), lanes_timeout, "shutdown"
        )
        # On a helper thread too: a signal handler runs this on the main thread, which the
        # signal may have interrupted inside a delivery's lock.
        self.spool_in_memory()
        return finished


Lane = Sequence[Callable[[], object]]


def run_with_deadline(lanes: Sequence[Lane], timeout: float, what: str) -> bool:
    """Run each lane's steps in order, the lanes side by side on daemon threads; stop waiting
    after ``timeout`` seconds in total. True when every lane finished in time and no step
    raised or returned False (a flush that did not get everything out).

    A backend that never answers then costs at most ``timeout``: its thread is abandoned
    (a daemon, so it cannot hold the interpreter at exit).
    """
    lanes = [lane for lane in lanes if lane]
    done = threading.Semaphore(0)
    failed = threading.Event()

    def work(steps: Lane) -> None:
        try:
            for step in steps:
                try:
                    if step() is False:
                        failed.set()
                except Exception:
                    failed.set()
                    _logger.debug("otel-axolotl: %s step failed", what, exc_info=True)
        finally:
            done.release()

    for number, lane in enumerate(lanes):
        threading.Thread(target=work, args=(lane,), name=f"otel-axolotl-{what}-{number}", daemon=True).start()
    deadline = time.monotonic() + timeout
    finished = all(done.acquire(timeout=max(0.0, deadline - time.monotonic())) for _ in lanes)
    if not finished:
        _logger.warning("otel-axolotl: %s did not finish within %.1f s.", what, timeout)
    return finished and not failed.is_set()


def _by_destination(deliveries: Sequence[Delivery]) -> list[list[Delivery]]:
    groups: dict[str, list[Delivery]] = {}
    for delivery in deliveries:
        groups.setdefault(delivery.destination, []).append(delivery)
    return list(groups.values())
