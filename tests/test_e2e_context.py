"""OpenTelemetry citizenship (issue 15), end to end against the real rotel collector and a
local PostHog-speaking server: the run joins the user's trace (their active span, or
TRACEPARENT), its events stay on the run span, the standard resource and exporter variables
are honoured, and a user's own global OpenTelemetry setup gets each span exactly once."""

from __future__ import annotations

import logging
import secrets
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from otel_axolotl import loop
from otel_axolotl import settings as _s
from otel_axolotl.manager import TelemetryManager
from tests.support.posthog_capture import PostHogCaptureServer
from tests.support.rotel import Rotel
from tests.support.scripts import REPO, child_env

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

SECRET = "ghp_" + "Zq1x" * 9
"""A GitHub token shape: every level removes it."""


@pytest.fixture(autouse=True)
def _quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DO_NOT_TRACK", "1")
    monkeypatch.setenv("OTEL_AXOLOTL_HARDWARE_METRICS", "false")
    monkeypatch.setenv("OTEL_AXOLOTL_SIGNALS", "false")
    monkeypatch.setenv("OTEL_METRIC_EXPORT_INTERVAL", "60000")


def _train(manager: TelemetryManager, steps: int = 3) -> None:
    """A tiny plain-loop run (real spans, events and metrics through the real pipeline)."""
    manager.send_event("config-loaded", {"learning_rate": 5e-4})
    with loop.run(max_steps=steps, manager=manager) as run, run.epoch():
        for _ in range(steps):
            with run.step():
                run.log(loss=1.0)


def _spans(rotel: Rotel, *names: str, timeout: float = 20.0) -> list[dict[str, Any]]:
    recorder = rotel.recorder
    assert recorder.wait_for(lambda r: all(any(s["name"] == n for s in r.spans) for n in names), timeout), (
        f"spans {names} should arrive; got {[s['name'] for s in recorder.received.spans]}"
    )
    return list(recorder.received.spans)


def _one(spans: list[dict[str, Any]], name: str) -> dict[str, Any]:
    found = [s for s in spans if s["name"] == name]
    assert len(found) == 1, f"{name}: {len(found)} spans"
    return found[0]


def _user_provider(rotel: Rotel, service: str = "user-job") -> TracerProvider:
    """The user's own tracing (not global): its spans go to the same collector."""
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=rotel.grpc_endpoint, insecure=True))
    )
    return provider


# ---------------------------------------------------------------- item 1: context


def test_a_run_inside_the_users_span_is_its_child_in_one_trace(rotel_collector: Rotel, monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rotel_collector.grpc_endpoint)
    manager = TelemetryManager(show_consent_notice=False)
    provider = _user_provider(rotel_collector)
    with provider.get_tracer("user").start_as_current_span("user.pipeline") as user_span:
        _train(manager)
    assert manager.shutdown(timeout=10)
    provider.shutdown()

    spans = _spans(rotel_collector, "user.pipeline", "axolotl.run", "axolotl.epoch")
    user, run = _one(spans, "user.pipeline"), _one(spans, "axolotl.run")
    trace_id = f"{user_span.get_span_context().trace_id:032x}"
    assert {s["trace_id"] for s in spans} == {trace_id}, "one trace: the user's"
    assert run["parent_span_id"] == user["span_id"]
    assert run["attributes"]["axolotl.run.id"] == manager.run_id != trace_id
    assert _one(spans, "axolotl.epoch")["parent_span_id"] == run["span_id"]
    assert run["status_code"] == 0, "success leaves the status unset"
    # The run's events stay on the run span, never on the user's active span.
    recorder = rotel_collector.recorder
    assert recorder.wait_for(lambda r: any(log["event_name"] == "train-end" for log in r.logs))
    run_events = [log for log in recorder.received.logs if log["event_name"].startswith("train-")]
    assert run_events and all(log["trace_id"] == trace_id for log in run_events)
    assert all(log["span_id"] == run["span_id"] for log in run_events)


def test_traceparent_makes_the_run_a_child_of_the_launchers_span(rotel_collector: Rotel, monkeypatch):
    trace_id, parent_id = secrets.token_hex(16), secrets.token_hex(8)
    monkeypatch.setenv("TRACEPARENT", f"00-{trace_id}-{parent_id}-01")
    monkeypatch.setenv("TRACESTATE", "ci=build-7")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rotel_collector.grpc_endpoint)
    manager = TelemetryManager(show_consent_notice=False)
    assert manager.settings.traceparent and manager.settings.tracestate == "ci=build-7"
    _train(manager)
    assert manager.shutdown(timeout=10)

    spans = _spans(rotel_collector, "axolotl.run", "axolotl.epoch")
    run = _one(spans, "axolotl.run")
    assert {s["trace_id"] for s in spans} == {trace_id}
    assert run["parent_span_id"] == parent_id
    assert run["attributes"]["axolotl.run.id"] == manager.run_id
    recorder = rotel_collector.recorder
    assert recorder.wait_for(lambda r: any(log["event_name"] == "train-end" for log in r.logs))
    assert {log["trace_id"] for log in recorder.received.logs} == {trace_id}, "config-loaded too"


def test_a_malformed_traceparent_is_named_once_and_the_run_has_its_own_trace(
    rotel_collector: Rotel, monkeypatch, caplog
):
    caplog.set_level(logging.WARNING, "otel_axolotl")
    _s._warned.clear()
    monkeypatch.setenv("TRACEPARENT", "00-" + SECRET + "-nope-01")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rotel_collector.grpc_endpoint)
    manager = TelemetryManager(show_consent_notice=False)
    _train(manager)
    assert manager.shutdown(timeout=10)
    run = _one(_spans(rotel_collector, "axolotl.run"), "axolotl.run")
    assert run["trace_id"] == manager.run_id and run["parent_span_id"] == ""
    warnings = [r.getMessage() for r in caplog.records if "TRACEPARENT" in r.getMessage()]
    assert len(warnings) == 1 and SECRET not in warnings[0]


def test_posthog_sees_one_distinct_id_per_run_inside_a_user_span(
    rotel_collector: Rotel, posthog_server: PostHogCaptureServer, monkeypatch
):
    monkeypatch.delenv("DO_NOT_TRACK")
    monkeypatch.setenv("AXOLOTL_DO_NOT_TRACK", "0")
    monkeypatch.setenv("OTEL_AXOLOTL_POSTHOG_API_KEY", "phc_test_project_key")
    monkeypatch.setenv("OTEL_AXOLOTL_POSTHOG_HOST", posthog_server.url)
    monkeypatch.setenv("OTEL_SERVICE_NAME", "zqsvc-user-service")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=zqenv-user-value")
    provider = _user_provider(rotel_collector)
    runs = []
    for _ in range(2):
        manager = TelemetryManager(show_consent_notice=False)
        assert "posthog" in manager.destinations
        with provider.get_tracer("user").start_as_current_span("user.pipeline"):
            _train(manager)
        assert manager.shutdown(timeout=10)
        runs.append(manager.run_id)
    provider.shutdown()

    assert posthog_server.wait_for(lambda events: sum(e["event"] == "train-end" for e in events) == 2, 20)
    events = posthog_server.events
    ids = {e["distinct_id"] for e in events}
    assert len(ids) == 2, "one distinct_id per run, however the events were nested"
    by_run: dict[str, set[str]] = {}
    for event in events:
        by_run.setdefault(event["distinct_id"], set()).add(event["event"])
    assert all({"train-start", "train-end", "config-loaded"} <= names for names in by_run.values())
    raw = repr([r.body for r in posthog_server.requests])
    assert "zqsvc-user-service" not in raw and "zqenv-user-value" not in raw, "the user's resource stays home"
    assert not any(run_id in raw for run_id in runs)


# ---------------------------------------------------------------- item 2: standard variables


@pytest.mark.parametrize("level", ["strict", "secrets-only"])
def test_otel_resource_attributes_reach_the_users_collector_with_secrets_removed(
    level, rotel_collector: Rotel, monkeypatch
):
    monkeypatch.setenv("OTEL_AXOLOTL_PRIVACY", level)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rotel_collector.grpc_endpoint)
    monkeypatch.setenv(
        "OTEL_RESOURCE_ATTRIBUTES",
        f"deployment.environment=zq%20staging,service.name=from-attributes,team.token={SECRET},"
        "host.name=gpu-node-17,axolotl.run.id=not-ours",
    )
    monkeypatch.setenv("OTEL_SERVICE_NAME", "zq-trainer")
    manager = TelemetryManager(show_consent_notice=False)
    _train(manager)
    assert manager.shutdown(timeout=10)

    resource = _one(_spans(rotel_collector, "axolotl.run"), "axolotl.run")["resource"]
    assert resource["deployment.environment"] == "zq staging"  # percent-decoded, kept at strict
    assert resource["service.name"] == "zq-trainer"  # OTEL_SERVICE_NAME wins
    assert "team.token" in resource and SECRET not in resource["team.token"]
    assert "host.name" not in resource, "never sent, even when the user sets it"
    assert resource["axolotl.run.id"] == manager.run_id, "the SDK's facts win over configured ones"
    assert SECRET.encode() not in b"".join(rotel_collector.recorder.received.raw)


def test_service_name_in_resource_attributes_wins_over_the_default(rotel_collector: Rotel, monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rotel_collector.grpc_endpoint)
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attributes")
    manager = TelemetryManager(show_consent_notice=False)
    _train(manager)
    assert manager.shutdown(timeout=10)
    resource = _one(_spans(rotel_collector, "axolotl.run"), "axolotl.run")["resource"]
    assert resource["service.name"] == "from-attributes"
    assert resource["host.arch"] in ("amd64", "arm64"), "the well-known values"


def test_exporter_variables_send_traces_only_and_none_turns_a_signal_off(rotel_collector: Rotel, monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rotel_collector.grpc_endpoint)
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "none")
    monkeypatch.setenv("OTEL_LOGS_EXPORTER", "none")
    manager = TelemetryManager(show_consent_notice=False)
    assert manager.destinations == ["otlp"]
    _train(manager)
    assert manager.shutdown(timeout=10)
    _spans(rotel_collector, "axolotl.run", "axolotl.epoch")
    received = rotel_collector.recorder.received
    assert not received.logs and not received.metrics, "events and metrics are off"


def test_otlp_named_without_an_endpoint_and_console_for_events(
    rotel_collector: Rotel, monkeypatch, capsys, caplog
):
    """``OTEL_METRICS_EXPORTER=otlp`` alone uses the per-signal endpoint given; ``console``
    prints the events (after the privacy stage); an unknown name is one warning naming the
    variable and the accepted values."""
    caplog.set_level(logging.WARNING, "otel_axolotl")
    _s._warned.clear()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", rotel_collector.grpc_endpoint)
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "otlp")
    monkeypatch.setenv("OTEL_LOGS_EXPORTER", "console,no-such-exporter")
    manager = TelemetryManager(show_consent_notice=False)
    assert sorted(manager.destinations) == ["console", "otlp"]
    manager.send_event("config-loaded", {"output_dir": "/home/alice/run"})
    _train(manager)
    assert manager.shutdown(timeout=10)

    recorder = rotel_collector.recorder
    assert recorder.wait_for(lambda r: any(m["name"] == "axolotl.train.steps" for m in r.metrics))
    assert not recorder.received.spans and not recorder.received.logs
    printed = capsys.readouterr().err
    events = [line for line in printed.splitlines() if '"signal": "event"' in line]
    assert any("train-end" in line for line in events)
    assert not [line for line in printed.splitlines() if '"signal": "span"' in line]
    assert "/home/alice" not in printed
    warnings = [r.getMessage() for r in caplog.records if "OTEL_LOGS_EXPORTER" in r.getMessage()]
    assert len(warnings) == 1 and "no-such-exporter" in warnings[0] and "console" in warnings[0]


def test_an_installed_entry_point_exporter_is_fed_through_the_privacy_stage(
    posthog_server: PostHogCaptureServer, monkeypatch
):
    """``OTEL_TRACES_EXPORTER=posthog`` (the exporter's ``opentelemetry_traces_exporter`` entry
    point): the user's own PostHog project gets the run's spans, scrubbed at the observability
    level, through its own delivery queue."""
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "posthog")
    monkeypatch.setenv("OTEL_EXPORTER_POSTHOG_API_KEY", "phc_users_own_project")
    monkeypatch.setenv("OTEL_EXPORTER_POSTHOG_HOST", posthog_server.url)
    manager = TelemetryManager(show_consent_notice=False)
    assert manager.destinations == ["exporter:posthog"]
    pipeline = manager._pipeline
    assert pipeline is not None and [d.destination for d in pipeline.deliveries] == ["exporter:posthog"]
    with (
        loop.run(max_steps=1, manager=manager, model="/home/alice/private-model") as run,
        run.epoch(),
        run.step(),
    ):
        run.log(loss=1.0)
    assert manager.shutdown(timeout=10)
    assert posthog_server.wait_for(lambda events: any(e["event"] == "axolotl.run" for e in events), 20)
    raw = repr([r.body for r in posthog_server.requests])
    assert "/home/alice" not in raw and "private-model" not in raw


# ---------------------------------------------------------------- item 3: coexistence

_USER_SETUP = """
import os, sys
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

import otel_axolotl
from otel_axolotl import loop

def user_setup():
    provider = TracerProvider(resource=Resource.create({"service.name": "users-service"}))
    provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=os.environ["ENDPOINT"], insecure=True))
    )
    trace.set_tracer_provider(provider)
    return provider

if sys.argv[1] == "distro":  # opentelemetry-instrument set the global providers already
    provider = trace.get_tracer_provider()
    manager = otel_axolotl.init()
elif sys.argv[1] == "user-first":
    provider = user_setup()
    manager = otel_axolotl.init()
else:
    manager = otel_axolotl.init()
    provider = user_setup()
assert trace.get_tracer_provider() is provider, "the user's provider stays the global one"
with trace.get_tracer("user").start_as_current_span("user.job"):
    with loop.run(max_steps=2) as run, run.epoch():
        for _ in range(2):
            with run.step():
                run.log(loss=1.0)
otel_axolotl.shutdown(10)
provider.force_flush()
print("RUN_ID", manager.run_id)
"""


@pytest.mark.parametrize("order", ["user-first", "init-first"])
def test_beside_the_users_global_provider_each_span_arrives_once_in_one_trace(
    order, rotel_collector: Rotel, tmp_path: Path
):
    script = tmp_path / "user_app.py"
    script.write_text(textwrap.dedent(_USER_SETUP))
    env = child_env(
        tmp_path / "spool",
        ENDPOINT=rotel_collector.grpc_endpoint,
        OTEL_EXPORTER_OTLP_ENDPOINT=rotel_collector.grpc_endpoint,  # the same collector for both
        OTEL_AXOLOTL_AUTO_INSTRUMENT="false",
        OTEL_AXOLOTL_SIGNALS="false",
        DO_NOT_TRACK="1",
    )
    proc = subprocess.run(
        [sys.executable, str(script), order], env=env, cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Overriding of current TracerProvider" not in proc.stderr, "we never set the global provider"
    run_id = next(line.split()[1] for line in proc.stdout.splitlines() if line.startswith("RUN_ID"))

    spans = _spans(rotel_collector, "user.job", "axolotl.run", "axolotl.epoch")
    user, run = _one(spans, "user.job"), _one(spans, "axolotl.run")
    _one(spans, "axolotl.epoch")
    named = [s for s in spans if s["name"] != "axolotl.window"]  # windows: one per 100 steps or 60 s
    assert len(named) == 3, "each span exactly once: ours through our pipeline, theirs through theirs"
    assert len({s["span_id"] for s in spans}) == len(spans), "no span twice, windows included"
    assert {s["trace_id"] for s in spans} == {user["trace_id"]}
    assert run["parent_span_id"] == user["span_id"]
    assert run["resource"]["axolotl.run.id"] == run_id, "our spans come through our pipeline"
    assert "axolotl.run.id" not in user["resource"], "the user's provider never got our spans"
    # Their service: read from their provider when it was set first; with init() first the
    # service is OTEL_SERVICE_NAME's (unset here: ours), as the README says.
    expected = "users-service" if order == "user-first" else "otel-axolotl"
    assert run["resource"]["service.name"] == expected


def test_under_opentelemetry_instrument_with_the_distro_each_span_arrives_once(
    rotel_collector: Rotel, tmp_path: Path
):
    """``opentelemetry-instrument`` (with ``opentelemetry-distro``) installs the global providers
    from the standard variables before the program starts; the same variables configure ours.
    Traces only, to one collector: the user's span and the run's spans once each, one trace, one
    service."""
    pytest.importorskip("opentelemetry.distro")
    instrument = Path(sys.executable).with_name("opentelemetry-instrument")
    if not instrument.exists():
        pytest.skip("opentelemetry-instrument is not installed")
    script = tmp_path / "user_app.py"
    script.write_text(textwrap.dedent(_USER_SETUP))
    env = child_env(
        tmp_path / "spool",
        ENDPOINT=rotel_collector.grpc_endpoint,
        OTEL_EXPORTER_OTLP_ENDPOINT=rotel_collector.grpc_endpoint,
        OTEL_SERVICE_NAME="distro-service",
        OTEL_TRACES_EXPORTER="otlp",
        OTEL_METRICS_EXPORTER="none",
        OTEL_LOGS_EXPORTER="none",
        OTEL_AXOLOTL_SIGNALS="false",
        DO_NOT_TRACK="1",
    )
    proc = subprocess.run(
        [str(instrument), sys.executable, str(script), "distro"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    spans = _spans(rotel_collector, "user.job", "axolotl.run", "axolotl.epoch")
    user, run = _one(spans, "user.job"), _one(spans, "axolotl.run")
    assert len([s for s in spans if s["name"] != "axolotl.window"]) == 3, [s["name"] for s in spans]
    assert len({s["span_id"] for s in spans}) == len(spans), "no span twice, windows included"
    assert {s["trace_id"] for s in spans} == {user["trace_id"]}
    assert run["parent_span_id"] == user["span_id"]
    assert {s["resource"]["service.name"] for s in spans} == {"distro-service"}
    assert "axolotl.run.id" in run["resource"] and "axolotl.run.id" not in user["resource"]
    assert not rotel_collector.recorder.received.logs and not rotel_collector.recorder.received.metrics
