"""One run, three ways: Lightning, a plain loop and transformers' Trainer emit the same telemetry.

Each test trains a real tiny model on CPU for two epochs through a real manager (privacy stage
included) and checks the result with the same helper, ``assert_run_shape``: one trace, a root
``axolotl.run`` span, one ``axolotl.epoch`` span per epoch and evaluation spans under it, the
train-start/train-end events, and the same training metric names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from opentelemetry.trace import StatusCode

from otel_axolotl import loop
from otel_axolotl import semconv as sc
from tests.support.capture import TRAINING_METRICS, Captured, assert_run_shape, captured_manager  # noqa: F401

# What every integration reports, beyond the minimum assert_run_shape checks.
COMMON_METRICS = TRAINING_METRICS | {sc.METRIC_TRAIN_LEARNING_RATE, sc.METRIC_EVAL_LOSS}
EPOCHS = 2
BATCHES = 4  # per epoch
BATCH_SIZE = 8


def tiny_data(seed: int = 0) -> torch.utils.data.TensorDataset:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(BATCHES * BATCH_SIZE, 4, generator=g)
    return torch.utils.data.TensorDataset(x, x.sum(dim=1, keepdim=True))


def check_run(captured: Captured, trainer: str, *, checkpoints: bool = True) -> Any:
    run = assert_run_shape(captured, epochs=EPOCHS, trainer=trainer)
    assert run.status.status_code is StatusCode.OK
    missing = COMMON_METRICS - captured.metric_names()
    assert not missing, f"{trainer}: missing {sorted(missing)}"
    steps = [p.value for p in captured.points(sc.METRIC_TRAIN_STEPS)]
    assert steps == [EPOCHS * BATCHES], f"{trainer}: optimizer steps counted {steps}"
    [duration] = captured.points(sc.METRIC_TRAIN_STEP_DURATION)
    assert duration.value.count == EPOCHS * BATCHES and duration.unit == "s"
    assert all(p.attributes == {sc.ATTR_RANK: 0} for p in captured.points(sc.METRIC_TRAIN_LOSS))
    eval_names = {p.attributes[sc.ATTR_EVAL_METRIC_NAME] for p in captured.points(sc.METRIC_EVAL_METRIC)}
    assert "loss" in eval_names, f"{trainer}: every evaluation metric, the loss included: {eval_names}"
    if checkpoints:
        assert captured.spans_named(sc.SPAN_CHECKPOINT_SAVE), f"{trainer}: no checkpoint span"
    [end] = captured.events_named(sc.EVENT_TRAIN_END)
    assert end.attributes[sc.ATTR_RUN_STATUS] == "completed"
    assert end.body["total_steps"] == EPOCHS * BATCHES
    assert captured.events_named(sc.EVENT_TRAIN_PROGRESS), "train-progress at step 1"
    captured.assert_registered()
    return run


# ------------------------------------------------------------------ Lightning


def lightning_module(fail_at_step: int | None = None) -> Any:
    import lightning.pytorch as pl

    class Tiny(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(4, 1)

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            if fail_at_step is not None and self.global_step == fail_at_step:
                raise RuntimeError("exploding gradients")
            x, y = batch
            loss = torch.nn.functional.mse_loss(self.layer(x), y)
            self.log("train_loss", loss)
            return loss

        def validation_step(self, batch: Any, batch_idx: int) -> None:
            x, y = batch
            self.log("val_loss", torch.nn.functional.mse_loss(self.layer(x), y))

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=0.05)

    return Tiny()


def lightning_trainer(tmp_path: Path, manager: Any) -> Any:
    import lightning.pytorch as pl

    from otel_axolotl.integrations.lightning import TelemetryCallback

    return pl.Trainer(
        max_epochs=EPOCHS,
        accelerator="cpu",
        devices=1,
        enable_progress_bar=False,
        enable_model_summary=False,
        logger=False,
        enable_checkpointing=True,
        default_root_dir=str(tmp_path),
        log_every_n_steps=2,
        num_sanity_val_steps=1,
        callbacks=[TelemetryCallback(manager)],
    )


def loaders() -> tuple[Any, Any]:
    train = torch.utils.data.DataLoader(tiny_data(0), batch_size=BATCH_SIZE)
    val = torch.utils.data.DataLoader(tiny_data(1), batch_size=BATCH_SIZE)
    return train, val


def test_lightning_run(captured_manager: Any, tmp_path: Path) -> None:  # noqa: F811
    manager, captured = captured_manager
    trainer = lightning_trainer(tmp_path, manager)
    trainer.fit(lightning_module(), *loaders())
    manager.shutdown()

    run = check_run(captured, "lightning")
    assert run.attributes[sc.ATTR_TRAIN_MAX_STEPS] == EPOCHS * BATCHES
    assert run.attributes[sc.ATTR_TRAIN_NUM_EPOCHS] == EPOCHS
    assert run.attributes[sc.ATTR_TRAIN_BATCH_SIZE] == BATCH_SIZE
    evaluations = captured.spans_named(sc.SPAN_EVALUATE)
    assert len(evaluations) == EPOCHS  # the sanity check is not an evaluation
    assert all(isinstance(s.attributes.get(sc.ATTR_EVAL_LOSS), float) for s in evaluations)
    steps = [s.attributes[sc.ATTR_CHECKPOINT_STEP] for s in captured.spans_named(sc.SPAN_CHECKPOINT_SAVE)]
    assert steps == [BATCHES, 2 * BATCHES]


def test_lightning_failure(captured_manager: Any, tmp_path: Path) -> None:  # noqa: F811
    manager, captured = captured_manager
    trainer = lightning_trainer(tmp_path, manager)
    with pytest.raises(RuntimeError, match="exploding gradients"):
        trainer.fit(lightning_module(fail_at_step=5), *loaders())
    manager.shutdown()

    run = captured.one_span(sc.SPAN_RUN)
    assert run.attributes[sc.ATTR_RUN_STATUS] == "failed"
    assert run.status.status_code is StatusCode.ERROR
    assert [e.name for e in run.events] == [sc.EVENT_EXCEPTION]
    [error] = [e for e in captured.events if e.event_name.endswith("-error")]
    assert error.event_name == f"{__name__}.training_step-error"
    [end] = captured.events_named(sc.EVENT_TRAIN_END)
    assert end.attributes == {
        sc.ATTR_RANK: 0,
        sc.ATTR_STEP: 5,
        sc.ATTR_RUN_STATUS: "failed",
        sc.ATTR_PRIVACY_REDACTIONS: 0,
    }
    assert all(s.end_time <= run.end_time for s in captured.spans)
    captured.assert_registered()


# ------------------------------------------------------------------ plain loop


def test_plain_loop_run(captured_manager: Any, tmp_path: Path) -> None:  # noqa: F811
    manager, captured = captured_manager
    model = torch.nn.Linear(4, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    train, val = loaders()
    with loop.run(manager, max_steps=EPOCHS * BATCHES, num_epochs=EPOCHS, batch_size=BATCH_SIZE) as run:
        for _ in range(EPOCHS):
            with run.epoch():
                for x, y in train:
                    with run.step() as step:
                        loss = torch.nn.functional.mse_loss(model(x), y)
                        optimizer.zero_grad()
                        loss.backward()
                        optimizer.step()
                        step.log(loss=loss.item(), learning_rate=optimizer.param_groups[0]["lr"])
            with run.evaluate(), torch.no_grad():
                losses = [torch.nn.functional.mse_loss(model(x), y) for x, y in val]
                run.log_eval(eval_loss=torch.stack(losses).mean())  # a tensor is fine too
            with run.checkpoint():
                torch.save(model.state_dict(), tmp_path / f"step-{run.global_step}.pt")
    manager.shutdown()

    run_span = check_run(captured, "loop")
    assert run_span.attributes[sc.ATTR_TRAIN_MAX_STEPS] == EPOCHS * BATCHES
    steps = [s.attributes[sc.ATTR_CHECKPOINT_STEP] for s in captured.spans_named(sc.SPAN_CHECKPOINT_SAVE)]
    assert steps == [BATCHES, 2 * BATCHES]


def test_plain_loop_failure(captured_manager: Any) -> None:  # noqa: F811
    manager, captured = captured_manager
    error = ValueError("bad batch")
    with pytest.raises(ValueError) as info, loop.run(manager) as run, run.epoch():
        for i in range(3):
            with run.step():
                if i == 2:
                    raise error
    assert info.value is error
    manager.shutdown()

    run_span = captured.one_span(sc.SPAN_RUN)
    assert run_span.attributes[sc.ATTR_RUN_STATUS] == "failed"
    assert run_span.status.status_code is StatusCode.ERROR
    [error_event] = [e for e in captured.events if e.event_name.endswith("-error")]
    assert error_event.event_name == f"{__name__}.test_plain_loop_failure-error"
    [end] = captured.events_named(sc.EVENT_TRAIN_END)
    assert end.attributes[sc.ATTR_STEP] == 2  # the failing step is not counted
    [epoch] = captured.spans_named(sc.SPAN_EPOCH)
    assert epoch.end_time <= run_span.end_time
    captured.assert_registered()


def test_plain_loop_interrupted(captured_manager: Any) -> None:  # noqa: F811
    manager, captured = captured_manager
    with pytest.raises(KeyboardInterrupt), loop.run(manager):
        raise KeyboardInterrupt
    manager.shutdown()
    assert captured.one_span(sc.SPAN_RUN).attributes[sc.ATTR_RUN_STATUS] == "interrupted"
    assert not [e for e in captured.events if e.event_name.endswith("-error")]


# ------------------------------------------------------------------ transformers


def test_transformers_run(captured_manager: Any, tmp_path: Path) -> None:  # noqa: F811
    from transformers import Trainer

    from otel_axolotl.callbacks import TelemetryCallback
    from otel_axolotl.demo import build_model_and_data, training_arguments

    manager, captured = captured_manager
    model, train, evaluation = build_model_and_data(samples=BATCHES * BATCH_SIZE)
    args = training_arguments(
        str(tmp_path), epochs=EPOCHS, per_device_train_batch_size=BATCH_SIZE, logging_steps=2
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=train,
        eval_dataset=evaluation,
        callbacks=[TelemetryCallback(manager)],
    )
    trainer.train()
    manager.shutdown()

    run = check_run(captured, "transformers")
    assert run.attributes[sc.ATTR_TRAIN_MAX_STEPS] == EPOCHS * BATCHES
