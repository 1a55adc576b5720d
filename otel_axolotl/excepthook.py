"""An opt-in excepthook: uncaught exceptions (main thread and other threads) become error
events, then the previous hook runs.

Opt-in, because replacing process-wide hooks is the application's decision. An uncaught
error in the main thread fails the run; one in another thread is recorded without ending the
run. Interactive shells are left alone. The hook never raises: the previous hook always runs.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any

from .error_report import current_manager, error_event_name, report

__all__ = ["install_excepthook", "uninstall_excepthook"]

_logger = logging.getLogger("otel_axolotl")


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
    manager = _hooks.manager if _hooks.manager is not None else current_manager()
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
