"""A run's end is always told, at the recorder: ``completed``, ``failed`` or ``interrupted``,
on the run span and in ``train-end``; a failure records its error once and closes every span
that was still open (the epoch, a sampled step)."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.trace import StatusCode

from otel_axolotl import semconv as sc
from otel_axolotl.errors import report
from otel_axolotl.privacy.names import USER_EVENT
from otel_axolotl.recorder import RunRecorder
from tests.support.capture import Captured


def _run_cut_short(monkeypatch: pytest.MonkeyPatch) -> tuple[Captured, RunRecorder]:
    """A recorder in the middle of its third step: an epoch span and a step span are open."""
    monkeypatch.setenv("OTEL_AXOLOTL_STEP_SPANS", "1")  # sample every step: a step span is open
    captured = Captured()
    recorder = RunRecorder(captured.build_manager(), trainer="loop")
    recorder.train_begin()
    recorder.epoch_begin()
    for _ in range(2):
        recorder.step_begin()
        recorder.step_end()
    recorder.step_begin()
    assert recorder._step_span is not None and recorder._epoch_span is not None
    return captured, recorder


def _the_end(captured: Captured, status: str) -> Any:
    """The run span, after checking what every ending shares."""
    assert captured.manager is not None
    captured.manager.shutdown()
    run = captured.one_span(sc.SPAN_RUN)
    assert run.attributes[sc.ATTR_RUN_STATUS] == status
    [end] = captured.events_named(sc.EVENT_TRAIN_END)
    assert end.attributes[sc.ATTR_RUN_STATUS] == status
    assert end.attributes[sc.ATTR_STEP] == 2 and end.body["total_steps"] == 2
    [epoch] = captured.spans_named(sc.SPAN_EPOCH)
    steps = captured.spans_named(sc.SPAN_STEP)
    assert len(steps) == 3, "the open step span is closed too"
    assert all(s.end_time is not None and s.end_time <= run.end_time for s in [epoch, *steps])
    captured.assert_registered()
    return run


def test_completed(monkeypatch: pytest.MonkeyPatch) -> None:
    captured, recorder = _run_cut_short(monkeypatch)
    recorder.train_end("completed")
    run = _the_end(captured, "completed")
    assert run.status.status_code is StatusCode.UNSET  # success: left unset (issue 15)
    assert not run.events
    assert not [e for e in captured.events if e.event_name.endswith("-error")]


def test_failed_records_the_error_once(monkeypatch: pytest.MonkeyPatch) -> None:
    captured, recorder = _run_cut_short(monkeypatch)
    try:
        raise ValueError("loss is NaN at /home/alice/run")
    except ValueError as error:
        recorder.train_end("failed", error)
        recorder.train_end("failed", error)  # a second end is ignored
    run = _the_end(captured, "failed")
    assert run.status.status_code is StatusCode.ERROR
    assert run.attributes[sc.ATTR_ERROR_TYPE] == "ValueError"
    [exception] = run.events
    assert exception.name == sc.EVENT_EXCEPTION
    assert exception.attributes[sc.ATTR_EXCEPTION_TYPE] == "ValueError"
    assert "alice" not in str(exception.attributes), "the privacy stage scrubbed it"
    [error_event] = [e for e in captured.events if e.event_name.endswith("-error")]
    assert error_event.event_name == USER_EVENT  # the test module is user code (issue 13)


def test_failed_after_the_integration_reported_does_not_report_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    captured, recorder = _run_cut_short(monkeypatch)
    error = RuntimeError("exploding gradients")
    report(error, "trainer.step-error", "trainer.step", captured.manager, end_run=False)
    recorder.train_end("failed", error)
    run = _the_end(captured, "failed")
    assert [e.name for e in run.events] == [sc.EVENT_EXCEPTION]
    assert [e.event_name for e in captured.events if e.event_name.endswith("-error")] == [USER_EVENT]


def test_interrupted(monkeypatch: pytest.MonkeyPatch) -> None:
    captured, recorder = _run_cut_short(monkeypatch)
    recorder.train_end("interrupted", KeyboardInterrupt())
    run = _the_end(captured, "interrupted")
    assert run.status.status_code is StatusCode.ERROR
    assert not run.events, "an interruption is not an error"
    assert not [e for e in captured.events if e.event_name.endswith("-error")]


def test_a_step_after_the_end_records_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    captured, recorder = _run_cut_short(monkeypatch)
    recorder.train_end("completed")
    recorder.step_begin()
    recorder.step_end()
    recorder.log({"loss": 1.0})
    assert recorder.global_step == 2
    assert captured.manager is not None
    captured.manager.shutdown()
    assert [p.value for p in captured.points(sc.METRIC_TRAIN_STEPS)] == [2]


def _callback_run() -> tuple[Captured, Any, Any, tuple[Any, Any, Any]]:
    """A transformers callback on a captured manager, and the (args, state, control) its
    hooks take, as a Trainer passes them."""
    from transformers import TrainerControl, TrainerState, TrainingArguments

    from otel_axolotl.callbacks import TelemetryCallback

    captured = Captured()
    manager = captured.build_manager()
    callback = TelemetryCallback(manager)
    hook_args = (TrainingArguments(output_dir="unused", report_to=[]), TrainerState(), TrainerControl())
    return captured, manager, callback, hook_args


def test_quiet_steps_through_the_callback_keep_the_count_and_end_right(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The transformers callback records most steps by an append alone (``quiet_steps``): the
    step counter, the step metric, the progress events and an interrupted run's ``train-end``
    must still see every step, whichever hook the interruption falls between."""
    monkeypatch.setenv("OTEL_AXOLOTL_PROGRESS_STEPS", "10")
    captured, manager, callback, (args, state, control) = _callback_run()
    state.max_steps = 1000
    callback.on_train_begin(args, state, control)
    callback.on_epoch_begin(args, state, control)
    quiet_seen = 0
    for _ in range(23):
        callback.on_step_begin(args, state, control)
        state.global_step += 1
        quiet_seen = max(quiet_seen, callback.recorder.quiet_steps)
        callback.on_step_end(args, state, control)
        assert callback.recorder.global_step == state.global_step
    assert quiet_seen > 0, "the quiet path was taken"
    manager.interrupt()  # a signal, between two steps
    manager.shutdown()
    assert [p.value for p in captured.points(sc.METRIC_TRAIN_STEPS)] == [23]
    progress = [e.attributes[sc.ATTR_STEP] for e in captured.events_named(sc.EVENT_TRAIN_PROGRESS)]
    assert progress == [1, 11, 21]  # Axolotl: the first step, then every 10 after the last report
    [end] = captured.events_named(sc.EVENT_TRAIN_END)
    assert end.attributes[sc.ATTR_STEP] == 23 and end.attributes[sc.ATTR_RUN_STATUS] == "interrupted"


def test_sampled_step_spans_through_the_callback(monkeypatch: pytest.MonkeyPatch) -> None:
    """With every step sampled, the callback's step begin opens a step span and no step is quiet."""
    monkeypatch.setenv("OTEL_AXOLOTL_STEP_SPANS", "1")
    captured, manager, callback, (args, state, control) = _callback_run()
    callback.on_train_begin(args, state, control)
    for _ in range(5):
        callback.on_step_begin(args, state, control)
        state.global_step += 1
        assert callback.recorder.quiet_steps == 0
        callback.on_step_end(args, state, control)
    callback.on_train_end(args, state, control)
    manager.shutdown()
    assert sorted(s.attributes[sc.ATTR_STEP] for s in captured.spans_named(sc.SPAN_STEP)) == [1, 2, 3, 4, 5]


@pytest.mark.parametrize(
    ("first", "stride"),
    [pytest.param(501, 1, id="resumed-without-start-step"), pytest.param(2, 2, id="two-optimizers")],
)
def test_steps_that_jump_count_once_each_for_axolotls_tracker(first: int, stride: int) -> None:
    """Axolotl's tracker counts ``step_end`` calls: a step number that jumps (Lightning resumed
    from a checkpoint without telling the start step, two optimizers per batch) is one step."""
    captured = Captured()
    recorder = RunRecorder(captured.build_manager(), trainer="lightning")
    recorder.train_begin()
    for n in range(20):
        recorder.step_begin()
        recorder.step_end(first + n * stride)
    recorder.train_end("completed")
    assert captured.manager is not None
    captured.manager.shutdown()
    [end] = captured.events_named(sc.EVENT_TRAIN_END)
    assert end.body["total_steps"] == 20
    assert end.attributes[sc.ATTR_STEP] == first + 19 * stride
