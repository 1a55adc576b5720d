"""Shape rules: the regular expressions that find a secret or a personal value by its form.

Tokens (Hugging Face, OpenAI, GitHub, AWS ...), JWTs, ``Bearer``/``Basic`` values, URLs and
their credentials, webhook URLs, e-mail, IPv4, IPv6 and MAC addresses, absolute and home
paths, PEM private keys: ``values.py`` runs these and decides what replaces each match (by
the empty group that names the alternative, ``match.lastgroup``).

Why the rules look the way they do (a literal or a class first, the boundary test right after
it, a gate for every rule): see "how the scan stays cheap" in ``values.py``. A new rule needs
an entry in ``SECRET_GATES`` or ``PERSONAL_GATES``, or it is silently skipped.
"""

from __future__ import annotations

import re

__all__ = [
    "HEX40_GATE",
    "HEX40_LEN",
    "PATH_STARTS",
    "PEM_BLOCK",
    "PERSONAL_GATES",
    "SECRET_GATES",
    "SHAPES",
    "SHAPES_GATE",
    "TOKENS",
]

_TOKEN_BODY = r"[A-Za-z0-9_\-]"

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
TOKENS = (
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
PATH_STARTS = (
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
_PATHS = tuple(rf"{start}[^\s'\"`<>|,;]*(?P<path_{i}>)" for i, start in enumerate(PATH_STARTS))
# Inside quotes a path may contain spaces ('/home/alice/My Documents/x.txt').
_QUOTED_PATH = rf"['\"`](?:{'|'.join(PATH_STARTS)})[^'\"`\n]*(?=['\"`])(?P<qpath>)"

# Webhook URLs carry their credential in the path: the whole URL goes, at every level.
_WEBHOOK = (
    rf"{_SCHEME}(?:hooks\.slack\.com/|discord(?:app)?\.com/api/webhooks/|[A-Za-z0-9.\-]*webhook\.office\.com/"
    r"|hooks\.zapier\.com/|chat\.googleapis\.com/v1/spaces/)[^\s'\"`<>]*(?P<webhook>)"
)
_SECRET_SHAPES = (_JWT, *TOKENS, _BEARER, _BASIC)
# Gates: every alternative starts with a literal character, so the engine first jumps from
# one candidate character to the next in a tight loop (most characters of ordinary text are
# not candidates) and only there tries the alternatives; the look-behinds then check the
# characters before the anchor.
SECRET_GATES = (
    r"-----BEGIN", r"J(?<=eyJ)", r"_(?<=hf_)", r"_(?<=api_)org_", r"-(?<=sk-)",
    r"_(?<=gh[pousr]_)", r"_(?<=github_)pat_", r"_(?<=wandb_)v1_", r"K(?<=AK)IA", r"S(?<=AS)IA",
    r"Bearer[ \t]", r"bearer[ \t]", r"Basic[ \t]", r"basic[ \t]",
    r"xox[abposr]-", r"xapp-", r"k_live_", r"k_test_", r"whsec_", r"pypi-AgE", r"npm_",
    r"-(?<=gl[a-z]{2}-)", r"-(?<=gl[a-z]{3}-)", r"-(?<=gl[a-z]{4}-)", r"-(?<=glagent-)", r"GR1348941",
    r"AIza", r"ya29\.", r"gsk_", r"xai-", r"r8_", r"dop_v1_", r"dapi", r"SG\.",
    r"://(?=hooks\.slack|discord|[A-Za-z0-9.\-]*webhook\.office|hooks\.zapier|chat\.googleapis)",
)  # fmt: skip
PERSONAL_GATES = (
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
SHAPES = {
    False: re.compile("|".join((_WEBHOOK, _URL_CRED, *_SECRET_SHAPES))),
    True: re.compile(
        "|".join((_WEBHOOK, _URL, _EMAIL, _HOME_PATH, _QUOTED_PATH, *_PATHS, *_IPS, *_SECRET_SHAPES))
    ),
}
# A PEM block spans lines and spaces, so it goes first, on its own: no shorter match that
# starts earlier (a path "/-----BEGIN") may cut it in two.
PEM_BLOCK = re.compile(_PEM)
SHAPES_GATE = {
    False: re.compile("|".join((*SECRET_GATES, "://"))),
    True: re.compile("|".join((*SECRET_GATES, *PERSONAL_GATES))),
}
# The one shape without a literal anchor: 40 hex digits (W&B key). Looked for only in
# strings long enough to hold one.
HEX40_LEN = 40
HEX40_GATE = re.compile(r"[0-9a-f]{40}")
