"""What every benchmark worker shares: statistics, a clean environment, null exporters, output.

Workers are scripts run by ``bench/run.py`` in fresh processes (``python bench/_x.py ...``);
each prints one JSON document as its last stdout line and ``run.py`` collects them.
"""

from __future__ import annotations

import functools
import json
import os
import statistics
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent

# Ten registered attributes (semconv registry), the mix a training span carries: seven
# numbers and three strings (strings are what the privacy stage spends its time on).
SPAN_NAME = "axolotl.step"
SPAN_ATTRIBUTES: dict[str, Any] = {
    "axolotl.step": 1234,
    "axolotl.epoch": 3,
    "axolotl.rank": 0,
    "axolotl.world_size": 8,
    "axolotl.train.batch_size": 8,
    "axolotl.train.max_steps": 10_000,
    "axolotl.train.num_epochs": 3.0,
    "axolotl.trainer": "transformers",
    "axolotl.run.status": "completed",
    "axolotl.library.name": "axolotl",
}


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The current environment without any telemetry decision in it, plus ``extra``.

    No recorded consent file is read, and no consent notice waits.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OTEL_", "AXOLOTL_")) and k not in ("DO_NOT_TRACK",)
    }
    env["OTEL_AXOLOTL_CONFIG_FILE"] = os.devnull
    env["OTEL_AXOLOTL_NOTICE_SECONDS"] = "0"
    # A fresh spool per child: writing it at exit is measured, but nothing a silent backend
    # refused is replayed into the next measurement, nor left in the user's ~/.cache.
    env["OTEL_AXOLOTL_SPOOL_DIR"] = tempfile.mkdtemp(prefix="otel-axolotl-bench-spool-")
    env.update(extra or {})
    return env


def summary(values: Sequence[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def ratios(numerators: Sequence[float], denominators: Sequence[float]) -> list[float]:
    return [n / d for n, d in zip(numerators, denominators, strict=True)]


def emit(document: Mapping[str, Any]) -> None:
    """A worker's result: one JSON line, last on stdout."""
    sys.stdout.write(json.dumps(document) + "\n")
    sys.stdout.flush()


@functools.cache
def _null_exporter_classes() -> tuple[type, type, type]:
    """Exporters that accept everything and do nothing (built lazily: the SDK is imported here)."""
    from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
    from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    class NullSpans(SpanExporter):
        def export(self, spans: Any) -> Any:
            return SpanExportResult.SUCCESS

        def shutdown(self) -> None:
            return None

        def force_flush(self, timeout_millis: int = 30_000) -> bool:
            return True

    class NullLogs(LogRecordExporter):
        def export(self, batch: Any) -> Any:
            return LogRecordExportResult.SUCCESS

        def shutdown(self) -> None:
            return None

        def force_flush(self, timeout_millis: int = 30_000) -> bool:
            return True

    class NullMetrics(MetricExporter):
        def export(self, metrics_data: Any, timeout_millis: float = 10_000, **kwargs: Any) -> Any:
            return MetricExportResult.SUCCESS

        def force_flush(self, timeout_millis: float = 10_000) -> bool:
            return True

        def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
            return None

    return NullSpans, NullLogs, NullMetrics


def null_span_exporter() -> Any:
    return _null_exporter_classes()[0]()


def null_destination(name: str = "bench-null") -> Any:
    """A strict destination with null exporters: the real privacy stage, no I/O behind it."""
    from otel_axolotl.destinations import Destination
    from otel_axolotl.privacy.values import Level

    spans, logs, metrics = _null_exporter_classes()
    return Destination(name, Level.STRICT, spans(), logs(), metrics())


def settings_from(env: Mapping[str, str]) -> Any:
    from otel_axolotl.settings import Settings

    return Settings.from_env(env)
