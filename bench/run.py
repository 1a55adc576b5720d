"""otel-axolotl overhead benchmark: one command, one table, one JSON file.

    python bench/run.py            # full sizes, ~5 minutes on a 2-core box
    python bench/run.py --quick    # tiny sizes, under a minute (the smoke test runs this)

Every measurement runs in fresh worker processes (``bench/_*.py``); every ratio is taken
inside one worker with its two sides interleaved, and reported as the median of per-pair
ratios. A missed target is printed as MISSED. See bench/README.md for what each row means.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from _common import BENCH, ROOT, ratios, summary


@dataclass
class Sizes:
    training_reps: int = 7
    training_steps: int = 300
    training_warmup_steps: int = 50
    training_samples: int = 256
    torch_threads: int = 1
    hotpath_reps: int = 3
    hotpath_steps: int = 600
    hotpath_skip: int = 50
    span_batches: int = 50
    span_batch_size: int = 1000
    window_batches: int = 30
    window_batch_size: int = 2000
    disabled_pairs: int = 30
    import_reps: int = 10
    exit_reps: int = 3
    exit_cap_s: float = 30.0
    anchor_cap_s: float = 90.0
    memory_spans: int = 1_000_000
    config_reps: int = 30


QUICK = Sizes(
    training_reps=2,
    training_steps=20,
    training_warmup_steps=4,
    training_samples=64,
    hotpath_reps=1,
    hotpath_steps=60,
    hotpath_skip=10,
    span_batches=6,
    span_batch_size=500,
    window_batches=3,
    window_batch_size=500,
    disabled_pairs=3,
    import_reps=2,
    exit_reps=1,
    exit_cap_s=10.0,
    anchor_cap_s=10.0,
    memory_spans=20_000,
    config_reps=5,
)


@dataclass
class Row:
    key: str
    label: str
    unit: str
    samples: list[float]
    target: tuple[str, float] | None = None  # ("<=", 1.01)
    capped: bool = False  # the value hit a subprocess cap: the truth is >= the value
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def stats(self) -> dict[str, float]:
        return summary(self.samples)

    @property
    def verdict(self) -> str:
        if self.target is None:
            return "-"
        op, bound = self.target
        value = self.stats["median"]
        ok = {"<=": value <= bound, "<": value < bound, "==": value == bound}[op]
        return "pass" if ok and not (self.capped and op != "==") else "MISSED"

    @property
    def target_text(self) -> str:
        return "-" if self.target is None else f"{self.target[0]} {self.target[1]:g}"

    def fmt(self, value: float) -> str:
        digits = {"x": 3, "%": 2, "us": 1, "ms": 2, "s": 2, "MB": 1, "count": 0}[self.unit]
        text = f"{value:.{digits}f}"
        return f">= {text}" if self.capped else text

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            **self.stats,
            "unit": self.unit,
            "target": self.target_text,
            "verdict": self.verdict,
            "capped": self.capped,
            "samples": self.samples,
            "details": self.details,
        }


# --- workers ---------------------------------------------------------------------------------


def worker(script: str, args: Sequence[Any], timeout: float) -> dict[str, Any]:
    """Run ``bench/<script>`` in a fresh interpreter; its last stdout line is its JSON result."""
    command = [sys.executable, str(BENCH / script), *map(str, args)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"{script} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def start_worker(script: str, args: Sequence[Any]) -> subprocess.Popen[str]:
    command = [sys.executable, str(BENCH / script), *map(str, args)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)


def finish_worker(process: subprocess.Popen[str], script: str, timeout: float) -> dict[str, Any]:
    stdout, stderr = process.communicate(timeout=timeout)
    if process.returncode != 0:
        raise RuntimeError(f"{script} failed ({process.returncode}):\n{stderr[-3000:]}")
    return json.loads(stdout.strip().splitlines()[-1])


# --- measurements ------------------------------------------------------------------------------


def training(sizes: Sizes) -> list[Row]:
    result = worker(
        "_training.py",
        [
            "--reps",
            sizes.training_reps,
            "--steps",
            sizes.training_steps,
            "--warmup-steps",
            sizes.training_warmup_steps,
            "--samples",
            sizes.training_samples,
            "--torch-threads",
            sizes.torch_threads,
        ],
        timeout=900,
    )
    times = result["times_s"]
    steps = result["steps"]
    details = {"steps": steps, "torch_threads": result["torch_threads"], "orders": result["orders"]}
    cpu = result["cpu_times_s"]
    return [
        Row(
            "training.bare_run",
            f"training: bare Trainer run, {steps} steps",
            "s",
            times["bare"],
            details=details,
        ),
        Row(
            "training.noise_floor",
            "training noise floor: bare / bare again (A/A)",
            "x",
            ratios(times["bare_again"], times["bare"]),
        ),
        Row(
            "training.overhead_default",
            "training overhead: default instrumentation, null exporter",
            "x",
            ratios(times["default"], times["bare"]),
            ("<=", 1.01),
            details={"seconds": times["default"]},
        ),
        Row(
            "training.overhead_otlp",
            "training overhead: OTLP/gRPC to a local rotel",
            "x",
            ratios(times["otlp"], times["bare"]),
            ("<=", 1.01),
            details={"seconds": times["otlp"]},
        ),
        Row(
            "training.cpu_overhead_default",
            "training CPU-time ratio: default instrumentation",
            "x",
            ratios(cpu["default"], cpu["bare"]),
            details={"cpu_seconds": cpu},
        ),
        Row(
            "training.cpu_overhead_otlp",
            "training CPU-time ratio: OTLP/gRPC to rotel (rotel excluded)",
            "x",
            ratios(cpu["otlp"], cpu["bare"]),
        ),
    ]


def hotpath(sizes: Sizes) -> list[Row]:
    """The SDK's own work per step, timed inside a real Trainer run (see bench/_hotpath.py)."""
    result = worker(
        "_hotpath.py",
        [
            "--reps",
            sizes.hotpath_reps,
            "--steps",
            sizes.hotpath_steps,
            "--skip",
            sizes.hotpath_skip,
            "--torch-threads",
            sizes.torch_threads,
        ],
        timeout=900,
    )
    runs = result["runs"]
    steps, skip = result["steps"], result["skip"]
    return [
        Row(
            "hotpath.per_step_us",
            f"hot path: callbacks per step, median of steps {skip}-{steps} (PostHog + OTLP)",
            "us",
            [r["median_us"] for r in runs],
            ("<=", 10),
            details={
                "hooks_median_us": [r["hooks_median_us"] for r in runs],
                "hooks_calls": runs[-1]["hooks_calls"],
                "mean_us": [r["mean_us"] for r in runs],
                "posthog_events_delivered": result["posthog_events"],
            },
        ),
        Row(
            "hotpath.per_step_p90_us", "hot path: callbacks per step, p90", "us", [r["p90_us"] for r in runs]
        ),
        Row(
            "hotpath.floor_us",
            "hot path floor: an empty callback timed the same way, median",
            "us",
            [r["floor_median_us"] for r in runs],
        ),
        Row(
            "hotpath.share_pct",
            "hot path: callbacks' median per step / training step",
            "%",
            [100 * r["median_us"] / r["median_step_us"] for r in runs],
            details={"median_step_us": [r["median_step_us"] for r in runs]},
        ),
        Row(
            "hotpath.train_begin_ms",
            "one-time start: on_train_begin (run span, instruments, train-start)",
            "ms",
            [r["train_begin_ms"] for r in runs],
            ("<", 20),
            details={"train_end_ms": [r["train_end_ms"] for r in runs]},
        ),
        Row(
            "hotpath.threads_us",
            "exporter and reader threads' CPU per step (off the training thread)",
            "us",
            [r["other_threads_cpu_us_per_step"] for r in runs],
            details={"python_threads_cpu_ms": [r["python_threads_cpu_ms"] for r in runs]},
        ),
    ]


def spans(sizes: Sizes) -> list[Row]:
    result = worker(
        "_spans.py", ["--batches", sizes.span_batches, "--batch-size", sizes.span_batch_size], timeout=600
    )
    per_span = result["per_span_us"]
    details = {"batch_size": result["batch_size"]}
    return [
        Row(
            "span.plain_sdk",
            "span: plain OTel SDK + BatchSpanProcessor",
            "us",
            per_span["plain"],
            details=details,
        ),
        Row("span.otel_axolotl", "span: through otel-axolotl's privacy stage", "us", per_span["sdk"]),
        Row(
            "span.ratio",
            "span cost ratio: privacy stage / plain",
            "x",
            ratios(per_span["sdk"], per_span["plain"]),
            ("<=", 1.5),
        ),
    ]


def config_scrub(sizes: Sizes) -> list[Row]:
    result = worker("_config.py", ["--reps", sizes.config_reps], timeout=600)
    details = {"keys": result["keys"], "load_ms": result["load_ms"], "cold_ms": result["cold_ms"]}
    return [
        Row(
            "privacy.config_200",
            "scrub a 200-key config at strict (new values each time)",
            "ms",
            result["distinct_ms"],
            ("<=", 5.0),
            details=details,
        ),
        Row("privacy.config_200_repeat", "scrub the same 200-key config again", "ms", result["repeat_ms"]),
    ]


def windows(sizes: Sizes) -> list[Row]:
    """What window spans add to a step, on the recorder's hooks (see bench/_windows.py)."""
    result = worker(
        "_windows.py",
        ["--batches", sizes.window_batches, "--batch-size", sizes.window_batch_size],
        timeout=600,
    )
    per_step = result["per_step_us"]
    details = {"batch_size": result["batch_size"], "every_10_us": per_step["every-10"]}
    return [
        Row(
            "windows.off_us",
            "windows: hooks per step, windows never ending",
            "us",
            per_step["off"],
            details=details,
        ),
        Row(
            "windows.default_us",
            "windows: hooks per step, default (100 steps / 60 s)",
            "us",
            per_step["default"],
        ),
        Row(
            "windows.per_window_us",
            "windows: cost of ending one window (every-step windows - never-ending)",
            "us",
            [a - b for a, b in zip(per_step["every-1"], per_step["off"], strict=True)],
        ),
    ]


def startup(sizes: Sizes) -> list[Row]:
    result = worker(
        "_startup.py", ["--pairs", sizes.disabled_pairs, "--import-reps", sizes.import_reps], timeout=600
    )
    disabled, imports = result["disabled"], result["imports"]
    walls = disabled["wall_ms"]
    audit = disabled["audit"]
    threads = max(audit["python_threads_added"], audit["os_threads_added"])
    return [
        Row(
            "disabled.added_ms",
            "disabled path: import + init() under DO_NOT_TRACK=1, added",
            "ms",
            [d - b for d, b in zip(walls["disabled"], walls["bare"], strict=True)],
            details={"bare_python_ms": summary(walls["bare"]), "with_init_ms": summary(walls["disabled"])},
        ),
        Row(
            "disabled.threads", "disabled path: threads started", "count", [threads], ("==", 0), details=audit
        ),
        Row(
            "disabled.sockets",
            "disabled path: socket audit events",
            "count",
            [len(audit["socket_events"])],
            ("==", 0),
        ),
        Row(
            "import.nothing",
            "import + init(): nothing enabled",
            "ms",
            imports["ms"]["nothing"],
            details={"destinations": imports["destinations"]["nothing"]},
        ),
        Row(
            "import.otlp",
            "import + init(): OTLP endpoint set (pipeline built)",
            "ms",
            imports["ms"]["otlp"],
            details={
                "destinations": imports["destinations"]["otlp"],
                "slowest_imports_ms": imports["slowest_imports"],
            },
        ),
    ]


def exit_and_memory(sizes: Sizes) -> list[Row]:
    """Exit deadline of otel-axolotl, then memory with the (idle, waiting) anchor beside it.

    The anchor spends its minute blocked on a socket that never answers, using no CPU, so it
    runs concurrently with the memory measurement (which times nothing) to save the minute.
    """
    ours = worker(
        "_exit.py", ["--reps", sizes.exit_reps, "--cap", sizes.exit_cap_s, "--no-anchor"], timeout=600
    )
    anchor_process = start_worker("_exit.py", ["--anchor-only", "--anchor-cap", sizes.anchor_cap_s])
    try:
        memory = worker("_memory.py", ["--spans", sizes.memory_spans], timeout=900)
    finally:
        anchor = finish_worker(anchor_process, "_exit.py --anchor-only", timeout=sizes.anchor_cap_s + 240)
    anchor_runs = anchor["anchor"]
    return [
        Row(
            "exit.otel_axolotl",
            "exit after last call, silent PostHog + OTLP (2 s deadline)",
            "s",
            [r["seconds"] for r in ours["ours"]],
            ("<=", 2.5),
            capped=any(r["capped"] for r in ours["ours"]),
            details={"stderr_tail": ours["ours"][-1]["stderr_tail"]},
        ),
        Row(
            "exit.posthog_anchor",
            "exit anchor: posthog.Posthog capture x100 + shutdown()",
            "s",
            [r["seconds"] for r in anchor_runs],
            capped=any(r["capped"] for r in anchor_runs),
            details={"cap_s": sizes.anchor_cap_s},
        ),
        Row(
            "memory.rss_before", "memory: RSS after init (OTLP unreachable)", "MB", [memory["rss_before_mb"]]
        ),
        Row(
            "memory.rss_after",
            f"memory: RSS after {memory['spans']:,} spans",
            "MB",
            [memory["rss_after_mb"]],
            details={"peak_mb": memory["rss_peak_mb"], "seconds": memory["seconds"]},
        ),
        Row(
            "memory.rss_growth",
            "memory: RSS growth (peak - before)",
            "MB",
            [memory["growth_mb"]],
            ("<", 64),
            details={"rss_every_10k_mb": memory["rss_every_10k_mb"], "spans": memory["spans"]},
        ),
    ]


RUNNERS: dict[str, Callable[[Sizes], list[Row]]] = {
    "training": training,
    "hotpath": hotpath,
    "spans": spans,
    "privacy": config_scrub,
    "windows": windows,
    "startup": startup,
    "exit-memory": exit_and_memory,
}


# --- output ------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass

    def version(dist: str) -> str:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "torch": version("torch"),
        "transformers": version("transformers"),
        "opentelemetry-sdk": version("opentelemetry-sdk"),
        "posthog": version("posthog"),
        "otel-axolotl": version("otel-axolotl"),
        "os": f"{platform.system()} {platform.release()}",
    }


COLUMNS = ("measurement", "median", "min", "max", "unit", "target", "verdict")


def table_rows(rows: Sequence[Row]) -> list[list[str]]:
    return [
        [
            r.label,
            r.fmt(r.stats["median"]),
            r.fmt(r.stats["min"]),
            r.fmt(r.stats["max"]),
            r.unit,
            r.target_text,
            r.verdict,
        ]
        for r in rows
    ]


def text_table(rows: Sequence[Row]) -> str:
    cells = [list(COLUMNS), *table_rows(rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(COLUMNS))]
    lines = []
    for n, row in enumerate(cells):
        lines.append(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown(rows: Sequence[Row], meta: dict[str, Any]) -> str:
    m = meta["machine"]
    lines = [
        "# Benchmark results",
        "",
        f"`{meta['command']}` on {meta['date']}, wall time {meta['wall_s']:.0f} s.",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['os']}; Python {m['python']}, torch {m['torch']}, "
        f"transformers {m['transformers']}, OpenTelemetry SDK {m['opentelemetry-sdk']}, "
        f"posthog {m['posthog']}, otel-axolotl {m['otel-axolotl']}. "
        f"Load average before/after: {meta['load_before']} / {meta['load_after']}.",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "|".join(["---"] + ["---:"] * 3 + ["---"] * 3) + "|",
    ]
    lines += ["| " + " | ".join(cells) + " |" for cells in table_rows(rows)]
    lines += [
        "",
        "Ratios are medians of per-rep ratios, both sides interleaved in the same run; "
        "what each row measures is in [bench/README.md](README.md).",
        "",
    ]
    return "\n".join(lines)


def load_average() -> str:
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "n/a"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes (< 60 s): a smoke run, not a figure")
    parser.add_argument(
        "--output", type=Path, default=BENCH / "results" / "latest.json", help="JSON result path"
    )
    parser.add_argument(
        "--markdown",
        type=Path,
        default=None,
        help="Markdown table path (default bench/RESULTS.md; with --quick, the JSON path with .md)",
    )
    parser.add_argument("--only", action="append", choices=sorted(RUNNERS), help="run only these groups")
    for name, default in asdict(Sizes()).items():
        parser.add_argument(
            "--" + name.replace("_", "-"), type=type(default), default=None, help=f"default {default}"
        )
    options = parser.parse_args(argv)

    sizes = QUICK if options.quick else Sizes()
    overrides = {k: getattr(options, k) for k in asdict(sizes) if getattr(options, k) is not None}
    sizes = Sizes(**{**asdict(sizes), **overrides})
    markdown_path = options.markdown or (
        options.output.with_suffix(".md") if options.quick else BENCH / "RESULTS.md"
    )

    meta: dict[str, Any] = {
        "command": " ".join(["python bench/run.py", *(argv if argv is not None else sys.argv[1:])]),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "sizes": asdict(sizes),
        "quick": options.quick,
        "load_before": load_average(),
    }
    started = time.perf_counter()
    rows: list[Row] = []
    errors: dict[str, str] = {}
    for name, runner in RUNNERS.items():
        if options.only and name not in options.only:
            continue
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        group_started = time.perf_counter()
        try:
            rows += runner(sizes)
        except Exception as exc:  # report what failed, keep the other measurements
            errors[name] = f"{type(exc).__name__}: {exc}"
            print(f"[bench] {name} FAILED: {errors[name]}", file=sys.stderr, flush=True)
        print(f"[bench] {name} took {time.perf_counter() - group_started:.0f} s", file=sys.stderr, flush=True)
    meta["wall_s"] = time.perf_counter() - started
    meta["load_after"] = load_average()

    table = text_table(rows)
    print(table)
    print(f"\nwall time {meta['wall_s']:.0f} s; JSON: {options.output}; Markdown: {markdown_path}")
    document = {"meta": meta, "measurements": {r.key: r.to_json() for r in rows}, "errors": errors}
    options.output.parent.mkdir(parents=True, exist_ok=True)
    options.output.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    markdown_path.parent.mkdir(parents=True, exist_ok=True)
    markdown_path.write_text(markdown(rows, meta), encoding="utf-8")
    if errors:
        print("\nFAILED: " + ", ".join(errors), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
