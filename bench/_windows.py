"""Measurement: what window spans cost a training step, timed directly on the recorder's hooks.

Whole-run timings on this VM vary by +-20 % (FACTS.md), far above a few microseconds per
step, so this times the SDK's own per-step work: ``step_begin`` + ``step_end`` (and ``log``
every 4th step, as with ``logging_steps=4``) of a real ``RunRecorder`` on a real
``TelemetryManager`` whose destination has null exporters behind the real privacy stage.
Four configurations, the same batches interleaved with a rotating order:

* ``off``: windows that never end (OTEL_AXOLOTL_WINDOW_STEPS=10**9, ..._SECONDS=10**6): the
  compare at each step and the occasional clock read only;
* ``default``: 100 steps / 60 s;
* ``every-10``: a window every 10 steps;
* ``every-1``: a window every step: (every-1 - off) is the cost of ending one window (span
  built, scrubbed by the privacy stage, queued), paid once per window.

The hooks run back to back, with no training work between them, so caches stay warm: a real
step (which evicts the SDK's code from the caches) pays more per hook. Hardware metrics are
off: the training thread is measured, not the metric reader's. Microseconds per step, one
sample per batch.

Usage: python bench/_windows.py --batches 30 --batch-size 2000
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from _common import clean_env, emit, null_destination, settings_from

CONFIGS = {
    "off": ("1000000000", "1000000"),
    "default": ("100", "60"),
    "every-10": ("10", "60"),
    "every-1": ("1", "60"),
}


def recorder_for(steps: str, seconds: str) -> tuple[Any, Any]:
    from otel_axolotl.manager import TelemetryManager
    from otel_axolotl.recorder import RunRecorder

    env = clean_env(
        {
            "AXOLOTL_DO_NOT_TRACK": "1",
            "OTEL_AXOLOTL_HARDWARE_METRICS": "false",
            "OTEL_AXOLOTL_WINDOW_STEPS": steps,
            "OTEL_AXOLOTL_WINDOW_SECONDS": seconds,
            "OTEL_AXOLOTL_PROGRESS_STEPS": "1000000000",  # progress events are not measured here
        }
    )
    manager = TelemetryManager(
        settings_from(env), env=env, destinations=[null_destination()], show_consent_notice=False
    )
    recorder = RunRecorder(manager, trainer="bench")
    recorder.train_begin()
    recorder.epoch_begin(0)
    return recorder, lambda: manager.force_flush(10)


def timed_batch(recorder: Any, flush: Any, n: int) -> float:
    """Microseconds per step over ``n`` steps."""
    begin, end, log = recorder.step_begin, recorder.step_end, recorder.log
    logs = {"loss": 1.5, "learning_rate": 1e-4}
    started = time.perf_counter()
    for i in range(n):
        begin()
        end()
        if i % 4 == 3:
            log(logs)
    elapsed = time.perf_counter() - started
    flush()  # outside the timed region: no queue overflows (a dropped span is cheaper)
    return elapsed / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=2000)
    options = parser.parse_args()

    sides = {name: recorder_for(*values) for name, values in CONFIGS.items()}
    for recorder, flush in sides.values():  # warm-up, discarded
        timed_batch(recorder, flush, options.batch_size)
    per_step: dict[str, list[float]] = {name: [] for name in sides}
    names = list(sides)
    for i in range(options.batches):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            recorder, flush = sides[name]
            per_step[name].append(timed_batch(recorder, flush, options.batch_size))
    emit({"per_step_us": per_step, "batch_size": options.batch_size})


if __name__ == "__main__":
    main()
