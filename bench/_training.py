"""Measurement 1: a real tiny Trainer run, bare vs. instrumented, interleaved in one process.

Configurations, each rep with a fresh model built from the same seed:

* ``bare``: no telemetry callback at all;
* ``bare_again``: exactly the same as ``bare``, timed as a separate configuration: the A/A
  ratio ``bare_again / bare`` is the noise floor of this run on this machine, against which
  a 1 % target can be read;
* ``default``: ``TelemetryManager`` with a null-exporter destination behind the real privacy
  stage, hardware metrics on, ``TelemetryCallback``;
* ``otlp``: the manager's own OTLP destination (gRPC, the default protocol) to a real rotel
  collector on loopback, ``TelemetryCallback``.

Reps are interleaved and the order rotates every rep (bare/bare_again/default/otlp,
bare_again/default/otlp/bare, ...), so drift of the machine and any position effect fall on
every configuration alike. Only ``trainer.train()`` is timed (``time.perf_counter``; also
``time.process_time``, the CPU seconds of all of this process's threads, rotel's excluded);
building the model, the Trainer and the manager, and the manager's shutdown, are outside the
timed region. One warm-up rep of each configuration runs
first and is discarded (lazy imports, first gRPC connection, allocator warm-up).

torch runs one intra-op thread by default (``--torch-threads``): with as many OpenMP threads
as cores, any other runnable thread on the box (rotel, another job, our own exporter threads)
stalls the OpenMP barrier and one run takes 3 to 15 times longer, which drowns a 1 % signal.
One thread driving the model is also what a GPU run looks like from the CPU's side.

Usage: python bench/_training.py --reps 7 --steps 300
"""

from __future__ import annotations

import argparse
import gc
import tempfile
import time
from typing import Any

from _common import clean_env, emit, null_destination, settings_from
from _rotel import Rotel

CONFIGS = ("bare", "bare_again", "default", "otlp")


def _manager(config: str, rotel: Rotel) -> Any:
    from otel_axolotl.manager import TelemetryManager

    if config == "default":
        env = clean_env({"AXOLOTL_DO_NOT_TRACK": "1"})
        return TelemetryManager(
            settings_from(env), env=env, destinations=[null_destination()], show_consent_notice=False
        )
    env = clean_env({"AXOLOTL_DO_NOT_TRACK": "1", "OTEL_EXPORTER_OTLP_ENDPOINT": rotel.grpc_endpoint})
    manager = TelemetryManager(settings_from(env), env=env, show_consent_notice=False)
    if manager.destinations != ["otlp"]:
        raise RuntimeError(f"expected the OTLP destination only, got {manager.destinations}")
    return manager


def one_run(config: str, steps: int, samples: int, rotel: Rotel) -> tuple[float, float]:
    """Wall and CPU seconds (all threads of this process) of ``trainer.train()``, fresh model."""
    from transformers import Trainer
    from transformers.trainer_callback import PrinterCallback

    from otel_axolotl.demo import build_model_and_data, training_arguments

    manager = None if config.startswith("bare") else _manager(config, rotel)
    callbacks = []
    if manager is not None:
        from otel_axolotl.callbacks import TelemetryCallback

        callbacks.append(TelemetryCallback(manager))
    model, train, _ = build_model_and_data(samples=samples, seq_len=32, seed=0)
    with tempfile.TemporaryDirectory(prefix="otel-axolotl-bench-") as tmp:
        args = training_arguments(tmp, max_steps=steps, eval_strategy="no", save_strategy="no")
        trainer = Trainer(model=model, args=args, train_dataset=train, callbacks=callbacks)
        trainer.remove_callback(PrinterCallback)  # console printing of logs is not what we measure
        gc.collect()
        cpu_started = time.process_time()
        started = time.perf_counter()
        trainer.train()
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
        if trainer.state.global_step != steps:
            raise RuntimeError(f"{config}: trained {trainer.state.global_step} steps, expected {steps}")
    if manager is not None and not manager.shutdown(timeout=10):
        raise RuntimeError(f"{config}: the manager did not shut down within 10 s")
    return elapsed, cpu


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--warmup-steps", type=int, default=50)
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--torch-threads", type=int, default=1)
    options = parser.parse_args()

    import torch

    torch.set_num_threads(options.torch_threads)

    times: dict[str, list[float]] = {c: [] for c in CONFIGS}
    cpu_times: dict[str, list[float]] = {c: [] for c in CONFIGS}
    orders: list[list[str]] = []
    with Rotel() as rotel:
        for config in CONFIGS:
            one_run(config, options.warmup_steps, options.samples, rotel)
        for rep in range(options.reps):
            shift = rep % len(CONFIGS)
            order = list(CONFIGS[shift:] + CONFIGS[:shift])
            orders.append(order)
            for config in order:
                wall, cpu = one_run(config, options.steps, options.samples, rotel)
                times[config].append(wall)
                cpu_times[config].append(cpu)
    emit(
        {
            "times_s": times,
            "cpu_times_s": cpu_times,
            "orders": orders,
            "steps": options.steps,
            "torch_threads": torch.get_num_threads(),
        }
    )


if __name__ == "__main__":
    main()
