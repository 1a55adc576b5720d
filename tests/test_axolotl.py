"""Axolotl's real ``axolotl.telemetry`` (0.21.0) routed through ``AxolotlInstrumentor``.

Axolotl is installed without its dependencies (``pip install --no-deps
--ignore-requires-python axolotl==0.21.0``: its telemetry modules need only torch,
transformers, posthog, psutil and PyYAML); these tests skip when it is absent.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.posthog_capture import PostHogCaptureServer
from tests.support.rotel import Rotel
from tests.support.scripts import SCRIPTS, child_env, marker, start

pytest.importorskip(
    "axolotl.telemetry.manager",
    reason="axolotl is not installed: pip install --no-deps --ignore-requires-python axolotl==0.21.0",
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

SCRIPT = SCRIPTS / "axolotl_telemetry.py"
AXOLOTL_POSTHOG_HOST = "https://app.posthog.com"  # hard-coded in axolotl.telemetry.manager


def _run(mode: str, env: dict[str, str]) -> tuple[dict[str, Any], str]:
    proc = start([str(SCRIPT), mode], env)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, output[-4000:]
    fields = marker(output, "RESULT")
    assert fields, output[-4000:]
    return json.loads(" ".join(fields)), output


def _otlp_event_names(rotel: Rotel) -> list[str]:
    return [log["event_name"] for log in rotel.recorder.received.logs]


def test_axolotl_events_reach_rotel_and_posthog_once_each_scrubbed(
    rotel_collector: Rotel, posthog_server: PostHogCaptureServer, tmp_path: Path
) -> None:
    env = child_env(
        tmp_path / "spool",
        AXOLOTL_DO_NOT_TRACK="0",  # consent, by this SDK's rules
        OTEL_AXOLOTL_POSTHOG_API_KEY="phc_test_project_key",
        OTEL_AXOLOTL_POSTHOG_HOST=posthog_server.url,
        OTEL_EXPORTER_OTLP_ENDPOINT=rotel_collector.grpc_endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL="grpc",
    )
    result, _ = _run("routed", env)
    assert result["singleton"] and result["routed_enabled"] and result["routed_run_id"]
    assert result["callback_class"] == "otel_axolotl.callbacks", "Axolotl's callback is this SDK's"
    assert result["subclass_class"] == "OwnCallback", "a subclass of it is left alone"

    # Axolotl's own PostHog client never existed (this SDK's exporter posts without one).
    assert result["clients"] == [] and result["outside"] == []
    assert not result["default_client_built"]
    assert result["posthog_module_host"] != AXOLOTL_POSTHOG_HOST  # its _init_posthog never ran

    # The script's own functions are user code: fixed placeholders, one event per error (issue 13).
    # inner_routed's error passed Axolotl's own (early-bound) wrapper of early_outer too: once.
    error_name = "user_code.function-error"
    errors = [error_name] * 3
    expected = ["config-loaded", "system-info", "model-load", *errors]
    assert posthog_server.wait_for(lambda events: len(events) >= len(expected), 10)
    assert rotel_collector.recorder.wait_for(
        lambda r: len([x for x in r.logs if x["event_name"]]) >= len(expected)
    )
    posthog_names = [e["event"] for e in posthog_server.events]
    otlp_names = _otlp_event_names(rotel_collector)
    for names in (posthog_names, otlp_names):
        assert sorted(n for n in names if n in expected) == sorted(expected), names  # once each
        assert not [n for n in names if n.endswith("-error") and n not in errors], names
    product_ids = {e["distinct_id"] for e in posthog_server.events}
    assert len(product_ids) == 1 and result["run_id"] not in product_ids  # one random product id

    config = next(e for e in posthog_server.events if e["event"] == "config-loaded")["properties"]
    assert config["base_model"] == "meta-llama/Llama-3.1-8B"  # whitelisted organisation
    assert config["output_dir"] == "[REDACTED:path]" and config["hf_token"] == "[REDACTED:secret]"
    assert config["learning_rate"] == 0.0002
    error = next(
        e["properties"]
        for e in posthog_server.events
        if e["event"] == error_name and e["properties"]["exception"]["type"] == "FileNotFoundError"
    )
    assert error["exception"] == {"type": "FileNotFoundError", "module": "builtins"}
    last = error["stack_trace"]["frames"][-1]
    assert (last["filename"], last["function"]) == ("user_code", "function") and last["lineno"] > 0
    sent = repr([r.body for r in posthog_server.requests]) + repr(rotel_collector.recorder.received.logs)
    assert "/home/alice" not in sent and "hf_abcdefghij" not in sent and "private-" not in sent


def test_uninstrument_gives_axolotl_its_own_telemetry_back(rotel_collector: Rotel, tmp_path: Path) -> None:
    env = child_env(
        tmp_path / "spool",
        AXOLOTL_DO_NOT_TRACK="1",  # Axolotl's own manager, once restored, is off: nothing leaves
        OTEL_EXPORTER_OTLP_ENDPOINT=rotel_collector.grpc_endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL="grpc",
    )
    result, _ = _run("restored", env)
    assert result["singleton"] and result["routed_enabled"], "routed to the OTLP-only manager first"
    assert result["callback_class"] == "otel_axolotl.callbacks"
    assert result["own_manager_class"] == "axolotl.telemetry.manager.TelemetryManager"
    assert result["own_singleton"] and result["own_enabled"] is False
    assert result["send_errors_module"] == "axolotl.telemetry.errors"
    assert result["callback_class_after"] == "axolotl.telemetry.callbacks"
    assert result["early_forwards_to_own"], "a reference kept while instrumented follows Axolotl again"
    assert result["clients"] == [] and not result["default_client_built"] and result["outside"] == []

    assert rotel_collector.recorder.wait_for(
        lambda r: {"model-load", "user_code.function-error"} <= {x["event_name"] for x in r.logs}
    )
    names = _otlp_event_names(rotel_collector)
    assert names.count("user_code.function-error") == 1, "only the error raised while instrumented"
    assert "peft-config-load" not in names


def test_otel_axolotl_run_routes_axolotl_in_the_child_command(tmp_path: Path) -> None:
    """``otel-axolotl run -- python ...``: its sitecustomize calls ``init()``, which applies the
    instrumentor before the command imports anything of Axolotl."""
    import subprocess
    import sys

    probe = (
        "from axolotl.telemetry.manager import TelemetryManager\n"
        "from axolotl.telemetry.callbacks import TelemetryCallback\n"
        "manager, callback = TelemetryManager.get_instance(), TelemetryCallback()\n"
        "print('PROBE', type(manager).__name__, type(callback).__module__)\n"
    )
    env = child_env(tmp_path, AXOLOTL_DO_NOT_TRACK="1")
    result = subprocess.run(
        [sys.executable, "-m", "otel_axolotl.cli", "run", "--", sys.executable, "-c", probe],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert marker(result.stdout, "PROBE") == ["AxolotlManager", "otel_axolotl.callbacks"], result.stdout
