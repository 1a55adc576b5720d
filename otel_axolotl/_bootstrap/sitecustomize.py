"""Put on PYTHONPATH by ``otel-axolotl run``: instrument every Python process of the command.

Any sitecustomize that was shadowed is run first, so the user's own start-up still happens.
Never raises: a telemetry problem must not stop the user's program from starting.
"""

import contextlib
import importlib.util
import os
import sys

_here = os.path.dirname(os.path.abspath(__file__))


def _chain_shadowed() -> None:
    for entry in sys.path:
        if os.path.abspath(entry or ".") == _here:
            continue
        candidate = os.path.join(entry or ".", "sitecustomize.py")
        if os.path.isfile(candidate):
            spec = importlib.util.spec_from_file_location("_otel_axolotl_shadowed_sitecustomize", candidate)
            if spec is not None and spec.loader is not None:
                spec.loader.exec_module(importlib.util.module_from_spec(spec))
            return


with contextlib.suppress(Exception):
    _chain_shadowed()

try:
    from otel_axolotl.launchers import is_launcher

    if not is_launcher():  # torchrun's agent, accelerate launch: they train nothing, export nothing
        import otel_axolotl

        otel_axolotl.init()
except Exception as _exc:  # pragma: no cover - defensive
    sys.stderr.write(f"otel-axolotl: auto-instrumentation skipped ({type(_exc).__name__})\n")
