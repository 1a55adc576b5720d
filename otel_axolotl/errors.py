"""Errors as telemetry: Axolotl's ``send_errors`` decorator, and where the error API lives.

``send_errors`` reports an exception escaping the decorated function once. What an error is
called, the body of its event and the reported-once mark are in ``error_report.py``
(``record_error``, ``report``); the opt-in excepthook is in ``excepthook.py``. Both are
importable from here, where Axolotl's users look for them (``axolotl.telemetry.errors``).

Who ends the run decides its status: the excepthook and ``record_error(end_run=True)`` fail
it; ``send_errors`` does not, since its caller may catch the error (an uncaught one still
fails the run, see ``_fail_run_if_uncaught``).

Telemetry never raises into the host program: every path here is guarded, and the host's
exception always propagates unchanged.
"""

from __future__ import annotations

import atexit
import functools
import inspect
import logging
import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from .error_report import (
    current_manager,
    error_event_name,
    function_path,
    is_reported,
    record_error,
    report,
    safe_name,
)
from .excepthook import install_excepthook, uninstall_excepthook
from .privacy.stacktrace import sanitize_stack_trace

__all__ = [
    "error_event_name",
    "install_excepthook",
    "record_error",
    "report",
    "sanitize_stack_trace",
    "send_errors",
    "uninstall_excepthook",
]

_logger = logging.getLogger("otel_axolotl")

F = TypeVar("F", bound=Callable[..., Any])


def _manager_for_call() -> Any:
    """The process's manager, built on first use as Axolotl's ``send_errors`` does
    (``TelemetryManager.get_instance()`` on entry to the decorated function, so any consent
    notice comes at start-up, not in the middle of a crash). None if building it failed."""
    try:
        from .manager import get_default

        return get_default()
    except Exception:
        _logger.debug("otel-axolotl: no manager for send_errors", exc_info=True)
        return None


def _report_escaping(func: Callable[..., Any], manager: Any, exc: BaseException) -> None:
    """The error event for an exception leaving ``func``; the run is left open, its status
    untouched: the caller may still catch it. If nobody does, the run fails at the excepthook
    or, when the interpreter is about to exit from it, at exit (``_fail_run_if_uncaught``)."""
    if manager is None or not manager.active:
        return
    path = function_path(func)
    if report(exc, f"{safe_name(path)}-error", path, manager, end_run=False):
        _watch_exit()


_exit_watched = False
_exit_lock = threading.Lock()


def _watch_exit() -> None:
    """Registered after the manager's own exit hook, so it runs first (atexit is LIFO)."""
    global _exit_watched
    with _exit_lock:
        if _exit_watched:
            return
        _exit_watched = True
    atexit.register(_fail_run_if_uncaught)


def _fail_run_if_uncaught() -> None:
    """At exit: the interpreter sets ``sys.last_value`` to the exception that ended the main
    program; if ``send_errors`` reported it, the run failed (not interrupted)."""
    try:
        exc = getattr(sys, "last_value", None)
        manager = current_manager()
        if isinstance(exc, Exception) and is_reported(exc) and manager is not None and manager.active:
            manager.end_run("failed", error=exc)
    except Exception:
        _logger.debug("otel-axolotl: ending the failed run at exit failed", exc_info=True)


def send_errors(func: F) -> F:
    """Report an exception escaping ``func`` as ``<module>.<function>-error``, then re-raise it.

    As in Axolotl, only the innermost decorated function reports: an exception passing
    through several decorated frames is reported once, by the first that sees it. Axolotl
    does that with a module flag that is never reset, so after the first error a long-lived
    process (a notebook, a sweep, a server) never reports another. Here the mark is put on the
    exception object itself: outer wrappers skip that exception (and one raised ``from`` it),
    while a later, independent error is reported again.

    The manager is the process's, built on the first call if ``init()`` has not run. Reporting
    records the event (and an ``exception`` event on the current span) but neither ends the
    run nor changes its status: an error a caller catches does not fail the run. Generator
    and coroutine functions report what escapes while they run, not only at creation.

    The exception propagates unchanged (bare ``raise``: same object, same traceback). With an
    inactive manager nothing is sent.
    """
    if inspect.isgeneratorfunction(func):

        @functools.wraps(func)
        def generator_wrapper(*args: Any, **kwargs: Any) -> Any:
            manager = _manager_for_call()
            try:
                return (yield from func(*args, **kwargs))
            except Exception as exc:
                _report_escaping(func, manager, exc)
                raise

        return generator_wrapper  # type: ignore[return-value]

    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def coroutine_wrapper(*args: Any, **kwargs: Any) -> Any:
            manager = _manager_for_call()
            try:
                return await func(*args, **kwargs)
            except Exception as exc:
                _report_escaping(func, manager, exc)
                raise

        return coroutine_wrapper  # type: ignore[return-value]

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        manager = _manager_for_call()
        try:
            return func(*args, **kwargs)
        except Exception as exc:
            _report_escaping(func, manager, exc)
            raise

    return wrapper  # type: ignore[return-value]
