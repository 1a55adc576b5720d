"""Providers wired to destinations through the privacy stage, with bounded queues and deadlines.

The SDK's own providers register an ``atexit`` shutdown with no overall deadline (an
unreachable OTLP endpoint costs tens of seconds of retries). We build them with
``shutdown_on_exit=False`` and shut them down ourselves under one deadline, on a daemon
thread, so exit never waits longer than ``OTEL_AXOLOTL_SHUTDOWN_TIMEOUT``.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.id_generator import IdGenerator

from . import semconv as sc
from .destinations import Destination
from .privacy.stage import (
    PrivacyLogRecordProcessor,
    PrivacyMetricExporter,
    PrivacySpanProcessor,
    Scrubber,
)
from .privacy.values import Level
from .privacy.whitelist import Whitelist

_logger = logging.getLogger("otel_axolotl")

MAX_QUEUE_SIZE = 2048
"""Spans or events buffered per destination before new ones are dropped (and counted)."""
SCHEDULE_DELAY_MILLIS = 1000
EXPORT_TIMEOUT_MILLIS = 5000


class RunIdGenerator(IdGenerator):
    """Every trace this process starts is the run's trace: one run, one trace, every rank."""

    def __init__(self, run_id: str) -> None:
        self._trace_id = int(run_id, 16)

    def generate_span_id(self) -> int:
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
    ) -> None:
        scrubbers = {level: Scrubber(level, whitelist) for level in Level}
        self.destinations = list(destinations)
        self.tracer_provider = TracerProvider(
            resource=resource, id_generator=RunIdGenerator(run_id), shutdown_on_exit=False
        )
        self.logger_provider = LoggerProvider(resource=resource, shutdown_on_exit=False)
        readers = []
        for dest in self.destinations:
            scrubber = scrubbers[dest.level]
            if dest.span_exporter is not None:
                batch = BatchSpanProcessor(
                    dest.span_exporter,
                    max_queue_size=MAX_QUEUE_SIZE,
                    schedule_delay_millis=SCHEDULE_DELAY_MILLIS,
                    export_timeout_millis=EXPORT_TIMEOUT_MILLIS,
                )
                self.tracer_provider.add_span_processor(PrivacySpanProcessor(scrubber, batch))
            if dest.log_exporter is not None:
                logs = BatchLogRecordProcessor(
                    dest.log_exporter,
                    max_queue_size=MAX_QUEUE_SIZE,
                    schedule_delay_millis=SCHEDULE_DELAY_MILLIS,
                    export_timeout_millis=EXPORT_TIMEOUT_MILLIS,
                )
                self.logger_provider.add_log_record_processor(PrivacyLogRecordProcessor(scrubber, logs))
            if dest.metric_exporter is not None:
                readers.append(
                    PeriodicExportingMetricReader(
                        PrivacyMetricExporter(scrubber, dest.metric_exporter),
                        export_interval_millis=metric_interval_millis,
                        export_timeout_millis=EXPORT_TIMEOUT_MILLIS,
                    )
                )
        self.meter_provider = MeterProvider(
            resource=resource,
            metric_readers=readers,
            views=metric_views(),
            shutdown_on_exit=False,
        )

    def _providers(self) -> list[Any]:
        return [self.tracer_provider, self.logger_provider, self.meter_provider]

    def force_flush(self, timeout: float) -> bool:
        return run_with_deadline(
            [lambda p=p: p.force_flush(int(timeout * 1000)) for p in self._providers()], timeout, "flush"
        )

    def shutdown(self, timeout: float) -> bool:
        """Flush what can be flushed, then shut down, all within ``timeout`` seconds in total."""
        deadline = time.monotonic() + timeout

        def remaining() -> int:
            return max(1, int((deadline - time.monotonic()) * 1000))

        steps: list[Callable[[], object]] = [
            lambda: self.tracer_provider.force_flush(remaining()),
            lambda: self.logger_provider.force_flush(remaining()),
            lambda: self.meter_provider.force_flush(remaining()),
            self.tracer_provider.shutdown,
            self.logger_provider.shutdown,
            lambda: self.meter_provider.shutdown(timeout_millis=remaining()),
        ]
        return run_with_deadline(steps, timeout, "shutdown")


def run_with_deadline(steps: Sequence[Callable[[], object]], timeout: float, what: str) -> bool:
    """Run ``steps`` in order on a daemon thread; give up waiting after ``timeout`` seconds.

    A backend that never answers then costs at most ``timeout``: the thread is abandoned
    (it is a daemon, so it cannot hold the interpreter at exit).
    """
    done = threading.Event()

    def work() -> None:
        try:
            for step in steps:
                try:
                    step()
                except Exception:
                    _logger.debug("otel-axolotl: %s step failed", what, exc_info=True)
        finally:
            done.set()

    thread = threading.Thread(target=work, name=f"otel-axolotl-{what}", daemon=True)
    thread.start()
    finished = done.wait(timeout)
    if not finished:
        _logger.warning(
            "otel-axolotl: %s did not finish within %.1f s; undelivered telemetry was dropped.", what, timeout
        )
    return finished
