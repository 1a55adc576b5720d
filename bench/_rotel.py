"""A real rotel collector on loopback for the benchmark, dropping what it receives.

Unlike ``tests/support/rotel.py`` it forwards nothing: a recorder decoding protobuf inside the
benchmarked process would compete with training for the GIL, which no user pays. rotel still
receives, decodes and batches every request, in its own process, as a node-local agent would.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout} s")


class Rotel:
    """``rotel-agent start`` with OTLP gRPC and HTTP receivers and the blackhole exporter."""

    def __init__(self) -> None:
        import rotel

        self.binary = os.path.join(os.path.dirname(rotel.__file__), "rotel-agent")
        self.grpc_port = free_port()
        self.http_port = free_port()
        self.grpc_endpoint = f"http://127.0.0.1:{self.grpc_port}"
        self.http_endpoint = f"http://127.0.0.1:{self.http_port}"
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Rotel:
        self.process = subprocess.Popen(
            [
                self.binary,
                "start",
                "--otlp-grpc-endpoint",
                f"127.0.0.1:{self.grpc_port}",
                "--otlp-http-endpoint",
                f"127.0.0.1:{self.http_port}",
                "--exporter",
                "blackhole",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for_port(self.grpc_port)
            wait_for_port(self.http_port)
        except TimeoutError:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
