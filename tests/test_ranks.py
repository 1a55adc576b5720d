"""Ranks from every launcher, one run id (one trace) for all ranks, and the rank strategy."""

from __future__ import annotations

import logging

import pytest

from otel_axolotl import ranks
from otel_axolotl import semconv as sc
from otel_axolotl import settings as _s
from otel_axolotl.manager import TelemetryManager
from otel_axolotl.recorder import RunRecorder
from tests.support.capture import Captured

TORCHRUN = {  # what torchrun gave each worker here (torch 2.13, --nproc_per_node 2)
    "RANK": "1",
    "LOCAL_RANK": "1",
    "WORLD_SIZE": "2",
    "LOCAL_WORLD_SIZE": "2",
    "GROUP_RANK": "0",
    "GROUP_WORLD_SIZE": "1",
    "MASTER_ADDR": "127.0.0.1",
    "MASTER_PORT": "29611",
    "TORCHELASTIC_RUN_ID": "none",
    "TORCHELASTIC_RESTART_COUNT": "0",
}


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, ranks.RankInfo(0, 0, 1, None)),
        (TORCHRUN, ranks.RankInfo(1, 1, 2, 2)),  # torchrun, and accelerate launch (it runs torchrun)
        (
            {"RANK": "5", "LOCAL_RANK": "1", "WORLD_SIZE": "8", "LOCAL_SIZE": "4"},
            ranks.RankInfo(5, 1, 8, 4),
        ),  # DeepSpeed
        (
            {"GLOBAL_RANK": "3", "LOCAL_RANK": "1", "WORLD_SIZE": "4"},
            ranks.RankInfo(3, 1, 4, None),
        ),  # Lightning
        ({"SLURM_PROCID": "6", "SLURM_LOCALID": "2", "SLURM_NTASKS": "8"}, ranks.RankInfo(6, 2, 8, None)),
        (
            {
                "OMPI_COMM_WORLD_RANK": "3",
                "OMPI_COMM_WORLD_LOCAL_RANK": "1",
                "OMPI_COMM_WORLD_SIZE": "4",
                "OMPI_COMM_WORLD_LOCAL_SIZE": "2",
            },
            ranks.RankInfo(3, 1, 4, 2),
        ),
        (
            {"PMI_RANK": "2", "PMI_SIZE": "4", "MPI_LOCALRANKID": "0", "MPI_LOCALNRANKS": "2"},  # Intel MPI
            ranks.RankInfo(2, 0, 4, 2),
        ),
        ({"MV2_COMM_WORLD_RANK": "1", "MV2_COMM_WORLD_SIZE": "2"}, ranks.RankInfo(1, 0, 2, None)),  # MVAPICH2
        (
            {"RANK": "x", "SLURM_PROCID": "2", "WORLD_SIZE": " ", "SLURM_NTASKS": "4"},
            ranks.RankInfo(2, 0, 4, None),
        ),
        ({"RANK": "0", "WORLD_SIZE": "0"}, ranks.RankInfo(0, 0, 1, None)),
    ],
)
def test_ranks_from_every_launcher(env, expected):
    assert ranks.detect(env) == expected


def _rank(env: dict[str, str], rank: int, local_rank: int | None = None) -> dict[str, str]:
    local = rank if local_rank is None else local_rank
    return {**env, "RANK": str(rank), "LOCAL_RANK": str(local)}


def test_every_rank_of_one_launch_derives_the_same_run_id():
    ids = {ranks.shared_run_id(_rank(TORCHRUN, r)) for r in (0, 1)}
    assert len(ids) == 1
    run_id = ids.pop()
    assert run_id is not None and len(run_id) == 32 and int(run_id, 16)
    # The last resort (rendezvous id "none"), all ranks being on this node: the port and the
    # launching process, so the next launch on the same port is another run; never the address.
    identity = ranks.launch_identity(TORCHRUN, ranks.detect(TORCHRUN))
    assert identity is not None and identity[0] == "MASTER_PORT=29611" and len(identity) >= 2
    assert not [part for part in identity if "127.0.0.1" in part or "MASTER_ADDR" in part]
    assert ranks.shared_run_id({**TORCHRUN, "MASTER_PORT": "29612"}) != run_id


@pytest.mark.parametrize(
    "identity",
    [
        {"TORCHELASTIC_RUN_ID": "job-7f3a"},
        {"SLURM_JOB_ID": "4242", "SLURM_STEP_ID": "0", "SLURM_CLUSTER_NAME": "c1"},
        {"PMIX_NAMESPACE": "prterun-node1-1234@1"},
        {"OMPI_MCA_orte_hnp_uri": "2791312384.0;tcp://10.0.0.1:40123"},
        {"LSB_JOBID": "99"},
        {"PBS_JOBID": "123.server"},
    ],
)
def test_a_job_identity_names_the_run_on_every_node(identity):
    """Ranks on different nodes (other local ranks, launch processes, even master ports) agree."""
    node_a = {
        **TORCHRUN,
        **identity,
        "RANK": "0",
        "LOCAL_RANK": "0",
        "LOCAL_WORLD_SIZE": "1",
        "WORLD_SIZE": "2",
    }
    node_b = {**node_a, "RANK": "1", "MASTER_PORT": "1"}  # another node: its own agent, its own port
    first = ranks.shared_run_id(node_a)
    assert first is not None and first == ranks.shared_run_id(node_b)
    other_job = {k: "1" + v for k, v in identity.items()}
    assert ranks.shared_run_id({**node_a, **other_job}) != first


@pytest.mark.parametrize(
    ("identity", "machine"),
    [
        ({"SLURM_JOB_ID": "4242", "SLURM_STEP_ID": "0", "SLURM_SUBMIT_HOST": "login7.corp"}, "login7"),
        ({"PMIX_NAMESPACE": "prterun-gpu-node-a-1234@1"}, "node"),
        ({"OMPI_MCA_orte_hnp_uri": "2791312384.0;tcp://10.1.2.3:40123"}, "10.1.2.3"),
        ({"PBS_JOBID": "123.pbs-server.corp"}, "pbs-server"),
        ({"TORCHELASTIC_RUN_ID": "job-7f3a", "MASTER_ADDR": "gpu-master.corp"}, "gpu-master"),
    ],
)
def test_what_is_hashed_names_no_host_and_no_address(identity, machine):
    """Issue 13 item 5: a hash of a host name or an address can be reversed by guessing."""
    env = {**identity, "RANK": "0", "WORLD_SIZE": "2", "LOCAL_WORLD_SIZE": "1"}
    parts = ranks.launch_identity(env, ranks.detect(env))
    assert parts and not [p for p in parts if machine in p], parts


def test_a_multi_node_launch_naming_no_job_shares_no_run_id():
    """MASTER_ADDR/MASTER_PORT alone are the same for every launch on that address: not a run."""
    env = {**TORCHRUN, "LOCAL_WORLD_SIZE": "1", "WORLD_SIZE": "2", "MASTER_ADDR": "10.0.0.5"}
    assert ranks.shared_run_id(env) is None


def test_no_shared_run_id_for_one_process_or_a_silent_launcher():
    assert ranks.shared_run_id({}) is None
    assert ranks.shared_run_id({"TORCHELASTIC_RUN_ID": "job", "WORLD_SIZE": "1"}) is None
    assert ranks.shared_run_id({"RANK": "1", "WORLD_SIZE": "2"}) is None
    # A bare SLURM allocation (no job step) may hold several launches: not an identity.
    assert ranks.launch_identity({"SLURM_JOB_ID": "1"}, ranks.RankInfo(0, 0, 2)) is None


def test_run_span_id_is_derived_per_attempt():
    run_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    first = ranks.run_span_id(run_id, {})
    assert first == ranks.run_span_id(run_id, {"TORCHELASTIC_RESTART_COUNT": "0"}) and 0 < first < 2**64
    assert ranks.run_span_id(run_id, {"TORCHELASTIC_RESTART_COUNT": "1"}) != first
    assert ranks.run_span_id("0" * 31 + "1", {}) != first


def test_explicit_run_id_wins_and_a_silent_launcher_is_named_once(caplog):
    explicit = "ab" * 16
    manager = TelemetryManager(env={**TORCHRUN, "OTEL_AXOLOTL_RUN_ID": explicit}, show_consent_notice=False)
    assert manager.run_id == explicit
    assert TelemetryManager(env=TORCHRUN, show_consent_notice=False).run_id == ranks.shared_run_id(TORCHRUN)

    _s._warned.discard("run_id:ranks")
    with caplog.at_level(logging.WARNING, logger="otel_axolotl"):
        silent = {"RANK": "1", "WORLD_SIZE": "2"}
        a = TelemetryManager(env=silent, show_consent_notice=False)
        b = TelemetryManager(env=silent, show_consent_notice=False)
    assert a.run_id != b.run_id
    assert caplog.text.count(_s.OTEL_AXOLOTL_RUN_ID) == 1


def _trained(captured: Captured, env: dict[str, str]) -> TelemetryManager:
    manager = captured.build_manager(env=env)
    recorder = RunRecorder(manager, trainer="loop")
    recorder.train_begin()
    recorder.epoch_begin()
    recorder.step_begin()
    recorder.step_end()
    recorder.evaluate({"eval_loss": 1.0}, runtime_seconds=0.01)
    recorder.checkpoint_saved()
    recorder.train_end()
    manager.shutdown()
    return manager


def test_all_ranks_form_one_tree_in_one_trace_with_rank_on_everything():
    rank0, rank1 = Captured(), Captured()
    m0 = _trained(rank0, _rank(TORCHRUN, 0))
    m1 = _trained(rank1, _rank(TORCHRUN, 1))
    assert m0.run_id == m1.run_id
    trace_id = int(m0.run_id, 16)
    run0, run1 = rank0.one_span(sc.SPAN_RUN), rank1.one_span(sc.SPAN_RUN)
    assert run0.parent is None and run0.context.span_id == ranks.run_span_id(m0.run_id, TORCHRUN)
    assert run1.parent is not None and run1.parent.span_id == run0.context.span_id and run1.parent.is_remote
    for rank, captured in ((0, rank0), (1, rank1)):
        assert {s.context.trace_id for s in captured.spans} == {trace_id}
        assert {s.name for s in captured.spans} >= {
            sc.SPAN_RUN,
            sc.SPAN_EPOCH,
            sc.SPAN_EVALUATE,
            sc.SPAN_CHECKPOINT_SAVE,
        }
        assert all(s.attributes.get(sc.ATTR_RANK) == rank for s in captured.spans)
        assert captured.events and all(e.attributes.get(sc.ATTR_RANK) == rank for e in captured.events)
        assert {e.trace_id for e in captured.events} == {trace_id}
        captured.assert_registered()


def test_a_second_run_in_one_process_gets_a_fresh_span_id():
    captured = Captured()
    manager = captured.build_manager(env=_rank(TORCHRUN, 0))
    for _ in range(2):
        manager.start_run()
        manager.end_run()
    manager.shutdown()
    ids = [s.context.span_id for s in captured.spans_named(sc.SPAN_RUN)]
    assert len(set(ids)) == 2 and ids[0] == ranks.run_span_id(manager.run_id, TORCHRUN)


def test_single_process_run_span_is_a_random_root():
    captured = Captured()
    manager = captured.build_manager(env={})
    manager.start_run()
    manager.end_run()
    manager.shutdown()
    run = captured.one_span(sc.SPAN_RUN)
    assert run.parent is None and run.context.span_id != ranks.run_span_id(manager.run_id, {})


@pytest.mark.parametrize(
    ("strategy", "rank", "local_rank", "exports"),
    [
        (None, 1, 1, True),
        ("all", 3, 1, True),
        ("main", 0, 0, True),
        ("main", 1, 1, False),
        ("main", 2, 0, False),
        ("first-per-node", 2, 0, True),
        ("first-per-node", 3, 1, False),
        ("bogus", 3, 1, True),  # unreadable: one warning, the default (all)
    ],
)
def test_rank_strategy_decides_who_exports_to_observability(strategy, rank, local_rank, exports):
    env = {**_rank(TORCHRUN, rank, local_rank), "WORLD_SIZE": "4", "OTEL_AXOLOTL_CONSOLE": "true"}
    if strategy is not None:
        env[_s.OTEL_AXOLOTL_RANKS] = strategy
    manager = TelemetryManager(env=env, show_consent_notice=False)
    assert manager.destinations == (["console"] if exports else [])
    manager.shutdown()


def test_product_telemetry_stays_on_the_main_rank_whatever_the_strategy(posthog_server):
    consent = {
        "AXOLOTL_DO_NOT_TRACK": "0",
        "OTEL_AXOLOTL_POSTHOG_API_KEY": "phc_test_project_key",
        "OTEL_AXOLOTL_POSTHOG_HOST": posthog_server.url,
        "OTEL_AXOLOTL_CONSOLE": "true",
        _s.OTEL_AXOLOTL_RANKS: "all",
    }
    worker = TelemetryManager(env={**_rank(TORCHRUN, 1), **consent}, show_consent_notice=False)
    main = TelemetryManager(env={**_rank(TORCHRUN, 0), **consent}, show_consent_notice=False)
    try:
        assert worker.destinations == ["console"] and not worker.enabled
        assert sorted(main.destinations) == ["console", "posthog"] and main.enabled
    finally:
        worker.shutdown()
        main.shutdown()
