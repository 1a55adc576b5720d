"""SIGTERM/SIGINT: the run ends as interrupted and is flushed, then the previous handler runs."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from otel_axolotl import semconv as sc
from otel_axolotl.manager import TelemetryManager
from otel_axolotl.recorder import RunRecorder
from tests.support.capture import Captured, captured_manager  # noqa: F401
from tests.support.posthog_capture import PostHogCaptureServer
from tests.support.rotel import OtlpRecorder, Rotel
from tests.support.scripts import TRAIN_TINY, child_env, flush_spool, marker, signal_after_step_two, start

DEADLINE = 2.0
"""OTEL_AXOLOTL_SHUTDOWN_TIMEOUT in the timed cases below."""


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
    returncode, output, _, _ = signal_after_step_two(signum, env, "0.5")
    run_id = next(line.split()[1] for line in output.splitlines() if line.startswith("RUN_ID"))
    assert not any(line.startswith("DONE") for line in output.splitlines()), "the signal came too late"
    return returncode, run_id, output


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


# ------------------------------------------------------------------ signals and a hung backend


def _signal_at_step(signum: int, env: dict[str, str]) -> tuple[int, float, str]:
    """Signal a slow run after its second step; how long from the signal until the exit work
    was done (every exit hook run, or the process gone where none runs), and the output."""
    returncode, output, sent_at, gone_at = signal_after_step_two(signum, env, "0.3")
    assert sent_at, output[-3000:]
    hooks_at = marker(output, "EXIT_HOOKS_AT")  # the child's monotonic clock is ours (Linux)
    done_at = float(hooks_at[0]) if hooks_at else gone_at
    return returncode, done_at - sent_at, output


def _spooled(spool: Path, destination: str) -> list[Path]:
    return sorted((spool / destination).glob("*/*.jsonl"))


@pytest.mark.e2e
@pytest.mark.timeout(180)
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_with_a_hung_backend_costs_one_deadline(
    signum: int, otlp_recorder: OtlpRecorder, posthog_server: PostHogCaptureServer, tmp_path: Path
) -> None:
    """Ctrl-C or a scheduler's SIGTERM while the collector and PostHog take requests and never
    answer: the signal's flush and the atexit shutdown after SIGINT's KeyboardInterrupt share
    ONE deadline (they used to take one each), and the run is spooled, not lost."""
    bare_status, bare_seconds, _ = _signal_at_step(signum, child_env(tmp_path / "off", DO_NOT_TRACK="1"))
    otlp_recorder.set_mode("silent")
    posthog_server.set_mode("silent")
    spool = tmp_path / "spool"
    env = child_env(
        spool,
        AXOLOTL_DO_NOT_TRACK="0",
        OTEL_AXOLOTL_POSTHOG_API_KEY="phc_test_project_key",
        OTEL_AXOLOTL_POSTHOG_HOST=posthog_server.url,
        OTEL_EXPORTER_OTLP_ENDPOINT=otlp_recorder.url,
        OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
        OTEL_AXOLOTL_SHUTDOWN_TIMEOUT=str(DEADLINE),
    )
    status, seconds, output = _signal_at_step(signum, env)
    added = seconds - bare_seconds
    print(f"SIGNAL-TIMING {signal.Signals(signum).name} added={added:.2f}s "
          f"(signal to exit work done {seconds:.2f}s, bare {bare_seconds:.2f}s)")  # fmt: skip
    assert status == bare_status == -signum, output[-3000:]
    assert added <= DEADLINE + 0.5, f"one deadline ({DEADLINE} s), not two: telemetry added {added:.2f} s"
    assert _spooled(spool, "otlp") and _spooled(spool, "posthog"), "the interrupted run is kept"


@pytest.mark.e2e
@pytest.mark.timeout(180)
def test_sigterm_during_the_exit_flush_spools_the_run_and_it_arrives_later(
    otlp_recorder: OtlpRecorder, tmp_path: Path
) -> None:
    """Training is over and the exit flush waits on a collector that never answers when the
    scheduler's SIGTERM comes: what is in memory goes to the spool before the process dies
    (it used to be lost, with the handlers already removed), and arrives once the collector
    is back (``otel-axolotl flush``, the replay a next start does)."""
    otlp_recorder.set_mode("silent")
    spool = tmp_path / "spool"
    env = child_env(
        spool,
        DO_NOT_TRACK="1",
        OTEL_EXPORTER_OTLP_ENDPOINT=otlp_recorder.url,
        OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
        OTEL_AXOLOTL_SHUTDOWN_TIMEOUT="8",  # a wide window to land the signal in
    )
    proc = start([str(TRAIN_TINY)], env)
    assert proc.stdout is not None
    lines: list[str] = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("DONE"):
            break
    time.sleep(1.0)  # the exit flush is under way, waiting on the silent collector
    assert proc.poll() is None, "".join(lines)[-3000:]
    sent_at = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        rest, _ = proc.communicate(timeout=30)
    except Exception:
        proc.kill()
        raise
    died_after = time.monotonic() - sent_at
    output = "".join(lines) + rest
    assert proc.returncode == -signal.SIGTERM, output[-3000:]
    assert died_after < 2.0, f"SIGTERM still ends the process promptly ({died_after:.2f} s)"
    run_id = marker(output, "RUN_ID")
    assert run_id is not None
    assert _spooled(spool, "otlp"), "the run was spooled before the process died"

    otlp_recorder.set_mode("ok")
    flush_spool(env)
    received = otlp_recorder.received
    runs = [s for s in received.spans if s["name"] == sc.SPAN_RUN]
    assert len(runs) == 1 and runs[0]["trace_id"] == run_id[0], [s["name"] for s in received.spans]
    assert runs[0]["attributes"][sc.ATTR_RUN_STATUS] == "completed"
    ends = [log for log in received.logs if log["event_name"] == sc.EVENT_TRAIN_END]
    assert len(ends) == 1 and ends[0]["attributes"][sc.ATTR_RUN_STATUS] == "completed"
    assert _spooled(spool, "otlp") == [], "nothing left once delivered"


@pytest.mark.timeout(120)
def test_keyboard_interrupt_escaping_trainer_train_ends_the_run_interrupted(
    captured_manager: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    """No Trainer callback runs when KeyboardInterrupt leaves ``train()``: the instrumentor's
    wrap of ``Trainer.train`` ends the run (train-end, run span, the open epoch span) as
    interrupted, and the exception reaches the program unchanged."""
    from transformers import Trainer, TrainerCallback

    from otel_axolotl.demo import build_model_and_data, training_arguments
    from otel_axolotl.instrumentor import TrainerInstrumentor

    manager, captured = captured_manager

    class CtrlC(TrainerCallback):  # type: ignore[misc]
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if state.global_step == 2:
                raise KeyboardInterrupt

    instrumentor = TrainerInstrumentor()
    instrumentor.instrument(manager=manager)
    try:
        model, data, _ = build_model_and_data(samples=16)
        args = training_arguments(str(tmp_path), epochs=1, eval_strategy="no", save_strategy="no")
        trainer = Trainer(model=model, args=args, train_dataset=data, callbacks=[CtrlC()])
        with pytest.raises(KeyboardInterrupt):
            trainer.train()
    finally:
        instrumentor.uninstrument()
    assert manager.force_flush(5)
    _assert_interrupted_once(captured)
    (epoch,) = captured.spans_named(sc.SPAN_EPOCH)
    assert epoch.end_time is not None
