"""The PostHog exporters: pure mapping, settings, and posthog's real request layer against a
real local server (normal, 4xx, 408/429/5xx with and without Retry-After, refused port,
silent, slow), oversized events and request splitting, isolation from otel_axolotl, and
bounded process exit. Run on posthog 6.7.11 and 7.x (see .ci/run)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
import threading
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
    _config,
    _mapping,
    _transport,
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

PRODUCT_ID = "d" * 32
EVERYTHING = _mapping.MappingOptions(PRODUCT_ID, resource_attributes=True, trace_context=True)
DEFAULTS = _mapping.MappingOptions(PRODUCT_ID)


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

    event = _mapping.span_to_event(epoch, EVERYTHING)
    assert event is not None
    trace_hex = f"{epoch.context.trace_id:032x}"
    assert event.event == "epoch"
    assert event.distinct_id == PRODUCT_ID
    assert uuid.UUID(event.uuid) and event.uuid == _mapping.span_to_event(epoch, DEFAULTS).uuid
    assert event.uuid != _mapping.span_to_event(run, EVERYTHING).uuid
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

    run_props = _mapping.span_to_event(run, EVERYTHING).properties
    assert "$parent_span_id" not in run_props and run_props["status"] == "unset"
    assert "status_message" not in run_props
    json.dumps(props)


def test_by_default_an_event_has_its_own_properties_only_and_no_link_to_traces() -> None:
    """Issue 13/16: no resource attributes, no $trace_id/$span_id, and a distinct_id that is
    the exporter's, never an id the user's tracing backend holds."""
    (span,) = make_spans(1)
    event = _mapping.span_to_event(span, DEFAULTS)
    assert event is not None
    assert set(event.properties) == {
        "index",
        "duration_ms",
        "status",
        "$geoip_disable",
        "$process_person_profile",
    }
    assert event.distinct_id == PRODUCT_ID != f"{span.context.trace_id:032x}"

    def emit(logger: Any, tracer: Any) -> None:
        with tracer.start_as_current_span("run"):
            logger.emit(event_name="train-start", body={"epochs": 3}, attributes={"rank": 0})

    (record,) = make_logs(emit)
    log_event = _mapping.log_to_event(record, DEFAULTS)
    assert log_event is not None and log_event.distinct_id == PRODUCT_ID
    assert set(log_event.properties) == {"epochs", "rank", "$geoip_disable", "$process_person_profile"}
    trace_hex = f"{record.log_record.trace_id:032x}"
    assert trace_hex not in json.dumps(log_event.properties)


def test_log_event_spreads_dict_body_and_attributes_win() -> None:
    def emit(logger: Any, tracer: Any) -> None:
        with tracer.start_as_current_span("run"):
            logger.emit(
                event_name="config-loaded",
                body={"learning_rate": 5e-4, "model": "gpt2", "shared": "from body"},
                attributes={"shared": "from attributes", "blob": b"\x01\xff"},
            )

    (record,) = make_logs(emit)
    event = _mapping.log_to_event(record, EVERYTHING)
    assert event is not None
    assert event.event == "config-loaded"
    assert event.distinct_id == PRODUCT_ID
    assert event.properties["learning_rate"] == 5e-4 and event.properties["model"] == "gpt2"
    assert event.properties["shared"] == "from attributes"
    assert event.properties["blob"] == "01ff"
    assert "body" not in event.properties
    assert event.properties["$span_id"] == f"{record.log_record.span_id:016x}"
    assert event.timestamp.tzinfo is not None
    assert event.uuid == _mapping.log_to_event(record, DEFAULTS).uuid


def test_log_without_trace_gets_the_exporters_id_and_plain_logs_are_skipped() -> None:
    def emit(logger: Any, tracer: Any) -> None:
        logger.emit(event_name="train-end", body="finished")
        logger.emit(body="a plain log line, not an event")

    with_run_id, plain = make_logs(emit)
    event = _mapping.log_to_event(with_run_id, EVERYTHING)
    assert event is not None
    assert event.distinct_id == PRODUCT_ID  # not the resource's run id
    assert event.properties["body"] == "finished"
    assert "$trace_id" not in event.properties
    assert _mapping.log_to_event(plain, EVERYTHING) is None


def test_a_resource_recorded_under_a_product_id_keeps_it_for_every_signal() -> None:
    """Data kept and sent later (a replayed spool) arrives under the id it was recorded with,
    spans, events and metrics alike; the attribute itself never becomes a property."""
    recorded = Resource.create({"service.name": "trainer", _mapping.DISTINCT_ID_ATTRIBUTE: "recorded-id"})
    (span,) = make_spans(1, resource=recorded)
    (record,) = make_logs(lambda logger, tracer: logger.emit(event_name="train-end"), resource=recorded)
    reader = InMemoryMetricReader()
    provider = MeterProvider(resource=recorded, metric_readers=[reader], shutdown_on_exit=False)
    provider.get_meter("test").create_counter("train.steps").add(1)
    (metrics,) = _mapping.metrics_to_events(reader.get_metrics_data(), "train-metrics", EVERYTHING)
    provider.shutdown()
    for event in (
        _mapping.span_to_event(span, EVERYTHING),
        _mapping.log_to_event(record, EVERYTHING),
        metrics,
    ):
        assert event is not None and event.distinct_id == "recorded-id"
        assert event.properties["service.name"] == "trainer"
        assert _mapping.DISTINCT_ID_ATTRIBUTE not in event.properties


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
    event = _mapping.span_to_event(memory.get_finished_spans()[0], DEFAULTS)
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

    (event,) = _mapping.metrics_to_events(reader.get_metrics_data(), "train-metrics", EVERYTHING)
    props = event.properties
    assert event.event == "train-metrics" and event.distinct_id == PRODUCT_ID
    assert props["train.steps"] == 7 and props["train.loss"] == 0.25
    assert props["train.step.duration.count"] == 2 and props["train.step.duration.sum"] == 4.0
    assert props["train.step.duration.min"] == 1.0 and props["train.step.duration.max"] == 3.0
    assert props["hw.gpu.utilization{hw.id=0}"] == 0.5
    assert props["hw.gpu.utilization{hw.id=1}"] == 0.75
    assert props["service.name"] == "trainer" and props["$process_person_profile"] is False
    assert event.timestamp.tzinfo is not None
    (plain,) = _mapping.metrics_to_events(reader.get_metrics_data(), "train-metrics", DEFAULTS)
    assert "service.name" not in plain.properties and plain.properties["train.steps"] == 7
    provider.shutdown()


# ------------------------------------------------------------------------ settings


def test_settings_resolve_argument_then_env_then_default(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = _config.resolve()
    assert (defaults.host, defaults.timeout_s) == ("https://us.i.posthog.com", 10.0)
    assert not defaults.mapping.resource_attributes and not defaults.mapping.trace_context
    assert len(defaults.mapping.distinct_id) == 32
    assert _config.resolve().mapping.distinct_id != defaults.mapping.distinct_id  # fresh each time
    assert not defaults.enabled

    monkeypatch.setenv("OTEL_EXPORTER_POSTHOG_API_KEY", "phc_env")
    monkeypatch.setenv("OTEL_EXPORTER_POSTHOG_HOST", "https://eu.i.posthog.com/")
    monkeypatch.setenv("OTEL_EXPORTER_POSTHOG_TIMEOUT", "0.5")
    monkeypatch.setenv("OTEL_EXPORTER_POSTHOG_DISTINCT_ID", "env-id")
    monkeypatch.setenv("OTEL_EXPORTER_POSTHOG_RESOURCE_ATTRIBUTES", "true")
    monkeypatch.setenv("OTEL_EXPORTER_POSTHOG_TRACE_CONTEXT", "TRUE")
    from_env = _config.resolve()
    assert (from_env.api_key, from_env.host, from_env.timeout_s) == (
        "phc_env",
        "https://eu.i.posthog.com",
        0.5,
    )
    assert from_env.mapping == _mapping.MappingOptions("env-id", resource_attributes=True, trace_context=True)
    assert from_env.enabled and "phc_env" not in repr(from_env)

    from_args = _config.resolve(
        "phc_arg",
        "http://127.0.0.1:1",
        1.5,
        distinct_id="arg-id",
        resource_attributes=False,
        trace_context=False,
    )
    assert (from_args.api_key, from_args.host, from_args.timeout_s) == ("phc_arg", "http://127.0.0.1:1", 1.5)
    assert from_args.mapping == _mapping.MappingOptions("arg-id")


def test_bad_env_values_warn_once_naming_the_variable_then_use_defaults(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_POSTHOG_TIMEOUT", "soon")
    monkeypatch.setenv("OTEL_EXPORTER_POSTHOG_TRACE_CONTEXT", "maybe")
    with caplog.at_level(logging.WARNING, logger="opentelemetry.exporter.posthog"):
        first = _config.resolve("k", "http://127.0.0.1:1")
        second = _config.resolve("k", "http://127.0.0.1:1")
    assert first.timeout_s == second.timeout_s == 10.0
    assert first.mapping.trace_context is False
    timeout_warnings = [r for r in caplog.records if "OTEL_EXPORTER_POSTHOG_TIMEOUT" in r.getMessage()]
    flag_warnings = [r for r in caplog.records if "OTEL_EXPORTER_POSTHOG_TRACE_CONTEXT" in r.getMessage()]
    assert len(timeout_warnings) == 1 and "positive number" in timeout_warnings[0].getMessage()
    assert len(flag_warnings) == 1 and "true or false" in flag_warnings[0].getMessage()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"timeout": 0},
        {"timeout": -1.0},
        {"timeout": float("inf")},
        {"distinct_id": ""},
        {"trace_context": "yes"},
    ],
)
def test_bad_constructor_arguments_raise(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        PostHogSpanExporter(API_KEY, host="http://127.0.0.1:1", **kwargs)


@pytest.mark.parametrize("host", ["ftp://example.com", "us.i.posthog.com", "http://"])
def test_host_that_is_not_an_http_url_disables_the_exporter(
    host: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="opentelemetry.exporter.posthog"):
        exporter = PostHogSpanExporter(API_KEY, host=host)
        also = PostHogLogExporter(API_KEY, host=host)
    assert not exporter.enabled and not also.enabled
    assert exporter.export(make_spans()) is SpanExportResult.FAILURE
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


# ---------------------------------------------------- posthog's request layer, local server


def test_spans_arrive_as_posthog_events(
    posthog_server: PostHogCaptureServer, exporters: list[Exporter]
) -> None:
    import posthog.version

    exporter = _span_exporter(exporters, posthog_server.url, distinct_id=PRODUCT_ID)
    spans = make_spans(3)
    assert exporter.export(spans) is SpanExportResult.SUCCESS
    assert len(posthog_server.events) == 3, "export is synchronous: sent before it returns"
    assert exporter.force_flush(5000) is True

    (request,) = posthog_server.requests
    assert request.path == "/batch/"
    assert request.headers.get("Content-Encoding") == "gzip"
    assert request.body is not None and request.body["api_key"] == API_KEY
    by_name = {event["event"]: event for event in posthog_server.events}
    assert set(by_name) == {"span-0", "span-1", "span-2"}
    for span in spans:
        event = by_name[span.name]
        expected = _mapping.span_to_event(span, DEFAULTS)
        assert event["distinct_id"] == PRODUCT_ID
        assert event["uuid"] == expected.uuid
        assert datetime.fromisoformat(event["timestamp"]) == expected.timestamp
        props = event["properties"]
        assert props["index"] == span.attributes["index"]
        assert props["status"] == "unset"
        assert props["$geoip_disable"] is True and props["$process_person_profile"] is False
        assert props["$lib"] == "posthog-python" and props["$lib_version"] == posthog.version.VERSION
        assert "$span_id" not in props and "service.name" not in props
    assert exporter.dropped_events == 0


def test_opt_in_adds_the_resource_and_the_trace_context(
    posthog_server: PostHogCaptureServer, exporters: list[Exporter]
) -> None:
    exporter = _span_exporter(exporters, posthog_server.url, resource_attributes=True, trace_context=True)
    (span,) = make_spans(1)
    assert exporter.export([span]) is SpanExportResult.SUCCESS
    (event,) = posthog_server.events
    assert event["properties"]["service.name"] == "trainer"
    assert event["properties"]["$trace_id"] == f"{span.context.trace_id:032x}"
    assert event["properties"]["$span_id"] == f"{span.context.span_id:016x}"


def test_distinct_id_is_fresh_per_exporter_unless_given(
    posthog_server: PostHogCaptureServer, exporters: list[Exporter]
) -> None:
    first, second = (_span_exporter(exporters, posthog_server.url) for _ in range(2))
    given = _span_exporter(exporters, posthog_server.url, distinct_id="product-id")
    for exporter in (first, first, second, given):
        assert exporter.export(make_spans(1)) is SpanExportResult.SUCCESS
    ids = [e["distinct_id"] for e in posthog_server.events]
    assert ids[0] == ids[1] != ids[2] and ids[3] == "product-id"
    assert all(len(i) == 32 for i in ids[:3])


def test_log_events_arrive_and_plain_logs_do_not(
    posthog_server: PostHogCaptureServer, exporters: list[Exporter]
) -> None:
    exporter = PostHogLogExporter(API_KEY, host=posthog_server.url, distinct_id=PRODUCT_ID)
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
    assert event["event"] == "train-start" and event["distinct_id"] == PRODUCT_ID
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


def test_the_host_applications_posthog_log_level_is_kept(
    posthog_server: PostHogCaptureServer, exporters: list[Exporter]
) -> None:
    posthog_logger = logging.getLogger("posthog")
    previous = posthog_logger.level
    posthog_logger.setLevel(logging.CRITICAL)
    try:
        exporter = _span_exporter(exporters, posthog_server.url)
        assert exporter.export(make_spans(1)) is SpanExportResult.SUCCESS
        assert posthog_logger.level == logging.CRITICAL
    finally:
        posthog_logger.setLevel(previous)


def _timed_export(exporter: PostHogSpanExporter, spans: list[ReadableSpan]) -> tuple[Any, float]:
    started = time.monotonic()
    result = exporter.export(spans)
    return result, time.monotonic() - started


@pytest.mark.parametrize("status", [400, 401, 413])
def test_permanent_answers_fail_at_once_without_retry(
    status: int, posthog_server: PostHogCaptureServer, exporters: list[Exporter]
) -> None:
    posthog_server.set_mode(status)
    exporter = _span_exporter(exporters, posthog_server.url)
    result, elapsed = _timed_export(exporter, make_spans(5))
    assert result is SpanExportResult.FAILURE
    assert len(posthog_server.requests) == 1 and elapsed < 0.5


@pytest.mark.timeout(30)
@pytest.mark.parametrize("status", [429, 500, 503, 408])
def test_retryable_answers_are_retried_with_backoff_and_the_same_uuids(
    status: int, posthog_server: PostHogCaptureServer, exporters: list[Exporter]
) -> None:
    posthog_server.set_mode(status, times=1)
    exporter = _span_exporter(exporters, posthog_server.url)
    assert exporter.export(make_spans(5)) is SpanExportResult.SUCCESS
    first, second = posthog_server.requests
    assert [e["uuid"] for e in first.events] == [e["uuid"] for e in second.events]  # PostHog dedups
    gap = second.arrived - first.arrived
    assert 0.9 <= gap < 1.5, f"first backoff is 1 s, was {gap:.2f} s"


@pytest.mark.timeout(30)
def test_retry_after_is_honoured_and_one_beyond_the_deadline_fails_at_once(
    posthog_server: PostHogCaptureServer, exporters: list[Exporter]
) -> None:
    posthog_server.set_mode(429, times=1, retry_after="2")
    exporter = _span_exporter(exporters, posthog_server.url)
    assert exporter.export(make_spans(2)) is SpanExportResult.SUCCESS
    first, second = posthog_server.requests
    assert 1.9 <= second.arrived - first.arrived < 2.6, "Retry-After: 2, not the 1 s backoff"

    posthog_server.set_mode(503, retry_after="60")
    result, elapsed = _timed_export(exporter, make_spans(2))
    assert result is SpanExportResult.FAILURE and elapsed < 0.5
    assert len(posthog_server.requests) == 3


@pytest.mark.timeout(30)
def test_retries_stop_at_the_export_timeout(
    posthog_server: PostHogCaptureServer, exporters: list[Exporter]
) -> None:
    posthog_server.set_mode(503)
    exporter = _span_exporter(exporters, posthog_server.url, timeout=2.5)
    result, elapsed = _timed_export(exporter, make_spans(2))
    # Attempts at 0 and 1 s; the next backoff (2 s) would end past the 2.5 s deadline.
    assert result is SpanExportResult.FAILURE
    assert len(posthog_server.requests) == 2 and 0.9 <= elapsed < 1.6


def test_connection_refused_fails_at_once(exporters: list[Exporter]) -> None:
    exporter = _span_exporter(exporters, refused_url())
    result, elapsed = _timed_export(exporter, make_spans(5))
    assert result is SpanExportResult.FAILURE and elapsed < 0.5


@pytest.mark.timeout(30)
def test_a_silent_host_costs_the_export_timeout_and_no_more(
    posthog_server: PostHogCaptureServer, exporters: list[Exporter]
) -> None:
    posthog_server.set_mode("silent")
    exporter = _span_exporter(exporters, posthog_server.url, timeout=1.0)
    result, elapsed = _timed_export(exporter, make_spans(5))
    assert result is SpanExportResult.FAILURE
    assert 0.9 <= elapsed < 1.6, f"{elapsed:.2f} s"


@pytest.mark.timeout(30)
def test_a_host_answering_after_2_5_s_is_delivered(
    posthog_server: PostHogCaptureServer, exporters: list[Exporter]
) -> None:
    """Issue 17: the exit deadline (2 s) used to be the request timeout, so this always failed."""
    posthog_server.set_mode("slow", delay=2.5)
    exporter = _span_exporter(exporters, posthog_server.url)
    result, elapsed = _timed_export(exporter, make_spans(5))
    assert result is SpanExportResult.SUCCESS and elapsed >= 2.5
    assert len(posthog_server.requests) == 1


@pytest.mark.timeout(30)
def test_shutdown_interrupts_a_backoff(
    posthog_server: PostHogCaptureServer, caplog: pytest.LogCaptureFixture
) -> None:
    posthog_server.set_mode(503, retry_after="5")
    exporter = PostHogSpanExporter(API_KEY, host=posthog_server.url)
    outcome: list[Any] = []
    worker = threading.Thread(target=lambda: outcome.append(_timed_export(exporter, make_spans(2))))
    worker.start()
    assert posthog_server.wait_for(2, timeout=5)
    time.sleep(0.2)  # in its 5 s backoff now
    exporter.shutdown()
    worker.join(timeout=3)
    assert not worker.is_alive()
    ((result, elapsed),) = outcome
    assert result is SpanExportResult.FAILURE and elapsed < 1.5
    assert len(posthog_server.requests) == 1
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="opentelemetry.exporter.posthog"):
        exporter.shutdown()  # twice: silent
        assert exporter.export(make_spans(1)) is SpanExportResult.FAILURE
    assert caplog.records == [] and len(posthog_server.requests) == 1
    assert not exporter.enabled


def test_an_oversized_event_is_dropped_and_the_rest_delivered(
    posthog_server: PostHogCaptureServer, exporters: list[Exporter], caplog: pytest.LogCaptureFixture
) -> None:
    provider = TracerProvider(resource=RESOURCE, shutdown_on_exit=False)
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("t")
    for name in ("before", "n" * 1_000_000, "after"):  # a name is not trimmed: over the cap
        with tracer.start_as_current_span(name):
            pass
    exporter = _span_exporter(exporters, posthog_server.url)
    with caplog.at_level(logging.WARNING, logger="opentelemetry.exporter.posthog"):
        assert exporter.export(memory.get_finished_spans()) is SpanExportResult.SUCCESS
        assert exporter.export(memory.get_finished_spans()) is SpanExportResult.SUCCESS
    assert [e["event"] for e in posthog_server.events] == ["before", "after"] * 2
    assert exporter.dropped_events == 2
    drops = [r for r in caplog.records if "per-event" in r.getMessage()]
    assert len(drops) == 1 and "nnnn" not in caplog.text


def test_a_large_batch_is_split_under_posthogs_request_cap(
    posthog_server: PostHogCaptureServer, exporters: list[Exporter]
) -> None:
    provider = TracerProvider(resource=RESOURCE, shutdown_on_exit=False)
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("t")
    for i in range(12):
        with tracer.start_as_current_span(f"big-{i}") as span:
            span.set_attribute("payload", str(i) * 600_000)
    exporter = _span_exporter(exporters, posthog_server.url)
    assert exporter.export(memory.get_finished_spans()) is SpanExportResult.SUCCESS
    requests = posthog_server.requests
    assert len(requests) >= 2
    assert all(len(json.dumps(r.body).encode()) < _transport.MAX_REQUEST_BYTES for r in requests)
    assert sorted(e["event"] for e in posthog_server.events) == sorted(f"big-{i}" for i in range(12))


def test_a_dead_host_is_logged_once_with_counts_never_payloads_or_keys(
    caplog: pytest.LogCaptureFixture, exporters: list[Exporter]
) -> None:
    exporter = _span_exporter(exporters, refused_url())
    with caplog.at_level(logging.WARNING, logger="opentelemetry.exporter.posthog"):
        for _ in range(5):
            assert exporter.export(make_spans(3)) is SpanExportResult.FAILURE
    ours = [r for r in caplog.records if r.name == "opentelemetry.exporter.posthog"]
    assert len(ours) == 1 and "3 event(s)" in ours[0].getMessage()
    assert "refused" in ours[0].getMessage()
    assert API_KEY not in caplog.text and "span-0" not in caplog.text


def test_export_survives_what_it_cannot_map(
    posthog_server: PostHogCaptureServer, exporters: list[Exporter]
) -> None:
    """The unmappable item (a bug upstream) is dropped and counted rather than failing the
    batch: FAILURE would have the caller keep and resend it, failing the same way forever."""
    exporter = _span_exporter(exporters, posthog_server.url)
    spans = make_spans(2)
    assert exporter.export([spans[0], object(), spans[1]]) is SpanExportResult.SUCCESS  # type: ignore[list-item]
    assert exporter.dropped_events == 1
    assert len(posthog_server.events) == 2


def test_the_sdk_destination_leaves_unset_settings_to_the_exporters_own_variables(
    posthog_server: PostHogCaptureServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """otel_axolotl's builder passes only what its user set, so OTEL_EXPORTER_POSTHOG_HOST and
    _TIMEOUT work; never the product stream's privacy: no variable adds resource attributes or
    trace ids to it, or pins its distinct_id."""
    from otel_axolotl import destinations
    from otel_axolotl import settings as sdk_settings

    monkeypatch.setenv("OTEL_EXPORTER_POSTHOG_HOST", posthog_server.url)
    monkeypatch.setenv("OTEL_EXPORTER_POSTHOG_TIMEOUT", "7")
    monkeypatch.setenv("OTEL_EXPORTER_POSTHOG_DISTINCT_ID", "pinned-by-a-variable")
    monkeypatch.setenv("OTEL_EXPORTER_POSTHOG_RESOURCE_ATTRIBUTES", "true")
    monkeypatch.setenv("OTEL_EXPORTER_POSTHOG_TRACE_CONTEXT", "true")
    given = destinations.posthog(
        sdk_settings.Settings(posthog_spans=True), API_KEY, distinct_id="run-product-id"
    )
    fresh = destinations.posthog(sdk_settings.Settings(posthog_spans=True), API_KEY)
    assert given is not None and fresh is not None
    try:
        assert given.span_exporter._settings.timeout_s == 7.0
        assert given.span_exporter.export(make_spans(1)) is SpanExportResult.SUCCESS
        assert fresh.span_exporter.export(make_spans(1)) is SpanExportResult.SUCCESS
        first, second = posthog_server.events
        assert first["distinct_id"] == "run-product-id"
        assert second["distinct_id"] not in ("run-product-id", "pinned-by-a-variable")
        assert fresh.log_exporter._settings.mapping.distinct_id == second["distinct_id"]
        for event in (first, second):
            assert "service.name" not in event["properties"] and "$trace_id" not in event["properties"]

        own_host = sdk_settings.Settings(posthog_host="http://127.0.0.1:1", posthog_spans=True)
        explicit = destinations.posthog(own_host, API_KEY, export_timeout=3.0)
        assert explicit is not None
        assert explicit.span_exporter._settings.host == "http://127.0.0.1:1"
        assert explicit.span_exporter._settings.timeout_s == 3.0
    finally:
        for dest in (given, fresh):
            dest.span_exporter.shutdown()
            dest.log_exporter.shutdown()


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


EXPORT_TIMEOUT_S = 1.0
"""What the exit tests give each export (OTEL_EXPORTER_POSTHOG_TIMEOUT), to keep them short."""

# The SDK's own exit hook shuts the provider down; its batch processor's last export is the
# only thing that may wait for PostHog, and only as long as the exporter's timeout.
_ONE_PROVIDER = """
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.exporter.posthog import PostHogSpanExporter

provider = TracerProvider()  # shut down by the SDK's own exit hook
provider.add_span_processor(BatchSpanProcessor(PostHogSpanExporter("phc_x", host=URL)))
tracer = provider.get_tracer("t")
for i in range(100):
    with tracer.start_as_current_span(f"step-{i}"):
        pass
print("done", flush=True)
"""

# Three providers: their exit hooks run one after the other, each with its own last export.
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
@pytest.mark.parametrize(
    ("script", "exports"), [(_ONE_PROVIDER, 1), (_THREE_PROVIDERS, 3)], ids=["spans", "spans-logs-metrics"]
)
def test_process_exit_waits_at_most_the_export_timeout_per_provider_against_a_silent_server(
    script: str, exports: int, posthog_server: PostHogCaptureServer
) -> None:
    posthog_server.set_mode("silent")
    code = f"URL = {posthog_server.url!r}\n" + script
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["OTEL_EXPORTER_POSTHOG_TIMEOUT"] = str(EXPORT_TIMEOUT_S)
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
    # Each provider's last export waits for the silent host for the export timeout, one after
    # the other; the slack covers the interpreter's teardown on a loaded machine.
    assert elapsed < exports * EXPORT_TIMEOUT_S + 1.5, f"exit took {elapsed:.2f} s after 'done'"
    assert posthog_server.wait_for(100, timeout=2)  # it did try to send them


def test_event_uuids_cannot_be_recomputed_from_the_trace_ids_alone() -> None:
    """Issue 13 item 5: whoever holds a span's trace and span ids (the user's own tracing
    backend) must not be able to find its PostHog event; the uuid is keyed by the random
    distinct_id, which only PostHog sees. Still stable for one id (PostHog deduplicates)."""
    from opentelemetry.exporter.posthog._mapping import MappingOptions, event_uuid, span_to_event
    from opentelemetry.trace import format_span_id, format_trace_id

    [span] = make_spans(1)
    one = span_to_event(span, MappingOptions(distinct_id="product-one"))
    again = span_to_event(span, MappingOptions(distinct_id="product-one"))
    other = span_to_event(span, MappingOptions(distinct_id="product-two"))
    assert one is not None and again is not None and other is not None
    assert one.uuid == again.uuid and one.uuid != other.uuid
    ids = (format_trace_id(span.context.trace_id), format_span_id(span.context.span_id))
    assert one.uuid != event_uuid("span", *ids)
