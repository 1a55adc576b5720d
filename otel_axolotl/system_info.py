"""The ``system-info`` event body: Axolotl's keys, nothing that identifies a person or machine.

Keys, as Axolotl sends them: ``os``, ``python_version``, ``cpu_count``, ``memory_total``,
``accelerator_type``, ``accelerator_count``, ``accelerator_info`` (a list of
``{"name", "memory"}``) and ``<package>_version`` for each installed package of
``RELEVANT_PACKAGES``. No host name, user name, path, UUID or serial number is read at all,
so none can leak: what is never collected needs no scrubbing.

Cheap on purpose (it runs once, on the training thread, at ``config-loaded``): package
versions come from installed metadata (``importlib.metadata``), never by importing the
package; accelerator facts come from NVML, or from torch only when the program has already
imported it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import sys
from importlib import metadata
from typing import Any

from . import settings as _s

_logger = logging.getLogger("otel_axolotl")

RELEVANT_PACKAGES: tuple[str, ...] = (
    "torch",
    "transformers",
    "trl",
    "datasets",
    "peft",
    "bitsandbytes",
    "accelerate",
    "optimum",
    "deepspeed",
    "ray",
    "axolotl",
    "triton",
    "mamba-ssm",
    "flash-attn",
    "xformers",
    "autoawq",
    "tokenizers",
    "sentencepiece",
    "torchao",
    "lm_eval",
    "lightning",
    "otel-axolotl",
)
"""Axolotl's list plus ``lightning`` and ``otel-axolotl``; keys are ``f"{name}_version"``."""


def collect(settings: _s.Settings | None = None) -> dict[str, Any]:
    """Axolotl's system-info dict. Each part that fails is left out; never raises.

    ``settings`` say which GPUs count (OTEL_AXOLOTL_GPUS, CUDA_VISIBLE_DEVICES); the manager
    passes its own, a direct call reads them from the environment."""
    settings = _s.Settings.from_env() if settings is None else settings
    info: dict[str, Any] = {
        "os": platform.system(),
        "python_version": platform.python_version(),
    }
    try:
        import psutil

        info["cpu_count"] = psutil.cpu_count()
        info["memory_total"] = int(psutil.virtual_memory().total)
    except Exception:
        info["cpu_count"] = os.cpu_count()
        _logger.debug("otel-axolotl: psutil figures unavailable", exc_info=True)
    accelerator_type, accelerators = _accelerators(settings)
    info["accelerator_type"] = accelerator_type
    info["accelerator_count"] = len(accelerators)
    info["accelerator_info"] = accelerators
    info.update(package_versions())
    return info


def package_versions(packages: tuple[str, ...] = RELEVANT_PACKAGES) -> dict[str, str]:
    """``{"<name>_version": version}`` for each installed package; missing ones are skipped."""
    versions: dict[str, str] = {}
    for name in packages:
        try:
            versions[f"{name}_version"] = metadata.version(name)
        except Exception:  # PackageNotFoundError, or broken metadata
            continue
    return versions


def _accelerators(settings: _s.Settings) -> tuple[str, list[dict[str, Any]]]:
    try:
        found = _nvml_accelerators(settings)
        if found:
            return "cuda", found
    except Exception:
        _logger.debug("otel-axolotl: NVML accelerator facts unavailable", exc_info=True)
    try:
        return _torch_accelerators()
    except Exception:
        _logger.debug("otel-axolotl: torch accelerator facts unavailable", exc_info=True)
    return "none", []


def _nvml_accelerators(settings: _s.Settings) -> list[dict[str, Any]]:
    """Name and total memory of each GPU this process can see (CUDA_VISIBLE_DEVICES applies,
    as it does to Axolotl's ``torch.cuda.device_count()``), or of every GPU with
    ``OTEL_AXOLOTL_GPUS=all``."""
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:
        return []
    try:
        from .hardware import _text, parse_visible_devices

        count = int(pynvml.nvmlDeviceGetCount())
        if settings.gpus == "all":
            indices = list(range(count))
        else:

            def uuids() -> list[str]:
                return [
                    _text(pynvml.nvmlDeviceGetUUID(pynvml.nvmlDeviceGetHandleByIndex(i)))
                    for i in range(count)
                ]

            visible = parse_visible_devices(settings.cuda_visible_devices, count, uuids)
            indices = list(range(count)) if visible is None else [i for i in visible if i < count]
        found = []
        for index in indices:
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            entry: dict[str, Any] = {"name": None, "memory": None}
            with contextlib.suppress(Exception):  # each fact on its own
                entry["name"] = _text(pynvml.nvmlDeviceGetName(handle))
            with contextlib.suppress(Exception):
                entry["memory"] = int(pynvml.nvmlDeviceGetMemoryInfo(handle).total)
            found.append(entry)
        return found
    finally:
        with contextlib.suppress(Exception):
            pynvml.nvmlShutdown()  # NVML counts inits: this one is balanced, the metrics' stays


def _torch_accelerators() -> tuple[str, list[dict[str, Any]]]:
    """Axolotl's order (cuda or hip, mps, xpu, npu), only if the program imported torch, and
    CUDA only once the program initialised it (``probes.initialised_cuda``: asking
    ``is_available()`` could initialise CUDA and break the program's later forks)."""
    from .probes import initialised_cuda

    torch = sys.modules.get("torch")
    if torch is None:
        return "none", []
    cuda = initialised_cuda()
    if cuda is not None:
        kind = "hip" if getattr(getattr(torch, "version", None), "hip", None) else "cuda"
        return kind, [_torch_device(cuda, i) for i in range(cuda.device_count())]
    mps = getattr(torch, "mps", None)
    backends_mps = getattr(getattr(torch, "backends", None), "mps", None)
    if mps is not None and backends_mps is not None and backends_mps.is_available():
        memory = getattr(mps, "driver_allocated_memory", None)
        return "mps", [{"name": "Apple Silicon", "memory": int(memory()) if memory else None}]
    for kind in ("xpu", "npu"):
        backend = getattr(torch, kind, None)
        if backend is not None and backend.is_available():
            return kind, [_torch_device(backend, i) for i in range(backend.device_count())]
    return "none", []


def _torch_device(backend: Any, index: int) -> dict[str, Any]:
    props = backend.get_device_properties(index)
    return {"name": getattr(props, "name", None), "memory": getattr(props, "total_memory", None)}
