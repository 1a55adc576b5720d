"""Replay: what an earlier run spooled, sent to the destination configured now.

The one replay loop, shared by the pipeline (a background thread at start-up) and
``otel-axolotl flush``. It reads only the spools ``Spool.sources`` allows (a recipient's own,
never a laxer level's), sends each file through the same :func:`~.delivery.deliver` the live
queue uses, and deletes a file only once it was delivered, so nothing is sent twice by us.
A file the destination refuses while accepting others is set aside, so it cannot hold back
newer ones; failures in a row mean the destination is down and end the replay.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .delivery import deliver
from .spool import Spool
from .spool_codec import SpoolFileError, SpoolVersionError
from .spool_layout import SpoolFile

_logger = logging.getLogger("otel_axolotl")


@dataclass
class ReplayReport:
    """What one destination's replay did: logged by :func:`replay_all`, printed by ``otel-axolotl flush``."""

    destination: str
    sent_files: int = 0
    sent_items: int = 0
    skipped_files: int = 0  # unreadable: deleted with a warning
    set_aside_files: int = 0  # refused while the destination accepted others: deleted, counted
    failed: bool = False  # the destination refused; the rest waits for next time
    left_files: int = 0


BACKEND_DOWN_AFTER = 2
"""Consecutive failed files after which a replay stops: the destination is down, not the file."""


def replay(
    spool: Spool,
    exporters: Mapping[str, Any],
    *,
    deadline: float,
    export_timeout_s: float = 5.0,
    stop: threading.Event | None = None,
) -> ReplayReport:
    """Send what was spooled for this destination (``spool``: its recipient at its level; see
    ``Spool.sources``: never data of a laxer level) through ``exporters`` (by signal), until
    the ``deadline`` (``time.monotonic()``) or until the destination looks down.

    Files that never failed go first, oldest first, then those that failed before, so a file
    the destination refuses cannot hold back newer ones. A file that fails is given back
    (``MAX_ATTEMPTS`` in all); one that fails again in the same replay after the destination
    accepted another file, or fails at a later start right after one was accepted, is refused
    for itself (too large for the transport, invalid) and is set aside. ``BACKEND_DOWN_AFTER``
    failures in a row end the replay. A file is deleted only once delivered, so nothing is
    sent twice by us; PostHog events keep their uuids besides. Never raises."""
    report = ReplayReport(spool.destination)
    sources = spool.sources()
    try:
        queue = [
            (source, f) for source in sources for f in source.pending() if exporters.get(f.signal) is not None
        ]
        queue.sort(key=lambda item: (item[1].attempts > 0, item[1].written_ns, item[1].path.name))
        failed_once: list[tuple[Spool, SpoolFile]] = []
        in_a_row = failures = 0
        accepted = False

        def out_of_time() -> bool:
            return time.monotonic() >= deadline or (stop is not None and stop.is_set())

        for source, f in queue:
            if out_of_time() or in_a_row >= BACKEND_DOWN_AFTER:
                break
            fresh = f.attempts == 0
            outcome = _replay_file(
                source, f, exporters, export_timeout_s, report, set_aside=accepted and not fresh
            )
            if outcome == "sent":
                in_a_row, accepted = 0, True
            elif outcome is not None:  # given back (the file is returned), given up or set aside
                in_a_row += 1
                failures += outcome != "set aside"
                if isinstance(outcome, SpoolFile):
                    failed_once.append((source, outcome))
        down = in_a_row >= BACKEND_DOWN_AFTER
        if accepted and not down:  # the destination is up: what failed is refused for itself
            for source, f in failed_once:
                if out_of_time():
                    break
                _replay_file(source, f, exporters, export_timeout_s, report, set_aside=True)
        report.left_files = sum(len(source.pending()) for source in sources)
        report.failed = (down and report.left_files > 0) or (failures > 0 and not accepted)
    except Exception:  # a spool must never break start-up
        _logger.warning("otel-axolotl: replaying the %s spool failed", spool.destination, exc_info=True)
    return report


ReplayJob = tuple[Spool, Mapping[str, Any]]
"""One destination's spool and its exporters now, by signal."""


def replay_all(
    jobs: Sequence[ReplayJob],
    *,
    deadline: float,
    export_timeout_s: float,
    stop: threading.Event | None = None,
) -> list[ReplayReport]:
    """:func:`replay` each job in turn, all within one ``deadline`` (``time.monotonic()``), each
    request within ``export_timeout_s`` or what is left; log what was sent. The one replay
    loop, shared by the pipeline at start-up and ``otel-axolotl flush``. Never raises."""
    reports = []
    for spool, exporters in jobs:
        timeout = max(0.1, min(export_timeout_s, deadline - time.monotonic()))
        report = replay(spool, exporters, deadline=deadline, export_timeout_s=timeout, stop=stop)
        reports.append(report)
        if report.sent_files or report.skipped_files:
            _logger.info(
                "otel-axolotl: sent %d spooled item(s) from %d file(s) to the %s destination.",
                report.sent_items,
                report.sent_files,
                report.destination,
            )
    return reports


def _replay_file(
    spool: Spool,
    f: SpoolFile,
    exporters: Mapping[str, Any],
    export_timeout_s: float,
    report: ReplayReport,
    *,
    set_aside: bool,
) -> str | SpoolFile | None:
    """Send one file: ``"sent"``; ``"set aside"``; failed and given back (the file is
    returned) or ``"given up"`` (MAX_ATTEMPTS); None: not tried (another process has it,
    unreadable, another format version)."""
    claimed = spool.claim(f)
    if claimed is None:  # another process (a rank on this node) took it
        return None
    try:
        items = spool.read(claimed)
    except SpoolVersionError:
        return None
    except SpoolFileError:
        report.skipped_files += 1
        return None
    if deliver(exporters[f.signal], items, export_timeout_s):
        spool.done(claimed)
        report.sent_files += 1
        report.sent_items += len(items)
        return "sent"
    if set_aside:
        spool.set_aside(claimed, "refused")
        report.set_aside_files += 1
        return "set aside"
    back = spool.give_back(claimed)
    return back if back is not None else "given up"
