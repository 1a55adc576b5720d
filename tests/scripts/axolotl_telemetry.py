"""Drive Axolotl's real ``axolotl.telemetry`` modules under ``otel_axolotl.init()`` (a child
process: the instrumentor patches process-wide state).

``routed``: Axolotl's calls (its manager's ``send_event``, a ``@send_errors`` function that
raises, its ``TelemetryCallback``) made while instrumented. ``restored``: the same after
``uninstrument()``. Prints one ``RESULT <json>`` line. Every ``posthog.Client`` built in the
process is recorded with its host, so the test can tell whether Axolotl's own was built.
"""

from __future__ import annotations

import contextlib
import json
import sys
from typing import Any

import posthog

# Offline, and proof that nothing else was contacted: any connection beyond loopback fails.
outside: list[str] = []


def _loopback_only(event: str, args: tuple[Any, ...]) -> None:
    if event == "socket.connect" and isinstance(args[1], tuple):
        host = str(args[1][0])
        if host not in ("127.0.0.1", "::1", "localhost"):
            outside.append(host)
            raise ConnectionRefusedError(f"test: no connection to {host}")
    if event == "socket.getaddrinfo" and str(args[0]) not in ("127.0.0.1", "::1", "localhost"):
        outside.append(str(args[0]))
        raise OSError(f"test: no name lookup for {args[0]}")


sys.addaudithook(_loopback_only)

clients: list[str] = []
_original_init = posthog.Client.__init__


def _recording_init(self: Any, *args: Any, **kwargs: Any) -> None:
    _original_init(self, *args, **kwargs)
    clients.append(str(getattr(self, "host", None)))


posthog.Client.__init__ = _recording_init  # type: ignore[method-assign]

# Decorated by Axolotl's own send_errors before init(), as modules imported earlier are.
from axolotl.telemetry.errors import send_errors as axolotl_send_errors  # noqa: E402


@axolotl_send_errors
def early_outer() -> None:
    inner_routed()  # decorated after init(): the innermost reports, Axolotl's wrapper does not again


@axolotl_send_errors
def early_fail() -> None:
    raise KeyError("key from /home/alice/private-early")


import otel_axolotl  # noqa: E402

manager = otel_axolotl.init()

from axolotl.telemetry import callbacks as ax_callbacks  # noqa: E402
from axolotl.telemetry import errors as ax_errors  # noqa: E402
from axolotl.telemetry import manager as ax_manager  # noqa: E402


@ax_errors.send_errors
def load_datasets(path: str) -> None:
    """Decorated while instrumented, as Axolotl's modules are at import."""
    raise FileNotFoundError(f"no dataset at {path}")


@ax_errors.send_errors
def inner_routed() -> None:
    raise RuntimeError("nested failure in /home/alice/private-nested")


def raise_and_catch(tag: str) -> None:
    with contextlib.suppress(FileNotFoundError):  # caught: the run goes on
        load_datasets(f"/home/alice/private-{tag}/data.json")


result: dict[str, Any] = {"run_id": manager.run_id}
early = ax_manager.TelemetryManager.get_instance()  # a module-level reference, as axolotl.cli.config keeps
result["singleton"] = (
    early is ax_manager.TelemetryManager() and early is ax_manager.TelemetryManager.get_instance()
)
result["routed_enabled"] = early.enabled
result["routed_run_id"] = early.run_id == manager.run_id
result["callback_class"] = type(ax_callbacks.TelemetryCallback()).__module__


class OwnCallback(ax_callbacks.TelemetryCallback):
    """Somebody's subclass of Axolotl's callback: left as it is."""


result["subclass_class"] = type(OwnCallback()).__name__

if sys.argv[1] == "routed":
    early.send_event(
        event_type="config-loaded",
        properties={
            "base_model": "meta-llama/Llama-3.1-8B",
            "output_dir": "/home/alice/private-run",
            "hf_token": "hf_abcdefghijklmnopqrstuvwxyz0123456789",
            "learning_rate": 0.0002,
        },
    )
    early.send_event(event_type="model-load", properties={"model_type": "LlamaForCausalLM"})
    raise_and_catch("routed")
    with contextlib.suppress(RuntimeError):
        early_outer()
    with contextlib.suppress(KeyError):
        early_fail()
else:  # restored
    early.send_event(event_type="model-load", properties={"n": 1})
    raise_and_catch("before")
    from otel_axolotl.integrations.axolotl import AxolotlInstrumentor

    AxolotlInstrumentor().uninstrument()
    own = ax_manager.TelemetryManager.get_instance()
    result["own_manager_class"] = f"{type(own).__module__}.{type(own).__qualname__}"
    result["own_singleton"] = own is ax_manager.TelemetryManager()
    result["own_enabled"] = own.enabled  # Axolotl's own opt-out check (DO_NOT_TRACK=1 here)
    result["send_errors_module"] = ax_errors.send_errors.__module__
    result["callback_class_after"] = type(ax_callbacks.TelemetryCallback()).__module__
    result["early_forwards_to_own"] = early.enabled is own.enabled  # Axolotl's False, not ours (True)
    early.send_event(event_type="peft-config-load", properties={"n": 2})  # to Axolotl's (disabled)
    raise_and_catch("after")  # Axolotl's own send_errors: disabled, sends nothing

otel_axolotl.shutdown()
result["clients"] = clients
result["outside"] = outside
result["default_client_built"] = posthog.default_client is not None
result["posthog_module_host"] = getattr(posthog, "host", None)
print("RESULT " + json.dumps(result), flush=True)
