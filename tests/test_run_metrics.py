"""Metrics that mean what they say, from real transformers.Trainer runs.

* ``axolotl.train.loss`` is the last step's loss: transformers' closing ``train_loss`` (the
  run mean) goes to the run span as ``axolotl.train.summary.*``;
* a run shorter than the export interval still delivers its points at shutdown (real rotel);
* every numeric evaluation metric arrives as ``axolotl.eval.metric`` (one fixed metric name,
  the metric told by ``axolotl.eval.metric.name``), process memory beside it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from otel_axolotl import semconv as sc
from otel_axolotl.manager import TelemetryManager
from tests.support.capture import Captured, captured_manager  # noqa: F401
from tests.support.rotel import Rotel

pytestmark = [pytest.mark.timeout(240)]


def _trainer(manager: Any, tmp_path: Path, *, steps: int, evaluate: bool = False) -> Any:
    from transformers import Trainer

    from otel_axolotl.callbacks import TelemetryCallback
    from otel_axolotl.demo import build_model_and_data, training_arguments

    model, train, evaluation = build_model_and_data(samples=64)

    def accuracy(prediction: Any) -> dict[str, float]:
        logits, labels = prediction.predictions, prediction.label_ids
        hits = (np.argmax(logits[:, :-1], axis=-1) == labels[:, 1:]).mean()
        return {"token_accuracy": float(hits)}

    args = training_arguments(
        str(tmp_path),
        max_steps=steps,
        logging_steps=1,
        eval_strategy="steps" if evaluate else "no",
        eval_steps=steps,
        save_strategy="no",
    )
    return Trainer(
        model=model,
        args=args,
        train_dataset=train,
        eval_dataset=evaluation if evaluate else None,
        compute_metrics=accuracy if evaluate else None,
        callbacks=[TelemetryCallback(manager)],
    )


def _last_step_loss(trainer: Any) -> float:
    return [entry["loss"] for entry in trainer.state.log_history if "loss" in entry][-1]


def test_step_loss_is_the_last_steps_and_the_run_mean_goes_to_the_run_span(
    captured_manager: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    manager, captured = captured_manager
    trainer = _trainer(manager, tmp_path, steps=6)
    result = trainer.train()
    manager.shutdown()

    [loss] = captured.points(sc.METRIC_TRAIN_LOSS)
    assert loss.value == pytest.approx(_last_step_loss(trainer))
    assert loss.value != pytest.approx(result.training_loss), "the closing run mean must not overwrite it"
    run = captured.one_span(sc.SPAN_RUN)
    closing = trainer.state.log_history[-1]
    assert run.attributes[sc.ATTR_TRAIN_SUMMARY_LOSS] == pytest.approx(result.training_loss)
    assert run.attributes[sc.ATTR_TRAIN_SUMMARY_RUNTIME] == pytest.approx(closing["train_runtime"])
    assert run.attributes[sc.ATTR_TRAIN_SUMMARY_SAMPLES_PER_SECOND] == pytest.approx(
        closing["train_samples_per_second"]
    )
    assert run.attributes[sc.ATTR_TRAIN_SUMMARY_STEPS_PER_SECOND] == pytest.approx(
        closing["train_steps_per_second"]
    )
    assert not captured.points(sc.METRIC_TRAIN_THROUGHPUT_SAMPLES), "a run mean is not a live throughput"
    captured.assert_registered()


@pytest.mark.e2e
def test_a_run_shorter_than_the_export_interval_delivers_its_points_at_shutdown(
    rotel_collector: Rotel, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rotel_collector.grpc_endpoint)
    monkeypatch.setenv("OTEL_METRIC_EXPORT_INTERVAL", "60000")
    monkeypatch.setenv("AXOLOTL_DO_NOT_TRACK", "1")
    manager = TelemetryManager(show_consent_notice=False)
    assert manager.destinations == ["otlp"]
    trainer = _trainer(manager, tmp_path, steps=20)
    trainer.train()
    assert manager.shutdown(timeout=10)

    received = rotel_collector.recorder

    def arrived(name: str) -> list[Any]:
        return [p for m in received.received.metrics if m["name"] == name for p in m["points"]]

    assert received.wait_for(
        lambda r: bool(arrived(sc.METRIC_TRAIN_LOSS)) and bool(arrived(sc.METRIC_TRAIN_STEPS))
    )
    losses = arrived(sc.METRIC_TRAIN_LOSS)
    assert losses[-1]["value"] == pytest.approx(_last_step_loss(trainer))
    assert max(p["value"] for p in arrived(sc.METRIC_TRAIN_STEPS)) == 20
    # cumulative: the latest export's histogram count is every step's duration, once
    assert max(p["value"] for p in arrived(sc.METRIC_TRAIN_STEP_DURATION)) == 20


def test_every_numeric_eval_metric_and_process_memory_arrive(
    captured_manager: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    manager, captured = captured_manager
    trainer = _trainer(manager, tmp_path, steps=4, evaluate=True)
    trainer.train()
    manager.shutdown()

    evaluation = [entry for entry in trainer.state.log_history if "eval_loss" in entry][-1]
    expected = {
        key.removeprefix("eval_"): value
        for key, value in evaluation.items()
        if key.startswith("eval_") and isinstance(value, (int, float))
    }
    assert {"loss", "token_accuracy", "runtime", "samples_per_second"} <= set(expected)
    points = captured.points(sc.METRIC_EVAL_METRIC)
    got = {p.attributes[sc.ATTR_EVAL_METRIC_NAME]: p.value for p in points}
    assert got == pytest.approx(expected)
    assert all(p.attributes[sc.ATTR_RANK] == 0 for p in points)
    [eval_loss] = captured.points(sc.METRIC_EVAL_LOSS)
    assert eval_loss.value == pytest.approx(evaluation["eval_loss"])
    [memory] = captured.points(sc.METRIC_PROCESS_MEMORY_USAGE)
    assert memory.value > 10 * 2**20 and memory.unit == "By"
    captured.assert_registered()
