"""Tree rule: scrub a nested config or property dict, deciding each value by its key and shape.

Why a walker of its own: event properties and configs are nested (``datasets: [{path: ...}]``),
and the key above a value says more than the value itself (``wandb_project: "x"``,
``hf_token: "abc"``). Axolotl redacts by key only; we redact by key AND scrub every string by
shape, so a secret under an innocent key still goes.

Rules for a string, by its key (the nearest dict key above it):

1. secret key (``keys.is_secret_key``) -> REDACTED, at every level; secrecy is inherited by
   everything below the key (``credentials: {user: .., pin: 1234}``: all leaves but booleans
   and None are redacted, numbers included).
2. name key (``keys.is_name_key``) -> ``Whitelist.filter_name``: a whitelisted ``org/name``
   stays; otherwise REDACTED (strict) or secrets scrubbed (secrets-only).
3. path key (``keys.is_path_key``) -> strict: a whitelisted name stays (Axolotl exempts
   whitelisted values on every trigger), anything else REDACTED; secrets-only: secrets
   scrubbed.
4. any other key -> ``scrub_text`` at the level.

Decisions where the brief left a choice:

- List items inherit the list's key (Axolotl passes ``""``), so ``data_files: ["/a", "/b"]``
  and ``hf_token: ["x"]`` are redacted item by item. Dicts do not pass their key down except
  for secrecy: their own keys decide, as in Axolotl (so a dataset's ``type: alpaca`` survives).
- Keys are scrubbed too (a secret or a path can be a key); two keys that scrub to the same
  text are kept apart as ``[REDACTED]``, ``[REDACTED]#2``, ...
- bytes -> REDACTED; booleans, None and numbers pass; any other object -> ``str(obj)`` under
  the same key rules (a ``PosixPath`` under ``output_dir`` is redacted).
- Containers deeper than :data:`MAX_DEPTH`, and a container met again inside itself (a cycle),
  become REDACTED. Tuples and sets become lists. The input is never modified.
"""

from __future__ import annotations

import functools
import numbers
from collections.abc import Mapping
from typing import Any

from otel_axolotl.privacy.keys import is_name_key, is_path_key, is_secret_key
from otel_axolotl.privacy.values import REDACTED, Level, RedactionCounter, scrub_text
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

    def redact(self) -> str:
        if self.counter is not None:
            self.counter.add()
        return REDACTED

    def walk(self, value: Any, key: str, parent: str, depth: int, secret: bool) -> Any:
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, str):
            return self.string(value, key, parent, secret)
        if type(value) in (int, float):
            return self.redact() if secret else value
        if isinstance(value, _CONTAINERS):
            return self.container(value, key, parent, depth, secret)
        if isinstance(value, (bytes, bytearray, memoryview)):
            return self.redact()
        if isinstance(value, numbers.Number):  # Decimal, Fraction, numpy scalars
            return self.redact() if secret else value
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
            return [self.walk(item, key, parent, depth + 1, secret) for item in value]
        except Exception:  # a mapping whose items() raises: drop it whole
            return self.redact()
        finally:
            self._active.discard(ident)

    def mapping(self, value: Mapping[Any, Any], key: str, depth: int, secret: bool) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for child_key, child in value.items():
            name = child_key if isinstance(child_key, str) else str(child_key)
            shown = scrub_text(name, self.level, self.counter)
            if shown in out:
                shown = _unique(shown, out)
            child_secret = secret or _rule(name, key) == _SECRET
            out[shown] = self.walk(child, name, key, depth + 1, child_secret)
        return out

    def string(self, value: str, key: str, parent: str, secret: bool) -> str:
        if not value:
            return value
        if secret:
            return self.redact()
        rule = _rule(key, parent) if key else _TEXT
        if rule == _SECRET:
            return self.redact()
        if rule == _NAME:
            return self.whitelist.filter_name(value, self.level, self.counter)
        if rule == _PATH:
            if not self.strict:
                return scrub_text(value, Level.SECRETS_ONLY, self.counter)
            if self.whitelist.is_whitelisted(value):
                return scrub_text(value, Level.SECRETS_ONLY, self.counter)
            return self.redact()
        return scrub_text(value, self.level, self.counter)


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
