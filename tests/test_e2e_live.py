"""A run you can watch while it runs: window spans and a Prometheus endpoint.

In-process tests drive the real recorder through the loop API into a real manager with an
in-memory strict destination (the whole privacy stage in between). The end-to-end tests run
the real tiny ``transformers.Trainer`` in a child process: one SIGKILLed mid-training against
rotel (the windows before the kill must have arrived), one scraped over HTTP while it trains.
"""

from __future__ import annotations

import itertools
import logging
import signal
import sys
import threading
import time
import urllib.request
from typing import Any

import pytest

from otel_axolotl import loop
from otel_axolotl import semconv as sc
from otel_axolotl import settings as _s
from otel_axolotl.manager import TelemetryManager
from otel_axolotl.privacy.markers import marker
from otel_axolotl.settings import Settings
from tests.support.capture import Captured
from tests.support.fake_nvml import FakeGpu, FakeNvml
from tests.support.rotel import Rotel, free_port, wait_for_port
from tests.support.scripts import TRAIN_TINY, child_env, start

REDACTED = marker("text")  # a redacted-class attribute (hw.id) at strict


def _run_loop(settings: Settings, epochs: int, steps: int, *, step_sleep: float = 0.0) -> Captured:
    captured = Captured()
    manager = captured.build_manager(settings=settings)
    try:
        with loop.run(manager, max_steps=epochs * steps) as run:
            for _ in range(epochs):
                with run.epoch():
                    for _ in range(steps):
                        with run.step():
                            time.sleep(step_sleep)
                        run.log(loss=float(run.global_step))
        captured.flush()
    finally:
        manager.shutdown()
    return captured


def test_windows_every_n_steps_are_children_of_their_epoch() -> None:
    captured = _run_loop(Settings(window_steps=4, window_seconds=600), epochs=2, steps=10)
    epochs = {s.attributes[sc.ATTR_EPOCH]: s for s in captured.spans_named(sc.SPAN_EPOCH)}
    windows = captured.spans_named(sc.SPAN_WINDOW)
    ranges = [
        (w.attributes[sc.ATTR_WINDOW_STEP_FIRST], w.attributes[sc.ATTR_WINDOW_STEP_LAST]) for w in windows
    ]
    # 4 + 4 + the epoch's last 2 steps, per epoch: a window never crosses an epoch.
    assert ranges == [(1, 4), (5, 8), (9, 10), (11, 14), (15, 18), (19, 20)]
    for window in windows:
        first = window.attributes[sc.ATTR_WINDOW_STEP_FIRST]
        epoch = epochs[0 if first <= 10 else 1]
        assert window.parent is not None and window.parent.span_id == epoch.context.span_id
        assert epoch.start_time <= window.start_time <= window.end_time <= epoch.end_time
        steps = window.attributes[sc.ATTR_WINDOW_STEPS]
        assert steps == window.attributes[sc.ATTR_WINDOW_STEP_LAST] - first + 1
        assert window.attributes[sc.ATTR_WINDOW_STEPS_PER_SECOND] > 0
        assert window.attributes[sc.ATTR_RANK] == 0
        # The loss logged after step n is n: mean and last of the window's steps.
        last = window.attributes[sc.ATTR_WINDOW_STEP_LAST]
        assert window.attributes[sc.ATTR_WINDOW_LOSS_LAST] == float(last)
        assert window.attributes[sc.ATTR_WINDOW_LOSS_MEAN] == pytest.approx((first + last) / 2)
    captured.assert_registered()


def test_a_window_ends_after_its_seconds_even_before_its_steps() -> None:
    captured = _run_loop(Settings(window_steps=1000, window_seconds=0.2), epochs=1, steps=30, step_sleep=0.02)
    windows = captured.spans_named(sc.SPAN_WINDOW)
    assert len(windows) >= 2, [dict(w.attributes) for w in windows]
    for window in windows[:-1]:  # the last one is closed by the epoch's end
        seconds = (window.end_time - window.start_time) / 1e9
        assert 0.2 <= seconds < 0.2 + 1.0, seconds
    assert sum(w.attributes[sc.ATTR_WINDOW_STEPS] for w in windows) == 30


def test_a_window_without_logged_loss_carries_no_loss() -> None:
    captured = Captured()
    manager = captured.build_manager(settings=Settings(window_steps=3))
    try:
        with loop.run(manager) as run, run.epoch():
            for _ in range(3):
                with run.step():
                    pass
        captured.flush()
    finally:
        manager.shutdown()
    (window,) = captured.spans_named(sc.SPAN_WINDOW)
    assert sc.ATTR_WINDOW_LOSS_MEAN not in window.attributes
    assert sc.ATTR_WINDOW_LOSS_LAST not in window.attributes
    assert window.attributes[sc.ATTR_WINDOW_STEPS] == 3


def test_window_settings_come_from_the_environment() -> None:
    s = Settings.from_env({"OTEL_AXOLOTL_WINDOW_STEPS": "7", "OTEL_AXOLOTL_WINDOW_SECONDS": "2.5"})
    assert (s.window_steps, s.window_seconds) == (7, 2.5)
    default = Settings.from_env({"OTEL_AXOLOTL_WINDOW_STEPS": "zero", "OTEL_AXOLOTL_WINDOW_SECONDS": "-1"})
    assert (default.window_steps, default.window_seconds) == (100, 60.0)


# ------------------------------------------------------------------ Prometheus pull


def scrape(port: int, timeout: float = 5.0) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=timeout) as response:
        assert response.status == 200
        return str(response.read().decode("utf-8"))


def samples(text: str, prefix: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(prefix)]


def _prometheus_manager(port: int, **settings: Any) -> TelemetryManager:
    env = {
        "OTEL_METRICS_EXPORTER": "prometheus",
        "OTEL_EXPORTER_PROMETHEUS_PORT": str(port),
        "OTEL_AXOLOTL_NOTICE_SECONDS": "0",
        "AXOLOTL_DO_NOT_TRACK": "1",
    }
    return TelemetryManager(env=env, show_consent_notice=False, **settings)


def test_prometheus_settings_follow_the_standard_variables() -> None:
    default = Settings.from_env({})
    assert (default.prometheus, default.prometheus_host, default.prometheus_port) == (
        False,
        "127.0.0.1",
        9464,
    )
    chosen = Settings.from_env(
        {
            "OTEL_METRICS_EXPORTER": "otlp, Prometheus",
            "OTEL_EXPORTER_PROMETHEUS_HOST": "::1",
            "OTEL_EXPORTER_PROMETHEUS_PORT": "9999",
        }
    )
    assert (chosen.prometheus, chosen.prometheus_host, chosen.prometheus_port) == (True, "::1", 9999)


def test_a_scrape_serves_scrubbed_metrics(monkeypatch: pytest.MonkeyPatch) -> None:
    """The privacy stage runs before the Prometheus collector: at strict the GPU UUID (a
    redacted attribute) is served as the marker, never as itself."""
    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml([FakeGpu("NVIDIA H100", "GPU-5fa4a8e2-secret-uuid")]))
    port = free_port()
    manager = _prometheus_manager(port)
    try:
        assert manager.destinations == ["prometheus"]
        with loop.run(manager) as run, run.epoch():
            with run.step():
                pass
            run.log(loss=1.25)
            text = scrape(port)
    finally:
        manager.shutdown()
    (loss,) = samples(text, "axolotl_train_loss")
    assert loss.endswith(" 1.25") and 'axolotl_rank="0"' in loss
    gpu = samples(text, "hw_gpu_utilization")
    assert gpu and all(f'hw_id="{REDACTED}"' in line for line in gpu), gpu
    assert "secret-uuid" not in text and "GPU-" not in text
    with pytest.raises(OSError):  # shut down with the manager
        scrape(port, timeout=1)


def test_prometheus_fails_closed_when_scrubbing_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    from otel_axolotl.privacy.stage import Scrubber

    def broken(self: Any, data: Any) -> Any:
        raise RuntimeError("scrubber bug")

    port = free_port()
    manager = _prometheus_manager(port)
    try:
        with loop.run(manager) as run, run.epoch():
            with run.step():
                pass
            run.log(loss=1.25)
            assert samples(scrape(port), "axolotl_train_loss")
            monkeypatch.setattr(Scrubber, "metrics", broken)
            text = scrape(port)
    finally:
        manager.shutdown()
    assert not samples(text, "axolotl_"), text
    assert "target_info" not in text


def test_without_the_extra_one_message_and_training_goes_on(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)  # import fails as if not installed
    monkeypatch.delitem(sys.modules, "otel_axolotl.prometheus", raising=False)
    monkeypatch.delitem(sys.modules, "opentelemetry.exporter.prometheus", raising=False)
    _s._warned.discard("prometheus:extra")
    caplog.set_level(logging.WARNING, logger="otel_axolotl")
    manager = _prometheus_manager(free_port())
    try:
        assert manager.destinations == []
        with loop.run(manager) as run, run.epoch(), run.step():
            pass
    finally:
        manager.shutdown()
    messages = [r.getMessage() for r in caplog.records if "prometheus" in r.getMessage().lower()]
    assert len(messages) == 1 and "otel-axolotl[prometheus]" in messages[0], messages
    assert "OTEL_METRICS_EXPORTER" in messages[0]


def test_a_port_in_use_is_one_message_naming_the_variables(caplog: pytest.LogCaptureFixture) -> None:
    import socket

    _s._warned.discard("prometheus:listen")
    caplog.set_level(logging.WARNING, logger="otel_axolotl")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        manager = _prometheus_manager(taken.getsockname()[1])
        try:
            assert manager.destinations == []
        finally:
            manager.shutdown()
    messages = [r.getMessage() for r in caplog.records if "Prometheus" in r.getMessage()]
    assert len(messages) == 1 and "OTEL_EXPORTER_PROMETHEUS_PORT" in messages[0], messages


# ------------------------------------------------------------------ a real Trainer in a child


class _Child:
    """``train_tiny.py`` in a child process, its lines read on a thread as they come."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.proc = start([str(TRAIN_TINY), *args], env)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    def last_step(self) -> int:
        steps = [int(line.split()[1]) for line in list(self.lines) if line.startswith("STEP ")]
        return steps[-1] if steps else 0

    def wait_for_step(self, step: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.last_step() < step:
            assert self.proc.poll() is None, "the child ended early\n" + "".join(self.lines)[-4000:]
            assert time.monotonic() < deadline, "the child did not get there\n" + "".join(self.lines)[-4000:]
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        self._reader.join(10)


def _windows(rotel: Rotel) -> list[dict[str, Any]]:
    spans = rotel.recorder.received.spans
    return sorted(
        (s for s in spans if s["name"] == sc.SPAN_WINDOW),
        key=lambda s: s["attributes"][sc.ATTR_WINDOW_STEP_FIRST],
    )


@pytest.mark.e2e
@pytest.mark.timeout(180)
def test_a_sigkilled_run_keeps_the_windows_it_had_finished(rotel_collector: Rotel, tmp_path: Any) -> None:
    """The OOM killer's SIGKILL gives no exit path: windows must have left while training ran."""
    env = child_env(
        tmp_path,
        OTEL_EXPORTER_OTLP_ENDPOINT=rotel_collector.grpc_endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL="grpc",
        OTEL_AXOLOTL_WINDOW_STEPS="4",
    )
    child = _Child(env, "--samples", "64", "--epochs", "20", "--step-sleep", "0.1")
    try:
        child.wait_for_step(6, timeout=120)
        # While it trains: the first windows arrive, with the loss logged in them.
        assert rotel_collector.recorder.wait_for(lambda r: len(_windows(rotel_collector)) >= 3, timeout=30), (
            "windows should arrive while the run goes on\n" + "".join(child.lines)[-3000:]
        )
        assert child.proc.poll() is None, "the run must still be training"
        child.proc.send_signal(signal.SIGKILL)
        killed_at = child.last_step()
    finally:
        child.stop()
    assert child.proc.returncode == -signal.SIGKILL
    time.sleep(1.0)  # what rotel had taken in before the kill reaches the recorder
    windows = _windows(rotel_collector)
    ranges = [
        (w["attributes"][sc.ATTR_WINDOW_STEP_FIRST], w["attributes"][sc.ATTR_WINDOW_STEP_LAST])
        for w in windows
    ]
    assert ranges[0][0] == 1
    assert all(b[0] == a[1] + 1 for a, b in itertools.pairwise(ranges)), ranges
    assert ranges[-1][1] <= killed_at
    assert all(last - first + 1 == 4 for first, last in ranges), ranges  # 8-step epochs, 4-step windows
    assert any(sc.ATTR_WINDOW_LOSS_MEAN in w["attributes"] for w in windows)  # logging_steps=4
    assert all(w["attributes"][sc.ATTR_WINDOW_STEPS_PER_SECOND] > 0 for w in windows)
    assert all(w["parent_span_id"] for w in windows), "windows hang under their epoch"
    runs = [s for s in rotel_collector.recorder.received.spans if s["name"] == sc.SPAN_RUN]
    assert runs == [], "a killed run never ends its run span"
    assert len({w["trace_id"] for w in windows}) == 1


@pytest.mark.e2e
@pytest.mark.timeout(180)
def test_prometheus_scrape_during_a_real_trainer_run_shows_the_loss(tmp_path: Any) -> None:
    port = free_port()
    env = child_env(
        tmp_path,
        OTEL_METRICS_EXPORTER="prometheus",
        OTEL_EXPORTER_PROMETHEUS_PORT=str(port),
    )
    env["OTEL_AXOLOTL_HARDWARE_METRICS"] = "true"  # host metrics too, through the same stage
    child = _Child(env, "--samples", "64", "--epochs", "20", "--step-sleep", "0.1")
    try:
        child.wait_for_step(6, timeout=120)  # logging_steps=4: a loss has been logged
        wait_for_port(port)
        text = scrape(port)
        assert child.proc.poll() is None, "the scrape must happen while the run trains"
    finally:
        child.stop()
    losses = samples(text, "axolotl_train_loss")
    assert losses, text[-3000:]
    value = float(losses[0].rsplit(" ", 1)[1])
    assert 0 < value < 100
    assert samples(text, "axolotl_train_steps")
    assert samples(text, "process_memory_usage")
