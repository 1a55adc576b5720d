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
    """Run span, epoch/evaluation/checkpoint spans, training metrics and Axolotl's events."""

    def __init__(self, manager: Any = None) -> None:
        self.recorder = RunRecorder(_manager(manager), trainer="transformers")
        self._step_started: float | None = None
        self._sample_steps = bool(self.recorder.step_span_ratio)

    @property
    def telemetry_manager(self) -> Any:
        return self.recorder.manager

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
        self.recorder.train_begin(attrs)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.recorder.train_end("completed")

    def on_epoch_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.recorder.epoch_begin()

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
        """Hot path: the clock read is kept here, one object fewer to touch than the
        recorder's ``step_begin`` (see ``RunRecorder.step_end``); cannot raise."""
        self._step_started = perf_counter()
        if self._sample_steps:
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
        started, self._step_started = self._step_started, None
        self.recorder.step_end(state.global_step, state.epoch, started)

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
            self.recorder.log(logs)

    def on_evaluate(self, args: Any, state: Any, control: Any, metrics: Any = None, **kwargs: Any) -> None:
        self.recorder.evaluate(metrics or {})

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.recorder.checkpoint_saved(state.global_step)
