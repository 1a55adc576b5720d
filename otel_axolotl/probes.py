"""The readers of this process's own figures, shared by the hardware metrics and the run summary.

One psutil handle per process: building ``psutil.Process`` reads /proc twice, and a forked
child (another pid) needs its own. One accelerator-memory reader, and it is CUDA-safe: torch
is never imported here, and CUDA figures are read only once the program itself initialised
CUDA (``torch.cuda.is_initialized()``, never ``is_available()``, which may create a CUDA
context the program never asked for and break CUDA in the processes it forks later).
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any

_lock = threading.Lock()
_process: Any = None


def process() -> Any:
    """This process's ``psutil.Process`` (rebuilt after fork)."""
    global _process
    handle = _process
    if handle is None or handle.pid != os.getpid():
        import psutil

        with _lock:
            handle = _process
            if handle is None or handle.pid != os.getpid():
                handle = _process = psutil.Process()
    return handle


def rss() -> int:
    """This process's resident memory in bytes."""
    return int(process().memory_info().rss)


def initialised_cuda() -> Any:
    """``torch.cuda`` when the program has imported torch and initialised CUDA, else None."""
    torch = sys.modules.get("torch")
    cuda = getattr(torch, "cuda", None)
    try:
        return cuda if cuda is not None and cuda.is_initialized() else None
    except Exception:
        return None


def _initialised(backend: Any) -> bool:
    """XPU / NPU: initialised by the program (``is_initialized``), else, where a backend has
    no such call, available."""
    check = getattr(backend, "is_initialized", None) or getattr(backend, "is_available", None)
    return bool(check()) if check is not None else False


def allocated_accelerator_memory() -> dict[int, int]:
    """Bytes allocated per device by torch's allocator; {} when torch is not imported or no
    accelerator is in use."""
    torch = sys.modules.get("torch")
    if torch is None:
        return {}
    try:
        cuda = initialised_cuda()  # CUDA and ROCm (hip) share this API
        if cuda is not None:
            return {i: int(cuda.memory_allocated(i)) for i in range(cuda.device_count())}
        mps = getattr(torch, "mps", None)
        backends_mps = getattr(getattr(torch, "backends", None), "mps", None)
        if mps is not None and backends_mps is not None and backends_mps.is_available():
            return {0: int(mps.current_allocated_memory())}
        for name in ("xpu", "npu"):
            backend = getattr(torch, name, None)
            if backend is not None and _initialised(backend):
                return {i: int(backend.memory_allocated(i)) for i in range(backend.device_count())}
    except Exception:
        return {}
    return {}
