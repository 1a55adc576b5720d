"""An unreachable collector is reported once, not once per export."""

from __future__ import annotations

import logging

from otel_axolotl.manager import TelemetryManager
from tests.support.rotel import free_port


def test_unreachable_collector_is_logged_once(monkeypatch, caplog):
    port = free_port()  # bound then released: nothing listens there
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1")
    caplog.set_level(logging.WARNING)
    manager = TelemetryManager()
    for batch in range(3):
        for i in range(5):
            manager.send_event("train-progress", {"step": batch * 5 + i})
        manager.force_flush(timeout=3)
    manager.shutdown(timeout=2)
    failures = [r for r in caplog.records if r.name.startswith("opentelemetry.exporter.otlp")]
    assert failures, "the first failure must be reported"
    templates = [(r.name, r.msg) for r in failures]
    assert len(templates) == len(set(templates)), "each kind of failure is reported once"
    assert "suppressed" in failures[0].getMessage()
