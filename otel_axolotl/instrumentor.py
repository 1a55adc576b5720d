"""Auto-instrumentation: every ``transformers.Trainer`` gets a ``TelemetryCallback``.

Registered under the ``opentelemetry_instrumentor`` entry point, so
``opentelemetry-instrument python train.py`` works and
``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=otel_axolotl_transformers`` switches it off.
``otel_axolotl.init()`` applies it too. transformers is never imported for this: when it is
not imported yet, a post-import hook patches it the moment ``transformers.trainer`` loads.

Under ``opentelemetry-instrument`` the run's data still flows through otel-axolotl's own
privacy stage and destinations (configured by the same OTEL_EXPORTER_OTLP_* variables),
never straight into the globally configured exporters.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import threading
from collections.abc import Collection
from typing import Any

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

_instruments = ("transformers >= 4.46",)
_TARGET = "transformers.trainer"
_MARK = "_otel_axolotl_original_init"


class _PostImportHook(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Runs a callback right after one module finishes importing, then gets out of the way."""

    def __init__(self, name: str, callback: Any) -> None:
        self.name = name
        self.callback = callback
        self._busy = threading.local()

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != self.name or getattr(self._busy, "active", False):
            return None
        self._busy.active = True
        try:
            spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        finally:
            self._busy.active = False
        if spec is None or spec.loader is None:
            return None
        self._loader = spec.loader
        spec.loader = self
        return spec

    def create_module(self, spec: Any) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        self._loader.exec_module(module)
        remove_hook(self)
        self.callback(module)


_hook: _PostImportHook | None = None


def remove_hook(hook: _PostImportHook | None = None) -> None:
    global _hook
    hook = hook or _hook
    if hook is not None and hook in sys.meta_path:
        sys.meta_path.remove(hook)
    if hook is _hook:
        _hook = None


def _patch(module: Any, manager: Any) -> None:
    trainer_cls = module.Trainer
    if hasattr(trainer_cls, _MARK):
        return
    original = trainer_cls.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        try:
            from .callbacks import TelemetryCallback

            handler = getattr(self, "callback_handler", None)
            present = handler is not None and any(
                isinstance(cb, TelemetryCallback) for cb in handler.callbacks
            )
            if not present:
                self.add_callback(TelemetryCallback(manager))
        except Exception:  # instrumentation must never break building a Trainer
            pass

    __init__.__wrapped__ = original  # type: ignore[attr-defined]
    setattr(trainer_cls, _MARK, original)
    trainer_cls.__init__ = __init__


def _unpatch(module: Any) -> None:
    trainer_cls = module.Trainer
    original = trainer_cls.__dict__.get(_MARK)
    if original is not None:
        trainer_cls.__init__ = original
        delattr(trainer_cls, _MARK)


class TrainerInstrumentor(BaseInstrumentor):
    """Adds ``TelemetryCallback`` to every ``transformers.Trainer``; ``uninstrument()`` undoes it."""

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        global _hook
        manager = kwargs.get("manager")
        if manager is None:
            from .manager import get_default

            manager = get_default()
        if not manager.active:  # nothing would be sent: leave transformers untouched
            return
        module = sys.modules.get(_TARGET)
        if module is not None:
            _patch(module, manager)
        elif _hook is None:
            _hook = _PostImportHook(_TARGET, lambda m: _patch(m, manager))
            sys.meta_path.insert(0, _hook)

    def _uninstrument(self, **kwargs: Any) -> None:
        remove_hook()
        module = sys.modules.get(_TARGET)
        if module is not None:
            _unpatch(module)
