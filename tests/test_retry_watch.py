"""At exit nothing is retried for a backend that answered; only one that never answers costs
the deadline. Real OTLP exporters (HTTP and gRPC) and the real PostHog exporter against local
servers that answer 503/429, refuse, or never answer, behind a real ``Delivery`` and spool."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_axolotl.delivery import Delivery
from otel_axolotl.drops import DropCounter
from otel_axolotl.spool import SpoolConfig
from otel_axolotl.spool_layout import recipient_id
from tests.support.posthog_capture import PostHogCaptureServer, refused_url
from tests.support.rotel import OtlpRecorder

DEADLINE = 3.0
"""The exit deadline here: long enough that a retry (1 s backoff, then 2 s) would show."""
ANSWERED_AT_MOST = 0.5


def _spans(n: int) -> list[ReadableSpan]:
    memory = InMemorySpanExporter()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(memory))
    for i in range(n):
        provider.get_tracer("test").start_span(f"span-{i}").end()
    return list(memory.get_finished_spans())


def _delivery(exporter: Any, name: str = "otlp") -> Delivery:
    spool = SpoolConfig.from_env().spool(name, None, recipient=recipient_id(name, "watch"), level="strict")
    assert spool is not None
    return Delivery(name, "traces", exporter, drops=DropCounter(), spool=spool, export_timeout_s=10.0)


def _exit(delivery: Delivery, *, begin: bool = True) -> float:
    """The exit flush as the pipeline runs it; seconds it took."""
    started = time.monotonic()
    if begin:
        delivery.begin_exit()
    delivery.shutdown(DEADLINE)
    delivery.spool_leftovers()
    return time.monotonic() - started


def _spooled(tmp: str = "otlp") -> list[Path]:
    import os

    return sorted(Path(os.environ["OTEL_AXOLOTL_SPOOL_DIR"], tmp).glob("*/*.jsonl"))


def _otlp_exporter(protocol: str, recorder: OtlpRecorder, endpoint: str | None = None) -> Any:
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as Grpc

        return Grpc(endpoint=endpoint or recorder.start_grpc(), insecure=True, timeout=10)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as Http

    return Http(endpoint=(endpoint or recorder.url) + "/v1/traces", timeout=10)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
@pytest.mark.parametrize("mode", [503, 429, "refused"])
def test_an_answered_backend_is_not_retried_at_exit(
    protocol: str, mode: Any, otlp_recorder: OtlpRecorder
) -> None:
    endpoint = refused_url() if mode == "refused" else None
    if mode != "refused":
        otlp_recorder.set_mode(mode)
    delivery = _delivery(_otlp_exporter(protocol, otlp_recorder, endpoint))
    for span in _spans(3):
        delivery.put(span)
    took = _exit(delivery)
    assert took <= ANSWERED_AT_MOST, f"{protocol} {mode}: the exit took {took:.2f} s (retried?)"
    assert _spooled(), "what the backend refused is in the spool"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_an_export_already_backing_off_when_exit_begins_is_ended(
    protocol: str, otlp_recorder: OtlpRecorder
) -> None:
    """The backend answered 503 during the run; the exporter is waiting out its backoff when
    the exit begins: it is stopped at once, and the rest is spooled untried."""
    otlp_recorder.set_mode(503)
    delivery = _delivery(_otlp_exporter(protocol, otlp_recorder))
    for span in _spans(2):
        delivery.put(span)
    delivery.flush(0.3)  # the worker is now in its first backoff (~1 s)
    assert delivery.queued == 2, "still in flight"
    for span in _spans(2):
        delivery.put(span)
    took = _exit(delivery)
    assert took <= ANSWERED_AT_MOST, f"{protocol}: the exit took {took:.2f} s"
    assert len(_spooled()) >= 1


@pytest.mark.timeout(60)
def test_without_begin_exit_the_same_backend_costs_retries(otlp_recorder: OtlpRecorder) -> None:
    """The control: a plain shutdown (no exit begun) lets the OTLP exporter back off and retry."""
    otlp_recorder.set_mode(503)
    delivery = _delivery(_otlp_exporter("http/protobuf", otlp_recorder))
    for span in _spans(3):
        delivery.put(span)
    took = _exit(delivery, begin=False)
    assert took >= 0.8, f"the exporter's first backoff is 0.8-1.2 s; took {took:.2f} s"


@pytest.mark.timeout(60)
def test_a_backend_that_never_answers_costs_the_deadline_not_more(otlp_recorder: OtlpRecorder) -> None:
    otlp_recorder.set_mode("silent")
    delivery = _delivery(_otlp_exporter("http/protobuf", otlp_recorder))
    for span in _spans(3):
        delivery.put(span)
    took = _exit(delivery)
    assert DEADLINE - 0.2 <= took <= DEADLINE + 1.0, took
    assert _spooled(), "what was in flight at the deadline is in the spool"


@pytest.mark.timeout(60)
def test_posthog_stops_retrying_at_exit(posthog_server: PostHogCaptureServer) -> None:
    from opentelemetry.exporter.posthog import PostHogSpanExporter

    posthog_server.set_mode(503)
    exporter = PostHogSpanExporter("phc_test", host=posthog_server.url, timeout=10)
    delivery = _delivery(exporter, "posthog")
    for span in _spans(2):
        delivery.put(span)
    delivery.flush(0.3)  # first request answered 503: backing off
    took = _exit(delivery)
    assert took <= ANSWERED_AT_MOST, f"the exit took {took:.2f} s"
    assert _spooled("posthog")
