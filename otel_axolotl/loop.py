"""Telemetry for a plain training loop, with no framework.

    import otel_axolotl.loop

    with otel_axolotl.loop.run(max_steps=1000, num_epochs=3) as run:
        for epoch in range(3):
            with run.epoch():
                for batch in loader:
                    with run.step() as step:
                        loss = train_step(batch)
                        step.log(loss=loss.item(), learning_rate=sched.get_last_lr()[0])
            with run.evaluate() as evaluation:
                evaluation.log(eval_loss=evaluate(model))
            with run.checkpoint():
                torch.save(model.state_dict(), path)

It emits what the transformers and Lightning callbacks emit (one ``RunRecorder`` underneath):
the run span with epoch, evaluation and checkpoint spans, the training metrics and Axolotl's
events. An exception leaving ``run()`` is reported as ``<module>.<function>-error`` after the
function holding the ``with`` block, the run ends ``failed``, and the exception propagates
unchanged. Every call is cheap and guarded; with telemetry off each one returns at once.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Mapping
from typing import Any

from . import semconv as sc
from .recorder import RunRecorder

__all__ = ["Evaluation", "Run", "Step", "run"]

_RUN_ATTRIBUTES = {
    "max_steps": (sc.ATTR_TRAIN_MAX_STEPS, int),
    "num_epochs": (sc.ATTR_TRAIN_NUM_EPOCHS, float),
    "batch_size": (sc.ATTR_TRAIN_BATCH_SIZE, int),
    "gradient_accumulation_steps": (sc.ATTR_TRAIN_GRADIENT_ACCUMULATION_STEPS, int),
    "model": (sc.ATTR_GEN_AI_REQUEST_MODEL, str),
}


class Step:
    """One optimizer step; ``log`` records what the step produced (loss, learning rate...)."""

    def __init__(self, run: Run) -> None:
        self._run = run

    def log(self, **metrics: Any) -> None:
        self._run.log(**metrics)


class Evaluation:
    """One evaluation pass; ``log`` collects its results (``eval_loss``) for its span."""

    def __init__(self) -> None:
        self.metrics: dict[str, Any] = {}

    def log(self, **metrics: Any) -> None:
        self.metrics.update(metrics)


class Run:
    """A training run in progress. Made by :func:`run`; not built directly."""

    def __init__(self, recorder: RunRecorder) -> None:
        self.recorder = recorder
        self._evaluation: Evaluation | None = None

    @property
    def global_step(self) -> int:
        """Optimizer steps completed so far (the ``step()`` blocks that ended normally)."""
        return self.recorder.global_step

    @contextlib.contextmanager
    def epoch(self, epoch: int | None = None) -> Iterator[None]:
        """An epoch span; ``epoch`` defaults to the previous epoch + 1, starting at 0."""
        self.recorder.epoch_begin(epoch)
        try:
            yield
        finally:
            self.recorder.epoch_end()

    @contextlib.contextmanager
    def step(self) -> Iterator[Step]:
        """One optimizer step: its duration, the step counter, periodic progress events.

        A step whose block raises is not counted: the exception is the run's to report.
        """
        self.recorder.step_begin()
        yield Step(self)
        self.recorder.step_end()

    def log(self, **metrics: Any) -> None:
        """Training figures under transformers' names: loss, learning_rate, grad_norm, epoch,
        tokens_per_second... Unknown names are ignored; non-numbers too."""
        self.recorder.log(_numbers(metrics))

    @contextlib.contextmanager
    def evaluate(self) -> Iterator[Evaluation]:
        """An evaluation span covering the block; ``log_eval`` (or the yielded object's
        ``log``) inside the block gives it its results."""
        evaluation, previous = Evaluation(), self._evaluation
        self._evaluation = evaluation
        started = time.perf_counter()
        try:
            yield evaluation
        finally:
            self._evaluation = previous
        self.recorder.evaluate(_numbers(evaluation.metrics), runtime_seconds=time.perf_counter() - started)

    def log_eval(self, **metrics: Any) -> None:
        """Results of an evaluation (``eval_loss=...``): of the enclosing ``evaluate()`` block,
        or, outside one, an evaluation that ends now and began at the previous event."""
        if self._evaluation is not None:
            self._evaluation.log(**metrics)
        else:
            self.recorder.evaluate(_numbers(metrics))

    @contextlib.contextmanager
    def checkpoint(self, step: int | None = None) -> Iterator[None]:
        """A checkpoint span covering the block that writes it (``step`` defaults to now's)."""
        started = time.time_ns()
        yield
        self.recorder.checkpoint_saved(step, started_ns=started)

    def checkpoint_saved(self, step: int | None = None) -> None:
        """A checkpoint was written; its span covers the time since the previous event."""
        self.recorder.checkpoint_saved(step)


def _numbers(metrics: Mapping[str, Any]) -> dict[str, float]:
    """Plain floats: a 0-d tensor or numpy scalar becomes a number (``float()`` syncs a GPU
    tensor, so pass ``loss.item()`` when you already have it)."""
    result: dict[str, float] = {}
    for key, value in metrics.items():
        if isinstance(value, bool):
            continue
        if isinstance(value, (int, float)):
            result[key] = value
            continue
        try:
            result[key] = float(value)
        except (TypeError, ValueError):
            continue
    return result


def _run_attributes(options: Mapping[str, Any], extra: Mapping[str, Any] | None) -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    for name, value in options.items():
        if value is not None:
            key, kind = _RUN_ATTRIBUTES[name]
            attrs[key] = kind(value)
    attrs.update(extra or {})
    return attrs


@contextlib.contextmanager
def run(
    manager: Any = None,
    *,
    max_steps: int | None = None,
    num_epochs: float | None = None,
    batch_size: int | None = None,
    gradient_accumulation_steps: int | None = None,
    model: str | None = None,
    attributes: Mapping[str, Any] | None = None,
) -> Iterator[Run]:
    """One training run: the run span and ``train-start`` on entry, ``train-end`` on exit.

    ``manager`` defaults to the process's (``otel_axolotl.init()``). The keyword arguments
    become the run span's attributes (``model`` is kept only for whitelisted organisations at
    the strict level); ``attributes`` adds other registered keys. An exception is recorded
    once (see ``errors.send_errors``) and re-raised unchanged; ``KeyboardInterrupt`` ends
    the run as ``interrupted``.
    """
    if manager is None:
        from .manager import get_default

        manager = get_default()
    recorder = RunRecorder(manager, trainer="loop")
    recorder.train_begin(
        _run_attributes(
            {
                "max_steps": max_steps,
                "num_epochs": num_epochs,
                "batch_size": batch_size,
                "gradient_accumulation_steps": gradient_accumulation_steps,
                "model": model,
            },
            attributes,
        )
    )
    try:
        yield Run(recorder)
    except Exception as exc:
        _report(manager, exc)
        recorder.train_end("failed", exc)
        raise
    except BaseException:
        recorder.train_end("interrupted")
        raise
    recorder.train_end("completed")


_OWN_MODULES = frozenset({__name__, "contextlib"})


def _report(manager: Any, exc: BaseException) -> None:
    """Name the error after the function holding ``with run()``, as ``send_errors`` names the
    decorated function: the outermost traceback frame that is not this generator's machinery."""
    from .error_report import report, safe_name

    with contextlib.suppress(Exception):
        tb = exc.__traceback__
        while tb is not None and tb.tb_frame.f_globals.get("__name__") in _OWN_MODULES:
            tb = tb.tb_next
        if tb is not None:
            frame = tb.tb_frame
            path = f"{frame.f_globals.get('__name__') or 'unknown'}.{frame.f_code.co_name}"
        else:
            path = f"{__name__}.run"
        report(exc, f"{safe_name(path)}-error", path, manager, end_run=False)
