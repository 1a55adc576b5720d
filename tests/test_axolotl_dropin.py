"""The Axolotl-compatible surface as a drop-in: ``send_errors`` on every kind of function, the
run's status after a caught and an uncaught error, and the public attributes of Axolotl
0.21.0's ``TelemetryCallback``, ``RuntimeMetricsTracker`` and ``RuntimeMetrics`` (compared
with the real classes when axolotl is installed)."""

from __future__ import annotations

import asyncio
import dataclasses
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.trace import StatusCode

from otel_axolotl import semconv as sc
from otel_axolotl.errors import install_excepthook, send_errors, uninstall_excepthook
from otel_axolotl.privacy.names import USER_EVENT  # the user's own code (issue 13)
from tests.support.capture import Captured, captured_default_manager  # noqa: F401
from tests.support.rotel import Rotel
from tests.support.scripts import child_env, start


@pytest.fixture
def captured(captured_default_manager: Any) -> Captured:  # noqa: F811
    return captured_default_manager[1]


def _errors(captured: Captured) -> list[str]:
    return [e.event_name for e in captured.events if e.event_name and e.event_name.endswith("-error")]


@send_errors
def _generator(fail_at: int) -> Iterator[int]:
    for i in range(3):
        if i == fail_at:
            raise ValueError(f"item {i}")
        received = yield i
        assert received in (None, "ping")


@send_errors
async def _coroutine() -> int:
    await asyncio.sleep(0)
    raise ConnectionError("lost")


def test_generator_functions_report_what_escapes_while_iterating(captured: Captured) -> None:
    gen = _generator(2)
    assert next(gen) == 0 and gen.send("ping") == 1  # send() reaches the generator
    with pytest.raises(ValueError, match="item 2"):
        next(gen)
    assert list(_generator(5)) == [0, 1, 2]  # the return value and iteration are untouched
    captured.flush()
    assert _errors(captured) == [USER_EVENT]


def test_coroutine_functions_report_what_escapes_when_awaited(captured: Captured) -> None:
    assert asyncio.iscoroutinefunction(_coroutine)
    with pytest.raises(ConnectionError):
        asyncio.run(_coroutine())
    captured.flush()
    assert _errors(captured) == [USER_EVENT]


def test_an_uncaught_reported_error_still_fails_the_run_at_the_excepthook(captured: Captured) -> None:
    @send_errors
    def train() -> None:
        raise RuntimeError("diverged")

    import sys

    manager = captured.manager
    manager.start_run()
    install_excepthook()
    try:
        try:
            train()
        except RuntimeError as exc:
            assert manager.run_span is not None, "send_errors alone leaves the run open"
            sys.excepthook(type(exc), exc, exc.__traceback__)  # ... until nobody caught it
    finally:
        uninstall_excepthook()
    captured.flush()
    run = captured.one_span(sc.SPAN_RUN)
    assert run.attributes[sc.ATTR_RUN_STATUS] == "failed" and run.status.status_code is StatusCode.ERROR
    assert _errors(captured) == [USER_EVENT], "reported once"


_UNCAUGHT = textwrap.dedent(
    """
    import otel_axolotl
    from otel_axolotl.errors import send_errors

    manager = otel_axolotl.init()
    manager.start_run()

    @send_errors
    def train():
        raise RuntimeError("diverged")

    train()  # nobody catches it: the interpreter exits from it
    """
)


@pytest.mark.timeout(120)
def test_without_an_excepthook_an_uncaught_reported_error_fails_the_run_at_exit(
    rotel_collector: Rotel, tmp_path: Path
) -> None:
    env = child_env(
        tmp_path,
        AXOLOTL_DO_NOT_TRACK="1",
        OTEL_EXPORTER_OTLP_ENDPOINT=rotel_collector.grpc_endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL="grpc",
    )
    proc = start(["-c", _UNCAUGHT], env)
    output, _ = proc.communicate(timeout=90)
    assert proc.returncode == 1 and "RuntimeError: diverged" in output, output[-3000:]
    received = rotel_collector.recorder
    assert received.wait_for(lambda r: any(s["name"] == sc.SPAN_RUN for s in r.spans))
    [run] = [s for s in received.received.spans if s["name"] == sc.SPAN_RUN]
    assert run["attributes"][sc.ATTR_RUN_STATUS] == "failed", "not 'interrupted'"
    assert [x["event_name"] for x in received.received.logs].count(USER_EVENT) == 1


# ------------------------------------------------------------------ Axolotl's public attributes

CALLBACK_ATTRIBUTES = (
    "tracker",
    "telemetry_manager",
    "report_interval_steps",
    "current_epoch",
    "start_time",
    "start_step",
    "last_report_time",
    "last_report_step",
    "latest_metrics",
    "metric_steps",
    "aggregate_metrics",
    "on_train_begin",
    "on_train_end",
    "on_epoch_begin",
    "on_epoch_end",
    "on_step_end",
    "on_prediction_step",
    "on_log",
)
TRACKER_ATTRIBUTES = (
    "metrics",
    "update_interval",
    "telemetry_manager",
    "start_epoch",
    "end_epoch",
    "update_step",
    "update_memory_metrics",
    "update_gpu_memory_metrics",
    "get_memory_metrics",
)


def test_callback_and_tracker_carry_axolotls_public_attributes(captured: Captured) -> None:
    from otel_axolotl.callbacks import TelemetryCallback

    callback = TelemetryCallback(captured.manager)
    for name in CALLBACK_ATTRIBUTES:
        assert hasattr(callback, name), f"TelemetryCallback.{name}"
    for name in TRACKER_ATTRIBUTES:
        assert hasattr(callback.tracker, name), f"RuntimeMetricsTracker.{name}"
    assert (
        callback.telemetry_manager is captured.manager
        and callback.tracker.telemetry_manager is captured.manager
    )
    assert callback.report_interval_steps == 100 and callback.current_epoch == -1
    assert callback.latest_metrics == {} and callback.metric_steps == {} and callback.aggregate_metrics == {}
    callback.report_interval_steps = 7  # Axolotl's knob, the recorder's setting
    assert callback.recorder.progress_steps == 7


def test_the_lists_above_are_axolotls(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every public attribute of Axolotl 0.21.0's real instances is in the lists (and so here)."""
    ax_callbacks = pytest.importorskip(
        "axolotl.telemetry.callbacks",
        reason="axolotl is not installed: pip install --no-deps --ignore-requires-python axolotl==0.21.0",
    )
    from axolotl.telemetry import manager as ax_manager
    from axolotl.telemetry import runtime_metrics as ax_runtime
    from transformers import TrainerCallback

    from otel_axolotl.runtime_metrics import RuntimeMetrics

    monkeypatch.setattr(ax_manager.TelemetryManager, "_instance", object())  # never build Axolotl's
    theirs = ax_callbacks.TelemetryCallback()
    inherited = set(dir(TrainerCallback))
    public = {n for n in dir(theirs) if not n.startswith("_") and n not in inherited}
    public |= {n for n in vars(type(theirs)) if n.startswith("on_")}
    assert public <= set(CALLBACK_ATTRIBUTES), sorted(public - set(CALLBACK_ATTRIBUTES))
    tracker_public = {n for n in dir(theirs.tracker) if not n.startswith("_")}
    assert tracker_public <= set(TRACKER_ATTRIBUTES), sorted(tracker_public - set(TRACKER_ATTRIBUTES))
    their_fields = {f.name for f in dataclasses.fields(ax_runtime.RuntimeMetrics)}
    assert their_fields <= {f.name for f in dataclasses.fields(RuntimeMetrics)}
