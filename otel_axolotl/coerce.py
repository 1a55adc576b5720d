"""Values at the edge: whatever a caller hands in becomes what every transport can carry.

OTLP's encoder takes ``bool``, ``int`` (64-bit), ``float``, ``str``, ``bytes`` and lists or
maps of them; anything else (``np.float32``, ``np.int64``, ``np.bool_``, a 0-d array,
``Decimal``, ``Fraction``, ``complex``, an int past 64 bits) fails the whole batch, the good
events beside it included. PostHog's JSON has no NaN or infinity. So every value is made plain
here, once, where it enters (``TelemetryManager.send_event`` and ``start_run``: every event of
every channel, the recorder's, errors', Axolotl's and the user's, passes there before the
privacy stage and long before a queue): numbers become ``bool``/``int``/``float``, a
non-finite or too-large number and everything else becomes a string, which the privacy stage
then scrubs like any other.

An event is also bounded: the smallest transport limit is PostHog's ~900 KiB per event (gRPC
takes 4 MiB per message); an event body over :data:`MAX_EVENT_BYTES` has its largest values
replaced by a ``[TRUNCATED:<bytes>]`` marker until it fits, so it never fails its batch.
"""

from __future__ import annotations

import decimal
import json
import math
import numbers
from collections.abc import Mapping, Set
from typing import Any

MAX_EVENT_BYTES = 512 * 1024
"""An event body's JSON size at most: under PostHog's ~900 KiB per event, with room for the
envelope (event name, properties added by the exporter) and for a few events per batch."""
MAX_DEPTH = 32
_INT64 = (-(2**63), 2**63 - 1)
_PLAIN = (bool, int, float, str)
_SMALL = frozenset({bool, int, float, type(None)})


def plain(value: Any, _depth: int = 0) -> Any:
    """``value`` as plain data: bool/int/float/str/bytes/None, lists, and dicts with string
    keys. Never raises."""
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return value
    if kind is float:
        return value if math.isfinite(value) else repr(value)
    if kind is int:
        return value if _INT64[0] <= value <= _INT64[1] else _big(value)
    if kind is dict and _depth < MAX_DEPTH:  # the common container, without the ABC checks
        return {k if type(k) is str else str(plain(k)): plain(v, _depth + 1) for k, v in value.items()}
    try:
        return _convert(value, _depth)
    except Exception:  # a broken __str__, __float__ or items(): the type's name says enough
        return f"<{type(value).__name__}>"


def _convert(value: Any, depth: int) -> Any:
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, str):
        return str.__str__(value)  # a str subclass (``class Mode(str, Enum)``): its text, not "Mode.A"
    if isinstance(value, bytes):
        return bytes(value)
    if getattr(value, "shape", None) == () and callable(getattr(value, "item", None)):
        return plain(value.item(), depth)  # numpy scalars, 0-d arrays and tensors
    if isinstance(value, numbers.Integral):
        return plain(int(value), depth)
    if isinstance(value, (numbers.Real, decimal.Decimal)):
        number = float(value)
        return number if math.isfinite(number) else str(value)
    if isinstance(value, numbers.Number):  # complex and the like: no transport has them
        return str(value)
    if depth >= MAX_DEPTH:
        return "[TRUNCATED:depth]"
    if isinstance(value, Mapping):
        return {k if isinstance(k, str) else str(plain(k)): plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, Set)):
        return [plain(item, depth + 1) for item in value]
    return str(value)


def _big(value: int) -> Any:
    """An int past 64 bits: a float when it is one, else its digits."""
    try:
        number = float(value)
    except OverflowError:
        return str(value)
    return number if math.isfinite(number) else str(value)


def attributes(values: Mapping[str, Any] | None) -> dict[str, Any]:
    """An attribute map made plain (keys as strings)."""
    if not values:
        return {}
    return {k if isinstance(k, str) else str(k): _attribute(v) for k, v in values.items()}


def _attribute(value: Any) -> Any:
    if type(value) in _PLAIN and (type(value) is not float or math.isfinite(value)):
        return value  # the common case, inlined
    return plain(value)


def event_body(properties: Mapping[str, Any] | None) -> tuple[dict[str, Any], int]:
    """The event body, plain and bounded, and how many values were truncated to fit."""
    if not properties:
        return {}, 0
    body = plain(properties)
    if not isinstance(body, dict):
        body = {"value": body}
    total = 0
    for key, value in body.items():
        total += len(key) + 6 + (8 if type(value) in _SMALL else _size(value))
    if total <= MAX_EVENT_BYTES:
        return body, 0  # the common case: nothing sorted, nothing measured twice
    sizes = {key: _size(value) for key, value in body.items()}
    truncated = 0
    for key in sorted(sizes, key=sizes.__getitem__, reverse=True):
        if total <= MAX_EVENT_BYTES:
            break
        marker = f"[TRUNCATED:{sizes[key]}]"
        total -= sizes[key] - len(marker) - 2
        body[key] = marker
        truncated += 1
    if total > MAX_EVENT_BYTES:  # too many keys even with every value a marker
        return {"otel_axolotl.truncated": f"[TRUNCATED:{total}]"}, truncated + len(body)
    return body, truncated


def _size(value: Any) -> int:
    """Bytes of ``value`` as JSON (UTF-8), cheaply for the common scalars."""
    if type(value) is str and value.isascii():
        return len(value) + 2
    if type(value) in (bool, int, float) or value is None:
        return 8
    return len(json.dumps(value, default=str, ensure_ascii=False).encode("utf-8", "replace"))
