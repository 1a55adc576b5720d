"""The self-hosting stack: docker-compose.yml and everything under deploy/.

a. Debian's docker-compose 1.29 accepts the file, and each profile selects the intended services.
b. Structure: pinned images, mounted files exist, collector pipelines are well formed, OTLP ports.
c. Every metric the Grafana dashboard queries is registered in semconv/registry.yaml, once its
   OpenTelemetry name is translated the way the collector's Prometheus exporter translates it.
d. End to end: the real rotel collector on the very ports the stack publishes receives the spans of
   ``otel-axolotl demo`` run with nothing but the standard OTLP environment variables.

No Docker engine is needed: nothing here starts a container.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
DEPLOY = ROOT / "deploy"
COLLECTOR_CONFIG = DEPLOY / "otel-collector" / "config.yaml"
AGENT_CONFIG = DEPLOY / "otel-collector" / "agent.yaml"
PROMETHEUS_CONFIG = DEPLOY / "prometheus" / "prometheus.yml"
DATASOURCES_DIR = DEPLOY / "grafana" / "provisioning" / "datasources"
DASHBOARDS_DIR = DEPLOY / "grafana" / "dashboards"
REGISTRY = ROOT / "semconv" / "registry.yaml"

COLLECTOR_SERVICE = "otel-collector"
OTLP_PORTS = {4317, 4318}  # gRPC, HTTP: the ports every OTLP SDK defaults to
# What each profile must start, and nothing more.
PROFILES = {
    "jaeger": {"jaeger"},
    "stack": {"jaeger-backend", "otel-collector", "prometheus", "grafana"},
}
# Distroless images: no shell, no wget or curl, so Docker cannot run a healthcheck inside them.
NO_HEALTHCHECK_POSSIBLE = {"otel/opentelemetry-collector-contrib"}


# ============================================================== OpenTelemetry -> Prometheus names
#
# The rules of the collector's `prometheus` exporter with translation_strategy
# UnderscoreEscapingWithSuffixes (its default), as implemented in github.com/prometheus/otlptranslator
# (metric_namer.go, unit_namer.go) and documented in opentelemetry-collector-contrib
# pkg/translator/prometheus/README.md:
#   - the name is split on every character outside [a-zA-Z0-9:] and joined with "_";
#   - the unit is split at the first "/": the main part is mapped (By -> bytes, s -> seconds,
#     W -> watts, Cel -> celsius, "1" -> nothing, ...), the per part becomes "per_<singular>"
#     (s -> per_second); a part containing "{" or "}" (an annotation such as {token}) is dropped;
#     a suffix already present as a name token is not repeated;
#   - monotonic counters get "_total"; gauges (only gauges) with unit "1" get "_ratio";
#   - histograms are exposed as <name>_bucket, <name>_sum and <name>_count.

UNIT_MAP = {
    "d": "days",
    "h": "hours",
    "min": "minutes",
    "s": "seconds",
    "ms": "milliseconds",
    "us": "microseconds",
    "ns": "nanoseconds",
    "By": "bytes",
    "KiBy": "kibibytes",
    "MiBy": "mebibytes",
    "GiBy": "gibibytes",
    "TiBy": "tibibytes",
    "KBy": "kilobytes",
    "MBy": "megabytes",
    "GBy": "gigabytes",
    "TBy": "terabytes",
    "m": "meters",
    "V": "volts",
    "A": "amperes",
    "J": "joules",
    "W": "watts",
    "g": "grams",
    "Cel": "celsius",
    "Hz": "hertz",
    "1": "",
    "%": "percent",
}
PER_UNIT_MAP = {
    "s": "second",
    "m": "minute",
    "h": "hour",
    "d": "day",
    "w": "week",
    "mo": "month",
    "y": "year",
}

COUNTERS = {"counter", "observable_counter"}
GAUGES = {"gauge", "observable_gauge"}
UPDOWNCOUNTERS = {"updowncounter", "observable_updowncounter"}  # non-monotonic sums: Prometheus gauges
HISTOGRAMS = {"histogram"}


def _clean_unit(unit: str) -> str:
    return re.sub(r"_+", "_", re.sub(r"[^a-zA-Z0-9:]", "_", unit)).lstrip("_")


def _unit_suffixes(unit: str) -> tuple[str, str]:
    main_otel, _, per_otel = unit.partition("/")
    main_otel, per_otel = main_otel.strip(), per_otel.strip()
    main = UNIT_MAP.get(main_otel, main_otel) if main_otel and not re.search(r"[{}]", main_otel) else ""
    per = PER_UNIT_MAP.get(per_otel, per_otel) if per_otel and not re.search(r"[{}]", per_otel) else ""
    return _clean_unit(main), _clean_unit("per_" + per) if per else ""


def otel_to_prometheus(name: str, unit: str, instrument: str) -> str:
    """The Prometheus metric name the collector's prometheus exporter gives an OTel metric."""
    known = COUNTERS | GAUGES | UPDOWNCOUNTERS | HISTOGRAMS
    if instrument not in known:
        raise ValueError(f"unknown instrument {instrument!r}")
    tokens = [t for t in re.split(r"[^a-zA-Z0-9:]+", name) if t]
    main, per = _unit_suffixes(unit)
    if main in tokens:
        main = ""
    per = "" if per == "per_" else per.rstrip("_")
    if per in tokens:
        per = ""
    if per:
        main = main.rstrip("_")
    tokens += [s for s in (main, per) if s]
    if instrument in COUNTERS:
        tokens = [t for t in tokens if t != "total"] + ["total"]
    if unit == "1" and instrument in GAUGES:
        tokens = [t for t in tokens if t != "ratio"] + ["ratio"]
    result = "_".join(tokens)
    return "_" + result if result[:1].isdigit() else result


def prometheus_series_names(name: str, unit: str, instrument: str) -> set[str]:
    base = otel_to_prometheus(name, unit, instrument)
    if instrument in HISTOGRAMS:
        return {f"{base}_bucket", f"{base}_sum", f"{base}_count"}
    return {base}


@pytest.mark.parametrize(
    ("name", "unit", "instrument", "expected"),
    [
        # Examples from pkg/translator/prometheus/README.md (opentelemetry-collector-contrib) and
        # from the doc comments of prometheus/otlptranslator.
        ("system.filesystem.usage", "By", "gauge", "system_filesystem_usage_bytes"),
        ("system.network.dropped", "{packets}", "gauge", "system_network_dropped"),
        ("system.network.dropped", "packets", "gauge", "system_network_dropped_packets"),
        ("system.memory.utilization", "1", "gauge", "system_memory_utilization_ratio"),
        ("storage.filesystem.utilization", "%", "gauge", "storage_filesystem_utilization_percent"),
        ("astro.light.speed", "m/s", "gauge", "astro_light_speed_meters_per_second"),
        ("system.processes.created", "{process}", "counter", "system_processes_created_total"),
        ("(lambda).function.executions(#)", "", "gauge", "lambda_function_executions"),
        ("http.server.request.duration", "s", "histogram", "http_server_request_duration_seconds"),
        ("requests.count", "1", "counter", "requests_count_total"),
        ("memory.usage", "By", "gauge", "memory_usage_bytes"),
        # What this project emits.
        (
            "axolotl.train.throughput.tokens",
            "{token}/s",
            "gauge",
            "axolotl_train_throughput_tokens_per_second",
        ),
        ("axolotl.train.steps", "{step}", "counter", "axolotl_train_steps_total"),
        ("hw.gpu.utilization", "1", "observable_gauge", "hw_gpu_utilization_ratio"),
        ("hw.temperature", "Cel", "observable_gauge", "hw_temperature_celsius"),
        ("hw.power", "W", "observable_gauge", "hw_power_watts"),
        ("process.memory.usage", "By", "observable_updowncounter", "process_memory_usage_bytes"),
        ("hw.status", "1", "updowncounter", "hw_status"),  # `_ratio` is for gauges only
    ],
)
def test_otel_to_prometheus_follows_the_exporter_rules(name, unit, instrument, expected):
    assert otel_to_prometheus(name, unit, instrument) == expected


def test_histograms_are_exposed_as_bucket_sum_and_count():
    assert prometheus_series_names("axolotl.train.step.duration", "s", "histogram") == {
        "axolotl_train_step_duration_seconds_bucket",
        "axolotl_train_step_duration_seconds_sum",
        "axolotl_train_step_duration_seconds_count",
    }


# ============================================================== helpers


def _load_yaml(path: Path) -> Any:
    with path.open(encoding="utf-8") as f:
        return yaml.safe_load(f)


def _services() -> dict[str, dict[str, Any]]:
    return _load_yaml(COMPOSE_FILE)["services"]


_VARIABLE = re.compile(r"\$\{(\w+)(?::?-([^}]*))?\}")


def _with_defaults(text: str) -> str:
    """Compose interpolation with every variable at the default the file gives it."""
    return _VARIABLE.sub(lambda m: m.group(2) or "", text)


@dataclass(frozen=True)
class Port:
    host_ip: str
    host: int
    container: int
    protocol: str


def _ports(service: dict[str, Any]) -> list[Port]:
    ports = []
    for entry in service.get("ports", []):
        if isinstance(entry, dict):  # long syntax
            ports.append(
                Port(
                    str(entry.get("host_ip", "")),
                    int(entry["published"]),
                    int(entry["target"]),
                    str(entry.get("protocol", "tcp")),
                )
            )
            continue
        spec, _, protocol = _with_defaults(str(entry)).partition("/")
        parts = spec.rsplit(":", 2)
        host_ip = parts[0] if len(parts) == 3 else ""
        host, container = (parts[-2], parts[-1]) if len(parts) >= 2 else (parts[-1], parts[-1])
        ports.append(Port(host_ip, int(host), int(container), protocol or "tcp"))
    return ports


def _profile_members() -> dict[str, set[str]]:
    members: dict[str, set[str]] = {}
    for name, service in _services().items():
        for profile in service.get("profiles", []):
            members.setdefault(profile, set()).add(name)
    return members


def _docker_compose() -> str:
    binary = shutil.which("docker-compose")
    if binary is None:
        reason = "Debian's docker-compose (1.29) is not installed: apt-get install docker-compose"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return binary


def _compose(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPOSE_")}
    return subprocess.run(
        [_docker_compose(), "-f", str(COMPOSE_FILE), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


# ============================================================== a. docker-compose accepts the file


def test_docker_compose_validates_the_file():
    result = _compose("config", "-q")
    assert result.returncode == 0, result.stderr


def test_docker_compose_sees_the_intended_services_and_profiles():
    services = _compose("config", "--services")
    assert services.returncode == 0, services.stderr
    assert set(services.stdout.split()) == set().union(*PROFILES.values())
    # 1.29 knows profiles (`config --profiles`, `--profile NAME`) but its `config --services` lists
    # every service whatever profile is active, so the sets per profile are checked below from the
    # file itself, with the same rules Compose applies.
    profiles = _compose("config", "--profiles")
    assert profiles.returncode == 0, profiles.stderr
    assert set(profiles.stdout.split()) == set(PROFILES)


def test_each_profile_selects_exactly_its_services():
    assert _profile_members() == PROFILES
    # A service without a profile would start under every profile (and collide on 4317/4318).
    assert all(service.get("profiles") for service in _services().values())


def test_dependencies_stay_inside_their_profile():
    # Compose refuses to start a service whose dependency is not enabled by the active profiles.
    services = _services()
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown service {dependency}"
            shared = set(service["profiles"]) & set(services[dependency]["profiles"])
            assert shared, f"{name} and its dependency {dependency} share no profile"


def test_no_host_port_is_published_twice_within_a_profile():
    services = _services()
    for profile, members in PROFILES.items():
        seen: dict[tuple[str, int], str] = {}
        for name in sorted(members):
            for port in _ports(services[name]):
                key = (port.protocol, port.host)
                assert key not in seen, (
                    f"profile {profile}: host port {port.host} used by {seen[key]} and {name}"
                )
                seen[key] = name


def test_compose_v2_profiles_when_available():
    docker = shutil.which("docker")
    if (
        docker is None
        or subprocess.run(
            [docker, "compose", "version"], capture_output=True, check=False, timeout=30
        ).returncode
        != 0
    ):
        pytest.skip("the Compose v2 plugin (`docker compose`) is not installed")
    for profile, expected in PROFILES.items():
        result = subprocess.run(
            [docker, "compose", "-f", str(COMPOSE_FILE), "--profile", profile, "config", "--services"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        assert set(result.stdout.split()) == expected


# ============================================================== b. structure


_PINNED = re.compile(
    r"^[a-z0-9][a-z0-9._/-]*:(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})(@sha256:[0-9a-f]{64})?$"
)


def test_every_image_is_pinned_to_a_version():
    for name, service in _services().items():
        image = service["image"]
        match = _PINNED.match(image)
        assert match, f"{name}: image {image!r} has no tag"
        tag = match.group("tag")
        assert tag != "latest" and re.search(r"\d", tag), (
            f"{name}: image {image!r} is not pinned to a version"
        )


def test_every_mounted_file_exists_and_named_volumes_are_declared():
    compose = _load_yaml(COMPOSE_FILE)
    declared = set(compose.get("volumes") or {})
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume["source"] if isinstance(volume, dict) else str(volume).split(":", 1)[0]
            if source.startswith((".", "/")):
                assert (ROOT / source).exists(), f"{name} mounts {source}, which does not exist"
            else:
                assert source in declared, f"{name} uses volume {source}, not declared under volumes:"


def test_healthchecks_wherever_the_image_can_run_one():
    for name, service in _services().items():
        repository = service["image"].split(":", 1)[0]
        if repository in NO_HEALTHCHECK_POSSIBLE:
            assert "healthcheck" not in service, f"{name}: {repository} has no shell to run a healthcheck"
            continue
        test = service.get("healthcheck", {}).get("test")
        assert test and test[0] in ("CMD", "CMD-SHELL"), f"{name} has no healthcheck"


def test_otlp_is_published_on_4317_and_4318_by_the_collector_and_by_jaeger_alone():
    services = _services()
    for name in (COLLECTOR_SERVICE, "jaeger"):
        published = {(p.host, p.container) for p in _ports(services[name]) if p.container in OTLP_PORTS}
        assert published == {(4317, 4317), (4318, 4318)}, name
    # Behind the collector, Jaeger keeps OTLP to the compose network.
    assert not {p.host for p in _ports(services["jaeger-backend"])} & OTLP_PORTS


def _components(config: dict[str, Any], kind: str) -> set[str]:
    return set(config.get(kind) or {})


def _check_pipelines(config: dict[str, Any], where: str) -> None:
    pipelines = config["service"]["pipelines"]
    assert pipelines, f"{where}: no pipelines"
    for pipeline_id, pipeline in pipelines.items():
        for kind in ("receivers", "processors", "exporters"):
            used = pipeline.get(kind) or []
            unknown = set(used) - _components(config, kind)
            assert not unknown, f"{where}: pipeline {pipeline_id} uses undefined {kind} {sorted(unknown)}"
        processors = pipeline["processors"]
        assert processors[0] == "memory_limiter", f"{where}: {pipeline_id} must start with memory_limiter"
        assert "batch" in processors, f"{where}: {pipeline_id} has no batch processor"
        assert processors[-1] == "batch", f"{where}: {pipeline_id} should batch last"
        assert "redaction" in processors, f"{where}: {pipeline_id} has no redaction processor"
    unknown = set(config["service"].get("extensions", [])) - _components(config, "extensions")
    assert not unknown, f"{where}: undefined extensions {sorted(unknown)}"


def test_collector_gateway_config_is_well_formed():
    config = _load_yaml(COLLECTOR_CONFIG)
    _check_pipelines(config, COLLECTOR_CONFIG.name)
    assert set(config["service"]["pipelines"]) == {"traces", "metrics", "logs"}
    protocols = config["receivers"]["otlp"]["protocols"]
    assert protocols["grpc"]["endpoint"].endswith(":4317")
    assert protocols["http"]["endpoint"].endswith(":4318")
    # The dashboard's names assume the classic translation (suffixes, underscores).
    assert config["exporters"]["prometheus"]["translation_strategy"] == "UnderscoreEscapingWithSuffixes"


def test_collector_agent_config_is_well_formed_and_redacts_like_the_gateway():
    agent, gateway = _load_yaml(AGENT_CONFIG), _load_yaml(COLLECTOR_CONFIG)
    _check_pipelines(agent, AGENT_CONFIG.name)
    protocols = agent["receivers"]["otlp"]["protocols"]
    assert protocols["grpc"]["endpoint"] == "127.0.0.1:4317"
    assert protocols["http"]["endpoint"] == "127.0.0.1:4318"
    assert agent["processors"]["redaction"] == gateway["processors"]["redaction"]
    for pipeline in agent["service"]["pipelines"].values():
        assert pipeline["exporters"] == ["otlp_grpc/gateway"]


def test_stack_files_point_at_each_other():
    services = _services()
    stack = PROFILES["stack"]
    gateway = _load_yaml(COLLECTOR_CONFIG)
    jaeger_host, _, jaeger_port = gateway["exporters"]["otlp_grpc/jaeger"]["endpoint"].rpartition(":")
    assert jaeger_host in stack and jaeger_port == "4317"
    exporter_port = gateway["exporters"]["prometheus"]["endpoint"].rpartition(":")[2]
    targets = {
        target
        for job in _load_yaml(PROMETHEUS_CONFIG)["scrape_configs"]
        for static in job.get("static_configs", [])
        for target in static["targets"]
    }
    assert f"{COLLECTOR_SERVICE}:{exporter_port}" in targets
    for path in DATASOURCES_DIR.glob("*.y*ml"):
        for source in _load_yaml(path)["datasources"]:
            host = re.match(r"https?://([^:/]+)", source["url"]).group(1)
            assert host in stack and host in services, f"{path.name}: {source['name']} points at {host}"


_LOOKAROUND_OR_BACKREF = re.compile(r"\(\?[=!<]|\\[1-9]")


@pytest.mark.parametrize(
    ("key", "masked"),
    [
        ("axolotl.config.hub_token", True),
        ("axolotl.config.wandb_api_key", True),
        ("http.request.header.authorization", True),
        ("axolotl.config.token", True),
        ("axolotl.config.client_secret", True),
        ("axolotl.config.pad_token", False),
        ("axolotl.config.max_tokens", False),
        ("axolotl.config.tokenizer_type", False),
        ("axolotl.train.batch_size", False),
    ],
)
def test_redaction_key_patterns(key, masked):
    rules = _load_yaml(COLLECTOR_CONFIG)["processors"]["redaction"]
    assert any(re.search(p, key) for p in rules["blocked_key_patterns"]) is masked


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("hf_" + "a1B2c3D4e5" * 4, True),
        ("sk-proj-" + "x" * 40, True),
        ("ghp_" + "A" * 36, True),
        ("AKIAIOSFODNN7EXAMPLE", True),
        ("Bearer abcdefgh.ijklmnop", True),
        ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlc2ln", True),
        ("mail alice@example.org now", True),
        ("0123456789abcdef0123456789abcdef01234567", True),  # 40 hex: a W&B key
        ("4bf92f3577b34da6a3ce929d0e0e4736", False),  # a run id (32 hex) stays readable
        ("meta-llama/Llama-3.1-8B", False),
        ("CUDA out of memory. Tried to allocate 2.00 GiB", False),
    ],
)
def test_redaction_value_patterns(value, masked):
    rules = _load_yaml(COLLECTOR_CONFIG)["processors"]["redaction"]
    assert any(re.search(p, value) for p in rules["blocked_values"]) is masked


def test_redaction_patterns_are_re2_compatible():
    # The collector compiles them with Go's regexp (RE2): no lookaround, no backreferences.
    rules = _load_yaml(COLLECTOR_CONFIG)["processors"]["redaction"]
    for pattern in rules["blocked_key_patterns"] + rules["blocked_values"]:
        assert not _LOOKAROUND_OR_BACKREF.search(pattern), pattern
        re.compile(pattern)


# ============================================================== c. dashboard metrics are registered


PROMQL_WORDS = {
    # aggregation operators and their modifiers, binary and set operators, literals
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "and",
    "or",
    "unless",
    "offset",
    "atan2",
    "inf",
    "nan",
    "Inf",
    "NaN",
}


def promql_metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression (or a Grafana `label_values(...)` variable query)."""
    names: set[str] = set()
    for arguments in re.findall(r"label_values\(([^()]*)\)", expr):
        # label_values(metric_or_selector, label) or label_values(label): the metric is everything
        # before the last comma outside {...}.
        depth, last_comma = 0, -1
        for i, char in enumerate(arguments):
            depth += {"{": 1, "}": -1}.get(char, 0)
            if char == "," and depth == 0:
                last_comma = i
        if last_comma >= 0:
            names |= promql_metric_names(arguments[:last_comma])
    expr = re.sub(r"label_values\([^()]*\)", " ", expr)
    expr = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', " ", expr)  # strings
    expr = re.sub(r"\{[^{}]*\}", " ", expr)  # label matchers
    expr = re.sub(r"\[[^\[\]]*\]", " ", expr)  # ranges and subqueries
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", " ", expr)
    expr = re.sub(r"\$\{[^}]*\}|\$\w+", " ", expr)  # Grafana variables
    for match in re.finditer(r"(?<![\w.])[A-Za-z_:][A-Za-z0-9_:]*", expr):
        word = match.group(0)
        if word in PROMQL_WORDS or expr[match.end() :].lstrip().startswith("("):
            continue  # keyword, or a function call
        names.add(word)
    return names


def test_promql_metric_names_extraction():
    expr = (
        'sum by (axolotl_rank) (rate(axolotl_train_step_duration_seconds_sum{job=~"$job"}[$__rate_interval]))'
        " / on (axolotl_rank) group_left sum without (le) (rate(x_count[5m] offset 1h)) * 1e3 > bool 0.5"
    )
    assert promql_metric_names(expr) == {"axolotl_train_step_duration_seconds_sum", "x_count"}
    assert promql_metric_names('label_values(axolotl_train_loss{job=~"$job"}, axolotl_run_id)') == {
        "axolotl_train_loss"
    }
    assert promql_metric_names("label_values(job)") == set()
    assert promql_metric_names('label_values(up{a="x", b=~"$y"}, instance)') == {"up"}
    assert promql_metric_names('histogram_quantile(0.9, sum by (le) (rate(h_bucket{a="b"}[1m])))') == {
        "h_bucket"
    }


def _registered_prometheus_names() -> set[str]:
    names: set[str] = set()
    for group in _load_yaml(REGISTRY)["groups"]:
        if group.get("type") == "metric":
            names |= prometheus_series_names(group["metric_name"], str(group["unit"]), group["instrument"])
    return names


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))  # rows, collapsed or not


def _dashboard_queries(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for panel in _panels(dashboard.get("panels", [])):
        for target in panel.get("targets", []):
            datasource = target.get("datasource") or panel.get("datasource") or {}
            if datasource.get("type", "prometheus") == "prometheus" and target.get("expr"):
                yield f"panel {panel.get('title')!r}", target["expr"]
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") == "query":
            query = variable.get("query")
            query = query.get("query", "") if isinstance(query, dict) else query
            if query:
                yield f"variable {variable['name']!r}", query


def test_the_dashboard_has_the_training_run_panels():
    dashboard = json.loads((DASHBOARDS_DIR / "training-run.json").read_text(encoding="utf-8"))
    queried = {name for _, expr in _dashboard_queries(dashboard) for name in promql_metric_names(expr)}
    for needed in (
        "axolotl_train_loss",
        "axolotl_train_learning_rate",
        "axolotl_train_throughput_samples_per_second",
        "axolotl_train_throughput_tokens_per_second",
        "axolotl_train_step_duration_seconds_sum",
        "axolotl_train_step_duration_seconds_count",
        "axolotl_eval_loss",
        "hw_gpu_utilization_ratio",
        "hw_gpu_memory_usage_bytes",
        "hw_gpu_memory_limit_bytes",
        "hw_power_watts",
        "hw_temperature_celsius",
        "process_memory_usage_bytes",
        "process_cpu_utilization_ratio",
    ):
        assert needed in queried, f"no panel queries {needed}"


def test_every_metric_the_dashboards_query_is_registered():
    registered = _registered_prometheus_names()
    dashboards = sorted(DASHBOARDS_DIR.glob("*.json"))
    assert dashboards
    unknown: list[str] = []
    for path in dashboards:
        dashboard = json.loads(path.read_text(encoding="utf-8"))
        for where, expr in _dashboard_queries(dashboard):
            names = promql_metric_names(expr)
            assert names, f"{path.name} {where}: no metric name found in {expr!r}"
            unknown += [f"{path.name} {where}: {n}" for n in sorted(names - registered)]
    # Also the queries in data source provisioning (trace-to-metrics links).
    for path in DATASOURCES_DIR.glob("*.y*ml"):
        for source in _load_yaml(path)["datasources"]:
            for query in (source.get("jsonData") or {}).get("tracesToMetrics", {}).get("queries", []):
                unknown += [
                    f"{path.name}: {n}" for n in sorted(promql_metric_names(query["query"]) - registered)
                ]
    assert not unknown, "not in semconv/registry.yaml (after Prometheus translation):\n" + "\n".join(unknown)


# ============================================================== d. the demo reaches a collector


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"rotel-agent exited with {process.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"rotel-agent is not listening on 127.0.0.1:{port} after {timeout} s")


@dataclass
class DebugCollector:
    grpc_port: int
    http_port: int
    output_path: Path

    def output(self) -> str:
        return _ANSI.sub("", self.output_path.read_text(encoding="utf-8", errors="replace"))


@pytest.fixture
def compose_port_collector(request: pytest.FixtureRequest, tmp_path: Path) -> DebugCollector:
    """rotel-agent on the OTLP ports the stack publishes, printing every span it receives."""
    rotel = pytest.importorskip("rotel")
    binary = os.path.join(os.path.dirname(rotel.__file__), "rotel-agent")
    if not os.path.exists(binary):
        pytest.skip(f"rotel is installed without its rotel-agent binary ({binary})")
    published = {p.container: p.host for p in _ports(_services()[COLLECTOR_SERVICE])}
    grpc_port, http_port = published[4317], published[4318]
    for port in (grpc_port, http_port):
        if not _port_is_free(port):
            pytest.skip(
                f"127.0.0.1:{port} is busy (a local collector or Jaeger?); this test needs the stack's port"
            )
    collector = DebugCollector(grpc_port, http_port, tmp_path / "rotel.out")
    out = collector.output_path.open("wb")
    process = subprocess.Popen(
        [
            binary,
            "start",
            "--otlp-grpc-endpoint",
            f"127.0.0.1:{grpc_port}",
            "--otlp-http-endpoint",
            f"127.0.0.1:{http_port}",
            "--exporter",
            "blackhole",
            "--debug-log",
            "traces",
            "--debug-log-verbosity",
            "detailed",
            "--batch-timeout",
            "100ms",
            "--pid-file",
            str(tmp_path / "rotel.pid"),
            "--log-file",
            str(tmp_path / "rotel.log"),
        ],
        stdout=out,
        stderr=subprocess.STDOUT,
    )

    def stop() -> None:  # always runs, whatever happened in the test
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        out.close()

    request.addfinalizer(stop)
    try:
        _wait_for_port(grpc_port, process)
        _wait_for_port(http_port, process)
    except (RuntimeError, TimeoutError) as exc:
        pytest.fail(f"{exc}\n{collector.output()}")
    return collector


def _demo_command() -> list[str]:
    script = shutil.which("otel-axolotl", path=str(Path(sys.executable).parent))
    if script:
        return [script, "demo"]
    return [sys.executable, "-c", "import sys; from otel_axolotl.cli import main; sys.exit(main())", "demo"]


def _span_names(output: str) -> set[str]:
    return set(re.findall(r"^\s*Name\s*:\s*(\S+)\s*$", output, flags=re.MULTILINE))


@pytest.mark.e2e
@pytest.mark.timeout(180)
def test_demo_spans_reach_a_collector_on_the_stack_ports(compose_port_collector: DebugCollector):
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_EXPORTER_OTLP_")}
    env.pop("OTEL_SDK_DISABLED", None)
    env.update(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{compose_port_collector.grpc_port}",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
            "AXOLOTL_DO_NOT_TRACK": "1",
        }
    )
    demo = subprocess.run(
        _demo_command(), env=env, cwd=ROOT, capture_output=True, text=True, timeout=150, check=False
    )
    assert demo.returncode == 0, f"otel-axolotl demo failed:\n{demo.stdout}\n{demo.stderr}"
    wanted = {"axolotl.run", "axolotl.epoch"}
    deadline = time.monotonic() + 20
    while not wanted <= _span_names(compose_port_collector.output()) and time.monotonic() < deadline:
        time.sleep(0.2)
    received = _span_names(compose_port_collector.output())
    assert wanted <= received, f"rotel received spans {sorted(received)}; demo stderr:\n{demo.stderr}"
