"""Run ``tests/scripts/*.py`` in a child process with a clean telemetry environment."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"
TRAIN_TINY = SCRIPTS / "train_tiny.py"
REPO = SCRIPTS.parent.parent

# Launcher variables that would make the child think it is a rank of some other run.
_LAUNCHER_PREFIXES = ("OTEL_", "AXOLOTL_", "DO_NOT", "TORCHELASTIC_", "SLURM_", "OMPI_", "PMI", "MV2_")
_LAUNCHER_NAMES = (
    "RANK",
    "LOCAL_RANK",
    "WORLD_SIZE",
    "LOCAL_WORLD_SIZE",
    "GLOBAL_RANK",
    "MASTER_ADDR",
    "MASTER_PORT",
)


def child_env(spool_dir: Path | str, **extra: str) -> dict[str, str]:
    """This process's environment without telemetry or launcher variables, plus ``extra``.

    ``spool_dir`` (a test's own temporary directory) keeps the child off the per-user spool,
    which every process on the machine shares: a child would otherwise replay other runs'
    leftovers into the test's servers."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(_LAUNCHER_PREFIXES) and k not in _LAUNCHER_NAMES
    }
    env.update(
        OTEL_AXOLOTL_CONFIG_FILE=os.devnull,
        OTEL_AXOLOTL_NOTICE_SECONDS="0",
        OTEL_AXOLOTL_HARDWARE_METRICS="false",
        OTEL_AXOLOTL_SPOOL_DIR=str(spool_dir),
        PYTHONPATH=os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p),
        **extra,
    )
    return env


def start(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    """``python <args>``, stderr merged into stdout (one pipe: nothing can fill up unread)."""
    return subprocess.Popen(
        [sys.executable, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=REPO,
    )


@dataclass
class TrainingRun:
    """What ``train_tiny.py`` reported, and how long its exit took."""

    loss: float
    instrumented: bool
    hooks_seconds: float  # training's end -> every exit hook done
    exit_seconds: float  # training's end -> process gone
    output: str


def run_training(env: dict[str, str], *args: str, timeout: float = 120.0) -> TrainingRun:
    """Run ``train_tiny.py`` to the end and time its exit from the moment training returned."""
    proc = start([str(TRAIN_TINY), *args], env)
    assert proc.stdout is not None
    lines: list[str] = []
    done_at = 0.0
    deadline = time.monotonic() + timeout
    for line in proc.stdout:  # merged with stderr: the Trainer's own lines come too
        lines.append(line)
        if line.startswith("DONE"):
            done_at = time.monotonic()
        if time.monotonic() > deadline:
            proc.kill()
            break
    proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    exit_seconds = time.monotonic() - done_at
    output = "".join(lines)
    assert proc.returncode == 0, output[-4000:]
    done = [line.split() for line in lines if line.startswith("DONE")]
    hooks = [line.split() for line in lines if line.startswith("HOOKS_DONE")]
    assert done and hooks, "training must complete and the exit hooks must run\n" + output[-4000:]
    return TrainingRun(float(done[0][1]), done[0][2] == "True", float(hooks[0][1]), exit_seconds, output)
