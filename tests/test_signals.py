"""SIGTERM/SIGINT: the run ends as interrupted and is flushed, then the previous handler runs."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from otel_axolotl import semconv as sc
from otel_axolotl.manager import TelemetryManager
from otel_axolotl.recorder import RunRecorder
from tests.support.capture import Captured
from tests.support.rotel import Rotel
from tests.support.scripts import TRAIN_TINY, child_env, start


@pytest.fixture
def restore_handlers() -> Iterator[None]:
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)


def _started_run(captured: Captured, **kwargs: Any) -> tuple[Any, RunRecorder]:
    manager = captured.build_manager(**kwargs)
    recorder = RunRecorder(manager, trainer="loop")
    recorder.train_begin()
    recorder.epoch_begin()
    recorder.step_begin()
    recorder.step_end()
    return manager, recorder


def _assert_interrupted_once(captured: Captured) -> None:
    run = captured.one_span(sc.SPAN_RUN)
    assert run.attributes[sc.ATTR_RUN_STATUS] == "interrupted"
    ends = captured.events_named(sc.EVENT_TRAIN_END)
    assert len(ends) == 1 and ends[0].attributes[sc.ATTR_RUN_STATUS] == "interrupted"
    assert all(s.attributes.get(sc.ATTR_RANK) == 0 for s in captured.spans)


@pytest.mark.timeout(30)
def test_sigterm_interrupts_the_run_then_calls_the_previous_handler(restore_handlers):
    calls: list[int] = []
    previous = lambda signum, frame: calls.append(signum)  # noqa: E731
    signal.signal(signal.SIGTERM, previous)
    captured = Captured()
    manager, recorder = _started_run(captured)
    assert signal.getsignal(signal.SIGTERM) is not previous, "ours is installed over it"

    signal.raise_signal(signal.SIGTERM)

    assert calls == [signal.SIGTERM], "the previous handler runs after ours"
    assert manager.active, "a chained handler may let the process go on: flushed, not shut down"
    _assert_interrupted_once(captured)  # already delivered: the handler flushed
    recorder.train_end("completed")  # the framework's own end afterwards changes nothing
    manager.shutdown()
    _assert_interrupted_once(captured)
    assert signal.getsignal(signal.SIGTERM) is previous, "shutdown puts the previous handler back"


@pytest.mark.timeout(30)
def test_sigint_still_raises_keyboard_interrupt(restore_handlers):
    signal.signal(signal.SIGINT, signal.default_int_handler)
    captured = Captured()
    manager, _ = _started_run(captured)
    with pytest.raises(KeyboardInterrupt):
        signal.raise_signal(signal.SIGINT)
    _assert_interrupted_once(captured)
    manager.shutdown()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@pytest.mark.timeout(30)
def test_a_second_signal_during_handling_goes_straight_to_the_previous_handler(restore_handlers):
    calls: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, frame: calls.append(signum))
    captured = Captured()
    manager, _ = _started_run(captured)
    original = manager.handle_signal

    def handle_and_get_another(signum: int, *, fatal: bool) -> None:
        signal.raise_signal(signal.SIGTERM)  # arrives while ours is busy
        original(signum, fatal=fatal)

    manager.handle_signal = handle_and_get_another  # type: ignore[method-assign]
    signal.raise_signal(signal.SIGTERM)
    assert calls == [signal.SIGTERM, signal.SIGTERM]
    _assert_interrupted_once(captured)
    manager.shutdown()


@pytest.mark.timeout(30)
def test_handlers_are_installed_only_where_they_should_be(restore_handlers, monkeypatch):
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a program that ignores SIGINT keeps ignoring it
    manager = Captured().build_manager()
    assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, None)
    assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    manager.shutdown()
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL

    monkeypatch.setenv("OTEL_AXOLOTL_SIGNALS", "false")
    manager = Captured().build_manager()
    assert manager.active and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    manager.shutdown()
    monkeypatch.delenv("OTEL_AXOLOTL_SIGNALS")

    inactive = TelemetryManager(show_consent_notice=False)  # nothing to send: nothing to install
    assert not inactive.active and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL

    built: list[Any] = []
    worker = threading.Thread(target=lambda: built.append(Captured().build_manager()))
    worker.start()
    worker.join(10)
    assert built[0].active and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL, "main thread only"
    built[0].shutdown()


@pytest.mark.timeout(30)
def test_a_handler_installed_over_ours_is_left_in_place(restore_handlers):
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    manager = Captured().build_manager()
    theirs = lambda signum, frame: None  # noqa: E731
    signal.signal(signal.SIGTERM, theirs)
    manager.shutdown()
    assert signal.getsignal(signal.SIGTERM) is theirs


# ------------------------------------------------------------------ a real run, a real signal


def _train_and_signal(signum: int, env: dict[str, str]) -> tuple[int, str, str]:
    proc = start([str(TRAIN_TINY), "--step-sleep", "0.5", "--samples", "400"], env)
    assert proc.stdout is not None
    lines: list[str] = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("STEP 2"):
            proc.send_signal(signum)
            break
    try:
        rest, _ = proc.communicate(timeout=60)
    except Exception:
        proc.kill()
        raise
    output = "".join(lines) + rest
    run_id = next(line.split()[1] for line in output.splitlines() if line.startswith("RUN_ID"))
    assert not any(line.startswith("DONE") for line in output.splitlines()), "the signal came too late"
    return proc.returncode, run_id, output


@pytest.mark.e2e
@pytest.mark.timeout(180)
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_mid_training_reaches_rotel_as_interrupted(signum, rotel_collector: Rotel, tmp_path):
    env = child_env(
        tmp_path,
        AXOLOTL_DO_NOT_TRACK="1",
        OTEL_EXPORTER_OTLP_ENDPOINT=rotel_collector.http_endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
    )
    returncode, run_id, output = _train_and_signal(signum, env)
    # As without us: SIGTERM's default action, or SIGINT's KeyboardInterrupt, which Python
    # turns into death by SIGINT when nothing catches it.
    assert returncode == -signum, output[-3000:]

    recorder = rotel_collector.recorder
    assert recorder.wait_for(
        lambda r: (
            any(s["name"] == sc.SPAN_RUN for s in r.spans)
            and any(log["event_name"] == sc.EVENT_TRAIN_END for log in r.logs)
        )
    ), "the interrupted run's span and train-end should arrive"
    received = recorder.received
    (run,) = [s for s in received.spans if s["name"] == sc.SPAN_RUN]
    assert run["trace_id"] == run_id
    assert run["attributes"][sc.ATTR_RUN_STATUS] == "interrupted"
    assert run["status_code"] == 2  # STATUS_CODE_ERROR
    ends = [log for log in received.logs if log["event_name"] == sc.EVENT_TRAIN_END]
    assert len(ends) == 1 and ends[0]["attributes"][sc.ATTR_RUN_STATUS] == "interrupted"
    assert ends[0]["trace_id"] == run_id


@pytest.mark.e2e
@pytest.mark.timeout(180)
def test_without_our_handlers_sigterm_loses_the_open_run(rotel_collector: Rotel, tmp_path):
    """The control: OTEL_AXOLOTL_SIGNALS=false, same exit status, and the run span is lost."""
    env = child_env(
        tmp_path,
        AXOLOTL_DO_NOT_TRACK="1",
        OTEL_EXPORTER_OTLP_ENDPOINT=rotel_collector.http_endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
        OTEL_AXOLOTL_SIGNALS="false",
    )
    returncode, _, output = _train_and_signal(signal.SIGTERM, env)
    assert returncode == -signal.SIGTERM, output[-3000:]
    time.sleep(2)  # rotel forwards within 100 ms; anything sent before death is in by now
    assert not [s for s in rotel_collector.recorder.received.spans if s["name"] == sc.SPAN_RUN]
