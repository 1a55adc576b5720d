"""Host, process and GPU metrics as OpenTelemetry observable instruments.

The metric reader's own thread calls these callbacks when it collects, so sampling costs no
extra thread and nothing on the training thread. Names and units are OpenTelemetry's
(``hw.gpu.*``, ``hw.power``, ``hw.energy``, ``hw.temperature``, ``process.*``, ``system.*``), registered in
``semconv/registry.yaml``; every point carries ``axolotl.rank``.

Failure is local: each NVML field of each GPU is read on its own, so a GPU that cannot report
power still reports utilization, memory and temperature. A field that raises is skipped for
that reading and logged once at debug level. No NVML library, no driver or no GPU means no GPU
instruments and one debug line: most machines that run this are laptops and CI runners.

Which GPUs: only those this process uses, because on a shared 8-GPU node eight ranks each
reporting all eight devices would multiply every series by eight and blame each rank for its
neighbours' memory. ``CUDA_VISIBLE_DEVICES`` (indices or ``GPU-`` UUID prefixes) picks the
visible devices; in a multi-process run (world size > 1) that still sees several devices, each
rank watches the device of its local rank, as torchrun's convention puts it there.
``OTEL_AXOLOTL_GPUS=all`` watches every GPU on the node instead.

Keys, as OpenTelemetry's hardware conventions ask: ``hw.id`` is the GPU UUID (unique on the
host, what DCGM and nvidia-smi report, so series join across tools and ranks; the CUDA ordinal
would be ``0`` on every rank that has ``CUDA_VISIBLE_DEVICES=N``), ``hw.model`` the model name.
``axolotl.gpu.ordinal`` is the device's CUDA ordinal as this process sees it (what ``cuda:N``
means to torch; the NVML index on the node with ``OTEL_AXOLOTL_GPUS=all``), and the torch
allocator figures carry both, so NVML and torch figures line up. A UUID identifies a physical
GPU: its privacy class is ``redacted``, so the strict level (PostHog always, OTLP by default)
replaces it and the ordinal keeps the series apart; secrets-only keeps it. A GPU whose UUID
NVML cannot read gets its ordinal as ``hw.id``. ``hw.energy`` (J, a counter) is NVML's total
energy since the driver loaded, from GPUs that report it (Volta and newer).
Indices are read in NVML (PCI bus) order, which is CUDA's order when
``CUDA_DEVICE_ORDER=PCI_BUS_ID`` or, as on training nodes, the GPUs are all the same model.

torch is never imported here: allocator figures are read only when the program has already
imported torch and initialised CUDA itself.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from . import probes
from . import semconv as sc
from . import settings as _s
from ._logging import OnceLog, new_scope, once_in

_logger = logging.getLogger("otel_axolotl")

# OpenTelemetry cpu.mode values for psutil's cpu_times fields (guest time is already in user).
_SYSTEM_CPU_MODES: Mapping[str, str] = {
    "user": "user",
    "nice": "nice",
    "system": "system",
    "idle": "idle",
    "iowait": "iowait",
    "irq": "interrupt",
    "softirq": "interrupt",
    "steal": "steal",
}

_CREATE = {
    "observable_gauge": "create_observable_gauge",
    "observable_updowncounter": "create_observable_up_down_counter",
    "observable_counter": "create_observable_counter",
}

Reading = tuple[float, Mapping[str, Any]]


def _observe(meter: Any, metric: str, read: Callable[[], Iterable[Reading]], once: OnceLog) -> None:
    """Create the registry's instrument for ``metric`` with a callback that never raises.

    The SDK logs a callback exception at ERROR level on every collection; a telemetry problem
    is not the user's error, so the callback swallows it and says so once at debug level.
    """
    from opentelemetry.metrics import Observation

    spec = sc.METRICS[metric]

    def callback(_options: Any) -> list[Any]:
        try:
            return [Observation(value, dict(attrs)) for value, attrs in read()]
        except Exception:
            once(f"callback:{metric}", "otel-axolotl: reading %s failed; skipped", metric)
            return []

    getattr(meter, _CREATE[spec.instrument])(
        spec.name, callbacks=[callback], unit=spec.unit, description=spec.brief
    )


def register_observables(meter: Any, rank_info: Any, settings: _s.Settings | None = None) -> None:
    """Create the process, host, GPU and torch allocator instruments on ``meter``.

    ``rank_info`` is a ``ranks.RankInfo`` (rank, local_rank, world_size); ``settings`` say which
    GPUs to watch (OTEL_AXOLOTL_GPUS, CUDA_VISIBLE_DEVICES; default: the visible ones, all of
    them). Never raises: a part that cannot be set up is left out with a debug line.
    """
    settings = _s.Settings() if settings is None else settings
    base = {sc.ATTR_RANK: int(getattr(rank_info, "rank", 0))}
    # Each distinct failure is debug-logged once per registration: a dead sensor must not log
    # every 10 s forever.
    once = once_in(new_scope("hardware"), logging.DEBUG, exc_info=True)
    try:
        _register_host(meter, base, once)
    except Exception:
        _logger.debug("otel-axolotl: process and host metrics unavailable", exc_info=True)
    ordinals: dict[int, str] | None = None  # CUDA ordinal -> hw.id (the UUID)
    try:
        gpus = open_gpus(settings, rank_info)
        if gpus:
            _register_gpus(meter, gpus, base, once)
            if settings.gpus == "visible":
                ordinals = {g.ordinal: g.hw_id for g in gpus}  # CUDA ordinals: torch's numbering too
    except Exception:
        _logger.debug("otel-axolotl: GPU metrics unavailable", exc_info=True)
    try:
        _register_torch(meter, base, once, ordinals, rank_info)
    except Exception:
        _logger.debug("otel-axolotl: torch allocator metrics unavailable", exc_info=True)


# ------------------------------------------------------------------ process and host (psutil)


class _CpuDelta:
    """Utilization from CPU time deltas between two readings, per OpenTelemetry cpu.mode.

    Computed here rather than with ``psutil.cpu_percent``: that keeps one module-wide previous
    sample, which the host program's own calls would then reset under us.
    """

    def __init__(self, read_times: Callable[[], Any]) -> None:
        self._read_times = read_times
        # Primed at registration: the first reading already covers real time (psutil's own
        # cpu_percent() returns 0.0 the first time, having no previous sample).
        self._last = (time.monotonic(), read_times())
        self._lock = threading.Lock()

    def advance(self) -> tuple[float, Any, Any]:
        with self._lock:
            now, times = time.monotonic(), self._read_times()
            (then, before), self._last = self._last, (now, times)
        return now - then, before, times


def _register_host(meter: Any, base: Mapping[str, Any], once: OnceLog) -> None:
    import psutil

    process = probes.process  # the one handle, rebuilt after fork (DataLoader workers)

    def cpus_available() -> int:
        try:
            return max(1, len(process().cpu_affinity()))
        except Exception:  # no affinity API (macOS)
            return max(1, psutil.cpu_count() or 1)

    proc_cpu = _CpuDelta(lambda: process().cpu_times())
    host_cpu = _CpuDelta(psutil.cpu_times)

    def process_cpu() -> Iterable[Reading]:
        elapsed, before, after = proc_cpu.advance()
        if elapsed <= 0:
            return []
        capacity = elapsed * cpus_available()
        return [
            (
                max(0.0, min(1.0, (getattr(after, mode) - getattr(before, mode)) / capacity)),
                {**base, sc.ATTR_CPU_MODE: mode},
            )
            for mode in ("user", "system")
        ]

    def system_cpu() -> Iterable[Reading]:
        _, before, after = host_cpu.advance()
        by_mode: dict[str, float] = {}
        for field, mode in _SYSTEM_CPU_MODES.items():
            if hasattr(after, field):
                delta = max(0.0, getattr(after, field) - getattr(before, field))
                by_mode[mode] = by_mode.get(mode, 0.0) + delta
        total = sum(by_mode.values())
        if total <= 0:
            return []
        return [(delta / total, {**base, sc.ATTR_CPU_MODE: mode}) for mode, delta in by_mode.items()]

    def process_memory() -> Iterable[Reading]:
        return [(process().memory_info().rss, base)]

    def system_memory() -> Iterable[Reading]:
        vm = psutil.virtual_memory()
        return [(vm.total - vm.available, base)]

    _observe(meter, sc.METRIC_PROCESS_CPU_UTILIZATION, process_cpu, once)
    _observe(meter, sc.METRIC_PROCESS_MEMORY_USAGE, process_memory, once)
    _observe(meter, sc.METRIC_SYSTEM_CPU_UTILIZATION, system_cpu, once)
    _observe(meter, sc.METRIC_SYSTEM_MEMORY_USAGE, system_memory, once)


# ------------------------------------------------------------------ GPUs (NVML)


@dataclass(frozen=True)
class Gpu:
    """One watched GPU: its NVML handle and the attributes its points carry."""

    hw_id: str
    ordinal: int
    handle: Any
    attributes: Mapping[str, Any]


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def parse_visible_devices(value: str | None, count: int, uuids: Callable[[], list[str]]) -> list[int] | None:
    """NVML indices named by ``CUDA_VISIBLE_DEVICES``, in CUDA order; None when it is unset.

    Follows CUDA's rules: entries are indices or ``GPU-`` UUID prefixes, and the list ends at
    the first entry that names no device (so ``"0,-1,2"`` means device 0 only, as does
    ``"0,7,2"`` on a node with fewer than eight GPUs). MIG instances
    (``MIG-...``) end the list too: NVML reports their utilization per parent GPU only.
    ``uuids`` lists the UUIDs by NVML index; it is called only when a UUID entry needs it.
    """
    if value is None:
        return None
    result: list[int] = []
    known: list[str] | None = None
    for raw in value.split(","):
        entry = raw.strip()
        if not entry:
            break
        if entry.lstrip("-").isdigit():
            index = int(entry)
            if not 0 <= index < count:
                break
            result.append(index)
            continue
        if not entry.upper().startswith("GPU-"):
            break
        known = uuids() if known is None else known
        matches = [i for i, u in enumerate(known) if u.lower().startswith(entry.lower())]
        if len(matches) != 1:  # unknown or ambiguous prefix: CUDA stops here as well
            break
        result.append(matches[0])
    return list(dict.fromkeys(result))  # a device named twice is one device


def select_gpus(count: int, visible: list[int] | None, rank_info: Any, mode: str) -> list[tuple[int, int]]:
    """(ordinal, NVML index) of each GPU to watch; see the module docstring for the rules."""
    if mode == "all":
        return [(i, i) for i in range(count)]
    nvml_indices = list(range(count)) if visible is None else [i for i in visible if 0 <= i < count]
    ordinals = list(enumerate(nvml_indices))
    world_size = int(getattr(rank_info, "world_size", 1) or 1)
    local_rank = int(getattr(rank_info, "local_rank", 0) or 0)
    if world_size > 1 and len(ordinals) > 1 and 0 <= local_rank < len(ordinals):
        ordinals = [ordinals[local_rank]]
    return list(ordinals)


def open_gpus(settings: _s.Settings, rank_info: Any) -> list[Gpu]:
    """Initialise NVML and return the GPUs this process should watch; [] (one debug line)
    when there is no NVML library, no driver, or no GPU to watch."""
    try:
        import pynvml

        pynvml.nvmlInit()
        count = int(pynvml.nvmlDeviceGetCount())
    except Exception as exc:
        _logger.debug("otel-axolotl: no GPU metrics (NVML unavailable: %s)", exc)
        return []
    mode = settings.gpus

    def uuids() -> list[str]:
        return [_text(pynvml.nvmlDeviceGetUUID(pynvml.nvmlDeviceGetHandleByIndex(i))) for i in range(count)]

    visible = (
        parse_visible_devices(settings.cuda_visible_devices, count, uuids) if mode == "visible" else None
    )
    gpus: list[Gpu] = []
    for ordinal, index in select_gpus(count, visible, rank_info, mode):
        try:
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        except Exception:
            _logger.debug("otel-axolotl: GPU %s cannot be opened through NVML", index, exc_info=True)
            continue
        try:
            hw_id = _text(pynvml.nvmlDeviceGetUUID(handle))
        except Exception:
            _logger.debug("otel-axolotl: GPU %s has no readable UUID", index, exc_info=True)
            hw_id = str(ordinal)
        attrs: dict[str, Any] = {
            sc.ATTR_HW_ID: hw_id,
            sc.ATTR_GPU_ORDINAL: ordinal,
            sc.ATTR_HW_VENDOR: "nvidia",
            sc.ATTR_HW_TYPE: "gpu",
        }
        try:
            attrs[sc.ATTR_HW_MODEL] = _text(pynvml.nvmlDeviceGetName(handle))
        except Exception:
            _logger.debug("otel-axolotl: GPU %s has no readable name", index, exc_info=True)
        gpus.append(Gpu(hw_id, ordinal, handle, attrs))
    if not gpus:
        _logger.debug("otel-axolotl: no GPU metrics (%d NVML devices, none used by this process)", count)
    return gpus


def _register_gpus(meter: Any, gpus: list[Gpu], base: Mapping[str, Any], once: OnceLog) -> None:
    import pynvml

    def per_gpu(field: str, read: Callable[[Any], float | None]) -> Callable[[], Iterable[Reading]]:
        def readings() -> Iterable[Reading]:
            out: list[Reading] = []
            for gpu in gpus:
                try:
                    value = read(gpu.handle)
                except Exception:
                    once(
                        f"{field}:{gpu.hw_id}",
                        "otel-axolotl: GPU %s: %s unreadable; skipped",
                        gpu.hw_id,
                        field,
                    )
                    continue
                if value is not None:
                    out.append((value, {**gpu.attributes, **base}))
            return out

        return readings

    def memory_utilization(handle: Any) -> float | None:
        info = pynvml.nvmlDeviceGetMemoryInfo(handle)
        return info.used / info.total if info.total else None

    fields: list[tuple[str, str, Callable[[Any], float | None]]] = [
        (
            sc.METRIC_HW_GPU_UTILIZATION,
            "utilization",
            lambda h: pynvml.nvmlDeviceGetUtilizationRates(h).gpu / 100.0,
        ),
        (sc.METRIC_HW_GPU_MEMORY_USAGE, "memory", lambda h: int(pynvml.nvmlDeviceGetMemoryInfo(h).used)),
        (sc.METRIC_HW_GPU_MEMORY_LIMIT, "memory", lambda h: int(pynvml.nvmlDeviceGetMemoryInfo(h).total)),
        (sc.METRIC_HW_GPU_MEMORY_UTILIZATION, "memory", memory_utilization),
        (sc.METRIC_HW_POWER, "power", lambda h: pynvml.nvmlDeviceGetPowerUsage(h) / 1000.0),  # mW -> W
        (sc.METRIC_HW_ENERGY, "energy", lambda h: pynvml.nvmlDeviceGetTotalEnergyConsumption(h) / 1000.0),
        (
            sc.METRIC_HW_TEMPERATURE,
            "temperature",
            lambda h: float(pynvml.nvmlDeviceGetTemperature(h, pynvml.NVML_TEMPERATURE_GPU)),
        ),
    ]
    for metric, field, read in fields:
        _observe(meter, metric, per_gpu(field, read), once)


# ------------------------------------------------------------------ torch allocator


def _register_torch(
    meter: Any, base: Mapping[str, Any], once: OnceLog, ordinals: Mapping[int, str] | None, rank_info: Any
) -> None:
    """Allocator figures per CUDA ordinal, once the program itself has initialised CUDA
    (``probes.initialised_cuda``: initialising CUDA from this thread would create a context
    the program never asked for and break CUDA in processes it forks later)."""

    def figure(name: str) -> Callable[[], Iterable[Reading]]:
        def readings() -> Iterable[Reading]:
            cuda = probes.initialised_cuda()
            if cuda is None:
                return []
            count = int(cuda.device_count())
            if ordinals is not None:
                devices = {i: {sc.ATTR_HW_ID: hw_id} for i, hw_id in ordinals.items() if i < count}
            else:  # no NVML (ROCm, or NVML failed): the same selection rule on torch's ordinals
                selected = select_gpus(count, None, rank_info, "visible")
                devices = {i: {sc.ATTR_HW_ID: str(i)} for i, _ in selected}  # no UUID without NVML
            read = getattr(cuda, name)
            return [(int(read(i)), {**ids, sc.ATTR_GPU_ORDINAL: i, **base}) for i, ids in devices.items()]

        return readings

    _observe(meter, sc.METRIC_TORCH_MEMORY_ALLOCATED, figure("memory_allocated"), once)
    _observe(meter, sc.METRIC_TORCH_MEMORY_RESERVED, figure("memory_reserved"), once)
