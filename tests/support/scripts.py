"""Run ``tests/scripts/*.py`` in a child process with a clean telemetry environment."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
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


def flush_spool(env: dict[str, str]) -> str:
    """``otel-axolotl flush`` in a child (what the next start does in the background, on
    demand); asserts it succeeded and returns its output."""
    result = subprocess.run(
        [sys.executable, "-m", "otel_axolotl.cli", "flush", "--timeout", "30"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def signal_after_step_two(signum: int, env: dict[str, str], step_sleep: str) -> tuple[int, str, float, float]:
    """Run ``train_tiny.py`` (``--step-sleep`` seconds a step), send ``signum`` once it reported
    its second step: its status, its output, when the signal was sent and when it was gone
    (``time.monotonic``; 0.0 sent if it never reached step 2)."""
    proc = start([str(TRAIN_TINY), "--step-sleep", step_sleep, "--samples", "400"], env)
    assert proc.stdout is not None
    lines: list[str] = []
    sent_at = 0.0
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("STEP 2"):
            sent_at = time.monotonic()
            proc.send_signal(signum)
            break
    try:
        rest, _ = proc.communicate(timeout=60)
    except Exception:
        proc.kill()
        raise
    return proc.returncode, "".join(lines) + rest, sent_at, time.monotonic()


def marker(output: str, name: str) -> list[str] | None:
    """The fields after ``name`` on the first line ``train_tiny.py`` reported it, or None."""
    for line in output.splitlines():
        fields = line.split()
        if fields and fields[0] == name:
            return fields[1:]
    return None


@dataclass
class TrainingRun:
    """What ``train_tiny.py`` reported, and how long its exit took."""

    loss: float
    instrumented: bool
    run_id: str
    hooks_seconds: float  # training's end -> every exit hook done
    exit_seconds: float | None  # training's end -> process gone (None: not timed)
    output: str

    @classmethod
    def parse(cls, output: str, exit_seconds: float | None = None) -> TrainingRun:
        """A finished run's markers; fails the test when training or the exit hooks did not end."""
        done, hooks, run = (marker(output, name) for name in ("DONE", "HOOKS_DONE", "RUN_ID"))
        assert done and hooks and run, "training must complete and the exit hooks must run\n" + output[-4000:]
        return cls(float(done[0]), done[1] == "True", run[0], float(hooks[0]), exit_seconds, output)


def run_training(env: dict[str, str], *args: str, timeout: float = 120.0) -> TrainingRun:
    """Run ``train_tiny.py`` to the end and time its exit from the moment training returned.

    Lines are read on a thread, so a child that hangs without printing is still killed at
    ``timeout``."""
    proc = start([str(TRAIN_TINY), *args], env)
    lines: list[str] = []
    done_at: list[float] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:  # merged with stderr: the Trainer's own lines come too
            if line.startswith("DONE"):
                done_at.append(time.monotonic())
            lines.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    gone_at = time.monotonic()
    reader.join(10)
    output = "".join(lines)
    assert proc.returncode == 0, output[-4000:]
    assert done_at, "training must complete\n" + output[-4000:]
    return TrainingRun.parse(output, gone_at - done_at[0])
