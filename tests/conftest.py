"""Shared fixtures: real local servers only (rotel collector, PostHog capture server)."""

import os
import sys
from collections.abc import Iterator

import pytest

from tests.support.posthog_capture import posthog_server  # noqa: F401
from tests.support.rotel import otlp_recorder, rotel_collector  # noqa: F401

# Variables that would change what the SDK decides; every test starts without them.
_ISOLATED = (
    "AXOLOTL_DO_NOT_TRACK",
    "DO_NOT_TRACK",
    "OTEL_SDK_DISABLED",
    "RANK",
    "LOCAL_RANK",
    "WORLD_SIZE",
    "GLOBAL_RANK",
    "SLURM_PROCID",
    "OMPI_COMM_WORLD_RANK",
    # launcher variables that would make a test process a rank of some distributed run
    "LOCAL_WORLD_SIZE",
    "LOCAL_SIZE",
    "MASTER_ADDR",
    "MASTER_PORT",
    "TORCHELASTIC_RUN_ID",
    "TORCHELASTIC_RESTART_COUNT",
    "SLURM_NTASKS",
    "SLURM_LOCALID",
    "SLURM_JOB_ID",
    "SLURM_STEP_ID",
    "OMPI_COMM_WORLD_SIZE",
    "OMPI_COMM_WORLD_LOCAL_RANK",
    "PMI_RANK",
    "PMI_SIZE",
    "PMIX_RANK",
    "PMIX_NAMESPACE",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Start every test from an environment with no telemetry decision in it."""
    for name in list(os.environ):
        if name.startswith(("OTEL_", "AXOLOTL_")) or name in _ISOLATED:
            monkeypatch.delenv(name, raising=False)
    config_dir = tmp_path_factory.mktemp("config")
    monkeypatch.setenv("OTEL_AXOLOTL_CONFIG_FILE", str(config_dir / "config.yaml"))
    # Never the user's ~/.cache: a spool left by one test would be replayed into the next.
    monkeypatch.setenv("OTEL_AXOLOTL_SPOOL_DIR", str(tmp_path_factory.mktemp("spool")))
    monkeypatch.setenv("OTEL_AXOLOTL_NOTICE_SECONDS", "0")


def _forget_the_process_manager() -> None:
    module = sys.modules.get("otel_axolotl.manager")
    if module is not None:
        module.reset_default()


@pytest.fixture(autouse=True)
def fresh_process_manager() -> Iterator[None]:
    """``TelemetryManager()`` is the process's manager (as in Axolotl): every test starts and
    ends without one, so one test's manager and environment never leak into the next."""
    _forget_the_process_manager()  # also before: a monkeypatch undone after us may bring one back
    yield
    _forget_the_process_manager()
    # init() patches transformers and Axolotl for the process: undo it, as shutdown() does.
    for name, cls in (
        ("otel_axolotl.instrumentor", "TrainerInstrumentor"),
        ("otel_axolotl.integrations.axolotl", "AxolotlInstrumentor"),
    ):
        instrumentors = sys.modules.get(name)
        if instrumentors is not None:
            instrumentor = getattr(instrumentors, cls)()
            if instrumentor.is_instrumented_by_opentelemetry:
                instrumentor.uninstrument()
