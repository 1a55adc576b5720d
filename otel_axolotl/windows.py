"""Window spans: a long run shows up in a trace while it runs, and survives a kill.

Spans are exported when they end, and an epoch may last hours: without windows a trace shows
nothing until the epoch ends, and nothing at all after a SIGKILL (the OOM killer's signal).
So the recorder closes a bounded ``axolotl.window`` span, a child of the current epoch (or of
the run outside epochs), every ``OTEL_AXOLOTL_WINDOW_STEPS`` steps or
``OTEL_AXOLOTL_WINDOW_SECONDS`` seconds, whichever comes first. Each is an ordinary finished
span: the destination's delivery worker sends it within its schedule delay (about a second),
not at exit. A kill loses the one window still open.

Cost on the training thread: each step is one integer compare (``RunRecorder.step_end``
inlines it against ``next_check``). The clock is read only at a check step, and check steps
are spaced so that about ``CHECK_SECONDS`` of training lies between two of them (at most
``MAX_CHECK_STEPS`` steps apart): a window ends at most that late after its time is up. Losses
are appended to ``losses`` in ``log`` (a trainer logs every ``logging_steps``) and summed when
the window is sent, so a window carries the mean and last loss logged for its steps, or no
loss when none was. A trainer logs step n's loss
after step n's ``step_end``, so a full window is sent at the next step (or the epoch's end):
its end time is still the end of its last step.
"""

from __future__ import annotations

import time
from typing import Any

from . import semconv as sc

CHECK_SECONDS = 0.5
"""About how much training time lies between two clock reads."""
MAX_CHECK_STEPS = 64
"""Never more steps than this between two clock reads (the first window learns the step rate)."""
_FAR = 1 << 62


class _Window:
    """One window: where it hangs, and when and at which steps it began and ended."""

    __slots__ = ("end_ns", "end_s", "first", "last", "parent", "start_ns", "start_s")

    def __init__(self, parent: Any, step: int, start_ns: int, start_s: float) -> None:
        self.parent = parent
        self.first = step + 1
        self.last = step
        self.start_ns, self.start_s = start_ns, start_s
        self.end_ns, self.end_s = start_ns, start_s


class WindowSpans:
    """The open window of one run and, for one step, the full one waiting for its loss."""

    __slots__ = (
        "_attributes",
        "_host",
        "_open",
        "_pending",
        "losses",
        "max_seconds",
        "max_steps",
        "next_check",
    )

    def __init__(self, host: Any, attributes: dict[str, Any], max_steps: int, max_seconds: float) -> None:
        self._host = host  # its tracer is read when a window ends: the disabled path never asks
        self._attributes = attributes
        self.max_steps = max(1, int(max_steps))
        self.max_seconds = float(max_seconds)
        self._open: _Window | None = None
        self._pending: _Window | None = None
        self.next_check = _FAR
        """The step at which ``check`` must run next; far away while no window is open."""
        self.losses: list[tuple[int, Any]] = []
        """(step, loss) as logged: ``RunRecorder.log`` appends (one append on the hot path),
        sending a window consumes them."""

    @property
    def is_open(self) -> bool:
        return self._open is not None

    def open(self, parent_context: Any, step: int) -> None:
        """Start a window after ``step`` (the steps done so far) under ``parent_context``."""
        self.close(step)
        self._open = _Window(parent_context, step, time.time_ns(), time.monotonic())
        self.next_check = step + 1  # the first check learns the step rate

    def check(self, step: int) -> None:
        """At a check step: send the window that was waiting for its loss; end the open one
        when its steps or its time are up, else plan the next check from the step rate."""
        self._send_pending()
        window = self._open
        if window is None:
            self.next_check = _FAR
            return
        now_s = time.monotonic()
        steps = step - window.first + 1
        elapsed = now_s - window.start_s
        if steps >= self.max_steps or elapsed >= self.max_seconds:
            now_ns = time.time_ns()
            window.last, window.end_ns, window.end_s = step, now_ns, now_s
            self._pending = window
            self._open = _Window(window.parent, step, now_ns, now_s)
            self.next_check = step + 1  # send it at the next step, with its loss
            return
        per_step = elapsed / steps if steps > 0 else 0.0
        if per_step > 0:
            seconds = min(CHECK_SECONDS, self.max_seconds - elapsed)  # not far past the time
            spacing = int(seconds / per_step)
        else:
            spacing = MAX_CHECK_STEPS
        self.next_check = step + max(1, min(spacing, MAX_CHECK_STEPS, self.max_steps - steps))

    def close(self, step: int) -> None:
        """End the open window at ``step`` (epoch or run end); a window without steps is not sent."""
        self._send_pending()
        window, self._open = self._open, None
        self.next_check = _FAR
        if window is not None and step >= window.first:
            window.last, window.end_ns, window.end_s = step, time.time_ns(), time.monotonic()
            self._send(window)

    def _send_pending(self) -> None:
        window, self._pending = self._pending, None
        if window is not None:
            self._send(window)

    def _send(self, window: _Window) -> None:
        steps = window.last - window.first + 1
        elapsed = window.end_s - window.start_s
        attributes: dict[str, Any] = {
            **self._attributes,
            sc.ATTR_WINDOW_STEP_FIRST: window.first,
            sc.ATTR_WINDOW_STEP_LAST: window.last,
            sc.ATTR_WINDOW_STEPS: steps,
            sc.ATTR_WINDOW_STEPS_PER_SECOND: steps / elapsed if elapsed > 0 else 0.0,
        }
        losses = self._take_losses(window)
        if losses:
            attributes[sc.ATTR_WINDOW_LOSS_MEAN] = sum(losses) / len(losses)
            attributes[sc.ATTR_WINDOW_LOSS_LAST] = losses[-1]
        span = self._host.tracer.start_span(
            sc.SPAN_WINDOW, context=window.parent, attributes=attributes, start_time=window.start_ns
        )
        span.end(end_time=window.end_ns)

    def _take_losses(self, window: _Window) -> list[float]:
        """The numeric losses logged at the window's steps; later ones stay for the next
        window, earlier ones (logged while no window was open) are dropped."""
        mine: list[float] = []
        later: list[tuple[int, Any]] = []
        for step, loss in self.losses:
            if step > window.last:
                later.append((step, loss))
            elif step >= window.first and isinstance(loss, (int, float)) and not isinstance(loss, bool):
                mine.append(float(loss))
        self.losses[:] = later
        return mine
