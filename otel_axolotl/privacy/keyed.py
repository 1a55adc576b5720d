"""Keyed rules in free text: the value after a secret key goes, whatever its shape.

``key=value``, ``key: value``, ``"key": "value"``, ``--key value``. The scan jumps between
separators (``:`` and ``=``, rare characters), reads the key backwards from each, and asks
keys.is_secret_key about it, so ``max_tokens=512`` and ``tokenizer: x`` keep their values
and the free-text and tree rules agree. Only a secret key's value is consumed; everything
else was already scrubbed by the shape rules (``shapes.py``, run first by ``values.py``), so
nothing needs a second look.
"""

from __future__ import annotations

import functools
import re

from otel_axolotl.privacy.keys import is_secret_key
from otel_axolotl.privacy.markers import MARKER, RedactionCounter, redacted

__all__ = ["KEYED_GATE", "KEYED_GATES", "redact_keyed"]

_KEYCH = r"[A-Za-z0-9_.\-]"

_SEPARATOR = re.compile(r"[:=]")
# Read backwards from a separator: optional spaces, a quote (maybe escaped, as in a JSON
# string inside a message), the key, and possibly one word before it ("API Key: ...").
_KEY_BEFORE_REVERSED = re.compile(rf"[ \t]*[\"']?\\?({_KEYCH}+)(?:[ \t]+({_KEYCH}+))?")
# A value already done by SHAPES is one marker that ends the value. A marker with more after
# it ("[REDACTED:secret]~A", a forged "[REDACTED:secret]hunter2") is part of a value that
# goes whole: the plain alternative reads markers as value characters.
_END = r"(?=[.!?:]*(?:[\s,;&'\"`<>(){}\]\\]|$))"
_VALUE = re.compile(
    r"[ \t]*(?:"
    rf"(?P<done>(?:(?i:bearer|basic|token|digest)[ \t]+)?\\?[\"']?{MARKER.pattern}{_END})"  # SHAPES did it
    r"|(?P<quoted>\"[^\"\n]*\"|'[^'\n]*')"
    r"|(?P<escaped>\\\"[^\"\n]*?\\\"|\\'[^'\n]*?\\')"  # \"value\" inside a JSON string
    rf"|(?:(?i:bearer|basic|token|digest)[ \t]+)?(?:{MARKER.pattern}|[^\s,;&'\"`<>(){{}}\]])+"
    r")"
)
# After a URL's host (``://host:`` or ``@host:``) a port is a port, whatever the host's name.
_PORT = re.compile(r"\d{1,5}(?![A-Za-z0-9_\-.~+])")
_KEY_WORDS = (
    "token", "secret", "passw", "passphrase", "pwd", "api?key", "access?key", "private?key",
    "auth", "credential", "cookie", "session",
)  # fmt: skip


def _spell(word: str) -> str:
    """``api?key`` -> ``[Aa][Pp][Ii][_\\-]?[Kk][Ee][Yy]``: case-insensitive without (?i)."""
    return "".join(r"[_\-]?" if c == "?" else f"[{c.upper()}{c}]" for c in word)


_KW = "(?:" + "|".join(_spell(w) for w in _KEY_WORDS) + ")"
# Command-line flags: ``--hf_token hf_...`` (``--hf_token=...`` is a separator case).
_FLAG_GATE = re.compile(rf"-(?<!{_KEYCH}-)")
KEYED_GATES = (":", "=", rf"-(?<!{_KEYCH}-)")
KEYED_GATE = re.compile("|".join(KEYED_GATES))
_FLAG = re.compile(
    rf"-(?<!{_KEYCH}-)(?P<flag>-?{_KEYCH}*?{_KW}{_KEYCH}*)(?P<flag_sep>[ \t]+)"
    r"(?P<flag_val>\"[^\"\n]*\"|'[^'\n]*'|[^\s\-'\"`][^\s'\"`]*)"
)

_CACHED_KEY_LENGTH = 64


@functools.lru_cache(maxsize=2048)
def _secret_key_cached(key: str) -> bool:
    return is_secret_key(key)


def _secret_key(key: str) -> bool:
    """keys.is_secret_key, cached for short keys: the same config keys come back all the time.
    Long runs are not kept (they are not real keys, and the cache should hold no text)."""
    return _secret_key_cached(key) if len(key) <= _CACHED_KEY_LENGTH else is_secret_key(key)


def _redact_value(value: str, counter: RedactionCounter | None) -> str:
    """Keep the quotes around a quoted value, so JSON and Python reprs stay readable."""
    if len(value) >= 2 and value[0] in "'\"" and value[-1] == value[0]:
        return value[0] + redacted(counter) + value[0]
    if len(value) >= 4 and value[0] == "\\" and value[1] in "'\"" and value[-2:] == value[:2]:
        return value[:2] + redacted(counter) + value[:2]
    return redacted(counter)


def redact_keyed(text: str, counter: RedactionCounter | None) -> str:
    """Redact the value after every secret key: ``key=v``, ``key: v``, ``"key": "v"``, ``--key v``."""
    if _SEPARATOR.search(text) is not None:
        reversed_text = text[::-1]
        n = len(text)
        parts: list[str] = []
        done = 0
        for sep in _SEPARATOR.finditer(text):
            at = sep.start()
            if at < done:
                continue  # inside a value already redacted
            key_match = _KEY_BEFORE_REVERSED.match(reversed_text, n - at)
            if key_match is None:
                continue
            key, word_before = key_match.group(1)[::-1].lstrip("-"), key_match.group(2)
            if not (_secret_key(key) or (word_before and _secret_key(f"{word_before[::-1]}_{key}"))):
                continue
            value = _VALUE.match(text, at + 1)
            if value is None or value.group("done") is not None:
                continue
            if _PORT.match(text, at + 1) and text[: n - key_match.end()].endswith(("://", "@")):
                continue  # "https://zqpass.corp.internal:8443/api": a host and its port
            body_start = value.start() + len(value.group(0)) - len(value.group(0).lstrip(" \t"))
            parts.append(text[done:body_start])
            parts.append(_redact_value(text[body_start : value.end()], counter))
            done = value.end()
        if parts:
            parts.append(text[done:])
            text = "".join(parts)
    if _FLAG_GATE.search(text) is not None:

        def flag(m: re.Match[str]) -> str:
            value = m.group("flag_val")
            if MARKER.fullmatch(value.strip("'\"")) or not _secret_key(m.group("flag").lstrip("-")):
                return m.group(0)
            return m.string[m.start() : m.start("flag_val")] + _redact_value(value, counter)

        text = _FLAG.sub(flag, text)
    return text
