"""Planted canaries through every in-process entry point, searched in the bytes each destination
would put on the wire (issue 13).

One real ``TelemetryManager`` feeds three in-memory destinations at once: strict (OTLP's
default), secrets-only (OTLP on request) and product analytics (PostHog's scrubber: strict,
SDK resource facts only). Each example plants generated secrets and personal values into a
config (``send_event``), a custom event name and an error-family name, a span name, its
attributes, events, exception and status (the manager's tracer), a metric's name,
description and unit (its meter), the loop API (model, logged values, an exception) and a
``send_errors`` failure; then the three destinations' spans, events and metrics are encoded
to OTLP protobuf bytes and searched: no secret at any level, no personal value at strict.
The resource carries an ``OTEL_SERVICE_NAME`` and ``OTEL_RESOURCE_ATTRIBUTES`` of the user's:
product analytics must never see them. Useful data must still arrive.
"""

from __future__ import annotations

import contextlib
import os
import secrets as random_secrets
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry import context as otel_context
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.trace import Status, StatusCode

from otel_axolotl import loop
from otel_axolotl import manager as manager_module
from otel_axolotl.destinations import Destination
from otel_axolotl.errors import send_errors
from otel_axolotl.manager import TelemetryManager
from otel_axolotl.privacy.values import Level
from tests.support.canaries import Canary, canary_config, personal_canaries, secret_canaries
from tests.support.capture import Captured

HF = "hf_" + "Qz7" * 12
SERVICE = "zqsvc" + random_secrets.token_hex(3)
RESOURCE_VALUE = "zqenv" + random_secrets.token_hex(3)
RESOURCE_SECRET = "ghp_" + "Zq1x" * 9
WHITELISTED = "meta-llama/Llama-3.1-8B"


class Sinks:
    """The three destinations and the wire bytes each received since the last ``take``."""

    def __init__(self) -> None:
        self.strict = Captured(Level.STRICT, "strict")
        self.secrets_only = Captured(Level.SECRETS_ONLY, "secrets-only")
        self.product = Captured(Level.STRICT, "product")
        self.product.destination = Destination(
            "product",
            Level.STRICT,
            self.product.span_exporter,
            self.product.log_exporter,
            self.product.metric_exporter,
            product_analytics=True,
        )
        self.all = (self.strict, self.secrets_only, self.product)

    def take(self, captured: Captured) -> bytes:
        """Spans, events and metrics as OTLP protobuf, then forgotten."""
        parts = []
        spans = captured.spans
        if spans:
            parts.append(encode_spans(spans).SerializeToString())
        records = captured.log_records
        if records:
            parts.append(encode_logs(records).SerializeToString())
        for data in captured.metrics_data:
            parts.append(encode_metrics(data).SerializeToString())
        captured.span_exporter.clear()
        captured.log_exporter.clear()
        captured.metric_exporter.exports.clear()
        return b"\n".join(parts)


@pytest.fixture()
def wired() -> Iterator[tuple[TelemetryManager, Sinks]]:
    saved = {k: os.environ.get(k) for k in ("OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES")}
    os.environ["OTEL_SERVICE_NAME"] = SERVICE
    os.environ["OTEL_RESOURCE_ATTRIBUTES"] = (
        f"deployment.environment={RESOURCE_VALUE},os.type={RESOURCE_VALUE}x,team.token={RESOURCE_SECRET}"
    )
    manager_module.reset_default()
    token = otel_context.attach(otel_context.Context())
    sinks = Sinks()
    manager = manager_module.get_default(
        destinations=[c.destination for c in sinks.all], show_consent_notice=False
    )
    for captured in sinks.all:
        captured.manager = manager
    try:
        yield manager, sinks
    finally:
        manager_module.reset_default()
        otel_context.detach(token)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _needles(canaries: list[Canary]) -> tuple[list[str], list[str]]:
    secret = [n for c in canaries if c.secret for n in c.needles]
    personal = [n for c in canaries if not c.secret for n in c.needles]
    return secret, personal


@send_errors
def _user_function_that_fails(message: str) -> None:
    raise ValueError(message)


def _plant(manager: TelemetryManager, canaries: list[Canary], config: dict[str, Any]) -> None:
    texts = [c.text for c in canaries]
    message = "failed near " + " and ".join(texts)
    manager.send_event("config-loaded", config)
    manager.send_event(f"custom {texts[0]}", {"notes": message, "items": texts})
    manager.send_event("zqlab.zqmodule.train-error", {"exception": message})
    tracer = manager.tracer
    with tracer.start_as_current_span(f"load {texts[0]}") as span:
        span.set_attribute("axolotl.config.notes", message)
        span.set_attribute("axolotl.config.argv", ["--hf_token", HF, "--lr", "0.1", *texts])
        span.set_attribute("unregistered.key", message)
        span.set_attribute("gen_ai.request.model", texts[-1])
        span.set_attribute("code.function.name", "zqlab.train.main")
        span.set_attribute("exception.type", "zqlab.errors.ZqError")
        span.add_event(f"note {texts[-1]}", {"axolotl.event.message": message})
        span.record_exception(RuntimeError(message))
        span.set_status(Status(StatusCode.ERROR, message))
    meter = manager.meter
    meter.create_counter(f"zq_{len(texts)}_metric", unit="{zq}", description=message).add(1)
    meter.create_counter(HF, description="a secret as a metric name").add(1)
    meter.create_gauge("axolotl.eval.loss", unit="{loss}", description=message).set(0.5)
    with contextlib.suppress(RuntimeError), loop.run(manager, model=texts[0], max_steps=2) as run:
        run.log(loss=0.25, learning_rate=2e-4)
        raise RuntimeError(message)
    with contextlib.suppress(ValueError):
        _user_function_that_fails(message)


EXAMPLES = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))


@EXAMPLES
@given(
    st.lists(st.one_of(secret_canaries(), personal_canaries()), min_size=1, max_size=4),
    canary_config(),
)
def test_no_canary_reaches_any_destination_through_any_entry_point(
    wired: tuple[TelemetryManager, Sinks], canaries: list[Canary], config_case: Any
) -> None:
    manager, sinks = wired
    config, config_needles = config_case
    _plant(manager, canaries, config)
    manager.force_flush(timeout=10)
    secret, personal = _needles(canaries)
    strict, secrets_only, product = (sinks.take(c) for c in sinks.all)
    for needle in secret:
        for level, raw in (("strict", strict), ("secrets-only", secrets_only), ("product", product)):
            assert needle.encode() not in raw, f"a secret reached the {level} destination"
    for needle in [*personal, *config_needles]:
        assert needle.encode() not in strict, "a personal value reached the strict destination"
        assert needle.encode() not in product, "a personal value reached product analytics"
    assert HF.encode() not in strict + secrets_only + product
    assert RESOURCE_SECRET.encode() not in strict + secrets_only + product
    for user_value in (SERVICE, RESOURCE_VALUE):
        assert user_value.encode() not in product, "a user-configured resource fact reached product analytics"
    # what the user configured (OTEL_RESOURCE_ATTRIBUTES) is theirs, at every level (issue 15),
    # secrets removed (RESOURCE_SECRET above); never product analytics
    assert RESOURCE_VALUE.encode() in strict and RESOURCE_VALUE.encode() in secrets_only
    assert b"zqlab" not in strict and b"zqlab" not in product  # user module names
    assert b"[REDACTED:" in strict and b"[REDACTED:" in product


def test_useful_data_still_arrives(wired: tuple[TelemetryManager, Sinks]) -> None:
    manager, sinks = wired
    manager.send_event(
        "config-loaded",
        {
            "base_model": WHITELISTED,
            "learning_rate": 2e-4,
            "micro_batch_size": 4,
            "optimizer": "adamw_torch_fused",
            "lr_scheduler": "cosine",
            "bf16": "auto",
            "adapter": "lora",
            "datasets": [{"path": "HuggingFaceTB/smoltalk", "type": "chat_template"}],
        },
    )
    with contextlib.suppress(ValueError):  # Axolotl's error event: type and frames, no message
        _user_function_that_fails("CUDA out of memory. Tried to allocate 2.00 GiB")
    with manager.tracer.start_as_current_span("axolotl.epoch") as span:  # the message: on the span
        span.record_exception(ValueError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    manager.force_flush(timeout=10)
    for captured in (sinks.strict, sinks.product):
        raw = sinks.take(captured)
        for kept in (
            WHITELISTED,
            "HuggingFaceTB/smoltalk",
            "adamw_torch_fused",
            "cosine",
            "chat_template",
            "lora",
            "CUDA out of memory. Tried to allocate 2.00 GiB",
            "ValueError",
            "otel_axolotl/errors.py",  # a package frame
            "user_code.function-error",
            "axolotl.epoch",
        ):
            assert kept.encode() in raw, f"{kept!r} should reach {captured.destination.name}"
        assert b"micro_batch_size" in raw
    sinks.take(sinks.secrets_only)


def test_the_service_name_reaches_the_users_own_backend_only(wired: tuple[TelemetryManager, Sinks]) -> None:
    manager, sinks = wired
    manager.send_event("train-progress", {"step": 1})
    manager.force_flush(timeout=10)
    strict, secrets_only, product = (sinks.take(c) for c in sinks.all)
    assert SERVICE.encode() in strict and SERVICE.encode() in secrets_only
    assert SERVICE.encode() not in product
    assert RESOURCE_VALUE.encode() in secrets_only  # what the user configured, for the user
    assert RESOURCE_SECRET.encode() not in secrets_only
