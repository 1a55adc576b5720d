"""Disabled means silent: no SDK, no thread, no socket, during a whole real training run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

_SCRIPT = textwrap.dedent(
    """
    import json, sys, threading
    connects = []
    def audit(event, args):
        if event in ("socket.connect", "socket.bind", "socket.sendto"):
            connects.append(event)
    sys.addaudithook(audit)
    before = {t.ident for t in threading.enumerate()}

    import otel_axolotl
    manager = otel_axolotl.init()
    after_init = {t.ident for t in threading.enumerate()}

    train = sys.argv[1] == "train"
    if train:
        import tempfile
        from transformers import Trainer
        from otel_axolotl.demo import build_model_and_data, training_arguments
        model, data, _ = build_model_and_data(samples=16)
        with tempfile.TemporaryDirectory() as tmp:
            trainer = Trainer(model=model, args=training_arguments(tmp, epochs=1, eval_strategy="no",
                              save_strategy="no"), train_dataset=data)
            trainer.train()
            callbacks = [type(c).__name__ for c in trainer.callback_handler.callbacks]
    else:
        callbacks = []
    manager.send_event("config-loaded", {"a": 1})
    otel_axolotl.shutdown()
    ours = [t.name for t in threading.enumerate() if t.ident not in before
            and any(k in t.name.lower() for k in ("otel", "posthog", "batch", "consumer", "metric"))]
    print(json.dumps({
        "active": manager.active,
        "destinations": manager.destinations,
        "connects": connects,
        "new_threads_after_init": len(after_init - before),
        "our_threads": ours,
        # torch itself imports pynvml; what matters is that our hardware module never loaded.
        "sdk_imported": [m for m in ("opentelemetry.sdk.trace", "posthog", "grpc", "otel_axolotl.hardware")
                         if m in sys.modules],
        "callbacks": callbacks,
    }))
    """
)


def _run(env_extra: dict[str, str], mode: str = "import") -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AXOLOTL_", "DO_NOT"))}
    env.update(env_extra)
    env["OTEL_AXOLOTL_CONFIG_FILE"] = os.devnull
    result = subprocess.run(
        [sys.executable, "-c", _SCRIPT, mode], env=env, capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "env",
    [
        {"DO_NOT_TRACK": "1"},
        {"AXOLOTL_DO_NOT_TRACK": "1"},
        {"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"},
        {},  # nobody decided and no endpoint: product telemetry stays off, nothing else is configured
    ],
    ids=["DO_NOT_TRACK", "AXOLOTL_DO_NOT_TRACK", "OTEL_SDK_DISABLED", "no-choice"],
)
def test_disabled_init_builds_nothing(env):
    report = _run(env)
    assert report["active"] is False and report["destinations"] == []
    assert report["connects"] == []
    assert report["new_threads_after_init"] == 0
    assert report["sdk_imported"] == [], "the disabled path must not even import the SDK or exporters"


@pytest.mark.e2e
@pytest.mark.timeout(240)
def test_disabled_training_run_is_silent():
    report = _run({"DO_NOT_TRACK": "1"}, mode="train")
    assert report["connects"] == [], "no socket may be opened by a disabled SDK during training"
    assert report["our_threads"] == []
    assert "TelemetryCallback" not in report["callbacks"], "nothing to report: Trainer is left untouched"
    assert report["sdk_imported"] == []


_NO_TRANSFORMERS = textwrap.dedent(
    """
    import importlib.metadata as md, sys
    # transformers absent, as far as both imports and installed metadata can tell
    _version = md.version
    def version(name):
        if name.lower() == "transformers":
            raise md.PackageNotFoundError(name)
        return _version(name)
    md.version = version
    sys.modules["transformers"] = None

    import otel_axolotl
    manager = otel_axolotl.init()
    assert manager.active, manager.destinations  # something is enabled: init() tries to instrument
    manager.send_event("config-loaded", {"a": 1})
    otel_axolotl.shutdown()
    otel_axolotl.shutdown()  # twice: still silent
    manager.shutdown()
    print("DONE")
    """
)


def test_init_without_transformers_and_shutdown_twice_are_silent(tmp_path):
    """Issue 17 item 5: no ERROR from the instrumentor's dependency check, no OTel warning on
    a second shutdown: stderr stays empty."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AXOLOTL_", "DO_NOT"))}
    env.update(
        AXOLOTL_DO_NOT_TRACK="1",
        OTEL_AXOLOTL_FILE=str(tmp_path / "telemetry.jsonl"),
        OTEL_AXOLOTL_CONFIG_FILE=os.devnull,
        OTEL_AXOLOTL_SPOOL_DIR=str(tmp_path / "spool"),
    )
    result = subprocess.run(
        [sys.executable, "-c", _NO_TRANSFORMERS], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "DONE"
    assert result.stderr == ""
    assert "config-loaded" in (tmp_path / "telemetry.jsonl").read_text()


def test_a_manager_given_no_destinations_imports_no_pipeline() -> None:
    """``TelemetryManager(destinations=[])``: nothing to build, so neither the privacy stage,
    the runtime nor the OpenTelemetry SDK is imported (as on the disabled path)."""
    code = (
        "import sys\n"
        "from otel_axolotl.manager import TelemetryManager\n"
        "m = TelemetryManager(destinations=[], show_consent_notice=False)\n"
        "assert not m.active\n"
        "heavy = [n for n in sys.modules if n.startswith(('otel_axolotl.privacy', 'otel_axolotl.runtime',"
        " 'otel_axolotl.destinations', 'opentelemetry.sdk'))]\n"
        "assert not heavy, heavy\n"
    )
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), str(root / "exporters")])}
    env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
