"""Axolotl's RuntimeMetricsTracker: epoch and step timing, peak CPU and accelerator memory.

Kept name for name so call sites and dashboards built on ``to_dict()`` keep working. The
live figures also exist as OpenTelemetry instruments (``instruments`` and ``hardware``);
this summary is what ``train-end`` carries.

Memory is read through ``probes`` (one psutil handle, the CUDA-safe accelerator reader):
telemetry never imports torch and never initialises CUDA.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from .probes import allocated_accelerator_memory, rss


@dataclass
class RuntimeMetrics:
    start_time: float
    epoch_start_times: dict[int, float] = field(init=False)
    epoch_end_times: dict[int, float] = field(init=False)
    peak_cpu_memory: int = 0
    peak_gpu_memory: dict[int, int] = field(init=False)
    # Axolotl's: how each device's peak was obtained; here always sampled (memory_allocated).
    gpu_peak_memory_source: dict[int, str] = field(default_factory=dict)
    total_steps: int = 0
    current_epoch: int = 0
    current_step: int = 0

    def __post_init__(self) -> None:
        self.epoch_start_times = {}
        self.epoch_end_times = {}
        self.peak_gpu_memory = {}

    @property
    def elapsed_time(self) -> float:
        return time.time() - self.start_time

    def epoch_time(self, epoch: int) -> float | None:
        if epoch in self.epoch_start_times and epoch in self.epoch_end_times:
            return self.epoch_end_times[epoch] - self.epoch_start_times[epoch]
        return None

    def average_epoch_time(self) -> float | None:
        times = [t for t in (self.epoch_time(e) for e in self.epoch_end_times) if t is not None]
        return sum(times) / len(times) if times else None

    def steps_per_second(self) -> float | None:
        elapsed = self.elapsed_time
        if self.total_steps == 0 or elapsed == 0:
            return None
        return self.total_steps / elapsed

    def to_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "total_time_seconds": self.elapsed_time,
            "total_steps": self.total_steps,
            "steps_per_second": self.steps_per_second(),
            "epochs_completed": sum(1 for e in self.epoch_end_times if e in self.epoch_start_times),
            "peak_cpu_memory_bytes": self.peak_cpu_memory,
        }
        epoch_times = {
            f"epoch_{e}_seconds": t
            for e in sorted(self.epoch_end_times)
            if (t := self.epoch_time(e)) is not None
        }
        if epoch_times:
            result["epoch_times"] = epoch_times
            result["average_epoch_time_seconds"] = self.average_epoch_time()
        if self.peak_gpu_memory:
            gpu: dict[str, Any] = {}
            for i, peak in sorted(self.peak_gpu_memory.items()):
                gpu[f"gpu_{i}_peak_memory_bytes"] = peak
                gpu[f"gpu_{i}_peak_memory_source"] = self.gpu_peak_memory_source.get(i, "sampled")
            result["gpu_memory"] = gpu
        return result


class RuntimeMetricsTracker:
    """Axolotl's tracker, attribute for attribute (``metrics``, ``update_interval``,
    ``telemetry_manager``, the ``update_*``/``get_*`` methods), without its own manager."""

    update_interval = 100

    def __init__(self) -> None:
        self.metrics = RuntimeMetrics(start_time=time.time())

    @property
    def telemetry_manager(self) -> Any:
        """The process's manager, as Axolotl's tracker holds ``TelemetryManager.get_instance()``."""
        from .manager import get_default

        return get_default()

    def start_epoch(self, epoch: int) -> None:
        self.metrics.current_epoch = epoch
        self.metrics.epoch_start_times[epoch] = time.time()
        self.update_memory_metrics()

    def end_epoch(self, epoch: int) -> None:
        self.metrics.epoch_end_times[epoch] = time.time()

    def update_step(self, step: int) -> None:
        self.metrics.current_step = step
        self.metrics.total_steps += 1
        if step % self.update_interval == 0:
            self.update_memory_metrics()

    def update_memory_metrics(self) -> None:
        self.metrics.peak_cpu_memory = max(self.metrics.peak_cpu_memory, rss())
        self.update_gpu_memory_metrics()

    def update_gpu_memory_metrics(self) -> None:
        """The accelerator half of ``update_memory_metrics`` (Axolotl's name)."""
        for device, used in allocated_accelerator_memory().items():
            self.metrics.peak_gpu_memory[device] = max(self.metrics.peak_gpu_memory.get(device, 0), used)
            self.metrics.gpu_peak_memory_source[device] = "sampled"

    def get_memory_metrics(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "cpu_memory_bytes": rss(),
            "peak_cpu_memory_bytes": self.metrics.peak_cpu_memory,
        }
        for device, used in allocated_accelerator_memory().items():
            result[f"gpu_{device}_memory_bytes"] = used
            result[f"gpu_{device}_peak_memory_bytes"] = self.metrics.peak_gpu_memory.get(device, 0)
            result[f"gpu_{device}_peak_memory_source"] = self.metrics.gpu_peak_memory_source.get(
                device, "sampled"
            )
        return result
