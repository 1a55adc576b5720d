"""Secret tokens that no shape rule of ours names: a maintained detector, entropy and base64.

Why a detector library: a private pattern list grows one leaked case at a time. Yelp's
``detect-secrets`` (Apache-2.0, one plugin per token family) maintains regular expressions for
27 families (AWS, Azure storage, Artifactory, Discord, GitHub, GitLab, JWT, Mailchimp, npm,
OpenAI, PyPI, SendGrid, Slack, Square, Stripe, Telegram, Twilio, ...). We use its rule set, not
its scanner: ``scan_line`` costs ~500 µs per short string (measured, README), the same rules
compiled into one expression cost ~1-3 µs on a short string. Its keyword and entropy plugins
are replaced by our own key rules (``keys.py``) and the entropy rule below, which are tuned to
keep model names and run ids.

Cost control: only a *candidate* (a run of 16 or more token characters, ``CANDIDATE``) is ever
looked at, and the stage caches short strings, so a repeated value is judged once.

The library is imported by :func:`load` when a destination is built (the manager does it once,
~120 ms), never at ``import otel_axolotl``. Without it (not installed, broken) our own rules in
``values.py`` still run and one warning says the detector is off.
"""

from __future__ import annotations

import base64
import binascii
import functools
import logging
import math
import re
import threading
from collections import Counter
from typing import Any

__all__ = ["CANDIDATE", "is_secret_token", "load", "redact_secret_tokens"]

_logger = logging.getLogger("otel_axolotl")

CANDIDATE = re.compile(r"[A-Za-z0-9_\-+/.]{16,}={0,2}")
"""A token long enough to be a credential; shorter ones are never looked at here."""

# detect-secrets plugins whose rules are token shapes. Left out: keyword, cloudant, IBM and
# softlayer plugins (key-name rules: ours are in keys.py), high-entropy plugins (ours is below),
# IP addresses and private keys (shapes.py has its own), basic auth (shapes.py, URL userinfo).
_PLUGIN_MODULES = (
    "artifactory", "aws", "azure_storage_key", "discord", "github_token", "gitlab_token", "jwt",
    "mailchimp", "npm", "openai", "pypi_token", "sendgrid", "slack", "square_oauth", "stripe",
    "telegram_token", "twilio",
)  # fmt: skip

_lock = threading.Lock()
_state: dict[str, Any] = {}


def load() -> bool:
    """Compile detect-secrets' token rules once; True when the detector is on. Never raises."""
    if "rules" in _state:
        return _state["rules"] is not None
    with _lock:
        if "rules" not in _state:
            _state["rules"] = _compile()
    return _state["rules"] is not None


def _compile() -> re.Pattern[str] | None:
    try:
        import importlib

        from detect_secrets.plugins.base import RegexBasedDetector

        patterns: list[str] = []
        for name in _PLUGIN_MODULES:
            module = importlib.import_module(f"detect_secrets.plugins.{name}")
            for value in vars(module).values():
                if (
                    isinstance(value, type)
                    and issubclass(value, RegexBasedDetector)
                    and value is not RegexBasedDetector
                ):
                    denylist: Any = value.denylist  # a class attribute (a property on instances)
                    # A rule needing ":" can never match a candidate (none holds one), and such
                    # rules ("//.+/:_authToken") backtrack quadratically on long runs of "/".
                    patterns.extend(
                        p.pattern for p in denylist if not p.flags & re.VERBOSE and ":" not in p.pattern
                    )
        return re.compile("|".join(f"(?:{p})" for p in dict.fromkeys(patterns)))
    except Exception as exc:  # not installed, or an incompatible release
        _logger.warning(
            "otel-axolotl: the detect-secrets rule set is unavailable (%s); only otel-axolotl's own "
            "secret rules apply",
            type(exc).__name__,
        )
        return None


def _rules() -> re.Pattern[str] | None:
    if "rules" not in _state:
        load()
    rules: re.Pattern[str] | None = _state["rules"]
    return rules


# --- entropy ---------------------------------------------------------------------------------
_PIECES = re.compile(r"[-_.]+")
_HEX = frozenset("0123456789abcdef")
_PATH_WORD = re.compile(r"[A-Z]?[a-z]{2,}")  # "Users", "models", "home": a folder, not base64


def _entropy(text: str) -> float:
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in Counter(text).values())


def _high_entropy(piece: str) -> bool:
    """A random-looking run of 20 or more characters: mixed case and digits, or a long
    single-case run of letters and digits that is not hex (32-hex run ids and UUIDs stay;
    40-hex keys are a shape rule in shapes.py)."""
    n = len(piece)
    if n < 20:
        return False
    if "/" in piece and any(_PATH_WORD.fullmatch(part) for part in piece.split("/")):
        # a path ("/Users/zq0567/models/x") is not a key: judge its parts
        return any(_high_entropy(part) for part in piece.split("/") if len(part) >= 20)
    digits = sum(c.isdigit() for c in piece)
    upper = sum(c.isupper() for c in piece)
    lower = sum(c.islower() for c in piece)
    if digits and upper and lower:
        entropy = _entropy(piece)
        # Measured: random base62 runs of 24+ score >= 0.845 of the maximum 98 % of the time;
        # class names (Qwen2ForSequenceClassification) score <= 0.83.
        if n >= 24 and entropy >= 0.845 * math.log2(n):
            return True
        if digits >= 2 and upper >= 2 and lower >= 2 and entropy >= 3.6:
            return True
        # A long run with one digit: random base62 has as many capitals as small letters;
        # a class name has a capital per word (LlamaForCausalLM: 5 of 16 letters is the
        # acronym-heavy end). Measured on 400 000 random runs of 32-48: 2 in 100 000 missed.
        return n >= 32 and upper >= 0.3 * (upper + lower) and lower >= 2 and entropy >= 3.6
    # One case of letters and a digit, 32 or more characters without a separator: nobody
    # writes a name like that (long names have "_", "-", "." or capitals), a machine does:
    # a key, a token, a base32 hash. Hex is left to the hex rules (run ids, commit hashes);
    # words run together without a digit ("internationalization") stay. The entropy floor
    # keeps padding ("0000...0a"); random runs of 36 lower-case letters and digits score 3.6+.
    letters = upper + lower
    if n >= 32 and digits and letters >= 8 and not (upper and lower) and not set(piece.lower()) <= _HEX:
        return _entropy(piece) >= 3.0
    return False


_B64 = re.compile(r"[A-Za-z0-9+/]{24,}={0,2}|[A-Za-z0-9_\-]{24,}={0,2}")


def _wraps_secret(token: str) -> bool:
    """A base64 (or base64url) token whose decoded text holds a secret (``aGZfYWJj...``)."""
    if _B64.fullmatch(token) is None or token.startswith("/") or "//" in token:
        return False  # a path of names is not base64
    body = token.rstrip("=")
    try:
        raw = base64.b64decode(
            body + "=" * (-len(body) % 4), altchars=b"-_" if ("-" in body or "_" in body) else None
        )
    except (binascii.Error, ValueError):
        return False
    if not raw or not raw.isascii():
        return False
    decoded = raw.decode("ascii")
    if len(decoded) < 12 or not decoded.isprintable():
        return False
    from otel_axolotl.privacy.values import Level, scrub_text

    return scrub_text(decoded, Level.SECRETS_ONLY) != decoded


_HEX_RUN = re.compile(r"(?:[0-9a-fA-F]{2}){16,}")


def _hex_wraps_secret(token: str) -> bool:
    """A hex-encoded token whose decoded text holds a secret (``68665f...`` = ``hf_...``).
    Random hex (run ids, hashes) decodes to bytes that are not printable text: not judged."""
    if _HEX_RUN.fullmatch(token) is None:
        return False
    raw = bytes.fromhex(token)
    if not raw.isascii():
        return False
    decoded = raw.decode("ascii")
    if not decoded.isprintable():
        return False
    from otel_axolotl.privacy.values import Level, scrub_text

    return scrub_text(decoded, Level.SECRETS_ONLY) != decoded


@functools.lru_cache(maxsize=4096)
def _judge(token: str) -> bool:
    rules = _rules()
    if rules is not None and rules.search(token) is not None:
        return True
    if any(_high_entropy(piece) for piece in _PIECES.split(token) if len(piece) >= 20):
        return True
    return len(token) >= 24 and (_wraps_secret(token) or _hex_wraps_secret(token))


_WINDOW, _STEP = 512, 384
"""A longer candidate is judged in overlapping windows: the cost stays linear in its length
(a secret is far shorter than the overlap, so each one lies whole in some window)."""


def is_secret_token(token: str) -> bool:
    """True if ``token`` (one candidate, no spaces) is a credential by the detector's rules, by
    its entropy, or by what its base64 or hex decoding holds. Cached for tokens up to 256
    characters; longer ones are judged window by window."""
    if len(token) <= 256:
        return _judge(token)
    if len(token) <= _WINDOW:
        return _judge.__wrapped__(token)
    starts = [*range(0, len(token) - _WINDOW, _STEP), len(token) - _WINDOW]  # the tail too
    return any(_judge.__wrapped__(token[start : start + _WINDOW]) for start in starts)


# What may continue a key past the candidate's characters (``~`` and the like are legal in
# many token alphabets): once a candidate is a secret, they are taken as part of it, so no
# tail of the key is left, and none is left to look like something else ("]~A", a path).
_TAIL = re.compile(r"(?:[~!*%^#$]+[A-Za-z0-9_\-+/.=]*)*")


def redact_secret_tokens(text: str, counter: Any = None) -> str:
    """Every candidate in ``text`` that :func:`is_secret_token` flags becomes ``[REDACTED:secret]``."""
    from otel_axolotl.privacy.markers import marker

    parts: list[str] = []
    done = 0
    for match in CANDIDATE.finditer(text):
        token = match.group(0).rstrip(".")
        if not is_secret_token(token):
            continue
        parts.append(text[done : match.start()])
        parts.append(marker("secret"))
        if counter is not None:
            counter.add()
        done = match.start() + len(token)
        if token == match.group(0):  # "Zq00...Aa~A": the rest of the key goes with it
            done += len(_TAIL.match(text, done).group(0).rstrip("."))  # type: ignore[union-attr]
    if not parts:
        return text
    parts.append(text[done:])
    return "".join(parts)
