"""Ranks under torchrun (gloo, CPU, the real Trainer): one trace, product telemetry once.

Two ranks on one node, and two nodes simulated on loopback: two torchrun agents meeting at one
c10d rendezvous (``--nnodes 2``, two ranks each), as on a real two-machine job."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from otel_axolotl import semconv as sc
from tests.support.posthog_capture import PostHogCaptureServer
from tests.support.rotel import Rotel, free_port
from tests.support.scripts import TRAIN_TINY, child_env, start

pytestmark = [pytest.mark.e2e]


def _consented_env(
    tmp_path: Path, posthog_server: PostHogCaptureServer, rotel_collector: Rotel
) -> dict[str, str]:
    """Every rank's environment: product telemetry consented to the test's PostHog server,
    OTLP/gRPC to the test's rotel collector."""
    return child_env(
        tmp_path,
        AXOLOTL_DO_NOT_TRACK="0",
        OTEL_AXOLOTL_POSTHOG_API_KEY="phc_test_project_key",
        OTEL_AXOLOTL_POSTHOG_HOST=posthog_server.url,
        OTEL_EXPORTER_OTLP_ENDPOINT=rotel_collector.grpc_endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL="grpc",
    )


@pytest.mark.timeout(240)
def test_two_ranks_one_trace_and_one_product_run(
    posthog_server: PostHogCaptureServer, rotel_collector: Rotel, tmp_path
):
    env = _consented_env(tmp_path, posthog_server, rotel_collector)
    proc = start(
        [
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            "2",
            "--master_port",
            str(free_port()),
            str(TRAIN_TINY),
        ],
        env,
    )
    try:
        output, _ = proc.communicate(timeout=200)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 0, output[-4000:]
    started = [line.split()[1:] for line in output.splitlines() if line.startswith("RUN_ID")]
    assert sorted(rank for _, rank in started) == ["0", "1"], output[-4000:]
    run_ids = {run_id for run_id, _ in started}
    assert len(run_ids) == 1, f"the ranks disagree on the run id: {started}"
    run_id = run_ids.pop()
    assert len([line for line in output.splitlines() if line.startswith("DONE")]) == 2

    # Product telemetry: from rank 0 only, so the run starts and ends once.
    assert posthog_server.wait_for(lambda events: any(e["event"] == sc.EVENT_TRAIN_END for e in events), 20)
    names = [e["event"] for e in posthog_server.events]
    assert names.count(sc.EVENT_TRAIN_START) == 1 and names.count(sc.EVENT_TRAIN_END) == 1, [
        (
            r.path,
            r.headers.get("Content-Encoding"),
            [(e["event"], e["uuid"], e["timestamp"]) for e in r.events],
        )
        for r in posthog_server.requests
    ]
    # One random product id from rank 0, never the shared trace id (issue 13 item 5).
    (product_id,) = {e["distinct_id"] for e in posthog_server.events}
    assert product_id != run_id

    # Observability: every rank, one trace; rank 1's run span is a child of rank 0's.
    recorder = rotel_collector.recorder
    assert recorder.wait_for(
        lambda r: (
            len([s for s in r.spans if s["name"] == sc.SPAN_RUN]) == 2
            and len([log for log in r.logs if log["event_name"] == sc.EVENT_TRAIN_END]) == 2
        )
    ), "both ranks' run spans and train-end events should arrive"
    received = recorder.received
    spans = received.spans
    assert {s["trace_id"] for s in spans} == {run_id}, "one run, one trace, across ranks"
    assert len({s["span_id"] for s in spans}) == len(spans)
    assert {s["attributes"][sc.ATTR_RANK] for s in spans} == {0, 1}
    assert all(s["attributes"][sc.ATTR_RANK] == s["resource"][sc.ATTR_RANK] for s in spans)
    runs = {s["attributes"][sc.ATTR_RANK]: s for s in spans if s["name"] == sc.SPAN_RUN}
    assert runs[0]["parent_span_id"] == ""
    assert runs[1]["parent_span_id"] == runs[0]["span_id"]
    assert all(run["attributes"][sc.ATTR_WORLD_SIZE] == 2 for run in runs.values())
    assert all(run["attributes"][sc.ATTR_RUN_STATUS] == "completed" for run in runs.values())
    epochs = [s for s in spans if s["name"] == sc.SPAN_EPOCH]
    assert sorted(s["attributes"][sc.ATTR_RANK] for s in epochs) == [0, 1]
    assert all(s["parent_span_id"] == runs[s["attributes"][sc.ATTR_RANK]]["span_id"] for s in epochs)
    starts = [log for log in received.logs if log["event_name"] == sc.EVENT_TRAIN_START]
    assert sorted(log["attributes"][sc.ATTR_RANK] for log in starts) == [0, 1]
    assert {log["trace_id"] for log in received.logs} == {run_id}
    steps = [p for m in received.metrics if m["name"] == sc.METRIC_TRAIN_STEPS for p in m["points"]]
    assert {p["attributes"][sc.ATTR_RANK] for p in steps} == {0, 1}


def _two_node_launch(env: dict[str, str], timeout: float) -> list[str]:
    """Two torchrun agents on loopback, as two nodes of one job: one c10d rendezvous, two ranks
    each. Returns both agents' output; fails the test unless both end cleanly."""
    port = free_port()
    agents = [
        start(
            [
                "-m",
                "torch.distributed.run",
                "--nnodes",
                "2",
                "--nproc-per-node",
                "2",
                "--rdzv-backend",
                "c10d",
                "--rdzv-endpoint",
                f"127.0.0.1:{port}",
                "--rdzv-id",
                "two-node-test",
                "--max-restarts",
                "0",
                str(TRAIN_TINY),
            ],
            env,
        )
        for _ in range(2)
    ]
    outputs = []
    try:
        for agent in agents:
            output, _ = agent.communicate(timeout=timeout)
            outputs.append(output)
    finally:
        for agent in agents:
            if agent.poll() is None:
                agent.kill()
                agent.wait(10)
    for agent, output in zip(agents, outputs, strict=True):
        assert agent.returncode == 0, output[-4000:]
    return outputs


def _started(outputs: list[str]) -> list[tuple[str, str]]:
    return [
        tuple(line.split()[1:3]) for out in outputs for line in out.splitlines() if line.startswith("RUN_ID")
    ]


@pytest.mark.timeout(420)
def test_two_nodes_on_loopback_one_trace_four_ranks_one_product_run(
    posthog_server: PostHogCaptureServer, rotel_collector: Rotel, tmp_path
):
    env = _consented_env(tmp_path, posthog_server, rotel_collector)
    outputs = _two_node_launch(env, timeout=360)
    started = _started(outputs)
    assert sorted(rank for _, rank in started) == ["0", "1", "2", "3"], outputs[0][-3000:]
    (run_id,) = {run_id for run_id, _ in started}

    recorder = rotel_collector.recorder
    assert recorder.wait_for(lambda r: len([s for s in r.spans if s["name"] == sc.SPAN_RUN]) == 4, 30), (
        "every rank's run span should arrive"
    )
    spans = recorder.received.spans
    assert {s["trace_id"] for s in spans} == {run_id}, "one launch, one trace, across both nodes"
    assert {s["attributes"][sc.ATTR_RANK] for s in spans} == {0, 1, 2, 3}
    runs = {s["attributes"][sc.ATTR_RANK]: s for s in spans if s["name"] == sc.SPAN_RUN}
    assert runs[0]["parent_span_id"] == ""
    assert all(runs[r]["parent_span_id"] == runs[0]["span_id"] for r in (1, 2, 3))
    assert all(run["attributes"][sc.ATTR_WORLD_SIZE] == 4 for run in runs.values())

    # Product telemetry: global rank 0 only, so one train-start for the whole launch.
    assert posthog_server.wait_for(lambda events: any(e["event"] == sc.EVENT_TRAIN_END for e in events), 20)
    names = [e["event"] for e in posthog_server.events]
    assert names.count(sc.EVENT_TRAIN_START) == 1 and names.count(sc.EVENT_TRAIN_END) == 1, names


@pytest.mark.timeout(420)
def test_two_nodes_first_per_node_exports_from_exactly_two_ranks(rotel_collector: Rotel, tmp_path):
    env = child_env(
        tmp_path,
        OTEL_EXPORTER_OTLP_ENDPOINT=rotel_collector.grpc_endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL="grpc",
        OTEL_AXOLOTL_RANKS="first-per-node",
    )
    outputs = _two_node_launch(env, timeout=360)
    assert sorted(rank for _, rank in _started(outputs)) == ["0", "1", "2", "3"]
    recorder = rotel_collector.recorder
    assert recorder.wait_for(lambda r: len([s for s in r.spans if s["name"] == sc.SPAN_RUN]) >= 2, 30)
    time.sleep(2.0)  # a third rank's spans, were any sent, would be here by now
    spans = recorder.received.spans
    assert {s["attributes"][sc.ATTR_RANK] for s in spans} == {0, 2}, "local rank 0 of each node"
    assert {s["resource"][sc.ATTR_LOCAL_RANK] for s in spans} == {0}
    assert len({s["trace_id"] for s in spans}) == 1
