"""The real rotel collector on loopback, forwarding everything to a recorder we can inspect.

rotel receives OTLP over gRPC and HTTP exactly as a production collector would; it forwards
over OTLP/HTTP to ``OtlpRecorder``, a small server that keeps the raw request bytes (for
canary searches) and decodes them with ``opentelemetry-proto`` (for shape assertions).
"""

from __future__ import annotations

import gzip
import os
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


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


def _any_value(v: Any) -> Any:
    kind = v.WhichOneof("value")
    if kind is None:
        return None
    if kind == "kvlist_value":
        return {kv.key: _any_value(kv.value) for kv in v.kvlist_value.values}
    if kind == "array_value":
        return [_any_value(x) for x in v.array_value.values]
    return getattr(v, kind)


def _point(kind: str, p: Any) -> dict[str, Any]:
    if kind in ("gauge", "sum"):
        value = p.as_double if p.WhichOneof("value") == "as_double" else p.as_int
    else:
        value = p.count
    return {"attributes": attrs(p.attributes), "value": value}


def attrs(kvs: Any) -> dict[str, Any]:
    return {kv.key: _any_value(kv.value) for kv in kvs}


@dataclass
class Received:
    raw: list[bytes] = field(default_factory=list)
    spans: list[dict[str, Any]] = field(default_factory=list)
    logs: list[dict[str, Any]] = field(default_factory=list)
    metrics: list[dict[str, Any]] = field(default_factory=list)


Mode = str | int
"""``"ok"``; ``"silent"`` (takes the request, never answers until closed); ``"slow"`` (records,
answers after ``delay`` seconds); or an HTTP status to answer with (on gRPC, its OTLP twin)."""

# The OTLP specification pairs these: 429/503 are retryable on both transports, 400/500 are not.
GRPC_STATUS_FOR_HTTP = {
    400: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}
_SIGNAL_PATHS = {"traces": "/v1/traces", "logs": "/v1/logs", "metrics": "/v1/metrics"}


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True  # handlers held by 'silent' must not keep the test process alive


class OtlpRecorder:
    """OTLP receiver (HTTP always, gRPC on demand) that records and decodes what arrives, and
    can misbehave on request (``set_mode``) as a collector under load or a hung one would."""

    def __init__(self) -> None:
        self.received = Received()
        self.attempts = 0  # requests that reached us, answered or not
        self._cond = threading.Condition()
        self._mode: Mode = "ok"
        self._delay = 0.0
        self._closing = threading.Event()
        self._grpc_server: Any = None
        self.grpc_endpoint = ""
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return None

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                status = recorder._serve(self.path, body)
                if status is None:
                    return  # silent: the connection stays open and unanswered
                self.send_response(status)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = _HttpServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def set_mode(self, mode: Mode, *, delay: float = 0.0) -> None:
        if mode not in ("ok", "silent", "slow") and not (isinstance(mode, int) and 400 <= mode < 600):
            raise ValueError(f"unknown mode {mode!r}")
        with self._cond:
            self._mode, self._delay = mode, delay

    def _serve(self, path: str, body: bytes, client_waiting: Callable[[], bool] = lambda: True) -> int | None:
        """The HTTP status to answer ``body`` with, after recording it; None: never answer
        (until we close, or the client gives up: a gRPC call can tell)."""
        with self._cond:
            self.attempts += 1
            mode, delay = self._mode, self._delay
        if mode == "silent":
            while client_waiting() and not self._closing.wait(0.1):
                pass
            return None
        if isinstance(mode, int):
            return mode
        try:
            self._decode(path, body)
        except Exception:
            return 400
        if mode == "slow":
            self._closing.wait(delay)
        return 200

    def start_grpc(self) -> str:
        """Also receive OTLP over gRPC (the same modes); returns its endpoint URL."""
        from concurrent import futures

        import grpc
        from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
        from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

        recorder = self

        def export(signal: str, response: Any) -> Callable[..., Any]:
            def handler(_self: Any, request: Any, context: Any) -> Any:
                status = recorder._serve(
                    _SIGNAL_PATHS[signal], request.SerializeToString(), context.is_active
                )
                if status is None:
                    context.abort(grpc.StatusCode.UNAVAILABLE, "closed while silent")
                if status != 200:
                    name = GRPC_STATUS_FOR_HTTP.get(int(status or 500), "INTERNAL")
                    context.abort(getattr(grpc.StatusCode, name), f"told to answer {status}")
                return response()

            return handler

        server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
        for signal, base, add, response in (
            (
                "traces",
                trace_service_pb2_grpc.TraceServiceServicer,
                trace_service_pb2_grpc.add_TraceServiceServicer_to_server,
                trace_service_pb2.ExportTraceServiceResponse,
            ),
            (
                "logs",
                logs_service_pb2_grpc.LogsServiceServicer,
                logs_service_pb2_grpc.add_LogsServiceServicer_to_server,
                logs_service_pb2.ExportLogsServiceResponse,
            ),
            (
                "metrics",
                metrics_service_pb2_grpc.MetricsServiceServicer,
                metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server,
                metrics_service_pb2.ExportMetricsServiceResponse,
            ),
        ):
            add(type(f"{signal}Servicer", (base,), {"Export": export(signal, response)})(), server)
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        self._grpc_server = server
        self.grpc_endpoint = f"http://127.0.0.1:{port}"
        return self.grpc_endpoint

    def _decode(self, path: str, body: bytes) -> None:
        from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
        from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        r = self.received
        with self._cond:
            r.raw.append(body)
            if path.endswith("/v1/traces"):
                req = ExportTraceServiceRequest.FromString(body)
                for rs in req.resource_spans:
                    resource = attrs(rs.resource.attributes)
                    for ss in rs.scope_spans:
                        for s in ss.spans:
                            r.spans.append(
                                {
                                    "name": s.name,
                                    "trace_id": s.trace_id.hex(),
                                    "span_id": s.span_id.hex(),
                                    "parent_span_id": s.parent_span_id.hex(),
                                    "attributes": attrs(s.attributes),
                                    "events": [
                                        {"name": e.name, "attributes": attrs(e.attributes)} for e in s.events
                                    ],
                                    "status_code": s.status.code,
                                    "status_message": s.status.message,
                                    "resource": resource,
                                }
                            )
            elif path.endswith("/v1/logs"):
                req = ExportLogsServiceRequest.FromString(body)
                for rl in req.resource_logs:
                    resource = attrs(rl.resource.attributes)
                    for sl in rl.scope_logs:
                        for rec in sl.log_records:
                            r.logs.append(
                                {
                                    "event_name": rec.event_name,
                                    "body": _any_value(rec.body),
                                    "attributes": attrs(rec.attributes),
                                    "trace_id": rec.trace_id.hex(),
                                    "span_id": rec.span_id.hex(),
                                    "time_unix_nano": rec.time_unix_nano,
                                    "resource": resource,
                                }
                            )
            elif path.endswith("/v1/metrics"):
                req = ExportMetricsServiceRequest.FromString(body)
                for rm in req.resource_metrics:
                    resource = attrs(rm.resource.attributes)
                    for sm in rm.scope_metrics:
                        for m in sm.metrics:
                            kind = m.WhichOneof("data")
                            points = getattr(m, kind).data_points
                            r.metrics.append(
                                {
                                    "name": m.name,
                                    "unit": m.unit,
                                    "kind": kind,
                                    # 1 = delta, 2 = cumulative; gauges have none (0)
                                    "temporality": getattr(getattr(m, kind), "aggregation_temporality", 0),
                                    "points": [_point(kind, p) for p in points],
                                    "resource": resource,
                                }
                            )
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[[Received], bool], timeout: float = 20.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self.received):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.2))
        return True

    def close(self) -> None:
        self._closing.set()  # releases 'silent' and 'slow' handlers
        if self._grpc_server is not None:
            self._grpc_server.stop(0)
        self.server.shutdown()
        self.server.server_close()


class Rotel:
    """A running rotel-agent with gRPC and HTTP receivers, forwarding to ``recorder``."""

    def __init__(self, recorder: OtlpRecorder, grpc_port: int | None = None, http_port: int | None = None):
        import rotel

        self.recorder = recorder
        self.binary = os.path.join(os.path.dirname(rotel.__file__), "rotel-agent")
        self.grpc_port = grpc_port or free_port()
        self.http_port = http_port or free_port()
        self.grpc_endpoint = f"http://127.0.0.1:{self.grpc_port}"
        self.http_endpoint = f"http://127.0.0.1:{self.http_port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Rotel:
        self.process = subprocess.Popen(
            [
                self.binary,
                "start",
                "--otlp-grpc-endpoint",
                f"127.0.0.1:{self.grpc_port}",
                "--otlp-http-endpoint",
                f"127.0.0.1:{self.http_port}",
                "--exporter",
                "otlp",
                "--otlp-exporter-endpoint",
                self.recorder.url,
                "--otlp-exporter-protocol",
                "http",
                "--batch-timeout",
                "100ms",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            wait_for_port(self.grpc_port)
            wait_for_port(self.http_port)
        except TimeoutError:
            self.stop()
            raise
        return self

    def kill(self) -> None:
        """SIGKILL, as a crashed or OOM-killed collector: no goodbye to its clients."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)
        self.stop()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self.process is not None and self.process.stderr is not None:
            self.process.stderr.close()


@pytest.fixture
def otlp_recorder() -> Iterator[OtlpRecorder]:
    recorder = OtlpRecorder()
    yield recorder
    recorder.close()


@pytest.fixture
def rotel_collector(otlp_recorder: OtlpRecorder) -> Iterator[Rotel]:
    collector = Rotel(otlp_recorder).start()
    yield collector
    collector.stop()
