"""Value rules: find secrets and personal data inside free text and replace them with a marker.

Every string that leaves the process (attribute values, event properties, exception messages,
stack traces) goes through :func:`scrub_text`, so the rules have to be both thorough and cheap:
the span benchmark allows about 2 µs per attribute. Hence precompiled alternations, and one
literal-anchored "gate" search that clears most strings at once (how: see the comment block
below ``Level``). The rules live beside this module: ``shapes.py`` finds values by their form,
``keyed.py`` the values of secret keys; here each match gets its marker.

Two levels (see DESIGN.md, section 3):

- ``Level.SECRETS_ONLY`` removes credentials: Hugging Face, OpenAI, W&B, GitHub and AWS keys,
  JWTs, ``Bearer``/``Basic`` authorization values, credentials in URLs, values of secret-named
  keys (``password=...``, ``"api_key": "..."``) and PEM private keys.
- ``Level.STRICT`` also removes what identifies a person or a machine: e-mail addresses, IPv4,
  IPv6 and MAC addresses, absolute and home-directory paths (Unix, Windows, UNC, ``~``), and
  everything after the host in URLs. Relative paths (``site-packages/torch/nn/x.py``) stay.

Anything else, or an unknown level, is treated as STRICT: the rules fail closed.
No OpenTelemetry here; the processors in the privacy stage call these functions.
"""

from __future__ import annotations

import base64
import binascii
import enum
import re
from collections.abc import Callable

from otel_axolotl.privacy.detector import CANDIDATE as _CANDIDATE
from otel_axolotl.privacy.detector import redact_secret_tokens
from otel_axolotl.privacy.keyed import KEYED_GATE as _KEYED_GATE
from otel_axolotl.privacy.keyed import KEYED_GATES as _KEYED_GATES
from otel_axolotl.privacy.keyed import redact_keyed as _keyed
from otel_axolotl.privacy.markers import MARKER, RedactionCounter
from otel_axolotl.privacy.markers import redacted as _redacted
from otel_axolotl.privacy.shapes import HEX40_GATE as _HEX40_GATE
from otel_axolotl.privacy.shapes import HEX40_LEN as _HEX40_LEN
from otel_axolotl.privacy.shapes import PATH_STARTS as _PATH_STARTS
from otel_axolotl.privacy.shapes import PEM_BLOCK as _PEM_BLOCK
from otel_axolotl.privacy.shapes import PERSONAL_GATES as _PERSONAL_GATES
from otel_axolotl.privacy.shapes import SECRET_GATES as _SECRET_GATES
from otel_axolotl.privacy.shapes import SHAPES as _SHAPES
from otel_axolotl.privacy.shapes import SHAPES_GATE as _SHAPES_GATE
from otel_axolotl.privacy.shapes import TOKENS as _TOKENS

__all__ = ["Level", "RedactionCounter", "scrub_text"]


class Level(str, enum.Enum):
    """How much a destination may see. Compares equal to its string value."""

    STRICT = "strict"
    """Product analytics and the default everywhere: secrets and personal data removed."""
    SECRETS_ONLY = "secrets-only"
    """The user's own backend, on request: paths and names kept, secrets still removed."""


# --- how the scan stays cheap --------------------------------------------------------------
# Measured on CPython 3.11: the regex engine skips an alternative in about a nanosecond when
# the alternative's FIRST operation is a literal or a character class that the current
# character fails, but pays a full attempt (tens of ns) when it starts with a look-around or
# a group, or with a class that most characters pass. Rules written the obvious way cost
# ~0.8 µs per character. So:
#
# 1. Two passes. SHAPES (shapes.py) finds values by their form (tokens, URLs, paths,
#    addresses); KEYED (keyed.py) finds ``key=value`` pairs whose key says secret. KEYED
#    runs second, over text whose shapes are already gone, so it never has to re-scan a
#    value it consumes.
# 2. Each pass is skipped unless a cheap GATE finds a character sequence that every one of
#    its rules needs (``://``, ``@``, ``hf_``, a path-starting ``/``, ``=`` or ``:`` ...).
#    Gates are supersets of their rules: tests/privacy/test_values.py checks that with
#    hypothesis. A new rule needs a gate entry, or it is silently skipped.
# 3. Inside the rules, each alternative starts with a literal or a class; its token-boundary
#    test comes right after that first character (``X(?<!B.)``: "the character before X is
#    not B"); and it is named by an empty group at its END (``(?P<name>)``), which the
#    replacement reads from ``match.lastgroup``.
# 4. One search over the union of all gates clears most strings at once, and short plain
#    identifiers ("cosine", "adamw_torch") return before any search.

# One search decides for most strings that there is nothing to do: the union of all gates.
_ANY_GATE = {
    False: re.compile("|".join((*_SECRET_GATES, *_KEYED_GATES))),
    True: re.compile("|".join((*_SECRET_GATES, *_PERSONAL_GATES, *_KEYED_GATES))),
}

# A string shorter than this that is a plain identifier (letters, digits, ``_``) cannot hold
# anything: every rule needs a character such as ``: = - . / @ ~`` or whitespace, except the
# token shapes, the shortest of which is 16 characters (AKIA + 12).
_SHORT_LIMIT = 16

_TRAILING_PUNCTUATION = ".,:;!?)]}>"
_SECRETS_ONLY = Level.SECRETS_ONLY


# --- replacements --------------------------------------------------------------------------

_Handler = Callable[[re.Match[str], bool, "RedactionCounter | None"], str]


def _ends_with_marker(text: str) -> bool:
    return text.endswith("]") and MARKER.search(text[-20:]) is not None


def _split_trailing(token: str) -> tuple[str, str]:
    """``/home/u/x.txt).`` -> (``/home/u/x.txt``, ``).``): sentence punctuation stays visible."""
    core = token.rstrip(_TRAILING_PUNCTUATION)
    if token[len(core) : len(core) + 1] == "]" and _ends_with_marker(core + "]"):
        core += "]"  # the marker's own bracket, from an earlier pass
    if not core:
        return token, ""
    return core, token[len(core) :]


def _whole(m: re.Match[str], strict: bool, counter: RedactionCounter | None) -> str:
    return _redacted(counter)


def _address(m: re.Match[str], strict: bool, counter: RedactionCounter | None) -> str:
    return _redacted(counter, "address")


def _email(m: re.Match[str], strict: bool, counter: RedactionCounter | None) -> str:
    return _redacted(counter, "email")


def _path(m: re.Match[str], strict: bool, counter: RedactionCounter | None) -> str:
    _core, trailing = _split_trailing(m.group(0))
    return _redacted(counter, "path") + trailing


def _quoted_path(m: re.Match[str], strict: bool, counter: RedactionCounter | None) -> str:
    return m.group(0)[0] + _redacted(counter, "path")


def _ipv4(m: re.Match[str], strict: bool, counter: RedactionCounter | None) -> str:
    text = m.group(0)
    if all(int(octet) <= 255 for octet in text.split(".")):
        return _redacted(counter, "address")
    return text  # digits and dots only: nothing else to find inside


def _url_cred(m: re.Match[str], strict: bool, counter: RedactionCounter | None) -> str:
    return m.string[m.start() : m.start("uc_user")] + _redacted(counter) + "@"


def _url(m: re.Match[str], strict: bool, counter: RedactionCounter | None) -> str:
    """Keep scheme and host; redact credentials, an IP host, and the path/query/fragment."""
    auth = m.group("u_auth") or ""
    rest = m.group("u_rest") or ""
    if rest:
        rest, trailing = _split_trailing(rest)
    else:
        auth, trailing = _split_trailing(auth)
    parts = [m.string[m.start() : m.start("u_auth")]]
    userinfo, at, hostport = auth.rpartition("@")
    if at:
        parts.append((userinfo if MARKER.fullmatch(userinfo) else _redacted(counter)) + "@")
    host, colon, port = hostport.partition(":")
    if not host or _public_host(host.lower()) or _MARKER_HOST.fullmatch(hostport):
        parts.append(hostport)
    else:  # an internal or private host name, an IP, a cloud name that embeds an IP
        parts.append(_redacted(counter, "host") + (colon + port if port.isdigit() else ""))
    if len(rest) > 1 and not MARKER.fullmatch(rest[1:]):
        rest = rest[0] + _redacted(counter, "path")
    parts.append(rest)
    parts.append(trailing)
    return "".join(parts)


# A host an earlier pass replaced: the marker and at most a port, nothing glued to it.
_MARKER_HOST = re.compile(rf"{MARKER.pattern}(?::\d{{0,5}})?")


def _public_host(host: str) -> bool:
    from otel_axolotl.privacy.vocabulary import vocabulary

    return host in vocabulary().hosts


def _bearer(m: re.Match[str], strict: bool, counter: RedactionCounter | None) -> str:
    return m.string[m.start() : m.start("b_tok")] + _redacted(counter)


def _basic(m: re.Match[str], strict: bool, counter: RedactionCounter | None) -> str:
    """Redact only a real ``user:password`` payload, so prose such as "Basic usage" survives."""
    token = m.group("ba_tok")
    head = m.string[m.start() : m.start("ba_tok")]
    try:
        decoded = base64.b64decode(token, validate=True)
    except (binascii.Error, ValueError):
        decoded = b""
    if b":" in decoded and decoded.isascii() and decoded.decode("ascii").isprintable():
        return head + _redacted(counter)
    return head + _scrub(token, strict, counter)  # no space inside: one level deep


_HANDLERS: dict[str | None, _Handler] = {
    "pem": _whole,
    "urlcred": _url_cred,
    "url": _url,
    "bearer": _bearer,
    "basic": _basic,
    "jwt": _whole,
    "webhook": _whole,
    "email": _email,
    "ipv4": _ipv4,
    "ipv6_full": _address,
    "ipv6": _address,
    "ipv6_lead": _address,
    "mac": _address,
    "mac_dash": _address,
    "qpath": _quoted_path,
    "hpath": _path,
    **{f"path_{i}": _path for i in range(len(_PATH_STARTS))},
    **dict.fromkeys(re.findall(r"\(\?P<(t_\w+)>\)", "".join(_TOKENS)), _whole),
}


def _scrub(text: str, strict: bool, counter: RedactionCounter | None) -> str:
    if len(text) < _SHORT_LIMIT and text.isidentifier():
        return text  # "cosine", "adamw_torch", "bf16": no rule can match (see _SHORT_LIMIT)
    candidate = _CANDIDATE.search(text)
    if candidate is None and _ANY_GATE[strict].search(text) is None:
        return text
    if "-----BEGIN" in text:
        text = _PEM_BLOCK.sub(lambda m: _redacted(counter), text)
    if _SHAPES_GATE[strict].search(text) is not None or (
        len(text) >= _HEX40_LEN and _HEX40_GATE.search(text) is not None
    ):

        def replace(m: re.Match[str]) -> str:
            return _HANDLERS[m.lastgroup](m, strict, counter)

        text = _SHAPES[strict].sub(replace, text)
    if candidate is not None:  # a long token: the maintained detector, entropy, base64 (detector.py)
        text = redact_secret_tokens(text, counter)
    if _KEYED_GATE.search(text) is None:
        return text
    return _keyed(text, counter)


def scrub_text(text: str, level: Level = Level.STRICT, counter: RedactionCounter | None = None) -> str:
    """Replace every secret (and, at STRICT, every personal value) in ``text`` with a marker.

    Whole tokens go: ``token=hf_abc...`` becomes ``token=[REDACTED:secret]``, ``/home/alice/x.json``
    becomes ``[REDACTED:path]``, ``https://u:p@db.corp/x`` becomes
    ``https://[REDACTED:secret]@[REDACTED:host]/[REDACTED:path]`` (STRICT) or
    ``https://[REDACTED:secret]@db.corp/x`` (SECRETS_ONLY). Each replacement adds one to
    ``counter``. Non-str input is returned unchanged; an unknown level counts as STRICT.
    The result is stable: scrubbing it again changes nothing.
    """
    if not isinstance(text, str):
        return text
    text = normalize(text)
    strict = not (level is _SECRETS_ONLY or level == _SECRETS_ONLY)
    out = _scrub(text, strict, counter)
    if out == text:
        return out  # nothing matched: already the fixed point, at the cost of one pass
    return settled(lambda t: _scrub(t, strict, counter), out, counter)


def scrub_pass(text: str, level: Level, counter: RedactionCounter | None = None) -> str:
    """One pass of :func:`scrub_text`'s rules, not settled: for a caller that settles a larger
    pass of its own (``strict.strict_text``), so the rules are not run to a fixed point twice."""
    return _scrub(normalize(text), not (level is _SECRETS_ONLY or level == _SECRETS_ONLY), counter)


_MAX_PASSES = 4


def settled(scrub: Callable[[str], str], text: str, counter: RedactionCounter | None = None) -> str:
    """``scrub`` applied until its output no longer changes: the fixed point, in one call.

    Why: a replacement changes what its neighbours look like. ``x~A`` is a word, but once
    ``x`` is a marker, ``]~A`` starts a home path; a rule judges each piece in the context
    the previous pass left. Running again until nothing changes makes every result stable
    (scrubbing it again changes nothing), whatever rule a later change adds. Text that no
    rule touches costs one pass; text that changed costs one pass more. Text that has not
    settled after ``_MAX_PASSES`` (no known input does that) fails closed to one marker.
    """
    for _ in range(_MAX_PASSES):
        out = scrub(text)
        if out == text:
            return out
        text = out
    return _redacted(counter, "text")


_INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
    "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0]"
)


def normalize(text: str) -> str:
    """What the rules see: without invisible characters (zero-width spaces and joiners, bidi
    marks, soft hyphens), in NFKC form (full-width and other compatibility forms folded), so
    that ``hf_\u200babc...`` or a full-width token cannot slip past a shape. ASCII text (almost
    all of it) is returned at once."""
    if text.isascii():
        return text
    import unicodedata

    return unicodedata.normalize("NFKC", _INVISIBLE.sub("", text))
