"""Tree rule: scrub a nested config or property dict, deciding each value by its key and shape.

Why a walker of its own: event properties and configs are nested (``datasets: [{path: ...}]``),
and the key above a value says more than the value itself (``wandb_project: "x"``,
``hf_token: "abc"``). Axolotl redacts by key only; we redact by key AND scrub every string by
shape, so a secret under an innocent key still goes.

Rules for a string, by its key (the nearest dict key above it):

1. secret key (``keys.is_secret_key``) -> ``[REDACTED:secret]``, at every level; secrecy is inherited by
   everything below the key (``credentials: {user: .., pin: 1234}``: all leaves but booleans
   and None are redacted, numbers included).
2. name key (``keys.is_name_key``) -> ``Whitelist.filter_name``: a whitelisted ``org/name``
   stays; otherwise ``[REDACTED:model]`` (strict) or secrets scrubbed (secrets-only).
3. path key (``keys.is_path_key``) -> strict: a whitelisted name stays (Axolotl exempts
   whitelisted values on every trigger), anything else ``[REDACTED:path]``; secrets-only:
   secrets scrubbed.
4. any other key -> strict: ``strict.strict_value`` with the key's registered kind
   (``schema.py``; fail-closed: only vouched-for values pass); secrets-only: ``scrub_text``.

Decisions where the brief left a choice:

- List items inherit the list's key (Axolotl passes ``""``), so ``data_files: ["/a", "/b"]``
  and ``hf_token: ["x"]`` are redacted item by item. Dicts do not pass their key down except
  for secrecy: their own keys decide, as in Axolotl (so a dataset's ``type: alpaca`` survives).
- Keys are scrubbed too (a secret or a path can be a key; at strict a key passes only when
  registered or made of vocabulary words, else ``[REDACTED:key]``); two keys that scrub to
  the same text are kept apart as ``[REDACTED:key]``, ``[REDACTED:key]#2``, ...
- In a list, the item after a secret flag (``["--hf_token", "hf_..."]``) is a secret.
- bytes -> ``[REDACTED:value]``; booleans, None and numbers pass (an int outside int64, which
  the OTLP encoder rejects, becomes ``[REDACTED:number]``); any other object -> ``str(obj)`` under
  the same key rules (a ``PosixPath`` under ``output_dir`` is redacted).
- Containers deeper than :data:`MAX_DEPTH`, and a container met again inside itself (a cycle),
  become ``[REDACTED:value]``. Tuples and sets become lists. The input is never modified.
"""

from __future__ import annotations

import functools
import numbers
import re
from collections.abc import Mapping
from typing import Any

from otel_axolotl.privacy.keys import is_name_key, is_path_key, is_secret_key
from otel_axolotl.privacy.markers import marker
from otel_axolotl.privacy.names import USER_FUNCTION, is_package_path
from otel_axolotl.privacy.schema import kind_of
from otel_axolotl.privacy.stacktrace import _frame_path as frame_path
from otel_axolotl.privacy.stacktrace import sanitize_stack_trace
from otel_axolotl.privacy.strict import strict_key, strict_value
from otel_axolotl.privacy.values import Level, RedactionCounter, scrub_text
from otel_axolotl.privacy.whitelist import Whitelist

__all__ = ["MAX_DEPTH", "scrub_tree"]

MAX_DEPTH = 32
"""Containers nested deeper than this are replaced whole: telemetry never needs them."""

_TEXT, _SECRET, _NAME, _PATH = range(4)
_CONTAINERS = (Mapping, list, tuple, set, frozenset)
_CACHED_KEY_LENGTH = 128


@functools.lru_cache(maxsize=4096)
def _rule_cached(key: str, parent: str) -> int:
    if is_secret_key(key):
        return _SECRET
    if is_name_key(key, parent=parent):
        return _NAME
    if is_path_key(key):
        return _PATH
    return _TEXT


def _rule(key: str, parent: str) -> int:
    """Which rule a key selects; cached, since configs repeat the same keys."""
    if len(key) <= _CACHED_KEY_LENGTH and len(parent) <= _CACHED_KEY_LENGTH:
        return _rule_cached(key, parent)
    return _rule_cached.__wrapped__(key, parent)


class _Walker:
    """One walk: holds the level, whitelist, counter and the containers being visited."""

    __slots__ = ("_active", "counter", "level", "strict", "whitelist")

    def __init__(self, level: Level, whitelist: Whitelist, counter: RedactionCounter | None) -> None:
        self.level = level
        self.strict = level != Level.SECRETS_ONLY
        self.whitelist = whitelist
        self.counter = counter
        self._active: set[int] = set()

    def redact(self, reason: str = "value") -> str:
        if self.counter is not None:
            self.counter.add()
        return marker(reason)

    def walk(self, value: Any, key: str, parent: str, depth: int, secret: bool) -> Any:
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, str):
            return self.string(value, key, parent, secret)
        if type(value) is float:
            return self.redact("secret") if secret else value
        if type(value) is int:
            if secret:
                return self.redact("secret")
            return value if _INT64_MIN <= value <= _INT64_MAX else self.redact("number")
        if isinstance(value, _CONTAINERS):
            return self.container(value, key, parent, depth, secret)
        if isinstance(value, (bytes, bytearray, memoryview)):
            return self.redact()
        if isinstance(value, numbers.Number):  # Decimal, Fraction, numpy scalars: plain numbers
            if secret:
                return self.redact("secret")
            if isinstance(value, numbers.Integral):
                number = int(value)
                return number if _INT64_MIN <= number <= _INT64_MAX else self.redact("number")
            if not isinstance(value, numbers.Complex) or isinstance(value, numbers.Real):
                try:  # Real, and Decimal (a Number the numeric tower does not call Real)
                    return float(value)  # type: ignore[arg-type]
                except (TypeError, ValueError, OverflowError):
                    pass
            return self.string(str(value), key, parent, secret)  # complex: as text
        try:
            text = str(value)
        except Exception:  # a broken __str__ must not break the export, nor leak
            return self.redact()
        return self.string(text, key, parent, secret)

    def container(self, value: Any, key: str, parent: str, depth: int, secret: bool) -> Any:
        ident = id(value)
        if depth >= MAX_DEPTH or ident in self._active:
            return self.redact()
        self._active.add(ident)
        try:
            if isinstance(value, Mapping):
                return self.mapping(value, key, depth, secret)
            if key and not secret and kind_of(key) == "frames":
                return self.frames(list(value))
            return self.sequence(list(value), key, parent, depth, secret)
        except Exception:  # a mapping whose items() raises: drop it whole
            return self.redact()
        finally:
            self._active.discard(ident)

    def sequence(self, items: list[Any], key: str, parent: str, depth: int, secret: bool) -> list[Any]:
        """Items inherit the list's key; an item after a secret flag (``["--hf_token", "x"]``) is
        a secret, at every level."""
        out: list[Any] = []
        after_flag = False
        for item in items:
            if after_flag and not isinstance(item, (bool, type(None))):
                out.append(self.redact("secret"))
            else:
                out.append(self.walk(item, key, parent, depth + 1, secret))
            after_flag = isinstance(item, str) and _is_secret_flag(item)
        return out

    def frames(self, items: list[Any]) -> list[dict[str, Any]]:
        """Structured stack frames (``{"filename", "function", "lineno"}``, Axolotl's error
        body). A frame is judged whole, by its file: an installed package's frame keeps its
        package-relative file, function and line; at strict a frame of the user's own code
        keeps its line only, file and function become fixed placeholders (as in the error's
        event name); secrets-only keeps the user's file name and function, scrubbed."""
        out: list[dict[str, Any]] = []
        for frame in items[:MAX_FRAMES]:
            if not isinstance(frame, Mapping):
                continue
            filename, function, lineno = frame.get("filename"), frame.get("function"), frame.get("lineno")
            path = frame_path(filename) if isinstance(filename, str) else ""
            package = isinstance(filename, str) and bool(path) and is_package_path(filename)
            shown: dict[str, Any] = {"lineno": lineno if type(lineno) is int and lineno >= 0 else None}
            if self.strict and not package:
                self.counter.add() if self.counter is not None else None
                shown["filename"], shown["function"] = USER_FILE, USER_FUNCTION_NAME
            else:
                shown["filename"] = scrub_text(path, Level.SECRETS_ONLY, self.counter)
                name = function if isinstance(function, str) else ""
                shown["function"] = (
                    name
                    if name.isidentifier() or name.startswith("<")
                    else scrub_text(name, self.level, self.counter)
                )
            out.append(shown)
        return out

    def mapping(self, value: Mapping[Any, Any], key: str, depth: int, secret: bool) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for child_key, child in value.items():
            name = child_key if isinstance(child_key, str) else str(child_key)
            shown = (
                strict_key(name, self.counter) if self.strict else scrub_text(name, self.level, self.counter)
            )
            if shown in out:
                shown = _unique(shown, out)
            child_secret = secret or _rule(name, key) == _SECRET
            out[shown] = self.walk(child, name, key, depth + 1, child_secret)
        return out

    def string(self, value: str, key: str, parent: str, secret: bool) -> str:
        if not value:
            return value
        if secret:
            return self.redact("secret")
        rule = _rule(key, parent) if key else _TEXT
        if rule == _SECRET:
            return self.redact("secret")
        if rule == _NAME:
            return self.whitelist.filter_name(value, self.level, self.counter)
        if rule == _PATH:
            if not self.strict:
                return scrub_text(value, Level.SECRETS_ONLY, self.counter)
            if self.whitelist.is_whitelisted(value):
                return scrub_text(value, Level.SECRETS_ONLY, self.counter)
            return self.redact("path")
        kind = kind_of(key) if key else None
        if kind == "stacktrace":
            return sanitize_stack_trace(value, self.level, self.counter)
        if self.strict:
            return strict_value(value, kind, self.whitelist, self.counter)
        return scrub_text(value, self.level, self.counter)


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_FLAG = re.compile(r"--?([A-Za-z0-9][A-Za-z0-9_.\-]*)")


MAX_FRAMES = 64
"""Structured frames kept of one stack (the innermost ones are the last)."""
USER_FILE, USER_FUNCTION_NAME = USER_FUNCTION.split(".", 1)  # "user_code", "function"


def _is_secret_flag(item: str) -> bool:
    """``--hf_token``, ``-p``? Only a flag whose name is a secret key (``--api-key``)."""
    match = _FLAG.fullmatch(item)
    return match is not None and is_secret_key(match.group(1))


def _unique(key: str, taken: Mapping[str, Any]) -> str:
    n = 2
    while f"{key}#{n}" in taken:
        n += 1
    return f"{key}#{n}"


def scrub_tree(
    value: Any,
    *,
    level: Level,
    whitelist: Whitelist,
    counter: RedactionCounter | None = None,
    _key: str = "",
) -> Any:
    """A scrubbed copy of ``value`` (dicts, lists, scalars, nested) for export at ``level``.

    ``_key`` is the key the value sits under when the caller has already taken it out of its
    dict (an attribute's value under its attribute key); it selects the rule as a dict key
    would. The input is never mutated; every redaction adds one to ``counter``.
    """
    key = _key if isinstance(_key, str) else str(_key)
    walker = _Walker(level, whitelist, counter)
    return walker.walk(value, key, "", 0, bool(key) and _rule(key, "") == _SECRET)
