"""Planted canaries never leave: a real run with a poisoned config and a poisoned exception,
exported to the real rotel collector (OTLP/gRPC) and to a PostHog-speaking server at once.

The assertion is on the raw bytes both servers received (protobuf as sent, the PostHog
batch body after gzip), not on a parsed view that could hide a field.
"""

from __future__ import annotations

import json
import socket

import pytest

from otel_axolotl.manager import TelemetryManager
from tests.support.posthog_capture import PostHogCaptureServer
from tests.support.rotel import Rotel

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

CANARY_USER = "zqcanaryuser"
SECRETS = {
    "hf": "hf_" + "Zq9" * 12,
    "hf_org": "api_org_" + "Qz8" * 11,
    "openai": "sk-proj-" + "Ab1Cd2Ef3Gh4" * 4,
    "github": "ghp_" + "a1B2c3D4e5F6g7H8i9J0" * 2,
    "github_pat": "github_pat_" + "11ABCDEFG0" * 4,
    "aws": "AKIAZQCANARY7EXAMPL",
    "wandb": "0123456789abcdef0123456789abcdef01234567",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ6cWNhbmFyeSJ9.c2lnbmF0dXJlX3pxY2FuYXJ5",
    "password": "Zq-pass-w0rd-canary",
    # issue 13: families the first pass did not know
    "slack": "xoxb-2718281828-3141592653-ZqCanaryZqCanaryZqCanary",
    "stripe": "sk_live_" + "Zq4canaryZq4canary" * 2,
    "pypi": "pypi-AgEIcHlwaS5vcmc" + "ZqCanary_-" * 8,
    "npm": "npm_" + "ZqCanary" * 4 + "Zq1x",
    "gitlab": "glpat-" + "ZqCanary-x" * 2,
    "google": "AIza" + "SyZqCanaryZqCanaryZqCanaryZqCanary1",
    "groq": "gsk_" + "ZqCanary9" * 6,
    "anthropic": "sk-ant-api03-" + "ZqCanary-_" * 9,
    "azure": "Zq" + "AzureCanaryKey0" * 5 + "ab==",
    "base64": "aGZf" + "WnE5WnE5WnE5WnE5WnE5WnE5WnE5WnE5WnE5WnE5WnE5",  # base64 of an hf_ token
    "db_pass": "Zq-db-canary-pw-77",
    "query_sig": "ZqSigCanary0123456789",
    "webhook": "ZqHookCanaryZqHookCanary24",
    "flag": "ZqFlagCanary0987654321",
    "entropy": "Q7vZq2mXk9LpWn4RtY8sBd3FhJ6cGz1N",
}
PERSONAL = {
    "email": f"{CANARY_USER}@example.org",
    "ip": "203.0.113.77",
    "home": f"/home/{CANARY_USER}/data/train.jsonl",
    "mac_home": f"/Users/{CANARY_USER}/models",
    "windows": f"C:\\Users\\{CANARY_USER}\\AppData\\ckpt",
    # issue 13: personal kinds strict let through before
    "plain_user": "zqcanaryplainuser",
    "plain_host": "zqcanary-node-17",
    "internal_url": "https://zqcanaryhost.corp.internal:8443/api",
    "relative": "zqcanaryrel/data/train.jsonl",
    "unicode_email": "zqcanaryjürgen@exämple.de",
    "mac_dash": "0A-1B-2C-3D-4E-5F",
    "cloud_host": "ip-10-77-0-13.ec2.internal",
    "unc_forward": "//zqcanaryserver/share",
    "windows_space": "C:\\Users\\Zqcanary Smith\\Desktop",
    "list_model": "zqcanarylist-org/model",
}
PROBES = {  # the part of a value that must not arrive, where it is not the whole value
    "internal_url": "zqcanaryhost",
    "relative": "zqcanaryrel",
    "unicode_email": "zqcanaryjürgen",
    "cloud_host": "10-77-0-13",
    "unc_forward": "zqcanaryserver",
    "windows_space": "Zqcanary",
    "windows": CANARY_USER,
}
OWN_HOST = socket.gethostname()
WHITELISTED_MODEL = "meta-llama/Llama-3.1-8B"
PRIVATE_MODEL = "zqcanary-org/secret-model"


def poisoned_config() -> dict:
    return {
        "base_model": WHITELISTED_MODEL,
        "tokenizer_config": PRIVATE_MODEL,
        "hub_model_id": f"{CANARY_USER}/finetune",
        "output_dir": PERSONAL["home"],
        "hf_token": SECRETS["hf"],
        "wandb_api_key": SECRETS["wandb"],
        "learning_rate": 2e-4,
        "optimizer": "adamw_torch",
        "datasets": [{"path": PERSONAL["mac_home"], "type": "alpaca"}],
        "notes": f"contact {PERSONAL['email']} from {PERSONAL['ip']} with {SECRETS['openai']}",
        "nested": {
            "auth": f"Bearer {SECRETS['jwt']}",
            "mirror": f"https://bob:{SECRETS['password']}@hub.example.org/x",
            "keys": [SECRETS["github"], SECRETS["github_pat"], SECRETS["aws"], SECRETS["hf_org"]],
            PERSONAL["windows"]: "a key that is a path",
            "argv": ["train.py", "--hf_token", SECRETS["flag"], "--lr", "0.1"],
            "models": ["meta-llama/Llama-3.1-8B", PERSONAL["list_model"]],
        },
        "username": PERSONAL["plain_user"],
        "hostname": PERSONAL["plain_host"],
        "host": OWN_HOST,
        "reward_model": PRIVATE_MODEL,
        "tags": [PERSONAL["relative"], PERSONAL["mac_dash"], PERSONAL["unc_forward"]],
        "secrets": {
            "slack": SECRETS["slack"],
            "stripe_checkout": SECRETS["stripe"],
            "pypi_upload": SECRETS["pypi"],
            "registry": SECRETS["npm"],
            "ci": SECRETS["gitlab"],
            "maps": SECRETS["google"],
            "llm": [SECRETS["groq"], SECRETS["anthropic"]],
            "blob": f"DefaultEndpointsProtocol=https;AccountName=mlstore;AccountKey={SECRETS['azure']}",
            "wrapped": SECRETS["base64"],
            "random": SECRETS["entropy"],
            "signing_key": "Zq-signing-canary",
        },
        "log_line": (
            f"DB_PASS={SECRETS['db_pass']} "
            f"https://storage.example.org/o?X-Amz-Signature={SECRETS['query_sig']}&v=1 "
            f"https://hooks.slack.com/services/T0/B0/{SECRETS['webhook']} "
            f"on {PERSONAL['cloud_host']} via {PERSONAL['internal_url']} by {PERSONAL['unicode_email']} "
            f"at {PERSONAL['windows_space']} on {OWN_HOST} using {PRIVATE_MODEL}"
        ),
    }


def canary_message() -> str:
    return (
        f"could not open {PERSONAL['home']} for {PERSONAL['email']} "
        f"(token {SECRETS['hf']}, key {SECRETS['aws']}, host {PERSONAL['ip']})"
    )


def test_no_canary_reaches_any_destination(
    rotel_collector: Rotel, posthog_server: PostHogCaptureServer, monkeypatch, tmp_path
):
    from transformers import Trainer, TrainerCallback

    from otel_axolotl.callbacks import TelemetryCallback
    from otel_axolotl.demo import build_model_and_data, training_arguments
    from otel_axolotl.errors import send_errors

    monkeypatch.setenv("AXOLOTL_DO_NOT_TRACK", "0")
    monkeypatch.setenv("OTEL_AXOLOTL_POSTHOG_API_KEY", "phc_test_project_key")
    monkeypatch.setenv("OTEL_AXOLOTL_POSTHOG_HOST", posthog_server.url)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rotel_collector.grpc_endpoint)
    manager = TelemetryManager()
    assert sorted(manager.destinations) == ["otlp", "posthog"]

    class Explode(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == 3:
                raise RuntimeError(canary_message())

    @send_errors
    def train() -> None:
        model, data, _ = build_model_and_data(samples=64)
        trainer = Trainer(
            model=model,
            args=training_arguments(str(tmp_path), epochs=1, eval_strategy="no", save_strategy="no"),
            train_dataset=data,
            callbacks=[TelemetryCallback(manager), Explode()],
        )
        trainer.train()

    # send_errors reports through the process's manager: TelemetryManager() above is that one
    manager.send_event("config-loaded", poisoned_config())
    with pytest.raises(RuntimeError):
        train()
    assert manager.shutdown(timeout=10)

    assert posthog_server.wait_for(lambda evs: any(e["event"].endswith("-error") for e in evs), 10)
    assert rotel_collector.recorder.wait_for(
        lambda r: (
            any(s["name"] == "axolotl.run" for s in r.spans)
            and any(log["event_name"].endswith("-error") for log in r.logs)
        )
    )
    posthog_bytes = "\n".join(json.dumps(r.body, ensure_ascii=False) for r in posthog_server.requests)
    otlp_bytes = b"\n".join(rotel_collector.recorder.received.raw)

    for name, value in {**SECRETS, **PERSONAL, "private_model": PRIVATE_MODEL}.items():
        probe = PROBES.get(name, value)
        assert probe not in posthog_bytes, f"{name} canary reached PostHog"
        assert probe.encode() not in otlp_bytes, f"{name} canary reached the OTLP collector"
    assert CANARY_USER not in posthog_bytes and CANARY_USER.encode() not in otlp_bytes
    assert "zqcanary" not in posthog_bytes.lower() and b"zqcanary" not in otlp_bytes.lower()
    if len(OWN_HOST) >= 6:  # this machine's own host name, planted in the config and a message
        assert OWN_HOST not in posthog_bytes and OWN_HOST.encode() not in otlp_bytes
    assert "test_e2e_privacy" not in posthog_bytes and b"test_e2e_privacy" not in otlp_bytes

    # What must survive does: the whitelisted model, package-relative frames, the error's shape.
    assert WHITELISTED_MODEL in posthog_bytes and WHITELISTED_MODEL.encode() in otlp_bytes
    assert "transformers/trainer.py" in posthog_bytes
    assert b"transformers/trainer.py" in otlp_bytes
    error_events = [e for e in posthog_server.events if e["event"].endswith("-error")]
    assert len(error_events) == 1
    assert error_events[0]["event"] == "user_code.function-error"  # the user's module stays home
    # Axolotl 0.21.0's structured body: the class, no message (issue 16)
    assert error_events[0]["properties"]["exception"] == {"type": "RuntimeError", "module": "builtins"}
    # Useful data of the second pass: option values and numbers of the config arrive.
    [config] = [e for e in posthog_server.events if e["event"] == "config-loaded"]
    assert config["properties"]["optimizer"] == "adamw_torch"
    assert config["properties"]["learning_rate"] == 2e-4
    assert "otel-axolotl" not in json.dumps(config["properties"].get("service.name", ""))  # no user resource
    run = [s for s in rotel_collector.recorder.received.spans if s["name"] == "axolotl.run"]
    # Issue 16: send_errors no longer ends the run (its caller may catch the error, as here);
    # the run never completed, so shutdown ends it as not completed.
    assert run and run[0]["attributes"]["axolotl.run.status"] == "failed"  # it escaped train() (issue 14)
    assert run[0]["status_code"] == 2  # STATUS_CODE_ERROR
