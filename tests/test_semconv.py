"""The semantic-conventions registry, its generator, the generated module and the check helper."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_axolotl import semconv
from tests.support.registry_check import assert_all_registered

ROOT = Path(__file__).resolve().parent.parent


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("semconv_generate", ROOT / "semconv" / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


generate = _load_generator()


def _attribute(aid: str, **overrides: Any) -> dict[str, Any]:
    fields = {
        "id": aid,
        "type": "string",
        "brief": "A test attribute.",
        "examples": ["x"],
        "stability": "development",
        "privacy": "public",
    }
    return {**fields, **overrides}


def _minimal_registry() -> dict[str, Any]:
    """A small valid registry exercising every group type, a template and an event family."""
    return {
        "groups": [
            {
                "id": "registry.test",
                "type": "attribute_group",
                "brief": "Test attributes.",
                "attributes": [
                    _attribute("hw.id"),
                    _attribute("axolotl.secret", privacy="redacted"),
                    _attribute("axolotl.props", type="template[string]", privacy="open"),
                    _attribute("axolotl.props.inner", type="template[string]", privacy="redacted"),
                ],
            },
            {
                "id": "metric.hw.gpu.utilization",
                "type": "metric",
                "metric_name": "hw.gpu.utilization",
                "instrument": "observable_gauge",
                "unit": "1",
                "brief": "GPU utilization.",
                "attributes": [{"ref": "hw.id"}],
            },
            {"id": "span.x", "type": "span", "name": "axolotl.x", "brief": "A span.", "attributes": []},
            {
                "id": "event.failure",
                "type": "event",
                "name": "<thing>-failed",
                "pattern": r"^\w+-failed$",
                "brief": "A family of events.",
            },
        ]
    }


def _write(tmp_path: Path, registry: Any) -> Path:
    path = tmp_path / "registry.yaml"
    path.write_text(yaml.safe_dump(registry), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------- generator


def test_generated_files_are_up_to_date(capsys: pytest.CaptureFixture[str]) -> None:
    status = generate.main(["--check"])
    assert status == 0, capsys.readouterr().err


def test_check_names_a_stale_file_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    python_out, markdown_out = tmp_path / "semconv.py", tmp_path / "what-we-collect.md"
    python_out.write_text("# stale\n", encoding="utf-8")
    argv = ["--python", str(python_out), "--markdown", str(markdown_out)]

    assert generate.main([*argv, "--check"]) == 1
    assert "semconv.py is stale" in capsys.readouterr().err
    assert python_out.read_text(encoding="utf-8") == "# stale\n"
    assert not markdown_out.exists()

    assert generate.main(argv) == 0
    assert generate.main([*argv, "--check"]) == 0


def test_the_committed_registry_is_valid() -> None:
    assert generate.validate(generate.load_registry(generate.REGISTRY_PATH)) == []


def test_rendering_is_deterministic() -> None:
    registry = generate.load_registry(generate.REGISTRY_PATH)
    assert generate.render_python(registry) == generate.render_python(registry)
    assert generate.render_markdown(registry) == generate.render_markdown(registry)


def test_validation_errors_name_group_and_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    registry = _minimal_registry()
    attributes = registry["groups"][0]["attributes"]
    attributes.append(_attribute("axolotl.bad", privacy="secret"))
    attributes.append({k: v for k, v in _attribute("axolotl.briefless").items() if k != "brief"})
    attributes.append(_attribute("axolotl.untyped", type=None))
    attributes.append(_attribute("hw.id"))  # defined twice
    registry["groups"] += [
        {"id": "span.x", "type": "span", "brief": "Same id, no name."},
        {
            "id": "metric.bad",
            "type": "metric",
            "metric_name": "axolotl.bad",
            "instrument": "meter",
            "brief": "No unit, wrong instrument.",
            "attributes": [{"ref": "axolotl.missing"}],
        },
        {"id": "event.bad", "type": "event", "name": "bad", "pattern": "(", "brief": "Bad pattern."},
    ]
    path = _write(tmp_path, registry)

    errors = generate.validate(generate.load_registry(path))
    expected = [
        "group 'registry.test', attribute 'axolotl.bad': field 'privacy' is 'secret'; expected one of:",
        "group 'registry.test', attribute 'axolotl.briefless': missing field 'brief'",
        "group 'registry.test', attribute 'axolotl.untyped': missing field 'type'",
        "group 'registry.test': attribute 'hw.id' is already defined in group 'registry.test'",
        "group 'span.x': duplicate group id",
        "group 'span.x': missing field 'name'",
        "group 'metric.bad': field 'instrument' is 'meter'; expected one of:",
        "group 'metric.bad': missing field 'unit'",
        "group 'metric.bad': field 'attributes' refers to undefined attribute 'axolotl.missing'",
        "group 'event.bad': field 'pattern' is not a valid regular expression",
    ]
    for message in expected:
        assert any(error.startswith(message) for error in errors), (message, errors)
    assert len(errors) == len(expected), errors

    python_out = tmp_path / "out.py"
    assert generate.main(["--registry", str(path), "--python", str(python_out)]) == 1
    err = capsys.readouterr().err
    assert "registry.yaml is invalid" in err
    assert "'axolotl.missing'" in err
    assert not python_out.exists()


def test_constant_name_clashes_are_errors() -> None:
    registry = _minimal_registry()
    registry["groups"][0]["attributes"].append(_attribute("axolotl.hw-id"))  # ATTR_HW_ID again
    errors = generate.validate(registry)
    assert errors == [
        "constant ATTR_HW_ID would name several things: attribute 'axolotl.hw-id', attribute 'hw.id'; "
        "rename one"
    ]


def test_unreadable_registry_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "registry.yaml"
    path.write_text("groups:\n  - brief: a: b\n", encoding="utf-8")
    assert generate.main(["--registry", str(path), "--check"]) == 1
    assert "cannot read" in capsys.readouterr().err
    assert generate.validate({"nothing": 1}) == [
        "registry: top-level field 'groups' must be a list of groups"
    ]


def test_generated_module_works_for_any_registry(tmp_path: Path) -> None:
    """A registry with other groups (hardware metrics, an event family) renders to working code."""
    source = generate.render_python(_minimal_registry())
    module = ModuleType("generated_semconv")
    exec(compile(source, "generated_semconv.py", "exec", dont_inherit=True), module.__dict__)

    assert module.METRIC_HW_GPU_UTILIZATION == "hw.gpu.utilization"
    assert module.ATTR_HW_ID == "hw.id"
    assert module.METRICS["hw.gpu.utilization"].instrument == "observable_gauge"
    assert module.METRICS["hw.gpu.utilization"].attributes == ("hw.id",)
    assert module.OPEN_NAMESPACES == ("axolotl.props",)
    assert module.attribute_privacy("axolotl.props.a") == "open"
    assert module.attribute_privacy("axolotl.props.inner.a") == "redacted"  # longest namespace wins
    assert module.attribute_privacy("axolotl.secret") == "redacted"
    assert module.attribute_privacy("axolotl.propsx") is None
    assert module.is_registered_event("gpu-failed")
    assert not module.is_registered_event("<thing>-failed")
    assert module.EVENT_FAILURE_PATTERN.pattern == r"^\w+-failed$"
    assert generate.render_markdown(_minimal_registry()).count("hw.gpu.utilization") == 1


# ---------------------------------------------------------------------------- generated module


def test_attribute_privacy() -> None:
    assert semconv.attribute_privacy("axolotl.run.id") == "public"
    assert semconv.attribute_privacy("gen_ai.request.model") == "whitelisted-name"
    assert semconv.attribute_privacy("host.name") == "never"
    assert semconv.attribute_privacy("axolotl.config") == "open"
    assert semconv.attribute_privacy("axolotl.config.learning_rate") == "open"
    assert semconv.attribute_privacy("axolotl.config.datasets.0.path") == "open"
    assert semconv.attribute_privacy("axolotl.event.message") == "open"
    assert semconv.attribute_privacy("axolotl.configuration") is None
    assert semconv.attribute_privacy("axolotl.run.id.extra") is None
    assert semconv.attribute_privacy("user.email") is None
    assert semconv.attribute_privacy("") is None
    assert semconv.OPEN_NAMESPACES == ("axolotl.config", "axolotl.event")


def test_registered_names() -> None:
    assert semconv.is_registered_event("train-start")
    assert semconv.is_registered_event("axolotl.cli.train.do_train-error")
    assert semconv.is_registered_event("exception")
    assert not semconv.is_registered_event("bogus")
    assert not semconv.is_registered_event("axolotl.cli.train.do_train-error\n")
    assert not semconv.is_registered_event("/home/alice/train.py-error")
    assert semconv.is_registered_span("axolotl.run")
    assert not semconv.is_registered_span("axolotl.runs")
    assert semconv.is_registered_metric("axolotl.train.loss")
    assert not semconv.is_registered_metric("axolotl.train")


def test_every_constant_is_registered() -> None:
    checks = {
        "ATTR_": lambda value: value in semconv.ATTRIBUTES,
        "SPAN_": semconv.is_registered_span,
        "EVENT_": semconv.is_registered_event,
        "METRIC_": semconv.is_registered_metric,
    }
    patterns = {spec.pattern for spec in semconv.EVENTS.values() if spec.pattern is not None}
    seen = 0
    for name, value in vars(semconv).items():
        prefix = next((p for p in checks if name.startswith(p)), None)
        if prefix is None:
            continue
        seen += 1
        if isinstance(value, re.Pattern):
            assert value in patterns, name
        else:
            assert checks[prefix](value), name
    assert seen == len(semconv.ATTRIBUTES) + len(semconv.SPANS) + len(semconv.EVENTS) + len(semconv.METRICS)


def test_generated_module_imports_only_re_and_dataclasses() -> None:
    source = (ROOT / "otel_axolotl" / "semconv.py").read_text(encoding="utf-8")
    imports = sorted(line for line in source.splitlines() if line.startswith(("import ", "from ")))
    assert imports == ["from dataclasses import dataclass", "import re"]


# ---------------------------------------------------------------------------- assert_all_registered


@pytest.fixture
def pipeline() -> Any:
    """In-memory traces, logs and metrics with a resource of registered keys only."""
    resource = Resource({"service.name": "otel-axolotl", "telemetry.sdk.language": "python"})
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    logs = InMemoryLogRecordExporter()
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(logs))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader], resource=resource)

    class Pipeline:
        tracer = tracer_provider.get_tracer("test")
        logger = logger_provider.get_logger("test")
        meter = meter_provider.get_meter("test")

        def check(self) -> None:
            assert_all_registered(
                spans.get_finished_spans(), logs.get_finished_logs(), reader.get_metrics_data()
            )

    yield Pipeline()
    tracer_provider.shutdown()
    logger_provider.shutdown()
    meter_provider.shutdown()


def test_assert_all_registered_passes_for_registered_names(pipeline: Any) -> None:
    with pipeline.tracer.start_as_current_span(
        semconv.SPAN_RUN, attributes={semconv.ATTR_RUN_ID: "ab" * 16, semconv.ATTR_RANK: 0}
    ) as run:
        with pipeline.tracer.start_as_current_span(
            semconv.SPAN_CHECKPOINT_SAVE, attributes={semconv.ATTR_CHECKPOINT_STEP: 500}
        ):
            pass
        run.add_event(semconv.EVENT_EXCEPTION, {semconv.ATTR_EXCEPTION_TYPE: "RuntimeError"})
        run.set_attribute("axolotl.config.learning_rate", "0.0002")
    pipeline.logger.emit(
        event_name=semconv.EVENT_TRAIN_START,
        attributes={semconv.ATTR_TRAIN_MAX_STEPS: 10},
        body={"anything": "goes"},
    )
    pipeline.logger.emit(event_name="axolotl.cli.train.do_train-error", attributes={"exception.type": "E"})
    rank = {semconv.ATTR_RANK: 0}
    pipeline.meter.create_gauge(semconv.METRIC_TRAIN_LOSS, unit="{loss}").set(2.5, rank)
    pipeline.meter.create_counter(semconv.METRIC_TRAIN_STEPS, unit="{step}").add(1, rank)
    pipeline.meter.create_histogram(semconv.METRIC_TRAIN_STEP_DURATION, unit="s").record(0.1, rank)

    pipeline.check()


def test_assert_all_registered_lists_every_problem(pipeline: Any) -> None:
    with pipeline.tracer.start_as_current_span("bogus.span", attributes={"user.email": "a@b.c"}) as span:
        span.add_event("bogus-event", {semconv.ATTR_HOST_NAME: "node-1"})
    pipeline.logger.emit(event_name="bogus", attributes={semconv.ATTR_STEP: 1})
    pipeline.meter.create_counter(semconv.METRIC_TRAIN_LOSS, unit="1").add(1, {"axolotl.rank": 0})
    pipeline.meter.create_up_down_counter("bogus.metric").add(1)

    with pytest.raises(AssertionError) as raised:
        pipeline.check()
    message = str(raised.value)
    for problem in [
        "span 'bogus.span': span name is not registered",
        "span 'bogus.span': attribute key 'user.email' is not registered",
        "span 'bogus.span', span event 'bogus-event': event name is not registered",
        "span 'bogus.span', span event 'bogus-event': attribute key 'host.name' is registered as never",
        "log record 'bogus': event name is not registered",
        "metric 'axolotl.train.loss': unit is '1', the registry says '{loss}'",
        "metric 'axolotl.train.loss': data is a monotonic Sum, but registry instrument 'gauge' produces a",
        "metric 'bogus.metric': metric name is not registered",
    ]:
        assert problem in message, message
    assert message.startswith("8 problem(s)"), message


def test_assert_all_registered_checks_resource_keys() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource({"service.name": "x", "process.pid": 1}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("test").start_as_current_span(semconv.SPAN_RUN):
        pass
    provider.shutdown()
    with pytest.raises(AssertionError, match=r"resource: attribute key 'process\.pid' is not registered"):
        assert_all_registered(exporter.get_finished_spans())


def test_upstream_attributes_reference_their_definition_instead_of_redeclaring_it(tmp_path: Path) -> None:
    """Issue 15: an OpenTelemetry attribute links to its semantic-conventions definition (no
    brief or stability of ours); the page renders the link."""
    registry = generate.load_registry(generate.REGISTRY_PATH)
    reused = next(g for g in registry["groups"] if g["id"] == "registry.otel.reused")
    assert reused["attributes"] and all("upstream" in a and "brief" not in a for a in reused["attributes"])
    page = generate.render_markdown(registry)
    assert (
        "[host.arch](https://opentelemetry.io/docs/specs/semconv/registry/attributes/host/#host-arch)" in page
    )

    bad = _minimal_registry()
    attributes = bad["groups"][0]["attributes"]
    attributes.append(
        {"id": "os.type", "type": "string", "privacy": "public", "upstream": "https://example.com/x"}
    )
    attributes.append(
        {
            "id": "host.arch",
            "type": "string",
            "privacy": "public",
            "brief": "CPU architecture.",
            "upstream": "https://opentelemetry.io/docs/specs/semconv/registry/attributes/host/#host-arch",
        }
    )
    errors = generate.validate(generate.load_registry(_write(tmp_path, bad)))
    assert any("'os.type': field 'upstream' must be a semantic-conventions registry URL" in e for e in errors)
    assert any("'host.arch': an upstream attribute has no 'brief'" in e for e in errors), errors
