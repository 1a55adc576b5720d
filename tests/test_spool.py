"""The on-disk spool and bounded delivery: nothing lost that can be kept, everything bounded.

Real parts only: the real pipeline and manager, real OTLP exporters against a refused port and
the real rotel collector, the real posthog client against refused and capture servers, files
on disk. Every test is bounded in time; timings are asserted only with generous margins.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_axolotl import cli
from otel_axolotl import semconv as sc
from otel_axolotl import settings as _s
from otel_axolotl.consent import decide, honour_withdrawal
from otel_axolotl.delivery import Delivery
from otel_axolotl.destinations import Destination
from otel_axolotl.drops import DropCounter
from otel_axolotl.manager import TelemetryManager
from otel_axolotl.pipeline import Pipeline
from otel_axolotl.privacy.values import Level
from otel_axolotl.privacy.whitelist import Whitelist
from otel_axolotl.replay import replay
from otel_axolotl.spool import MAX_ATTEMPTS, Spool, SpoolConfig
from otel_axolotl.spool_codec import decode_log, decode_span, encode_log, encode_span
from otel_axolotl.spool_files import STALE_SECONDS
from otel_axolotl.spool_layout import recipient_id
from tests.support.capture import _KeepMetrics
from tests.support.posthog_capture import PostHogCaptureServer, refused_url
from tests.support.registry_check import assert_all_registered
from tests.support.rotel import OtlpRecorder, Rotel

# Planted in event properties and span attributes; none may ever reach a spool file.
CANARIES = {
    "token": "hf_" + "Zq8" * 12,
    "email": "zq.canary.person@example.org",
    "dataset_path": "/home/zqcanaryuser/private/data.jsonl",
    "api_key": "sk-proj-" + "Zq7x" * 12,
}


def _next_start() -> TelemetryManager:
    """The process's manager of a new process start (a shut one stays shut: issue 14 item 5)."""
    from otel_axolotl import manager as manager_module

    manager_module.reset_default()
    return TelemetryManager()


def _spool_root() -> Path:
    return Path(os.environ[_s.OTEL_AXOLOTL_SPOOL_DIR])


def _spool_files(destination: str) -> list[Path]:
    """Every spool file of one destination kind, whichever recipient and level it is for."""
    return sorted((_spool_root() / destination).glob("*/*.jsonl"))


def _spooled(destination: str) -> list[dict[str, Any]]:
    """Every item in ``destination``'s spool files, as the JSON documents on disk."""
    items = []
    for path in _spool_files(destination):
        lines = path.read_text(encoding="utf-8").splitlines()
        header = json.loads(lines[0])
        assert header["items"] == len(lines) - 1
        items += [{"signal": header["signal"], **json.loads(line)} for line in lines[1:]]
    return items


def _spool_bytes(destination: str) -> bytes:
    return b"".join(p.read_bytes() for p in _spool_files(destination))


def _emit(manager: TelemetryManager, spans: int, events: int) -> None:
    run = manager.start_run()
    from opentelemetry import trace

    for epoch in range(spans):
        with manager.tracer.start_as_current_span(
            sc.SPAN_EPOCH,
            context=trace.set_span_in_context(run),
            attributes={sc.ATTR_EPOCH: epoch, "user.email": CANARIES["email"]},
        ):
            pass
    for i in range(events):
        manager.send_event("train-progress", {"step": i, **CANARIES})
    manager.end_run()


@pytest.fixture
def quiet_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_AXOLOTL_HARDWARE_METRICS", "false")
    monkeypatch.setenv("OTEL_AXOLOTL_SIGNALS", "false")


# ------------------------------------------------------------------ end to end: OTLP


@pytest.mark.e2e
@pytest.mark.timeout(120)
def test_otlp_refused_spools_at_the_deadline_and_the_next_start_delivers_exactly_once(
    otlp_recorder: OtlpRecorder, monkeypatch: pytest.MonkeyPatch, quiet_env: None
) -> None:
    rotel_collector = Rotel(otlp_recorder)  # its ports are chosen, nothing listens yet
    # Exports give up within the deadline: no abandoned retry of the first run (in this same
    # test process) can reach the collector once it is back; what arrives comes from the spool.
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1")
    monkeypatch.setenv("AXOLOTL_DO_NOT_TRACK", "1")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rotel_collector.http_endpoint)
    first = TelemetryManager(show_consent_notice=False)
    assert first.destinations == ["otlp"]
    _emit(first, spans=6, events=4)
    started = time.monotonic()
    first.shutdown(timeout=2)
    assert time.monotonic() - started < 2 + 1.5, "shutdown keeps its deadline, spooling included"

    kept = _spooled("otlp")
    spans = [i for i in kept if i["signal"] == "traces"]
    events = [i for i in kept if i["signal"] == "logs"]
    assert len(spans) == 6 + 1 and len(events) == 4  # six epochs and the run span
    assert not any(c.encode() in _spool_bytes("otlp") for c in CANARIES.values()), "scrubbed data only"
    span_ids = {s["context"]["span_id"] for s in spans}

    rotel_collector.start()  # the same endpoint, back
    try:
        second = TelemetryManager(show_consent_notice=False)
        assert second._pipeline.wait_for_replay(30)
        received = rotel_collector.recorder
        assert received.wait_for(lambda r: len(r.spans) >= 7 and len(r.logs) >= 4, 20)
        assert second.shutdown(timeout=10)
        time.sleep(0.5)  # anything sent twice would have arrived by now (rotel batches for 100 ms)
    finally:
        rotel_collector.stop()

    got = received.received
    assert sorted(s["span_id"] for s in got.spans) == sorted(span_ids), "each spooled span exactly once"
    assert len(got.logs) == 4 and sorted(log["body"]["step"] for log in got.logs) == [0, 1, 2, 3]
    assert {s["trace_id"] for s in got.spans} == {first.run_id}, "replayed as recorded, old run id"
    assert _spooled("otlp") == [], "delivered files are deleted"


# ------------------------------------------------------------------ end to end: PostHog


@pytest.mark.e2e
@pytest.mark.timeout(120)
def test_a_batch_in_flight_at_the_deadline_is_spooled_and_unspooled_if_it_arrives_after_all(
    otlp_recorder: OtlpRecorder, monkeypatch: pytest.MonkeyPatch, quiet_env: None
) -> None:
    """The collector answers after the exit deadline: the batch it was sent is spooled at
    the deadline (it may never arrive), then deleted from the spool when the late answer
    says it did, so the next start does not send it a second time."""
    otlp_recorder.set_mode("slow", delay=2.0)
    monkeypatch.setenv("AXOLOTL_DO_NOT_TRACK", "1")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", otlp_recorder.url)
    manager = TelemetryManager(show_consent_notice=False)
    _emit(manager, spans=4, events=0)
    assert otlp_recorder.wait_for(lambda r: len(r.spans) == 5, 10), "the batch is with the slow collector"
    started = time.monotonic()
    assert not manager.shutdown(timeout=0.5), "the deadline passed with the answer still out"
    assert time.monotonic() - started < 0.5 + 1.0
    assert len([i for i in _spooled("otlp") if i["signal"] == "traces"]) == 5, "kept: it may never arrive"

    deadline = time.monotonic() + 10
    while _spooled("otlp") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _spooled("otlp") == [], "the late answer said delivered: the spool copy is gone"
    assert len({s["span_id"] for s in otlp_recorder.received.spans}) == len(otlp_recorder.received.spans) == 5


def _product_id(manager: TelemetryManager) -> str | None:
    """The random PostHog product id of a manager's PostHog destination."""
    return next(d.product_id for d in manager._pipeline.destinations if d.product_analytics)


def _consent(monkeypatch: pytest.MonkeyPatch, host: str) -> None:
    monkeypatch.setenv("AXOLOTL_DO_NOT_TRACK", "0")
    monkeypatch.setenv("OTEL_AXOLOTL_POSTHOG_API_KEY", "phc_test_project_key")
    monkeypatch.setenv("OTEL_AXOLOTL_POSTHOG_HOST", host)
    monkeypatch.setenv("OTEL_AXOLOTL_POSTHOG_SPANS", "true")  # both signals go through the spool


@pytest.mark.e2e
@pytest.mark.timeout(120)
def test_posthog_refused_spools_scrubbed_events_and_the_next_start_delivers_them_once(
    monkeypatch: pytest.MonkeyPatch, quiet_env: None
) -> None:
    host = refused_url()
    _consent(monkeypatch, host)
    first = TelemetryManager()
    assert first.destinations == ["posthog"]
    _emit(first, spans=3, events=5)
    started = time.monotonic()
    first.shutdown(timeout=2)
    assert time.monotonic() - started < 2 + 1.5

    kept = _spooled("posthog")
    assert len(kept) == 3 + 1 + 5
    raw = _spool_bytes("posthog")
    assert not any(c.encode() in raw for c in CANARIES.values()), "the spool holds scrubbed data only"
    assert b"[REDACTED:" in raw

    with PostHogCaptureServer(port=_port(host)) as posthog_server:  # the same host, back
        second = _next_start()
        assert second._pipeline.wait_for_replay(30)
        assert posthog_server.wait_for(9, timeout=10)
        assert second.shutdown(timeout=5)
        time.sleep(0.5)

    events = posthog_server.events
    assert len(events) == 9 and len({e["uuid"] for e in events}) == 9, "no duplicates"
    names = sorted(e["event"] for e in events)
    assert names == sorted(["axolotl.epoch"] * 3 + ["axolotl.run"] + ["train-progress"] * 5)
    # One random product id, never the run's trace id (issue 13 item 5), and the id of the run
    # that recorded them, not of the run that replayed them: two runs are never linked.
    (product_id,) = {e["distinct_id"] for e in events}
    assert product_id != first.run_id
    assert product_id == _product_id(first) and product_id != _product_id(second)
    sent = json.dumps([r.body for r in posthog_server.requests])
    assert not any(c in sent for c in CANARIES.values())
    assert _spooled("posthog") == []


@pytest.mark.e2e
@pytest.mark.timeout(120)
def test_flush_command_delivers_the_spool_to_otlp_and_posthog(
    otlp_recorder: OtlpRecorder,
    monkeypatch: pytest.MonkeyPatch,
    quiet_env: None,
    capsys: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
) -> None:
    rotel_collector = Rotel(otlp_recorder)  # not started yet: its endpoint refuses
    host = refused_url()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rotel_collector.http_endpoint)
    _consent(monkeypatch, host)
    first = TelemetryManager()
    assert sorted(first.destinations) == ["otlp", "posthog"]
    _emit(first, spans=2, events=2)
    first.shutdown(timeout=2)
    assert len(_spooled("otlp")) == len(_spooled("posthog")) == 2 + 1 + 2

    rotel_collector.start()  # both endpoints back
    posthog_server = PostHogCaptureServer(port=_port(host)).start()
    request.addfinalizer(posthog_server.stop)
    request.addfinalizer(rotel_collector.stop)
    capsys.readouterr()
    assert cli.main(["flush", "--timeout", "30"]) == 0
    out = capsys.readouterr().out
    assert "otlp: sent 5 item(s) from 2 file(s); 0 file(s) left." in out
    assert "posthog: sent 5 item(s) from 2 file(s); 0 file(s) left." in out
    assert rotel_collector.recorder.wait_for(lambda r: len(r.spans) >= 3 and len(r.logs) >= 2, 20)
    assert posthog_server.wait_for(5, timeout=5)
    time.sleep(0.5)
    received = rotel_collector.recorder.received
    assert len(received.spans) == 3 and len(received.logs) == 2
    assert len({e["uuid"] for e in posthog_server.events}) == len(posthog_server.events) == 5

    assert cli.main(["flush"]) == 0  # nothing left: says so, sends nothing
    assert "otlp: nothing spooled." in capsys.readouterr().out


def test_flush_keeps_what_a_destination_not_configured_now_cannot_take(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _write_spans("otlp", 3)
    _write_spans("posthog", 2)
    monkeypatch.setenv("AXOLOTL_DO_NOT_TRACK", "0")  # consent, but no key
    assert cli.main(["flush", "--timeout", "5"]) == 0
    out = capsys.readouterr().out
    assert "otlp: 1 file(s) kept: no OTEL_EXPORTER_OTLP_ENDPOINT set." in out
    assert "posthog: 1 file(s) kept: no PostHog project key" in out
    assert len(_spooled("otlp")) == 3 and len(_spooled("posthog")) == 2


def test_flush_sends_nothing_to_a_collector_the_spool_was_not_written_for(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _write_spans("otlp", 3, recipient="some other collector")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", refused_url())
    assert cli.main(["flush", "--timeout", "5"]) == 0
    out = capsys.readouterr().out
    assert "otlp: sent 0 item(s) from 0 file(s); 1 file(s) left. (1 of them for other endpoints" in out
    assert len(_spooled("otlp")) == 3


@pytest.mark.timeout(60)
def test_posthog_export_is_success_only_when_posthog_really_took_it(
    posthog_server: PostHogCaptureServer,
) -> None:
    """What the delivery stage relies on: the PostHog exporter's export sends synchronously and
    returns SUCCESS only when PostHog accepted the batch (force_flush has nothing left to do)."""
    from opentelemetry.exporter.posthog import PostHogSpanExporter

    down = PostHogSpanExporter("phc_key_down", host=refused_url(), timeout=5)
    assert down.export(_spans(2)) is SpanExportResult.FAILURE, "connection refused: not delivered"
    down.shutdown()

    posthog_server.set_mode(400)
    flaky = PostHogSpanExporter("phc_key_flaky", host=posthog_server.url, timeout=5)
    assert flaky.export(_spans(1)) is SpanExportResult.FAILURE, "rejected: not delivered"
    posthog_server.set_mode("ok")
    assert flaky.export(_spans(1)) is SpanExportResult.SUCCESS
    assert flaky.force_flush(5000) is True
    flaky.shutdown()


# ------------------------------------------------------------------ consent withdrawal


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def _spool_of(destination: str, recipient: str = "A", level: str = "strict", drops: Any = None) -> Spool:
    """The spool of a test recipient named ``recipient`` (any name: it is hashed)."""
    spool = SpoolConfig.from_env().spool(
        destination, drops, recipient=recipient_id(destination, recipient), level=level
    )
    assert spool is not None
    return spool


def _write_spans(destination: str, n: int, recipient: str = "A", level: str = "strict") -> Path:
    path = _spool_of(destination, recipient, level).write("traces", _spans(n))
    assert path is not None
    return path


def _spans(n: int) -> list[Any]:
    from opentelemetry.sdk.trace import TracerProvider

    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource({"service.name": "t"}), shutdown_on_exit=False)
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("t")
    for i in range(n):
        with tracer.start_as_current_span(sc.SPAN_EPOCH, attributes={sc.ATTR_EPOCH: i}):
            pass
    return list(exporter.get_finished_spans())


def test_telemetry_disable_deletes_the_posthog_spool_and_only_it(capsys: pytest.CaptureFixture[str]) -> None:
    _write_spans("posthog", 2)
    _write_spans("posthog", 1)
    _write_spans("otlp", 4)
    assert cli.main(["telemetry", "disable"]) == 0
    out = capsys.readouterr().out
    assert "Deleted 2 unsent product-telemetry file(s)" in out
    assert not (_spool_root() / "posthog").exists()
    assert len(_spooled("otlp")) == 4, "the user's own OTLP spool is not product telemetry"
    assert cli.main(["telemetry", "status"]) == 0
    assert "otlp: 1 file(s), posthog: 0 file(s)" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("env", "deleted"),
    [
        ({"DO_NOT_TRACK": "1"}, True),
        ({"AXOLOTL_DO_NOT_TRACK": "1"}, True),
        ({"AXOLOTL_DO_NOT_TRACK": "0"}, False),
        ({}, False),  # no decision is not a withdrawal
        ({"OTEL_SDK_DISABLED": "true"}, False),  # a pause, not a withdrawal
    ],
)
def test_withdrawn_consent_at_start_deletes_the_posthog_spool(env: dict[str, str], deleted: bool) -> None:
    _write_spans("posthog", 1)
    full_env = {**os.environ, **env}
    decision = decide(_s.Settings.from_env(full_env), env=full_env)
    assert honour_withdrawal(decision, full_env) == (1 if deleted else 0)
    assert (len(_spooled("posthog")) == 0) is deleted


# ------------------------------------------------------------------ unreadable files, cap, claims


def _memory_otlp() -> tuple[Destination, InMemorySpanExporter, InMemoryLogRecordExporter]:
    spans, logs = InMemorySpanExporter(), InMemoryLogRecordExporter()
    return Destination("otlp", Level.STRICT, spans, logs, recipient=recipient_id("otlp", "A")), spans, logs


def test_corrupt_and_truncated_files_are_skipped_with_a_warning_and_start_up_goes_on(
    caplog: pytest.LogCaptureFixture, quiet_env: None
) -> None:
    good = _write_spans("otlp", 2)
    directory = good.parent
    truncated = _write_spans("otlp", 3)
    lines = truncated.read_bytes().splitlines(keepends=True)
    truncated.write_bytes(b"".join(lines[:-1]))  # the last item is missing
    half_line = _write_spans("otlp", 2)
    half_line.write_bytes(half_line.read_bytes()[:-40])  # cut mid-line
    garbage = directory / good.name.replace(good.name.split("-")[0], "0" * 19 + "1")
    garbage.write_bytes(b"\x00\xffnot json at all\n")
    wrong_item = _write_spans("otlp", 1)
    wrong_item.write_text(wrong_item.read_text().splitlines()[0] + '\n{"name": 3}\n')
    unrelated = directory / "notes.txt"
    unrelated.write_text("left alone")

    destination, spans, _ = _memory_otlp()
    with caplog.at_level(logging.WARNING, logger="otel_axolotl"):
        manager = TelemetryManager(destinations=[destination], show_consent_notice=False)
        assert manager._pipeline.wait_for_replay(20)
        manager.shutdown()
    warned = [r.getMessage() for r in caplog.records if "unreadable spool file" in r.getMessage()]
    for bad in (truncated, half_line, garbage, wrong_item):
        assert sum(bad.name in w for w in warned) == 1, f"one warning naming {bad.name}: {warned}"
        assert not bad.exists()
    assert len(spans.get_finished_spans()) == 2, "the good file is still delivered"
    assert sorted(p.name for p in directory.iterdir()) == ["notes.txt"]


def test_the_size_cap_drops_the_oldest_files_first_and_counts_them(caplog: pytest.LogCaptureFixture) -> None:
    drops: list[tuple[str, str, int]] = []
    probe = _spool_of("otlp")
    one = probe.write("traces", _spans(3))
    assert one is not None
    size = one.stat().st_size
    probe.clear()
    spool = Spool(probe.directory, "otlp", max_bytes=3 * size + size // 2, drops=lambda *d: drops.append(d))
    written = []
    with caplog.at_level(logging.WARNING, logger="otel_axolotl"):
        for _ in range(6):
            written.append(spool.write("traces", _spans(3)))
            time.sleep(0.002)
    remaining = sorted(p.name for p in spool.directory.glob("*.jsonl"))
    assert remaining == sorted(p.name for p in written[-3:] if p is not None), "newest kept, oldest gone"
    assert drops == [("traces", "spool_full", 3)] * 3
    assert sum("over its" in r.getMessage() for r in caplog.records) == 1, "logged once"
    assert sum(p.stat().st_size for p in spool.directory.glob("*.jsonl")) <= spool.max_bytes


def test_a_claimed_file_is_sent_by_one_process_and_a_dead_claim_is_taken_back() -> None:
    spool = _spool_of("otlp")
    _write_spans("otlp", 2)
    (f,) = spool.pending()
    claimed = spool.claim(f)
    assert claimed is not None and spool.claim(f) is None, "a second claimant loses"
    assert spool.pending() == [], "a fresh claim is someone else's work in progress"
    old = time.time() - STALE_SECONDS - 10
    os.utime(claimed.path, (old, old))
    (back,) = spool.pending()
    assert back.items == 2 and back.path.exists()


def test_a_file_the_backend_keeps_refusing_is_given_up_after_max_attempts() -> None:
    class Refusing(InMemorySpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.FAILURE

    drops = DropCounter()
    spool = _spool_of("otlp", drops=lambda s, r, n: drops.add("otlp", s, r, n))
    _write_spans("otlp", 4)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        report = replay(spool, {"traces": Refusing()}, deadline=time.monotonic() + 10)
        assert report.failed and report.sent_files == 0
        assert report.left_files == (0 if attempt == MAX_ATTEMPTS else 1)
    assert drops.counts() == {("otlp", "traces", "undelivered"): 4}


# ------------------------------------------------------------------ bounded queues, counted drops


class _Gate(InMemorySpanExporter):
    """Exports only once the gate opens (a backend that hangs)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()

    def export(self, spans: Any) -> SpanExportResult:
        self.gate.wait(10)
        return super().export(spans)


def test_a_full_queue_drops_counts_logs_once_and_reports_the_metric(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import otel_axolotl.pipeline as pipeline_module

    monkeypatch.setattr(pipeline_module, "MAX_QUEUE_SIZE", 10)
    monkeypatch.setattr(pipeline_module, "MAX_EXPORT_BATCH_SIZE", 5)
    spans, metrics = _Gate(), _KeepMetrics()
    pipeline = Pipeline(
        [Destination("memory", Level.STRICT, span_exporter=spans, metric_exporter=metrics)],
        Resource({"service.name": "t"}),
        "ab" * 16,
        Whitelist.load(),
        3_600_000,
    )
    tracer = pipeline.tracer_provider.get_tracer("t")
    with caplog.at_level(logging.WARNING, logger="otel_axolotl"):
        started = time.perf_counter()
        for i in range(100):
            tracer.start_span(sc.SPAN_EPOCH, attributes={sc.ATTR_EPOCH: i}).end()
        assert time.perf_counter() - started < 5, "the training thread never waits on a full queue"
    dropped = pipeline.drops.counts()[("memory", "traces", "queue_full")]
    assert 100 - 10 - 5 <= dropped <= 100 - 10  # at most one batch of 5 was taken before the gate
    assert sum("dropped" in r.getMessage() for r in caplog.records) == 1, "logged once"

    spans.gate.set()
    assert pipeline.force_flush(10)
    assert len(spans.get_finished_spans()) == 100 - dropped, "everything queued is delivered"
    points = [
        (dict(p.attributes), p.value)
        for data in metrics.exports
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        if m.name == sc.METRIC_TELEMETRY_DROPPED
        for p in m.data.data_points
    ]
    assert points[-1] == (
        {
            sc.ATTR_TELEMETRY_DESTINATION: "memory",
            sc.ATTR_TELEMETRY_SIGNAL: "traces",
            sc.ATTR_ERROR_TYPE: "queue_full",
        },
        dropped,
    )
    for data in metrics.exports:
        assert_all_registered(metrics_data=data)
    assert pipeline.shutdown(5)


def test_failed_exports_are_spooled_mid_run_and_counted_when_the_spool_is_off() -> None:
    class Failing(InMemorySpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            raise ConnectionError("backend down")

    drops = DropCounter()
    spool = _spool_of("otlp")
    kept = Delivery("otlp", "traces", Failing(), drops=drops, spool=spool, schedule_delay_s=0.05)
    lost = Delivery("otlp", "traces", Failing(), drops=drops, spool=None, schedule_delay_s=0.05)
    for item in _spans(4):
        kept.put(item)
        lost.put(item)
    assert kept.flush(5) and lost.flush(5)
    assert len(_spooled("otlp")) == 4
    assert drops.counts() == {("otlp", "traces", "undelivered"): 4}
    kept.shutdown(1)
    lost.shutdown(1)
    assert kept.spool_leftovers() == 0


def test_spool_off_writes_nothing(monkeypatch: pytest.MonkeyPatch, quiet_env: None) -> None:
    monkeypatch.setenv("OTEL_AXOLOTL_SPOOL", "false")
    monkeypatch.setenv("AXOLOTL_DO_NOT_TRACK", "1")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", refused_url())
    manager = TelemetryManager(show_consent_notice=False)
    _emit(manager, spans=2, events=1)
    manager.shutdown(timeout=1)
    assert not (_spool_root() / "otlp").exists()
    assert manager._pipeline.drops.total() == 3 + 1


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork only")
@pytest.mark.timeout(30)
def test_a_forked_child_delivers_nothing_and_counts_what_it_drops() -> None:
    """Issue 17: a delivery closes in a forked child (its exporters are the parent's)."""
    exporter = _Gate()
    drops = DropCounter()
    delivery = Delivery("memory", "traces", exporter, drops=drops, schedule_delay_s=0.05)
    for item in _spans(3):
        delivery.put(item)
    pid = os.fork()
    if pid == 0:  # the child: nothing of the parent's, nothing of its own sent either
        code = 0 if delivery.queued == 0 else 1
        exporter.gate.set()
        delivery.put(_spans(1)[0])
        code |= 0 if delivery.flush(5) and delivery.shutdown(5) else 2
        time.sleep(0.2)
        code |= 0 if not exporter.get_finished_spans() else 4
        code |= 0 if drops.counts() == {("memory", "traces", "forked"): 1} else 8
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    exporter.gate.set()
    assert delivery.flush(5) and len(exporter.get_finished_spans()) == 3


# ------------------------------------------------------------------ the codec


def test_spans_and_events_survive_the_round_trip_and_the_otlp_encoder() -> None:
    from opentelemetry._logs import SeverityNumber
    from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.trace import Link, SpanKind, Status, StatusCode

    resource = Resource({"service.name": "t", sc.ATTR_RANK: 3})
    spans = InMemorySpanExporter()
    tp = TracerProvider(resource=resource, shutdown_on_exit=False)
    tp.add_span_processor(SimpleSpanProcessor(spans))
    tracer = tp.get_tracer("scope", "1.2")
    with tracer.start_as_current_span("parent") as parent:
        link = Link(parent.get_span_context(), {"k": "v"})
        with tracer.start_as_current_span(
            "child", kind=SpanKind.CLIENT, links=[link], attributes={"s": "x", "i": 1, "f": 0.5, "l": [1, 2]}
        ) as child:
            child.add_event("exception", {"exception.type": "E"})
            child.set_status(Status(StatusCode.ERROR, "boom"))
    logs = InMemoryLogRecordExporter()
    lp = LoggerProvider(resource=resource, shutdown_on_exit=False)
    lp.add_log_record_processor(SimpleLogRecordProcessor(logs))
    lp.get_logger("scope").emit(
        event_name="train-end",
        body={"nested": {"a": [1, "b"]}, "n": None},
        attributes={"axolotl.rank": 0},
        severity_number=SeverityNumber.INFO,
    )

    for span in spans.get_finished_spans():
        again = decode_span(json.loads(json.dumps(encode_span(span))))
        for field in ("name", "context", "parent", "kind", "start_time", "end_time", "resource"):
            assert getattr(again, field) == getattr(span, field), field
        assert dict(again.attributes) == dict(span.attributes)
        assert [(e.name, dict(e.attributes), e.timestamp) for e in again.events] == [
            (e.name, dict(e.attributes), e.timestamp) for e in span.events
        ]
        assert [(lk.context, dict(lk.attributes)) for lk in again.links] == [
            (lk.context, dict(lk.attributes)) for lk in span.links
        ]
        assert (again.status.status_code, again.status.description) == (
            span.status.status_code,
            span.status.description,
        )
        assert again.instrumentation_scope == span.instrumentation_scope
        assert encode_spans([again]) == encode_spans([span])
    (record,) = logs.get_finished_logs()
    again_log = decode_log(json.loads(json.dumps(encode_log(record))))
    assert encode_logs([again_log]) == encode_logs([record])


# ------------------------------------------------------------------ bound to a recipient and a level


def _spool_a_run(monkeypatch: pytest.MonkeyPatch, endpoint: str, level: str, timeout: float = 2.0) -> str:
    """A real run whose OTLP export fails (refused, or the recorder answering 400): everything
    is spooled, scrubbed at ``level``, for ``endpoint``. Returns the run id."""
    monkeypatch.setenv("AXOLOTL_DO_NOT_TRACK", "1")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
    monkeypatch.setenv("OTEL_AXOLOTL_PRIVACY", level)
    manager = TelemetryManager(show_consent_notice=False)
    _emit(manager, spans=2, events=1)
    manager.shutdown(timeout=timeout)
    return manager.run_id


def _start_and_replay(monkeypatch: pytest.MonkeyPatch, endpoint: str, level: str) -> TelemetryManager:
    """The next start, for ``endpoint`` at ``level``: its replay of the spool is over on return."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
    monkeypatch.setenv("OTEL_AXOLOTL_PRIVACY", level)
    manager = TelemetryManager(show_consent_notice=False)
    assert manager._pipeline.wait_for_replay(30)
    return manager


def _replayed(manager: TelemetryManager) -> int:
    return sum(r.sent_files for r in manager._pipeline.replay_reports)


@pytest.mark.timeout(120)
def test_a_secrets_only_spool_never_reaches_a_strict_destination_of_the_same_recipient(
    otlp_recorder: OtlpRecorder, monkeypatch: pytest.MonkeyPatch, quiet_env: None
) -> None:
    otlp_recorder.set_mode(400)  # refused for the first run: everything is spooled
    run_id = _spool_a_run(monkeypatch, otlp_recorder.url, "secrets-only")
    kept = _spool_files("otlp")
    assert len(_spooled("otlp")) == 2 + 1 + 1
    assert b"secrets-only" in kept[0].read_bytes().splitlines()[0], "the header names the level"
    assert all(p.parent.name.endswith("-secrets-only") for p in kept)
    otlp_recorder.set_mode("ok")

    strict = _start_and_replay(monkeypatch, otlp_recorder.url, "strict")
    strict.shutdown(timeout=5)
    time.sleep(0.3)
    got = otlp_recorder.received
    assert _replayed(strict) == 0 and got.spans == [] and got.logs == [], "nothing laxer reaches strict"
    assert _spool_files("otlp") == kept, "kept for the recipient it was scrubbed for"

    laxer = _start_and_replay(monkeypatch, otlp_recorder.url, "secrets-only")
    assert otlp_recorder.wait_for(lambda r: len(r.spans) >= 3 and len(r.logs) >= 1, 10)
    laxer.shutdown(timeout=5)
    assert {s["trace_id"] for s in otlp_recorder.received.spans} == {run_id}
    assert _spool_files("otlp") == []


@pytest.mark.timeout(120)
def test_a_strict_spool_goes_to_the_same_recipient_at_secrets_only_and_never_to_another(
    otlp_recorder: OtlpRecorder, monkeypatch: pytest.MonkeyPatch, quiet_env: None
) -> None:
    otlp_recorder.set_mode(400)
    run_id = _spool_a_run(monkeypatch, otlp_recorder.url, "strict")
    kept = _spool_files("otlp")
    assert len(kept) == 2 and all(p.parent.name.endswith("-strict") for p in kept)
    otlp_recorder.set_mode("ok")

    other = OtlpRecorder()  # another collector: another recipient
    try:
        elsewhere = _start_and_replay(monkeypatch, other.url, "strict")
        elsewhere.shutdown(timeout=5)
        time.sleep(0.3)
        assert _replayed(elsewhere) == 0 and other.received.spans == [] and other.received.logs == []
    finally:
        other.close()
    assert _spool_files("otlp") == kept
    same_host_other_path = _start_and_replay(monkeypatch, otlp_recorder.url + "/tenant-b", "strict")
    same_host_other_path.shutdown(timeout=5)
    assert _replayed(same_host_other_path) == 0 and _spool_files("otlp") == kept

    own = _start_and_replay(monkeypatch, otlp_recorder.url, "secrets-only")
    assert otlp_recorder.wait_for(lambda r: len(r.spans) >= 3 and len(r.logs) >= 1, 10)
    own.shutdown(timeout=5)
    assert _replayed(own) == 2 and _spool_files("otlp") == []
    assert {s["trace_id"] for s in otlp_recorder.received.spans} == {run_id}


@pytest.mark.e2e
@pytest.mark.timeout(180)
def test_five_unrelated_runs_in_one_shared_spool_a_collector_receives_only_its_own(
    otlp_recorder: OtlpRecorder, monkeypatch: pytest.MonkeyPatch, quiet_env: None
) -> None:
    """One shared spool directory (the per-user cache); five runs for five recipients, all
    down at the time. The collector that comes back gets its own run, nothing else."""
    collector = Rotel(otlp_recorder)  # not started: refuses, as the others do
    # Each export gives up within the exit deadline, so no abandoned retry of one run (in this
    # one test process) reaches the collector later: what arrives can only come from the spool.
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1")
    own = _spool_a_run(monkeypatch, collector.http_endpoint, "strict", timeout=3)
    others = [
        _spool_a_run(monkeypatch, refused_url(), "strict", timeout=3),  # another collector
        _spool_a_run(monkeypatch, refused_url(), "strict", timeout=3),
        _spool_a_run(monkeypatch, collector.http_endpoint, "secrets-only", timeout=3),  # same, laxer
        _spool_a_run(monkeypatch, collector.http_endpoint + "/other", "strict", timeout=3),
    ]
    by_directory = {p.parent for p in _spool_files("otlp")}
    assert len(by_directory) == 5, "one directory per recipient and level"
    before = {p.name for p in _spool_files("otlp")}
    collector.start()
    try:
        manager = _start_and_replay(monkeypatch, collector.http_endpoint, "strict")
        assert otlp_recorder.wait_for(lambda r: len(r.spans) >= 3 and len(r.logs) >= 1, 20)
        manager.shutdown(timeout=5)
        time.sleep(0.5)
    finally:
        collector.stop()
    got = otlp_recorder.received
    assert {s["trace_id"] for s in got.spans} == {own}, "only its own run"
    assert len(got.spans) == 3 and len(got.logs) == 1
    assert not set(others) & {s["trace_id"] for s in got.spans}
    assert len(before) - len({p.name for p in _spool_files("otlp")}) == 2, "the others' files are kept"
    names = " ".join(str(p) for p in _spool_files("otlp"))
    assert "127.0.0.1" not in names and str(_port(collector.http_endpoint)) not in names, "no URL on disk"
    for path in _spool_files("otlp"):
        assert b"127.0.0.1" not in path.read_bytes().splitlines()[0], "the header holds no URL either"


@pytest.mark.e2e
@pytest.mark.timeout(120)
def test_a_posthog_spool_written_under_one_project_key_is_never_sent_under_another(
    posthog_server: PostHogCaptureServer, monkeypatch: pytest.MonkeyPatch, quiet_env: None
) -> None:
    monkeypatch.setenv("AXOLOTL_DO_NOT_TRACK", "0")
    monkeypatch.setenv("OTEL_AXOLOTL_POSTHOG_HOST", posthog_server.url)
    monkeypatch.setenv("OTEL_AXOLOTL_POSTHOG_API_KEY", "phc_project_one")
    monkeypatch.setenv("OTEL_AXOLOTL_POSTHOG_SPANS", "true")
    posthog_server.set_mode(400)  # the first run's requests are refused: spooled
    first = TelemetryManager()
    _emit(first, spans=1, events=2)
    first.shutdown(timeout=2)
    kept = _spool_files("posthog")
    assert len(_spooled("posthog")) == 1 + 1 + 2
    raw = b"".join(p.read_bytes() for p in kept) + " ".join(map(str, kept)).encode()
    assert b"phc_project_one" not in raw, "the key is never written"
    posthog_server.set_mode("ok")

    monkeypatch.setenv("OTEL_AXOLOTL_POSTHOG_API_KEY", "phc_project_two")
    second = _next_start()
    assert second._pipeline.wait_for_replay(30)
    second.shutdown(timeout=5)
    time.sleep(0.3)
    under_two = [
        e
        for r in posthog_server.requests
        if (r.body or {}).get("api_key") == "phc_project_two"
        for e in r.events
    ]
    assert under_two == [], "project one's events stay out (the second manager itself sends nothing)"
    assert _spool_files("posthog") == kept

    monkeypatch.setenv("OTEL_AXOLOTL_POSTHOG_API_KEY", "phc_project_one")
    third = _next_start()
    assert third._pipeline.wait_for_replay(30)
    third.shutdown(timeout=5)
    under_one = [
        e
        for r in posthog_server.requests
        if (r.body or {}).get("api_key") == "phc_project_one" and r.mode == "ok"
        for e in r.events
    ]
    assert len(under_one) == 4 and _spool_files("posthog") == []


def test_withdrawn_consent_deletes_every_product_spool_every_key_and_the_old_layout() -> None:
    _write_spans("posthog", 1, recipient="key one")
    _write_spans("posthog", 2, recipient="key two", level="strict")
    old = _version_one_file("posthog")
    _write_spans("otlp", 1)
    env = {**os.environ, "DO_NOT_TRACK": "1"}
    assert honour_withdrawal(decide(_s.Settings.from_env(env), env=env), env) == 3
    assert not (_spool_root() / "posthog").exists() and not old.exists()
    assert len(_spool_files("otlp")) == 1


def _version_one_file(destination: str) -> Path:
    """A file as otel-axolotl wrote it before spools knew their recipient."""
    directory = _spool_root() / destination
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{time.time_ns():020d}-{os.getpid()}-abcdef.traces.1.0.jsonl"
    span = json.dumps(encode_span(_spans(1)[0]))
    path.write_text(
        json.dumps({"format": "otel-axolotl-spool", "version": 1, "signal": "traces", "items": 1})
        + "\n"
        + span
        + "\n"
    )
    return path


def test_version_one_files_are_deleted_once_with_one_message_and_never_sent(
    caplog: pytest.LogCaptureFixture, quiet_env: None
) -> None:
    old = [_version_one_file("otlp") for _ in range(3)]
    destination, spans, _ = _memory_otlp()
    with caplog.at_level(logging.INFO, logger="otel_axolotl"):
        manager = TelemetryManager(destinations=[destination], show_consent_notice=False)
        assert manager._pipeline.wait_for_replay(20)
        manager.shutdown()
    assert spans.get_finished_spans() == (), "they do not know their recipient: never sent"
    assert not any(p.exists() for p in old)
    said = [r.getMessage() for r in caplog.records if "older otel-axolotl" in r.getMessage()]
    assert len(said) == 1 and "deleted 3 spool file(s)" in said[0]


def test_a_file_moved_into_another_recipients_directory_is_not_sent() -> None:
    theirs = _write_spans("otlp", 2, recipient="B")
    mine = _spool_of("otlp", "A")
    mine.directory.mkdir(parents=True, exist_ok=True)
    moved = mine.directory / theirs.name
    os.rename(theirs, moved)
    exporter = InMemorySpanExporter()
    report = replay(mine, {"traces": exporter}, deadline=time.monotonic() + 10)
    assert report.sent_files == 0 and report.skipped_files == 1 and exporter.get_finished_spans() == ()
    assert not moved.exists()


def test_a_destination_without_a_recipient_is_not_spooled() -> None:
    assert SpoolConfig.from_env().spool("otlp", recipient=None, level="strict") is None
    assert SpoolConfig.from_env().spool("otlp", recipient="x", level="public") is None


# ------------------------------------------------------------------ claims, odd files, refused files


def test_a_claim_left_by_a_dead_process_is_taken_back_at_once() -> None:
    import subprocess
    import sys

    _write_spans("otlp", 2)
    spool = _spool_of("otlp")
    claim = (
        "import sys; from pathlib import Path; from otel_axolotl.spool import Spool; "
        "s = Spool(Path(sys.argv[1]), 'otlp', 1 << 24); (f,) = s.pending(); "
        "c = s.claim(f); print(c.path.name); import os; os._exit(0)"  # dies holding the claim
    )
    out = subprocess.run(
        [sys.executable, "-c", claim, str(spool.directory)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    claimed = spool.directory / out.stdout.strip()
    assert claimed.exists() and ".claimed-" in claimed.name, "the claim names its process"
    (back,) = spool.pending()
    assert back.items == 2 and not claimed.exists(), "taken back at once, not after STALE_SECONDS"

    mine = spool.claim(back)
    assert mine is not None and spool.pending() == [], "a live process's claim is respected"
    elsewhere = mine.path.with_name(mine.path.name.split(".claimed")[0] + ".claimed-1-0123abcd0123abcd")
    os.rename(mine.path, elsewhere)
    assert spool.pending() == [], "another host's claim: only the age rule can tell"
    old = time.time() - STALE_SECONDS - 10
    os.utime(elsewhere, (old, old))
    assert len(spool.pending()) == 1


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
@pytest.mark.timeout(30)
def test_a_fifo_or_a_symlink_in_the_spool_does_not_block_or_leak_into_replay(tmp_path: Path) -> None:
    good = _write_spans("otlp", 2)
    directory = good.parent
    fifo = directory / f"{0:020d}-1-aaaaaa.traces.1.0.jsonl"  # older than any file: first in line
    os.mkfifo(fifo)
    outside = tmp_path / "outside.jsonl"
    outside.write_bytes(_write_spans("otlp", 3, recipient="other").read_bytes())
    (directory / f"{1:020d}-1-bbbbbb.traces.3.0.jsonl").symlink_to(outside)
    exporter = InMemorySpanExporter()
    spool = _spool_of("otlp")
    result: list[Any] = []
    worker = threading.Thread(
        target=lambda: result.append(replay(spool, {"traces": exporter}, deadline=time.monotonic() + 10)),
        daemon=True,
    )
    worker.start()
    worker.join(10)
    assert not worker.is_alive(), "replay blocked on the FIFO"
    assert result[0].sent_files == 1 and len(exporter.get_finished_spans()) == 2
    assert fifo.exists() and outside.exists(), "odd files are left alone, never opened"


class _SizeLimitedCollector:
    """A real OTLP/HTTP receiver on 127.0.0.1 that refuses requests over ``limit`` bytes with
    413, as a collector or gateway with a body limit does, and accepts the rest."""

    def __init__(self, limit: int) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        self.span_names: list[str] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return None

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = 413 if len(body) > limit else 200
                if status == 200:
                    request = ExportTraceServiceRequest.FromString(body)
                    collector.span_names += [
                        s.name for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans
                    ]
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/traces"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _named_spans(name: str, n: int, padding: int = 0) -> list[Any]:
    spans = _spans(n)
    from opentelemetry.sdk.trace import ReadableSpan

    return [
        ReadableSpan(
            name=name, context=s.context, attributes={"pad": "x" * padding}, start_time=1, end_time=2
        )
        for s in spans
    ]


@pytest.mark.timeout(60)
def test_a_file_the_destination_refuses_is_set_aside_and_the_files_behind_it_are_delivered() -> None:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    collector = _SizeLimitedCollector(limit=64 * 1024)
    drops = DropCounter()
    spool = _spool_of("otlp", drops=lambda s, r, n: drops.add("otlp", s, r, n))
    try:
        exporter = OTLPSpanExporter(endpoint=collector.url, timeout=5)
        too_big = spool.write("traces", _named_spans("too-big", 1, padding=200 * 1024))
        assert too_big is not None
        time.sleep(0.002)
        spool.write("traces", _named_spans("fine-1", 2))
        report = replay(spool, {"traces": exporter}, deadline=time.monotonic() + 20)
        assert collector.span_names == ["fine-1", "fine-1"], "the file behind the refused one is delivered"
        assert report.set_aside_files == 1 and report.sent_files == 1 and not report.failed
        assert report.left_files == 0 and spool.pending() == []
        assert drops.counts() == {("otlp", "traces", "undelivered"): 1}, "set aside: counted"

        # Two refused files first in line: the first start stops after two failures (the
        # backend may be down); the next start sends the new file first, then sets both aside.
        spool.write("traces", _named_spans("too-big", 1, padding=200 * 1024))
        spool.write("traces", _named_spans("too-big", 1, padding=200 * 1024))
        first = replay(spool, {"traces": exporter}, deadline=time.monotonic() + 20)
        assert first.failed and first.left_files == 2
        spool.write("traces", _named_spans("fine-2", 1))
        second = replay(spool, {"traces": exporter}, deadline=time.monotonic() + 20)
        assert second.sent_files == 1 and second.set_aside_files == 2 and spool.pending() == []
        assert collector.span_names[-1] == "fine-2"
        exporter.shutdown()
    finally:
        collector.close()
