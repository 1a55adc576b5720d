"""Measurement 4: from the last telemetry call to process exit, with backends that never answer.

Both backends accept connections and never reply: the PostHog capture server of the tests in
``silent`` mode, and a bare TCP listener standing in for an OTLP collector.

* ``otel-axolotl``: a child with product telemetry consented (``AXOLOTL_DO_NOT_TRACK=0``, a test
  key, the silent PostHog host) and ``OTEL_EXPORTER_OTLP_ENDPOINT`` at the silent listener
  (gRPC), reports a 20-step run through ``otel_axolotl.loop`` and 100 events, prints a marker,
  and simply ends: the exit path (atexit) is what is measured.
* ``posthog-anchor``: a child that makes ``posthog.Posthog(...)``, calls ``capture`` 100 times,
  prints the marker and calls ``shutdown()``, against the same silent server.

The clock starts when this process reads the marker line and stops when the child has exited.
A child still alive at the cap is killed and reported as ">= cap".

Usage: python bench/_exit.py --reps 3 --cap 30 [--anchor-cap 90 | --no-anchor | --anchor-only]
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time

from _common import ROOT, clean_env, emit

MARKER = "BENCH-TELEMETRY-DONE"

OURS = textwrap.dedent(
    f"""
    import json
    import otel_axolotl
    import otel_axolotl.loop
    manager = otel_axolotl.init()
    with otel_axolotl.loop.run(max_steps=20, num_epochs=1, batch_size=8) as run:
        with run.epoch():
            for i in range(20):
                with run.step() as step:
                    step.log(loss=1.0 / (i + 1), learning_rate=1e-4)
    for i in range(100):
        otel_axolotl.send_event("train-progress", {{"step": i, "loss": 0.5}})
    print("{MARKER}", json.dumps(manager.destinations), flush=True)
    """
)

ANCHOR = textwrap.dedent(
    f"""
    import sys
    import posthog
    client = posthog.Posthog("phc_test", host=sys.argv[1])
    for i in range(100):
        client.capture("train-progress", distinct_id="bench", properties={{"step": i}})
    print("{MARKER}", flush=True)
    client.shutdown()
    """
)


class SilentListener:
    """Accepts TCP connections on loopback and never sends a byte."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self._held.append(conn)  # held open, never read, never answered

    def close(self) -> None:
        self.sock.close()
        for conn in self._held:
            conn.close()


def time_to_exit(args: list[str], env: dict[str, str], cap: float) -> dict:
    """Seconds from the child's marker line to its exit (``cap`` and capped=True if killed)."""
    with tempfile.TemporaryFile() as stderr:
        child = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True)
        watchdog = threading.Timer(cap + 120, child.kill)  # a child that never prints the marker
        watchdog.start()
        try:
            detail = None
            assert child.stdout is not None
            for line in child.stdout:
                if line.startswith(MARKER):
                    started = time.perf_counter()
                    detail = line[len(MARKER) :].strip()
                    break
            else:
                child.wait()
                stderr.seek(0)
                raise RuntimeError(f"child exited before the marker: {stderr.read()[-2000:]!r}")
            try:
                child.wait(timeout=cap)
                seconds, capped = time.perf_counter() - started, False
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
                seconds, capped = cap, True
        finally:
            watchdog.cancel()
        stderr.seek(0)
        tail = stderr.read().decode(errors="replace")[-1500:]
    return {"seconds": seconds, "capped": capped, "detail": detail, "stderr_tail": tail}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--cap", type=float, default=30.0)
    parser.add_argument("--anchor-cap", type=float, default=90.0)
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--no-anchor", action="store_true")
    which.add_argument("--anchor-only", action="store_true")
    options = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    from tests.support.posthog_capture import PostHogCaptureServer

    result: dict = {}
    with PostHogCaptureServer() as posthog_server:
        posthog_server.set_mode("silent")
        otlp = SilentListener()
        try:
            if not options.anchor_only:
                env = clean_env(
                    {
                        "AXOLOTL_DO_NOT_TRACK": "0",
                        "OTEL_AXOLOTL_POSTHOG_API_KEY": "phc_test",
                        "OTEL_AXOLOTL_POSTHOG_HOST": posthog_server.url,
                        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp.url,
                    }
                )
                runs = [
                    time_to_exit([sys.executable, "-c", OURS], env, options.cap) for _ in range(options.reps)
                ]
                destinations = {r["detail"] for r in runs}
                if destinations != {json.dumps(["posthog", "otlp"])}:
                    raise RuntimeError(f"expected the posthog and otlp destinations, got {destinations}")
                result["ours"] = runs
            if not options.no_anchor:
                args = [sys.executable, "-c", ANCHOR, posthog_server.url]
                result["anchor"] = [time_to_exit(args, clean_env(), options.anchor_cap)]
        finally:
            otlp.close()
        result["posthog_requests_received"] = len(posthog_server.requests)
    emit(result)


if __name__ == "__main__":
    main()
