"""The training metric instruments, created once per manager with their registered units.

Every integration (Trainer callback, Lightning callback, plain-loop API) records through
this one class, so their metric names, units and attributes cannot drift apart.
"""

from __future__ import annotations

import collections
import functools
from collections.abc import Mapping
from typing import Any

from . import semconv as sc

STEP_BATCH = 64
"""Step durations buffered before they are recorded into the histogram together..."""
STEP_BATCH_SECONDS = 5.0
"""...or as soon as the buffered steps took this long: with slow steps, no export waits long."""


def _spec(name: str) -> tuple[str, str, str]:
    spec = sc.METRICS[name]
    return spec.name, spec.unit, spec.brief


class TrainingInstruments:
    # Keys a trainer logs (transformers names; Lightning and the loop API use the same) -> metric.
    LOGGED_GAUGES: Mapping[str, str] = {
        "loss": sc.METRIC_TRAIN_LOSS,
        "train_loss": sc.METRIC_TRAIN_LOSS,
        "learning_rate": sc.METRIC_TRAIN_LEARNING_RATE,
        "lr": sc.METRIC_TRAIN_LEARNING_RATE,
        "grad_norm": sc.METRIC_TRAIN_GRAD_NORM,
        "epoch": sc.METRIC_TRAIN_EPOCH,
        "train_samples_per_second": sc.METRIC_TRAIN_THROUGHPUT_SAMPLES,
        "samples_per_second": sc.METRIC_TRAIN_THROUGHPUT_SAMPLES,
        "train_tokens_per_second": sc.METRIC_TRAIN_THROUGHPUT_TOKENS,
        "tokens_per_second": sc.METRIC_TRAIN_THROUGHPUT_TOKENS,
        "tokens/train_per_sec_per_gpu": sc.METRIC_TRAIN_THROUGHPUT_TOKENS,
        "eval_loss": sc.METRIC_EVAL_LOSS,
    }

    def __init__(self, meter: Any, attributes: Mapping[str, Any]) -> None:
        self.attributes = dict(attributes)
        # Logged values are read by the metric reader's thread too: a log costs a dict update
        # instead of a ~60 us synchronous gauge update per key (cold caches after a step).
        # A gauge is a last value either way; this one is reported at every export until the
        # next log.
        self._last_values: dict[str, float] = {}
        for metric in sorted(set(self.LOGGED_GAUGES.values())):
            name, unit, brief = _spec(metric)
            meter.create_observable_gauge(
                name, callbacks=[functools.partial(self._observe_gauge, metric)], unit=unit, description=brief
            )
        # The step count is read by the metric reader's thread: on the training thread a step
        # costs one integer increment instead of a ~15 us synchronous counter update.
        self._steps = 0
        name, unit, brief = _spec(sc.METRIC_TRAIN_STEPS)
        meter.create_observable_counter(name, callbacks=[self._observe_steps], unit=unit, description=brief)
        name, unit, brief = _spec(sc.METRIC_TRAIN_STEP_DURATION)
        self._step_duration = meter.create_histogram(name, unit=unit, description=brief)
        self._pending_durations: collections.deque[float] = collections.deque()
        self._pending_seconds = 0.0  # their sum: slow steps are recorded without waiting for a batch

    def record_logs(self, logs: Mapping[str, Any]) -> None:
        """Keep whatever known numbers a trainer's log dict carries; ignore the rest."""
        for key, value in logs.items():
            metric = self.LOGGED_GAUGES.get(key)
            if metric is not None and isinstance(value, (int, float)) and not isinstance(value, bool):
                self._last_values[metric] = float(value)

    def _observe_gauge(self, metric: str, options: Any) -> Any:
        from opentelemetry.metrics import Observation

        value = self._last_values.get(metric)
        return [] if value is None else [Observation(value, self.attributes)]

    def _observe_steps(self, options: Any) -> Any:
        from opentelemetry.metrics import Observation

        return [Observation(self._steps, self.attributes)]

    def record_step(self, duration_seconds: float | None) -> None:
        """Hot path: an increment and an append. The SDK's ``Histogram.record`` costs ~40 us
        right after a training step (its code has left the CPU caches by then) against ~5 us
        in a loop, so durations are recorded in batches (STEP_BATCH steps or STEP_BATCH_SECONDS)."""
        self._steps += 1
        if duration_seconds is not None and duration_seconds >= 0:
            pending = self._pending_durations
            pending.append(duration_seconds)
            self._pending_seconds += duration_seconds
            if len(pending) >= STEP_BATCH or self._pending_seconds >= STEP_BATCH_SECONDS:
                self.record_pending()

    def record_pending(self) -> None:
        """Record the buffered step durations. Called every STEP_BATCH steps, at epoch and run
        ends, and before every flush and shutdown; safe from any thread (``popleft`` is atomic,
        so a duration appended meanwhile is recorded now or by the next call, never lost)."""
        pending, record, attributes = self._pending_durations, self._step_duration.record, self.attributes
        self._pending_seconds = 0.0
        while True:
            try:
                duration = pending.popleft()
            except IndexError:
                return
            record(duration, attributes)
