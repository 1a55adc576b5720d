"""The benchmark runs end to end at tiny sizes and reports every measurement.

No timing is asserted here (a test is no place for speed thresholds on a shared CI box):
only that ``python bench/run.py --quick`` finishes and writes a complete, numeric result.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

EXPECTED = {
    "training.bare_run",
    "training.noise_floor",
    "training.overhead_default",
    "training.overhead_otlp",
    "training.cpu_overhead_default",
    "training.cpu_overhead_otlp",
    "hotpath.per_step_us",
    "hotpath.per_step_p90_us",
    "hotpath.floor_us",
    "hotpath.share_pct",
    "hotpath.train_begin_ms",
    "hotpath.threads_us",
    "span.plain_sdk",
    "span.otel_axolotl",
    "span.ratio",
    "privacy.config_200",
    "privacy.config_200_repeat",
    "windows.off_us",
    "windows.default_us",
    "windows.per_window_us",
    "disabled.added_ms",
    "disabled.threads",
    "disabled.sockets",
    "import.nothing",
    "import.otlp",
    "exit.otel_axolotl",
    "exit.posthog_anchor",
    "memory.rss_before",
    "memory.rss_after",
    "memory.rss_growth",
}


@pytest.mark.e2e
@pytest.mark.timeout(240)
def test_quick_benchmark_reports_every_measurement(tmp_path: Path) -> None:
    output = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--output", str(output)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    document = json.loads(output.read_text(encoding="utf-8"))
    assert document["errors"] == {}
    measurements = document["measurements"]
    assert set(measurements) == EXPECTED
    for key, row in measurements.items():
        for stat in ("median", "min", "max"):
            value = row[stat]
            assert isinstance(value, (int, float)) and math.isfinite(value), (key, stat, value)
        assert row["verdict"] in ("pass", "MISSED", "-"), key
    assert (tmp_path / "bench.md").read_text(encoding="utf-8").count("\n| ") == len(EXPECTED) + 1
    assert "verdict" in done.stdout
