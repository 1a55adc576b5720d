"""An error as telemetry: its name, its event body, and recording it once.

Shared by ``send_errors`` (``errors.py``), the excepthook (``excepthook.py``) and the
integrations. An error is recorded once: an OpenTelemetry ``exception`` event on the current
span, and Axolotl's ``<module>.<function>-error`` event (the body Axolotl 0.21.0's dashboards
read: ``exception.type``/``exception.module`` and ``stack_trace.frames``, each frame's file
reduced by the stack-trace rule). Raw text goes into the span event attributes because the
privacy stage sanitizes ``exception.*`` at export for each destination's level; it scrubs the
event body too. Every function here is guarded: telemetry never raises into the host program.
"""

from __future__ import annotations

import inspect
import logging
import re
import sysconfig
import threading
import traceback
from collections import deque
from collections.abc import Callable
from types import TracebackType
from typing import Any

from . import semconv as sc
from .privacy.names import USER_EVENT, code_name, error_event, exception_type, is_package_path

__all__ = [
    "current_manager",
    "error_event_name",
    "exception_properties",
    "exception_type_name",
    "function_path",
    "is_reported",
    "record_error",
    "report",
    "safe_name",
]

_logger = logging.getLogger("otel_axolotl")

_REPORTED_ATTR = "__otel_axolotl_reported__"
# Exceptions that refuse new attributes (``__slots__`` subclasses) are remembered here instead,
# by identity; bounded, because only the last few can still be propagating.
_reported_fallback: deque[BaseException] = deque(maxlen=64)
_reported_lock = threading.Lock()

_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_.]")


# ------------------------------------------------------------------ reported-once marks


def is_reported(exc: BaseException) -> bool:
    """True when ``exc``, or an exception it was raised from or while handling, was reported.

    Following ``__cause__``/``__context__`` makes ``raise Wrapped(...) from err`` in an outer
    decorated function the same failure as ``err``, not a second report.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if getattr(current, _REPORTED_ATTR, False) or any(e is current for e in _reported_fallback):
            return True
        current = current.__cause__ or current.__context__
    return False


def _mark_reported(exc: BaseException) -> None:
    """Called with ``_reported_lock`` held."""
    try:
        setattr(exc, _REPORTED_ATTR, True)
    except Exception:
        _reported_fallback.append(exc)


def _claim(exc: BaseException) -> bool:
    """Mark ``exc`` as reported; False when it (or its cause) already was."""
    with _reported_lock:
        if is_reported(exc):
            return False
        _mark_reported(exc)
        return True


# ------------------------------------------------------------------ names


def safe_name(name: str) -> str:
    """Event names must match the registry's ``^[A-Za-z_][A-Za-z0-9_.]*-error$``."""
    clean = _NAME_UNSAFE.sub("_", name) or "unknown"
    return clean if clean[0].isalpha() or clean[0] == "_" else f"_{clean}"


def function_path(func: Callable[..., Any]) -> str:
    """``module.function`` as Axolotl names it (``inspect.getmodule``) for installed code; a
    function of the user's own code is ``user_code.function`` (privacy/names.py)."""
    name = getattr(func, "__name__", None) or type(func).__name__
    module = inspect.getmodule(func)
    return code_name(f"{module.__name__}.{name}" if module is not None else name)


def _stdlib_dirs() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    return tuple({p for p in (paths.get("stdlib"), paths.get("platstdlib")) if p})


def _is_stdlib(filename: str) -> bool:
    if filename.startswith("<frozen "):
        return True
    if "site-packages" in filename or "dist-packages" in filename:
        return False
    return filename.startswith(_stdlib_dirs())


def error_event_name(tb: TracebackType | None) -> str:
    """``<module>.<function>-error`` of the innermost frame that is not the standard library,
    or ``uncaught-error`` when there is no such frame."""
    innermost = None
    while tb is not None:
        if not _is_stdlib(tb.tb_frame.f_code.co_filename):
            innermost = tb.tb_frame
        tb = tb.tb_next
    if innermost is None:
        return "uncaught-error"
    module = innermost.f_globals.get("__name__") or "unknown"
    if not is_package_path(innermost.f_code.co_filename):
        return USER_EVENT  # the user's own code: a fixed name that says nothing about it
    return error_event(f"{safe_name(f'{module}.{innermost.f_code.co_name}')}-error")


def exception_type_name(exc: BaseException) -> str:
    """As OpenTelemetry's ``record_exception`` writes it: ``torch.OutOfMemoryError``, ``ValueError``."""
    cls = type(exc)
    module = cls.__module__
    return exception_type(
        f"{module}.{cls.__qualname__}" if module and module != "builtins" else cls.__qualname__
    )


# ------------------------------------------------------------------ recording


def exception_properties(exc: BaseException) -> dict[str, Any]:
    """The error event's body, as Axolotl 0.21.0 structures it: the exception's class and
    module, and each frame's file, function and line (the privacy stage keeps a package frame
    whole and replaces a frame of the user's own code at strict). No message and no source
    text: those travel only on the span event, scrubbed per level."""
    frames = [  # the file as it is: the privacy stage judges and reduces it (tree.py, frames)
        {"filename": frame.f_code.co_filename, "function": frame.f_code.co_name, "lineno": line}
        for frame, line in traceback.walk_tb(exc.__traceback__)
    ]
    cls = type(exc)
    return {"exception": {"type": cls.__name__, "module": cls.__module__}, "stack_trace": {"frames": frames}}


def record_error(
    manager: Any,
    exc: BaseException,
    event_name: str,
    function_name: str,
    *,
    end_run: bool = True,
) -> None:
    """Record ``exc`` on the current span (or the run span), send ``event_name``, fail the run.

    ``end_run=False`` leaves the run span open, for callers that end it themselves (the
    integrations, which also send ``train-end``) or for errors that need not end the run (an
    uncaught exception in a background thread). Does nothing for an absent or inactive
    manager. Never raises.
    """
    try:
        if manager is None or not getattr(manager, "active", False):
            return
        from opentelemetry import trace
        from opentelemetry.trace import Status, StatusCode

        trace_text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        exc_type = exception_type_name(exc)
        message = str(exc)
        span = trace.get_current_span()
        # A span of the user's own tracing is not ours to write into (issue 15): the run span.
        scope = getattr(span, "instrumentation_scope", None)
        if not span.is_recording() or getattr(scope, "name", None) != "otel_axolotl":
            span = manager.run_span
        if span is not None and span.is_recording():
            # the run's status belongs to whoever ends the run (end_run, or the integration)
            failed_here = end_run or span is not manager.run_span
            span.add_event(
                sc.EVENT_EXCEPTION,
                {
                    sc.ATTR_EXCEPTION_TYPE: exc_type,
                    sc.ATTR_EXCEPTION_MESSAGE: message,
                    sc.ATTR_EXCEPTION_STACKTRACE: trace_text,
                },
            )
            if failed_here:
                span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {message}"))
        note = getattr(manager, "note_error", None)
        if note is not None and not end_run:  # the run's end will say it failed, if nothing completes it
            note(exc)
        manager.send_event(
            event_name,
            exception_properties(exc),
            {sc.ATTR_CODE_FUNCTION_NAME: function_name, sc.ATTR_EXCEPTION_TYPE: exc_type},
        )
        if end_run:
            manager.end_run("failed", error=exc)
    except Exception:
        _logger.debug("otel-axolotl: recording an error failed", exc_info=True)


def current_manager() -> Any:
    """The process's manager if one was built; errors never build one (no consent notice, no
    15-second wait, in the middle of a crash)."""
    from .manager import current

    return current()


def report(
    exc: BaseException,
    event_name: str,
    function_name: str,
    manager: Any = None,
    *,
    end_run: bool = True,
) -> bool:
    """``record_error`` once per exception object: False when ``exc`` (or the exception it was
    raised from) was already reported. ``manager`` defaults to the process's, if any."""
    try:
        if not _claim(exc):
            return False
        target = manager if manager is not None else current_manager()
        record_error(target, exc, event_name, function_name, end_run=end_run)
        return True
    except Exception:
        _logger.debug("otel-axolotl: reporting an error failed", exc_info=True)
        return False
