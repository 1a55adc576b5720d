"""Product telemetry into a local PostHog-speaking server, through the real posthog client."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass

import pytest

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
    assert "axolotl.run" in names and "axolotl.epoch" in names  # spans arrive as events too
    # Every event: the anonymous run id, no GeoIP, no person profile.
    assert {e["distinct_id"] for e in events} == {manager.run_id}
    assert all(e["properties"]["$geoip_disable"] is True for e in events)
    assert all(e["properties"]["$process_person_profile"] is False for e in events)
    assert len({e["uuid"] for e in events}) == len(events)
    config = next(e for e in events if e["event"] == "config-loaded")["properties"]
    assert config["base_model"] == "meta-llama/Llama-3.1-8B"  # whitelisted organisation
    assert config["output_dir"] == "[REDACTED]"
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
    TelemetryManager().shutdown()
    assert time.monotonic() - started < 5, "a non-main rank never waits"
    assert capsys.readouterr().err == ""
    monkeypatch.delenv("RANK")
    monkeypatch.setenv("AXOLOTL_DO_NOT_TRACK", "1")
    TelemetryManager().shutdown()
    assert capsys.readouterr().err == "", "an explicit choice silences the notice"


_CHILD = textwrap.dedent(
    """
    import atexit, sys, tempfile, time
    done = []
    # Registered first, so it runs after every other exit hook (ours included): the time the
    # SDK's exit work took, before the interpreter's own teardown.
    atexit.register(lambda: print("HOOKS_DONE", time.monotonic() - done[0], flush=True))
    from transformers import Trainer
    import otel_axolotl
    from otel_axolotl.demo import build_model_and_data, training_arguments
    otel_axolotl.init()
    model, data, _ = build_model_and_data(samples=32)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(model=model, args=training_arguments(tmp, epochs=1, eval_strategy="no",
                          save_strategy="no"), train_dataset=data)
        trainer.train()
    instrumented = any(type(c).__name__ == "TelemetryCallback" for c in trainer.callback_handler.callbacks)
    done.append(time.monotonic())
    print("TRAINING_DONE", trainer.state.log_history[-1]["train_loss"], instrumented, flush=True)
    """
)


@dataclass
class ChildRun:
    loss: float
    instrumented: bool
    hooks_seconds: float  # training's end -> every exit hook done
    exit_seconds: float  # training's end -> process gone


def _run_child(env_extra: dict[str, str]) -> ChildRun:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AXOLOTL_", "DO_NOT"))}
    env.update(OTEL_AXOLOTL_CONFIG_FILE=os.devnull, **env_extra)
    if os.environ.get("OTEL_AXOLOTL_SPOOL_DIR"):  # the test's own spool, never ~/.cache
        env["OTEL_AXOLOTL_SPOOL_DIR"] = os.environ["OTEL_AXOLOTL_SPOOL_DIR"]
    proc = subprocess.Popen(
        [sys.executable, "-c", _CHILD], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    marker = hooks = ""
    for line in proc.stdout:  # the Trainer prints its own log lines first
        if line.startswith("TRAINING_DONE"):
            marker = line
            done_at = time.monotonic()
        elif line.startswith("HOOKS_DONE"):
            hooks = line
    proc.wait(timeout=60)
    exit_seconds = time.monotonic() - done_at
    assert proc.returncode == 0, proc.stderr.read()[-3000:] if proc.stderr else ""
    assert marker and hooks, "training must complete and exit hooks must run"
    _, loss, instrumented = marker.split()
    return ChildRun(float(loss), instrumented == "True", float(hooks.split()[1]), exit_seconds)


@pytest.fixture(scope="module")
def uninstrumented() -> ChildRun:
    """The same child with telemetry off, for the loss and the interpreter's own teardown
    (unloading torch and transformers takes 1.5-3 s on this machine by itself)."""
    return _run_child({"DO_NOT_TRACK": "1"})


@pytest.mark.timeout(180)
@pytest.mark.parametrize("mode", [400, 413, 429, 503, "refused", "silent"])
def test_training_finishes_and_exits_promptly_whatever_posthog_does(mode, posthog_server, uninstrumented):
    """Auto-instrumented run; the backend misbehaves; training completes with the same loss,
    and the SDK's exit work stays within its 2 s deadline."""
    url = refused_url() if mode == "refused" else posthog_server.url
    if mode != "refused":
        posthog_server.set_mode(mode)
    run = _run_child(
        {
            "AXOLOTL_DO_NOT_TRACK": "0",
            "OTEL_AXOLOTL_POSTHOG_API_KEY": "phc_test_project_key",
            "OTEL_AXOLOTL_POSTHOG_HOST": url,
        }
    )
    assert run.instrumented and not uninstrumented.instrumented, "init() adds the callback only when enabled"
    assert run.loss == uninstrumented.loss, "telemetry must not change training"
    # Every exit hook, ours and the PostHog exporter's, within the 2 s deadline (+ scheduling).
    assert run.hooks_seconds < 2.5, f"exit hooks took {run.hooks_seconds:.2f} s"
    # And no hang afterwards: the rest is the interpreter's teardown, as without telemetry.
    assert run.exit_seconds - run.hooks_seconds < uninstrumented.exit_seconds + 2.0, (
        f"exit {run.exit_seconds:.2f} s (hooks {run.hooks_seconds:.2f} s); "
        f"without telemetry {uninstrumented.exit_seconds:.2f} s"
    )
