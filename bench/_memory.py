"""Measurement 5: resident memory over many spans when the backend is unreachable.

The manager's own OTLP destination (gRPC) points at a loopback port where nothing listens,
so every export fails and retries while spans keep coming: the bounded queue must drop, not
grow. Hardware metrics stay on, as by default. Spans go through ``manager.tracer`` with the
same 10 registered attributes as measurement 2.

RSS (``/proc/self/status`` VmRSS) is read after ``init`` and a full collection (before), every
10,000 spans (the peak is kept), and at the end (after). Growth = peak - before.

Usage: python bench/_memory.py --spans 1000000
"""

from __future__ import annotations

import argparse
import gc
import time

from _common import SPAN_ATTRIBUTES, SPAN_NAME, clean_env, emit, settings_from
from _rotel import free_port


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spans", type=int, default=1_000_000)
    options = parser.parse_args()

    from otel_axolotl.manager import TelemetryManager

    env = clean_env(
        {"AXOLOTL_DO_NOT_TRACK": "1", "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{free_port()}"}
    )
    manager = TelemetryManager(settings_from(env), env=env, show_consent_notice=False)
    if manager.destinations != ["otlp"]:
        raise RuntimeError(f"expected the OTLP destination only, got {manager.destinations}")
    tracer = manager.tracer
    gc.collect()
    before = peak = rss_mb()
    samples = [before]
    started = time.perf_counter()
    chunk = 10_000
    done = 0
    while done < options.spans:
        n = min(chunk, options.spans - done)
        for _ in range(n):
            tracer.start_span(SPAN_NAME, attributes=SPAN_ATTRIBUTES).end()
        done += n
        current = rss_mb()
        samples.append(current)
        peak = max(peak, current)
    elapsed = time.perf_counter() - started
    gc.collect()
    after = rss_mb()
    emit(
        {
            "spans": done,
            "rss_before_mb": before,
            "rss_after_mb": after,
            "rss_peak_mb": peak,
            "growth_mb": peak - before,
            "seconds": elapsed,
            "rss_every_10k_mb": samples[:: max(1, len(samples) // 20)],
        }
    )
    manager.shutdown(timeout=1)


if __name__ == "__main__":
    main()
