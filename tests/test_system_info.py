"""system_info.collect(): Axolotl's keys, cheap, and nothing that identifies a person or host."""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import platform
import socket
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from otel_axolotl import system_info
from tests.support.capture import Captured
from tests.support.fake_nvml import FakeGpu, FakeNvml

AXOLOTL_KEYS = {
    "os",
    "python_version",
    "cpu_count",
    "memory_total",
    "accelerator_type",
    "accelerator_count",
    "accelerator_info",
}


def test_axolotl_keys_are_present() -> None:
    info = system_info.collect()
    assert info.keys() >= AXOLOTL_KEYS
    assert info["os"] == platform.system()
    assert info["python_version"] == platform.python_version()
    assert isinstance(info["cpu_count"], int) and info["cpu_count"] >= 1
    assert isinstance(info["memory_total"], int) and info["memory_total"] > 0
    assert info["accelerator_count"] == len(info["accelerator_info"])
    for accelerator in info["accelerator_info"]:
        assert set(accelerator) == {"name", "memory"}


def test_package_versions_come_from_metadata() -> None:
    info = system_info.collect()
    assert info["otel-axolotl_version"] == metadata.version("otel-axolotl")
    assert info["torch_version"] == metadata.version("torch")
    assert info["lightning_version"] == metadata.version("lightning")
    assert "deepspeed_version" not in info  # not installed here: skipped, as Axolotl does
    versions = {k for k in info if k.endswith("_version") and k != "python_version"}
    assert versions <= {f"{name}_version" for name in system_info.RELEVANT_PACKAGES}


def _identifying_strings() -> list[str]:
    found = [socket.gethostname(), platform.node(), str(Path.home())]
    with contextlib.suppress(Exception):  # no user name in this environment at all
        found.append(getpass.getuser())
    found += [os.environ.get(name, "") for name in ("USER", "LOGNAME", "HOME")]
    # Short or generic values ("root", "/") would match innocent text; they are checked below
    # as whole JSON strings only.
    return [s for s in found if s]


def test_no_host_name_user_name_or_home_path_anywhere() -> None:
    info = system_info.collect()
    text = json.dumps(info)
    values = {v for v in _walk(info) if isinstance(v, str)}
    for secret in _identifying_strings():
        assert secret not in values, f"{secret!r} is a value of the system info"
        if len(secret) >= 5:
            assert secret not in text, f"{secret!r} appears in the system info"
    assert sys.prefix not in text and os.getcwd() not in text


def _walk(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [*value.keys(), *(x for v in value.values() for x in _walk(v))]
    if isinstance(value, list):
        return [x for v in value for x in _walk(v)]
    return [value]


def test_it_is_cheap() -> None:
    system_info.collect()  # first call pays the imports (psutil, pynvml, importlib.metadata)
    started = time.perf_counter()
    system_info.collect()
    assert time.perf_counter() - started < 0.05


def test_gpus_come_from_nvml_without_uuids(monkeypatch: pytest.MonkeyPatch) -> None:
    gpus = [
        FakeGpu("NVIDIA H100 80GB HBM3", "GPU-aaaa", total=80 * 1024**3),
        FakeGpu("NVIDIA H100 80GB HBM3", "GPU-bbbb", total=81 * 1024**3),
        FakeGpu("NVIDIA L4", "GPU-cccc", total=24 * 1024**3, failing={"nvmlDeviceGetMemoryInfo"}),
    ]
    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml(gpus))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-cccc,1")
    info = system_info.collect()
    assert info["accelerator_type"] == "cuda"
    assert info["accelerator_count"] == 2
    assert info["accelerator_info"] == [
        {"name": "NVIDIA L4", "memory": None},  # a fact NVML cannot give is None, as in Axolotl
        {"name": "NVIDIA H100 80GB HBM3", "memory": 81 * 1024**3},
    ]
    assert "GPU-" not in json.dumps(info)

    monkeypatch.setenv("OTEL_AXOLOTL_GPUS", "all")
    assert system_info.collect()["accelerator_count"] == 3


def test_no_nvml_and_no_torch_gpu_means_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml([], init_error=True))
    info = system_info.collect()
    if "torch" in sys.modules and sys.modules["torch"].cuda.is_available():
        pytest.skip("this machine has a CUDA device visible to torch")
    assert (info["accelerator_type"], info["accelerator_count"], info["accelerator_info"]) == ("none", 0, [])


def test_system_info_event_through_the_pipeline() -> None:
    """The manager's send_system_info uses collect(); the strict privacy stage keeps it whole."""
    captured = Captured()
    manager = captured.build_manager()
    try:
        manager.send_event("config-loaded", {"learning_rate": 1e-4})
        manager.send_event("config-loaded", {"learning_rate": 1e-4})
        captured.flush()
    finally:
        manager.shutdown()
    [event] = captured.events_named("system-info")  # once per run
    assert event.body.keys() >= AXOLOTL_KEYS
    assert event.body["python_version"] == platform.python_version()
    captured.assert_registered()
