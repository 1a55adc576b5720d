"""OpenTelemetry exporters for PostHog: spans, events (log records) and metrics.

Usable by any OpenTelemetry user, depending only on the OpenTelemetry SDK and ``posthog``
(whose public request layer sends each export synchronously)::

    from opentelemetry.exporter.posthog import PostHogSpanExporter
    provider.add_span_processor(BatchSpanProcessor(PostHogSpanExporter(api_key="phc_...")))

or, with auto-configuration, ``OTEL_TRACES_EXPORTER=posthog`` (also ``OTEL_LOGS_EXPORTER``,
``OTEL_METRICS_EXPORTER``) and ``OTEL_EXPORTER_POSTHOG_API_KEY``. See ``exporters/README.md``.
"""

from opentelemetry.exporter.posthog._config import (
    OTEL_EXPORTER_POSTHOG_API_KEY,
    OTEL_EXPORTER_POSTHOG_DISTINCT_ID,
    OTEL_EXPORTER_POSTHOG_HOST,
    OTEL_EXPORTER_POSTHOG_RESOURCE_ATTRIBUTES,
    OTEL_EXPORTER_POSTHOG_TIMEOUT,
    OTEL_EXPORTER_POSTHOG_TRACE_CONTEXT,
)
from opentelemetry.exporter.posthog.log_exporter import PostHogLogExporter
from opentelemetry.exporter.posthog.metric_exporter import (
    DEFAULT_METRICS_EVENT_NAME,
    PostHogMetricExporter,
)
from opentelemetry.exporter.posthog.trace_exporter import PostHogSpanExporter

__all__ = [
    "DEFAULT_METRICS_EVENT_NAME",
    "OTEL_EXPORTER_POSTHOG_API_KEY",
    "OTEL_EXPORTER_POSTHOG_DISTINCT_ID",
    "OTEL_EXPORTER_POSTHOG_HOST",
    "OTEL_EXPORTER_POSTHOG_RESOURCE_ATTRIBUTES",
    "OTEL_EXPORTER_POSTHOG_TIMEOUT",
    "OTEL_EXPORTER_POSTHOG_TRACE_CONTEXT",
    "PostHogLogExporter",
    "PostHogMetricExporter",
    "PostHogSpanExporter",
]
