"""A forked child (DataLoader worker) sends nothing, never deadlocks, and duplicates nothing."""

from __future__ import annotations

import os
import select
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from otel_axolotl import manager as manager_module
from otel_axolotl import semconv as sc
from otel_axolotl.destinations import Destination
from otel_axolotl.manager import TelemetryManager
from otel_axolotl.privacy.values import Level
from tests.support.capture import Captured
from tests.support.rotel import Rotel
from tests.support.scripts import TRAIN_TINY, child_env, start

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


class _PidLines:
    """Appends ``<pid> <signal> <name>`` for everything exported, from whichever process."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, kind: str, names: Sequence[str]) -> None:
        with self.path.open("a") as f:
            f.writelines(f"{os.getpid()} {kind} {name}\n" for name in names)

    def lines(self) -> list[tuple[int, str, str]]:
        if not self.path.exists():
            return []
        rows = [line.split(" ", 2) for line in self.path.read_text().splitlines()]
        return [(int(pid), kind, name) for pid, kind, name in rows]


class _Spans(SpanExporter):
    def __init__(self, out: _PidLines) -> None:
        self.out = out

    def export(self, spans: Sequence[Any]) -> SpanExportResult:
        self.out.write("span", [s.name for s in spans])
        return SpanExportResult.SUCCESS


class _Logs(LogRecordExporter):
    def __init__(self, out: _PidLines) -> None:
        self.out = out

    def export(self, batch: Sequence[Any]) -> LogRecordExportResult:
        self.out.write("event", [str(r.log_record.event_name) for r in batch])
        return LogRecordExportResult.SUCCESS

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class _Metrics(MetricExporter):
    def __init__(self, out: _PidLines) -> None:
        super().__init__()
        self.out = out

    def export(self, metrics_data: Any, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        names = [
            m.name for rm in metrics_data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics
        ]
        self.out.write("metric", names)
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        return None


def _fork(child: Any, timeout: float = 20.0) -> str:
    """Run ``child()`` in a forked process; return what it reported (its repr of any error)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            report = child() or "ok"
        except BaseException as exc:
            report = f"error {exc!r}"
        os.write(write, report.encode())
        os._exit(0)
    os.close(write)
    deadline = time.monotonic() + timeout
    data = b""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([read], [], [], 0.1)
        if ready:
            chunk = os.read(read, 4096)
            if not chunk:
                break
            data += chunk
    os.close(read)
    while time.monotonic() < deadline:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.05)
    else:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        pytest.fail(f"the forked child hung; it had reported {data!r}")
    return data.decode()


@pytest.mark.timeout(60)
def test_forked_child_exports_nothing_and_never_deadlocks(tmp_path, monkeypatch):
    monkeypatch.setenv("OTEL_METRIC_EXPORT_INTERVAL", "100")  # the child's restarted reader ticks fast
    out = _PidLines(tmp_path / "exports.txt")
    manager = TelemetryManager(
        destinations=[Destination("pids", Level.STRICT, _Spans(out), _Logs(out), _Metrics(out))],
        show_consent_notice=False,
    )
    manager.start_run({sc.ATTR_TRAINER: "loop"})
    tracer, instruments = manager.tracer, manager.instruments  # obtained before the fork
    instruments.record_step(0.01)

    # Another thread holds the manager's lock at the moment of the fork.
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with manager._lock:
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    assert held.wait(5)

    def child() -> str:
        assert not manager.active and not manager.enabled
        manager.end_run("completed")  # takes the (re-created) lock: must not deadlock
        assert manager.start_run() is None
        manager.send_event(sc.EVENT_TRAIN_PROGRESS, {"from": "child"})
        with tracer.start_as_current_span(sc.SPAN_STEP):  # the SDK's tracer, kept from the parent
            instruments.record_step(100.0)
        time.sleep(1.5)  # the SDK restarted its batch (1 s) and metric (0.1 s) threads here
        assert manager.shutdown() is True
        return "ok"

    try:
        assert _fork(child) == "ok"
    finally:
        release.set()
        holder.join(5)
    manager.send_event(sc.EVENT_TRAIN_END, {})
    manager.end_run("completed")
    assert manager.shutdown(timeout=10)

    exported = out.lines()
    assert {pid for pid, _, _ in exported} == {os.getpid()}, "a forked child exported"
    assert ("span", sc.SPAN_RUN) in {(kind, name) for _, kind, name in exported}
    assert ("event", sc.EVENT_TRAIN_END) in {(kind, name) for _, kind, name in exported}
    assert ("span", sc.SPAN_STEP) not in {(kind, name) for _, kind, name in exported}


@pytest.mark.timeout(60)
def test_forked_child_keeps_the_inactive_manager_unless_it_is_another_rank():
    manager_module.reset_default()
    captured = Captured()
    parent = manager_module.get_default(destinations=[captured.destination], show_consent_notice=False)
    try:

        def same_rank() -> str:
            again = manager_module.get_default()
            return "ok" if again is parent and not again.active else f"got {again!r} active={again.active}"

        def new_rank() -> str:
            os.environ["RANK"] = "3"  # a launcher that forks its ranks (notebook launchers)
            os.environ["WORLD_SIZE"] = "4"
            again = manager_module.get_default(
                destinations=[Captured().destination], show_consent_notice=False
            )
            ok = again is not parent and again.active and again.rank.rank == 3
            again.shutdown()
            return "ok" if ok else f"got {again!r}"

        assert _fork(same_rank) == "ok"
        assert _fork(new_rank) == "ok"
        assert parent.active
    finally:
        manager_module.reset_default()


@pytest.mark.e2e
@pytest.mark.timeout(240)
@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_trainer_with_dataloader_workers_sends_one_run(protocol, rotel_collector: Rotel, tmp_path):
    """A real Trainer with two forked DataLoader workers, which even try to record telemetry
    through the parent's tracer and instruments: exactly one run arrives, nothing from them."""
    endpoint = rotel_collector.grpc_endpoint if protocol == "grpc" else rotel_collector.http_endpoint
    env = child_env(
        tmp_path,
        AXOLOTL_DO_NOT_TRACK="1",
        OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL=protocol,
        OTEL_METRIC_EXPORT_INTERVAL="200",
    )
    proc = start(
        [str(TRAIN_TINY), "--workers", "2", "--worker-telemetry", "--step-sleep", "0.2", "--epochs", "2"], env
    )
    output, _ = proc.communicate(timeout=180)
    assert proc.returncode == 0, output[-3000:]
    run_id = next(line.split()[1] for line in output.splitlines() if line.startswith("RUN_ID"))
    assert any(line.startswith("DONE") for line in output.splitlines()), output[-3000:]

    recorder = rotel_collector.recorder
    assert recorder.wait_for(
        lambda r: (
            any(s["name"] == sc.SPAN_RUN for s in r.spans)
            and any(log["event_name"] == sc.EVENT_TRAIN_END for log in r.logs)
        )
    ), "the run span and train-end should arrive"
    received = recorder.received
    spans = received.spans
    assert {s["trace_id"] for s in spans} == {run_id}
    assert len({s["span_id"] for s in spans}) == len(spans), "duplicate span ids"
    assert [s["name"] for s in spans].count(sc.SPAN_RUN) == 1
    assert not [s for s in spans if s["name"] == sc.SPAN_STEP], "a worker's span was exported"
    names = [log["event_name"] for log in received.logs]
    assert names.count(sc.EVENT_TRAIN_START) == 1 and names.count(sc.EVENT_TRAIN_END) == 1, names
    assert not [log for log in received.logs if "from_worker" in repr(log["body"])], (
        "a worker's event arrived"
    )
    # 32 samples / batch 8 * 2 epochs = 8 steps. A worker's copy of the histogram would hold its
    # own 100 s samples on top of the parent's count at fork time.
    counts = [
        p["value"]
        for m in received.metrics
        if m["name"] == sc.METRIC_TRAIN_STEP_DURATION
        for p in m["points"]
    ]
    assert counts and max(counts) <= 8, f"step-duration counts {counts}: a worker's metrics were exported"
