"""The training metric instruments, created once per manager with their registered units.

Every integration (Trainer callback, Lightning callback, plain-loop API) records through
this one class, so their metric names, units and attributes cannot drift apart.

The training thread only hands values over (an append, an increment); the metric reader's
thread does the rest when it collects: logged values are folded into observable gauges,
the step count is an observable counter, and the buffered step durations are recorded into
the histogram from inside that collection. Right after a training step the SDK's code has
left the CPU caches, and a synchronous ``Histogram.record`` or gauge update costs 15-60 us
there against a few microseconds on the reader thread.
"""

from __future__ import annotations

import collections
import functools
import numbers
import re
import threading
from collections.abc import Mapping
from typing import Any

from . import semconv as sc

STEP_BATCH = 4096
"""Steps (and logs) the training thread buffers at most: the reader thread records them at
every collection; only when no reader collects (metrics off, a very long interval) does the
training thread record a full buffer itself (checked at progress reports), so memory stays
bounded."""
NO_DURATION = -1.0
"""A step whose start was not seen: counted, no duration recorded."""

LOCK_SECONDS = 0.5
"""How long a drain waits for another drainer before leaving the work to the next call."""

MAX_EVAL_METRICS = 32
"""Distinct evaluation metric names kept per run: bounds the cardinality of axolotl.eval.metric."""
MAX_LOGGED_KEYS = 256
"""Distinct logged keys whose latest value is kept (for the progress and end events)."""
_EVAL_METRIC_NAME = re.compile(r"[A-Za-z0-9_./-]{1,64}")
_EVAL_PREFIX = "eval_"

RUN_SUMMARY_MARKER = "train_runtime"
"""transformers' closing log (the run's means, after the last step) is the one with this key."""
RUN_SUMMARY_ATTRIBUTES: Mapping[str, str] = {
    "train_loss": sc.ATTR_TRAIN_SUMMARY_LOSS,
    "train_runtime": sc.ATTR_TRAIN_SUMMARY_RUNTIME,
    "train_samples_per_second": sc.ATTR_TRAIN_SUMMARY_SAMPLES_PER_SECOND,
    "train_steps_per_second": sc.ATTR_TRAIN_SUMMARY_STEPS_PER_SECOND,
    "train_tokens_per_second": sc.ATTR_TRAIN_SUMMARY_TOKENS_PER_SECOND,
    "total_flos": sc.ATTR_TRAIN_SUMMARY_TOTAL_FLOS,
}


def _spec(name: str) -> tuple[str, str, str]:
    spec = sc.METRICS[name]
    return spec.name, spec.unit, spec.brief


def number(value: Any) -> float | None:
    """A logged value as a float (numpy scalars included); None for bools and non-numbers."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    return float(value)


def run_summary_attributes(logs: Mapping[str, Any]) -> dict[str, float]:
    """The run span attributes of a trainer's closing log (its keys that are numbers)."""
    result: dict[str, float] = {}
    for key, attribute in RUN_SUMMARY_ATTRIBUTES.items():
        value = number(logs.get(key))
        if value is not None:
            result[attribute] = value
    return result


class TrainingInstruments:
    # Keys a trainer logs per step (transformers names; Lightning and the loop API use the
    # same) -> metric. The run-mean keys of transformers' closing log are not here: they are
    # the run summary (``run_summary_attributes``), not the latest step's values.
    LOGGED_GAUGES: Mapping[str, str] = {
        "loss": sc.METRIC_TRAIN_LOSS,
        "learning_rate": sc.METRIC_TRAIN_LEARNING_RATE,
        "lr": sc.METRIC_TRAIN_LEARNING_RATE,
        "grad_norm": sc.METRIC_TRAIN_GRAD_NORM,
        "epoch": sc.METRIC_TRAIN_EPOCH,
        "samples_per_second": sc.METRIC_TRAIN_THROUGHPUT_SAMPLES,
        "tokens_per_second": sc.METRIC_TRAIN_THROUGHPUT_TOKENS,
        "tokens/train_per_sec_per_gpu": sc.METRIC_TRAIN_THROUGHPUT_TOKENS,
        "eval_loss": sc.METRIC_EVAL_LOSS,
    }

    def __init__(self, meter: Any, attributes: Mapping[str, Any]) -> None:
        self.attributes = dict(attributes)
        # Logs handed over by the training thread, folded (in order, under the lock) by
        # whichever thread needs the values next: the reader at collection, or the recorder
        # when an event carries the latest figures.
        self.pending_logs: collections.deque[
            tuple[dict[str, Any], dict[str, Any] | None, dict[str, int] | None, int]
        ] = collections.deque()
        # Reentrant, and waited for at most LOCK_SECONDS: a signal handler on the training
        # thread may drain (shutdown) while the interrupted code holds it; a drainer that
        # gives up leaves everything in the buffers for the next one, nothing is lost.
        self._lock = threading.RLock()
        self._last_values: dict[str, float] = {}  # metric -> latest value
        self._eval_values: dict[str, float] = {}  # eval metric name -> latest value
        for metric in sorted(set(self.LOGGED_GAUGES.values())):
            name, unit, brief = _spec(metric)
            meter.create_observable_gauge(
                name, callbacks=[functools.partial(self._observe_gauge, metric)], unit=unit, description=brief
            )
        name, unit, brief = _spec(sc.METRIC_EVAL_METRIC)
        meter.create_observable_gauge(name, callbacks=[self._observe_eval], unit=unit, description=brief)
        self._steps = 0  # steps recorded so far (the observable counter's value)
        name, unit, brief = _spec(sc.METRIC_TRAIN_STEPS)
        meter.create_observable_counter(name, callbacks=[self._observe_steps], unit=unit, description=brief)
        name, unit, brief = _spec(sc.METRIC_TRAIN_STEP_DURATION)
        self._step_duration = meter.create_histogram(name, unit=unit, description=brief)
        self.pending_steps: collections.deque[float] = collections.deque()
        """One entry per finished step, its duration in seconds (NO_DURATION when unknown):
        the hot path appends here directly (``RunRecorder.step_end``); ``record_pending``
        counts and records them."""

    # -- the training thread's side: hand over, nothing more ------------------------------------
    def record_logs(
        self,
        logs: Mapping[str, Any],
        latest: dict[str, Any] | None = None,
        logged_at: dict[str, int] | None = None,
        step: int = 0,
    ) -> None:
        """Hot path: keep a trainer's log dict for the next fold (a shallow copy, since a
        caller may reuse its dict). The fold also writes every numeric value into ``latest``
        and ``step`` into ``logged_at`` (the recorder's view of its own run), bounded to
        MAX_LOGGED_KEYS keys."""
        pending = self.pending_logs
        pending.append((dict(logs), latest, logged_at, step))
        if len(pending) >= STEP_BATCH:
            self.fold_logs()

    def record_step(self, duration_seconds: float | None) -> None:
        """One finished step: an append; the reader thread counts it and records its duration."""
        pending = self.pending_steps
        pending.append(NO_DURATION if duration_seconds is None else duration_seconds)
        if len(pending) >= STEP_BATCH:
            self.record_pending()

    # -- whoever needs the values: fold and record ----------------------------------------------
    def fold_logs(self) -> None:
        """Apply the pending logs, oldest first. Safe from any thread."""
        if not self.pending_logs:
            return
        gauges, last_values = self.LOGGED_GAUGES, self._last_values
        if not self._lock.acquire(timeout=LOCK_SECONDS):
            return
        try:
            pending = self.pending_logs
            while pending:
                logs, latest, logged_at, step = pending.popleft()
                for key, raw in logs.items():
                    value = number(raw)
                    if value is None:
                        continue
                    if latest is not None and (key in latest or len(latest) < MAX_LOGGED_KEYS):
                        latest[key] = raw if raw.__class__ in (int, float) else value  # as logged
                        if logged_at is not None:
                            logged_at[key] = step
                    metric = gauges.get(key)
                    if metric is not None:
                        last_values[metric] = value
                    if key.startswith(_EVAL_PREFIX):
                        self._keep_eval(key[len(_EVAL_PREFIX) :], value)
        finally:
            self._lock.release()

    def _keep_eval(self, name: str, value: float) -> None:
        values = self._eval_values
        if name in values or (len(values) < MAX_EVAL_METRICS and _EVAL_METRIC_NAME.fullmatch(name)):
            values[name] = value

    def record_pending(self) -> None:
        """Count the buffered steps and record their durations. Called at every collection
        (reader thread), at epoch and run ends and before every flush and shutdown; safe from
        any thread (``popleft`` is atomic, so a step appended meanwhile is recorded now or by
        the next call, never lost or counted twice)."""
        pending, record, attributes = self.pending_steps, self._step_duration.record, self.attributes
        if not self._lock.acquire(timeout=LOCK_SECONDS):  # two drainers: each step counted once
            return
        try:
            while True:
                try:
                    duration = pending.popleft()
                except IndexError:
                    return
                self._steps += 1
                if duration >= 0:
                    record(duration, attributes)
        finally:
            self._lock.release()

    # -- the reader thread's callbacks ----------------------------------------------------------
    def _observe_gauge(self, metric: str, options: Any) -> Any:
        from opentelemetry.metrics import Observation

        self.fold_logs()
        value = self._last_values.get(metric)
        return [] if value is None else [Observation(value, self.attributes)]

    def _observe_eval(self, options: Any) -> Any:
        from opentelemetry.metrics import Observation

        self.fold_logs()
        return [
            Observation(value, {**self.attributes, sc.ATTR_EVAL_METRIC_NAME: name})
            for name, value in list(self._eval_values.items())
        ]

    def _observe_steps(self, options: Any) -> Any:
        from opentelemetry.metrics import Observation

        # Recording a synchronous instrument inside a collection is safe: the SDK's
        # measurement path takes no lock that collection holds; observable callbacks run
        # before the storages are read, so these durations are part of this very export.
        self.record_pending()
        return [Observation(self._steps, self.attributes)]
