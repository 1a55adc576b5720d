"""The fork policy: nothing leaves a forked child, and nothing in it waits on the parent.

A DataLoader with ``num_workers > 0`` forks the training process. The child inherits the
manager, its providers, their queues and locks (possibly held by a thread that does not exist
in the child), and OpenTelemetry's SDK restarts its periodic-metric thread there. Without a
policy each worker would export copies of the parent's metrics (same resource, stale
cumulative values) and whatever it records, or hang on an inherited lock. The policy, which
each object applies to itself through :func:`after_fork_in_child`:

- spans and events: each ``Delivery`` closes in the child: fresh locks, nothing queued, no
  worker; what the child records is dropped and counted as
  ``forked``; no exporter is touched, so the parent's gRPC channels and HTTP sessions are
  left alone;
- metrics: the one pid guard (``_metric_wrapper.GuardedMetricExporter``) drops the restarted
  reader's exports;
- the manager: its facade drops to the no-op runtime, so integrations stop recording and
  ``get_default()`` keeps returning it, unless the child turns out to be another rank;
- locks a signal or a drop count takes are fresh in the child (``signals``, ``DropCounter``);
- per-process handles (the psutil process) are rebuilt when the pid changes (``probes``).
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable


def after_fork_in_child(method: Callable[[], object]) -> None:
    """Call the bound ``method`` in every forked child, for as long as its object lives
    (held weakly: registering never keeps an object alive, and ``os.register_at_fork`` has no
    way to unregister)."""
    if not hasattr(os, "register_at_fork"):
        return
    ref = weakref.WeakMethod(method)

    def hook() -> None:
        bound = ref()
        if bound is not None:
            bound()

    os.register_at_fork(after_in_child=hook)
