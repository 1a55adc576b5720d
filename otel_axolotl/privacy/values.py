"""Value rules: find secrets and personal data inside free text and replace them with a marker.

Every string that leaves the process (attribute values, event properties, exception messages,
stack traces) goes through :func:`scrub_text`, so the rules have to be both thorough and cheap:
the span benchmark allows about 2 µs per attribute. Hence precompiled alternations, and one
literal-anchored "gate" search that clears most strings at once (how: see the comment block
below the counter).

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
import functools
import re
import threading
from collections.abc import Callable

from otel_axolotl.privacy.detector import CANDIDATE as _CANDIDATE
from otel_axolotl.privacy.detector import redact_secret_tokens
from otel_axolotl.privacy.keys import is_secret_key
from otel_axolotl.privacy.markers import MARKER, marker

__all__ = ["Level", "RedactionCounter", "scrub_text"]


class Level(str, enum.Enum):
    """How much a destination may see. Compares equal to its string value."""

    STRICT = "strict"
    """Product analytics and the default everywhere: secrets and personal data removed."""
    SECRETS_ONLY = "secrets-only"
    """The user's own backend, on request: paths and names kept, secrets still removed."""


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


# --- how the scan stays cheap --------------------------------------------------------------
# Measured on CPython 3.11: the regex engine skips an alternative in about a nanosecond when
# the alternative's FIRST operation is a literal or a character class that the current
# character fails, but pays a full attempt (tens of ns) when it starts with a look-around or
# a group, or with a class that most characters pass. Rules written the obvious way cost
# ~0.8 µs per character. So:
#
# 1. Two passes. SHAPES finds values by their form (tokens, URLs, paths, addresses); KEYED
#    finds ``key=value`` pairs whose key says secret. KEYED runs second, over text whose
#    shapes are already gone, so it never has to re-scan a value it consumes.
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

_TOKEN_BODY = r"[A-Za-z0-9_\-]"
_KEYCH = r"[A-Za-z0-9_.\-]"

# --- SHAPES --------------------------------------------------------------------------------

_PEM = (
    r"-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY[A-Z ]{0,20}-----[\s\S]*?"
    r"(?:-----END[A-Z0-9 ]{0,40}PRIVATE KEY[A-Z ]{0,20}-----|\Z)(?P<pem>)"
)
# No boundary before the scheme: "1http://u:p@h" must lose its credentials too.
_SCHEME = r"[A-Za-z][A-Za-z0-9+.\-]{0,30}://"
# secrets-only: only the credentials part of a URL matters.
_URL_CRED = rf"{_SCHEME}(?P<uc_user>[^\s/?#'\"`<>]+)@(?P<urlcred>)"
# strict: the whole URL; the replacement keeps scheme and host and redacts the rest.
_URL = rf"{_SCHEME}(?P<u_auth>[^\s/?#'\"`<>]*)(?P<u_rest>[/?#][^\s'\"`<>]*)?(?P<url>)"
_BEARER = r"[Bb](?<![A-Za-z0-9].)earer[ \t]+(?P<b_tok>[A-Za-z0-9\-._~+/]{8,}=*)(?P<bearer>)"
_BASIC = r"[Bb](?<![A-Za-z0-9].)asic[ \t]+(?P<ba_tok>[A-Za-z0-9+/]{4,}={0,2})(?![A-Za-z0-9+/=])(?P<basic>)"
_JWT = rf"eyJ{_TOKEN_BODY}{{10,}}\.{_TOKEN_BODY}{{5,}}(?:\.{_TOKEN_BODY}*){{1,3}}(?P<jwt>)"
_TOKENS = (
    r"hf_[A-Za-z0-9]{30,}(?P<t_hf>)",  # Hugging Face user token
    r"api_org_[A-Za-z0-9]{30,}(?P<t_hf_org>)",  # Hugging Face org token
    # sk-, sk-proj-, sk-ant- ...; not inside a word ("task-", "mask-rcnn-...").
    rf"s(?<![A-Za-z0-9]s)k-{_TOKEN_BODY}{{20,}}(?P<t_openai>)",
    r"gh[pousr]_[A-Za-z0-9]{36,}(?P<t_github>)",
    r"github_pat_[A-Za-z0-9_]{22,}(?P<t_github_pat>)",
    rf"wandb_v1_{_TOKEN_BODY}{{20,}}(?P<t_wandb>)",
    r"xox[abposr]-[A-Za-z0-9\-]{10,}(?P<t_slack>)",  # Slack bot, user, app-level tokens
    r"xapp-[0-9]-[A-Za-z0-9\-]{10,}(?P<t_slack_app>)",
    r"[rsp]k_(?:live|test)_[A-Za-z0-9]{10,}(?P<t_stripe>)",  # Stripe secret/restricted/publishable
    r"whsec_[A-Za-z0-9]{16,}(?P<t_stripe_wh>)",
    r"pypi-AgE[A-Za-z0-9_\-]{16,}(?P<t_pypi>)",
    r"npm_[A-Za-z0-9]{30,}(?P<t_npm>)",
    r"gl(?:pat|dt|ft|soat|rt|cbt|imt|ptt|agent|oas)-[A-Za-z0-9_\-]{16,}(?P<t_gitlab>)",
    r"GR1348941[A-Za-z0-9_\-]{16,}(?P<t_gitlab_runner>)",
    r"AIza[A-Za-z0-9_\-]{30,}(?P<t_google>)",  # Google API key
    r"ya29\.[A-Za-z0-9_\-]{20,}(?P<t_google_oauth>)",
    r"gsk_[A-Za-z0-9]{20,}(?P<t_groq>)",
    r"xai-[A-Za-z0-9]{20,}(?P<t_xai>)",
    r"r8_[A-Za-z0-9]{20,}(?P<t_replicate>)",
    r"dop_v1_[a-f0-9]{32,}(?P<t_digitalocean>)",
    r"dapi[a-f0-9]{32}(?P<t_databricks>)",
    r"SG\.[A-Za-z0-9_\-]{16,}\.[A-Za-z0-9_\-]{16,}(?P<t_sendgrid>)",
    # W&B classic key: 40 lowercase hex on its own. Git commit SHAs look the same: they go too.
    r"[0-9a-f](?<![A-Za-z0-9].)[0-9a-f]{39}(?![A-Za-z0-9])(?P<t_hex40>)",
    # AWS access key id: AKIA/ASIA + 16; from 12 on, so a truncated or mistyped one goes too.
    r"A(?<![A-Za-z0-9]A)(?:KIA|SIA)[A-Z0-9]{12,}(?![A-Za-z0-9])(?P<t_aws>)",
)
# ``\w`` is Unicode here: ``jürgen@müller.de`` and ``用户@例子.中国`` are addresses too.
_EMAIL = (
    r"[\w.%+\-](?<![\w.%+\-].)[\w.%+\-]*@[\w\-]+(?:\.[\w\-]+)*"
    r"\.[^\W\d_]{2,}(?!\w)(?P<email>)"
)
# Octets are checked in the replacement; a version such as 3.11.7 has only three parts.
_IPV4 = r"[0-9](?<![A-Za-z0-9.].)[0-9]{0,2}(?:\.[0-9]{1,3}){3}(?![A-Za-z0-9]|\.[0-9])(?P<ipv4>)"
_HEX = "[0-9A-Fa-f]"
_H4 = _HEX + "{1,4}"
# An address may be followed by ":" ("fe80::1: unreachable"), not by ":" and more hex.
_V6_END = r"(?![A-Za-z0-9]|:[0-9A-Fa-f:]|\.[A-Za-z0-9])"
# IPv6 needs 8 groups, or ``::`` and a group, so times (12:30:45) and C++ names (c10::Error)
# survive. MAC addresses: six pairs.
_IPS = (
    rf"{_HEX}(?<![A-Za-z0-9:.].){_HEX}{{0,3}}:(?:{_H4}:){{6}}{_H4}{_V6_END}(?P<ipv6_full>)",
    rf"{_HEX}(?<![A-Za-z0-9:.].){_HEX}{{0,3}}:(?:{_H4}:){{0,6}}:(?:{_H4}(?::{_H4}){{0,6}})?{_V6_END}(?P<ipv6>)",
    rf":(?<![A-Za-z0-9:.]:):{_H4}(?::{_H4}){{0,6}}{_V6_END}(?P<ipv6_lead>)",
    rf"{_HEX}(?<![A-Za-z0-9:].){_HEX}(?::{_HEX}{{2}}){{5}}(?![A-Za-z0-9]|:[0-9A-Fa-f])(?P<mac>)",
    rf"{_HEX}(?<![A-Za-z0-9\-].){_HEX}(?:-{_HEX}{{2}}){{5}}(?![A-Za-z0-9]|-[0-9A-Fa-f])(?P<mac_dash>)",
    _IPV4,
)
# A path starts a token: it may follow anything but a character that continues a word or a
# path (letters, digits, ``_ . - / \ ~ % @``), so after a space, a quote, ``= : , ; ( [ {``
# (``PATH=/a:/b``, ``file:/x``), ``+``, ``|``, ``<`` ... Relative paths
# (``site-packages/torch/x.py``, ``./data``, ``models/llama``) never start one.
_NOT_PRE = r"[A-Za-z0-9_.\-/\\~%@]"
_PATH_STARTS = (
    # /home/u, /var/lib/x, /models/m; never // (URLs); never a closing tag (</s>, </think>).
    rf"/(?<!{_NOT_PRE}/)(?=[^\s/'\"`<>|,;])(?![A-Za-z0-9_|]+>)",
    rf"~(?<!{_NOT_PRE}~)(?=[/A-Za-z_])",  # ~/x, ~user, ~user/x; not ~16GB
    rf"[A-Za-z](?<!{_NOT_PRE}.):[\\/]",  # C:\Users\u, D:/data
    rf"\\(?<!{_NOT_PRE}\\)\\+(?=[A-Za-z0-9_.$\-])",  # \\server\share (and its repr \\\\server)
    r"/(?<![:A-Za-z0-9_.\-/\\~%@]/)/(?=[A-Za-z0-9_.$\-])",  # //server/share
)
# A home folder may hold spaces (``C:\\Users\\John Smith\\x``, ``/Users/John Smith/x``): up to
# four words, when a separator follows them.
_SEGMENT = r"[^\\/\s'\"`<>|:,;]+"
_HOME_PATH = (
    rf"(?:[A-Za-z](?<!{_NOT_PRE}.):[\\/]|/(?<!{_NOT_PRE}/))(?:[Uu]sers|home|Documents and Settings)[\\/]"
    rf"{_SEGMENT}(?: {_SEGMENT}){{1,3}}(?=[\\/])[^\s'\"`<>|,;]*(?P<hpath>)"
)
_PATHS = tuple(rf"{start}[^\s'\"`<>|,;]*(?P<path_{i}>)" for i, start in enumerate(_PATH_STARTS))
# Inside quotes a path may contain spaces ('/home/alice/My Documents/x.txt').
_QUOTED_PATH = rf"['\"`](?:{'|'.join(_PATH_STARTS)})[^'\"`\n]*(?=['\"`])(?P<qpath>)"

# Webhook URLs carry their credential in the path: the whole URL goes, at every level.
_WEBHOOK = (
    rf"{_SCHEME}(?:hooks\.slack\.com/|discord(?:app)?\.com/api/webhooks/|[A-Za-z0-9.\-]*webhook\.office\.com/"
    r"|hooks\.zapier\.com/|chat\.googleapis\.com/v1/spaces/)[^\s'\"`<>]*(?P<webhook>)"
)
_SECRET_SHAPES = (_JWT, *_TOKENS, _BEARER, _BASIC)
# Gates: every alternative starts with a literal character, so the engine first jumps from
# one candidate character to the next in a tight loop (most characters of ordinary text are
# not candidates) and only there tries the alternatives; the look-behinds then check the
# characters before the anchor.
_SECRET_GATES = (
    r"-----BEGIN", r"J(?<=eyJ)", r"_(?<=hf_)", r"_(?<=api_)org_", r"-(?<=sk-)",
    r"_(?<=gh[pousr]_)", r"_(?<=github_)pat_", r"_(?<=wandb_)v1_", r"K(?<=AK)IA", r"S(?<=AS)IA",
    r"Bearer[ \t]", r"bearer[ \t]", r"Basic[ \t]", r"basic[ \t]",
    r"xox[abposr]-", r"xapp-", r"k_live_", r"k_test_", r"whsec_", r"pypi-AgE", r"npm_",
    r"-(?<=gl[a-z]{2}-)", r"-(?<=gl[a-z]{3}-)", r"-(?<=gl[a-z]{4}-)", r"-(?<=glagent-)", r"GR1348941",
    r"AIza", r"ya29\.", r"gsk_", r"xai-", r"r8_", r"dop_v1_", r"dapi", r"SG\.",
    r"://(?=hooks\.slack|discord|[A-Za-z0-9.\-]*webhook\.office|hooks\.zapier|chat\.googleapis)",
)  # fmt: skip
_PERSONAL_GATES = (
    r"@",
    rf"/(?<!{_NOT_PRE}/)",
    rf"~(?<!{_NOT_PRE}~)",
    r":[\\/]",  # drive letters; URLs
    r"\\\\",
    r"\.(?<=[0-9]\.)[0-9]{1,3}\.[0-9]{1,3}\.[0-9]",  # IPv4
    r"::",  # compressed IPv6
    rf":{_H4}:{_H4}:{_H4}:",  # full IPv6, MAC
    rf"-{_HEX}{{2}}-{_HEX}{{2}}-{_HEX}{{2}}-",  # MAC written with dashes
)
# Order matters only between alternatives that can start at the same character.
_SHAPES = {
    False: re.compile("|".join((_WEBHOOK, _URL_CRED, *_SECRET_SHAPES))),
    True: re.compile(
        "|".join((_WEBHOOK, _URL, _EMAIL, _HOME_PATH, _QUOTED_PATH, *_PATHS, *_IPS, *_SECRET_SHAPES))
    ),
}
# A PEM block spans lines and spaces, so it goes first, on its own: no shorter match that
# starts earlier (a path "/-----BEGIN") may cut it in two.
_PEM_BLOCK = re.compile(_PEM)
_SHAPES_GATE = {
    False: re.compile("|".join((*_SECRET_GATES, "://"))),
    True: re.compile("|".join((*_SECRET_GATES, *_PERSONAL_GATES))),
}
# The one shape without a literal anchor: 40 hex digits (W&B key). Looked for only in
# strings long enough to hold one.
_HEX40_LEN = 40
_HEX40_GATE = re.compile(r"[0-9a-f]{40}")

# --- KEYED ---------------------------------------------------------------------------------
# ``key=value``, ``key: value``, ``"key": "value"``, ``--key value``. The scan jumps between
# separators (``:`` and ``=``, rare characters), reads the key backwards from each, and asks
# keys.is_secret_key about it, so ``max_tokens=512`` and ``tokenizer: x`` keep their values
# and the free-text and tree rules agree. Only a secret key's value is consumed; everything
# else was already scrubbed by SHAPES, so nothing needs a second look.
_SEPARATOR = re.compile(r"[:=]")
# Read backwards from a separator: optional spaces, a quote (maybe escaped, as in a JSON
# string inside a message), the key, and possibly one word before it ("API Key: ...").
_KEY_BEFORE_REVERSED = re.compile(rf"[ \t]*[\"']?\\?({_KEYCH}+)(?:[ \t]+({_KEYCH}+))?")
_VALUE = re.compile(
    r"[ \t]*(?:"
    r"(?P<done>(?:(?i:bearer|basic|token|digest)[ \t]+)?\\?[\"']?\[REDACTED(?::[a-z]+)?\])"  # SHAPES did it
    r"|(?P<quoted>\"[^\"\n]*\"|'[^'\n]*')"
    r"|(?P<escaped>\\\"[^\"\n]*?\\\"|\\'[^'\n]*?\\')"  # \"value\" inside a JSON string
    r"|(?:(?i:bearer|basic|token|digest)[ \t]+)?[^\s,;&'\"`<>(){}\]]+"
    r")"
)
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
_KEYED_GATES = (":", "=", rf"-(?<!{_KEYCH}-)")
_KEYED_GATE = re.compile("|".join(_KEYED_GATES))
# One search decides for most strings that there is nothing to do: the union of all gates.
_ANY_GATE = {
    False: re.compile("|".join((*_SECRET_GATES, *_KEYED_GATES))),
    True: re.compile("|".join((*_SECRET_GATES, *_PERSONAL_GATES, *_KEYED_GATES))),
}
_FLAG = re.compile(
    rf"-(?<!{_KEYCH}-)(?P<flag>-?{_KEYCH}*?{_KW}{_KEYCH}*)(?P<flag_sep>[ \t]+)"
    r"(?P<flag_val>\"[^\"\n]*\"|'[^'\n]*'|[^\s\-'\"`][^\s'\"`]*)"
)

# A string shorter than this that is a plain identifier (letters, digits, ``_``) cannot hold
# anything: every rule needs a character such as ``: = - . / @ ~`` or whitespace, except the
# token shapes, the shortest of which is 16 characters (AKIA + 12).
_SHORT_LIMIT = 16

_TRAILING_PUNCTUATION = ".,:;!?)]}>"
_SECRETS_ONLY = Level.SECRETS_ONLY


# --- replacements --------------------------------------------------------------------------

_Handler = Callable[[re.Match[str], bool, "RedactionCounter | None"], str]


def _redacted(counter: RedactionCounter | None, reason: str = "secret") -> str:
    if counter is not None:
        counter.add()
    return marker(reason)


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
    if not host or _public_host(host.lower()) or MARKER.match(hostport):
        parts.append(hostport)
    else:  # an internal or private host name, an IP, a cloud name that embeds an IP
        parts.append(_redacted(counter, "host") + colon + (port if port.isdigit() else ""))
    if len(rest) > 1 and not MARKER.fullmatch(rest[1:]):
        rest = rest[0] + _redacted(counter, "path")
    parts.append(rest)
    parts.append(trailing)
    return "".join(parts)


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
        return value[0] + _redacted(counter) + value[0]
    if len(value) >= 4 and value[0] == "\\" and value[1] in "'\"" and value[-2:] == value[:2]:
        return value[:2] + _redacted(counter) + value[:2]
    return _redacted(counter)


def _keyed(text: str, counter: RedactionCounter | None) -> str:
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
    return _scrub(normalize(text), not (level is _SECRETS_ONLY or level == _SECRETS_ONLY), counter)


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
