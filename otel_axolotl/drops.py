"""Spans and events lost before delivery: counted by destination, signal and reason.

Every loss (a full queue, a full spool, a failed delivery with the spool off, a record after
shutdown, a record in a forked child) is counted here and reported as the
``axolotl.telemetry.dropped`` metric; the first of each kind is logged once (a forked
child's never: a DataLoader worker's stderr is the training log too).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from . import semconv as sc
from ._logging import new_scope, once_in
from .forksafe import after_fork_in_child

_NOUNS = {"traces": "span(s)", "logs": "event(s)"}
_REASONS = {
    "queue_full": "its queue was full",
    "spool_full": "deleted from a full spool",
    "undelivered": "not delivered, and not kept in the spool",
    "shutdown": "arrived after shutdown",
    "forked": "recorded in a forked child process",
}
_SILENT_REASONS = frozenset({"forked"})
"""Counted, never logged: a DataLoader worker's stderr is the training log too."""


class DropCounter:
    """Spans and events lost, by destination, signal and reason; each kind logged once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str, str], int] = {}
        self._warn_once = once_in(new_scope("drops"), logging.WARNING)
        after_fork_in_child(self._reinit_after_fork)

    def add(self, destination: str, signal: str, reason: str, count: int = 1) -> None:
        if count <= 0:
            return
        key = (destination, signal, reason)
        with self._lock:
            self._counts[key] = self._counts.get(key, 0) + count
        if reason not in _SILENT_REASONS:
            self._warn_once(
                ":".join(key),
                "otel-axolotl: %d %s for the %s destination dropped (%s); further drops are counted "
                "in the %s metric, not logged.",
                count,
                _NOUNS.get(signal, "item(s)"),
                destination,
                _REASONS.get(reason, reason),
                sc.METRIC_TELEMETRY_DROPPED,
            )

    def _reinit_after_fork(self) -> None:
        """In a forked child: a fresh lock (another thread may have held it at the fork)."""
        self._lock = threading.Lock()

    def counts(self) -> dict[tuple[str, str, str], int]:
        with self._lock:
            return dict(self._counts)

    def total(self) -> int:
        with self._lock:
            return sum(self._counts.values())

    def observe(self, _options: Any = None) -> list[Any]:
        """Observable-counter callback: one cumulative point per destination, signal and reason."""
        from opentelemetry.metrics import Observation

        return [
            Observation(
                count,
                {
                    sc.ATTR_TELEMETRY_DESTINATION: destination,
                    sc.ATTR_TELEMETRY_SIGNAL: signal,
                    sc.ATTR_ERROR_TYPE: reason,
                },
            )
            for (destination, signal, reason), count in self.counts().items()
        ]
