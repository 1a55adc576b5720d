"""When Axolotl's ``train-progress`` event is due, and what it carries.

Axolotl 0.21.0's ``TelemetryCallback.on_step_end`` reports the first step of a run; then a
step ``every`` steps after the last report; and, at a step that is a multiple of ``every``,
earlier when ``seconds`` have passed since the last report. ``ProgressRule`` keeps that rule
and the one number the training thread needs between reports: ``due``, the next step at which
the rule can say yes. Steps before it cost the recorder one integer compare (or nothing at
all, see ``RunRecorder.quiet_steps``); the clock is read only at candidates.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

# Keys of a trainer's log dict that Axolotl's progress and end events carry (only once logged).
LAST_METRIC_KEYS = (
    "loss",
    "ppl",
    "learning_rate",
    "grad_norm",
    "tokens/total",
    "tokens/trainable",
    "tokens/train_per_sec_per_gpu",
)


class ProgressRule:
    """Axolotl's reporting rule for one run: the last report, and the next candidate step."""

    def __init__(self, every: int, seconds: float) -> None:
        self.every = max(1, int(every))
        self.seconds = seconds
        self.start_step = 0
        self.start_time = time.time()
        self.last_step = 0
        self.last_time = self.start_time
        self.due = 1
        """The next step at which ``fires`` can be true: the hot path's only test."""

    def start(self, step: int) -> None:
        """The run starts at ``step`` (a resumed run's checkpoint step), now."""
        self.start_step = self.last_step = step
        self.start_time = self.last_time = time.time()
        self.due = step + 1

    def set_every(self, every: int, current_step: int) -> None:
        """Axolotl's ``report_interval_steps`` changed: re-test from the next step."""
        self.every = max(1, int(every))
        self.due = current_step + 1

    def fires(self, step: int) -> float | None:
        """The time of the report if step ``step`` reports, else None (``reported`` records it)."""
        every = self.every
        if step == self.start_step + 1 or step - self.last_step >= every:
            return time.time()
        if step % every == 0:
            now = time.time()
            if now - self.last_time >= self.seconds:
                return now
        return None

    def reported(self, step: int, now: float) -> None:
        self.last_step, self.last_time = step, now

    def advance(self, step: int) -> None:
        """Step ``step`` was tested: the next candidate is ``every`` steps after the last
        report, or the next multiple of ``every`` (where time may make it report)."""
        every = self.every
        self.due = min(self.last_step + every, (step // every + 1) * every)

    def properties(
        self,
        step: int,
        now: float,
        last_metrics: Mapping[str, Any],
        metric_steps: Mapping[str, int],
        epoch: int,
        progress: float | None,
        memory: Any,
    ) -> dict[str, Any]:
        """The event's properties, as Axolotl sends them (before ``reported``)."""
        steps = step - self.last_step
        elapsed = now - self.last_time
        return {
            **last_metrics,
            "metric_steps": dict(metric_steps),
            "start_step": self.start_step,
            "step": step,
            "epoch": epoch,
            "progress": progress,
            "steps_per_second": steps / elapsed if steps > 0 and elapsed > 0 else 0,
            "elapsed_time": now - self.start_time,
            "time_since_last_report": elapsed,
            "memory": memory,
        }
