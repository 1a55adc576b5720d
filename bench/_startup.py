"""Measurements 3 and 6: what the disabled path and ``init()`` cost a process at start-up.

* disabled path: ``python -c "import otel_axolotl; otel_axolotl.init()"`` under
  ``DO_NOT_TRACK=1`` vs. ``python -c pass``, whole-process wall time, pairs interleaved (order
  alternating); the added milliseconds are the median of the per-pair differences. One more
  child counts what the disabled path starts: socket audit events (``sys.addaudithook``),
  Python threads (``threading.enumerate()``) and OS threads (``/proc/self/task``), and which
  heavy modules it imported.
* import time: ``import otel_axolotl; otel_axolotl.init()`` timed inside a fresh child with
  ``time.perf_counter`` (interpreter start-up excluded), (a) with nothing configured and (b)
  with an OTLP endpoint set, so that ``init()`` builds the whole pipeline (gRPC exporters,
  providers, hardware metrics). Reps alternate (a)/(b). One extra ``-X importtime`` run of (b)
  names the slowest imports.

Usage: python bench/_startup.py --pairs 30 --import-reps 10
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import textwrap
import time

from _common import clean_env, emit
from _rotel import free_port

INIT = "import otel_axolotl; otel_axolotl.init()"

AUDIT = textwrap.dedent(
    """
    import json, os, sys, threading
    events = []
    sys.addaudithook(lambda event, args: events.append(event) if event.startswith("socket.") else None)
    def os_threads():
        try:
            return len(os.listdir("/proc/self/task"))
        except OSError:
            return -1
    before_py, before_os = len(threading.enumerate()), os_threads()
    import otel_axolotl
    manager = otel_axolotl.init()
    otel_axolotl.send_event("config-loaded", {"learning_rate": 1e-4})
    print(json.dumps({
        "active": manager.active,
        "python_threads_added": len(threading.enumerate()) - before_py,
        "os_threads_added": os_threads() - before_os,
        "socket_events": events,
        "heavy_modules": [m for m in ("opentelemetry.sdk.trace", "posthog", "grpc", "torch",
                                      "transformers", "pynvml", "psutil") if m in sys.modules],
    }))
    """
)

TIMED_INIT = textwrap.dedent(
    """
    import json, time
    started = time.perf_counter()
    import otel_axolotl
    manager = otel_axolotl.init()
    elapsed = time.perf_counter() - started
    print(json.dumps({"ms": elapsed * 1000, "destinations": manager.destinations}))
    """
)


def _wall(args: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(args, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return (time.perf_counter() - started) * 1000


def _json_child(script: str, env: dict[str, str], *flags: str) -> dict:
    done = subprocess.run(
        [sys.executable, *flags, "-c", script],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return json.loads(done.stdout.strip().splitlines()[-1]) | {"stderr": done.stderr}


def disabled_path(pairs: int) -> dict:
    env = clean_env({"DO_NOT_TRACK": "1"})
    commands = {"bare": [sys.executable, "-c", "pass"], "disabled": [sys.executable, "-c", INIT]}
    for args in commands.values():  # warm the page cache
        _wall(args, env)
    walls: dict[str, list[float]] = {"bare": [], "disabled": []}
    for i in range(pairs):
        for name in ("bare", "disabled") if i % 2 == 0 else ("disabled", "bare"):
            walls[name].append(_wall(commands[name], env))
    audit = _json_child(AUDIT, env)
    audit.pop("stderr")
    return {"wall_ms": walls, "audit": audit}


def import_times(reps: int) -> dict:
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there; init() connects to nothing
    envs = {
        "nothing": clean_env(),
        "otlp": clean_env(
            {
                "AXOLOTL_DO_NOT_TRACK": "1",
                "OTEL_EXPORTER_OTLP_ENDPOINT": closed,
                "OTEL_AXOLOTL_SHUTDOWN_TIMEOUT": "0.1",  # exit at once: this child measures init
            }
        ),
    }
    for env in envs.values():  # warm the page cache
        _json_child(TIMED_INIT, env)
    ms: dict[str, list[float]] = {name: [] for name in envs}
    destinations: dict[str, list[str]] = {}
    for i in range(reps):
        for name in ("nothing", "otlp") if i % 2 == 0 else ("otlp", "nothing"):
            result = _json_child(TIMED_INIT, envs[name])
            ms[name].append(result["ms"])
            destinations[name] = result["destinations"]
    return {"ms": ms, "destinations": destinations, "slowest_imports": slowest_imports(envs["otlp"])}


def slowest_imports(env: dict[str, str], top: int = 8) -> list[list]:
    """``-X importtime`` of (b): the outermost imports with the largest cumulative time (ms).

    Imports that ``init()`` makes inside functions show up as outermost rows of their own.
    """
    stderr = _json_child(TIMED_INIT, env, "-X", "importtime")["stderr"]
    rows = []
    for line in stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if not line.startswith("import time:") or len(parts) != 3 or not parts[1].strip().isdigit():
            continue
        name = parts[2][1:]  # one space after the bar, then two per nesting level
        if not name.startswith(" "):
            rows.append([name.strip(), int(parts[1]) / 1000])
    rows.sort(key=lambda r: -r[1])
    return rows[:top]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=30)
    parser.add_argument("--import-reps", type=int, default=10)
    options = parser.parse_args()
    emit({"disabled": disabled_path(options.pairs), "imports": import_times(options.import_reps)})


if __name__ == "__main__":
    main()
