"""Auto-instrumentation: every ``transformers.Trainer`` gets a ``TelemetryCallback``.

Registered under the ``opentelemetry_instrumentor`` entry point, so
``opentelemetry-instrument python train.py`` works and
``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=otel_axolotl_transformers`` switches it off.
``otel_axolotl.init()`` applies it too. transformers is never imported for this: when it is
not imported yet, a post-import hook (``wrapt``) patches it the moment ``transformers.trainer``
loads. The patch is ``wrapt.wrap_function_wrapper`` on ``Trainer.__init__`` and
``Trainer.train``, undone by ``opentelemetry.instrumentation.utils.unwrap``, as the contrib
instrumentations do.

``train`` is wrapped because no ``TrainerCallback`` hook runs when an exception escapes
training (a user callback raising, an out-of-memory error): without the wrap such a run would
end only at exit, as ``interrupted``, its epoch span lost. The wrap ends it as ``failed``
(the sanitized error recorded, open spans closed, ``train-end`` sent) or, for
KeyboardInterrupt, ``interrupted``, then re-raises the exception unchanged.

Under ``opentelemetry-instrument`` the run's data still flows through otel-axolotl's own
privacy stage and destinations (configured by the same OTEL_EXPORTER_OTLP_* variables),
never straight into the globally configured exporters.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Collection
from types import ModuleType
from typing import TYPE_CHECKING, Any

import wrapt
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]
from opentelemetry.instrumentation.utils import unwrap

if TYPE_CHECKING:
    from .manager import TelemetryManager

_instruments = ("transformers >= 4.46",)
_TARGET = "transformers.trainer"


class _Patching:
    """Which manager new Trainers report to (None: not instrumented). wrapt's post-import hooks
    cannot be removed, so the one hook, registered on first use, asks this at import time."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.manager: TelemetryManager | None = None
        self.hook_registered = False


_patching = _Patching()


def _init_wrapper(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    """After ``Trainer.__init__``: the callback of the manager instrumented NOW (read at each
    call, not when the class was patched: a patch made for an earlier manager must not send a
    later Trainer's run there)."""
    result = wrapped(*args, **kwargs)
    manager = _patching.manager
    if manager is None or not manager.active:
        return result
    try:
        from .callbacks import TelemetryCallback

        handler = getattr(instance, "callback_handler", None)
        present = handler is not None and any(isinstance(cb, TelemetryCallback) for cb in handler.callbacks)
        if not present:
            instance.add_callback(TelemetryCallback(manager))
    except Exception:  # instrumentation must never break building a Trainer
        pass
    return result


def _telemetry_recorder(trainer: Any) -> Any:
    """The run recorder of ``trainer``'s TelemetryCallback, or None."""
    from .callbacks import TelemetryCallback

    handler = getattr(trainer, "callback_handler", None)
    for callback in getattr(handler, "callbacks", ()):
        if isinstance(callback, TelemetryCallback):
            return callback.recorder
    return None


def _end_escaped(trainer: Any, exc: BaseException) -> None:
    """An exception left ``Trainer.train()``: end the open run as failed or interrupted."""
    try:
        recorder = _telemetry_recorder(trainer)
        if recorder is None or not recorder.active:
            return
        if isinstance(exc, Exception):
            from .error_report import error_event_name, report

            name = error_event_name(exc.__traceback__)
            report(exc, name, name.removesuffix("-error"), recorder.manager, end_run=False)
            recorder.train_end("failed", exc)
        else:  # KeyboardInterrupt (SystemExit, GeneratorExit): stopped, not broken
            recorder.train_end("interrupted")
    except Exception:  # instrumentation must never change what the program sees
        pass


def _train_wrapper(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    try:
        return wrapped(*args, **kwargs)
    except BaseException as exc:
        _end_escaped(instance, exc)
        raise


_PATCHED = ("__init__", "train")


def _patch(module: ModuleType) -> None:
    manager = _patching.manager
    if manager is None:  # uninstrumented before transformers was imported
        return
    if isinstance(module.Trainer.__dict__.get("__init__"), wrapt.ObjectProxy):
        return  # patched already
    wrapt.wrap_function_wrapper(module, "Trainer.__init__", _init_wrapper)
    wrapt.wrap_function_wrapper(module, "Trainer.train", _train_wrapper)


def _unpatch(module: ModuleType) -> None:
    for name in _PATCHED:
        if isinstance(module.Trainer.__dict__.get(name), wrapt.ObjectProxy):
            unwrap(module.Trainer, name)


class TrainerInstrumentor(BaseInstrumentor):
    """Adds ``TelemetryCallback`` to every ``transformers.Trainer``; ``uninstrument()`` undoes it."""

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        manager = kwargs.get("manager")
        if manager is None:
            from .manager import get_default

            manager = get_default()
        if not manager.active:  # nothing would be sent: leave transformers untouched
            return
        with _patching.lock:
            _patching.manager = manager
            register = not _patching.hook_registered
            _patching.hook_registered = True
        if register:  # runs at once when transformers.trainer is imported already
            wrapt.register_post_import_hook(_patch, _TARGET)
        elif _TARGET in sys.modules:
            _patch(sys.modules[_TARGET])

    def _uninstrument(self, **kwargs: Any) -> None:
        _patching.manager = None
        module = sys.modules.get(_TARGET)
        if module is not None:
            _unpatch(module)
