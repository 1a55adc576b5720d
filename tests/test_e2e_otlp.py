"""A real tiny Trainer run, exported over OTLP to the real rotel collector, both protocols."""

from __future__ import annotations

import pytest

from otel_axolotl.manager import TelemetryManager
from tests.support.rotel import Rotel

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


def _train(manager: TelemetryManager, tmp_path, epochs: int = 2) -> None:
    from transformers import Trainer

    from otel_axolotl.callbacks import TelemetryCallback
    from otel_axolotl.demo import build_model_and_data, training_arguments

    model, train, evaluation = build_model_and_data(samples=64)
    trainer = Trainer(
        model=model,
        args=training_arguments(str(tmp_path), epochs=epochs, logging_steps=2),
        train_dataset=train,
        eval_dataset=evaluation,
        callbacks=[TelemetryCallback(manager)],
    )
    trainer.train()


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_trainer_run_reaches_rotel_as_one_trace(protocol, rotel_collector: Rotel, monkeypatch, tmp_path):
    endpoint = rotel_collector.grpc_endpoint if protocol == "grpc" else rotel_collector.http_endpoint
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
    monkeypatch.setenv("AXOLOTL_DO_NOT_TRACK", "1")
    manager = TelemetryManager(show_consent_notice=False)
    assert manager.destinations == ["otlp"]
    manager.send_event("config-loaded", {"learning_rate": 5e-4, "output_dir": str(tmp_path)})
    _train(manager, tmp_path)
    assert manager.shutdown(timeout=10)

    received = rotel_collector.recorder
    assert received.wait_for(
        lambda r: (
            any(s["name"] == "axolotl.run" for s in r.spans)
            and any(log["event_name"] == "train-end" for log in r.logs)
            and any(m["name"] == "axolotl.train.loss" for m in r.metrics)
            and any(m["name"] == "axolotl.train.steps" and m["points"][0]["value"] == 16 for m in r.metrics)
        )
    ), "the run's span, train-end event, loss and final step count should all arrive"
    spans = received.received.spans

    # One trace: the anonymous run id.
    assert {s["trace_id"] for s in spans} == {manager.run_id}
    roots = [s for s in spans if s["name"] == "axolotl.run"]
    assert len(roots) == 1
    root = roots[0]
    assert root["parent_span_id"] == ""
    assert root["attributes"]["axolotl.run.status"] == "completed"
    assert root["attributes"]["axolotl.trainer"] == "transformers"
    assert root["status_code"] == 0  # STATUS_CODE_UNSET: success is left unset (issue 15)

    epochs = [s for s in spans if s["name"] == "axolotl.epoch"]
    assert sorted(s["attributes"]["axolotl.epoch"] for s in epochs) == [0, 1]
    assert all(s["parent_span_id"] == root["span_id"] for s in epochs)
    evaluations = [s for s in spans if s["name"] == "axolotl.evaluate"]
    saves = [s for s in spans if s["name"] == "axolotl.checkpoint.save"]
    assert len(evaluations) == 2 and len(saves) == 2
    assert all(s["parent_span_id"] == root["span_id"] for s in evaluations + saves)
    assert not [s for s in spans if s["name"] == "axolotl.step"], "no span per step by default"

    # Metrics: loss points with the rank attribute; step counter equals the steps trained.
    losses = [p for m in received.received.metrics if m["name"] == "axolotl.train.loss" for p in m["points"]]
    assert losses and all(p["attributes"] == {"axolotl.rank": 0} for p in losses)
    assert all(0 < p["value"] < 20 for p in losses)
    steps = [m for m in received.received.metrics if m["name"] == "axolotl.train.steps"]
    assert all(m["kind"] == "sum" for m in steps)
    assert max(m["points"][0]["value"] for m in steps) == 16  # 64 samples / 8 * 2 epochs

    # Events: Axolotl's names, once each, on the run's trace; the config arrives redacted.
    names = [log["event_name"] for log in received.received.logs]
    assert names.count("train-start") == 1 and names.count("train-end") == 1
    assert names.count("config-loaded") == 1 and "train-progress" in names
    config = next(log for log in received.received.logs if log["event_name"] == "config-loaded")
    assert config["body"]["learning_rate"] == 5e-4
    assert config["body"]["output_dir"] == "[REDACTED:path]"
    assert str(tmp_path) not in repr(received.received.raw)
    # Resource: the run id and rank, never the host name.
    resource = root["resource"]
    assert resource["axolotl.run.id"] == manager.run_id and resource["axolotl.rank"] == 0
    assert "host.name" not in resource and "process.command_line" not in resource


@pytest.mark.parametrize(("preference", "temporality"), [("cumulative", 2), ("delta", 1)])
def test_the_otlp_temporality_preference_survives_the_privacy_stage(
    preference, temporality, rotel_collector: Rotel, monkeypatch
):
    """The metric reader asks the outermost exporter for its temporality; every wrapper
    (privacy stage, failure guard, fork guard) must pass the OTLP exporter's choice on."""
    import otel_axolotl.loop

    monkeypatch.setenv("DO_NOT_TRACK", "1")
    monkeypatch.setenv("OTEL_AXOLOTL_HARDWARE_METRICS", "false")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rotel_collector.grpc_endpoint)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", preference)
    manager = TelemetryManager(show_consent_notice=False)
    with otel_axolotl.loop.run(max_steps=3, manager=manager) as run, run.epoch():
        for _ in range(3):
            with run.step() as step:
                step.log(loss=1.0)
    assert manager.shutdown(timeout=10)
    received = rotel_collector.recorder
    assert received.wait_for(lambda r: any(m["name"] == "axolotl.train.steps" for m in r.metrics), 20)
    sums = [m for m in received.received.metrics if m["kind"] == "sum"]
    assert sums and {m["temporality"] for m in sums} == {temporality}


def test_a_metric_exporter_without_the_base_class_state_still_works(monkeypatch):
    """Embedders may pass their own exporter (``destinations=``); the wrappers must not need
    the SDK base class's private attributes to build the pipeline."""
    import otel_axolotl.loop
    from otel_axolotl.destinations import Destination
    from otel_axolotl.privacy.values import Level

    class Bare:  # duck-typed, no MetricExporter.__init__
        def __init__(self) -> None:
            self.exported = 0

        def export(self, metrics_data, timeout_millis=10_000, **kwargs):
            from opentelemetry.sdk.metrics.export import MetricExportResult

            self.exported += 1
            return MetricExportResult.SUCCESS

        def force_flush(self, timeout_millis=10_000):
            return True

        def shutdown(self, timeout_millis=30_000, **kwargs):
            return None

    monkeypatch.setenv("DO_NOT_TRACK", "1")
    monkeypatch.setenv("OTEL_AXOLOTL_HARDWARE_METRICS", "false")
    bare = Bare()
    manager = TelemetryManager(
        destinations=[Destination("custom", Level.STRICT, metric_exporter=bare)], show_consent_notice=False
    )
    with otel_axolotl.loop.run(max_steps=1, manager=manager) as run, run.epoch(), run.step() as step:
        step.log(loss=1.0)
    assert manager.shutdown(timeout=5)
    assert bare.exported >= 1
