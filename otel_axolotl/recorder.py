"""What a training run looks like as telemetry, independent of the training framework.

The transformers callback, the Lightning callback and the plain-loop API are thin adapters
over one ``RunRecorder``, so all three emit the same span tree, metric names and events.
Every public method is guarded: a telemetry bug is logged once and never reaches training.
Per-step work is a few clock reads and metric updates; network I/O happens on exporter
threads only. Every span carries ``axolotl.rank``. An open run is known to the manager, so a
signal (``manager.interrupt()``) ends it with ``train-end`` as ``interrupted``.
"""

from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from . import semconv as sc
from . import settings as _s
from .runtime_metrics import RuntimeMetrics, RuntimeMetricsTracker
from .windows import WindowSpans

if TYPE_CHECKING:
    from .host import TelemetryHost

_logger = logging.getLogger("otel_axolotl")

F = TypeVar("F", bound=Callable[..., Any])

# Keys of a trainer's log dict that Axolotl's progress and end events carry (only once logged).
LAST_METRIC_KEYS = (
    "loss",
    "ppl",
    "learning_rate",
    "grad_norm",
    "tokens/total",
    "tokens/trainable",
    "tokens/train_per_sec_per_gpu",
)


def guarded(method: F) -> F:
    """Never let telemetry raise into training; say so once per hook."""

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except Exception as exc:
            _s.warn_once(
                f"hook:{method.__qualname__}",
                "otel-axolotl: %s failed and was skipped: %r",
                method.__qualname__,
                exc,
            )
            _logger.debug("otel-axolotl: hook failure", exc_info=True)
            return None

    return wrapper  # type: ignore[return-value]


class RunRecorder:
    """Spans, metrics and events for one training run."""

    def __init__(self, manager: TelemetryHost, trainer: str) -> None:
        self.manager = manager
        self.trainer = trainer
        settings = manager.settings
        self.progress_steps = settings.progress_steps
        self.progress_seconds = settings.progress_seconds
        self.step_span_ratio = settings.step_span_ratio
        self.tracker = RuntimeMetricsTracker()
        self.current_epoch = -1
        self.global_step = 0
        # What Axolotl's progress and end events carry: the latest value of each metric that was
        # actually logged, the step it was logged at, and the run mean transformers logs last.
        self.last_metrics: dict[str, Any] = {}
        self.metric_steps: dict[str, int] = {}
        self.aggregate_metrics: dict[str, Any] = {}
        self._epoch_span: Any = None
        self._step_span: Any = None
        self._step_started: float | None = None
        self._last_hook_ns = time.time_ns()
        self.start_step = 0
        self.start_time = time.time()
        self.last_report_time = self.start_time
        self.last_report_step = 0
        self._started = False
        self._ended = False
        self._rank_attrs: dict[str, Any] = {sc.ATTR_RANK: manager.rank.rank}
        self._windows = WindowSpans(manager, self._rank_attrs, settings.window_steps, settings.window_seconds)

    @property
    def active(self) -> bool:
        return bool(self.manager.active)

    def _run_context(self) -> Any:
        from opentelemetry import trace

        run = self.manager.run_span
        return trace.set_span_in_context(run) if run is not None else None

    # -- run ---------------------------------------------------------------------------------
    @guarded
    def train_begin(self, attributes: Mapping[str, Any] | None = None, start_step: int = 0) -> None:
        """``start_step``: the step training starts from (a resumed run's checkpoint step)."""
        if not self.active or self._started:
            return
        self._started = True
        self.manager.track_run(self)
        self.start_step = self.global_step = self.last_report_step = start_step
        self.start_time = self.last_report_time = time.time()
        self.tracker.metrics = RuntimeMetrics(start_time=self.start_time)
        attrs = {sc.ATTR_TRAINER: self.trainer, **(attributes or {})}
        self.manager.start_run(attrs)
        # Axolotl sends system-info after config-loaded; a run nothing sent config-loaded for
        # (a plain Trainer, TRL, accelerate) gets it here. The manager sends it once.
        self.manager.send_system_info()
        start_attrs = {
            k: v for k, v in attrs.items() if k in (sc.ATTR_TRAIN_MAX_STEPS, sc.ATTR_TRAIN_NUM_EPOCHS)
        }
        self.manager.send_event(sc.EVENT_TRAIN_START, {}, start_attrs)
        self._windows.open(self._run_context(), self.global_step)  # until the first epoch

    @guarded
    def train_end(self, status: str = "completed", error: BaseException | None = None) -> None:
        if not self.active or self._ended:
            return
        self._ended = True
        self.manager.untrack_run(self)
        self._end_step_span()
        self.epoch_end()
        self._windows.close(self.global_step)
        self.tracker.update_memory_metrics()
        summary = {
            **self.tracker.metrics.to_dict(),
            "step": self.global_step,
            "start_step": self.start_step,
            "aggregate": dict(self.aggregate_metrics),
            "latest_step": {**self.last_metrics, "metric_steps": dict(self.metric_steps)},
        }
        self.manager.send_event(
            sc.EVENT_TRAIN_END, summary, {sc.ATTR_STEP: self.global_step, sc.ATTR_RUN_STATUS: status}
        )
        self.manager.end_run(status, error)

    # -- epochs and steps -----------------------------------------------------------------------
    @guarded
    def epoch_begin(self, epoch: int | None = None) -> None:
        if not self.active:
            return
        self._end_epoch_span()
        self.current_epoch = self.current_epoch + 1 if epoch is None else epoch
        self.tracker.start_epoch(self.current_epoch)
        self._epoch_span = self.manager.tracer.start_span(
            sc.SPAN_EPOCH,
            context=self._run_context(),
            attributes={**self._rank_attrs, sc.ATTR_EPOCH: self.current_epoch},
        )
        self._windows.open(self._epoch_context(), self.global_step)

    @guarded
    def epoch_end(self) -> None:
        if self._epoch_span is not None:
            self.tracker.end_epoch(self.current_epoch)
            self._end_epoch_span()
            self.manager.instruments.record_pending()

    def _epoch_context(self) -> Any:
        from opentelemetry import trace

        return trace.set_span_in_context(self._epoch_span)

    def _end_epoch_span(self) -> None:
        self._windows.close(self.global_step)  # a window never outlives its epoch
        span, self._epoch_span = self._epoch_span, None
        if span is not None:
            span.end()

    def step_begin(self) -> None:
        """Hot path: one clock read, plus a span only when sampling asks for one."""
        if not self.active:
            return
        self._step_started = time.perf_counter()
        if self.step_span_ratio and random.random() < self.step_span_ratio:
            self._begin_step_span()

    @guarded
    def _begin_step_span(self) -> None:
        from opentelemetry import trace

        parent = self._epoch_span
        ctx = trace.set_span_in_context(parent) if parent is not None else self._run_context()
        self._step_span = self.manager.tracer.start_span(
            sc.SPAN_STEP, context=ctx, attributes=self._rank_attrs
        )

    def _end_step_span(self) -> None:
        span, self._step_span = self._step_span, None
        if span is not None:
            span.set_attribute(sc.ATTR_STEP, self.global_step)
            span.end()

    @guarded
    def step_end(self, global_step: int | None = None, progress: float | None = None) -> None:
        if not self.active:
            return
        started, self._step_started = self._step_started, None
        duration = time.perf_counter() - started if started is not None else None
        self.global_step = self.global_step + 1 if global_step is None else global_step
        self._end_step_span()
        self.manager.instruments.record_step(duration)
        self.tracker.update_step(self.global_step)
        self._last_hook_ns = time.time_ns()
        if self.global_step >= self._windows.next_check:  # one compare; see windows.py
            self._windows.check(self.global_step)
        self._maybe_report_progress(progress)

    def _maybe_report_progress(self, progress: float | None) -> None:
        """Axolotl's rule (0.21.0 ``TelemetryCallback.on_step_end``): the first step of the run;
        then a step ``progress_steps`` after the last report; and, at a step that is a multiple
        of ``progress_steps``, earlier when ``progress_seconds`` have passed since the last one.
        Steps in between cost two comparisons: the clock is read only at those candidates."""
        step = self.global_step
        steps = step - self.last_report_step
        first = step == self.start_step + 1
        if not (first or steps >= self.progress_steps or step % self.progress_steps == 0):
            return
        now = time.time()
        elapsed = now - self.last_report_time
        if not (first or steps >= self.progress_steps or elapsed >= self.progress_seconds):
            return
        self.tracker.update_memory_metrics()
        properties = {
            **self.last_metrics,
            "metric_steps": dict(self.metric_steps),
            "start_step": self.start_step,
            "step": step,
            "epoch": self.current_epoch,
            "progress": progress,
            "steps_per_second": steps / elapsed if steps > 0 and elapsed > 0 else 0,
            "elapsed_time": now - self.start_time,
            "time_since_last_report": elapsed,
            "memory": self.tracker.get_memory_metrics(),
        }
        self.manager.send_event(sc.EVENT_TRAIN_PROGRESS, properties, {sc.ATTR_STEP: step})
        self.last_report_time = now
        self.last_report_step = step

    # -- logs, evaluation, checkpoints ------------------------------------------------------------
    @guarded
    def log(self, logs: Mapping[str, Any]) -> None:
        if not self.active:
            return
        self.manager.instruments.record_logs(logs)
        for key in LAST_METRIC_KEYS:
            value = logs.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                self.last_metrics[key] = value
                self.metric_steps[key] = self.global_step
        loss = logs.get("loss")
        if isinstance(loss, (int, float)) and not isinstance(loss, bool):
            self._windows.add_loss(self.global_step, float(loss))
        train_loss = logs.get("train_loss")
        if isinstance(train_loss, (int, float)) and not isinstance(train_loss, bool):
            self.aggregate_metrics["train_loss"] = train_loss
        self._last_hook_ns = time.time_ns()

    @guarded
    def evaluate(self, metrics: Mapping[str, Any], runtime_seconds: float | None = None) -> None:
        if not self.active:
            return
        end = time.time_ns()
        runtime = runtime_seconds if runtime_seconds is not None else metrics.get("eval_runtime")
        start = end - int(float(runtime) * 1e9) if isinstance(runtime, (int, float)) else self._last_hook_ns
        attrs: dict[str, Any] = {**self._rank_attrs, sc.ATTR_STEP: self.global_step}
        loss = metrics.get("eval_loss")
        if isinstance(loss, (int, float)):
            attrs[sc.ATTR_EVAL_LOSS] = float(loss)
        span = self.manager.tracer.start_span(
            sc.SPAN_EVALUATE, context=self._run_context(), attributes=attrs, start_time=start
        )
        span.end(end_time=end)
        self.manager.instruments.record_logs({"eval_loss": loss} if loss is not None else {})
        self._last_hook_ns = end

    @guarded
    def checkpoint_saved(self, step: int | None = None, started_ns: int | None = None) -> None:
        """A checkpoint was written; the span covers the time since the previous hook."""
        if not self.active:
            return
        end = time.time_ns()
        span = self.manager.tracer.start_span(
            sc.SPAN_CHECKPOINT_SAVE,
            context=self._run_context(),
            attributes={
                **self._rank_attrs,
                sc.ATTR_CHECKPOINT_STEP: self.global_step if step is None else step,
            },
            start_time=started_ns if started_ns is not None else self._last_hook_ns,
        )
        span.end(end_time=end)
        self._last_hook_ns = end
