"""The PostHog exporters: pure mapping, settings, and the real posthog client against a real
local server (normal, 400, 413, 429, 503, refused port, silent, slow), isolation from
otel_axolotl, and bounded process exit."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.exporter.posthog import (
    PostHogLogExporter,
    PostHogMetricExporter,
    PostHogSpanExporter,
    _client,
    _config,
    _mapping,
)
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import (
    InMemoryLogRecordExporter,
    LogRecordExportResult,
    SimpleLogRecordProcessor,
)
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    InMemoryMetricReader,
    MetricExportResult,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

from tests.support.posthog_capture import PostHogCaptureServer, refused_url

REPO = Path(__file__).resolve().parents[1]
API_KEY = "phc_test_key"
RESOURCE = Resource.create({"service.name": "trainer", "axolotl.run.id": "run-1234"})
DEADLINE_S = _config.DEFAULT_TIMEOUT_S
Exporter = PostHogSpanExporter | PostHogLogExporter | PostHogMetricExporter


@pytest.fixture(autouse=True)
def _fresh_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Config warnings are logged once per process; each test starts with none logged."""
    monkeypatch.setattr(_config, "_warned", set())


@pytest.fixture
def exporters() -> Iterator[list[Exporter]]:
    """Exporters created by a test, shut down after it whatever happened."""
    created: list[Exporter] = []
    yield created
    for exporter in created:
        exporter.shutdown()


def _span_exporter(created: list[Exporter], url: str, **kwargs: Any) -> PostHogSpanExporter:
    exporter = PostHogSpanExporter(API_KEY, host=url, **kwargs)
    created.append(exporter)
    return exporter


# ------------------------------------------------------------------ telemetry makers


def make_spans(count: int = 1, resource: Resource = RESOURCE) -> list[ReadableSpan]:
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=resource, shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("test")
    for i in range(count):
        with tracer.start_as_current_span(f"span-{i}") as span:
            span.set_attribute("index", i)
    return list(memory.get_finished_spans())


def make_logs(emit: Callable[[Any, Any], None], resource: Resource = RESOURCE) -> list[Any]:
    memory = InMemoryLogRecordExporter()
    provider = LoggerProvider(resource=resource, shutdown_on_exit=False)
    provider.add_log_record_processor(SimpleLogRecordProcessor(memory))
    tracer_provider = TracerProvider(resource=resource, shutdown_on_exit=False)
    emit(provider.get_logger("test"), tracer_provider.get_tracer("test"))
    return list(memory.get_finished_logs())


def props_size(properties: dict[str, Any]) -> int:
    return len(json.dumps(properties, separators=(",", ":")).encode())


# ------------------------------------------------------------------------- mapping


def test_span_maps_to_one_event_with_ids_times_status_and_properties() -> None:
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=RESOURCE, shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("run"), tracer.start_as_current_span("epoch") as child:
        child.set_attribute("epoch", 2)
        child.set_attribute("sizes", (1, 2, 3))
        child.set_attribute("service.name", "attribute wins")
        child.set_status(Status(StatusCode.ERROR, "out of memory"))
    epoch, run = memory.get_finished_spans()

    event = _mapping.span_to_event(epoch, "fallback")
    assert event is not None
    trace_hex = f"{epoch.context.trace_id:032x}"
    assert event.event == "epoch"
    assert event.distinct_id == trace_hex
    assert uuid.UUID(event.uuid) and event.uuid == _mapping.span_to_event(epoch, "other").uuid
    assert event.uuid != _mapping.span_to_event(run, "fallback").uuid
    assert event.timestamp.tzinfo is not None
    epoch_start = datetime(1970, 1, 1, tzinfo=timezone.utc)
    assert event.timestamp == epoch_start + timedelta(microseconds=epoch.end_time // 1000)
    props = event.properties
    assert props["epoch"] == 2 and props["sizes"] == [1, 2, 3]
    assert props["service.name"] == "attribute wins"
    assert props["axolotl.run.id"] == "run-1234"
    assert props["$trace_id"] == trace_hex
    assert props["$span_id"] == f"{epoch.context.span_id:016x}"
    assert props["$parent_span_id"] == f"{run.context.span_id:016x}"
    assert props["duration_ms"] == pytest.approx((epoch.end_time - epoch.start_time) / 1e6)
    assert props["status"] == "error" and props["status_message"] == "out of memory"
    assert props["$geoip_disable"] is True and props["$process_person_profile"] is False

    run_props = _mapping.span_to_event(run, "fallback").properties
    assert "$parent_span_id" not in run_props and run_props["status"] == "unset"
    assert "status_message" not in run_props
    json.dumps(props)


def test_log_event_spreads_dict_body_and_attributes_win() -> None:
    def emit(logger: Any, tracer: Any) -> None:
        with tracer.start_as_current_span("run"):
            logger.emit(
                event_name="config-loaded",
                body={"learning_rate": 5e-4, "model": "gpt2", "shared": "from body"},
                attributes={"shared": "from attributes", "blob": b"\x01\xff"},
            )

    (record,) = make_logs(emit)
    event = _mapping.log_to_event(record, "fallback")
    assert event is not None
    assert event.event == "config-loaded"
    assert event.distinct_id == f"{record.log_record.trace_id:032x}"
    assert event.properties["learning_rate"] == 5e-4 and event.properties["model"] == "gpt2"
    assert event.properties["shared"] == "from attributes"
    assert event.properties["blob"] == "01ff"
    assert "body" not in event.properties
    assert event.properties["$span_id"] == f"{record.log_record.span_id:016x}"
    assert event.timestamp.tzinfo is not None
    assert event.uuid == _mapping.log_to_event(record, "fallback").uuid


def test_log_without_trace_uses_run_id_then_random_fallback_and_plain_logs_are_skipped() -> None:
    def emit(logger: Any, tracer: Any) -> None:
        logger.emit(event_name="train-end", body="finished")
        logger.emit(body="a plain log line, not an event")

    with_run_id, plain = make_logs(emit)
    event = _mapping.log_to_event(with_run_id, "fallback")
    assert event is not None
    assert event.distinct_id == "run-1234"
    assert event.properties["body"] == "finished"
    assert "$trace_id" not in event.properties
    assert _mapping.log_to_event(plain, "fallback") is None

    (anonymous,) = make_logs(
        lambda logger, _: logger.emit(event_name="e"), resource=Resource.create({"service.name": "x"})
    )
    assert _mapping.log_to_event(anonymous, "f" * 32).distinct_id == "f" * 32


def test_values_become_json_serializable() -> None:
    class Opaque:
        def __str__(self) -> str:
            return "opaque"

    value = {
        1: (1, 2),
        "b": b"\x00\x10",
        "nan": float("nan"),
        "set": {3},
        "obj": Opaque(),
        "nested": [{"t": ("x",)}],
    }
    converted = _mapping.json_value(value)
    assert converted == {
        "1": [1, 2],
        "b": "0010",
        "nan": "nan",
        "set": [3],
        "obj": "opaque",
        "nested": [{"t": ["x"]}],
    }
    json.dumps(converted, allow_nan=False)


def test_size_limit_matches_the_posthog_client() -> None:
    from posthog.consumer import MAX_MSG_SIZE

    assert _mapping.POSTHOG_MAX_EVENT_BYTES == MAX_MSG_SIZE


def test_oversized_events_are_trimmed_and_marked_never_dropped() -> None:
    small = {"a": "x" * 100, "$trace_id": "t"}
    assert _mapping.fit_properties(small) is small

    big = {"config": "y" * 2_000_000, "notes": "z" * 600_000, "lr": 0.1, "$trace_id": "t" * 32}
    trimmed = _mapping.fit_properties(big)
    assert props_size(trimmed) <= _mapping.MAX_PROPERTIES_BYTES
    assert trimmed["$otel_trimmed"] is True
    assert trimmed["lr"] == 0.1 and trimmed["$trace_id"] == "t" * 32
    assert trimmed["config"].endswith("[trimmed]")

    many = {f"key{i}": "v" * 90 for i in range(20_000)}
    many["$span_id"] = "s"
    fallback = _mapping.fit_properties(many)
    assert props_size(fallback) <= _mapping.MAX_PROPERTIES_BYTES
    assert fallback["$otel_trimmed"] is True and fallback["$span_id"] == "s"

    provider = TracerProvider(resource=RESOURCE, shutdown_on_exit=False)
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    with provider.get_tracer("t").start_as_current_span("huge") as huge:
        huge.set_attribute("payload", "p" * 1_500_000)
    event = _mapping.span_to_event(memory.get_finished_spans()[0], "f")
    assert event.event == "huge" and event.properties["$otel_trimmed"] is True


def test_metrics_map_to_one_snapshot_event() -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(resource=RESOURCE, metric_readers=[reader], shutdown_on_exit=False)
    meter = provider.get_meter("test")
    meter.create_counter("train.steps").add(7)
    meter.create_gauge("train.loss").set(0.25)
    histogram = meter.create_histogram("train.step.duration")
    for value in (1.0, 3.0):
        histogram.record(value)
    gpu = meter.create_gauge("hw.gpu.utilization")
    gpu.set(0.5, {"hw.id": "0"})
    gpu.set(0.75, {"hw.id": "1"})

    (event,) = _mapping.metrics_to_events(reader.get_metrics_data(), "train-metrics", "fallback")
    props = event.properties
    assert event.event == "train-metrics" and event.distinct_id == "run-1234"
    assert props["train.steps"] == 7 and props["train.loss"] == 0.25
    assert props["train.step.duration.count"] == 2 and props["train.step.duration.sum"] == 4.0
    assert props["train.step.duration.min"] == 1.0 and props["train.step.duration.max"] == 3.0
    assert props["hw.gpu.utilization{hw.id=0}"] == 0.5
    assert props["hw.gpu.utilization{hw.id=1}"] == 0.75
    assert props["service.name"] == "trainer" and props["$process_person_profile"] is False
    assert event.timestamp.tzinfo is not None
    provider.shutdown()


# ------------------------------------------------------------------------ settings


def test_settings_resolve_argument_then_env_then_default(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = _config.resolve()
    assert (defaults.host, defaults.timeout_s, defaults.max_queue_size) == (
        "https://us.i.posthog.com",
        2.0,
        2048,
    )
    assert not defaults.enabled

    monkeypatch.setenv("OTEL_EXPORTER_POSTHOG_API_KEY", "phc_env")
    monkeypatch.setenv("OTEL_EXPORTER_POSTHOG_HOST", "https://eu.i.posthog.com/")
    monkeypatch.setenv("OTEL_EXPORTER_POSTHOG_TIMEOUT", "0.5")
    monkeypatch.setenv("OTEL_EXPORTER_POSTHOG_MAX_QUEUE_SIZE", "10")
    from_env = _config.resolve()
    assert (from_env.api_key, from_env.host, from_env.timeout_s, from_env.max_queue_size) == (
        "phc_env",
        "https://eu.i.posthog.com",
        0.5,
        10,
    )
    assert from_env.enabled and "phc_env" not in repr(from_env)

    from_args = _config.resolve("phc_arg", "http://127.0.0.1:1", 1.5, 3)
    assert (from_args.api_key, from_args.host, from_args.timeout_s, from_args.max_queue_size) == (
        "phc_arg",
        "http://127.0.0.1:1",
        1.5,
        3,
    )


def test_bad_env_values_warn_once_naming_the_variable_then_use_defaults(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_POSTHOG_TIMEOUT", "soon")
    monkeypatch.setenv("OTEL_EXPORTER_POSTHOG_MAX_QUEUE_SIZE", "-3")
    with caplog.at_level(logging.WARNING, logger="opentelemetry.exporter.posthog"):
        first = _config.resolve("k", "http://127.0.0.1:1")
        second = _config.resolve("k", "http://127.0.0.1:1")
    assert first.timeout_s == second.timeout_s == 2.0
    assert first.max_queue_size == 2048
    timeout_warnings = [r for r in caplog.records if "OTEL_EXPORTER_POSTHOG_TIMEOUT" in r.getMessage()]
    queue_warnings = [r for r in caplog.records if "OTEL_EXPORTER_POSTHOG_MAX_QUEUE_SIZE" in r.getMessage()]
    assert len(timeout_warnings) == 1 and "positive number" in timeout_warnings[0].getMessage()
    assert len(queue_warnings) == 1 and "positive integer" in queue_warnings[0].getMessage()


@pytest.mark.parametrize("kwargs", [{"timeout": 0}, {"timeout": -1.0}, {"max_queue_size": 0}])
def test_bad_constructor_arguments_raise(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        PostHogSpanExporter(API_KEY, host="http://127.0.0.1:1", **kwargs)


@pytest.mark.parametrize("host", ["ftp://example.com", "us.i.posthog.com", "http://"])
def test_host_that_is_not_an_http_url_disables_the_exporter(
    host: str, caplog: pytest.LogCaptureFixture
) -> None:
    before = _client.shared_client_count()
    with caplog.at_level(logging.WARNING, logger="opentelemetry.exporter.posthog"):
        exporter = PostHogSpanExporter(API_KEY, host=host)
        also = PostHogLogExporter(API_KEY, host=host)
    assert not exporter.enabled and not also.enabled
    assert exporter.export(make_spans()) is SpanExportResult.FAILURE
    assert _client.shared_client_count() == before
    errors = [r for r in caplog.records if "http:// or https://" in r.getMessage()]
    assert len(errors) == 1 and errors[0].levelno == logging.ERROR
    exporter.shutdown()
    also.shutdown()


def test_no_api_key_disables_cheaply_and_says_so_once(
    posthog_server: PostHogCaptureServer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="opentelemetry.exporter.posthog"):
        spans = PostHogSpanExporter(host=posthog_server.url)
        logs = PostHogLogExporter(host=posthog_server.url)
        metrics = PostHogMetricExporter(host=posthog_server.url)
    batch = make_spans(10)
    started = time.perf_counter()
    assert spans.export(batch) is SpanExportResult.FAILURE
    assert time.perf_counter() - started < 0.05
    assert logs.export([]) is LogRecordExportResult.FAILURE
    assert metrics.export(_empty_metrics()) is MetricExportResult.FAILURE
    assert spans.force_flush() is True
    for exporter in (spans, logs, metrics):
        exporter.shutdown()
    notices = [r for r in caplog.records if "no API key" in r.getMessage()]
    assert len(notices) == 1 and "OTEL_EXPORTER_POSTHOG_API_KEY" in notices[0].getMessage()
    assert posthog_server.requests == []


def _empty_metrics() -> Any:
    from opentelemetry.sdk.metrics.export import MetricsData

    return MetricsData(resource_metrics=[])


# ------------------------------------------------------- real client, local server


def test_spans_arrive_as_posthog_events(
    posthog_server: PostHogCaptureServer, exporters: list[Exporter]
) -> None:
    exporter = _span_exporter(exporters, posthog_server.url)
    spans = make_spans(3)
    assert exporter.export(spans) is SpanExportResult.SUCCESS
    assert exporter.force_flush(5000) is True
    assert posthog_server.wait_for(3, timeout=5)

    request = posthog_server.requests[0]
    assert request.path == "/batch/"
    assert request.headers.get("Content-Encoding") == "gzip"
    assert request.body is not None and request.body["api_key"] == API_KEY
    by_name = {event["event"]: event for event in posthog_server.events}
    assert set(by_name) == {"span-0", "span-1", "span-2"}
    for span in spans:
        event = by_name[span.name]
        expected = _mapping.span_to_event(span, "unused")
        assert event["distinct_id"] == f"{span.context.trace_id:032x}"
        assert event["uuid"] == expected.uuid
        assert datetime.fromisoformat(event["timestamp"]) == expected.timestamp
        props = event["properties"]
        assert props["index"] == span.attributes["index"]
        assert props["$span_id"] == f"{span.context.span_id:016x}"
        assert props["status"] == "unset" and props["service.name"] == "trainer"
        assert props["$geoip_disable"] is True and props["$process_person_profile"] is False
    assert exporter.dropped_events == 0


def test_log_events_arrive_and_plain_logs_do_not(
    posthog_server: PostHogCaptureServer, exporters: list[Exporter]
) -> None:
    exporter = PostHogLogExporter(API_KEY, host=posthog_server.url)
    exporters.append(exporter)
    provider = LoggerProvider(resource=RESOURCE, shutdown_on_exit=False)
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = provider.get_logger("axolotl")
    logger.emit(event_name="train-start", body={"epochs": 3, "optimizer": "adamw"}, attributes={"rank": 0})
    logger.emit(body="not an event")
    assert exporter.force_flush() is True
    assert posthog_server.wait_for(1, timeout=5)
    time.sleep(0.1)
    (event,) = posthog_server.events
    assert event["event"] == "train-start" and event["distinct_id"] == "run-1234"
    assert event["properties"]["epochs"] == 3 and event["properties"]["optimizer"] == "adamw"
    assert event["properties"]["rank"] == 0


def test_metrics_arrive_as_one_event_per_export(
    posthog_server: PostHogCaptureServer, exporters: list[Exporter]
) -> None:
    exporter = PostHogMetricExporter(API_KEY, host=posthog_server.url, event_name="train-progress")
    exporters.append(exporter)
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    provider = MeterProvider(resource=RESOURCE, metric_readers=[reader], shutdown_on_exit=False)
    provider.get_meter("axolotl").create_counter("train.samples").add(64)
    assert provider.force_flush(5000)
    assert exporter.force_flush() is True
    assert posthog_server.wait_for(1, timeout=5)
    (event,) = posthog_server.events
    assert event["event"] == "train-progress" and event["properties"]["train.samples"] == 64
    provider.shutdown()


def test_three_exporters_share_one_client_and_the_last_one_closes_it(
    posthog_server: PostHogCaptureServer,
) -> None:
    before = _client.shared_client_count()
    spans = PostHogSpanExporter(API_KEY, host=posthog_server.url)
    logs = PostHogLogExporter(API_KEY, host=posthog_server.url)
    metrics = PostHogMetricExporter(API_KEY, host=posthog_server.url)
    assert _client.shared_client_count() == before + 1
    assert spans._sink.client is logs._sink.client is metrics._sink.client
    spans.export(make_spans(2))
    spans.shutdown()
    logs.shutdown()
    assert _client.shared_client_count() == before + 1
    assert spans.export(make_spans(1)) is SpanExportResult.FAILURE  # released: refused
    assert logs._sink.client is metrics._sink.client  # still up for the metric exporter
    metrics.shutdown()  # the last user: flushes what the span exporter enqueued
    assert _client.shared_client_count() == before
    assert len(posthog_server.events) == 2


def test_the_host_applications_posthog_log_level_is_kept(
    posthog_server: PostHogCaptureServer, exporters: list[Exporter]
) -> None:
    posthog_logger = logging.getLogger("posthog")
    previous = posthog_logger.level
    posthog_logger.setLevel(logging.CRITICAL)
    try:
        _span_exporter(exporters, posthog_server.url)
        assert posthog_logger.level == logging.CRITICAL
    finally:
        posthog_logger.setLevel(previous)


def _failing_url(server: PostHogCaptureServer, mode: str | int) -> str:
    if mode == "refused":
        return refused_url()
    server.set_mode(mode)
    return server.url


@pytest.mark.timeout(60)
@pytest.mark.parametrize("mode", [400, 413, 429, 503, "refused", "silent"])
def test_export_never_raises_and_shutdown_keeps_its_deadline(
    mode: str | int, posthog_server: PostHogCaptureServer
) -> None:
    exporter = PostHogSpanExporter(API_KEY, host=_failing_url(posthog_server, mode))
    assert exporter.export(make_spans(100)) is SpanExportResult.SUCCESS  # enqueued, nothing more
    started = time.monotonic()
    exporter.shutdown()
    elapsed = time.monotonic() - started
    assert elapsed < DEADLINE_S + 0.5, f"shutdown took {elapsed:.2f} s against {mode}"
    exporter.shutdown()  # twice is fine
    assert exporter.export(make_spans(1)) is SpanExportResult.FAILURE
    if mode != "refused":
        assert posthog_server.wait_for(100, timeout=2)
    if mode in (429, 503):
        # Retried once with the same event uuids: PostHog deduplicates the retry.
        assert posthog_server.wait_for(200, timeout=3)
        first, second = posthog_server.requests[:2]
        assert [e["uuid"] for e in first.events] == [e["uuid"] for e in second.events]


@pytest.mark.timeout(60)
def test_slow_server_within_the_deadline_delivers_and_beyond_it_is_abandoned(
    posthog_server: PostHogCaptureServer,
) -> None:
    posthog_server.set_mode("slow", delay=0.3)
    exporter = PostHogSpanExporter(API_KEY, host=posthog_server.url)
    exporter.export(make_spans(5))
    assert exporter.force_flush() is True
    exporter.shutdown()

    posthog_server.set_mode("slow", delay=10)
    exporter = PostHogSpanExporter(API_KEY, host=posthog_server.url, timeout=1.0)
    exporter.export(make_spans(5))
    started = time.monotonic()
    assert exporter.force_flush() is False
    exporter.shutdown()
    assert time.monotonic() - started < 2 * 1.0 + 0.5


@pytest.mark.timeout(60)
def test_a_full_queue_drops_counts_and_warns_once(
    posthog_server: PostHogCaptureServer, caplog: pytest.LogCaptureFixture
) -> None:
    posthog_server.set_mode("silent")
    exporter = PostHogSpanExporter(API_KEY, host=posthog_server.url, max_queue_size=5, timeout=0.5)
    spans = make_spans(400)
    with caplog.at_level(logging.WARNING, logger="opentelemetry.exporter.posthog"):
        results = [exporter.export(spans[i : i + 50]) for i in range(0, 400, 50)]
        time.sleep(0.2)
        results.append(exporter.export(spans[:50]))
    assert SpanExportResult.FAILURE in results
    assert exporter.dropped_events > 0
    ours = [
        r for r in caplog.records if r.name == "opentelemetry.exporter.posthog" and "full" in r.getMessage()
    ]
    assert len(ours) == 1
    assert API_KEY not in caplog.text
    started = time.monotonic()
    exporter.shutdown()
    assert time.monotonic() - started < 0.5 + 0.5


def test_export_survives_what_it_cannot_map(
    posthog_server: PostHogCaptureServer, exporters: list[Exporter]
) -> None:
    exporter = _span_exporter(exporters, posthog_server.url)
    spans = make_spans(2)
    assert exporter.export([spans[0], object(), spans[1]]) is SpanExportResult.FAILURE  # type: ignore[list-item]
    assert exporter.force_flush() is True
    assert posthog_server.wait_for(2, timeout=5)


# -------------------------------------------------------------------- subprocesses


def _site_packages() -> str:
    import opentelemetry.sdk.trace

    return str(Path(opentelemetry.sdk.trace.__file__).resolve().parents[3])


@pytest.mark.timeout(60)
def test_package_works_without_otel_axolotl(posthog_server: PostHogCaptureServer) -> None:
    code = textwrap.dedent(
        f"""
        import sys
        sys.path[:] = [{str(REPO / "exporters")!r}, {_site_packages()!r}] + [
            p for p in sys.path if "python3" in p and "site-packages" not in p
        ]

        class Block:
            def find_spec(self, name, path=None, target=None):
                if name == "otel_axolotl" or name.startswith("otel_axolotl."):
                    raise ImportError("otel_axolotl is not available here")
                return None

        sys.meta_path.insert(0, Block())
        import opentelemetry.exporter.posthog as ph
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor

        exporter = ph.PostHogSpanExporter("phc_isolated", host={posthog_server.url!r})
        provider = TracerProvider(shutdown_on_exit=False)
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        with provider.get_tracer("t").start_as_current_span("isolated-span"):
            pass
        assert exporter.force_flush(5000)
        exporter.shutdown()
        assert "otel_axolotl" not in sys.modules, "otel_axolotl was imported"
        print("ok", ph.__file__)
        """
    )
    env = {"PATH": os.environ.get("PATH", "")}
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, timeout=30, env=env
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok ") and str(REPO / "exporters") in result.stdout
    assert posthog_server.wait_for(lambda events: any(e["event"] == "isolated-span" for e in events), 5)


# Provider first, so our exit hook runs before the provider's: it finds 100 events queued
# and waits for them, and the provider's shutdown after it gets only what is left.
_ONE_PROVIDER = """
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.exporter.posthog import PostHogSpanExporter

provider = TracerProvider()  # shut down by the SDK's own exit hook
provider.add_span_processor(SimpleSpanProcessor(PostHogSpanExporter("phc_x", host=URL)))
tracer = provider.get_tracer("t")
for i in range(100):
    with tracer.start_as_current_span(f"step-{i}"):
        pass
print("done", flush=True)
"""

# Exporters built before their providers: the providers' exit hooks then run before ours,
# one after the other, and must still share one deadline.
_THREE_PROVIDERS = """
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.exporter.posthog import PostHogLogExporter, PostHogMetricExporter, PostHogSpanExporter

spans, logs = PostHogSpanExporter("phc_x", host=URL), PostHogLogExporter("phc_x", host=URL)
metrics = PostHogMetricExporter("phc_x", host=URL)
tracer_provider = TracerProvider()
tracer_provider.add_span_processor(BatchSpanProcessor(spans))
logger_provider = LoggerProvider()
logger_provider.add_log_record_processor(BatchLogRecordProcessor(logs))
meter_provider = MeterProvider([PeriodicExportingMetricReader(metrics, export_interval_millis=60_000)])
tracer, logger = tracer_provider.get_tracer("t"), logger_provider.get_logger("l")
counter = meter_provider.get_meter("m").create_counter("steps")
for i in range(50):
    with tracer.start_as_current_span(f"step-{i}"):
        logger.emit(event_name="train-progress", body={"step": i})
        counter.add(1)
print("done", flush=True)
"""


@pytest.mark.timeout(60)
@pytest.mark.parametrize("script", [_ONE_PROVIDER, _THREE_PROVIDERS], ids=["spans", "spans-logs-metrics"])
def test_process_exits_within_the_deadline_against_a_silent_server(
    script: str, posthog_server: PostHogCaptureServer
) -> None:
    posthog_server.set_mode("silent")
    code = f"URL = {posthog_server.url!r}\n" + script
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        done_at = time.monotonic()
        process.wait(timeout=30)
        elapsed = time.monotonic() - done_at
    finally:
        if process.poll() is None:
            process.kill()
    assert line.strip() == "done", process.stderr.read() if process.stderr else ""
    assert process.returncode == 0
    # About 2.1 s on an idle machine. The slack covers what is not ours to bound: the SDK
    # processors' own shutdown before our deadline starts, and the interpreter's teardown
    # after the last exit hook (each can take a few tenths of a second on a loaded machine).
    assert elapsed < DEADLINE_S + 1.0, f"exit took {elapsed:.2f} s after 'done'"
    assert posthog_server.wait_for(100, timeout=2)  # it did try to send them
