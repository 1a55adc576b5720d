"""The one way a variable's text becomes a value: booleans, bounded numbers, choices, URLs,
OTLP headers. Each reader gives one warning naming the variable and what it accepts, never
the value (a misplaced token would be copied into every log that keeps stderr), then the
default. Nothing here raises. ``settings`` names the variables and re-exports these."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from urllib.parse import unquote, urlsplit

from ._logging import warn_once

_HEADER_NAME = re.compile(r"[0-9a-z_.-]+", re.ASCII)  # what gRPC metadata and HTTP both accept
_HEADER_VALUE = re.compile(r"[\x20-\x7e]*", re.ASCII)  # printable ASCII: no CR/LF, no control

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})


def clean(env: Mapping[str, str], name: str) -> str | None:
    """The variable lower-cased and stripped; None when unset or blank (blank is unset)."""
    raw = env.get(name)
    if raw is None:
        return None
    value = raw.strip().lower()
    return value or None


_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,4})?", re.ASCII)
"""A plain decimal number in ASCII digits: no hex, no ``inf``/``nan``, no non-ASCII digits."""


def _reject(kind: str, name: str, accepted: str, default: object) -> None:
    """The one warning for an unreadable value: the variable and what it accepts, never the
    value itself (a misplaced token would be copied into every log that keeps stderr)."""
    warn_once(
        f"{kind}:{name}",
        "otel-axolotl: %s is set to a value that is not understood (not shown); accepted: %s. Using %s.",
        name,
        accepted,
        default,
    )


def parse_bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    value = clean(env, name)
    if value is None:
        return default
    if value in TRUE_WORDS:
        return True
    if value in FALSE_WORDS:
        return False
    _reject("bool", name, "1/true/yes/on or 0/false/no/off", default)
    return default


def read_number(text: str) -> float | None:
    """``text`` as a finite decimal number (ASCII digits, optional sign, fraction, exponent),
    else None: no ``inf``/``nan``, hex, ``1e400`` or non-ASCII digits. Never raises."""
    text = text.strip()
    if not _NUMBER.fullmatch(text):
        return None
    value = float(text)  # cannot raise: the pattern bounds it; it may overflow to inf
    return value + 0.0 if math.isfinite(value) else None  # -0 is 0


def _bounds(minimum: float, maximum: float | None, unit: str) -> str:
    upper = f" and <= {maximum:g}" if maximum is not None else ""
    return f"a decimal {unit} >= {minimum:g}{upper}"


def parse_float(
    env: Mapping[str, str], name: str, default: float, *, minimum: float = 0.0, maximum: float | None = None
) -> float:
    """A finite decimal number within [minimum, maximum], else one warning and ``default``."""
    raw = clean(env, name)
    if raw is None:
        return default
    value = read_number(raw)
    if value is None or not (value >= minimum and (maximum is None or value <= maximum)):
        _reject("float", name, _bounds(minimum, maximum, "number"), default)
        return default
    return value


def parse_int(
    env: Mapping[str, str], name: str, default: int, *, minimum: int = 0, maximum: int | None = None
) -> int:
    """An integer within [minimum, maximum] (``1e6`` and ``100.0`` are accepted when whole),
    else one warning and ``default``."""
    raw = clean(env, name)
    if raw is None:
        return default
    value = read_number(raw)
    if value is None or not (
        value.is_integer() and value >= minimum and (maximum is None or value <= maximum)
    ):
        _reject("int", name, _bounds(minimum, maximum, "whole number"), default)
        return default
    return int(value)


def parse_choice(env: Mapping[str, str], name: str, choices: tuple[str, ...], default: str) -> str:
    value = clean(env, name)
    if value is None:
        return default
    if value in choices:
        return value
    _reject("choice", name, "one of " + ", ".join(choices), repr(default))
    return default


def validate_url(value: str, variable: str) -> str | None:
    """Return the URL when it is an http(s) URL with a host, else warn naming the variable."""
    try:
        parts = urlsplit(value.strip())
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
        if ok:
            _ = parts.port  # raises ValueError on a malformed port
    except ValueError:
        ok = False
    if not ok:
        warn_once(
            f"url:{variable}",
            "otel-axolotl: %s is not a valid endpoint URL (value not shown); accepted: "
            "http://host:port or https://host:port. This destination stays off.",
            variable,
        )
        return None
    return value.strip()


def parse_headers(env: Mapping[str, str], name: str) -> tuple[tuple[str, str], ...] | None:
    """``name=value,name2=value2`` (W3C baggage, URL-encoded) -> header pairs; None if unset.

    An entry that is not ``name=value`` with a header name and printable value is skipped with
    one warning naming the variable and the entry's position, never its text (a secret)."""
    raw = env.get(name)
    if raw is None or not raw.strip():
        return None
    headers: list[tuple[str, str]] = []
    bad: list[str] = []
    for position, entry in enumerate(raw.split(","), start=1):
        if not entry.strip():
            continue
        key, sep, value = entry.partition("=")
        key, value = unquote(key).strip().lower(), unquote(value).strip()
        if sep and _HEADER_NAME.fullmatch(key) and _HEADER_VALUE.fullmatch(value):
            headers.append((key, value))
        else:
            bad.append(str(position))
    if bad:
        warn_once(
            f"headers:{name}",
            "otel-axolotl: %s: entry %s is not name=value with a header name (0-9 a-z _ . -) and a "
            "printable URL-encoded value (not shown); skipped.",
            name,
            ", ".join(bad),
        )
    return tuple(headers)
