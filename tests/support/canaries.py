"""Hypothesis strategies for canaries: secrets and personal values that must never be exported.

Why: a privacy rule is only as good as the shapes it was tried on. These strategies make
valid-shaped random tokens of every secret family and personal values of every kind, and
plant them in configs, sentences and exception messages. A test then asserts that none of the
canary's *needles* (the substrings that must not survive) is left in what would be exported.

Personal values carry ``zq``-prefixed random parts (user names, directories) so a needle can
never occur by chance in the benign text around it. Shared by the unit property tests
(tests/privacy/test_properties.py) and the end-to-end tests.

    config, needles = data.draw(canary_config())
    exported = scrub_tree(config, level=Level.STRICT, whitelist=Whitelist.load())
    assert not leaked(exported, needles)
"""

from __future__ import annotations

import base64
import functools
import hashlib
import ipaddress
import string
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

__all__ = [
    "BENIGN_KEYS",
    "BENIGN_VALUES",
    "PERSONAL_KEYS",
    "WHITELISTED_MODELS",
    "Canary",
    "all_strings",
    "benign_config",
    "canary_config",
    "canary_sentence",
    "canary_traceback",
    "embedded",
    "leaked",
    "personal_canaries",
    "personal_values",
    "secret_canaries",
    "secret_values",
    "shape_personal_canaries",
]

ALNUM = string.ascii_letters + string.digits
UPPER_ALNUM = string.ascii_uppercase + string.digits
LOWER_HEX = "0123456789abcdef"
B64URL = ALNUM + "-_"
TOKEN68 = ALNUM + "-._~+/"

BENIGN_VALUES: tuple[Any, ...] = (
    "cosine", "adamw_torch", "bf16", "fp16", "linear", "alpaca", "chatml", "sharegpt",
    "paged_adamw_8bit", "cosine_with_restarts", "train-progress", "Training started", "auto",
    "3.11.7", "2.13.0+cpu", "4.46.0.dev0", "12:30:45", "0.0002", "1e-05", "warmup",
    0, 1, 3, 42, 1000, 2e-4, 0.95, 0.5, -1.0, True, False, None,
)  # fmt: skip
"""Config values that every level keeps unchanged under a benign key."""

BENIGN_KEYS: tuple[str, ...] = (
    "learning_rate", "optimizer", "lr_scheduler", "micro_batch_size", "gradient_accumulation_steps",
    "num_epochs", "seed", "bf16", "sequence_len", "sample_packing", "warmup_steps", "weight_decay",
    "max_grad_norm", "max_tokens", "num_tokens", "special_tokens", "pad_token_id", "eval_steps",
    "logging_steps", "adapter", "lora_r", "lora_alpha", "notes", "extra", "tags", "type",
)  # fmt: skip
"""Keys that are neither secret, nor path-like, nor name keys."""

WHITELISTED_MODELS: tuple[str, ...] = (
    "meta-llama/Llama-3.1-8B", "mistralai/Mistral-7B-v0.1", "Qwen/Qwen2.5-0.5B",
    "HuggingFaceTB/SmolLM2-135M", "google/gemma-2-2b", "NousResearch/Hermes-3-Llama-3.1-8B",
)  # fmt: skip

_WORDS = ("loss", "epoch", "step", "model", "the", "at", "warmup", "ok", "bf16", "0.5", "3.11.7", "done")
_SECRET_KEYS = (
    "hf_token", "HF_TOKEN", "password", "api_key", "OPENAI_API_KEY", "wandb_api_key",
    "client_secret", "access_token", "aws_secret_access_key", "private_key", "Authorization",
    "cookie", "session_key", "credentials", "signing_key", "db_pass", "passcode", "sig",
    "x-amz-signature", "AccountKey", "webhook_secret", "auth", "pwd",
)  # fmt: skip
_KV_VALUE = ALNUM + "_-.~+!*%^#"
_FLAGS = ("--hf_token", "--password", "--api-key")


@dataclass(frozen=True)
class Canary:
    """A value to plant and the substrings of it that must not survive."""

    family: str
    text: str
    needles: tuple[str, ...]
    secret: bool
    """True for a credential (removed at every level), False for personal data (strict)."""


def _chars(alphabet: str, size: int, max_size: int | None = None) -> st.SearchStrategy[str]:
    return st.text(alphabet=alphabet, min_size=size, max_size=size if max_size is None else max_size)


def _whole(
    family: str, strategy: st.SearchStrategy[str], *, secret: bool = True
) -> st.SearchStrategy[Canary]:
    return strategy.map(lambda text: Canary(family, text, (text,), secret))


def _zq(min_size: int = 4, max_size: int = 10) -> st.SearchStrategy[str]:
    """A distinctive random name part: never a substring of benign text by chance."""
    return _chars(string.ascii_lowercase + string.digits, min_size, max_size).map(lambda s: "zq" + s)


# --- secrets -------------------------------------------------------------------------------


@functools.cache
def _tokens() -> st.SearchStrategy[Canary]:
    """Secrets recognisable by shape alone: the whole string is the needle."""
    return st.one_of(
        _whole("hf", _chars(ALNUM, 34, 40).map(lambda s: "hf_" + s)),
        _whole("hf_org", _chars(ALNUM, 34).map(lambda s: "api_org_" + s)),
        _whole("openai", _chars(ALNUM, 48).map(lambda s: "sk-" + s)),
        _whole("openai_proj", _chars(B64URL, 40, 120).map(lambda s: "sk-proj-" + s)),
        _whole("wandb", _chars(LOWER_HEX, 40)),
        _whole("wandb_v1", _chars(ALNUM + "_", 40, 60).map(lambda s: "wandb_v1_" + s)),
        _whole(
            "github",
            st.tuples(st.sampled_from("pousr"), _chars(ALNUM, 36)).map(lambda t: f"gh{t[0]}_{t[1]}"),
        ),
        _whole("github_pat", _chars(ALNUM + "_", 82).map(lambda s: "github_pat_" + s)),
        _whole("aws", st.tuples(st.sampled_from(("AKIA", "ASIA")), _chars(UPPER_ALNUM, 16)).map("".join)),
        _whole(
            "jwt",
            st.tuples(_chars(B64URL, 12, 40), _chars(B64URL, 8, 60), _chars(B64URL, 16, 43)).map(
                lambda t: f"eyJ{t[0]}.eyJ{t[1]}.{t[2]}"
            ),
        ),
        _provider_tokens(),
    )


def _random(seed_and_size: tuple[bytes, int], alphabet: str) -> str:
    """A token that looks random (as real keys do) for any seed: SHA-256 stretched, in ``alphabet``."""
    seed, size = seed_and_size
    out = ""
    block = seed
    while len(out) < size:
        block = hashlib.sha256(block).digest()
        out += "".join(alphabet[b % len(alphabet)] for b in block)
    token = out[:size]
    if any(c.isdigit() for c in alphabet) and not any(c.isdigit() for c in token):
        token = token[:-1] + "7"
    if any(c.isupper() for c in alphabet) and not any(c.isupper() for c in token):
        token = "Q" + token[1:]
    return token


@functools.cache
def _provider_tokens() -> st.SearchStrategy[Canary]:
    """Issue 13's families: provider keys no rule of the first pass knew, wrapped and random ones."""
    lower_alnum = string.ascii_lowercase + string.digits
    return st.one_of(
        _whole(
            "slack",
            st.tuples(st.sampled_from("abposr"), _chars(string.digits, 10, 13), _chars(ALNUM, 24)).map(
                lambda t: f"xox{t[0]}-{t[1]}-{t[1]}-{t[2]}"
            ),
        ),
        _whole(
            "stripe",
            st.tuples(
                st.sampled_from(("sk", "rk", "pk")), st.sampled_from(("live", "test")), _chars(ALNUM, 24, 99)
            ).map(lambda t: f"{t[0]}_{t[1]}_{t[2]}"),
        ),
        _whole("pypi", _chars(B64URL, 70, 120).map(lambda s: "pypi-AgEIcHlwaS5vcmc" + s)),
        _whole("npm", _chars(ALNUM, 36).map(lambda s: "npm_" + s)),
        _whole(
            "gitlab",
            st.tuples(
                st.sampled_from(("glpat", "gldt", "glrt", "glcbt", "glptt")), _chars(B64URL, 20, 40)
            ).map(lambda t: f"{t[0]}-{t[1]}"),
        ),
        _whole("google_api", _chars(B64URL, 35).map(lambda s: "AIza" + s)),
        _whole("groq", _chars(ALNUM, 52).map(lambda s: "gsk_" + s)),
        _whole("anthropic", _chars(B64URL, 90, 100).map(lambda s: "sk-ant-api03-" + s)),
        _whole("xai", _chars(ALNUM, 80).map(lambda s: "xai-" + s)),
        _whole(
            "sendgrid", st.tuples(_chars(B64URL, 22), _chars(B64URL, 43)).map(lambda t: f"SG.{t[0]}.{t[1]}")
        ),
        _whole("digitalocean", _chars(LOWER_HEX, 64).map(lambda s: "dop_v1_" + s)),
        # A random key of no known family (Mistral, Cohere, a private service): by entropy. Drawn
        # as a seed and spread by SHA-256, so shrinking cannot make it a run of zeros.
        _whole(
            "high_entropy",
            st.tuples(st.binary(max_size=8), st.integers(32, 48)).map(lambda t: _random(t, ALNUM)),
        ),
        _whole(
            "high_entropy_lower",
            st.tuples(st.binary(max_size=8), st.integers(36, 48)).map(lambda t: _random(t, lower_alnum)),
        ),
        # A token wrapped in base64 (a Kubernetes secret, a basic-auth-like header).
        _whole(
            "base64_token",
            _chars(ALNUM, 34).map(lambda s: base64.b64encode(f"hf_{s}".encode()).decode()),
        ),
    )


@functools.cache
def _contextual_secrets() -> st.SearchStrategy[Canary]:
    """Secrets recognisable by what surrounds them; the needle is the secret part only."""
    secret_part = _chars(ALNUM, 12, 40).map(lambda s: "Zq" + s)  # letters first: never a number
    bearer = st.tuples(st.sampled_from(("Bearer", "bearer")), _chars(TOKEN68, 20, 60)).map(
        lambda t: Canary("bearer", f"{t[0]} zq{t[1]}", (f"zq{t[1]}",), True)
    )
    basic = st.tuples(_zq(), secret_part).map(lambda t: base64.b64encode(f"{t[0]}:{t[1]}".encode()).decode())
    url = st.tuples(
        st.sampled_from(("https", "http", "git+https", "postgres")),
        _zq(),
        secret_part,
        st.sampled_from(("hub.example.org", "localhost:8080", "git.example.com")),
        st.sampled_from(("", "/", "/org/repo.git", "/v1?x=1")),
    ).map(lambda t: Canary("url", f"{t[0]}://{t[1]}:{t[2]}@{t[3]}{t[4]}", (t[2],), True))
    key_value = st.tuples(
        st.sampled_from(_SECRET_KEYS),
        st.sampled_from(("=", ": ", " = ", ":")),
        _chars(_KV_VALUE, 10, 40).map(lambda s: "Zq" + s),
        st.sampled_from(("bare", "json", "repr", "escaped")),
    ).map(_key_value_canary)
    flag = st.tuples(st.sampled_from(_FLAGS), secret_part).map(
        lambda t: Canary("flag", f"{t[0]} {t[1]}", (t[1],), True)
    )
    pem = st.lists(_chars(ALNUM + "+/", 64), min_size=1, max_size=4).map(
        lambda lines: Canary(
            "pem",
            "-----BEGIN PRIVATE KEY-----\n" + "\n".join(lines) + "\n-----END PRIVATE KEY-----",
            tuple(lines),
            True,
        )
    )
    azure = st.tuples(
        st.just("mlstorageacct"), st.binary(max_size=8).map(lambda b: _random((b, 86), ALNUM + "+/") + "==")
    ).map(
        lambda t: Canary(
            "azure",
            f"DefaultEndpointsProtocol=https;AccountName={t[0]};AccountKey={t[1]};EndpointSuffix=core.windows.net",
            (t[1][:40],),
            True,
        )
    )
    env_pair = st.tuples(
        st.sampled_from(("DB_PASS", "SMTP_PASSWORD", "SIGNING_KEY", "MY_SERVICE_KEY", "PASSCODE", "X_SIG")),
        secret_part,
    ).map(lambda t: Canary("env_pair", f"{t[0]}={t[1]}", (t[1],), True))
    query = st.tuples(
        st.sampled_from(("?key=", "&sig=", "?X-Amz-Signature=", "&token=", "?api_key=", "?access_token=")),
        secret_part,
    ).map(lambda t: Canary("url_query", f"https://storage.example.org/b/o{t[0]}{t[1]}&v=1", (t[1],), True))
    webhook = st.tuples(
        st.sampled_from(
            (
                "https://hooks.slack.com/services/T{0}/B{0}/{1}",
                "https://discord.com/api/webhooks/{0}/{1}",
                "https://zqcorp.webhook.office.com/webhookb2/{0}/{1}",
            )
        ),
        _chars(UPPER_ALNUM, 9, 11),
        secret_part,
    ).map(lambda t: Canary("webhook", t[0].format(t[1], t[2]), (t[2],), True))
    flag_equals = st.tuples(st.sampled_from(("--api-key=", "--hf_token=", "--password=")), secret_part).map(
        lambda t: Canary("flag_equals", f"{t[0]}{t[1]}", (t[1],), True)
    )
    return st.one_of(
        bearer,
        basic.map(lambda b: Canary("basic", f"Basic {b}", (b,), True)),
        url,
        key_value,
        flag,
        pem,
        azure,
        env_pair,
        query,
        webhook,
        flag_equals,
    )


def _key_value_canary(parts: tuple[str, str, str, str]) -> Canary:
    key, sep, value, style = parts
    if style == "json":
        text = f'"{key}": "{value}"'
    elif style == "repr":
        text = f"'{key}': '{value}'"
    elif style == "escaped":  # JSON inside a string, as a message may carry it
        text = f'\\"{key}\\": \\"{value}\\"'
    else:
        text = f"{key}{sep}{value}"
    return Canary("key_value", text, (value,), True)


@functools.cache
def secret_canaries() -> st.SearchStrategy[Canary]:
    """Every secret family, by shape and by context."""
    return st.one_of(_tokens(), _contextual_secrets())


@functools.cache
def secret_values() -> st.SearchStrategy[str]:
    """Secrets that are secret by shape alone; the whole string must vanish."""
    return _tokens().map(lambda c: c.text)


# --- personal values -----------------------------------------------------------------------


@functools.cache
def _email() -> st.SearchStrategy[Canary]:
    return st.tuples(
        _zq(), st.sampled_from(("", ".smith", "+ml", "_01")), st.sampled_from(("example.org", "mail.co.uk"))
    ).map(lambda t: Canary("email", f"{t[0]}{t[1]}@{t[2]}", (f"{t[0]}{t[1]}@{t[2]}", t[0]), False))


def _path(family: str, template: str, parts: int) -> st.SearchStrategy[Canary]:
    def build(names: list[str]) -> Canary:
        text = template.format(*names)
        return Canary(family, text, (text, *names), False)

    return st.lists(_zq(), min_size=parts, max_size=parts, unique=True).map(build)


@functools.cache
def _paths() -> st.SearchStrategy[Canary]:
    return st.one_of(
        _path("home", "/home/{}/{}/data.json", 2),
        _path("macos_home", "/Users/{}/models/{}", 2),
        _path("root_home", "/root/{}/ckpt", 1),
        _path("windows_home", "C:\\Users\\{}\\AppData\\{}", 2),
        _path("windows_forward", "C:/Users/{}/{}", 2),
        _path("tilde_user", "~{}/{}", 2),
        _path("tilde", "~/{}/{}.yaml", 2),
        _path("var", "/var/lib/{}/{}", 2),
        _path("models", "/models/{}", 1),
        _path("drive", "D:\\data\\{}", 1),
        _path("unc", "\\\\{}\\share\\{}", 2),
    )


@functools.cache
def _ipv4() -> st.SearchStrategy[Canary]:
    octet = st.integers(0, 255)
    dotted = st.tuples(octet, octet, octet, octet).map(lambda t: ".".join(map(str, t)))
    return _whole("ipv4", dotted, secret=False)


@functools.cache
def _ipv6() -> st.SearchStrategy[Canary]:
    groups = st.tuples(st.integers(1, 0xFFFF), st.lists(st.integers(0, 0xFFFF), min_size=7, max_size=7))
    compress = st.booleans()

    def build(t: tuple[tuple[int, list[int]], bool]) -> str:
        (first, rest), compressed = t
        groups = [first, *rest]
        address = ipaddress.IPv6Address(int.from_bytes(b"".join(g.to_bytes(2, "big") for g in groups)))
        return str(address) if compressed else ":".join(f"{g:x}" for g in groups)

    return _whole("ipv6", st.tuples(groups, compress).map(build), secret=False)


@functools.cache
def _second_pass_personal() -> st.SearchStrategy[Canary]:
    """Issue 13's personal kinds: host names, private model ids, relative and odd paths."""
    octet = st.integers(0, 255)
    node = st.tuples(_zq(3, 6), st.integers(1, 99)).map(lambda t: f"{t[0]}-node-{t[1]}")
    return st.one_of(
        node.map(lambda h: Canary("hostname", h, (h,), False)),
        st.tuples(_zq(), st.sampled_from(("corp.internal", "lan", "cluster.local", "example.net"))).map(
            lambda t: Canary("internal_host", f"{t[0]}.{t[1]}", (t[0],), False)
        ),
        st.tuples(_zq(), st.sampled_from(("corp.internal", "lan"))).map(
            lambda t: Canary("internal_url", f"https://{t[0]}.{t[1]}:8443/api", (t[0],), False)
        ),
        st.tuples(_zq(), _zq()).map(lambda t: Canary("private_model", f"{t[0]}/{t[1]}", (t[0], t[1]), False)),
        st.tuples(_zq(), _zq()).map(
            lambda t: Canary("relative_user_path", f"{t[0]}/data/{t[1]}.jsonl", (t[0], t[1]), False)
        ),
        st.tuples(_zq(), _zq()).map(lambda t: Canary("relative_home", f"home/{t[0]}/{t[1]}", (t[0],), False)),
        st.tuples(_zq(), st.sampled_from(("ü", "é", "ø", "用户"))).map(
            lambda t: Canary("unicode_email", f"{t[0]}{t[1]}@exämple.de", (t[0],), False)
        ),
        st.lists(_chars(LOWER_HEX.upper(), 2), min_size=6, max_size=6).map(
            lambda parts: Canary("mac_dash", "-".join(parts), ("-".join(parts),), False)
        ),
        st.tuples(octet, octet, octet, octet).map(
            lambda t: Canary(
                "cloud_host",
                f"ip-{t[0]}-{t[1]}-{t[2]}-{t[3]}.ec2.internal",
                (f"{t[0]}-{t[1]}-{t[2]}-{t[3]}",),
                False,
            )
        ),
        st.tuples(_zq(), _zq()).map(lambda t: Canary("unc_forward", f"//{t[0]}/{t[1]}", (t[0], t[1]), False)),
        st.tuples(_zq(), _zq()).map(
            lambda t: Canary(
                "windows_space",
                f"C:\\Users\\{t[0].title()} {t[1].title()}\\Desktop\\run.py",
                (t[0].title(), t[1].title()),
                False,
            )
        ),
        _zq().map(lambda name: Canary("bare_name", name, (name,), False)),
    )


@functools.cache
def personal_canaries() -> st.SearchStrategy[Canary]:
    """E-mail addresses, home, relative and other paths, IPv4, IPv6 and MAC addresses, host
    names (plain, internal, cloud, in URLs), private model ids and bare user names."""
    return st.one_of(_email(), _paths(), _ipv4(), _ipv6(), _second_pass_personal())


SHAPE_FAMILIES = frozenset(
    {"email", "ipv4", "ipv6", "mac_dash", "unc_forward", "windows_space", "unicode_email", "internal_url"}
    | {"home", "macos_home", "root_home", "windows_home", "windows_forward", "tilde_user", "tilde", "var"}
    | {"models", "drive", "unc"}
)
"""Personal kinds with a shape of their own: ``values.scrub_text`` at strict removes them. The
others (host names, private model ids, relative paths, bare names) are removed only by the
fail-closed layer (``strict.strict_text`` / ``strict_value``), which the stage applies."""


@functools.cache
def shape_personal_canaries() -> st.SearchStrategy[Canary]:
    return personal_canaries().filter(lambda c: c.family in SHAPE_FAMILIES)


@functools.cache
def personal_values() -> st.SearchStrategy[str]:
    """Personal values as plain strings (each must vanish whole at the strict level)."""
    return personal_canaries().map(lambda c: c.text)


# --- planting ------------------------------------------------------------------------------

_EMBEDDINGS = ("{}", " {} ", "({})", "'{}'", '"{}"', "[{}]", "{}.", "{},", "note={}", "at: {}")


def embedded(text: str) -> st.SearchStrategy[str]:
    """``text`` between random benign words, in quotes, brackets or after ``=``/``:``."""
    words = st.lists(st.sampled_from(_WORDS), max_size=3).map(" ".join)
    return st.tuples(words, st.sampled_from(_EMBEDDINGS), words).map(
        lambda t: " ".join(part for part in (t[0], t[1].format(text), t[2]) if part)
    )


@st.composite
def canary_sentence(
    draw: st.DrawFn, canaries: st.SearchStrategy[Canary] | None = None, max_canaries: int = 3
) -> tuple[str, tuple[Canary, ...]]:
    """Free text with 1..max_canaries canaries at random positions among benign words."""
    source = _all_canaries() if canaries is None else canaries
    planted = tuple(draw(st.lists(source, min_size=1, max_size=max_canaries)))
    pieces = [draw(embedded(c.text)) for c in planted]
    return " ".join(pieces), planted


@st.composite
def canary_traceback(
    draw: st.DrawFn, canaries: st.SearchStrategy[Canary] | None = None
) -> tuple[str, tuple[Canary, ...], tuple[str, ...]]:
    """A formatted traceback whose frame paths live under a personal home directory and
    whose message carries canaries. Returns (text, canaries, kept) where ``kept`` are the
    package-relative frame paths that must survive at every level."""
    user = draw(_zq())
    home = draw(
        st.sampled_from(
            (f"/home/{user}", f"/Users/{user}", f"C:\\Users\\{user}", f"/home/{user}/venvs/{user}")
        )
    )
    sep = "\\" if home.startswith("C:") else "/"
    site = sep.join((home, "lib", "python3.11", "site-packages"))
    frames = [
        (sep.join((site, "transformers", "trainer.py")), "site-packages/transformers/trainer.py"),
        (sep.join((site, "torch", "nn", "modules", "module.py")), "site-packages/torch/nn/modules/module.py"),
        (sep.join((home, "projects", user, "train.py")), "train.py"),
    ]
    chosen = draw(st.lists(st.sampled_from(frames), min_size=1, max_size=3))
    message, planted = draw(canary_sentence(canaries))
    lines = ["Traceback (most recent call last):"]
    for path, _kept in chosen:
        lines.append(f'  File "{path}", line {draw(st.integers(1, 999))}, in run')
        lines.append("    return fn(*args, **kwargs)")
    lines.append(f"RuntimeError: {message}")
    personal = Canary("home_user", user, (user,), False)
    # The user's own frame (train.py) is kept only as a bare name, and only at secrets-only.
    package_frames = tuple(kept for _path, kept in chosen if kept.startswith("site-packages/"))
    return "\n".join(lines) + "\n", (*planted, personal), package_frames


@functools.cache
def _all_canaries() -> st.SearchStrategy[Canary]:
    return st.one_of(secret_canaries(), personal_canaries())


_leaves = st.one_of(st.sampled_from(BENIGN_VALUES), st.integers(-(10**6), 10**6), st.floats(allow_nan=False))


@functools.cache
def benign_config(keys: st.SearchStrategy[str] | None = None) -> st.SearchStrategy[dict[str, Any]]:
    """A nested config (dicts and lists) of benign values under benign keys."""
    keys = st.sampled_from(BENIGN_KEYS) if keys is None else keys
    children = st.recursive(
        _leaves,
        lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(keys, inner, max_size=3)),
        max_leaves=8,
    )
    return st.dictionaries(keys, children, min_size=1, max_size=6)


_RANDOM_KEYS = st.one_of(
    st.sampled_from(BENIGN_KEYS),
    st.tuples(
        st.sampled_from(string.ascii_lowercase), st.text(string.ascii_lowercase + "_", max_size=12)
    ).map("".join),
)


def _containers(value: Any) -> Iterator[dict[str, Any] | list[Any]]:
    if isinstance(value, dict):
        yield value
        for child in value.values():
            yield from _containers(child)
    elif isinstance(value, list):
        yield value
        for child in value:
            yield from _containers(child)


@st.composite
def canary_config(
    draw: st.DrawFn, canaries: st.SearchStrategy[Canary] | None = None, max_canaries: int = 4
) -> tuple[dict[str, Any], tuple[str, ...]]:
    """A random nested config with canaries planted as values, inside text, as list items and
    as keys. Returns (config, needles): no needle may appear in the scrubbed result."""
    config = draw(benign_config(_RANDOM_KEYS))
    source = _all_canaries() if canaries is None else canaries
    planted = draw(st.lists(source, min_size=1, max_size=max_canaries))
    for number, canary in enumerate(planted):
        target = draw(st.sampled_from(list(_containers(config))))
        text = draw(st.one_of(st.just(canary.text), embedded(canary.text)))
        if isinstance(target, list) and canary.family == "flag":  # an argv: ["--hf_token", "..."]
            at = draw(st.integers(0, len(target)))
            target[at:at] = canary.text.split(" ", 1)
        elif isinstance(target, list):
            at = draw(st.integers(0, len(target)))
            while 0 < at < len(target) and target[at - 1] in _FLAGS:
                at += 1  # never between a flag and its value: there it would be the value
            target.insert(at, text)
        elif draw(st.booleans()):
            target[canary.text] = draw(_leaves)
        elif not canary.secret and draw(st.booleans()):  # a person under a plain key
            target[draw(st.sampled_from(PERSONAL_KEYS))] = canary.text
        else:
            target[f"{draw(_RANDOM_KEYS)}_{number}"] = text
    return config, tuple(needle for canary in planted for needle in canary.needles)


PERSONAL_KEYS: tuple[str, ...] = ("username", "hostname", "host", "user", "node_name", "owner", "notes")
"""Plain keys a user or host name sits under in real configs."""


def all_strings(value: Any) -> Iterator[str]:
    """Every string in a nested structure, keys included (repr would double backslashes)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, child in value.items():
            yield from all_strings(key)
            yield from all_strings(child)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for child in value:
            yield from all_strings(child)


def leaked(value: Any, needles: Iterable[str]) -> list[str]:
    """The needles still present anywhere in ``value`` (empty list: nothing leaked)."""
    texts: Sequence[str] = list(all_strings(value))
    return [needle for needle in needles if any(needle in text for text in texts)]
