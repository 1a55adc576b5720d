"""Assert that finished telemetry uses only names registered in semconv/registry.yaml.

    assert_all_registered(span_exporter.get_finished_spans(),
                          log_exporter.get_finished_logs(),
                          metric_reader.get_metrics_data())

Checks span names, span event names, log record event names, metric names, units and data
types, and every attribute key (span, span event, span link, log record, data point and
resource). A key of privacy class `never` is a problem too: it is registered only so that it is
never sent. Log record bodies are free-form and not checked. Every problem is collected and
reported in one AssertionError.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk.metrics.export import (
    ExponentialHistogram,
    Gauge,
    Histogram,
    MetricsData,
    Sum,
)
from opentelemetry.sdk.trace import ReadableSpan

from otel_axolotl import semconv

# The shape of exported data each registry instrument produces.
_EXPECTED_DATA = {
    "gauge": "Gauge",
    "observable_gauge": "Gauge",
    "counter": "monotonic Sum",
    "observable_counter": "monotonic Sum",
    "updowncounter": "non-monotonic Sum",
    "observable_updowncounter": "non-monotonic Sum",
    "histogram": "Histogram",
}


def _data_shape(data: Any) -> str:
    if isinstance(data, Gauge):
        return "Gauge"
    if isinstance(data, Sum):
        return "monotonic Sum" if data.is_monotonic else "non-monotonic Sum"
    if isinstance(data, (Histogram, ExponentialHistogram)):  # the aggregation, not the instrument, picks
        return "Histogram"
    return type(data).__name__


class _Problems:
    """Problems in first-seen order, each once (a thousand identical spans make one line)."""

    def __init__(self) -> None:
        self._seen: dict[str, None] = {}

    def add(self, problem: str) -> None:
        self._seen.setdefault(problem, None)

    def keys(self, where: str, attributes: Mapping[str, Any] | None) -> None:
        for key in attributes or {}:
            privacy = semconv.attribute_privacy(key)
            if privacy is None:
                self.add(f"{where}: attribute key {key!r} is not registered")
            elif privacy == "never":
                self.add(f"{where}: attribute key {key!r} is registered as never to be emitted")

    def raise_if_any(self) -> None:
        if self._seen:
            lines = "\n".join(f"  - {problem}" for problem in self._seen)
            raise AssertionError(
                f"{len(self._seen)} problem(s) against semconv/registry.yaml "
                f"(register the name there and run `python semconv/generate.py`):\n{lines}"
            )


def assert_all_registered(
    spans: Iterable[ReadableSpan] = (),
    log_records: Iterable[ReadableLogRecord] = (),
    metrics_data: MetricsData | None = None,
) -> None:
    """Fail once, listing every unregistered name, unit or data type in the given telemetry."""
    problems = _Problems()

    for span in spans:
        where = f"span {span.name!r}"
        if not semconv.is_registered_span(span.name):
            problems.add(f"{where}: span name is not registered")
        problems.keys(where, span.attributes)
        for event in span.events:
            event_where = f"{where}, span event {event.name!r}"
            if not semconv.is_registered_event(event.name):
                problems.add(f"{event_where}: event name is not registered")
            problems.keys(event_where, event.attributes)
        for link in span.links:
            problems.keys(f"{where}, link", link.attributes)
        if span.resource is not None:
            problems.keys("resource", span.resource.attributes)

    for readable in log_records:
        record = readable.log_record
        name = record.event_name
        where = f"log record {name!r}"
        if not name:
            problems.add("log record without an event_name: only registered events may be emitted")
        elif not semconv.is_registered_event(name):
            problems.add(f"{where}: event name is not registered")
        problems.keys(where, record.attributes)
        if readable.resource is not None:
            problems.keys("resource", readable.resource.attributes)

    resource_metrics = metrics_data.resource_metrics if metrics_data is not None else ()
    for resource_metric in resource_metrics:
        problems.keys("resource", resource_metric.resource.attributes)
        for scope_metric in resource_metric.scope_metrics:
            for metric in scope_metric.metrics:
                where = f"metric {metric.name!r}"
                spec = semconv.METRICS.get(metric.name)
                if spec is None:
                    problems.add(f"{where}: metric name is not registered")
                else:
                    if metric.unit != spec.unit:
                        problems.add(f"{where}: unit is {metric.unit!r}, the registry says {spec.unit!r}")
                    shape, expected = _data_shape(metric.data), _EXPECTED_DATA[spec.instrument]
                    if shape != expected:
                        problems.add(
                            f"{where}: data is a {shape}, but registry instrument "
                            f"{spec.instrument!r} produces a {expected}"
                        )
                for point in metric.data.data_points:
                    problems.keys(where, point.attributes)

    problems.raise_if_any()
