"""Settings, consent and ranks: every bad value gets one clear word and a safe default."""

from __future__ import annotations

import logging

import pytest

from otel_axolotl import consent, ranks
from otel_axolotl import settings as s


@pytest.fixture(autouse=True)
def _fresh_warnings():
    s._warned.clear()
    yield
    s._warned.clear()


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, None),
        ({"AXOLOTL_DO_NOT_TRACK": "0"}, True),
        ({"AXOLOTL_DO_NOT_TRACK": " FALSE "}, True),
        ({"AXOLOTL_DO_NOT_TRACK": "1"}, False),
        ({"AXOLOTL_DO_NOT_TRACK": "True"}, False),
        ({"AXOLOTL_DO_NOT_TRACK": "0", "DO_NOT_TRACK": "1"}, False),
        ({"AXOLOTL_DO_NOT_TRACK": "0", "DO_NOT_TRACK": "true"}, False),
        ({"AXOLOTL_DO_NOT_TRACK": "0", "DO_NOT_TRACK": "0"}, True),
        ({"DO_NOT_TRACK": "1"}, False),
    ],
)
def test_consent_values(env, expected):
    assert s.parse_consent(env) is expected


@pytest.mark.parametrize(
    "env", [{"AXOLOTL_DO_NOT_TRACK": "maybe"}, {"DO_NOT_TRACK": "sure", "AXOLOTL_DO_NOT_TRACK": "0"}]
)
def test_unreadable_consent_means_off_with_one_warning(env, caplog):
    caplog.set_level(logging.WARNING, "otel_axolotl")
    assert s.parse_consent(env) is False
    assert s.parse_consent(env) is False
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1
    assert "DO_NOT_TRACK" in warnings[0] and "accepted" in warnings[0]


def test_bad_numbers_and_choices_fall_back(caplog):
    caplog.set_level(logging.WARNING, "otel_axolotl")
    env = {
        "OTEL_AXOLOTL_SHUTDOWN_TIMEOUT": "soon",
        "OTEL_AXOLOTL_PRIVACY": "loose",
        "OTEL_AXOLOTL_STEP_SPANS": "2",
        "OTEL_AXOLOTL_CONSOLE": "perhaps",
    }
    cfg = s.Settings.from_env(env)
    assert cfg.shutdown_timeout == s.DEFAULT_SHUTDOWN_TIMEOUT
    assert cfg.privacy == "strict"
    assert cfg.step_span_ratio == 0.0
    assert cfg.console is False
    text = "\n".join(r.getMessage() for r in caplog.records)
    for name in env:
        assert name in text


@pytest.mark.parametrize(
    "url", ["localhost:4317", "ftp://127.0.0.1:4317", "http://", "http://127.0.0.1:notaport", "not a url"]
)
def test_malformed_endpoint_is_named_and_disables_otlp(url, caplog):
    caplog.set_level(logging.WARNING, "otel_axolotl")
    cfg = s.Settings.from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": url})
    assert cfg.otlp == {}
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" in caplog.text


def test_otlp_endpoints_per_signal():
    cfg = s.Settings.from_env(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://127.0.0.1:9999/custom",
            "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL": "grpc",
        }
    )
    assert cfg.otlp["traces"] == s.OtlpSignal("http://127.0.0.1:4318", "http/protobuf", False)
    assert cfg.otlp["metrics"] == s.OtlpSignal("http://127.0.0.1:9999/custom", "http/protobuf", True)
    assert cfg.otlp["logs"].protocol == "grpc"


def test_run_id_from_environment():
    assert s.Settings.from_env({"OTEL_AXOLOTL_RUN_ID": "AB" * 16}).run_id == "ab" * 16
    assert s.Settings.from_env({"OTEL_AXOLOTL_RUN_ID": "xyz"}).run_id is None


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, ranks.RankInfo(0, 0, 1)),
        ({"RANK": "3", "LOCAL_RANK": "1", "WORLD_SIZE": "8"}, ranks.RankInfo(3, 1, 8)),
        ({"SLURM_PROCID": "5", "SLURM_LOCALID": "1", "SLURM_NTASKS": "16"}, ranks.RankInfo(5, 1, 16)),
        ({"OMPI_COMM_WORLD_RANK": "2", "OMPI_COMM_WORLD_SIZE": "4"}, ranks.RankInfo(2, 0, 4)),
        ({"GLOBAL_RANK": "1"}, ranks.RankInfo(1, 0, 1)),
        ({"RANK": "garbage", "SLURM_PROCID": "2"}, ranks.RankInfo(2, 0, 1)),
    ],
)
def test_rank_detection(env, expected):
    assert ranks.detect(env) == expected


def test_recorded_choice_round_trip_and_precedence(tmp_path):
    path = tmp_path / "cfg" / "config.yaml"
    assert consent.read_recorded_choice(path) is None
    consent.record_choice(True, path)
    assert consent.read_recorded_choice(path) is True
    recorded = consent.read_recorded_choice(path)
    # The file counts as an explicit choice; the environment always wins over it.
    assert consent.decide(s.Settings(), recorded=recorded) == consent.ConsentDecision(
        True, True, "config file"
    )
    env = {"AXOLOTL_DO_NOT_TRACK": "1"}
    decided = consent.decide(s.Settings.from_env(env), recorded=recorded, env=env)
    assert decided.product_telemetry is False and decided.source == "AXOLOTL_DO_NOT_TRACK"


def test_malformed_recorded_choice_is_no_choice(tmp_path, caplog):
    path = tmp_path / "config.yaml"
    path.write_text("product_telemetry: [oops\n")
    caplog.set_level(logging.WARNING, "otel_axolotl")
    assert consent.read_recorded_choice(path) is None
    assert str(path) in caplog.text and "product_telemetry: true" in caplog.text


def test_settings_hold_everything_below_the_manager_reads():
    env = {
        "RANK": "1",
        "LOCAL_RANK": "1",
        "WORLD_SIZE": "2",
        "OTEL_AXOLOTL_RANKS": "main",
        "OTEL_AXOLOTL_SIGNALS": "false",
        "OTEL_AXOLOTL_SPOOL": "false",
        "OTEL_AXOLOTL_SPOOL_DIR": "/somewhere/spool",
        "OTEL_AXOLOTL_SPOOL_MAX_BYTES": "1024",
        "OTEL_AXOLOTL_GPUS": "all",
        "CUDA_VISIBLE_DEVICES": "1,0",
        "OTEL_AXOLOTL_CONFIG_FILE": "/somewhere/config.yaml",
        "TORCHELASTIC_RUN_ID": "job-1",
        "TORCHELASTIC_RESTART_COUNT": "2",
    }
    cfg = s.Settings.from_env(env)
    assert cfg.rank == ranks.RankInfo(1, 1, 2) and cfg.rank_strategy == "main"
    assert cfg.signals is False and cfg.spool is False and cfg.spool_max_bytes == 1024
    assert str(cfg.spool_dir) == "/somewhere/spool" and str(cfg.config_file) == "/somewhere/config.yaml"
    assert cfg.gpus == "all" and cfg.cuda_visible_devices == "1,0"
    assert cfg.shared_run_id == ranks.shared_run_id(env) and cfg.restart_attempt == "2"


def test_env_argument_is_honoured_by_the_spool(tmp_path, monkeypatch):
    """Issue 17 item 2: ``TelemetryManager(env=...)`` spools where that env says, not where the
    process environment (or the home directory default) would."""
    from otel_axolotl import semconv as sc
    from otel_axolotl.manager import TelemetryManager
    from tests.support.posthog_capture import refused_url

    process_dir, given_dir = tmp_path / "process", tmp_path / "given"
    monkeypatch.setenv("OTEL_AXOLOTL_SPOOL_DIR", str(process_dir))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    # The OTLP exporter reads its own variables: its retries end well within the deadline.
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "0.5")
    env = {
        "AXOLOTL_DO_NOT_TRACK": "1",
        "OTEL_EXPORTER_OTLP_ENDPOINT": refused_url(),
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_AXOLOTL_SPOOL_DIR": str(given_dir),
        "OTEL_AXOLOTL_HARDWARE_METRICS": "false",
    }
    manager = TelemetryManager(env=env, show_consent_notice=False)
    assert manager.destinations == ["otlp"]
    manager.start_run()
    manager.send_event(sc.EVENT_TRAIN_PROGRESS, {"step": 1})
    manager.end_run("completed")
    manager.shutdown(timeout=3)
    assert list((given_dir / "otlp").glob("*/*.jsonl")), "spooled where env= says"
    assert not process_dir.exists() and not (tmp_path / "home").exists()


def test_no_argument_manager_is_the_process_manager():
    """Issue 17: ``TelemetryManager()`` is the singleton, as Axolotl's is; arguments make a
    private one."""
    from otel_axolotl import manager as manager_module
    from otel_axolotl.manager import TelemetryManager

    first = TelemetryManager()
    assert TelemetryManager() is first is TelemetryManager.get_instance() is manager_module.current()
    private = TelemetryManager(show_consent_notice=False)
    assert private is not first
    first.shutdown()
    # Issue 14 item 5 (the old "replaced after shutdown" was the bug): it stays shut.
    assert TelemetryManager() is first is TelemetryManager.get_instance(), "a shut-down manager stays"
    manager_module.reset_default()  # the test-only way to start again
    assert TelemetryManager() is not first
