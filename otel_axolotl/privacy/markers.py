"""Markers: what a removed value is replaced with, and why.

A marker names the reason (``[REDACTED:path]``, ``[REDACTED:secret]``), so whoever reads the
telemetry knows what kind of thing was there without learning the thing. One function makes
every marker; the reasons are a closed set, so a typo cannot invent a marker that looks like
data. A marker never matches a rule itself, so scrubbing twice changes nothing.
"""

from __future__ import annotations

import re

__all__ = ["MARKER", "REASONS", "is_marker", "marker"]

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

MARKER = re.compile(r"\[REDACTED(?::[a-z]+)?\]")
"""Matches every marker (and the plain ``[REDACTED]`` of older spool files)."""


def marker(reason: str) -> str:
    """``[REDACTED:<reason>]``; an unknown reason gives ``[REDACTED:text]`` (never raises)."""
    return f"[REDACTED:{reason if reason in REASONS else 'text'}]"


def is_marker(text: object) -> bool:
    """True if ``text`` is exactly one marker."""
    return isinstance(text, str) and MARKER.fullmatch(text) is not None
