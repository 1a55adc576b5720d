"""The processors the SDK's providers hold for each delivery: spans and events, already
scrubbed by the privacy stage, handed to a :class:`~.delivery.Delivery`.

They stand where ``BatchSpanProcessor`` and ``BatchLogRecordProcessor`` would; as in the SDK,
where both wrap one shared batch worker, the queue, the worker and the spool are the
delivery's (``delivery.py``), and these only adapt the two processor interfaces to it.
"""

from __future__ import annotations

import copy

from opentelemetry.context import Context
from opentelemetry.sdk._logs import LogRecordProcessor, ReadableLogRecord, ReadWriteLogRecord
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from .delivery import Delivery


class DeliverySpanProcessor(SpanProcessor):
    """Feeds finished (already scrubbed) spans to a :class:`Delivery`."""

    def __init__(self, delivery: Delivery) -> None:
        self.delivery = delivery

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        if span.context is not None and span.context.trace_flags.sampled:
            self.delivery.put(span)

    def shutdown(self) -> None:
        self.delivery.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.delivery.flush(timeout_millis / 1000)


class DeliveryLogRecordProcessor(LogRecordProcessor):
    """Feeds (already scrubbed) events to a :class:`Delivery` as ``ReadableLogRecord``s."""

    def __init__(self, delivery: Delivery) -> None:
        self.delivery = delivery

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        # As the SDK's batch processor does: a shallow copy without the (possibly large) context.
        record = copy.copy(log_record.log_record)
        record.context = Context()
        resource = log_record.resource if log_record.resource is not None else Resource.create({})
        self.delivery.put(
            ReadableLogRecord(
                log_record=record, resource=resource, instrumentation_scope=log_record.instrumentation_scope
            )
        )

    def shutdown(self) -> None:
        self.delivery.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.delivery.flush(timeout_millis / 1000)
