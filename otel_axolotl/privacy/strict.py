"""The strict level's value rule: a string passes only when something vouches for it.

Why: a denylist lets through every value nobody thought of. Here a string under a key passes
only when its kind (``schema.py``) accepts it, or, for a key without a kind, when it is an
option of the vocabulary, a number or boolean written as text, or a whitelisted ``org/name``
model id. Everything else becomes a marker saying why (``[REDACTED:path]``, ``:model``,
``:host``, ``:text`` ...): the first shape rule that recognises it names the reason, and
``:text`` is what is left when none does, so a value nobody thought of is dropped.

Free text (exception messages, notes, span names) keeps its shape and loses its contents:
shape rules first (``values.scrub_text``: secrets, paths, addresses, URLs), then every word
that is not in the vocabulary becomes ``[REDACTED:text]``; numbers stay.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from otel_axolotl.privacy.markers import MARKER, marker
from otel_axolotl.privacy.names import code_name, exception_type, is_installed_module
from otel_axolotl.privacy.values import Level, RedactionCounter, normalize, scrub_pass, scrub_text, settled
from otel_axolotl.privacy.vocabulary import own_names, vocabulary
from otel_axolotl.privacy.whitelist import Whitelist

__all__ = ["strict_key", "strict_text", "strict_value"]

_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?%?")
_VERSION = re.compile(
    r"v?\d{1,4}(?:\.\d{1,6}){0,2}(?:(?:a|b|rc|\.post|\.dev)\d{0,4})*(?:\+(?:cpu|cu\d{2,4}|rocm[\d.]{1,6}|xpu))?"
)
_ID = re.compile(r"[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_REPO_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.\-]{0,95}")
_EMBEDDED_IP = re.compile(r"(?<!\d)\d{1,3}[-._]\d{1,3}[-._]\d{1,3}[-._]\d{1,3}(?!\d)")
_HOSTNAME = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z][A-Za-z0-9\-]{1,62}")
_FILE_SUFFIXES = frozenset(
    (
        "py", "pyc", "ipynb", "json", "jsonl", "yaml", "yml", "toml", "txt", "csv", "tsv", "parquet",
        "arrow", "bin", "pt", "pth", "safetensors", "gguf", "onnx", "log", "md", "sh", "cfg", "ini",
        "zip", "tar", "gz", "h5", "pkl", "npy", "npz",
    )
)  # fmt: skip
_UNIT_NUMBER = re.compile(r"\d+(?:\.\d+)?(?:[kKMGTP]i?[Bb]|[kKMGT]|[mun]?s|x|e[+-]?\d+)")
_HARDWARE_CODE = re.compile(r"[A-Z]{1,4}\d{1,5}[A-Za-z]{0,3}|\d{2,5}[A-Z]{0,3}")
# ``gpu-node-17``, ``worker-3``, ``dgx-a100-02``: words and a number joined by hyphens.
_HOST_LIKE = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)*-\d+")
_MAX_NUMBER_DIGITS = 7  # longer digit runs are ids, phone numbers, account numbers
_HOST_PORT = re.compile(r"([A-Za-z][^:]*):(\d{1,5})")
_WORDS = re.compile(r"[A-Za-z0-9]+")
_DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+")
_WS = re.compile(r"(\s+)")
_EDGE_PUNCTUATION = "\"'`()[]{}<>,;:!?*"
_BOOL_STRINGS = frozenset({"true", "false", "yes", "no", "on", "off", "none", "null", "0", "1"})


def _count(counter: RedactionCounter | None, reason: str) -> str:
    if counter is not None:
        counter.add()
    return marker(reason)


def _is_number(text: str, max_integer_digits: int = _MAX_NUMBER_DIGITS) -> bool:
    """A number written as text. In free text and untyped values its integer part has at most
    ``_MAX_NUMBER_DIGITS`` digits (longer runs are phone, card and account numbers); under a
    key whose kind is a number the value may be longer."""
    if _NUMBER.fullmatch(text) is None or sum(c.isdigit() for c in text) > 24:
        return False
    mantissa = text.lstrip("+-").split("e", 1)[0].split("E", 1)[0]
    return "e" in text.lower() or len(mantissa.split(".", 1)[0]) <= max_integer_digits


def _own(word: str) -> bool:
    return word.lower() in own_names()


def _word_ok(word: str, hardware: bool = False) -> bool:
    if _own(word):
        return False
    if word.isdigit():
        return len(word) <= _MAX_NUMBER_DIGITS
    if len(word) <= 2 and word.isalpha():
        return True  # "n", "lr", "ok": too short to name anyone
    if vocabulary().is_word(word):
        return True
    if _UNIT_NUMBER.fullmatch(word):
        return True
    return hardware and _HARDWARE_CODE.fullmatch(word) is not None


_URL_PIECE = re.compile(r"(?:[A-Za-z][A-Za-z0-9+.\-]{0,30}://)?@?([A-Za-z0-9.\-]*)(?::\d{1,5})?/?")


def _url_piece_ok(piece: str) -> bool:
    """What the URL rule left of a URL: ``https://``, ``https://github.com/``, ``@localhost:8080``,
    ``:8443/`` (after a host marker). Only public hosts (vocabulary ``hosts``) count."""
    match = _URL_PIECE.fullmatch(piece)
    if match is None or not any(c in piece for c in ":/@"):
        return False
    host = match.group(1).lower()
    return not host or host in vocabulary().hosts


def _identifier_ok(token: str, hardware: bool = False) -> bool:
    """``learning_rate``, ``flash_attention_2``, ``torch.float16``: each part is a known word.
    Hyphens do not join words here: ``gpu-node-17`` is how host names look."""
    if vocabulary().is_word(token) and not _own(token):
        return True
    if "-" in token and _HOST_LIKE.fullmatch(token):
        return False
    return all(_word_ok(w, hardware) for w in _WORDS.findall(token))


def _classify(token: str, whitelist: Whitelist, counter: RedactionCounter | None) -> str:
    """The marker for one token (no spaces) that nothing vouched for: the most telling reason."""
    if _own(token) or any(_own(w) for w in re.split(r"[^A-Za-z0-9_\-]+", token) if w):
        return _count(counter, "user")
    if _EMBEDDED_IP.search(token):
        return _count(counter, "address")
    if _REPO_ID.fullmatch(token) and token.rsplit(".", 1)[-1].lower() not in _FILE_SUFFIXES:
        return _count(counter, "model")
    if "/" in token or "\\" in token:
        return _count(counter, "path")
    if _HOST_LIKE.fullmatch(token):
        return _count(counter, "host")
    if _HOSTNAME.fullmatch(token):
        suffix = token.rsplit(".", 1)[-1].lower()
        return _count(counter, "path" if suffix in _FILE_SUFFIXES else "host")
    return _count(counter, "text")


def _token(token: str, whitelist: Whitelist, counter: RedactionCounter | None, hardware: bool) -> str:
    """One whitespace-free chunk of free text (shape rules already applied)."""
    if not token or MARKER.fullmatch(token):
        return token
    if MARKER.search(token):  # "x='[REDACTED:secret]'," : judge the pieces around each marker
        # Only real markers split (markers.MARKER): "[REDACTED" or "[REDACTED:Foo]" is text,
        # and each piece is shorter than the token, so this always ends.
        pieces = MARKER.split(token)
        found = MARKER.findall(token)
        out = [_token(pieces[0], whitelist, counter, hardware)]
        for mark, piece in zip(found, pieces[1:], strict=True):
            out.append(mark)
            out.append(_token(piece, whitelist, counter, hardware))
        return "".join(out)
    core = token.strip(_EDGE_PUNCTUATION)
    if not core:
        return token
    start = token.find(core)
    head, tail = token[:start], token[start + len(core) :]
    trailing_dot = ""
    if core.endswith(".") and not _is_number(core):
        core, trailing_dot = core[:-1], "."
    if not core:
        return token
    port = _HOST_PORT.fullmatch(core)
    if port:  # "gpu-node-17:29500": the host is judged alone, the port is a number
        host = _token(port.group(1), whitelist, counter, hardware)
        return f"{head}{host}:{port.group(2)}{trailing_dot}{tail}"
    if _is_number(core) or _VERSION.fullmatch(core) or whitelist.is_whitelisted(core) or _url_piece_ok(core):
        return token
    if _EMBEDDED_IP.search(core):  # "10-42-7-19": numbers that are words, together an address
        return head + _classify(core, whitelist, counter) + trailing_dot + tail
    if _identifier_ok(core, hardware) or (_DOTTED.fullmatch(core) and is_installed_module(core)):
        return token  # vocabulary words, or installed code ("transformers.models.llama.LlamaConfig")
    if "=" in core:  # key=value: judge each side
        key, _, value = core.partition("=")
        clean = "=".join(
            (_token(key, whitelist, counter, hardware), _token(value, whitelist, counter, hardware))
        )
        return head + clean + trailing_dot + tail
    if (
        "/" in core
        or "\\" in core
        or _EMBEDDED_IP.search(core)
        or _HOSTNAME.fullmatch(core)
        or _HOST_LIKE.fullmatch(core)
        or _own(core)
    ):
        return head + _classify(core, whitelist, counter) + trailing_dot + tail
    # word by word: "alice_data" -> "[REDACTED:text]_data"
    parts = re.split(r"([^A-Za-z0-9]+)", core)
    clean = "".join(
        p if (i % 2 or not p or _word_ok(p, hardware)) else _count(counter, "text")
        for i, p in enumerate(parts)
    )
    return head + clean + trailing_dot + tail


def strict_text(
    text: str, whitelist: Whitelist, counter: RedactionCounter | None = None, *, hardware: bool = False
) -> str:
    """Free text at strict: shapes to markers, then each word not in the vocabulary replaced;
    repeated until stable (``values.settled``: a word kept beside a new marker is judged
    again in its new context)."""

    def once(text: str) -> str:
        shaped = scrub_pass(text, Level.STRICT, counter)
        return "".join(
            chunk if i % 2 else _token(chunk, whitelist, counter, hardware)
            for i, chunk in enumerate(_WS.split(shaped))
        )

    return settled(once, normalize(text), counter)


def _generic(value: str, whitelist: Whitelist, counter: RedactionCounter | None) -> str:
    """A string under a key without a kind: options, numbers, booleans, whitelisted names pass."""
    stripped = value.strip()
    if not stripped:
        return value
    if (vocabulary().is_option(stripped) and not _own(stripped)) or _is_number(stripped):
        return value
    if _VERSION.fullmatch(stripped):
        return value  # "4.46.0.dev0", "2.13.0+cpu"
    if stripped.lower() in _BOOL_STRINGS:
        return value
    if whitelist.is_whitelisted(stripped):
        return scrub_text(value, Level.SECRETS_ONLY, counter)
    if any(c.isspace() for c in stripped):
        return strict_text(value, whitelist, counter)
    shaped = scrub_text(stripped, Level.STRICT, counter)
    if MARKER.fullmatch(shaped):
        return shaped
    if shaped != stripped:
        return strict_text(shaped, whitelist, counter)
    if _identifier_ok(stripped) and len(stripped) <= 64:
        return value  # an identifier made only of vocabulary words ("flash_attention_2")
    return _classify(stripped, whitelist, counter)


def _accepts(kind: Any, value: str, whitelist: Whitelist) -> bool:
    """True if ``kind`` vouches for ``value`` as it is."""
    stripped = value.strip()
    lowered = stripped.lower()
    if isinstance(kind, dict):
        if "enum" in kind:
            return lowered in {v.lower() for v in kind["enum"]} or (
                "or" in kind and _accepts(kind["or"], value, whitelist)
            )
        if "any_of" in kind:
            return any(_accepts(k, value, whitelist) for k in kind["any_of"])
        return False
    if kind in ("int", "float", "number"):
        return _is_number(stripped, 24) or lowered in ("nan", "inf", "-inf", "infinity")
    if kind == "bool":
        return lowered in _BOOL_STRINGS
    if kind == "option":
        return vocabulary().is_option(stripped) and not _own(stripped)
    if kind in ("model", "path"):
        return whitelist.is_whitelisted(stripped)
    if kind == "version":
        return _VERSION.fullmatch(stripped) is not None
    if kind == "id":
        return _ID.fullmatch(stripped) is not None
    return False


def strict_value(value: str, kind: Any, whitelist: Whitelist, counter: RedactionCounter | None = None) -> str:
    """A string under a key of ``kind`` (None: no kind registered) at strict."""
    value = normalize(value)
    if kind is None or kind == "dict":
        return _generic(value, whitelist, counter)
    if isinstance(kind, dict) and "list" in kind:
        kind = kind["list"]  # a single string where a list was expected: judged as one item
    if kind == "text":
        return strict_text(value, whitelist, counter)
    if kind == "stacktrace":
        from otel_axolotl.privacy.stacktrace import sanitize_stack_trace

        return sanitize_stack_trace(value, Level.STRICT, counter)
    if kind == "hardware":
        return strict_text(value, whitelist, counter, hardware=True)
    if kind == "code":
        if "." not in value and _identifier_ok(value):
            return value  # a builtin name (ValueError) or a reason made of words (queue_full)
        return exception_type(value) if value.rsplit(".", 1)[-1][:1].isupper() else code_name(value)
    if kind == "module":  # a module name: installed code keeps it, the user's own code does not
        return value if is_installed_module(value.strip()) else _count(counter, "code")
    if kind in ("host", "user"):
        return _count(counter, kind)
    if kind == "user-configured":
        # What the user set for their own backend (OTEL_SERVICE_NAME): secrets go; a product
        # analytics scrubber never gets here (channels.PRODUCT_RESOURCE_KEYS leaves it out).
        return scrub_text(value, Level.SECRETS_ONLY, counter)
    if _accepts(kind, value, whitelist):
        return scrub_text(value, Level.SECRETS_ONLY, counter) if kind in ("model", "path") else value
    if kind == "path":
        return _count(counter, "path") if not _REPO_ID.fullmatch(value.strip()) else _count(counter, "model")
    if kind == "model":
        stripped = value.strip()
        shaped = scrub_text(stripped, Level.STRICT, None)
        if MARKER.fullmatch(shaped):
            return _count(counter, MARKER.fullmatch(shaped).group(0)[10:-1] or "model")  # type: ignore[union-attr]
        return _count(counter, "model" if _REPO_ID.fullmatch(stripped) or "/" not in stripped else "path")
    return _generic(value, whitelist, counter)


@functools.lru_cache(maxsize=4096)
def _key_ok(key: str) -> bool:
    from otel_axolotl.privacy.schema import kind_of

    if scrub_text(key, Level.STRICT) != key or _own(key):
        return False
    return kind_of(key) is not None or (len(key) <= 64 and _identifier_ok(key))


def strict_key(key: str, counter: RedactionCounter | None = None) -> str:
    """A dict key at strict: registered, or made of vocabulary words; else ``[REDACTED:key]``."""
    if _key_ok(key) if len(key) <= 128 else False:
        return key
    return _count(counter, "key")
