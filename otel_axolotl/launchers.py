"""Processes that only launch others (torchrun's agent, ``accelerate launch``, DeepSpeed's
runner): under ``otel-axolotl run`` they export nothing.

Such a process never trains; instrumented, it would export host and process metrics labelled
as rank 0 (it has no RANK of its own), doubling the real rank 0's series. It is recognised by
its command line as the interpreter received it (``sys.orig_argv``: the ``-m`` module or the
console script), before ``sitecustomize`` would initialise telemetry in it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

LAUNCHER_MODULES = frozenset(
    {
        "torch.distributed.run",
        "torch.distributed.launch",
        "torch.distributed.elastic.agent.server.api",
        "accelerate.commands.launch",
        "accelerate.commands.accelerate_cli",
        "deepspeed.launcher.runner",
        "deepspeed.launcher.launch",
    }
)
"""``python -m <module>`` forms of the launchers."""
LAUNCHER_SCRIPTS = frozenset({"torchrun", "accelerate-launch", "deepspeed"})
"""Console scripts that are launchers whatever their arguments."""
SUBCOMMAND_LAUNCHERS = {"accelerate": "launch"}
"""Console scripts that launch only with this subcommand (``accelerate launch``; ``accelerate
config`` is not one, and exports nothing either way)."""


def is_launcher(argv: Sequence[str] | None = None) -> bool:
    """Whether this process (``argv``: ``sys.orig_argv`` by default) only launches others."""
    argv = list(getattr(sys, "orig_argv", sys.argv) if argv is None else argv)
    if not argv:
        return False
    args = argv[1:]
    if "-m" in args:  # python [options] -m module ...
        index = args.index("-m")
        module = args[index + 1] if index + 1 < len(args) else ""
        rest = args[index + 2 :]
        if module == "accelerate.commands.accelerate_cli":
            return rest[:1] == ["launch"]
        return module in LAUNCHER_MODULES
    script = next((a for a in args if not a.startswith("-")), "")  # python [options] script ...
    name = os.path.basename(script or argv[0])
    if name.endswith(".py"):
        name = name[:-3]
    if name in LAUNCHER_SCRIPTS:
        return True
    subcommand = SUBCOMMAND_LAUNCHERS.get(name)
    if subcommand is not None:
        after = args[args.index(script) + 1 :] if script in args else args
        return next((a for a in after if not a.startswith("-")), "") == subcommand
    return False
