"""A run you can watch while it runs: window spans and a Prometheus endpoint.

In-process tests drive the real recorder through the loop API into a real manager with an
in-memory strict destination (the whole privacy stage in between). The end-to-end tests run
the real tiny ``transformers.Trainer`` in a child process: one SIGKILLed mid-training against
rotel (the windows before the kill must have arrived), one scraped over HTTP while it trains.
"""

from __future__ import annotations

import signal
import threading
import time
import urllib.request
from typing import Any

import pytest

from otel_axolotl import loop
from otel_axolotl import semconv as sc
from otel_axolotl.settings import Settings
from tests.support.capture import Captured
from tests.support.rotel import Rotel, free_port, wait_for_port
from tests.support.scripts import TRAIN_TINY, child_env, start


def _run_loop(settings: Settings, epochs: int, steps: int, *, step_sleep: float = 0.0) -> Captured:
    captured = Captured()
    manager = captured.build_manager(settings=settings)
    try:
        with loop.run(manager, max_steps=epochs * steps) as run:
            for _ in range(epochs):
                with run.epoch():
                    for _ in range(steps):
                        with run.step():
                            time.sleep(step_sleep)
                        run.log(loss=float(run.global_step))
        captured.flush()
    finally:
        manager.shutdown()
    return captured


def test_windows_every_n_steps_are_children_of_their_epoch() -> None:
    captured = _run_loop(Settings(window_steps=4, window_seconds=600), epochs=2, steps=10)
    epochs = {s.attributes[sc.ATTR_EPOCH]: s for s in captured.spans_named(sc.SPAN_EPOCH)}
    windows = captured.spans_named(sc.SPAN_WINDOW)
    ranges = [
        (w.attributes[sc.ATTR_WINDOW_STEP_FIRST], w.attributes[sc.ATTR_WINDOW_STEP_LAST]) for w in windows
    ]
    # 4 + 4 + the epoch's last 2 steps, per epoch: a window never crosses an epoch.
    assert ranges == [(1, 4), (5, 8), (9, 10), (11, 14), (15, 18), (19, 20)]
    for window in windows:
        first = window.attributes[sc.ATTR_WINDOW_STEP_FIRST]
        epoch = epochs[0 if first <= 10 else 1]
        assert window.parent is not None and window.parent.span_id == epoch.context.span_id
        assert epoch.start_time <= window.start_time <= window.end_time <= epoch.end_time
        steps = window.attributes[sc.ATTR_WINDOW_STEPS]
        assert steps == window.attributes[sc.ATTR_WINDOW_STEP_LAST] - first + 1
        assert window.attributes[sc.ATTR_WINDOW_STEPS_PER_SECOND] > 0
        assert window.attributes[sc.ATTR_RANK] == 0
        # The loss logged after step n is n: mean and last of the window's steps.
        last = window.attributes[sc.ATTR_WINDOW_STEP_LAST]
        assert window.attributes[sc.ATTR_WINDOW_LOSS_LAST] == float(last)
        assert window.attributes[sc.ATTR_WINDOW_LOSS_MEAN] == pytest.approx((first + last) / 2)
    captured.assert_registered()


def test_a_window_ends_after_its_seconds_even_before_its_steps() -> None:
    captured = _run_loop(Settings(window_steps=1000, window_seconds=0.2), epochs=1, steps=30, step_sleep=0.02)
    windows = captured.spans_named(sc.SPAN_WINDOW)
    assert len(windows) >= 2, [dict(w.attributes) for w in windows]
    for window in windows[:-1]:  # the last one is closed by the epoch's end
        seconds = (window.end_time - window.start_time) / 1e9
        assert 0.2 <= seconds < 0.2 + 1.0, seconds
    assert sum(w.attributes[sc.ATTR_WINDOW_STEPS] for w in windows) == 30


def test_a_window_without_logged_loss_carries_no_loss() -> None:
    captured = Captured()
    manager = captured.build_manager(settings=Settings(window_steps=3))
    try:
        with loop.run(manager) as run, run.epoch():
            for _ in range(3):
                with run.step():
                    pass
        captured.flush()
    finally:
        manager.shutdown()
    (window,) = captured.spans_named(sc.SPAN_WINDOW)
    assert sc.ATTR_WINDOW_LOSS_MEAN not in window.attributes
    assert sc.ATTR_WINDOW_LOSS_LAST not in window.attributes
    assert window.attributes[sc.ATTR_WINDOW_STEPS] == 3


def test_window_settings_come_from_the_environment() -> None:
    s = Settings.from_env({"OTEL_AXOLOTL_WINDOW_STEPS": "7", "OTEL_AXOLOTL_WINDOW_SECONDS": "2.5"})
    assert (s.window_steps, s.window_seconds) == (7, 2.5)
    default = Settings.from_env({"OTEL_AXOLOTL_WINDOW_STEPS": "zero", "OTEL_AXOLOTL_WINDOW_SECONDS": "-1"})
    assert (default.window_steps, default.window_seconds) == (100, 60.0)
