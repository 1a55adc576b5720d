"""Markers: what a removed value is replaced with, and why.

A marker names the reason (``[REDACTED:path]``, ``[REDACTED:secret]``), so whoever reads the
telemetry knows what kind of thing was there without learning the thing. One function makes
every marker; the reasons are a closed set, so a typo cannot invent a marker that looks like
data. A marker never matches a rule itself, so scrubbing twice changes nothing. A
``RedactionCounter`` counts the markers made, so the pipeline can report how many there were.
"""

from __future__ import annotations

import re
import threading

__all__ = ["MARKER", "REASONS", "RedactionCounter", "Tally", "is_marker", "marker", "redacted"]

REASONS: frozenset[str] = frozenset(
    {
        "secret",  # a credential: at every level
        "path",  # a location on disk (absolute, home, UNC, a user's file)
        "text",  # a word or value that no vocabulary or schema vouches for (strict)
        "model",  # a model or dataset id of an organisation that is not whitelisted (strict)
        "email",
        "host",  # a host name that is not a public one (strict)
        "address",  # an IP or MAC address (strict)
        "key",  # a config or property key nobody registered (strict)
        "user",  # this machine's user or host name (strict)
        "code",  # a frame, module or function of the user's own code (strict)
        "value",  # a value of a kind that cannot be exported (bytes, a cycle, too deep)
        "number",  # an integer too large for the wire
    }
)

MARKER = re.compile(r"\[REDACTED(?::(?:" + "|".join(sorted(REASONS)) + r"))?\]")
"""Matches every marker (and the plain ``[REDACTED]`` of older spool files), and nothing else:
only the closed set of reasons, so ``[REDACTED:alice]`` in a user's text is not a marker and
is judged like any other text (a forged marker must never carry a value past the rules)."""


def marker(reason: str) -> str:
    """``[REDACTED:<reason>]``; an unknown reason gives ``[REDACTED:text]`` (never raises)."""
    return f"[REDACTED:{reason if reason in REASONS else 'text'}]"


def is_marker(text: object) -> bool:
    """True if ``text`` is exactly one marker."""
    return isinstance(text, str) and MARKER.fullmatch(text) is not None


class RedactionCounter:
    """Counts redactions so the pipeline can report how many happened, never what they were.

    Thread-safe (one counter may serve a processor called from several threads); it holds a
    number only, never the removed text.
    """

    __slots__ = ("_count", "_lock")

    def __init__(self) -> None:
        self._count = 0
        self._lock = threading.Lock()

    def add(self, n: int = 1) -> None:
        """Record ``n`` more redactions."""
        with self._lock:
            self._count += n

    @property
    def count(self) -> int:
        """Redactions recorded so far."""
        return self._count

    def __repr__(self) -> str:
        return f"RedactionCounter(count={self._count})"


class Tally:
    """A per-item redaction count: one item is scrubbed on one thread, so no lock is needed."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0

    def add(self, n: int = 1) -> None:
        self.count += n


def redacted(counter: RedactionCounter | None, reason: str = "secret") -> str:
    """The marker for ``reason``, counted once on ``counter`` (when there is one)."""
    if counter is not None:
        counter.add()
    return marker(reason)
