"""Errors as telemetry: Axolotl's ``send_errors`` decorator, ``record_error`` and an opt-in
excepthook.

An error is recorded once: an OpenTelemetry ``exception`` event on the current span, and
Axolotl's ``<module>.<function>-error`` event (the body Axolotl 0.21.0's dashboards read:
``exception.type``/``exception.module`` and ``stack_trace.frames``, each frame's file reduced
by the stack-trace rule). Who ends the run decides its status: the excepthook and
``record_error(end_run=True)`` fail it; ``send_errors`` does not, since its caller may catch
the error (an uncaught one still fails the run, see ``_fail_run_if_uncaught``). Raw text goes
into the span event attributes because the privacy stage sanitizes ``exception.*`` at export
for each destination's level. The privacy stage scrubs the event body too.

Telemetry never raises into the host program: every path here is guarded, and the host's
exception always propagates unchanged.
"""

from __future__ import annotations

import atexit
import functools
import inspect
import logging
import re
import sys
import sysconfig
import threading
import traceback
from collections import deque
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

from . import semconv as sc
from .privacy.names import USER_EVENT, code_name, error_event, exception_type, is_package_path
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

_REPORTED_ATTR = "__otel_axolotl_reported__"
# Exceptions that refuse new attributes (``__slots__`` subclasses) are remembered here instead,
# by identity; bounded, because only the last few can still be propagating.
_reported_fallback: deque[BaseException] = deque(maxlen=64)
_reported_lock = threading.Lock()

_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_.]")


# ------------------------------------------------------------------ reported-once marks


def _is_reported(exc: BaseException) -> bool:
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
        if _is_reported(exc):
            return False
        _mark_reported(exc)
        return True


# ------------------------------------------------------------------ names


def _safe_name(name: str) -> str:
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
    return error_event(f"{_safe_name(f'{module}.{innermost.f_code.co_name}')}-error")


def _exception_type(exc: BaseException) -> str:
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
        exc_type = _exception_type(exc)
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


def _current_manager() -> Any:
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
        target = manager if manager is not None else _current_manager()
        record_error(target, exc, event_name, function_name, end_run=end_run)
        return True
    except Exception:
        _logger.debug("otel-axolotl: reporting an error failed", exc_info=True)
        return False


# ------------------------------------------------------------------ send_errors


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
    if report(exc, f"{_safe_name(path)}-error", path, manager, end_run=False):
        _watch_exit()


_exit_watched = False


def _watch_exit() -> None:
    """Registered after the manager's own exit hook, so it runs first (atexit is LIFO)."""
    global _exit_watched
    with _reported_lock:
        if _exit_watched:
            return
        _exit_watched = True
    atexit.register(_fail_run_if_uncaught)


def _fail_run_if_uncaught() -> None:
    """At exit: the interpreter sets ``sys.last_value`` to the exception that ended the main
    program; if ``send_errors`` reported it, the run failed (not interrupted)."""
    try:
        exc = getattr(sys, "last_value", None)
        manager = _current_manager()
        if isinstance(exc, Exception) and _is_reported(exc) and manager is not None and manager.active:
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


# ------------------------------------------------------------------ excepthook


class _Hooks:
    """What ``install_excepthook`` replaced, so that ``uninstall_excepthook`` can put it back."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.installed = False
        self.manager: Any = None
        self.previous_sys: Callable[..., Any] | None = None
        self.previous_threading: Callable[..., Any] | None = None


_hooks = _Hooks()


def _record_uncaught(exc: BaseException | None, tb: TracebackType | None, *, in_thread: bool) -> None:
    if not _hooks.installed or exc is None or not isinstance(exc, Exception) or hasattr(sys, "ps1"):
        return  # KeyboardInterrupt/SystemExit are not errors; interactive shells are left alone
    name = error_event_name(tb)
    manager = _hooks.manager if _hooks.manager is not None else _current_manager()
    reported = report(exc, name, name.removesuffix("-error"), manager, end_run=not in_thread)
    if manager is None or not manager.active:
        return
    if not reported and not in_thread and manager.run_span is not None:
        manager.end_run("failed", error=exc)  # reported by send_errors, and uncaught after all
        reported = True
    if reported:
        manager.force_flush()  # the process is about to die: deliver within the deadline


def _sys_excepthook(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    try:
        _record_uncaught(exc, tb, in_thread=False)
    except Exception:
        _logger.debug("otel-axolotl: excepthook failed", exc_info=True)
    previous = _hooks.previous_sys or sys.__excepthook__
    previous(exc_type, exc, tb)


def _threading_excepthook(args: Any) -> None:
    try:
        _record_uncaught(args.exc_value, args.exc_traceback, in_thread=True)
    except Exception:
        _logger.debug("otel-axolotl: threading excepthook failed", exc_info=True)
    previous = _hooks.previous_threading or threading.__excepthook__
    previous(args)


def install_excepthook(manager: Any = None) -> None:
    """Record uncaught exceptions (main thread and other threads), then call the previous hook.

    Opt-in, because replacing process-wide hooks is the application's decision. ``manager``
    defaults to the process's manager at the time of the error. In an interactive shell
    (``sys.ps1`` set) nothing is recorded. An uncaught error in the main thread fails the run;
    one in another thread is recorded without ending the run, which may still complete.
    Installing twice keeps the first previous hooks (and takes the new manager).
    """
    with _hooks.lock:
        _hooks.manager = manager
        _hooks.installed = True
        if sys.excepthook is not _sys_excepthook:
            _hooks.previous_sys = sys.excepthook
            sys.excepthook = _sys_excepthook
        if threading.excepthook is not _threading_excepthook:
            _hooks.previous_threading = threading.excepthook
            threading.excepthook = _threading_excepthook


def uninstall_excepthook() -> None:
    """Stop recording and put back the hooks ``install_excepthook`` replaced.

    A hook someone else installed after ours (and which may chain to ours) is left in place;
    ours then only passes exceptions on to the hook it replaced.
    """
    with _hooks.lock:
        _hooks.installed = False
        _hooks.manager = None
        if sys.excepthook is _sys_excepthook:
            sys.excepthook = _hooks.previous_sys or sys.__excepthook__
            _hooks.previous_sys = None
        if threading.excepthook is _threading_excepthook:
            threading.excepthook = _hooks.previous_threading or threading.__excepthook__
            _hooks.previous_threading = None
