"""The PostHog stream of one tiny Trainer run, side by side with Axolotl 0.21.0's for the same run.

The reference is Axolotl's real ``TelemetryCallback`` in the same Trainer (its sender replaced
by a list: its PostHog client is never built). Our events arrive at the local PostHog-speaking
server through the real pipeline. Event names, counts, cadence and property keys must equal
Axolotl's; ``system-info``, which Axolotl sends after ``config-loaded``, comes once at train
start when nothing sent ``config-loaded``. Steps 6-8 are slowed so that Axolotl's time rule
(at a multiple of the step interval, report early once enough seconds passed) fires at step 8.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import pytest

from otel_axolotl import semconv as sc
from tests.support.posthog_capture import PostHogCaptureServer

ax_callbacks = pytest.importorskip(
    "axolotl.telemetry.callbacks",
    reason="axolotl is not installed: pip install --no-deps --ignore-requires-python axolotl==0.21.0",
)
ax_manager = pytest.importorskip("axolotl.telemetry.manager")

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

STEPS_PER_EPOCH, EPOCHS = 7, 2
EVERY_STEPS, EVERY_SECONDS = 4, 2.0  # margins that hold on a loaded 2-core box
SLOW_STEPS, SLOW_SECONDS = (6, 7, 8), 0.8


class _AxolotlSender:
    """Where Axolotl's callback sends (``TelemetryManager.get_instance()`` returns this)."""

    enabled = True
    run_id = "reference"

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def send_event(self, event_type: str, properties: dict[str, Any] | None = None) -> None:
        self.events.append((event_type, copy.deepcopy(properties or {})))


def _slow_steps() -> Any:
    from transformers import TrainerCallback

    class SlowSteps(TrainerCallback):
        def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if state.global_step + 1 in SLOW_STEPS:
                time.sleep(SLOW_SECONDS)

    return SlowSteps()


def _paths(value: Any, prefix: str = "") -> set[str]:
    """Dotted key paths of a nested dict: what a PostHog property filter sees."""
    if not isinstance(value, dict):
        return {prefix} if prefix else set()
    paths: set[str] = set()
    for key, child in value.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        paths |= _paths(child, path) if isinstance(child, dict) and child else {path}
    return paths


def _body(properties: dict[str, Any]) -> dict[str, Any]:
    """An event's own properties: without what the exporter adds (``$`` keys, the resource
    and the registered attributes; trimming those for PostHog is the exporter's job)."""
    return {
        k: v for k, v in properties.items() if not k.startswith("$") and not sc.is_registered_attribute(k)
    }


def test_posthog_stream_equals_axolotl_for_the_same_run(
    posthog_server: PostHogCaptureServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from transformers import Trainer

    from otel_axolotl.callbacks import TelemetryCallback
    from otel_axolotl.demo import build_model_and_data, training_arguments
    from otel_axolotl.integrations.axolotl import AxolotlInstrumentor
    from otel_axolotl.manager import TelemetryManager

    AxolotlInstrumentor().uninstrument()  # the reference is Axolotl's own callback
    monkeypatch.setenv("AXOLOTL_DO_NOT_TRACK", "0")
    monkeypatch.setenv("OTEL_AXOLOTL_POSTHOG_API_KEY", "phc_test_project_key")
    monkeypatch.setenv("OTEL_AXOLOTL_POSTHOG_HOST", posthog_server.url)
    monkeypatch.setenv("OTEL_AXOLOTL_PROGRESS_STEPS", str(EVERY_STEPS))
    monkeypatch.setenv("OTEL_AXOLOTL_PROGRESS_SECONDS", str(EVERY_SECONDS))
    sender = _AxolotlSender()
    monkeypatch.setattr(ax_manager.TelemetryManager, "_instance", sender)
    monkeypatch.setattr(ax_callbacks, "TIME_SINCE_LAST", EVERY_SECONDS)
    reference = ax_callbacks.TelemetryCallback()
    assert type(reference) is ax_callbacks.TelemetryCallback
    reference.report_interval_steps = EVERY_STEPS

    manager = TelemetryManager()
    assert manager.destinations == ["posthog"]
    ours = TelemetryCallback(manager)
    model, train, evaluation = build_model_and_data(samples=8 * STEPS_PER_EPOCH)
    Trainer(
        model=model,
        args=training_arguments(str(tmp_path), epochs=EPOCHS, logging_steps=2, save_strategy="no"),
        train_dataset=train,
        eval_dataset=evaluation,
        callbacks=[_slow_steps(), ours, reference],
    ).train()
    assert manager.shutdown(timeout=10)
    assert posthog_server.wait_for(lambda events: any(e["event"] == "train-end" for e in events), 10)

    received = sorted(posthog_server.events, key=lambda e: e["timestamp"])
    stream = [(e["event"], _body(e["properties"])) for e in received if not sc.is_registered_span(e["event"])]
    expected = [("system-info", None), *sender.events]
    assert [name for name, _ in stream] == [name for name, _ in expected]

    # Cadence: Axolotl's steps, the time rule at step 8 (three steps after step 5), nothing extra.
    progress = [body["step"] for name, body in stream if name == "train-progress"]
    reference_progress = [p["step"] for name, p in sender.events if name == "train-progress"]
    assert progress == reference_progress
    assert progress[:3] == [1, 5, 8], "step 1, then 4 steps on, then the time rule at a multiple of 4"

    for (name, body), (_, theirs) in zip(stream[1:], expected[1:], strict=True):
        assert _paths(body) == _paths(theirs), f"{name}: property keys differ from Axolotl's"
        for key in ("step", "start_step", "epoch", "progress", "total_steps", "epochs_completed"):
            if key in theirs:
                assert body[key] == pytest.approx(theirs[key]), f"{name}.{key}"
    first = stream[2][1]
    assert stream[2][0] == "train-progress" and "loss" not in first, "no metric before one was logged"
    end, their_end = stream[-1][1], expected[-1][1]
    assert end["aggregate"]["train_loss"] == pytest.approx(their_end["aggregate"]["train_loss"])
    assert end["latest_step"] == their_end["latest_step"]  # same values, logged at the same steps

    # system-info: Axolotl's keys (read from its own collector), plus this SDK's own version.
    system_info = stream[0][1]
    theirs = set(ax_manager.TelemetryManager._get_system_info(None))
    assert theirs <= set(system_info)
    assert set(system_info) - theirs <= {"otel-axolotl_version", "lightning_version"}


def test_no_span_derived_events_in_the_posthog_stream(
    posthog_server: PostHogCaptureServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from otel_axolotl.manager import TelemetryManager

    monkeypatch.setenv("AXOLOTL_DO_NOT_TRACK", "0")
    monkeypatch.setenv("OTEL_AXOLOTL_POSTHOG_API_KEY", "phc_test_project_key")
    monkeypatch.setenv("OTEL_AXOLOTL_POSTHOG_HOST", posthog_server.url)
    manager = TelemetryManager()
    manager.start_run()
    manager.send_event("train-start")
    manager.end_run("completed")
    assert manager.shutdown(timeout=10)
    assert posthog_server.wait_for(lambda events: any(e["event"] == "train-start" for e in events), 10)
    time.sleep(0.5)  # anything else from the same flush has arrived too
    assert [e["event"] for e in posthog_server.events] == ["train-start"]
