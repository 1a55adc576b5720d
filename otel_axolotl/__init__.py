"""OpenTelemetry for training runs: product analytics (PostHog) and observability (OTLP).

Importing this package is cheap and starts nothing: OpenTelemetry's SDK, exporters, torch,
transformers, posthog and pynvml are imported only when a feature that needs them is used.

    import otel_axolotl
    otel_axolotl.init()          # decide consent and destinations from the environment
    ...                          # transformers.Trainer now reports automatically
    otel_axolotl.shutdown()      # optional: also runs at exit, bounded by a deadline
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from .version import __version__

if TYPE_CHECKING:
    from .manager import TelemetryManager

__all__ = ["TelemetryManager", "__version__", "get_manager", "init", "send_event", "shutdown"]


_INIT_ARGUMENTS = (
    "product_telemetry",
    "posthog_api_key",
    "library_name",
    "library_version",
    "settings",
    "destinations",
    "extra_destinations",
    "env",
    "show_consent_notice",
)
"""What init() passes to TelemetryManager (its keyword arguments); anything else is named once and ignored."""


def init(**kwargs: Any) -> TelemetryManager:
    """Build the process's TelemetryManager once (idempotent) and instrument transformers.

    Keyword arguments go to :class:`TelemetryManager` on the first call: ``product_telemetry``
    (the host library's consent default, below the environment), ``posthog_api_key``,
    ``library_name``, ``library_version``. A later call with other arguments says once what
    it ignored, except ``product_telemetry=False``, which is always honoured. After
    :func:`shutdown` it returns the shut manager.
    """
    from . import manager as _manager

    unknown = sorted(set(kwargs) - set(_INIT_ARGUMENTS))
    if unknown:  # a typo or a newer caller's argument must not stop the program starting
        from ._logging import warn_once

        warn_once(
            "init:unknown",
            "otel-axolotl: init() ignores unknown argument(s) %s; accepted: %s.",
            ", ".join(unknown),
            ", ".join(_INIT_ARGUMENTS),
        )
        kwargs = {k: v for k, v in kwargs.items() if k in _INIT_ARGUMENTS}
    mgr = _manager.get_default(**kwargs)
    if mgr.closed:
        return mgr  # shut down: nothing to instrument again
    if mgr.active and mgr.settings.auto_instrument and _installed("transformers"):
        from .instrumentor import TrainerInstrumentor

        # Checked just above, quietly: the instrumentor's own check logs an ERROR when absent.
        TrainerInstrumentor().instrument(manager=mgr, skip_dep_check=True)
    # Also when inactive: Axolotl's own telemetry then sends nothing. Only where Axolotl is
    # installed (the instrumentor's imports cost ~90 ms).
    if mgr.settings.auto_instrument and _installed("axolotl"):
        from .integrations.axolotl import AxolotlInstrumentor

        axolotl = AxolotlInstrumentor()
        if not axolotl.is_instrumented_by_opentelemetry:  # init() is idempotent, and quiet
            axolotl.instrument(manager=mgr, skip_dep_check=True)
    return mgr


def _installed(name: str) -> bool:
    """Whether ``name`` could be imported, without importing it."""
    import importlib.util

    if sys.modules.get(name) is not None:
        return True
    try:  # raises ValueError when sys.modules[name] is None (an import blocked on purpose)
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def get_manager() -> TelemetryManager | None:
    """The manager built by :func:`init`, or None."""
    from . import manager as _manager

    return _manager.current()


def send_event(event_type: str, properties: dict[str, Any] | None = None) -> None:
    """Axolotl-compatible: emit an event through the process's manager, if there is one."""
    mgr = get_manager()
    if mgr is not None:
        mgr.send_event(event_type, properties)


def shutdown(timeout: float | None = None) -> None:
    """Flush and stop within the deadline and undo auto-instrumentation. The manager stays
    shut: a later ``init()`` returns it and builds nothing (tests start again with
    ``otel_axolotl.manager.reset_default()``)."""
    from . import manager as _manager

    if "otel_axolotl.instrumentor" in sys.modules:
        from .instrumentor import TrainerInstrumentor

        instrumentor = TrainerInstrumentor()
        if instrumentor.is_instrumented_by_opentelemetry:  # else the base class warns
            instrumentor.uninstrument()
    if "otel_axolotl.integrations.axolotl" in sys.modules:
        from .integrations.axolotl import AxolotlInstrumentor

        axolotl = AxolotlInstrumentor()
        if axolotl.is_instrumented_by_opentelemetry:
            axolotl.uninstrument()
    mgr = _manager.current()
    if mgr is not None:
        mgr.shutdown(timeout)


def __getattr__(name: str) -> Any:
    """Lazy public names: importing the package must not import the SDK or integrations."""
    if name == "TelemetryManager":
        from .manager import TelemetryManager

        return TelemetryManager
    if name in ("loop", "errors", "callbacks"):
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'otel_axolotl' has no attribute {name!r}")
