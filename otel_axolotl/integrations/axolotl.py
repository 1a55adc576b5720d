"""Axolotl's own telemetry (``axolotl.telemetry``), routed to this SDK.

Axolotl (0.21.0, read from its source) sends ``config-loaded``, ``model-load``, error and
autotune events through its ``TelemetryManager`` singleton, which builds a PostHog client of
its own and decides consent by its own rules (opt-out). While this instrumentor is active:

- ``TelemetryManager()`` and ``TelemetryManager.get_instance()`` return
  :class:`AxolotlManager`, a view of this SDK's manager: every ``send_event`` (whatever its
  name) becomes an event of the run; Axolotl's manager is never constructed, so its PostHog
  client, its consent check and its exit hook never exist. A manager Axolotl built before
  instrumenting has its ``send_event``/``send_system_info``/``shutdown`` routed as well.
- ``axolotl.telemetry.errors.send_errors`` decorates with this SDK's ``send_errors``.
- ``axolotl.telemetry.callbacks.TelemetryCallback()`` builds this SDK's callback, so the
  transformers instrumentor finds it on the Trainer and adds no second one.

Nothing imports axolotl for this: each module is patched when it is imported (a
``wrapt.when_imported`` hook), or at once when it already was. ``uninstrument()`` puts every
original back; functions decorated meanwhile and module-level manager references taken
meanwhile follow Axolotl's own behaviour again from then on.

Registered under the ``opentelemetry_instrumentor`` entry point (``otel_axolotl_axolotl``);
``otel_axolotl.init()`` and ``otel-axolotl run`` apply it.
"""

from __future__ import annotations

import functools
import logging
import sys
import threading
from collections.abc import Callable, Collection
from typing import Any

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

_logger = logging.getLogger("otel_axolotl")

_instruments = ("axolotl >= 0.21",)
MANAGER_MODULE = "axolotl.telemetry.manager"
ERRORS_MODULE = "axolotl.telemetry.errors"
CALLBACKS_MODULE = "axolotl.telemetry.callbacks"


class _Routing:
    """Whether Axolotl's telemetry goes to this SDK now, to which manager, and what was replaced."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.active = False
        self.manager: Any = None  # None: the process's manager (``get_default()``), found per call
        self.hooks_registered = False
        self.originals: dict[tuple[Any, str], Any] = {}  # (owner, attribute) -> value in __dict__

    def target(self) -> Any:
        manager = self.manager
        if manager is not None and not getattr(manager, "_closed", False):
            return manager
        from ..manager import get_default

        return get_default()

    def replace(self, owner: Any, name: str, value: Any) -> None:
        key = (owner, name)
        if key not in self.originals:
            self.originals[key] = owner.__dict__.get(name, _ABSENT)
        setattr(owner, name, value)

    def restore(self) -> None:
        originals, self.originals = self.originals, {}
        for (owner, name), value in originals.items():
            try:
                if value is _ABSENT:
                    delattr(owner, name)
                else:
                    setattr(owner, name, value)
            except Exception:
                _logger.debug("otel-axolotl: restoring %r.%s failed", owner, name, exc_info=True)


_ABSENT = object()
_routing = _Routing()


class AxolotlManager:
    """What Axolotl's code gets from ``TelemetryManager.get_instance()`` while instrumented.

    It carries the attributes Axolotl's callers read, with their meaning, over this SDK's
    manager (the process's, built on first use as Axolotl builds its own): ``enabled`` is
    True when this SDK records anything at all (product telemetry with consent, or the user's
    own OTLP backend), since Axolotl's callers use it only to decide whether to report
    (``send_errors``) and whether to add the telemetry callback. After ``uninstrument()`` a
    reference kept meanwhile (``axolotl.cli.config.TELEMETRY_MANAGER``) forwards to Axolotl's
    own manager instead.
    """

    def _target(self) -> Any:
        if _routing.active:
            return _routing.target()
        return sys.modules[MANAGER_MODULE].TelemetryManager.get_instance()

    @property
    def enabled(self) -> bool:
        target = self._target()
        return bool(target.active if _routing.active else target.enabled)

    @property
    def run_id(self) -> str:
        return str(self._target().run_id)

    @property
    def whitelist(self) -> Any:
        return self._target().whitelist

    def send_event(self, event_type: str, properties: dict[str, Any] | None = None) -> None:
        if _routing.active:
            _send_routed(event_type, properties)
        else:
            self._target().send_event(event_type, properties)

    def send_system_info(self) -> None:
        self._target().send_system_info()

    def shutdown(self) -> None:
        self._target().shutdown()


_facade = AxolotlManager()


def _send_routed(event_type: str, properties: dict[str, Any] | None) -> None:
    """An Axolotl event into this SDK's manager. An ``<function>-error`` event sent while an
    exception is being handled is Axolotl's own ``send_errors`` wrapper (one decorated before
    instrumenting): it goes through this SDK's error path, so the exception is recorded on
    the span too and reported once however many wrappers, Axolotl's or ours, it passes."""
    manager = _routing.target()
    handled = sys.exc_info()[1]
    if event_type.endswith("-error") and isinstance(handled, Exception):
        from ..error_report import report, safe_name

        function = event_type.removesuffix("-error")
        report(handled, f"{safe_name(function)}-error", function, manager, end_run=False)
        return
    manager.send_event(event_type, properties)


# ------------------------------------------------------------------ the patches


def _plain_new(klass: Any, *args: Any, **kwargs: Any) -> Any:
    return object.__new__(klass)


def _patch_manager_module(module: Any) -> None:
    cls = module.TelemetryManager
    own_new = cls.__dict__.get("__new__")
    original_new = own_new.__func__ if isinstance(own_new, staticmethod) else _plain_new

    def __new__(klass: Any, *args: Any, **kwargs: Any) -> Any:
        if klass is not cls:  # somebody's subclass keeps Axolotl's behaviour
            return original_new(klass, *args, **kwargs)
        return _facade  # not an instance of ``klass``: Axolotl's __init__ never runs

    def get_instance(klass: Any) -> Any:
        return _facade

    # An instance Axolotl built before we were active: its calls come here too.
    def send_event(self: Any, event_type: str, properties: dict[str, Any] | None = None) -> None:
        _send_routed(event_type, properties)

    def send_system_info(self: Any) -> None:
        _routing.target().send_system_info()

    original_shutdown = cls.shutdown

    def shutdown(self: Any) -> None:
        posthog = sys.modules.get("posthog")
        if posthog is None or getattr(posthog, "default_client", None) is None:
            return  # its client was never built (everything came here): do not build one to close it
        original_shutdown(self)

    _routing.replace(cls, "__new__", staticmethod(__new__))
    _routing.replace(cls, "get_instance", classmethod(get_instance))
    _routing.replace(cls, "send_event", send_event)
    _routing.replace(cls, "send_system_info", send_system_info)
    _routing.replace(cls, "shutdown", shutdown)


def _patch_errors_module(module: Any) -> None:
    original = module.send_errors
    if getattr(original, "_otel_axolotl_routed", False):
        return

    def send_errors(func: Callable[..., Any]) -> Callable[..., Any]:
        """Axolotl's decorator name; routes to this SDK's while instrumented, to Axolotl's after."""
        from ..errors import send_errors as ours

        routed, own = ours(func), original(func)

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return (routed if _routing.active else own)(*args, **kwargs)

        return wrapper

    send_errors._otel_axolotl_routed = True  # type: ignore[attr-defined]
    _routing.replace(module, "send_errors", send_errors)


def _patch_callbacks_module(module: Any) -> None:
    cls = module.TelemetryCallback

    def __new__(klass: Any, *args: Any, **kwargs: Any) -> Any:
        if klass is not cls:  # somebody's subclass keeps Axolotl's behaviour
            return _plain_new(klass)
        from ..callbacks import TelemetryCallback

        return TelemetryCallback(_routing.manager)  # not a ``klass``: Axolotl's __init__ never runs

    _routing.replace(cls, "__new__", staticmethod(__new__))


_PATCHES: dict[str, Callable[[Any], None]] = {
    MANAGER_MODULE: _patch_manager_module,
    ERRORS_MODULE: _patch_errors_module,
    CALLBACKS_MODULE: _patch_callbacks_module,
}


def _on_import(name: str) -> Callable[[Any], None]:
    def hook(module: Any) -> None:
        with _routing.lock:
            if not _routing.active:
                return
            try:
                _PATCHES[name](module)
            except Exception as exc:  # an Axolotl release we do not know: leave it as it is
                from .. import settings as _s

                _s.warn_once(
                    f"axolotl:{name}", "otel-axolotl: could not route %s to otel-axolotl: %r", name, exc
                )

    return hook


class AxolotlInstrumentor(BaseInstrumentor):
    """Routes ``axolotl.telemetry`` to this SDK; ``uninstrument()`` gives Axolotl its own back.

    ``instrument(manager=...)`` pins the manager (tests, embedders); by default every call goes
    to the process's manager. Unlike the transformers instrumentor it applies also when this
    SDK has nothing enabled: then Axolotl's events are dropped here, because consent is this
    SDK's to decide, once.
    """

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        import wrapt

        with _routing.lock:
            _routing.manager = kwargs.get("manager")
            _routing.active = True
            register = not _routing.hooks_registered
            _routing.hooks_registered = True
        for name in _PATCHES:
            if register:  # wrapt calls the hook at once for a module already imported
                wrapt.register_post_import_hook(_on_import(name), name)
            elif name in sys.modules:
                _on_import(name)(sys.modules[name])

    def _uninstrument(self, **kwargs: Any) -> None:
        # wrapt cannot unregister a hook: a registered one does nothing while inactive.
        with _routing.lock:
            _routing.active = False
            _routing.manager = None
            _routing.restore()
