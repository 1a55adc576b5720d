"""Measurement 2: the cost of one span through the SDK's privacy stage vs. a plain SDK span.

* ``sdk``: ``TelemetryManager`` with a null-exporter destination (strict level, the real
  ``PrivacySpanProcessor`` in front of a ``BatchSpanProcessor``), spans from ``manager.tracer``;
* ``plain``: a bare ``TracerProvider`` with a ``BatchSpanProcessor`` (same queue size, delay
  and timeout as the pipeline) in front of the same null exporter.

Each span: ``tracer.start_span(name, attributes=<10 registered attributes>)`` then ``end()``.
Batches alternate (plain, sdk, sdk, plain, ...); each batch is timed as a whole and divided by
its size; both providers are flushed between batches, outside the timed region, so neither
queue overflows (a dropped span would be cheaper than a kept one). Hardware metrics are off
in the manager: the span path is measured, not the metric reader's thread.

Usage: python bench/_spans.py --batches 50 --batch-size 1000
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from _common import (
    SPAN_ATTRIBUTES,
    SPAN_NAME,
    clean_env,
    emit,
    null_destination,
    null_span_exporter,
    settings_from,
)


def sdk_side() -> tuple[Any, Any]:
    from otel_axolotl.manager import TelemetryManager

    env = clean_env({"AXOLOTL_DO_NOT_TRACK": "1", "OTEL_AXOLOTL_HARDWARE_METRICS": "false"})
    manager = TelemetryManager(
        settings_from(env), env=env, destinations=[null_destination()], show_consent_notice=False
    )
    return manager.tracer, lambda: manager.force_flush(10)


def plain_side() -> tuple[Any, Any]:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from otel_axolotl import pipeline

    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(
        BatchSpanProcessor(
            null_span_exporter(),
            max_queue_size=pipeline.MAX_QUEUE_SIZE,
            schedule_delay_millis=pipeline.SCHEDULE_DELAY_MILLIS,
            export_timeout_millis=pipeline.EXPORT_TIMEOUT_MILLIS,
        )
    )
    return provider.get_tracer("bench"), lambda: provider.force_flush(10_000)


def timed_batch(tracer: Any, flush: Any, n: int) -> float:
    """Microseconds per span over one batch of ``n`` spans."""
    attributes = SPAN_ATTRIBUTES
    start_span = tracer.start_span
    started = time.perf_counter()
    for _ in range(n):
        start_span(SPAN_NAME, attributes=attributes).end()
    elapsed = time.perf_counter() - started
    flush()
    return elapsed / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=1000)
    options = parser.parse_args()

    sides = {"plain": plain_side(), "sdk": sdk_side()}
    for tracer, flush in sides.values():  # warm-up, discarded
        timed_batch(tracer, flush, options.batch_size)
    per_span: dict[str, list[float]] = {"plain": [], "sdk": []}
    for i in range(options.batches):
        order = ("plain", "sdk") if i % 2 == 0 else ("sdk", "plain")
        for name in order:
            tracer, flush = sides[name]
            per_span[name].append(timed_batch(tracer, flush, options.batch_size))
    emit({"per_span_us": per_span, "batch_size": options.batch_size})


if __name__ == "__main__":
    main()
