"""``TelemetryCallback``: a ``transformers.TrainerCallback`` that reports the run.

transformers' ``report_to`` accepts only its built-in integrations, so the callback goes in
through ``callbacks=[TelemetryCallback()]``, ``trainer.add_callback``, or automatically after
``otel_axolotl.init()`` (see ``instrumentor``).
"""

from __future__ import annotations

from time import perf_counter
from typing import Any

from transformers import TrainerCallback

from . import semconv as sc
from .recorder import RunRecorder


def _manager(manager: Any) -> Any:
    if manager is not None:
        return manager
    from .manager import get_default

    return get_default()


def _model_name(model: Any) -> str | None:
    config = getattr(model, "config", None)
    name = getattr(config, "_name_or_path", None) or getattr(model, "name_or_path", None)
    return name if isinstance(name, str) and name else None


class TelemetryCallback(TrainerCallback):
    """Run span, epoch/evaluation/checkpoint spans, training metrics and Axolotl's events.

    Axolotl's public attributes are here with their meaning (``tracker``,
    ``report_interval_steps``, ``current_epoch``, ``start_time``, ``start_step``,
    ``last_report_time``, ``last_report_step``, ``latest_metrics``, ``metric_steps``,
    ``aggregate_metrics``, ``telemetry_manager``): views of the one ``RunRecorder`` that keeps
    them, so code written against Axolotl's callback reads the same state.
    """

    def __init__(self, manager: Any = None) -> None:
        self.recorder = RunRecorder(_manager(manager), trainer="transformers")
        self._step_started: float | None = None
        if self.recorder.step_span_ratio:  # sampled step spans: a step may begin one
            self.on_step_begin = self._on_step_begin_sampled  # type: ignore[method-assign,assignment]

    @property
    def telemetry_manager(self) -> Any:
        return self.recorder.manager

    @property
    def tracker(self) -> Any:
        return self.recorder.tracker

    @property
    def report_interval_steps(self) -> int:
        """Steps between two ``train-progress`` events (OTEL_AXOLOTL_PROGRESS_STEPS)."""
        return int(self.recorder.progress_steps)

    @report_interval_steps.setter
    def report_interval_steps(self, steps: int) -> None:
        self.recorder.progress_steps = steps  # re-tested from the next step

    @property
    def current_epoch(self) -> int:
        return int(self.recorder.current_epoch)

    @property
    def start_time(self) -> float:
        return float(self.recorder.progress.start_time)

    @property
    def start_step(self) -> int:
        return int(self.recorder.progress.start_step)

    @property
    def last_report_time(self) -> float:
        return float(self.recorder.progress.last_time)

    @property
    def last_report_step(self) -> int:
        return int(self.recorder.progress.last_step)

    @property
    def latest_metrics(self) -> dict[str, Any]:
        self.recorder.refresh_last_metrics()  # logs are folded lazily, off the hot path
        return self.recorder.last_metrics

    @property
    def metric_steps(self) -> dict[str, int]:
        self.recorder.refresh_last_metrics()
        return self.recorder.metric_steps

    @property
    def aggregate_metrics(self) -> dict[str, Any]:
        return self.recorder.aggregate_metrics

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        attrs: dict[str, Any] = {
            sc.ATTR_TRAIN_MAX_STEPS: int(state.max_steps or 0),
            sc.ATTR_TRAIN_NUM_EPOCHS: float(args.num_train_epochs),
            sc.ATTR_TRAIN_BATCH_SIZE: int(args.per_device_train_batch_size),
            sc.ATTR_TRAIN_GRADIENT_ACCUMULATION_STEPS: int(args.gradient_accumulation_steps),
        }
        name = _model_name(model)
        if name:
            attrs[sc.ATTR_GEN_AI_REQUEST_MODEL] = name
        self.recorder.train_begin(attrs, start_step=int(state.global_step or 0))

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.recorder.train_end("completed")

    def on_epoch_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.recorder.epoch_begin(int(state.epoch or 0))  # Axolotl's epoch number

    def on_epoch_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.recorder.epoch_end()

    # The hot hooks name the keyword arguments transformers passes every hook (its
    # CallbackHandler.call_event), so Python binds them instead of building a **kwargs dict
    # of seven entries per call: about 1 us a step with the caches cold after a step.
    # Anything else transformers passes still lands in **kwargs.
    def on_step_begin(
        self,
        args: Any,
        state: Any,
        control: Any,
        model: Any = None,
        processing_class: Any = None,
        optimizer: Any = None,
        lr_scheduler: Any = None,
        train_dataloader: Any = None,
        eval_dataloader: Any = None,
        **kwargs: Any,
    ) -> None:
        """Hot path: the clock read, kept here (one object fewer to touch than the recorder's
        ``step_begin``, see ``on_step_end``); cannot raise."""
        self._step_started = perf_counter()

    def _on_step_begin_sampled(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """``on_step_begin`` while step spans are sampled (OTEL_AXOLOTL_STEP_SPANS > 0)."""
        self._step_started = perf_counter()
        self.recorder.maybe_begin_step_span()

    def on_step_end(
        self,
        args: Any,
        state: Any,
        control: Any,
        model: Any = None,
        processing_class: Any = None,
        optimizer: Any = None,
        lr_scheduler: Any = None,
        train_dataloader: Any = None,
        eval_dataloader: Any = None,
        **kwargs: Any,
    ) -> None:
        """Hot path. At a quiet step (``RunRecorder.quiet_steps``: most of them) the step's
        duration is appended and the count moves on; at the others the recorder's
        ``step_end`` does the rest. Doing the quiet steps here, without a second call, touches
        three objects (this one, the recorder, the buffer): right after a training step each
        object touched is a few cache misses, and each miss costs."""
        now = perf_counter()
        recorder = self.recorder
        quiet = recorder.quiet_steps
        if quiet > 0:
            try:
                recorder.step_durations.append(now - self._step_started)  # type: ignore[operator]
            except Exception:  # no step_begin (never from transformers): the general path
                pass
            else:
                recorder.quiet_steps = quiet - 1
                recorder.last_hook = now
                self._step_started = None
                return
        started, self._step_started = self._step_started, None
        recorder.step_end(state.global_step, state.epoch, started, now)

    def on_prediction_step(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """As Axolotl: sample accelerator memory during evaluation, whose peaks it would miss."""
        self.recorder.tracker.update_gpu_memory_metrics()

    def on_log(
        self,
        args: Any,
        state: Any,
        control: Any,
        logs: Any = None,
        model: Any = None,
        processing_class: Any = None,
        optimizer: Any = None,
        lr_scheduler: Any = None,
        train_dataloader: Any = None,
        eval_dataloader: Any = None,
        **kwargs: Any,
    ) -> None:
        if logs:
            self.recorder.log(logs, state.global_step)

    def on_evaluate(self, args: Any, state: Any, control: Any, metrics: Any = None, **kwargs: Any) -> None:
        self.recorder.evaluate(metrics or {})

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.recorder.checkpoint_saved(state.global_step)
