"""What a training run looks like as telemetry, independent of the training framework.

The transformers callback, the Lightning callback and the plain-loop API are thin adapters
over one ``RunRecorder``, so all three emit the same span tree, metric names and events.
Every public method is guarded: a telemetry bug is logged once and never reaches training.
Per-step work is one clock read each side of the step and an append (the metric reader's
thread does the rest, see ``instruments``); most steps are "quiet" (``quiet_steps``): nothing
can be due at them, so an adapter only appends their duration. Network I/O happens on
exporter threads only. Every span carries ``axolotl.rank``. An open run is known to the manager, so a
signal (``manager.interrupt()``) ends it with ``train-end`` as ``interrupted``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from time import perf_counter
from typing import TYPE_CHECKING, Any

from . import semconv as sc
from .guard import guarded, hook_failed
from .instruments import RUN_SUMMARY_MARKER, STEP_BATCH, run_summary_attributes
from .progress import LAST_METRIC_KEYS, ProgressRule
from .run_spans import RunSpans
from .runtime_metrics import RuntimeMetrics, RuntimeMetricsTracker
from .windows import WindowSpans

if TYPE_CHECKING:
    from .host import TelemetryHost

_logger = logging.getLogger("otel_axolotl")


class RunRecorder(RunSpans):
    """Spans, metrics and events for one training run (the spans below the run: ``RunSpans``)."""

    def __init__(self, manager: TelemetryHost, trainer: str) -> None:
        settings = manager.settings
        # What the hot path (step_end, log, TelemetryCallback.on_step_end) touches is assigned
        # first: an instance's values are stored in insertion order, so these share one or two
        # cache lines, and right after a training step every cache line is a miss.
        self.quiet_steps = 0
        """How many of the next steps need nothing but their duration appended to
        ``step_durations``: no window, progress event or step span can be due at them. An
        adapter that counts them down itself skips ``step_end`` for those (the transformers
        callback does); ``global_step`` counts them."""
        self.step_durations: Any = None  # the instruments' step buffer, appended to directly
        self._step_started: float | None = None
        self.last_hook = perf_counter()
        """When the previous hook ran (``perf_counter``): where spans without a start begin."""
        self._step = 0  # the step when quiet_steps was last set (see global_step)
        self._quiet_armed = 0  # ... and the quiet steps it was set to
        self._step_span: Any = None
        self._window_due = 1 << 62  # the next step at which the open window is checked (windows.py)
        self._window_losses: list[tuple[int, Any]] = []  # (step, loss) logged, for the windows
        self._pending_logs: Any = None  # the instruments' log buffer, likewise
        self._logged: dict[str, Any] = {}  # every numeric key this run logged -> latest value
        self._logged_at: dict[str, int] = {}  # ... and the step it was logged at
        self.progress = ProgressRule(settings.progress_steps, settings.progress_seconds)
        """Axolotl's progress rule and its state (last report, start), read by the callback."""
        self._tracked_step = 0  # the last step handed to the tracker (see _sync_tracker)
        self.manager = manager
        self.trainer = trainer
        self.step_span_ratio = settings.step_span_ratio
        self.tracker = RuntimeMetricsTracker()
        self.current_epoch = -1
        # What Axolotl's progress and end events carry: the latest value of each metric that was
        # actually logged, the step it was logged at, and the run mean transformers logs last.
        # Logs are folded in lazily (refresh_last_metrics), not on the hot path.
        self.last_metrics: dict[str, Any] = {}
        self.metric_steps: dict[str, int] = {}
        self.aggregate_metrics: dict[str, Any] = {}
        self.run_summary: dict[str, float] = {}  # the trainer's closing log, as run span attributes
        self._instruments: Any = None  # resolved once: the hot path skips the manager
        self._epoch_span: Any = None
        self._started = False
        self._ended = False
        self._rank_attrs: dict[str, Any] = {sc.ATTR_RANK: manager.rank.rank}
        self._windows = WindowSpans(manager, self._rank_attrs, settings.window_steps, settings.window_seconds)
        self._windows.losses = self._window_losses

    # -- the step counter, and the quiet steps ahead ---------------------------------------------
    @property
    def global_step(self) -> int:
        """Optimizer steps so far, quiet ones included."""
        return self._step + self._quiet_armed - self.quiet_steps

    @global_step.setter
    def global_step(self, step: int) -> None:
        self._step = step
        self._quiet_armed = self.quiet_steps

    def _rearm(self) -> None:
        """Count the quiet steps ahead again, after anything that moved what can be due."""
        step = self._step = self.global_step
        quiet = 0
        if self.step_durations is not None and self._step_span is None and not self.step_span_ratio:
            quiet = max(0, min(self._window_due, self.progress.due) - step - 1)
        self.quiet_steps = self._quiet_armed = quiet

    @property
    def progress_steps(self) -> int:
        return self.progress.every

    @progress_steps.setter
    def progress_steps(self, steps: int) -> None:
        self.progress.set_every(steps, self.global_step)
        self._rearm()

    # -- run ---------------------------------------------------------------------------------
    @guarded
    def train_begin(self, attributes: Mapping[str, Any] | None = None, start_step: int = 0) -> None:
        """``start_step``: the step training starts from (a resumed run's checkpoint step)."""
        if not self.active or self._started:
            return
        self._started = True
        self.manager.track_run(self)
        self.global_step = self._tracked_step = start_step
        self.progress.start(start_step)
        self.tracker.metrics = RuntimeMetrics(start_time=self.progress.start_time)
        attrs = {sc.ATTR_TRAINER: self.trainer, **(attributes or {})}
        self.manager.start_run(attrs)
        self._resolve_instruments()
        # Axolotl sends system-info after config-loaded; a run nothing sent config-loaded for
        # (a plain Trainer, TRL, accelerate) gets it here. The manager sends it once.
        self.manager.send_system_info()
        start_attrs = {
            k: v for k, v in attrs.items() if k in (sc.ATTR_TRAIN_MAX_STEPS, sc.ATTR_TRAIN_NUM_EPOCHS)
        }
        self.manager.send_event(sc.EVENT_TRAIN_START, {}, start_attrs)
        self._open_window(self._run_context())  # until the first epoch begins (and _rearm)

    @guarded
    def train_end(self, status: str = "completed", error: BaseException | None = None) -> None:
        if not self.active or self._ended:
            return
        self._ended = True
        self.manager.untrack_run(self)
        if error is not None:
            self._record_error(error)
        self._end_step_span()
        self.epoch_end()
        self._close_window()
        self.refresh_last_metrics()
        self._sync_tracker()
        self._instruments = self.step_durations = self._pending_logs = None  # nothing after the end
        self._rearm()
        self.tracker.update_memory_metrics()
        summary = {
            **self.tracker.metrics.to_dict(),
            "step": self.global_step,
            "start_step": self.progress.start_step,
            "aggregate": dict(self.aggregate_metrics),
            "latest_step": {**self.last_metrics, "metric_steps": dict(self.metric_steps)},
        }
        self.manager.send_event(
            sc.EVENT_TRAIN_END, summary, {sc.ATTR_STEP: self.global_step, sc.ATTR_RUN_STATUS: status}
        )
        self.manager.end_run(status, error)

    def _record_error(self, error: BaseException) -> None:
        """The error that ended the run: its exception event (on the current span or the run
        span) and its ``<module>.<function>-error`` event, unless an integration or
        ``send_errors`` already reported this very exception (``errors.report`` tells once)."""
        if not isinstance(error, Exception):
            return
        from .error_report import error_event_name, report

        name = error_event_name(error.__traceback__)
        report(error, name, name.removesuffix("-error"), self.manager, end_run=False)

    def _resolve_instruments(self) -> Any:
        """The instruments, for a recorder whose hot path runs before (or without) train_begin;
        None once the run ended or while telemetry is off."""
        if self._ended or not self.active:
            return None
        instruments = self._instruments = self.manager.instruments
        self.step_durations = instruments.pending_steps
        self._pending_logs = instruments.pending_logs
        self._rearm()
        return instruments

    def _sync_tracker(self) -> None:
        """Hand the steps since the last sync to Axolotl's ``RuntimeMetricsTracker``, as if
        it had been told at each step. Done before anything reads it (progress and end
        events), not on the hot path: calling it every step cost about 1.5 us."""
        update, last = self.tracker.update_step, self.global_step
        for step in range(self._tracked_step + 1, last + 1):
            update(step)
        self._tracked_step = last

    def step_begin(self) -> None:
        """Hot path: one clock read, plus a span only when sampling asks for one. Nothing here
        can raise (a sampled span is guarded on its own); recorded even while inactive, since
        checking would cost more than the clock read."""
        self._step_started = perf_counter()
        if self.step_span_ratio:
            self.maybe_begin_step_span()

    def step_end(
        self,
        global_step: int | None = None,
        progress: float | None = None,
        started: float | None = None,
        now: float | None = None,
    ) -> None:
        """A step ended: its duration appended to the instruments' buffer (the reader thread
        counts and records it); the window, progress event and step span when one is due.
        ``started`` is the step's ``perf_counter()`` start for callers that keep it themselves
        (default: ``step_begin``'s), ``now`` its end. Guarded inline (see hook_failed)."""
        try:
            if now is None:
                now = perf_counter()
            pending = self.step_durations
            if pending is None:
                if self._resolve_instruments() is None:
                    return
                pending = self.step_durations
            if started is None:
                started = self._step_started
            self._step_started = None
            pending.append(-1.0 if started is None else now - started)
            following = self.global_step + 1
            step = following if global_step is None else global_step
            if step != following:  # a jump (a resume, two optimizers, a restart)
                self._sync_tracker()  # ... counts as one step for Axolotl's tracker, as before
                self._tracked_step = step - 1
            self.global_step = step
            self.last_hook = now
            if self._step_span is not None:
                self._end_step_span()
            if step >= self._window_due:
                self._windows.check(step)
                self._window_due = self._windows.next_check
            if step >= self.progress.due:
                self._progress_due(step, progress)
            self._rearm()
        except Exception as exc:
            hook_failed("RunRecorder.step_end", exc)

    def _progress_due(self, step: int, progress: float | None) -> None:
        """A progress event may be due: also the moment to bound the buffers when no reader
        drains them."""
        instruments = self._instruments
        if instruments is not None:
            if len(instruments.pending_steps) >= STEP_BATCH:
                instruments.record_pending()
            if len(instruments.pending_logs) >= STEP_BATCH:
                instruments.fold_logs()
        self._sync_tracker()
        rule = self.progress
        now = rule.fires(step)
        if now is not None:
            self.tracker.update_memory_metrics()
            self.refresh_last_metrics()
            memory = self.tracker.get_memory_metrics()
            properties = rule.properties(
                step, now, self.last_metrics, self.metric_steps, self.current_epoch, progress, memory
            )
            self.manager.send_event(sc.EVENT_TRAIN_PROGRESS, properties, {sc.ATTR_STEP: step})
            rule.reported(step, now)
        rule.advance(step)

    def refresh_last_metrics(self) -> None:
        """Bring ``last_metrics`` and ``metric_steps`` up to date with the logs handed over
        since the last time (the hot path only hands them over)."""
        instruments = self._instruments
        if instruments is not None:
            instruments.fold_logs()
        logged, logged_at = self._logged, self._logged_at
        for key in LAST_METRIC_KEYS:
            if key in logged:
                self.last_metrics[key] = logged[key]
                self.metric_steps[key] = logged_at[key]

    # -- logs ------------------------------------------------------------------------------------
    def log(self, logs: Mapping[str, Any], step: int | None = None) -> None:
        """Hot path on logging steps: the dict is handed to the instruments, folded later.
        ``step``: the step the logs are of (default: the recorder's count).

        transformers' closing log (the run's mean loss, runtime and throughput, after the
        last step) is the run's summary, not a step's figures: it goes to the run span, and
        the step loss gauge keeps the last step's loss."""
        try:
            pending = self._pending_logs
            if pending is None:
                if self._resolve_instruments() is None:
                    return
                pending = self._pending_logs
            if RUN_SUMMARY_MARKER in logs:
                self._record_run_summary(logs)
            else:  # what instruments.record_logs does, one call and one object fewer
                if step is None:
                    step = self.global_step
                pending.append((dict(logs), self._logged, self._logged_at, step))
                loss = logs.get("loss")
                if loss is not None:
                    self._window_losses.append((step, loss))
            self.last_hook = perf_counter()
        except Exception as exc:
            hook_failed("RunRecorder.log", exc)

    def _record_run_summary(self, logs: Mapping[str, Any]) -> None:
        train_loss = logs.get("train_loss")
        if isinstance(train_loss, (int, float)) and not isinstance(train_loss, bool):
            self.aggregate_metrics["train_loss"] = train_loss
        self.run_summary = run_summary_attributes(logs)
        span = self.manager.run_span
        if span is not None and self.run_summary:
            span.set_attributes(self.run_summary)
