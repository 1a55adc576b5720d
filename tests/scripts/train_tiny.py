"""A tiny real training run for subprocess tests: ``otel_axolotl.init()`` + ``transformers.Trainer``.

Runs alone or under torchrun (ranks come from the launcher's environment; on CPU the Trainer
uses the gloo backend). Telemetry is configured by the environment the test passes in.

Options:
  --workers N         DataLoader workers (forked children of this process)
  --worker-telemetry  the dataset records telemetry inside the workers, through a tracer and
                      instruments obtained before the fork: none of it may ever arrive
  --step-sleep S      a TrainerCallback sleeps S seconds after every step (a slow run to signal)
  --raise-at-step N   that callback raises ``UserCallbackError`` after step N (a crash escaping
                      ``trainer.train()``, as a user's callback would); the script does not catch it
  --samples N, --epochs N

Prints on stdout: ``RUN_ID <id> <rank>`` after init, ``STEP <n>`` after each step,
``DONE <loss> <instrumented>`` when training returns (instrumented: whether ``init()`` added
the Trainer callback), and ``HOOKS_DONE <seconds>`` once every exit hook has run (the time
from training's end, before the interpreter's own teardown). ``EXIT_HOOKS_AT <monotonic>``
is printed then too, whether training ended or not (a signal): ``time.monotonic()`` is the
machine's one monotonic clock on Linux, so the test can time its signal against it.
"""

from __future__ import annotations

import argparse
import atexit
import sys
import tempfile
import time
from typing import Any


def report(*fields: object) -> None:
    """One marker line in ONE write: stdout and stderr share the test's pipe, and ``print``
    writes its pieces separately, so a warning from another thread could split the line."""
    sys.stdout.write(" ".join(map(str, fields)) + "\n")
    sys.stdout.flush()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--worker-telemetry", action="store_true")
    parser.add_argument("--step-sleep", type=float, default=0.0)
    parser.add_argument("--samples", type=int, default=32)
    parser.add_argument("--epochs", type=float, default=1)
    parser.add_argument("--raise-at-step", type=int, default=0)
    args = parser.parse_args()

    # Registered first, so it runs after every other exit hook (otel-axolotl's included).
    training_done: list[float] = []

    def exit_hooks_done() -> None:
        now = time.monotonic()
        if training_done:
            report("HOOKS_DONE", now - training_done[0])
        report("EXIT_HOOKS_AT", now)

    atexit.register(exit_hooks_done)

    import torch
    from transformers import Trainer, TrainerCallback

    import otel_axolotl
    from otel_axolotl.demo import build_model_and_data, training_arguments

    manager = otel_axolotl.init()
    report("RUN_ID", manager.run_id, manager.rank.rank)

    model, data, _ = build_model_and_data(samples=args.samples)

    if args.worker_telemetry:
        tracer = manager.tracer  # obtained in the parent: the SDK's own tracer and instruments
        instruments = manager.instruments

        class WorkerTelemetry(torch.utils.data.Dataset):  # type: ignore[misc]
            def __init__(self, base: Any) -> None:
                self.base = base

            def __len__(self) -> int:
                return len(self.base)

            def __getitem__(self, i: int) -> Any:
                if torch.utils.data.get_worker_info() is not None:  # in a forked worker
                    with tracer.start_as_current_span("axolotl.step"):
                        instruments.record_step(100.0)
                    otel_axolotl.send_event("train-progress", {"from_worker": True})
                    otel_axolotl.get_manager().start_run()  # inactive there: returns None
                return self.base[i]

        data = WorkerTelemetry(data)

    class UserCallbackError(RuntimeError):
        """What a user's callback might raise mid-training."""

    class Progress(TrainerCallback):  # type: ignore[misc]
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            report("STEP", state.global_step)
            if sleep:
                time.sleep(sleep)
            if state.global_step == raise_at:
                raise UserCallbackError(f"user callback failed at step {raise_at}")

    sleep, raise_at = args.step_sleep, args.raise_at_step
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(
            model=model,
            args=training_arguments(
                tmp,
                epochs=args.epochs,
                eval_strategy="no",
                save_strategy="no",
                dataloader_num_workers=args.workers,
                ddp_backend="gloo" if manager.rank.distributed else None,
            ),
            train_dataset=data,
            callbacks=[Progress()],
        )
        result = trainer.train()
    training_done.append(time.monotonic())
    instrumented = any(type(c).__name__ == "TelemetryCallback" for c in trainer.callback_handler.callbacks)
    report("DONE", result.training_loss, instrumented)
    return 0


if __name__ == "__main__":
    sys.exit(main())
