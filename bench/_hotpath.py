"""Measurement 5: the SDK's own work per training step, timed directly inside a real Trainer run.

Whole-run ratios cannot resolve 1 % on a shared VM (bare against bare varies by +-20 %), so
this worker times what the SDK itself does instead:

* every hook ``TelemetryCallback`` overrides (``on_step_begin``, ``on_step_end``, ``on_log``,
  ``on_epoch_*``, ...) is wrapped on the instance with ``time.perf_counter_ns``; the time of
  every hook called between one ``on_step_begin`` and the next is summed into that step (the
  ``on_log`` after a step belongs to it). The figures are the median and p90 of those per-step
  sums from step ``--skip`` on (warm caches, first progress event and batch out of the way),
  plus the one-time ``on_train_begin`` and ``on_train_end``;
* the CPU time every other thread of the process spent over ``trainer.train()`` (exporter and
  worker threads, gRPC's native threads included), read per thread from ``/proc/self/task``
  before and after (``utime + stime``, clock-tick resolution), and for Python threads also with
  ``time.pthread_getcpuclockid`` (nanoseconds); per step, that is the cost moved off the
  training thread.

The pipeline is the full one: product telemetry consented to the tests' PostHog-speaking
server on loopback (strict privacy stage) and OTLP/gRPC to a real rotel collector (blackhole
exporter), hardware metrics on. The metric export interval is 1 s so the reader thread does
its work inside the timed run.

Usage: python bench/_hotpath.py --steps 600 --skip 50 [--reps 1] [--logging-steps 4]
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any

from _common import ROOT, clean_env, emit
from _rotel import Rotel

HOOKS = (
    "on_train_begin",
    "on_train_end",
    "on_epoch_begin",
    "on_epoch_end",
    "on_step_begin",
    "on_step_end",
    "on_log",
    "on_evaluate",
    "on_save",
)


class HookClock:
    """Per-step sums of the time spent in the wrapped hooks of one callback."""

    def __init__(self) -> None:
        self.steps: list[int] = []  # ns per step, index = step (0-based)
        self.once: dict[str, int] = {}  # on_train_begin / on_train_end
        self.calls: dict[str, list[int]] = {}  # ns of every call, by hook
        self.step_starts: list[int] = []  # perf_counter_ns at each on_step_begin

    def wrap(self, callback: Any) -> None:
        from transformers import TrainerCallback

        for name in HOOKS:
            if getattr(type(callback), name) is getattr(TrainerCallback, name):
                continue  # not overridden: transformers' no-op, not the SDK's work
            setattr(callback, name, self._timed(name, getattr(callback, name)))

    def _timed(self, name: str, hook: Callable[..., Any]) -> Callable[..., Any]:
        clock = time.perf_counter_ns
        steps, once, calls, step_starts = self.steps, self.once, self.calls, self.step_starts

        def timed(*args: Any, **kwargs: Any) -> Any:
            if name == "on_step_begin":
                step_starts.append(clock())
                steps.append(0)
            started = clock()
            try:
                return hook(*args, **kwargs)
            finally:
                spent = clock() - started
                calls.setdefault(name, []).append(spent)
                if name in ("on_train_begin", "on_train_end"):
                    once[name] = once.get(name, 0) + spent
                elif steps:
                    steps[-1] += spent

        return timed


def _null_callback() -> Any:
    """A callback overriding the same hooks with nothing in them: timed the same way right
    after ours, it is the floor (the callback dispatch, the keyword arguments transformers
    passes, the timing itself) that no callback can go under."""
    from transformers import TrainerCallback

    from otel_axolotl.callbacks import TelemetryCallback

    def nothing(self: Any, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        return None

    overridden = {
        name: nothing
        for name in HOOKS
        if getattr(TelemetryCallback, name) is not getattr(TrainerCallback, name)
    }
    return type("NullCallback", (TrainerCallback,), overridden)()


def _task_cpu_ns() -> dict[int, int]:
    """CPU time (user + system) of every thread of this process, by kernel thread id."""
    tick_ns = 1_000_000_000 // os.sysconf("SC_CLK_TCK")
    result: dict[int, int] = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/stat", encoding="ascii") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the thread ended meanwhile
        result[int(tid)] = (int(fields[11]) + int(fields[12])) * tick_ns
    return result


def _python_thread_cpu_ns() -> dict[str, int]:
    """Nanosecond CPU clocks of the Python threads other than this one, by thread name."""
    result: dict[str, int] = {}
    for thread in threading.enumerate():
        if thread is threading.current_thread() or thread.ident is None:
            continue
        try:
            clock = time.pthread_getcpuclockid(thread.ident)
            kind = type(thread)
            label = thread.name
            if kind is not threading.Thread:  # posthog's consumer and the like: say whose
                label = f"{thread.name} ({kind.__module__}.{kind.__name__})"
            result[f"{label}#{thread.native_id}"] = time.clock_gettime_ns(clock)
        except (OSError, ProcessLookupError):
            continue
    return result


POSTHOG_SERVER = """
import sys
sys.path.insert(0, sys.argv[1])
from tests.support.posthog_capture import PostHogCaptureServer
with PostHogCaptureServer() as server:
    print(server.url, flush=True)
    sys.stdin.read()
    print(len(server.events), flush=True)
"""


class PostHogServerProcess:
    """The tests' PostHog-speaking server in its own process: its threads are not ours."""

    def __enter__(self) -> PostHogServerProcess:
        self.process = subprocess.Popen(
            [sys.executable, "-c", POSTHOG_SERVER, str(ROOT)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip()
        return self

    def close(self) -> int:
        """Stop the server; the number of events it received."""
        stdout, _ = self.process.communicate(timeout=30)
        return int(stdout.strip().splitlines()[-1])

    def __exit__(self, *exc: object) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def one_run(
    steps: int, skip: int, samples: int, logging_steps: int, rotel: Rotel, posthog_url: str
) -> dict[str, Any]:
    from transformers import Trainer
    from transformers.trainer_callback import PrinterCallback

    from otel_axolotl.callbacks import TelemetryCallback
    from otel_axolotl.demo import build_model_and_data, training_arguments
    from otel_axolotl.manager import TelemetryManager
    from otel_axolotl.settings import Settings

    env = clean_env(
        {
            "AXOLOTL_DO_NOT_TRACK": "0",
            "OTEL_AXOLOTL_POSTHOG_API_KEY": "phc_test",
            "OTEL_AXOLOTL_POSTHOG_HOST": posthog_url,
            "OTEL_EXPORTER_OTLP_ENDPOINT": rotel.grpc_endpoint,
            "OTEL_METRIC_EXPORT_INTERVAL": "1000",
        }
    )
    # Whatever part of the SDK still reads the process environment spools there too, not in ~/.cache.
    os.environ["OTEL_AXOLOTL_SPOOL_DIR"] = env["OTEL_AXOLOTL_SPOOL_DIR"]
    manager = TelemetryManager(Settings.from_env(env), env=env, show_consent_notice=False)
    if sorted(manager.destinations) != ["otlp", "posthog"]:
        raise RuntimeError(f"expected the PostHog and OTLP destinations, got {manager.destinations}")
    callback = TelemetryCallback(manager)
    clock = HookClock()
    clock.wrap(callback)
    null_callback = _null_callback()
    floor = HookClock()
    floor.wrap(null_callback)
    model, train, _ = build_model_and_data(samples=samples, seq_len=32, seed=0)
    main_tid = threading.get_native_id()
    with tempfile.TemporaryDirectory(prefix="otel-axolotl-bench-") as tmp:
        args = training_arguments(
            tmp, max_steps=steps, eval_strategy="no", save_strategy="no", logging_steps=logging_steps
        )
        trainer = Trainer(model=model, args=args, train_dataset=train, callbacks=[callback, null_callback])
        trainer.remove_callback(PrinterCallback)
        tasks_before, python_before = _task_cpu_ns(), _python_thread_cpu_ns()
        main_before = time.thread_time_ns()
        started = time.perf_counter()
        trainer.train()
        wall = time.perf_counter() - started
        main_cpu = time.thread_time_ns() - main_before
        tasks_after, python_after = _task_cpu_ns(), _python_thread_cpu_ns()
    if not manager.shutdown(timeout=10):
        raise RuntimeError("the manager did not shut down within 10 s")
    python_threads = {
        name: ns - python_before.get(name, 0)
        for name, ns in python_after.items()
        if ns - python_before.get(name, 0) > 0
    }
    python_tids = {int(name.rsplit("#", 1)[1]) for name in python_after}
    native = sum(
        ns - tasks_before.get(tid, 0)
        for tid, ns in tasks_after.items()
        if tid != main_tid and tid not in python_tids
    )
    others = native + sum(python_threads.values())
    per_step_us = [ns / 1000 for ns in clock.steps[skip:]]
    floor_us = [ns / 1000 for ns in floor.steps[skip:]]
    starts = clock.step_starts[skip:]
    step_us = statistics.median((b - a) / 1000 for a, b in itertools.pairwise(starts))
    return {
        "steps": len(clock.steps),
        "median_us": statistics.median(per_step_us),
        "p90_us": _percentile(per_step_us, 0.9),
        "mean_us": statistics.fmean(per_step_us),
        "floor_median_us": statistics.median(floor_us),
        "floor_p90_us": _percentile(floor_us, 0.9),
        "train_begin_ms": clock.once.get("on_train_begin", 0) / 1e6,
        "train_end_ms": clock.once.get("on_train_end", 0) / 1e6,
        "hooks_median_us": {k: statistics.median(v) / 1000 for k, v in clock.calls.items()},
        "hooks_calls": {k: len(v) for k, v in clock.calls.items()},
        "step_ms": wall * 1000 / steps,
        "median_step_us": step_us,
        "main_thread_cpu_ms_per_step": main_cpu / 1e6 / steps,
        "other_threads_cpu_us_per_step": others / 1000 / steps,
        "native_threads_cpu_ms": native / 1e6,
        "python_threads_cpu_ms": {k: v / 1e6 for k, v in sorted(python_threads.items())},
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--skip", type=int, default=50)
    parser.add_argument("--reps", type=int, default=1)
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--torch-threads", type=int, default=1)
    parser.add_argument("--logging-steps", type=int, default=4)
    options = parser.parse_args()

    import torch

    torch.set_num_threads(options.torch_threads)
    runs = []
    with Rotel() as rotel, PostHogServerProcess() as posthog_server:
        for _ in range(options.reps):
            runs.append(
                one_run(
                    options.steps,
                    options.skip,
                    options.samples,
                    options.logging_steps,
                    rotel,
                    posthog_server.url,
                )
            )
        delivered = posthog_server.close()
    emit({"runs": runs, "steps": options.steps, "skip": options.skip, "posthog_events": delivered})


if __name__ == "__main__":
    main()
