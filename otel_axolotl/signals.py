"""SIGTERM and SIGINT end the open run as ``interrupted`` and flush, then the previous handler runs.

A launcher stopping a job (torchrun after a failed rank, SLURM at the time limit, Kubernetes
at eviction) sends SIGTERM, whose default action kills the process at once: no ``atexit``,
so without this the run span, ``train-end`` and whatever sat in the queues would be lost.

One process-wide handler serves every active manager (usually one). It is installed from the
main thread only (Python's rule), by a manager that has somewhere to send to, unless
OTEL_AXOLOTL_SIGNALS=false; never over a signal the program ignores (SIG_IGN) or one whose
handler was set outside Python (we could not chain to it). When the signal arrives each
manager ends its open runs as ``interrupted`` and flushes within its shutdown deadline; then
the handler that was there before runs:

- a Python callable (``default_int_handler`` raising KeyboardInterrupt for SIGINT, or the
  application's / framework's own) is called as it would have been;
- SIG_DFL: the default disposition is restored and the signal re-raised with ``os.kill``,
  so the process ends exactly as it would have without us (exit status ``-SIGTERM``); the
  manager is shut down first, since nothing runs after that.

A signal during the exit flush (``atexit`` waiting on a silent backend when the scheduler's
SIGTERM comes) spools what is still in memory before the previous handler runs, and so does a
second signal while the first is being handled when it is about to end the process (SIG_DFL);
then it goes straight to the previous handler (a second signal is delayed only by that write,
bounded by ``pipeline.SPOOL_AT_EXIT_SECONDS``; a second Ctrl-C not at all).
The handlers stay installed until the exit flush is over for that reason. The last manager
to shut down restores the previous handlers, unless someone installed theirs over ours since
(which may chain to ours: ours then only passes the signal on). A forked child keeps the
handler; its managers are inactive, so it only passes signals on.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import weakref
from types import FrameType
from typing import Any, Protocol

from .forksafe import after_fork_in_child

_logger = logging.getLogger("otel_axolotl")

HANDLED = (signal.SIGTERM, signal.SIGINT)


class SignalTarget(Protocol):
    """Told about a handled signal before the previous handler runs (the manager)."""

    def handle_signal(self, signum: int, *, fatal: bool) -> None: ...

    def spool_in_memory(self) -> None: ...


class _State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.previous: dict[int, Any] = {}  # signal -> the handler ours replaced (any handler)
        self.managers: weakref.WeakSet[SignalTarget] = weakref.WeakSet()
        self.handling = False

    def reinit_after_fork(self) -> None:
        self.lock = threading.Lock()
        self.handling = False


_state = _State()
after_fork_in_child(_state.reinit_after_fork)


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def install(manager: SignalTarget) -> bool:
    """Have ``manager`` told about SIGTERM/SIGINT; True when our handler is in place for at
    least one of them. Never raises."""
    if not _in_main_thread():
        return False
    try:
        with _state.lock:
            _state.managers.add(manager)
            for signum in HANDLED:
                if signum in _state.previous:
                    continue  # ours is installed, or chained below a later handler
                current = signal.getsignal(signum)
                if current is None or current == signal.SIG_IGN:
                    continue  # set outside Python (cannot chain), or ignored on purpose
                signal.signal(signum, _handle)
                _state.previous[signum] = current
            return bool(_state.previous)
    except (ValueError, OSError):  # not the main interpreter, or the platform refuses
        _logger.debug("otel-axolotl: signal handlers not installed", exc_info=True)
        return False


def uninstall(manager: SignalTarget) -> None:
    """Forget ``manager``; the last one out restores the previous handlers (from the main
    thread only; elsewhere ours stays and passes signals on). Never raises."""
    try:
        with _state.lock:
            _state.managers.discard(manager)
            if len(_state.managers) or not _in_main_thread():
                return
            for signum, previous in list(_state.previous.items()):
                if signal.getsignal(signum) is _handle:
                    signal.signal(signum, previous)
                    del _state.previous[signum]
    except (ValueError, OSError):
        _logger.debug("otel-axolotl: signal handlers not restored", exc_info=True)


def _handle(signum: int, frame: FrameType | None) -> None:
    previous = _state.previous.get(signum, signal.SIG_DFL)
    fatal = not callable(previous)  # SIG_DFL: the process is about to end
    if not _state.handling:
        _state.handling = True
        try:
            for manager in list(_state.managers):
                try:
                    manager.handle_signal(signum, fatal=fatal)
                except Exception:
                    _logger.debug("otel-axolotl: handling signal %s failed", signum, exc_info=True)
        finally:
            _state.handling = False
    elif fatal:  # the first is still being handled and this one ends the process: keep what
        # is in memory first (a Python handler returns, or raises into the first handling,
        # whose exit path then spools)
        for manager in list(_state.managers):
            try:
                manager.spool_in_memory()
            except Exception:
                _logger.debug("otel-axolotl: spooling on signal %s failed", signum, exc_info=True)
    _chain(signum, frame, previous)


def _chain(signum: int, frame: FrameType | None, previous: Any) -> None:
    if callable(previous):
        previous(signum, frame)
    elif previous != signal.SIG_IGN:  # SIG_DFL: end the process as the signal would have
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
