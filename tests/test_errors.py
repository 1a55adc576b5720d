"""send_errors, record_error and the excepthook, against a real manager and pipeline.

Axolotl's own cases (tests/telemetry/test_errors.py there) are kept, with a real in-memory
destination in place of its mocked manager: success sends nothing, the exception is re-raised
as the same object, nested decorated calls report once from the innermost, disabled telemetry
sends nothing, and the event is named ``<module>.<function>-error`` exactly.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.trace import StatusCode

from otel_axolotl import errors
from otel_axolotl import manager as manager_module
from otel_axolotl import semconv as sc
from otel_axolotl.errors import install_excepthook, record_error, send_errors, uninstall_excepthook
from otel_axolotl.privacy.names import USER_EVENT, USER_FUNCTION
from tests.support.capture import Captured, captured_default_manager  # noqa: F401

HERE = str(Path(__file__).resolve())


@send_errors
def test_func(fail: bool = True) -> str:
    """Axolotl's module-level function (its event name is checked exactly)."""
    if fail:
        raise ValueError("Test error")
    return "success"


test_func.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


@send_errors
def inner_func() -> None:
    raise RuntimeError("inner failure")


@send_errors
def outer_func() -> None:
    inner_func()


@send_errors
def rewrapping_func() -> None:
    try:
        inner_func()
    except RuntimeError as err:
        raise KeyError("wrapped") from err


def error_events(captured: Captured) -> list[Any]:
    return [e for e in captured.events if e.event_name and e.event_name.endswith("-error")]


@pytest.fixture
def captured(captured_default_manager: Any) -> Captured:  # noqa: F811
    """What the process's manager (``captured.manager``) delivered."""
    return captured_default_manager[1]


# ------------------------------------------------------------------ Axolotl's cases


def test_successful_execution_sends_nothing(captured: Captured) -> None:
    assert test_func(fail=False) == "success"
    captured.flush()
    assert captured.events == [] and captured.spans == []


def test_exception_is_reraised_unchanged_and_reported(captured: Captured) -> None:
    with pytest.raises(ValueError) as info:
        test_func()
    assert str(info.value) == "Test error"
    assert info.traceback[-1].name == "test_func"  # the original traceback, not a new one
    captured.flush()
    [event] = error_events(captured)
    assert event.event_name == USER_EVENT  # the user's own code (issue 13)
    # Axolotl 0.21.0's structured body: class and module, frames; no message (issue 16)
    assert event.body["exception"] == {"type": "ValueError", "module": "builtins"}
    assert event.body["stack_trace"]["frames"][-1]["function"] == "function"  # user code: placeholder
    assert event.attributes[sc.ATTR_CODE_FUNCTION_NAME] == USER_FUNCTION
    assert event.attributes[sc.ATTR_EXCEPTION_TYPE] == "ValueError"
    captured.assert_registered()


def test_same_exception_object(captured: Captured) -> None:
    error = ValueError("mine")

    @send_errors
    def raiser() -> None:
        raise error

    with pytest.raises(ValueError) as info:
        raiser()
    assert info.value is error


def test_nested_calls_report_once_from_the_innermost(captured: Captured) -> None:
    with pytest.raises(RuntimeError):
        outer_func()
    captured.flush()
    assert [e.event_name for e in error_events(captured)] == [USER_EVENT]


def test_an_error_raised_from_a_reported_one_is_the_same_failure(captured: Captured) -> None:
    with pytest.raises(KeyError):
        rewrapping_func()
    captured.flush()
    assert [e.event_name for e in error_events(captured)] == [USER_EVENT]


def test_independent_errors_are_each_reported(captured: Captured) -> None:
    """Axolotl's never-reset module flag would drop the second one."""
    for _ in range(2):
        with pytest.raises(ValueError):
            test_func()
    captured.flush()
    assert len(error_events(captured)) == 2


def test_disabled_telemetry_sends_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    manager_module.reset_default()
    captured = Captured()
    manager = manager_module.get_default(destinations=[captured.destination], show_consent_notice=False)
    try:
        assert not manager.active
        with pytest.raises(ValueError):
            test_func()
    finally:
        manager_module.reset_default()
    assert captured.events == [] and captured.spans == []


def test_before_init_the_first_call_builds_the_manager_as_axolotl_does() -> None:
    """Issue 16: Axolotl's send_errors builds its manager on first use; so does this one (here
    with nothing enabled, so it is inactive and sends nothing)."""
    manager_module.reset_default()
    try:
        with pytest.raises(ValueError):
            test_func()
        built = manager_module.current()
        assert built is not None and not built.active
    finally:
        manager_module.reset_default()


def test_an_exception_that_refuses_attributes_is_still_reported_once(captured: Captured) -> None:

    class Frozen(Exception):
        def __setattr__(self, name: str, value: Any) -> None:
            raise AttributeError(name)

    @send_errors
    def inner() -> None:
        raise Frozen("frozen")

    @send_errors
    def outer() -> None:
        inner()

    with pytest.raises(Frozen):
        outer()
    captured.flush()
    assert [e.event_name for e in error_events(captured)] == [USER_EVENT]


# ------------------------------------------------------------------ spans


def test_exception_event_on_the_run_span_and_the_run_status_left_alone(captured: Captured) -> None:
    """Issue 16: a caught error is recorded; the run goes on and completes."""
    manager = captured.manager
    manager.start_run({sc.ATTR_TRAINER: "loop"})
    with pytest.raises(ValueError):
        test_func()
    assert manager.run_span is not None, "send_errors does not end the run"
    manager.end_run("completed")
    captured.flush()
    run = captured.one_span(sc.SPAN_RUN)
    assert run.attributes[sc.ATTR_RUN_STATUS] == "completed"
    assert run.status.status_code is StatusCode.UNSET  # issue 15: instrumentation leaves success unset
    [event] = [e for e in run.events if e.name == sc.EVENT_EXCEPTION]
    assert event.attributes[sc.ATTR_EXCEPTION_TYPE] == "ValueError"
    assert event.attributes[sc.ATTR_EXCEPTION_MESSAGE] == "Test error"
    # Strict: the user's own frame keeps neither file nor function (issue 13).
    assert "test_func" not in event.attributes[sc.ATTR_EXCEPTION_STACKTRACE]
    assert "[REDACTED:code]" in event.attributes[sc.ATTR_EXCEPTION_STACKTRACE]
    [record] = error_events(captured)
    assert record.trace_id == run.context.trace_id  # the error event belongs to the run's trace
    captured.assert_registered()


def test_exception_event_on_the_current_child_span(captured: Captured) -> None:
    from opentelemetry import trace

    manager = captured.manager
    run_span = manager.start_run()
    with (
        pytest.raises(ValueError),
        manager.tracer.start_as_current_span(
            sc.SPAN_MODEL_LOAD,
            context=trace.set_span_in_context(run_span),  # the run span is never made current
            record_exception=False,
            set_status_on_exception=False,
        ),
    ):
        test_func()
    manager.end_run("completed")
    captured.flush()
    child = captured.one_span(sc.SPAN_MODEL_LOAD)
    run = captured.one_span(sc.SPAN_RUN)
    assert [e.name for e in child.events] == [sc.EVENT_EXCEPTION]
    assert child.status.status_code is StatusCode.ERROR  # the failed operation
    assert (
        run.status.status_code is StatusCode.UNSET
    )  # not the run: its caller caught the error (issue 15: unset on success)
    assert run.attributes[sc.ATTR_RUN_STATUS] == "completed"
    assert child.parent.span_id == run.context.span_id


def test_the_run_context_does_not_outlive_a_run_failed_inside_a_child_span(captured: Captured) -> None:
    from opentelemetry import trace

    manager = captured.manager
    manager.start_run()
    with (
        pytest.raises(ValueError),
        manager.tracer.start_as_current_span(
            sc.SPAN_MODEL_LOAD, record_exception=False, set_status_on_exception=False
        ),
    ):
        test_func()
    assert not trace.get_current_span().get_span_context().is_valid


def test_paths_are_sanitized_in_the_event_and_the_exported_span(captured: Captured) -> None:
    manager = captured.manager
    manager.start_run()
    with pytest.raises(ValueError):
        test_func()
    manager.end_run("completed")
    captured.flush()
    [record] = error_events(captured)
    frames = record.body["stack_trace"]["frames"]
    assert HERE not in repr(record.body)
    # a frame of the user's own code at strict: fixed placeholders, the line kept (issue 13)
    assert (frames[-1]["filename"], frames[-1]["function"]) == ("user_code", "function")
    assert frames[-1]["lineno"] > 0
    [event] = captured.one_span(sc.SPAN_RUN).events
    assert HERE not in event.attributes[sc.ATTR_EXCEPTION_STACKTRACE]


def test_record_error_never_raises() -> None:
    class Broken:
        active = True
        run_span = None

        def send_event(self, *args: Any, **kwargs: Any) -> None:
            raise RuntimeError("backend exploded")

        def end_run(self, *args: Any, **kwargs: Any) -> None:
            raise RuntimeError("again")

    record_error(Broken(), ValueError("x"), "m.f-error", "m.f")
    record_error(None, ValueError("x"), "m.f-error", "m.f")


def test_sanitize_stack_trace_is_reexported() -> None:
    from otel_axolotl.privacy.stacktrace import sanitize_stack_trace

    assert errors.sanitize_stack_trace is sanitize_stack_trace


# ------------------------------------------------------------------ excepthook


@pytest.fixture
def hooks(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, list[Any]]]:
    """Recording stand-ins for the hooks in place before install_excepthook."""
    called: dict[str, list[Any]] = {"sys": [], "threading": []}
    monkeypatch.setattr(sys, "excepthook", lambda *a: called["sys"].append(a))
    monkeypatch.setattr(threading, "excepthook", lambda args: called["threading"].append(args))
    yield called
    uninstall_excepthook()


def crash() -> None:
    raise ZeroDivisionError("uncaught")


def uncaught() -> tuple[type[BaseException], BaseException, Any]:
    try:
        crash()
    except ZeroDivisionError as exc:
        return type(exc), exc, exc.__traceback__
    raise AssertionError("unreachable")


def test_excepthook_installs_records_chains_and_uninstalls(captured: Captured, hooks: Any) -> None:
    manager = captured.manager
    previous = sys.excepthook
    manager.start_run()
    install_excepthook(manager)
    assert sys.excepthook is not previous
    exc_info = uncaught()
    sys.excepthook(*exc_info)
    assert hooks["sys"] == [exc_info]  # the previous hook still runs, with the same arguments
    uninstall_excepthook()
    assert sys.excepthook is previous
    captured.flush()
    assert [e.event_name for e in error_events(captured)] == [USER_EVENT]
    assert captured.one_span(sc.SPAN_RUN).attributes[sc.ATTR_RUN_STATUS] == "failed"


def test_excepthook_skips_an_error_send_errors_already_reported(captured: Captured, hooks: Any) -> None:
    install_excepthook()
    try:
        test_func()
    except ValueError as exc:
        sys.excepthook(type(exc), exc, exc.__traceback__)
    captured.flush()
    assert len(error_events(captured)) == 1 and len(hooks["sys"]) == 1


def test_excepthook_stays_out_of_interactive_shells(
    captured: Captured, hooks: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    manager = captured.manager
    monkeypatch.setattr(sys, "ps1", ">>> ", raising=False)
    install_excepthook(manager)
    sys.excepthook(*uncaught())
    captured.flush()
    assert error_events(captured) == [] and len(hooks["sys"]) == 1


def test_keyboard_interrupt_is_not_an_error(captured: Captured, hooks: Any) -> None:
    manager = captured.manager
    install_excepthook(manager)
    sys.excepthook(KeyboardInterrupt, KeyboardInterrupt(), None)
    captured.flush()
    assert error_events(captured) == [] and len(hooks["sys"]) == 1


def test_thread_errors_are_recorded_without_ending_the_run(captured: Captured, hooks: Any) -> None:
    manager = captured.manager
    manager.start_run()
    install_excepthook()  # the process's manager, found at the time of the error
    worker = threading.Thread(target=crash)
    worker.start()
    worker.join()
    assert len(hooks["threading"]) == 1 and hooks["threading"][0].exc_type is ZeroDivisionError
    assert manager.run_span is not None  # the run goes on
    manager.end_run("completed")
    captured.flush()
    assert [e.event_name for e in error_events(captured)] == [USER_EVENT]
    run = captured.one_span(sc.SPAN_RUN)
    assert run.attributes[sc.ATTR_RUN_STATUS] == "completed"
    assert [e.name for e in run.events] == [sc.EVENT_EXCEPTION]


def test_a_hook_installed_after_ours_is_left_in_place(hooks: Any) -> None:
    install_excepthook()

    def theirs(*args: Any) -> None:
        pass

    sys.excepthook = theirs
    uninstall_excepthook()
    assert sys.excepthook is theirs


def test_error_event_name_uses_the_innermost_non_stdlib_frame() -> None:
    import json

    try:
        json.loads("{", object_hook=None)
    except json.JSONDecodeError as exc:
        name = errors.error_event_name(exc.__traceback__)
    assert name == USER_EVENT  # the user's own code (issue 13)
    assert errors.error_event_name(None) == "uncaught-error"
    assert sc.EVENT_ERROR_PATTERN.match(name)
