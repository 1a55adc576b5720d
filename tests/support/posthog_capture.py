"""A real local HTTP server that speaks PostHog's ``/batch/`` API, for tests.

It receives what the real ``posthog`` client sends (JSON, optionally gzip-encoded, with
``api_key`` and ``batch``), records every event, and can misbehave on demand so that the
exporters' guarantees are tested against real sockets:

* ``"ok"``: 200 ``{"status": 1}``;
* an HTTP status code (400, 413, 429, 503, ...): that status with a PostHog-style error body;
* ``"silent"``: reads the request, then never answers until the server stops;
* ``"slow"``: answers 200 after ``delay`` seconds.

A mode may be limited to the next ``times`` requests (then the server answers ``"ok"`` again),
and an error reply may carry a ``Retry-After`` header.

:func:`refused_url` gives a URL whose port was just bound and closed, so connecting to it is
refused. The pytest fixture :func:`posthog_server` yields a started :class:`PostHogCaptureServer`.
"""

from __future__ import annotations

import gzip
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

Mode = str | int
EventPredicate = Callable[[list[dict[str, Any]]], bool]


@dataclass
class ReceivedRequest:
    """One request as received: path, headers, decoded body and the reply chosen for it."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any] | None
    mode: Mode
    events: list[dict[str, Any]] = field(default_factory=list)
    arrived: float = field(default_factory=time.monotonic)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        return

    def do_POST(self) -> None:
        capture = self.server.capture
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.headers.get("Content-Encoding", "").lower() == "gzip":
            raw = gzip.decompress(raw)
        try:
            body = json.loads(raw.decode("utf-8")) if raw else None
        except ValueError:
            body = None
        mode, delay, retry_after = capture._take_mode()
        capture._record(
            ReceivedRequest(
                path=self.path,
                headers={k: v for k, v in self.headers.items()},
                body=body,
                mode=mode,
                events=list((body or {}).get("batch") or []),
            )
        )
        if mode == "silent":
            capture._stopping.wait()  # hold the connection open, answer nothing
            return
        if mode == "slow":
            if capture._stopping.wait(delay):
                return
            mode = "ok"
        if mode == "ok":
            self._reply(200, {"status": 1})
        else:
            status = int(mode)
            self._reply(
                status,
                {"type": "validation_error", "code": f"http_{status}", "detail": f"test reply {status}"},
                retry_after=retry_after,
            )

    def _reply(self, status: int, payload: dict[str, Any], retry_after: str | None = None) -> None:
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            if retry_after is not None:
                self.send_header("Retry-After", retry_after)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:  # the client gave up first
            pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # handlers stuck in 'silent' must not block the test process
    capture: PostHogCaptureServer


class PostHogCaptureServer:
    """The server object: ``url``, ``events``, ``requests``, ``set_mode``, ``wait_for``."""

    def __init__(self, port: int = 0) -> None:
        self._server = _Server(("127.0.0.1", port), _Handler)
        self._server.capture = self
        self._cond = threading.Condition()
        self._requests: list[ReceivedRequest] = []
        self._mode: Mode = "ok"
        self._delay = 0.0
        self._times: int | None = None
        self._retry_after: str | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="posthog-capture",
            daemon=True,
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def requests(self) -> list[ReceivedRequest]:
        with self._cond:
            return list(self._requests)

    @property
    def events(self) -> list[dict[str, Any]]:
        """Every event received so far, whatever the reply was, in arrival order."""
        with self._cond:
            return [event for request in self._requests for event in request.events]

    @property
    def ingested_events(self) -> list[dict[str, Any]]:
        """The events PostHog would have ingested: those of requests it did not refuse with an
        error status. A 'silent' request counts (the server took it, the answer never came),
        the worst case for duplicates; PostHog keeps one event per ``uuid``."""
        with self._cond:
            return [e for r in self._requests if not isinstance(r.mode, int) for e in r.events]

    def set_mode(
        self, mode: Mode, *, delay: float = 0.0, times: int | None = None, retry_after: str | None = None
    ) -> None:
        """``"ok"``, ``"silent"``, ``"slow"`` (with ``delay`` seconds) or an HTTP status code;
        for the next ``times`` requests only (then ``"ok"``), or until set again. An error
        status is sent with ``Retry-After: retry_after`` when that is given."""
        if mode not in ("ok", "silent", "slow") and not isinstance(mode, int):
            raise ValueError(f"unknown mode {mode!r}")
        with self._cond:
            self._mode = mode
            self._delay = delay
            self._times = times
            self._retry_after = retry_after

    def current_mode(self) -> tuple[Mode, float]:
        with self._cond:
            return self._mode, self._delay

    def _take_mode(self) -> tuple[Mode, float, str | None]:
        """The mode for the request arriving now (counting it against ``times``)."""
        with self._cond:
            if self._times is not None and self._times <= 0:
                self._mode, self._delay, self._times, self._retry_after = "ok", 0.0, None, None
            if self._times is not None:
                self._times -= 1
            return self._mode, self._delay, self._retry_after

    def arrival_times(self) -> list[float]:
        """``time.monotonic()`` at each request's arrival, in order."""
        with self._cond:
            return [r.arrived for r in self._requests]

    def wait_for(self, condition: int | EventPredicate, timeout: float = 5.0) -> bool:
        """Wait until ``condition`` (an event count, or a predicate on the events) holds."""

        def satisfied() -> bool:
            events = [event for request in self._requests for event in request.events]
            if isinstance(condition, int):
                return len(events) >= condition
            return bool(condition(events))

        deadline = time.monotonic() + timeout
        with self._cond:
            while not satisfied():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def _record(self, request: ReceivedRequest) -> None:
        with self._cond:
            self._requests.append(request)
            self._cond.notify_all()

    def start(self) -> PostHogCaptureServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # releases 'silent' and 'slow' handlers
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> PostHogCaptureServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def refused_url() -> str:
    """A URL on 127.0.0.1 whose port was bound and closed again: connections are refused."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def posthog_server() -> Iterator[PostHogCaptureServer]:
    """A started :class:`PostHogCaptureServer`, stopped after the test."""
    with PostHogCaptureServer() as server:
        yield server
