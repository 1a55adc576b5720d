"""The rule tests written before markers said why: they check *where* a value was removed.

``plain`` maps every ``[REDACTED:<reason>]`` to the old ``[REDACTED]``, so those assertions
keep their meaning; the reasons themselves are checked in test_markers.py and test_strict.py.
"""

from __future__ import annotations

from typing import Any

from otel_axolotl.privacy.markers import MARKER

REDACTED = "[REDACTED]"


def plain(value: Any) -> Any:
    """``value`` with every marker written as ``[REDACTED]`` (recursively; keys too)."""
    if isinstance(value, str):
        return MARKER.sub(REDACTED, value)
    if isinstance(value, dict):
        new: Any = {plain(k): plain(v) for k, v in value.items()}
    elif isinstance(value, list):
        new = [plain(v) for v in value]
    else:
        return value
    return value if new == value else new  # unchanged input: the same object
