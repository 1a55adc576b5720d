"""Where this process sits in a distributed run, from the launcher's environment.

torchrun and accelerate set RANK/LOCAL_RANK/WORLD_SIZE, Lightning GLOBAL_RANK, SLURM
SLURM_PROCID/SLURM_LOCALID/SLURM_NTASKS, Open MPI OMPI_COMM_WORLD_*; DeepSpeed's launcher
sets the torchrun names. torch.distributed wins when it is already initialised (never
imported for this).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass

_RANK_VARS = ("RANK", "GLOBAL_RANK", "SLURM_PROCID", "OMPI_COMM_WORLD_RANK", "PMI_RANK")
_LOCAL_RANK_VARS = ("LOCAL_RANK", "SLURM_LOCALID", "OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID")
_WORLD_SIZE_VARS = ("WORLD_SIZE", "SLURM_NTASKS", "OMPI_COMM_WORLD_SIZE", "PMI_SIZE")


@dataclass(frozen=True)
class RankInfo:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _first_int(env: Mapping[str, str], names: tuple[str, ...], default: int) -> int:
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
        rank=_first_int(env, _RANK_VARS, 0),
        local_rank=_first_int(env, _LOCAL_RANK_VARS, 0),
        world_size=max(1, _first_int(env, _WORLD_SIZE_VARS, 1)),
    )
    dist = sys.modules.get("torch.distributed")
    try:
        if dist is not None and dist.is_available() and dist.is_initialized():
            return RankInfo(dist.get_rank(), info.local_rank, dist.get_world_size())
    except Exception:  # a half-initialised process group must not break start-up
        pass
    return info
