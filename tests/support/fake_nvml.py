"""A fake ``pynvml`` (nvidia-ml-py) module, to put in ``sys.modules`` where no GPU exists.

Only the calls otel-axolotl makes, with NVML's units (percent, bytes, milliwatts, Celsius,
millijoules) and its error class, so the code under test runs unchanged:

    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml([FakeGpu("NVIDIA H100", "GPU-aaaa")]))
"""

from __future__ import annotations

import types
from dataclasses import dataclass, field
from typing import Any

GIB = 1024**3


@dataclass
class FakeGpu:
    name: str
    uuid: str
    utilization: int = 50  # percent, as NVML reports it
    used: int = 10 * GIB
    total: int = 80 * GIB
    power_mw: int = 300_000
    temperature: int = 60
    energy_mj: int | None = 5_000_000  # total energy since the driver loaded; None: not supported
    failing: set[str] = field(default_factory=set)  # NVML functions that raise for this GPU


class FakeNvml(types.ModuleType):
    """The part of nvidia-ml-py's ``pynvml`` that otel-axolotl calls, over a list of GPUs."""

    NVML_TEMPERATURE_GPU = 0

    class NVMLError(Exception):
        pass

    class NVMLError_NotSupported(NVMLError):  # pynvml's own name
        pass

    def __init__(self, gpus: list[FakeGpu], init_error: bool = False) -> None:
        super().__init__("pynvml")
        self.gpus = gpus
        self.init_error = init_error
        self.calls: list[str] = []

    def _gpu(self, handle: int, function: str) -> FakeGpu:
        self.calls.append(function)
        gpu = self.gpus[handle]
        if function in gpu.failing:
            raise self.NVMLError(f"{function} not supported")
        return gpu

    def nvmlInit(self) -> None:
        if self.init_error:
            raise self.NVMLError("Driver Not Loaded")

    def nvmlShutdown(self) -> None:
        pass

    def nvmlDeviceGetCount(self) -> int:
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        if not 0 <= index < len(self.gpus):
            raise self.NVMLError("Invalid Argument")
        return index

    def nvmlDeviceGetName(self, handle: int) -> str:
        return self._gpu(handle, "nvmlDeviceGetName").name

    def nvmlDeviceGetUUID(self, handle: int) -> str:
        return self._gpu(handle, "nvmlDeviceGetUUID").uuid

    def nvmlDeviceGetUtilizationRates(self, handle: int) -> Any:
        gpu = self._gpu(handle, "nvmlDeviceGetUtilizationRates")
        return types.SimpleNamespace(gpu=gpu.utilization, memory=0)

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> Any:
        gpu = self._gpu(handle, "nvmlDeviceGetMemoryInfo")
        return types.SimpleNamespace(used=gpu.used, total=gpu.total, free=gpu.total - gpu.used)

    def nvmlDeviceGetPowerUsage(self, handle: int) -> int:
        return self._gpu(handle, "nvmlDeviceGetPowerUsage").power_mw

    def nvmlDeviceGetTemperature(self, handle: int, sensor: int) -> int:
        assert sensor == self.NVML_TEMPERATURE_GPU
        return self._gpu(handle, "nvmlDeviceGetTemperature").temperature

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: int) -> int:
        gpu = self._gpu(handle, "nvmlDeviceGetTotalEnergyConsumption")
        if gpu.energy_mj is None:  # pre-Volta GPUs: NVML_ERROR_NOT_SUPPORTED
            raise self.NVMLError_NotSupported("Not Supported")
        return gpu.energy_mj
