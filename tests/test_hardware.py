"""Hardware metrics: the real no-GPU path of this machine, and NVML behaviour through a fake
``pynvml`` module put in at the import boundary (``sys.modules``), since no GPU is here.

Everything else is real: the OpenTelemetry SDK's MeterProvider and reader, psutil, and for the
end-to-end case the whole manager pipeline with its privacy stage.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
import types
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from otel_axolotl import hardware, ranks
from otel_axolotl import semconv as sc
from otel_axolotl.privacy.markers import marker
from otel_axolotl.privacy.values import Level
from otel_axolotl.ranks import RankInfo
from otel_axolotl.settings import Settings
from tests.support.capture import Captured, metric_values
from tests.support.fake_nvml import GIB, FakeGpu, FakeNvml
from tests.support.registry_check import assert_all_registered

REDACTED = marker("text")  # a redacted-class attribute (hw.id) at strict

GPU_METRICS = {
    sc.METRIC_HW_GPU_UTILIZATION,
    sc.METRIC_HW_GPU_MEMORY_USAGE,
    sc.METRIC_HW_GPU_MEMORY_LIMIT,
    sc.METRIC_HW_GPU_MEMORY_UTILIZATION,
    sc.METRIC_HW_POWER,
    sc.METRIC_HW_ENERGY,
    sc.METRIC_HW_TEMPERATURE,
}
HOST_METRICS = {
    sc.METRIC_PROCESS_CPU_UTILIZATION,
    sc.METRIC_PROCESS_MEMORY_USAGE,
    sc.METRIC_SYSTEM_CPU_UTILIZATION,
    sc.METRIC_SYSTEM_MEMORY_USAGE,
}


# ------------------------------------------------------------------ a fake NVML


def four_gpus() -> list[FakeGpu]:
    return [
        FakeGpu(f"NVIDIA H100 #{i}", f"GPU-{c * 8}-1111-2222-3333-444444444444", utilization=10 * (i + 1))
        for i, c in enumerate("abcd")
    ]


@pytest.fixture
def fake_nvml(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Install a fake ``pynvml`` for this test; configure it through ``.gpus``."""

    def install(gpus: list[FakeGpu], init_error: bool = False) -> FakeNvml:
        module = FakeNvml(gpus, init_error)
        monkeypatch.setitem(sys.modules, "pynvml", module)
        return module

    yield install


# ------------------------------------------------------------------ helpers


class Reader:
    """register_observables on a real MeterProvider with an in-memory reader."""

    def __init__(self, rank: RankInfo | None = None, env: dict[str, str] | None = None) -> None:
        self.reader = InMemoryMetricReader()
        self.provider = MeterProvider(metric_readers=[self.reader], shutdown_on_exit=False)
        settings = Settings.from_env(env or {})
        hardware.register_observables(self.provider.get_meter("test"), rank or RankInfo(), settings)

    def collect(self) -> dict[str, list[tuple[dict[str, Any], Any, str]]]:
        """metric name -> [(attributes, value, unit)] of one collection."""
        data = self.reader.get_metrics_data()
        self.last = data
        result: dict[str, list[tuple[dict[str, Any], Any, str]]] = {}
        for rm in data.resource_metrics if data else ():
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    result[m.name] = [(dict(p.attributes), p.value, m.unit) for p in m.data.data_points]
        return result

    def close(self) -> None:
        self.provider.shutdown()


@pytest.fixture
def reader() -> Iterator[Any]:
    made: list[Reader] = []

    def build(rank: RankInfo | None = None, env: dict[str, str] | None = None) -> Reader:
        made.append(Reader(rank, env))
        return made[-1]

    yield build
    for r in made:
        r.close()


def by_id(points: list[tuple[dict[str, Any], Any, str]]) -> dict[str, Any]:
    """CUDA ordinal (as text) -> value."""
    return {str(attrs[sc.ATTR_GPU_ORDINAL]): value for attrs, value, _ in points}


def busy(seconds: float = 0.05) -> None:
    """Spend CPU time, so that CPU utilization has a delta to report."""
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def problems_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno > logging.DEBUG]


# ------------------------------------------------------------------ the real machine


def _nvml_works() -> bool:
    try:
        import pynvml

        pynvml.nvmlInit()
        return int(pynvml.nvmlDeviceGetCount()) > 0
    except Exception:
        return False


@pytest.mark.skipif(_nvml_works(), reason="this machine has a working NVML and a GPU")
def test_no_gpu_here_means_host_metrics_only_and_one_debug_line(
    reader: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    r = reader(RankInfo(rank=3, local_rank=0, world_size=4))
    busy()
    collected = r.collect()

    assert not GPU_METRICS & collected.keys()
    assert collected.keys() >= HOST_METRICS
    for name in HOST_METRICS:
        for attrs, value, _ in collected[name]:
            assert attrs[sc.ATTR_RANK] == 3
            assert value >= 0
    for name in (sc.METRIC_PROCESS_CPU_UTILIZATION, sc.METRIC_SYSTEM_CPU_UTILIZATION):
        assert all(0.0 <= value <= 1.0 for _, value, _ in collected[name])
        assert {attrs[sc.ATTR_CPU_MODE] for attrs, _, _ in collected[name]} >= {"user", "system"}
    (_, rss, unit), *_ = collected[sc.METRIC_PROCESS_MEMORY_USAGE]
    assert unit == "By" and rss > 10 * 1024 * 1024
    assert problems_logged(caplog) == []
    gpu_lines = [r for r in caplog.records if "GPU" in r.getMessage()]
    assert len(gpu_lines) == 1 and gpu_lines[0].levelno == logging.DEBUG
    assert_all_registered(metrics_data=r.last)


def test_importing_and_collecting_never_imports_torch() -> None:
    """Allocator figures need torch already imported; the hardware code never imports it."""
    code = (
        "import sys\n"
        "from opentelemetry.sdk.metrics import MeterProvider\n"
        "from opentelemetry.sdk.metrics.export import InMemoryMetricReader\n"
        "from otel_axolotl import hardware, system_info\n"
        "from otel_axolotl.ranks import RankInfo\n"
        "r = InMemoryMetricReader(); p = MeterProvider(metric_readers=[r])\n"
        "hardware.register_observables(p.get_meter('t'), RankInfo())\n"
        "r.get_metrics_data(); system_info.collect()\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "assert not [m for m in sys.modules if m.startswith(('transformers', 'lightning'))]\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# ------------------------------------------------------------------ NVML through a fake module


def test_values_and_units(fake_nvml: Any, reader: Any) -> None:
    gpus = [FakeGpu("NVIDIA A100-SXM4-80GB", "GPU-aaaa", utilization=37, used=20 * GIB, power_mw=123_456)]
    fake_nvml(gpus)
    collected = reader(RankInfo(rank=2, world_size=1)).collect()

    assert collected.keys() >= GPU_METRICS
    expected = {
        sc.METRIC_HW_GPU_UTILIZATION: (0.37, "1"),
        sc.METRIC_HW_GPU_MEMORY_USAGE: (20 * GIB, "By"),
        sc.METRIC_HW_GPU_MEMORY_LIMIT: (80 * GIB, "By"),
        sc.METRIC_HW_GPU_MEMORY_UTILIZATION: (0.25, "1"),
        sc.METRIC_HW_POWER: (123.456, "W"),
        sc.METRIC_HW_ENERGY: (5000.0, "J"),  # NVML's millijoules
        sc.METRIC_HW_TEMPERATURE: (60.0, "Cel"),
    }
    for name, (value, unit) in expected.items():
        [(attrs, got, got_unit)] = collected[name]
        assert got == pytest.approx(value), name
        assert got_unit == unit == sc.METRICS[name].unit
        assert attrs == {
            sc.ATTR_HW_ID: "GPU-aaaa",  # the UUID: unique on the host, what DCGM reports
            sc.ATTR_GPU_ORDINAL: 0,
            sc.ATTR_HW_MODEL: "NVIDIA A100-SXM4-80GB",
            sc.ATTR_HW_VENDOR: "nvidia",
            sc.ATTR_HW_TYPE: "gpu",
            sc.ATTR_RANK: 2,
        }


def test_a_failing_field_is_skipped_alone_and_logged_once(
    fake_nvml: Any, reader: Any, caplog: pytest.LogCaptureFixture
) -> None:
    gpus = [
        FakeGpu("GPU zero", "GPU-aaaa"),
        FakeGpu("GPU one", "GPU-bbbb", failing={"nvmlDeviceGetPowerUsage"}),
    ]
    nvml = fake_nvml(gpus)
    caplog.set_level(logging.DEBUG, logger="otel_axolotl")
    r = reader()
    for _ in range(3):
        collected = r.collect()
        for name in GPU_METRICS - {sc.METRIC_HW_POWER}:
            assert set(by_id(collected[name])) == {"0", "1"}, name
        assert by_id(collected[sc.METRIC_HW_POWER]) == {"0": 300.0}
    assert nvml.calls.count("nvmlDeviceGetPowerUsage") == 6  # still tried on every reading
    failures = [rec for rec in caplog.records if "power" in rec.getMessage()]
    assert len(failures) == 1 and failures[0].levelno == logging.DEBUG
    assert problems_logged(caplog) == []


def test_a_field_that_recovers_reports_again(fake_nvml: Any, reader: Any) -> None:
    gpus = [FakeGpu("GPU zero", "GPU-aaaa", failing={"nvmlDeviceGetTemperature"})]
    fake_nvml(gpus)
    r = reader()
    assert sc.METRIC_HW_TEMPERATURE not in r.collect()
    gpus[0].failing.clear()
    gpus[0].temperature = 71
    assert by_id(r.collect()[sc.METRIC_HW_TEMPERATURE]) == {"0": 71.0}


def test_nvml_init_failure_means_no_gpu_metrics_and_no_error(
    fake_nvml: Any, reader: Any, caplog: pytest.LogCaptureFixture
) -> None:
    fake_nvml(four_gpus(), init_error=True)
    caplog.set_level(logging.DEBUG)
    r = reader()
    busy()
    collected = r.collect()
    assert not GPU_METRICS & collected.keys()
    assert collected.keys() >= HOST_METRICS
    assert problems_logged(caplog) == []
    assert len([r for r in caplog.records if "GPU" in r.getMessage()]) == 1


def test_a_gpu_whose_name_cannot_be_read_still_reports(fake_nvml: Any, reader: Any) -> None:
    fake_nvml([FakeGpu("x", "GPU-aaaa", failing={"nvmlDeviceGetName"})])
    [(attrs, value, _)] = reader().collect()[sc.METRIC_HW_GPU_UTILIZATION]
    assert value == 0.5 and sc.ATTR_HW_MODEL not in attrs and attrs[sc.ATTR_HW_ID] == "GPU-aaaa"


def test_a_gpu_without_energy_reports_everything_else(fake_nvml: Any, reader: Any) -> None:
    """Pre-Volta GPUs answer NVML_ERROR_NOT_SUPPORTED for the energy counter."""
    fake_nvml([FakeGpu("new", "GPU-aaaa", energy_mj=7_500), FakeGpu("old", "GPU-bbbb", energy_mj=None)])
    r = reader()
    for _ in range(2):
        collected = r.collect()
        assert by_id(collected[sc.METRIC_HW_ENERGY]) == {"0": 7.5}
        for name in GPU_METRICS - {sc.METRIC_HW_ENERGY}:
            assert set(by_id(collected[name])) == {"0", "1"}, name


def test_the_energy_counter_rises_with_nvml(fake_nvml: Any, reader: Any) -> None:
    gpus = [FakeGpu("g", "GPU-aaaa", energy_mj=1_000)]
    fake_nvml(gpus)
    r = reader()
    assert by_id(r.collect()[sc.METRIC_HW_ENERGY]) == {"0": 1.0}
    gpus[0].energy_mj = 4_000
    assert by_id(r.collect()[sc.METRIC_HW_ENERGY]) == {"0": 4.0}


def test_a_gpu_whose_uuid_cannot_be_read_is_keyed_by_its_ordinal(fake_nvml: Any, reader: Any) -> None:
    fake_nvml([FakeGpu("a", "GPU-aaaa"), FakeGpu("b", "GPU-bbbb", failing={"nvmlDeviceGetUUID"})])
    points = reader().collect()[sc.METRIC_HW_GPU_UTILIZATION]
    assert sorted(a[sc.ATTR_HW_ID] for a, _, _ in points) == ["1", "GPU-aaaa"]


# ------------------------------------------------------------------ which GPUs


def watched(collected: dict[str, Any]) -> dict[str, str]:
    """CUDA ordinal (as text) -> device model, from the utilization points."""
    return {
        str(a[sc.ATTR_GPU_ORDINAL]): a[sc.ATTR_HW_MODEL]
        for a, _, _ in collected.get(sc.METRIC_HW_GPU_UTILIZATION, [])
    }


@pytest.mark.parametrize(
    ("visible", "expected"),
    [
        (None, {"0": "#0", "1": "#1", "2": "#2", "3": "#3"}),
        ("2,0", {"0": "#2", "1": "#0"}),
        (" 3 ", {"0": "#3"}),
        ("1,-1,2", {"0": "#1"}),  # CUDA stops at the first invalid entry
        ("1,7,2", {"0": "#1"}),  # 7 does not exist: CUDA stops there too
        ("GPU-cccc,GPU-aaaaaaaa-1111", {"0": "#2", "1": "#0"}),  # UUID prefixes
        ("GPU-ffff", {}),  # unknown UUID
        ("", {}),  # no device visible
        ("MIG-1234", {}),
    ],
)
def test_cuda_visible_devices(
    fake_nvml: Any, reader: Any, visible: str | None, expected: dict[str, str]
) -> None:
    fake_nvml(four_gpus())
    env = {} if visible is None else {"CUDA_VISIBLE_DEVICES": visible}
    names = watched(reader(env=env).collect())
    assert {k: v.split()[-1] for k, v in names.items()} == expected


def test_each_torchrun_rank_watches_its_local_device(fake_nvml: Any, reader: Any) -> None:
    fake_nvml(four_gpus())
    env = {"RANK": "5", "LOCAL_RANK": "1", "WORLD_SIZE": "8"}
    collected = reader(ranks.detect(env), env=env).collect()
    assert {k: v.split()[-1] for k, v in watched(collected).items()} == {"1": "#1"}
    for name in GPU_METRICS:
        assert [a[sc.ATTR_RANK] for a, _, _ in collected[name]] == [5]


def test_a_rank_given_one_device_watches_that_device(fake_nvml: Any, reader: Any) -> None:
    fake_nvml(four_gpus())
    env = {"RANK": "1", "LOCAL_RANK": "1", "WORLD_SIZE": "2", "CUDA_VISIBLE_DEVICES": "3"}
    names = watched(reader(ranks.detect(env), env=env).collect())
    assert {k: v.split()[-1] for k, v in names.items()} == {"0": "#3"}


def test_a_single_process_watches_every_visible_gpu(fake_nvml: Any, reader: Any) -> None:
    fake_nvml(four_gpus())
    env = {"LOCAL_RANK": "2", "CUDA_VISIBLE_DEVICES": "1,2"}  # e.g. device_map="auto", one process
    names = watched(reader(ranks.detect(env), env=env).collect())
    assert {k: v.split()[-1] for k, v in names.items()} == {"0": "#1", "1": "#2"}


def test_otel_axolotl_gpus_all_watches_the_whole_node(fake_nvml: Any, reader: Any) -> None:
    fake_nvml(four_gpus())
    env = {"OTEL_AXOLOTL_GPUS": "all", "CUDA_VISIBLE_DEVICES": "1", "LOCAL_RANK": "1", "WORLD_SIZE": "4"}
    names = watched(reader(ranks.detect(env), env=env).collect())
    assert {k: v.split()[-1] for k, v in names.items()} == {"0": "#0", "1": "#1", "2": "#2", "3": "#3"}


def test_hw_id_is_the_uuid_of_the_watched_gpu(fake_nvml: Any, reader: Any) -> None:
    """Two ranks each given one GPU by CUDA_VISIBLE_DEVICES both see ordinal 0; the UUID tells
    their devices apart (issue 15 item 6)."""
    fake_nvml(four_gpus())
    ids = []
    for visible in ("1", "3"):
        points = reader(env={"CUDA_VISIBLE_DEVICES": visible}).collect()[sc.METRIC_HW_GPU_UTILIZATION]
        [(attrs, _, _)] = points
        assert attrs[sc.ATTR_GPU_ORDINAL] == 0
        ids.append(attrs[sc.ATTR_HW_ID])
    assert ids == [four_gpus()[1].uuid, four_gpus()[3].uuid]


# ------------------------------------------------------------------ torch allocator figures


def fake_torch(initialised: bool) -> types.ModuleType:
    torch = types.ModuleType("torch")
    torch.cuda = types.SimpleNamespace(  # type: ignore[attr-defined]
        is_initialized=lambda: initialised,
        device_count=lambda: 4,
        memory_allocated=lambda i: (i + 1) * GIB,
        memory_reserved=lambda i: (i + 2) * GIB,
    )
    return torch


def test_torch_figures_follow_the_watched_gpus(
    fake_nvml: Any, reader: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_nvml(four_gpus())
    env = {"RANK": "2", "LOCAL_RANK": "2", "WORLD_SIZE": "4"}
    r = reader(ranks.detect(env), env=env)
    monkeypatch.setitem(sys.modules, "torch", fake_torch(initialised=True))
    collected = r.collect()
    ids = {sc.ATTR_HW_ID: four_gpus()[2].uuid, sc.ATTR_GPU_ORDINAL: 2, sc.ATTR_RANK: 2}
    assert collected[sc.METRIC_TORCH_MEMORY_ALLOCATED] == [(ids, 3 * GIB, "By")]
    assert collected[sc.METRIC_TORCH_MEMORY_RESERVED] == [(ids, 4 * GIB, "By")]


def test_torch_figures_wait_for_the_program_to_initialise_cuda(
    fake_nvml: Any, reader: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_nvml([], init_error=True)  # no NVML (ROCm, say): torch's own device count decides
    r = reader()
    monkeypatch.setitem(sys.modules, "torch", fake_torch(initialised=False))
    assert sc.METRIC_TORCH_MEMORY_ALLOCATED not in r.collect()
    monkeypatch.setitem(sys.modules, "torch", fake_torch(initialised=True))
    allocated = r.collect()[sc.METRIC_TORCH_MEMORY_ALLOCATED]
    assert {a[sc.ATTR_HW_ID]: v for a, v, _ in allocated} == {str(i): (i + 1) * GIB for i in range(4)}
    assert [a[sc.ATTR_GPU_ORDINAL] for a, _, _ in allocated] == [0, 1, 2, 3]


def test_without_torch_there_are_no_torch_figures(reader: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    r = reader()
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    collected = r.collect()
    assert sc.METRIC_TORCH_MEMORY_ALLOCATED not in collected
    assert "torch" not in sys.modules


# ------------------------------------------------------------------ through the whole pipeline


def test_gpu_metrics_pass_the_privacy_stage_registered(fake_nvml: Any) -> None:
    fake_nvml(
        [
            FakeGpu("NVIDIA H100 80GB HBM3", "GPU-aaaa"),
            FakeGpu("NVIDIA H100 80GB HBM3", "GPU-bbbb", utilization=99),
        ]
    )
    captured = Captured()
    manager = captured.build_manager()
    try:
        sum(i * i for i in range(300_000))  # CPU utilization needs CPU time to pass between reads
        captured.flush()
    finally:
        manager.shutdown()
    assert captured.metric_names() >= GPU_METRICS | HOST_METRICS
    utilization = captured.points(sc.METRIC_HW_GPU_UTILIZATION)
    assert sorted(metric_values(utilization, **{sc.ATTR_HW_VENDOR: "nvidia"})) == [0.5, 0.99]
    for point in utilization:
        assert point.attributes[sc.ATTR_HW_MODEL] == "NVIDIA H100 80GB HBM3"
        assert point.attributes[sc.ATTR_RANK] == 0
    # Strict: the UUID identifies a physical GPU and is replaced; the ordinal keeps them apart.
    assert sorted(p.attributes[sc.ATTR_GPU_ORDINAL] for p in utilization) == [0, 1]
    assert "GPU-" not in json.dumps([dict(p.attributes) for p in captured.points()])
    assert {p.attributes[sc.ATTR_HW_ID] for p in utilization} == {REDACTED}
    captured.assert_registered()


def test_secrets_only_keeps_the_gpu_uuid_for_the_users_backend(fake_nvml: Any) -> None:
    fake_nvml([FakeGpu("NVIDIA H100 80GB HBM3", "GPU-aaaa"), FakeGpu("NVIDIA H100 80GB HBM3", "GPU-bbbb")])
    captured = Captured(Level.SECRETS_ONLY)
    manager = captured.build_manager()
    try:
        captured.flush()
    finally:
        manager.shutdown()
    utilization = captured.points(sc.METRIC_HW_GPU_UTILIZATION)
    assert sorted(p.attributes[sc.ATTR_HW_ID] for p in utilization) == ["GPU-aaaa", "GPU-bbbb"]
    energy = captured.points(sc.METRIC_HW_ENERGY)
    assert [p.value for p in energy] == [5000.0, 5000.0] and energy[0].unit == "J"


def test_the_first_cpu_reading_is_real(reader: Any) -> None:
    """Issue 14 item 7: primed at registration, the first reading covers the time since then
    (psutil's own cpu_percent() would say 0.0 the first time)."""
    r = reader()
    busy(0.3)
    points = r.collect()[sc.METRIC_PROCESS_CPU_UTILIZATION]
    user = [value for attrs, value, _ in points if attrs[sc.ATTR_CPU_MODE] == "user"]
    assert user and user[0] > 0
