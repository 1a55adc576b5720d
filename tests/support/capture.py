"""A real TelemetryManager whose only destination keeps everything in memory.

    def test_something(captured_manager):
        manager, captured = captured_manager
        ...                                  # train, send events, raise errors
        captured.flush()                     # or manager.shutdown()
        assert captured.span_names() == [...]
        captured.assert_registered()

What ends up in ``Captured`` went through the whole pipeline, privacy stage included (strict
level), exactly as an OTLP or PostHog destination would receive it. Use the fixtures in a
test module with ``from tests.support.capture import captured_manager  # noqa: F401`` (or
``captured_default_manager``, installed as the process's manager), or in conftest.py.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry import context as otel_context
from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter
from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricsData
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_axolotl import semconv as sc
from otel_axolotl.destinations import Destination
from otel_axolotl.manager import TelemetryManager
from otel_axolotl.privacy.values import Level

from .registry_check import assert_all_registered


class _KeepMetrics(MetricExporter):
    """A metric exporter that keeps every ``MetricsData`` it is handed, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.exports: list[MetricsData] = []

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> Any:
        self.exports.append(metrics_data)
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        return None


@dataclass(frozen=True)
class Point:
    """One exported data point, flattened: its metric, attributes and value."""

    metric: str
    unit: str
    attributes: Mapping[str, Any]
    value: Any  # a number for gauges and sums; the point itself for histograms


class Captured:
    """What one in-memory destination received: spans, events (log records) and metrics."""

    def __init__(self, level: Level = Level.STRICT, name: str = "memory") -> None:
        self.span_exporter = InMemorySpanExporter()
        self.log_exporter = InMemoryLogRecordExporter()
        self.metric_exporter = _KeepMetrics()
        self.destination = Destination(
            name, level, self.span_exporter, self.log_exporter, self.metric_exporter
        )
        self.manager: TelemetryManager | None = None

    # -- building --------------------------------------------------------------------------
    def build_manager(self, **kwargs: Any) -> TelemetryManager:
        """A manager with this capture as its only destination (no consent notice)."""
        kwargs.setdefault("show_consent_notice", False)
        self.manager = TelemetryManager(destinations=[self.destination], **kwargs)
        return self.manager

    def flush(self) -> None:
        """Deliver everything so far (spans, events and one metric collection)."""
        if self.manager is not None:
            self.manager.force_flush(timeout=10)

    # -- spans -----------------------------------------------------------------------------
    @property
    def spans(self) -> list[ReadableSpan]:
        return list(self.span_exporter.get_finished_spans())

    def span_names(self) -> list[str]:
        return [s.name for s in self.spans]

    def spans_named(self, name: str) -> list[ReadableSpan]:
        return sorted((s for s in self.spans if s.name == name), key=lambda s: s.start_time or 0)

    def one_span(self, name: str) -> ReadableSpan:
        found = self.spans_named(name)
        assert len(found) == 1, f"expected one {name!r} span, got {len(found)}: {self.span_names()}"
        return found[0]

    # -- events ----------------------------------------------------------------------------
    @property
    def log_records(self) -> list[ReadableLogRecord]:
        return list(self.log_exporter.get_finished_logs())

    @property
    def events(self) -> list[Any]:
        """The events' ``LogRecord`` objects (``event_name``, ``body``, ``attributes``)."""
        return [r.log_record for r in self.log_records]

    def event_names(self) -> list[str]:
        return [e.event_name for e in self.events]

    def events_named(self, name: str) -> list[Any]:
        return [e for e in self.events if e.event_name == name]

    # -- metrics ---------------------------------------------------------------------------
    @property
    def metrics_data(self) -> list[MetricsData]:
        """Every export, in order (cumulative temporality: later ones hold the latest values)."""
        return list(self.metric_exporter.exports)

    def points(self, name: str | None = None) -> list[Point]:
        """Data points of the latest export that has ``name`` (all metrics of all exports,
        latest first per metric, when ``name`` is None)."""
        latest: dict[str, list[Point]] = {}
        for data in self.metrics_data:
            for rm in data.resource_metrics:
                for sm in rm.scope_metrics:
                    for m in sm.metrics:
                        found = [
                            Point(m.name, m.unit or "", dict(p.attributes or {}), getattr(p, "value", p))
                            for p in m.data.data_points
                        ]
                        if found:
                            latest[m.name] = found
        if name is not None:
            return latest.get(name, [])
        return [p for points in latest.values() for p in points]

    def metric_names(self) -> set[str]:
        return {p.metric for p in self.points()}

    # -- checks ----------------------------------------------------------------------------
    def assert_registered(self) -> None:
        """Every span, event, metric name, unit and attribute key is in the registry."""
        assert_all_registered(self.spans, self.log_records)
        for data in self.metrics_data:
            assert_all_registered(metrics_data=data)


@contextlib.contextmanager
def _isolated_context() -> Iterator[None]:
    """Run in an empty OpenTelemetry context and restore the previous one afterwards, so a run
    span a test left current cannot become the parent of the next test's telemetry."""
    token = otel_context.attach(otel_context.Context())
    try:
        yield
    finally:
        otel_context.detach(token)


@pytest.fixture
def captured_manager() -> Iterator[tuple[TelemetryManager, Captured]]:
    """(manager, captured): a real manager feeding one in-memory strict destination; shut
    down (within its deadline) after the test."""
    with _isolated_context():
        captured = Captured()
        manager = captured.build_manager()
        try:
            yield manager, captured
        finally:
            manager.shutdown()


@pytest.fixture
def captured_default_manager() -> Iterator[tuple[TelemetryManager, Captured]]:
    """Like ``captured_manager``, but installed as the process's manager (what ``init()``
    builds and ``send_errors``, the callbacks and the loop API find on their own)."""
    from otel_axolotl import manager as manager_module

    manager_module.reset_default()
    with _isolated_context():
        captured = Captured()
        manager = manager_module.get_default(destinations=[captured.destination], show_consent_notice=False)
        captured.manager = manager
        try:
            yield manager, captured
        finally:
            manager_module.reset_default()


# ------------------------------------------------------------------ the shape of a run

TRAINING_METRICS = frozenset({sc.METRIC_TRAIN_LOSS, sc.METRIC_TRAIN_STEPS, sc.METRIC_TRAIN_STEP_DURATION})


def assert_run_shape(
    captured: Captured, *, epochs: int, status: str = "completed", trainer: str | None = None
) -> ReadableSpan:
    """The span tree, events and training metrics every integration must produce for one run.

    One trace; one root ``axolotl.run`` span with the given status; ``epochs`` epoch spans
    numbered from 0, and at least one evaluation span, all children of the run span;
    ``train-start`` and ``train-end`` events; the core training metrics. Returns the run span.
    """
    spans = captured.spans
    assert spans, "no spans were exported"
    assert len({s.context.trace_id for s in spans}) == 1, "a run must be one trace"
    run = captured.one_span(sc.SPAN_RUN)
    assert run.parent is None, "the run span must be the root"
    assert run.attributes is not None
    assert run.attributes.get(sc.ATTR_RUN_STATUS) == status
    if trainer is not None:
        assert run.attributes.get(sc.ATTR_TRAINER) == trainer
    run_id = run.context.span_id

    epoch_spans = captured.spans_named(sc.SPAN_EPOCH)
    assert [s.attributes.get(sc.ATTR_EPOCH) for s in epoch_spans] == list(range(epochs)), (
        f"epoch spans: {[dict(s.attributes or {}) for s in epoch_spans]}"
    )
    evaluations = captured.spans_named(sc.SPAN_EVALUATE)
    assert evaluations, f"no evaluation span in {captured.span_names()}"
    for span in [*epoch_spans, *evaluations, *captured.spans_named(sc.SPAN_CHECKPOINT_SAVE)]:
        assert span.parent is not None and span.parent.span_id == run_id, f"{span.name} is not under the run"
        assert span.start_time >= run.start_time and span.end_time <= run.end_time, (
            f"{span.name} is outside the run span"
        )

    names = captured.event_names()
    assert names.count(sc.EVENT_TRAIN_START) == 1 and names.count(sc.EVENT_TRAIN_END) == 1, names
    missing = TRAINING_METRICS - captured.metric_names()
    assert not missing, f"training metrics missing: {sorted(missing)}"
    return run


def metric_values(points: Sequence[Point], **attributes: Any) -> list[Any]:
    """Values of the points whose attributes include all of ``attributes``."""
    return [p.value for p in points if all(p.attributes.get(k) == v for k, v in attributes.items())]
