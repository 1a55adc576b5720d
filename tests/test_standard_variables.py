"""Issue 15 without sockets: the standard variables as Settings read them, the plan they make,
the run's parent in a distributed launch, the resource precedence and the privacy stage's
handling of what the user configured for their own backend."""

from __future__ import annotations

import logging
import secrets

import pytest
from opentelemetry.sdk.trace import TracerProvider

from otel_axolotl import plan as _plan
from otel_axolotl import ranks
from otel_axolotl import semconv as sc
from otel_axolotl import settings as _s
from otel_axolotl.consent import decide
from otel_axolotl.destinations import Destination
from otel_axolotl.errors import report
from otel_axolotl.privacy.values import Level
from otel_axolotl.recorder import RunRecorder
from otel_axolotl.resource import host_arch, resource_attributes, user_configured_keys
from tests.support.capture import Captured

TORCHRUN = {"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "2", "TORCHELASTIC_RUN_ID": "job-7"}
QUIET = {
    "OTEL_AXOLOTL_HARDWARE_METRICS": "false",
    "OTEL_AXOLOTL_SIGNALS": "false",
    "OTEL_AXOLOTL_SPOOL": "false",
}


@pytest.fixture(autouse=True)
def _fresh_warnings() -> None:
    _s._warned.clear()


def _planned(env: dict[str, str]) -> dict[str, list[str]]:
    settings = _s.Settings.from_env(env)
    consent = decide(settings, code_choice=None, recorded=None, env=env)
    return {d.name: sorted(d.signals) for d in _plan.plan(settings, consent, api_key=None).destinations}


def test_resource_attributes_are_parsed_as_the_spec_writes_them(caplog):
    caplog.set_level(logging.WARNING, "otel_axolotl")
    env = {
        "OTEL_RESOURCE_ATTRIBUTES": " team=ml%2Cinfra , broken, =nokey,service.name=a,"
        "deployment.environment=prod",
    }
    assert _s.user_resource(env) == {
        "team": "ml,infra",
        "service.name": "a",
        "deployment.environment": "prod",
    }
    assert _s.user_resource({**env, "OTEL_SERVICE_NAME": "b"})["service.name"] == "b"
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "OTEL_RESOURCE_ATTRIBUTES" in warnings[0] and "nokey" not in warnings[0]


def test_exporter_variables_make_the_plan():
    endpoint = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317"}
    assert _planned(endpoint) == {"otlp": ["logs", "metrics", "traces"]}
    assert _planned({**endpoint, "OTEL_METRICS_EXPORTER": "none", "OTEL_LOGS_EXPORTER": "none"}) == {
        "otlp": ["traces"]
    }
    assert _planned({"OTEL_TRACES_EXPORTER": "console", "OTEL_LOGS_EXPORTER": "otlp,console"}) == {
        "otlp": ["logs"],
        "console": ["logs", "traces"],
    }
    assert _planned({"OTEL_TRACES_EXPORTER": "posthog"}) == {"exporter:posthog": ["traces"]}
    assert _planned({"OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none"}) == {}
    # OTEL_AXOLOTL_CONSOLE is our own switch: every signal, whatever the standard lists say.
    assert _planned({"OTEL_AXOLOTL_CONSOLE": "1", "OTEL_TRACES_EXPORTER": "none"}) == {
        "console": ["logs", "metrics", "traces"]
    }


def test_an_unknown_exporter_is_one_warning_and_otherwise_as_if_unset(caplog):
    caplog.set_level(logging.WARNING, "otel_axolotl")
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317", "OTEL_TRACES_EXPORTER": "jaegr"}
    assert _s.Settings.from_env(env).exporters == {}
    assert _planned(env) == {"otlp": ["logs", "metrics", "traces"]}
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1
    assert "OTEL_TRACES_EXPORTER" in warnings[0] and "'jaegr'" in warnings[0]
    assert "none, otlp, console" in warnings[0] and "posthog" in warnings[0]


def test_disabled_path_looks_no_entry_point_up(monkeypatch):
    import importlib.metadata

    def fail(*args, **kwargs):
        raise AssertionError("entry points looked up")

    monkeypatch.setattr(importlib.metadata, "entry_points", fail)
    assert _s.exporter_selection({"OTEL_TRACES_EXPORTER": "otlp,none", "OTEL_LOGS_EXPORTER": "none"}) == {
        "traces": ("otlp",),
        "logs": (),
    }


def test_host_arch_uses_the_well_known_values():
    assert [host_arch(m) for m in ("x86_64", "AMD64", "aarch64", "arm64", "i686", "ppc64le", "riscv64")] == [
        "amd64",
        "amd64",
        "arm64",
        "arm64",
        "x86",
        "ppc64",
        "riscv64",
    ]


def test_service_name_precedence_and_what_counts_as_configured():
    run_id = "ab" * 16
    default = resource_attributes(_s.Settings.from_env({}), run_id, None, None)
    assert default[sc.ATTR_SERVICE_NAME] == "otel-axolotl" and not user_configured_keys(default)

    env = {"OTEL_RESOURCE_ATTRIBUTES": "service.name=from-attributes,axolotl.rank=7,zone=eu"}
    attrs = resource_attributes(_s.Settings.from_env(env), run_id, None, None)
    assert attrs[sc.ATTR_SERVICE_NAME] == "from-attributes" and attrs[sc.ATTR_RANK] == 0
    assert user_configured_keys(attrs) == {"service.name", "zone"}
    # (the global TracerProvider's service.name: tests/test_e2e_context.py, in a child process)


def test_configured_resource_keeps_values_at_strict_drops_secrets_and_never_reaches_product():
    token = "ghp_" + "Zq1x" * 9
    env = {
        **QUIET,
        "OTEL_RESOURCE_ATTRIBUTES": f"zone=/home/alice/eu,team.token={token},host.name=node-17",
        "OTEL_SERVICE_NAME": "alice-trainer",
    }
    strict, product = Captured(Level.STRICT), Captured(Level.STRICT, "product")
    product.destination = Destination(
        "product",
        Level.STRICT,
        product.span_exporter,
        product.log_exporter,
        product.metric_exporter,
        product_analytics=True,
    )
    manager = strict.build_manager(env=env, extra_destinations=[product.destination])
    manager.start_run()
    manager.end_run()
    manager.shutdown()
    kept = dict(strict.one_span(sc.SPAN_RUN).resource.attributes)
    assert kept["service.name"] == "alice-trainer" and kept["zone"] == "/home/alice/eu"  # secrets-only rules
    assert token not in kept["team.token"] and "host.name" not in kept
    sent = dict(product.one_span(sc.SPAN_RUN).resource.attributes)
    assert not {"service.name", "zone", "team.token", "host.name"} & set(sent)
    assert sc.ATTR_RUN_ID not in sent  # the trace id of the user's own backends: never product
    assert sent[sc.ATTR_RANK] == 0  # the SDK's own facts are


def _run_on(captured: Captured, env: dict[str, str]):
    manager = captured.build_manager(env={**QUIET, **env})
    recorder = RunRecorder(manager, trainer="loop")
    recorder.train_begin()
    recorder.epoch_begin()
    recorder.train_end()
    manager.shutdown()
    return manager


def test_traceparent_is_the_parent_on_every_rank_of_a_launch():
    trace_id, parent_id = secrets.token_hex(16), secrets.token_hex(8)
    incoming = {"TRACEPARENT": f"00-{trace_id}-{parent_id}-01"}
    rank0, rank1 = Captured(), Captured()
    m0 = _run_on(rank0, {**TORCHRUN, **incoming})
    m1 = _run_on(rank1, {**TORCHRUN, "RANK": "1", "LOCAL_RANK": "1", **incoming})
    assert m0.run_id == m1.run_id
    run0, run1 = rank0.one_span(sc.SPAN_RUN), rank1.one_span(sc.SPAN_RUN)
    assert run0.parent is not None and f"{run0.parent.span_id:016x}" == parent_id
    assert run0.context.span_id == ranks.run_span_id(m0.run_id, TORCHRUN)
    assert run1.parent is not None and run1.parent.span_id == run0.context.span_id
    for captured in (rank0, rank1):
        assert {f"{s.context.trace_id:032x}" for s in captured.spans} == {trace_id}
        assert {f"{e.trace_id:032x}" for e in captured.events} == {trace_id}
        assert captured.one_span(sc.SPAN_RUN).attributes[sc.ATTR_RUN_ID] == m0.run_id


def test_a_users_span_is_the_parent_on_its_own_rank_only():
    user = TracerProvider().get_tracer("user")
    rank1 = Captured()
    with user.start_as_current_span("user.step") as span:
        _run_on(rank1, {**TORCHRUN, "RANK": "1", "LOCAL_RANK": "1"})
    run1 = rank1.one_span(sc.SPAN_RUN)
    assert run1.parent is not None and run1.parent.span_id == span.get_span_context().span_id
    assert run1.context.trace_id == span.get_span_context().trace_id


def test_an_error_inside_a_users_span_goes_on_the_run_span_not_theirs():
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    theirs = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(theirs))
    captured = Captured()
    manager = captured.build_manager(env=QUIET)

    with provider.get_tracer("user").start_as_current_span("user.step", record_exception=False):
        manager.start_run()
        try:
            raise ValueError("boom")
        except ValueError as exc:
            assert report(exc, "user.fails-error", "user.fails", manager, end_run=False)
    manager.end_run("completed")
    manager.shutdown()
    (user_span,) = theirs.get_finished_spans()
    assert not user_span.events, "nothing of ours in the user's span"
    run = captured.one_span(sc.SPAN_RUN)
    assert [e.name for e in run.events] == [sc.EVENT_EXCEPTION]
    error_events = [e for e in captured.events if e.event_name.endswith("-error")]
    assert error_events and all(e.span_id == run.context.span_id for e in error_events)


def test_a_parent_the_user_did_not_sample_still_gets_the_whole_run(monkeypatch):
    """TRACEPARENT with flags 00, and OTEL_TRACES_SAMPLER=always_off (which the SDK itself would
    read from the environment): the run is still recorded."""
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_off")
    trace_id, parent_id = secrets.token_hex(16), secrets.token_hex(8)
    captured = Captured()
    _run_on(captured, {"TRACEPARENT": f"00-{trace_id}-{parent_id}-00"})
    run = captured.one_span(sc.SPAN_RUN)
    assert f"{run.context.trace_id:032x}" == trace_id and run.context.trace_flags.sampled
    assert captured.spans_named(sc.SPAN_EPOCH)


def test_otlp_named_without_an_endpoint_goes_to_the_specs_default_for_its_protocol():
    from otel_axolotl.destinations import otlp_targets

    env = {
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_LOGS_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
    }
    env["OTEL_EXPORTER_OTLP_LOGS_PROTOCOL"] = "grpc"
    targets = otlp_targets(_s.Settings.from_env(env))
    assert sorted(targets) == ["logs", "traces"]
    assert (targets["traces"].endpoint, targets["traces"].protocol) == (
        "http://localhost:4318",
        "http/protobuf",
    )
    assert (targets["logs"].endpoint, targets["logs"].protocol) == ("http://localhost:4317", "grpc")
