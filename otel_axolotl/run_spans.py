"""The spans below the run span: epochs, windows, sampled steps, evaluations, checkpoints.

``RunRecorder`` inherits these: they share its state (the manager, the rank attributes, the
open epoch and window, the step counter), and keeping them here leaves ``recorder`` with the
run's life, its steps and its events. Every span carries ``axolotl.rank`` and hangs under the
run span (a window or a step under the open epoch, when there is one).
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from time import perf_counter
from typing import TYPE_CHECKING, Any

from . import semconv as sc
from .guard import guarded

if TYPE_CHECKING:
    from .host import TelemetryHost
    from .runtime_metrics import RuntimeMetricsTracker
    from .windows import WindowSpans


class RunSpans:
    """The span-making half of ``RunRecorder`` (its attributes are set by ``RunRecorder``)."""

    manager: TelemetryHost
    tracker: RuntimeMetricsTracker
    current_epoch: int
    global_step: int
    last_hook: float
    step_span_ratio: float
    _rank_attrs: dict[str, Any]
    _epoch_span: Any
    _step_span: Any
    _windows: WindowSpans
    _window_due: int
    _instruments: Any
    _logged: dict[str, Any]
    _logged_at: dict[str, int]

    @property
    def active(self) -> bool:
        return bool(self.manager.active)

    def _rearm(self) -> None:  # RunRecorder's: what can be due moved
        raise NotImplementedError

    def _run_context(self) -> Any:
        from opentelemetry import trace

        run = self.manager.run_span
        return trace.set_span_in_context(run) if run is not None else None

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
        from opentelemetry import trace

        self._open_window(trace.set_span_in_context(self._epoch_span))

    @guarded
    def epoch_end(self) -> None:
        """The epoch span ends; its steps' durations are recorded by the next collection
        (recording them here cost ~15 us a step on the training thread)."""
        if self._epoch_span is not None:
            self.tracker.end_epoch(self.current_epoch)
            self._end_epoch_span()

    # -- window spans (windows.py): the hot path pays one compare against _window_due ---------
    def _open_window(self, parent_context: Any) -> None:
        self._windows.open(parent_context, self.global_step)
        self._window_due = self._windows.next_check
        self._rearm()

    def _close_window(self) -> None:
        self._windows.close(self.global_step)
        self._window_due = self._windows.next_check
        self._rearm()

    def _end_epoch_span(self) -> None:
        self._close_window()  # a window never outlives its epoch
        span, self._epoch_span = self._epoch_span, None
        if span is not None:
            span.end()

    @guarded
    def maybe_begin_step_span(self) -> None:
        """A step span for the sampled share of steps (OTEL_AXOLOTL_STEP_SPANS)."""
        if not self.active or random.random() >= self.step_span_ratio:
            return
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

    def _last_hook_ns(self) -> int:
        """Wall-clock time of the previous hook (kept as a perf_counter reading: cheaper)."""
        return time.time_ns() - int((perf_counter() - self.last_hook) * 1e9)

    # -- evaluations and checkpoints ----------------------------------------------------------
    @guarded
    def evaluate(self, metrics: Mapping[str, Any], runtime_seconds: float | None = None) -> None:
        """An evaluation span, and every numeric metric of it for ``axolotl.eval.metric``
        (keys without transformers' ``eval_`` prefix get it: they are this evaluation's)."""
        if not self.active:
            return
        end = time.time_ns()
        runtime = runtime_seconds if runtime_seconds is not None else metrics.get("eval_runtime")
        start = end - int(float(runtime) * 1e9) if isinstance(runtime, (int, float)) else self._last_hook_ns()
        attrs: dict[str, Any] = {**self._rank_attrs, sc.ATTR_STEP: self.global_step}
        loss = metrics.get("eval_loss")
        if isinstance(loss, (int, float)):
            attrs[sc.ATTR_EVAL_LOSS] = float(loss)
        span = self.manager.tracer.start_span(
            sc.SPAN_EVALUATE, context=self._run_context(), attributes=attrs, start_time=start
        )
        span.end(end_time=end)
        results = {
            key if key.startswith("eval_") else f"eval_{key}": value
            for key, value in metrics.items()
            if key != "epoch"
        }
        instruments = self._instruments or self.manager.instruments
        instruments.record_logs(results, self._logged, self._logged_at, self.global_step)
        self.last_hook = perf_counter()

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
            start_time=started_ns if started_ns is not None else self._last_hook_ns(),
        )
        span.end(end_time=end)
        self.last_hook = perf_counter()
