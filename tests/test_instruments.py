"""The training thread only hands values over; collection (the metric reader's thread) counts,
records and folds them. Nothing may be lost, counted twice, or kept without bound."""

from __future__ import annotations

import threading

import numpy as np
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricsData

from otel_axolotl import semconv as sc
from otel_axolotl.instruments import MAX_EVAL_METRICS, STEP_BATCH, TrainingInstruments


def _points(data: MetricsData | None, name: str) -> list[object]:
    return [
        point
        for rm in (data.resource_metrics if data else [])
        for sm in rm.scope_metrics
        for metric in sm.metrics
        if metric.name == name
        for point in metric.data.data_points
    ]


def _histogram_count(data: MetricsData | None) -> int:
    return sum(p.count for p in _points(data, sc.METRIC_TRAIN_STEP_DURATION))  # type: ignore[attr-defined]


def _steps(data: MetricsData | None) -> int:
    return sum(p.value for p in _points(data, sc.METRIC_TRAIN_STEPS))  # type: ignore[attr-defined]


def _gauge(data: MetricsData | None, name: str) -> list[float]:
    return [p.value for p in _points(data, name)]  # type: ignore[attr-defined]


def _instruments() -> tuple[TrainingInstruments, InMemoryMetricReader]:
    reader = InMemoryMetricReader()
    meter = MeterProvider(metric_readers=[reader]).get_meter("test")
    return TrainingInstruments(meter, {sc.ATTR_RANK: 0}), reader


def test_buffered_steps_are_counted_and_recorded_by_the_collection() -> None:
    instruments, reader = _instruments()
    for _ in range(10):
        instruments.record_step(0.01)
    instruments.record_step(None)  # a step without a duration counts as a step only
    assert len(instruments.pending_steps) == 11, "the hot path only appends"
    data = reader.get_metrics_data()
    assert _histogram_count(data) == 10
    assert _steps(data) == 11
    assert not instruments.pending_steps
    data = reader.get_metrics_data()  # cumulative: nothing counted twice
    assert (_histogram_count(data), _steps(data)) == (10, 11)


def test_without_a_collection_the_buffer_stays_bounded() -> None:
    instruments, _ = _instruments()
    for _ in range(STEP_BATCH - 1):
        instruments.record_step(0.01)
    assert len(instruments.pending_steps) == STEP_BATCH - 1
    instruments.record_step(0.01)
    assert not instruments.pending_steps, "a full buffer is recorded by the training thread itself"


def test_no_step_is_lost_or_counted_twice_when_threads_drain_together() -> None:
    """Shutdown records what is pending from another thread while training may still step."""
    instruments, reader = _instruments()
    total = 20_000
    stop = threading.Event()

    def drain() -> None:
        while not stop.is_set():
            instruments.record_pending()

    drainers = [threading.Thread(target=drain) for _ in range(2)]
    for drainer in drainers:
        drainer.start()
    for _ in range(total):
        instruments.record_step(0.001)
    stop.set()
    for drainer in drainers:
        drainer.join()
    data = reader.get_metrics_data()
    assert (_histogram_count(data), _steps(data)) == (total, total)


def test_logs_are_folded_in_order_at_collection() -> None:
    instruments, reader = _instruments()
    latest: dict[str, float] = {}
    instruments.record_logs({"loss": 2.0, "learning_rate": 1e-3, "note": "text"}, latest)
    instruments.record_logs({"loss": np.float32(1.5), "grad_norm": True}, latest)
    assert not latest, "nothing folded on the hot path"
    data = reader.get_metrics_data()
    assert _gauge(data, sc.METRIC_TRAIN_LOSS) == [1.5], "the latest log wins; numpy scalars are numbers"
    assert _gauge(data, sc.METRIC_TRAIN_LEARNING_RATE) == [1e-3]
    assert _gauge(data, sc.METRIC_TRAIN_GRAD_NORM) == [], "a bool is not a number"
    assert latest == {"loss": 1.5, "learning_rate": 1e-3}


def test_train_loss_is_not_a_step_loss() -> None:
    """transformers' closing ``train_loss`` is the run mean: never the step loss gauge."""
    instruments, reader = _instruments()
    instruments.record_logs({"loss": 0.75})
    instruments.record_logs({"train_loss": 3.0, "train_samples_per_second": 12.0})
    data = reader.get_metrics_data()
    assert _gauge(data, sc.METRIC_TRAIN_LOSS) == [0.75]
    assert _gauge(data, sc.METRIC_TRAIN_THROUGHPUT_SAMPLES) == []


def test_every_numeric_eval_metric_is_one_point_under_one_fixed_metric_name() -> None:
    instruments, reader = _instruments()
    instruments.record_logs(
        {
            "eval_loss": 1.25,
            "eval_accuracy": 0.5,
            "eval_runtime": 2.0,
            "eval_model_preparation_time": 0,
            "eval_confusion": "not a number",
            "eval_/home/alice/secret dataset": 0.1,  # not an identifier: not a name
            "loss": 9.0,  # not an evaluation metric
        }
    )
    data = reader.get_metrics_data()
    by_name = {
        p.attributes[sc.ATTR_EVAL_METRIC_NAME]: p.value  # type: ignore[attr-defined]
        for p in _points(data, sc.METRIC_EVAL_METRIC)
    }
    assert by_name == {"loss": 1.25, "accuracy": 0.5, "runtime": 2.0, "model_preparation_time": 0.0}
    assert _gauge(data, sc.METRIC_EVAL_LOSS) == [1.25], "the dedicated eval loss gauge stays"
    assert all(
        set(p.attributes) == {sc.ATTR_RANK, sc.ATTR_EVAL_METRIC_NAME}  # type: ignore[attr-defined]
        for p in _points(data, sc.METRIC_EVAL_METRIC)
    )


def test_eval_metric_names_are_bounded_per_run() -> None:
    instruments, reader = _instruments()
    instruments.record_logs({f"eval_m{i}": float(i) for i in range(MAX_EVAL_METRICS + 10)})
    instruments.record_logs({"eval_m0": 42.0})  # a known name keeps updating
    points = _points(reader.get_metrics_data(), sc.METRIC_EVAL_METRIC)
    assert len(points) == MAX_EVAL_METRICS
    assert {p.attributes[sc.ATTR_EVAL_METRIC_NAME]: p.value for p in points}["m0"] == 42.0  # type: ignore[attr-defined]


def test_a_drain_never_deadlocks_on_a_drainer_it_interrupted() -> None:
    """A signal handler runs on the training thread, maybe while that thread is folding."""
    instruments, reader = _instruments()
    instruments.record_step(0.01)
    with instruments._lock:  # the interrupted code holds it
        instruments.record_pending()  # the handler, same thread: goes on
        assert not instruments.pending_steps
        instruments.record_step(0.01)
        other = threading.Thread(target=instruments.record_pending)  # another thread gives up
        other.start()
        other.join(5)
        assert not other.is_alive() and len(instruments.pending_steps) == 1, "left for the next drain"
    assert _steps(reader.get_metrics_data()) == 2
