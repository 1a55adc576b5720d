"""``TelemetryCallback`` for PyTorch Lightning: the same run telemetry as the transformers
callback (one ``RunRecorder`` underneath), so dashboards do not care which trainer ran.

    import lightning.pytorch as pl
    from otel_axolotl.integrations.lightning import TelemetryCallback

    trainer = pl.Trainer(callbacks=[TelemetryCallback()])

Hook mapping: train start/end -> the run span; train epoch start/end -> epoch spans; each
optimizer step -> the step counter and duration (micro-batches of gradient accumulation are
one step); validation epochs -> evaluation spans and every numeric ``val_*`` metric (the
sanity check is skipped); checkpoint saves -> checkpoint spans; ``on_exception`` -> the
error event and a ``failed`` run.

Logged metrics are read from ``trainer.callback_metrics`` only every ``log_every_n_steps``
steps, Lightning's own logging cadence: turning a GPU tensor into a float waits for the GPU,
and doing that every step would slow training down.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

from lightning.pytorch.callbacks import Callback

from .. import semconv as sc
from ..guard import guarded
from ..recorder import RunRecorder

__all__ = ["TelemetryCallback"]

# Lightning's usual names -> the transformers names RunRecorder.log understands.
_TRAIN_KEYS: Mapping[str, str] = {
    "loss": "loss",
    "train_loss": "loss",
    "train/loss": "loss",
    "grad_norm": "grad_norm",
    "train/grad_norm": "grad_norm",
    "lr": "learning_rate",
    "learning_rate": "learning_rate",
    "tokens_per_second": "tokens_per_second",
    "samples_per_second": "samples_per_second",
}
_EVAL_LOSS_KEYS = ("val_loss", "valid_loss", "validation_loss", "val/loss", "eval_loss")
_EVAL_PREFIXES = ("validation_", "valid_", "val_", "val/", "eval_")


def _manager(manager: Any) -> Any:
    if manager is not None:
        return manager
    from ..manager import get_default

    return get_default()


def _number(value: Any) -> float | None:
    """A logged value as a float (tensors included), or None for anything else."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, RuntimeError):
        return None
    return number if math.isfinite(number) else None


def _metric(metrics: Mapping[str, Any], key: str) -> float | None:
    """``key``, or Lightning's per-step variant ``key_step`` (logged with on_step and on_epoch)."""
    for candidate in (key, f"{key}_step", f"{key}_epoch"):
        if candidate in metrics:
            return _number(metrics[candidate])
    return None


class TelemetryCallback(Callback):
    """Run span, epoch/evaluation/checkpoint spans, training metrics and Axolotl's events."""

    def __init__(self, manager: Any = None) -> None:
        self.recorder = RunRecorder(_manager(manager), trainer="lightning")
        self._step_open = False
        self._last_global_step = 0
        self._validation_started: float | None = None
        self._checkpoint_started_ns: int | None = None
        self._checkpoint_step = 0

    @property
    def telemetry_manager(self) -> Any:
        return self.recorder.manager

    # -- run --------------------------------------------------------------------------------
    @guarded
    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        if not self.recorder.active:
            return
        attrs: dict[str, Any] = {}
        max_steps = trainer.max_steps if trainer.max_steps and trainer.max_steps > 0 else None
        if max_steps is None:
            estimated = trainer.estimated_stepping_batches
            if isinstance(estimated, (int, float)) and math.isfinite(estimated):
                max_steps = int(estimated)
        if max_steps is not None:
            attrs[sc.ATTR_TRAIN_MAX_STEPS] = int(max_steps)
        if trainer.max_epochs is not None and trainer.max_epochs >= 0:
            attrs[sc.ATTR_TRAIN_NUM_EPOCHS] = float(trainer.max_epochs)
        batch_size = getattr(trainer.train_dataloader, "batch_size", None)
        if isinstance(batch_size, int):
            attrs[sc.ATTR_TRAIN_BATCH_SIZE] = batch_size
        accumulation = getattr(trainer, "accumulate_grad_batches", None)
        if isinstance(accumulation, int):
            attrs[sc.ATTR_TRAIN_GRADIENT_ACCUMULATION_STEPS] = accumulation
        self._last_global_step = int(trainer.global_step)
        self.recorder.train_begin(attrs)

    @guarded
    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        self._flush_checkpoint()
        self._log_train_metrics(trainer)
        self.recorder.train_end("completed")

    @guarded
    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        self._flush_checkpoint()
        if isinstance(exception, Exception):
            from ..error_report import error_event_name, report

            name = error_event_name(exception.__traceback__)
            report(exception, name, name.removesuffix("-error"), self.recorder.manager, end_run=False)
            self.recorder.train_end("failed", exception)
        else:  # KeyboardInterrupt: Lightning shuts down gracefully; not an error
            self.recorder.train_end("interrupted")

    # -- epochs and steps -------------------------------------------------------------------
    @guarded
    def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        self._flush_checkpoint()
        self.recorder.epoch_begin(int(trainer.current_epoch))

    @guarded
    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        self._flush_checkpoint()
        self.recorder.epoch_end()

    def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int) -> None:
        """Hot path: a step starts at its first micro-batch."""
        if self._checkpoint_started_ns is not None:
            self._flush_checkpoint()
        if not self._step_open:
            self._step_open = True
            self.recorder.step_begin()

    @guarded
    def on_train_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        """Hot path: a step ends when the optimizer stepped (global_step moved)."""
        global_step = int(trainer.global_step)
        if global_step == self._last_global_step:
            return  # a micro-batch of gradient accumulation
        self._last_global_step = global_step
        self._step_open = False
        progress = None
        batches = trainer.num_training_batches
        if isinstance(batches, (int, float)) and math.isfinite(batches) and batches > 0:
            progress = trainer.current_epoch + (batch_idx + 1) / batches
        every = max(1, int(getattr(trainer, "log_every_n_steps", 50) or 50))
        if global_step == 1 or global_step % every == 0:
            self._log_train_metrics(trainer, progress, outputs)
        self.recorder.step_end(global_step, progress)

    def _log_train_metrics(self, trainer: Any, progress: float | None = None, outputs: Any = None) -> None:
        """What the run logged, plus the step's loss (from ``training_step``'s return value
        when the module does not log one) and the optimizer's learning rate."""
        if not self.recorder.active:
            return
        metrics = trainer.callback_metrics
        logs: dict[str, float] = {}
        for key, name in _TRAIN_KEYS.items():
            value = _metric(metrics, key)
            if value is not None and name not in logs:
                logs[name] = value
        if "loss" not in logs and outputs is not None:
            loss = _number(outputs.get("loss") if isinstance(outputs, Mapping) else outputs)
            if loss is not None:
                logs["loss"] = loss
        if "learning_rate" not in logs:
            optimizers = getattr(trainer, "optimizers", None) or []
            if optimizers and optimizers[0].param_groups:
                lr = _number(optimizers[0].param_groups[0].get("lr"))
                if lr is not None:
                    logs["learning_rate"] = lr
        if progress is not None:
            logs["epoch"] = progress
        if logs:
            self.recorder.log(logs)

    # -- evaluation and checkpoints ------------------------------------------------------------
    @guarded
    def on_validation_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        self._flush_checkpoint()
        self._validation_started = None if trainer.sanity_checking else time.perf_counter()

    @guarded
    def on_validation_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        started, self._validation_started = self._validation_started, None
        if started is None or trainer.sanity_checking:
            return
        runtime = time.perf_counter() - started
        metrics = trainer.callback_metrics
        result: dict[str, float] = {}
        for key in _EVAL_LOSS_KEYS:
            value = _metric(metrics, key)
            if value is not None:
                result["eval_loss"] = value
                break
        for key, raw in metrics.items():  # every other validation metric, under transformers' names
            for prefix in _EVAL_PREFIXES:
                if key.startswith(prefix):
                    name = "eval_" + key[len(prefix) :].removesuffix("_epoch").removesuffix("_step")
                    value = _number(raw)
                    if value is not None and name not in result:
                        result[name] = value
                    break
        self.recorder.evaluate(result, runtime_seconds=runtime)

    @guarded
    def on_save_checkpoint(self, trainer: Any, pl_module: Any, checkpoint: dict[str, Any]) -> None:
        """Called just before the checkpoint is written; the span ends at the next hook, so it
        covers the write itself."""
        self._flush_checkpoint()
        self._checkpoint_started_ns = time.time_ns()
        self._checkpoint_step = int(trainer.global_step)

    def _flush_checkpoint(self) -> None:
        started, self._checkpoint_started_ns = self._checkpoint_started_ns, None
        if started is not None:
            self.recorder.checkpoint_saved(self._checkpoint_step, started_ns=started)
