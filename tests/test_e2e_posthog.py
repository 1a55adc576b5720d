"""Product telemetry into a local PostHog-speaking server, through the real posthog client."""

from __future__ import annotations

import time

import pytest

from otel_axolotl import manager as manager_module
from otel_axolotl.manager import TelemetryManager
from tests.support.posthog_capture import PostHogCaptureServer, refused_url

pytestmark = [pytest.mark.e2e]


def _train(manager: TelemetryManager, tmp_path, samples: int = 32) -> None:
    from transformers import Trainer

    from otel_axolotl.callbacks import TelemetryCallback
    from otel_axolotl.demo import build_model_and_data, training_arguments

    model, train, evaluation = build_model_and_data(samples=samples)
    Trainer(
        model=model,
        args=training_arguments(str(tmp_path), epochs=1),
        train_dataset=train,
        eval_dataset=evaluation,
        callbacks=[TelemetryCallback(manager)],
    ).train()


def _consent(monkeypatch, server_url: str) -> None:
    monkeypatch.setenv("AXOLOTL_DO_NOT_TRACK", "0")
    monkeypatch.setenv("OTEL_AXOLOTL_POSTHOG_API_KEY", "phc_test_project_key")
    monkeypatch.setenv("OTEL_AXOLOTL_POSTHOG_HOST", server_url)


@pytest.mark.timeout(120)
def test_consented_run_reaches_posthog_under_axolotl_event_names(
    posthog_server: PostHogCaptureServer, monkeypatch, tmp_path
):
    _consent(monkeypatch, posthog_server.url)
    manager = TelemetryManager()
    assert manager.enabled and manager.destinations == ["posthog"]
    manager.send_event(
        "config-loaded",
        {"base_model": "meta-llama/Llama-3.1-8B", "output_dir": str(tmp_path), "learning_rate": 2e-4},
    )
    _train(manager, tmp_path)
    assert manager.shutdown()
    assert posthog_server.wait_for(lambda events: any(e["event"] == "train-end" for e in events), 5)

    events = posthog_server.events
    names = [e["event"] for e in events]
    assert names.count("train-start") == 1
    assert names.count("train-end") == 1
    assert names.count("config-loaded") == 1
    assert names.count("system-info") == 1
    assert "axolotl.run" not in names and "axolotl.epoch" not in names  # spans only when asked
    # Every event: one random product id (never the run's trace id, which the user's tracing
    # backend holds: issue 13 item 5), no GeoIP, no person profile.
    (product_id,) = {e["distinct_id"] for e in events}
    assert len(product_id) == 32 and product_id != manager.run_id
    assert all(e["properties"]["$geoip_disable"] is True for e in events)
    assert all(e["properties"]["$process_person_profile"] is False for e in events)
    assert len({e["uuid"] for e in events}) == len(events)
    config = next(e for e in events if e["event"] == "config-loaded")["properties"]
    assert config["base_model"] == "meta-llama/Llama-3.1-8B"  # whitelisted organisation
    assert config["output_dir"] == "[REDACTED:path]"
    assert config["learning_rate"] == 2e-4
    end = next(e for e in events if e["event"] == "train-end")["properties"]
    assert end["total_steps"] == 4 and "peak_cpu_memory_bytes" in end
    assert str(tmp_path) not in repr([r.body for r in posthog_server.requests])


@pytest.mark.timeout(60)
def test_non_main_rank_sends_no_product_telemetry(posthog_server: PostHogCaptureServer, monkeypatch):
    _consent(monkeypatch, posthog_server.url)
    monkeypatch.setenv("RANK", "1")
    manager = TelemetryManager()
    assert not manager.enabled and not manager.active
    manager.send_event("config-loaded", {"a": 1})
    manager.shutdown()
    assert posthog_server.events == []


def test_no_key_means_no_posthog_destination_with_one_clear_line(monkeypatch, caplog):
    monkeypatch.setenv("AXOLOTL_DO_NOT_TRACK", "0")
    from otel_axolotl import settings

    settings._warned.discard("posthog:key")
    manager = TelemetryManager()
    assert manager.destinations == [] and not manager.enabled
    assert "OTEL_AXOLOTL_POSTHOG_API_KEY" in caplog.text


def test_notice_only_when_undecided_with_a_key_on_the_main_rank(monkeypatch, capsys):
    monkeypatch.setenv("OTEL_AXOLOTL_POSTHOG_API_KEY", "phc_test_project_key")
    monkeypatch.setenv("OTEL_AXOLOTL_POSTHOG_HOST", refused_url())
    TelemetryManager().shutdown()
    assert "AXOLOTL_DO_NOT_TRACK=0" in capsys.readouterr().err
    monkeypatch.setenv("RANK", "1")
    started = time.monotonic()
    monkeypatch.setenv("OTEL_AXOLOTL_NOTICE_SECONDS", "30")
    manager_module.reset_default()  # a new process start (a shut manager stays shut)
    TelemetryManager().shutdown()
    assert time.monotonic() - started < 5, "a non-main rank never waits"
    assert capsys.readouterr().err == ""
    monkeypatch.delenv("RANK")
    monkeypatch.setenv("AXOLOTL_DO_NOT_TRACK", "1")
    manager_module.reset_default()
    TelemetryManager().shutdown()
    assert capsys.readouterr().err == "", "an explicit choice silences the notice"
