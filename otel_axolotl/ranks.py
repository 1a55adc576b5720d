"""Where this process sits in a distributed run, and the run id every rank shares.

Ranks come from the launcher's environment, first match wins:

- torchrun, ``accelerate launch`` (it runs torchrun's launcher) and DeepSpeed's launcher set
  RANK / LOCAL_RANK / WORLD_SIZE (torchrun also LOCAL_WORLD_SIZE, DeepSpeed LOCAL_SIZE);
- Lightning sets GLOBAL_RANK (with LOCAL_RANK / WORLD_SIZE);
- SLURM (``srun``) sets SLURM_PROCID / SLURM_LOCALID / SLURM_NTASKS;
- MPI: Open MPI OMPI_COMM_WORLD_*, MPICH and Intel MPI PMI_RANK / PMI_SIZE (Intel also
  MPI_LOCALRANKID / MPI_LOCALNRANKS), MVAPICH2 MV2_COMM_WORLD_*, PMIx PMIX_RANK.

torch.distributed wins for rank and world size when it is already initialised (it is never
imported or initialised for this).

The shared run id (:func:`shared_run_id`) is what makes one run one trace across ranks when
``otel-axolotl run`` (which sets OTEL_AXOLOTL_RUN_ID for every rank) was not used.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass

_RANK_VARS = (
    "RANK",
    "GLOBAL_RANK",
    "SLURM_PROCID",
    "OMPI_COMM_WORLD_RANK",
    "PMI_RANK",
    "MV2_COMM_WORLD_RANK",
    "PMIX_RANK",
)
_LOCAL_RANK_VARS = (
    "LOCAL_RANK",
    "SLURM_LOCALID",
    "OMPI_COMM_WORLD_LOCAL_RANK",
    "MPI_LOCALRANKID",
    "MV2_COMM_WORLD_LOCAL_RANK",
)
_WORLD_SIZE_VARS = ("WORLD_SIZE", "SLURM_NTASKS", "OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "MV2_COMM_WORLD_SIZE")
_LOCAL_WORLD_SIZE_VARS = (
    "LOCAL_WORLD_SIZE",
    "LOCAL_SIZE",
    "OMPI_COMM_WORLD_LOCAL_SIZE",
    "MPI_LOCALNRANKS",
    "MV2_COMM_WORLD_LOCAL_SIZE",
)


# Job identities that every rank of one launch sees alike, on every node, and that differ from
# one launch to the next, each reduced to its parts that name no host and no address (what is
# hashed must not be reversible to a machine: a host name or an address can be guessed and the
# guess checked against the hash). Used when every named variable is set.
def _numbers(value: str) -> str:
    return ".".join(re.findall(r"[0-9]+", value))


def _before(separator: str) -> Callable[[str], str]:
    return lambda value: value.split(separator, 1)[0]


def _without_address(value: str) -> str:
    return re.sub(r"//[^:;/]*", "//", value)


_JOB_IDENTITIES: tuple[tuple[tuple[str, ...], Callable[[str], str]], ...] = (
    # torchrun's rendezvous id (random with --standalone; --rdzv-id otherwise); "none" (its
    # default with a static rendezvous) identifies nothing and is skipped.
    (("TORCHELASTIC_RUN_ID",), str),
    # a job step (srun); a bare allocation (salloc, sbatch's script) may hold several launches.
    (("SLURM_JOB_ID", "SLURM_STEP_ID"), str),
    (("PMIX_NAMESPACE",), _numbers),  # "prterun-<host>-<pid>@<job>": its numbers only
    (("OMPI_MCA_orte_hnp_uri",), _without_address),  # "<jobid>;tcp://<address>:<port>"
    (("LSB_JOBID",), str),
    (("PBS_JOBID",), _before(".")),  # "<sequence>.<server host>"
)
_RUN_ID_PERSON = b"otel-axolotl-run"
_SPAN_ID_PERSON = b"otel-axolotl-rsp"


@dataclass(frozen=True)
class RankInfo:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    local_world_size: int | None = None  # processes on this node, when the launcher says

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def single_node(self) -> bool:
        """All ranks on this node (the launcher said so, or there is only one process)."""
        return self.world_size == 1 or self.local_world_size == self.world_size

    def exports(self, strategy: str) -> bool:
        """Whether this rank exports to observability destinations under ``strategy``
        (``all``, ``main`` or ``first-per-node``; see OTEL_AXOLOTL_RANKS)."""
        if strategy == "main":
            return self.is_main
        if strategy == "first-per-node":
            return self.local_rank == 0
        return True


def _first_int(env: Mapping[str, str], names: tuple[str, ...], default: int | None) -> int | None:
    for name in names:
        raw = env.get(name)
        if raw is None or not raw.strip():
            continue
        try:
            return int(raw.strip())
        except ValueError:
            continue
    return default


def detect(env: Mapping[str, str] | None = None) -> RankInfo:
    env = os.environ if env is None else env
    info = RankInfo(
        rank=_first_int(env, _RANK_VARS, 0) or 0,
        local_rank=_first_int(env, _LOCAL_RANK_VARS, 0) or 0,
        world_size=max(1, _first_int(env, _WORLD_SIZE_VARS, 1) or 1),
        local_world_size=_first_int(env, _LOCAL_WORLD_SIZE_VARS, None),
    )
    dist = sys.modules.get("torch.distributed")
    try:
        if dist is not None and dist.is_available() and dist.is_initialized():
            return RankInfo(dist.get_rank(), info.local_rank, dist.get_world_size(), info.local_world_size)
    except Exception:  # a half-initialised process group must not break start-up
        pass
    return info


# ------------------------------------------------------------------ the shared run id


def _parent_identity() -> list[str]:
    """The launching process (torchrun's agent, DeepSpeed's launcher, mpirun's daemon, srun's
    step daemon): its pid and start time, alike for every rank on one node."""
    ppid = os.getppid()
    parts = [str(ppid)]
    try:
        with open(f"/proc/{ppid}/stat", "rb") as f:
            stat = f.read().decode("ascii", "replace")
        parts.append(stat.rsplit(")", 1)[1].split()[19])  # field 22: start time in clock ticks
    except (OSError, IndexError):
        pass
    return parts


def launch_identity(env: Mapping[str, str], info: RankInfo) -> list[str] | None:
    """What the launcher tells every rank alike about this launch, or None.

    In order: a job id (torchrun's rendezvous id, a SLURM job step, PMIx namespace, Open MPI
    4's job, LSF, PBS), without any host name or address in it; else, when every rank is on
    this node, MASTER_PORT and the launching process (its pid and start time: another launch
    on the same port is another run). Never MASTER_ADDR, host names or node lists. A
    multi-node launch that names no job gives None: each rank then has its own run id.
    """
    for names, reduce in _JOB_IDENTITIES:
        values = [(env.get(name) or "").strip() for name in names]
        if all(v and v.lower() != "none" for v in values):
            return [f"{name}={reduce(value)}" for name, value in zip(names, values, strict=True)]
    port = (env.get("MASTER_PORT") or "").strip()
    if port and info.single_node:
        return [f"MASTER_PORT={port}", *_parent_identity()]
    return None


def shared_run_id(env: Mapping[str, str] | None = None, info: RankInfo | None = None) -> str | None:
    """The anonymous run id every rank of a distributed launch derives alike, or None.

    A keyed BLAKE2b hash of :func:`launch_identity`: deterministic, so ranks agree without
    talking to each other (no collective is ever run: it would hang when not every rank builds
    a manager at the same point). What is hashed holds job numbers, a port and a process
    identity, never a host name or an address, so no guess of a machine can be checked against
    it. It only names the run's trace for the user's own backends: the PostHog product id is
    random (``destinations.posthog``). None in a single-process run (a random id is used) or
    when the launcher says nothing usable.
    """
    env = os.environ if env is None else env
    info = detect(env) if info is None else info
    if not info.distributed:
        return None
    parts = launch_identity(env, info)
    if not parts:
        return None
    digest = hashlib.blake2b("\n".join(parts).encode(), digest_size=16, person=_RUN_ID_PERSON).hexdigest()
    return digest if int(digest, 16) else "0" * 31 + "1"


def choose_run_id(given: str | None, shared: str | None, info: RankInfo) -> str:
    """The run id: the one given (OTEL_AXOLOTL_RUN_ID), else the launch's shared one, else a
    fresh random one. A distributed run that gets a random one has a trace per rank: said
    once, with how to give the ranks one id."""
    chosen = given or shared
    if chosen:
        return chosen
    if info.distributed:
        from ._logging import warn_once

        warn_once(
            "run_id:ranks",
            "otel-axolotl: the launcher names no job (rendezvous id, SLURM step, MPI job, or "
            "on one node MASTER_PORT), so each rank has its own run id and trace; pass torchrun "
            "a --rdzv-id per launch, or set OTEL_AXOLOTL_RUN_ID to "
            "one value for every rank (`otel-axolotl run` does).",
        )
    return uuid.uuid4().hex


def run_span_id(run_id: str, env: Mapping[str, str] | None = None) -> int:
    """The span id of rank 0's run span in a distributed run, derived from the run id.

    Every other rank parents its own run span on it without being told. The attempt number of
    an elastic restart (TORCHELASTIC_RESTART_COUNT) is mixed in, so each attempt's rank-0 span
    has its own id inside the run's one trace.
    """
    env = os.environ if env is None else env
    attempt = (env.get("TORCHELASTIC_RESTART_COUNT") or "0").strip()
    digest = hashlib.blake2b(f"{run_id}\n{attempt}".encode(), digest_size=8, person=_SPAN_ID_PERSON).digest()
    return int.from_bytes(digest, "big") or 1
