"""What the framework adapters see of telemetry: a small protocol, and its no-op.

``RunRecorder`` (behind the transformers and Lightning callbacks and the loop API) depends
on :class:`TelemetryHost` only, not on the manager's attributes; ``TelemetryManager`` is
the one implementation. The manager itself runs on a runtime: the real one
(``runtime.Runtime``) when something is enabled, else :class:`NoopRuntime`, which, like
the OpenTelemetry API's no-op providers, answers every call at once and imports nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from opentelemetry.metrics import Meter
    from opentelemetry.trace import Span, Tracer

    from .instruments import TrainingInstruments
    from .ranks import RankInfo
    from .settings import Settings


class OpenRun(Protocol):
    """A run that a signal or shutdown can end (a ``RunRecorder``)."""

    def train_end(self, status: str = ..., error: BaseException | None = ...) -> None: ...


class TelemetryHost(Protocol):
    """What a ``RunRecorder`` needs: where to record, and the run span's lifecycle."""

    @property
    def settings(self) -> Settings: ...

    @property
    def rank(self) -> RankInfo: ...

    @property
    def active(self) -> bool: ...

    @functools.cached_property
    def tracer(self) -> Tracer: ...

    @property
    def instruments(self) -> TrainingInstruments: ...

    @property
    def run_span(self) -> Span | None: ...

    def track_run(self, recorder: OpenRun) -> None: ...

    def untrack_run(self, recorder: OpenRun) -> None: ...

    def start_run(self, attributes: Mapping[str, Any] | None = None) -> Span | None: ...

    def end_run(self, status: str = "completed", error: BaseException | None = None) -> None: ...

    def send_event(
        self,
        event_type: str,
        properties: Mapping[str, Any] | None = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> None: ...

    def send_system_info(self) -> None: ...


class NoopRuntime:
    """The disabled path: no provider, no thread, no socket; every call returns at once.

    Tracer and meter are the OpenTelemetry API's no-op ones, imported only if asked for."""

    active = False
    destinations: tuple[str, ...] = ()
    run_span: Span | None = None

    @functools.cached_property
    def tracer(self) -> Tracer:
        from opentelemetry.trace import NoOpTracer

        return NoOpTracer()

    @functools.cached_property
    def meter(self) -> Meter:
        from opentelemetry.metrics import NoOpMeter

        return NoOpMeter("otel_axolotl")

    @functools.cached_property
    def instruments(self) -> TrainingInstruments:
        """Instruments on the no-op meter: recording into them costs nothing and goes nowhere."""
        from .instruments import TrainingInstruments

        return TrainingInstruments(self.meter, {})

    def track_run(self, recorder: OpenRun) -> None:
        return None

    def untrack_run(self, recorder: OpenRun) -> None:
        return None

    def start_run(self, attributes: Mapping[str, Any] | None = None) -> Span | None:
        return None

    def end_run(self, status: str = "completed", error: BaseException | None = None) -> None:
        return None

    def interrupt(self, status: str = "interrupted") -> None:
        return None

    def send_event(
        self,
        event_type: str,
        properties: Mapping[str, Any] | None = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> None:
        return None

    def send_system_info(self) -> None:
        return None

    def handle_signal(self, signum: int, *, fatal: bool) -> None:
        return None

    def spool_in_memory(self) -> None:
        return None

    def note_error(self, error: BaseException) -> None:
        return None

    def withdraw_product(self) -> None:
        return None

    def force_flush(self, timeout: float) -> bool:
        return True

    def shutdown(self, timeout: float) -> bool:
        return True


NOOP = NoopRuntime()
