"""Step durations are buffered on the hot path and recorded in batches: none may be lost."""

from __future__ import annotations

import threading

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from otel_axolotl import semconv as sc
from otel_axolotl.instruments import STEP_BATCH, TrainingInstruments


def _histogram_count(reader: InMemoryMetricReader) -> int:
    data = reader.get_metrics_data()
    counts = [
        point.count
        for rm in (data.resource_metrics if data else [])
        for sm in rm.scope_metrics
        for metric in sm.metrics
        if metric.name == sc.METRIC_TRAIN_STEP_DURATION
        for point in metric.data.data_points
    ]
    return sum(counts)


def _instruments() -> tuple[TrainingInstruments, InMemoryMetricReader]:
    reader = InMemoryMetricReader()
    meter = MeterProvider(metric_readers=[reader]).get_meter("test")
    return TrainingInstruments(meter, {sc.ATTR_RANK: 0}), reader


def test_durations_are_recorded_every_batch_and_the_rest_on_demand() -> None:
    instruments, reader = _instruments()
    for _ in range(STEP_BATCH - 1):
        instruments.record_step(0.01)
    assert _histogram_count(reader) == 0, "buffered, off the hot path"
    instruments.record_step(0.01)
    assert _histogram_count(reader) == STEP_BATCH, "a full batch is recorded at once"
    instruments.record_step(0.01)
    instruments.record_step(None)  # a step without a duration counts as a step only
    instruments.record_pending()
    assert _histogram_count(reader) == STEP_BATCH + 1


def test_no_duration_is_lost_when_another_thread_records_the_pending_ones() -> None:
    """Shutdown records what is pending from another thread while training may still step."""
    instruments, reader = _instruments()
    total = 20_000
    stop = threading.Event()

    def drain() -> None:
        while not stop.is_set():
            instruments.record_pending()

    drainer = threading.Thread(target=drain)
    drainer.start()
    for _ in range(total):
        instruments.record_step(0.001)
    stop.set()
    drainer.join()
    instruments.record_pending()
    assert _histogram_count(reader) == total


def test_slow_steps_are_recorded_without_waiting_for_a_full_batch() -> None:
    instruments, reader = _instruments()
    instruments.record_step(1.0)
    assert _histogram_count(reader) == 0
    instruments.record_step(4.5)  # 5.5 s of steps pending: an export must not wait 62 more
    assert _histogram_count(reader) == 2
