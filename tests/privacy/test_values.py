"""scrub_text: each rule on its own, what must survive, the counter, and the fast paths."""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otel_axolotl.privacy import values
from otel_axolotl.privacy.values import Level, RedactionCounter
from otel_axolotl.privacy.values import scrub_text as _scrub_text
from tests.privacy._plain import REDACTED, plain


def scrub_text(*args, **kwargs):  # type: ignore[no-untyped-def]
    return plain(_scrub_text(*args, **kwargs))


STRICT = Level.STRICT
SECRETS_ONLY = Level.SECRETS_ONLY

HF = "hf_" + "aB3" * 12
OPENAI = "sk-" + "Ab1" * 16
OPENAI_PROJECT = "sk-proj-" + "Xy9_-" * 20
GITHUB = "ghp_" + "Zz9" * 12
GITHUB_PAT = "github_pat_" + "11AB_cd" * 8
WANDB = "0123456789abcdef" * 2 + "01234567"
WANDB_V1 = "wandb_v1_" + "Q1w2E3r4" * 5
AWS_ID = "AKIAIOSFODNN7EXAMPLE"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA7\nabcDEF123\n-----END RSA PRIVATE KEY-----"


# --- secrets: both levels ------------------------------------------------------------------


@pytest.mark.parametrize("level", [STRICT, SECRETS_ONLY])
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"token={HF}", "token=[REDACTED]"),
        (f"export HF_TOKEN={HF} now", "export HF_TOKEN=[REDACTED] now"),
        (f"login with {HF} failed", "login with [REDACTED] failed"),
        ("org api_org_" + "k" * 34, "org [REDACTED]"),
        (f"key {OPENAI} x", "key [REDACTED] x"),
        (f"({OPENAI_PROJECT})", "([REDACTED])"),
        (f"{GITHUB}: bad credentials", "[REDACTED]: bad credentials"),
        (f"pat {GITHUB_PAT}", "pat [REDACTED]"),
        (f"wandb {WANDB}", "wandb [REDACTED]"),
        (f"wandb {WANDB_V1}", "wandb [REDACTED]"),
        (f"id {AWS_ID} ok", "id [REDACTED] ok"),
        (f"aws_secret_access_key={AWS_SECRET}", "aws_secret_access_key=[REDACTED]"),
        (f"AWS_SECRET_ACCESS_KEY: {AWS_SECRET}", "AWS_SECRET_ACCESS_KEY: [REDACTED]"),
        (f"jwt {JWT}.", "jwt [REDACTED]"),
        ("Authorization: Bearer abcdef123456", "Authorization: Bearer [REDACTED]"),
        ("curl -H 'Authorization: Basic dXNlcjpwYXNz'", "curl -H 'Authorization: Basic [REDACTED]'"),
        ("Basic dXNlcjpwYXNz", "Basic [REDACTED]"),
        ("https://alice:s3cret@github.com", "https://[REDACTED]@github.com"),
        ("git+https://ghtoken@github.com", "git+https://[REDACTED]@github.com"),
        ('{"hf_token": "abc", "lr": 1}', '{"hf_token": "[REDACTED]", "lr": 1}'),
        ("{'api_key': 'zzz'}", "{'api_key': '[REDACTED]'}"),
        ("password = hunter2 next", "password = [REDACTED] next"),
        ("db_passwd=x1&user=bob", "db_passwd=[REDACTED]&user=bob"),
        ("openai.api_key=abc", "openai.api_key=[REDACTED]"),
        ("X-Api-Key: abc123", "X-Api-Key: [REDACTED]"),
        ("client_secret:'abc'", "client_secret:'[REDACTED]'"),
        ("session_id=abc123; cookie=zzz", "session_id=[REDACTED]; cookie=[REDACTED]"),
        ("private_key=abc credentials=def", "private_key=[REDACTED] credentials=[REDACTED]"),
        ("--password hunter2 --lr 1", "--password [REDACTED] --lr 1"),
        ('{\\"hf_token\\": \\"abc\\"}', '{\\"hf_token\\": \\"[REDACTED]\\"}'),  # JSON in a string
        ("API Key: abc123 ok", "API Key: [REDACTED] ok"),  # two-word key
        ("x=1https://u:pw@hf.co", "x=1https://[REDACTED]@hf.co"),  # glued scheme
        (f"id:1{JWT}", "id:1[REDACTED]"),  # glued JWT
        (f"model-{OPENAI}", "model-[REDACTED]"),
        ("Session ID = 42a", "Session ID = [REDACTED]"),
        ("--hf-token=abc", "--hf-token=[REDACTED]"),
        (f"--hf_token {HF}", "--hf_token [REDACTED]"),
        (PEM, REDACTED),
        (f"key:\n{PEM}\nend", "key:\n[REDACTED]\nend"),
        ("-----BEGIN OPENSSH PRIVATE KEY-----\nabc", REDACTED),  # truncated: to the end
    ],
)
def test_secrets_are_removed_at_every_level(level: Level, text: str, expected: str) -> None:
    assert scrub_text(text, level) == expected


@pytest.mark.parametrize("level", [STRICT, SECRETS_ONLY])
@pytest.mark.parametrize(
    "text",
    [
        "max_tokens=512",
        "num_tokens: 1000",
        "tokens_per_second=12.5",
        "pad_token_id=0",
        "eos_token: </s>",
        "special_tokens: 3",
        "tokenizer_type=AutoTokenizer",
        "Basic usage is easy",  # not a base64 user:password
        "mask-rcnn-resnet50-fpn-coco-2020-final",  # "sk-" inside a word
        "ASIAN restaurants",
        "tokens/s 1234 it/s",
        "loss: 0.5, lr=2e-4",
        "ValueError: Unrecognized configuration class <class 'transformers.models.llama.LlamaConfig'>",
    ],
)
def test_lookalikes_survive(level: Level, text: str) -> None:
    assert scrub_text(text, level) == text


def test_url_credentials_keep_scheme_and_host() -> None:
    assert scrub_text("https://u:p@ss@host.org/x", SECRETS_ONLY) == "https://[REDACTED]@host.org/x"
    assert scrub_text("https://u:p@github.com/repo.git", STRICT) == "https://[REDACTED]@github.com/[REDACTED]"
    # At strict a host that is not a public one goes too (it names a company's or a home network).
    assert _scrub_text("https://u:p@host.org/repo.git", STRICT) == (
        "https://[REDACTED:secret]@[REDACTED:host]/[REDACTED:path]"
    )


def test_authorization_header_value_is_removed_whatever_the_scheme() -> None:
    assert scrub_text("authorization: Digest abc") == "authorization: [REDACTED]"
    assert scrub_text("Authorization: token abc") == "Authorization: [REDACTED]"


def test_secret_in_a_url_query_is_removed_at_secrets_only() -> None:
    assert (
        scrub_text("https://h.org/cb?token=abc&x=1", SECRETS_ONLY) == "https://h.org/cb?token=[REDACTED]&x=1"
    )


# --- personal values: strict only ----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mail alice.smith@example.co.uk now", "mail [REDACTED] now"),
        ("from 192.168.1.10:8080 and 1.2.3.4.", "from [REDACTED]:8080 and [REDACTED]."),
        (
            "v6 fe80::1 2001:db8:0:0:0:0:2:1 ::1 [2001:db8::7]:443",
            "v6 [REDACTED] [REDACTED] [REDACTED] [[REDACTED]]:443",
        ),
        ("mac 00:1a:2b:3c:4d:5e", "mac [REDACTED]"),
        ("addr fe80::1: unreachable", "addr [REDACTED]: unreachable"),
        ("x </home/a/b> +~u/x", "x <[REDACTED]> +[REDACTED]"),
        ("at /home/alice/data/x.json now", "at [REDACTED] now"),
        ("at /Users/alice/x", "at [REDACTED]"),
        ("at /root/ckpt", "at [REDACTED]"),
        ("at C:\\Users\\bob\\x.txt", "at [REDACTED]"),
        ("at C:/Users/bob/x.txt", "at [REDACTED]"),
        ("at ~bob and ~/x/y and ~bob/z", "at [REDACTED] and [REDACTED] and [REDACTED]"),
        ("at /var/lib/x and /models/my_model", "at [REDACTED] and [REDACTED]"),
        ("at D:\\data\\x and \\\\server\\share\\x", "at [REDACTED] and [REDACTED]"),
        ("PATH=/usr/bin:/usr/local/bin", "PATH=[REDACTED]"),
        ("--output_dir=/home/a/out", "--output_dir=[REDACTED]"),
        ("(see /home/a/x).", "(see [REDACTED])."),
        ("No such file: '/home/alice/my data.json'", "No such file: '[REDACTED]'"),
        ('open("C:\\Program Files\\x")', 'open("[REDACTED]")'),
        ("file:///home/alice/x", "file:///[REDACTED]"),
        ("see https://huggingface.co/alice/private-model.", "see https://huggingface.co/[REDACTED]."),
        ("http://10.0.0.5:8000/v1", "http://[REDACTED]:8000/[REDACTED]"),
    ],
)
def test_personal_values_are_removed_at_strict(text: str, expected: str) -> None:
    assert scrub_text(text, STRICT) == expected
    assert scrub_text(text, SECRETS_ONLY) == text


@pytest.mark.parametrize(
    "text",
    [
        "3.11.7",
        "python 3.11.7 torch 2.13.0+cpu transformers 4.46.0.dev0",
        "1.2.3.4.5",
        "300.1.1.1",
        "at 12:30:45 on 2024-01-01T12:30:45Z",
        "c10::Error at::Tensor std::vector",
        "site-packages/transformers/trainer.py",
        "relative models/llama/7b ./data ../x",
        "meta-llama/Llama-3.1-8B",
        "~16GB used, a / b, tokens/s, and/or",
        "http://localhost:4318",
        "https://huggingface.co",
        "user@localhost",
        "eos_token </s> and <|im_end|> </think>",
    ],
)
def test_benign_text_survives_strict(text: str) -> None:
    assert scrub_text(text, STRICT) == text


# --- behaviour -----------------------------------------------------------------------------


def test_counter_counts_each_redaction_and_holds_no_text() -> None:
    counter = RedactionCounter()
    scrub_text(f"{HF} and alice@example.org and /home/a/x", STRICT, counter)
    assert counter.count == 3
    scrub_text(f"{HF} and alice@example.org", SECRETS_ONLY, counter)
    assert counter.count == 4
    counter.add(2)
    assert counter.count == 6
    assert repr(counter) == "RedactionCounter(count=6)"
    assert not hasattr(counter, "__dict__")


def test_scrubbing_is_stable() -> None:
    text = (
        f'token={HF} "password": "x" at /home/a/b Bearer abcdefgh12 Basic dXNlcjpwYXNz '
        '(https://u:p@h.org/x). {\\"api_key\\": \\"v\\"} Authorization: Bearer abcdefgh12'
    )
    once = scrub_text(text)
    counter = RedactionCounter()
    assert scrub_text(once, counter=counter) == once
    assert counter.count == 0


@pytest.mark.parametrize("value", [None, 3, 2.5, b"hf_x", ["a"], {"k": "v"}])
def test_non_str_input_is_returned_unchanged(value: object) -> None:
    assert scrub_text(value) is value  # type: ignore[arg-type]


def test_level_accepts_its_string_value_and_unknown_levels_fail_closed() -> None:
    text = "at /home/a/x"
    assert scrub_text(text, "secrets-only") == text  # type: ignore[arg-type]
    assert scrub_text(text, "bogus") == "at [REDACTED]"  # type: ignore[arg-type]
    assert Level("strict") is STRICT and Level.SECRETS_ONLY == "secrets-only"


def test_long_input_is_linear() -> None:
    text = ("a" * 5000 + " ") * 20 + "token:" + "b" * 10000
    assert scrub_text(text).endswith("token:[REDACTED]")


# --- the fast paths are sound --------------------------------------------------------------

FRAGMENTS = (
    "hf_", "api_org_", "sk-", "sk-proj-", "ghp_", "gho_", "github_pat_", "wandb_v1_", "AKIA", "ASIA",
    "eyJ", ".", ":", "::", "=", "@", "/", "~", "\\", "\\\\", "C:", "://", "-", "--", " ", "\n", "'", '"',
    "Bearer ", "Basic ", "dXNlcjpwYXNz", "-----BEGIN PRIVATE KEY-----", "token", "password", "Key",
    "1.2.3.4", "fe80", "ffff", "00:1a", "a@b.co", "0123456789abcdef", "/home/u", "(", ")", "[REDACTED]",
)  # fmt: skip
noisy_text = st.lists(
    st.one_of(
        st.sampled_from(FRAGMENTS),
        st.text(alphabet=string.ascii_letters + string.digits + "_", max_size=44),
        st.text(max_size=3),
    ),
    max_size=10,
).map("".join)


@settings(max_examples=200, deadline=None)
@given(noisy_text)
def test_gates_never_skip_a_match(text: str) -> None:
    for strict in (True, False):
        shapes_match = values._SHAPES[strict].search(text) is not None
        shapes_gate = values._SHAPES_GATE[strict].search(text) is not None
        hex_gate = values._HEX40_GATE.search(text) is not None
        if shapes_match:
            assert shapes_gate or hex_gate
        keyed_changes = values._keyed(text, None) != text
        if keyed_changes:
            assert values._KEYED_GATE.search(text) is not None
        if shapes_gate or keyed_changes:
            assert values._ANY_GATE[strict].search(text) is not None


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=string.ascii_letters + string.digits + "_", max_size=values._SHORT_LIMIT - 1))
def test_short_identifiers_hold_nothing(text: str) -> None:
    for strict in (True, False):
        assert values._SHAPES[strict].search(text) is None
        assert values._keyed(text, None) == text


def test_cheap_path_timing_is_reported(capsys: pytest.CaptureFixture[str]) -> None:
    """Not a timed assertion (shared CI is noisy); prints the cost for the log."""
    import timeit

    for text in ("cosine", "meta-llama/Llama-3.1-8B"):
        seconds = min(timeit.repeat(lambda t=text: scrub_text(t), number=2000, repeat=3)) / 2000
        print(f"scrub_text({text!r}): {seconds * 1e6:.2f} µs")
    assert "µs" in capsys.readouterr().out


# --- a marker inside a secret key's value ----------------------------------------------------


@pytest.mark.parametrize("level", [STRICT, SECRETS_ONLY])
@pytest.mark.parametrize(
    "text",
    [
        "password=[REDACTED:secret]zqhunter2",
        "password=[REDACTED:zqhunter2]",
        '"password": "[REDACTED:secret]zqhunter2 and more"',
        "https://h.example.org/x?token=[REDACTED:secret]zqhunter2&v=1",
    ],
)
def test_a_marker_in_a_secret_value_does_not_shield_the_rest(text: str, level: Level) -> None:
    """A value that is a marker and more is not "already done": all of it goes."""
    counter = RedactionCounter()
    out = _scrub_text(text, level, counter)
    assert "zqhunter2" not in out
    again = RedactionCounter()
    assert _scrub_text(out, level, again) == out and again.count == 0


@pytest.mark.parametrize("level", [STRICT, SECRETS_ONLY])
def test_a_secret_key_takes_its_tail_along(level: Level) -> None:
    """The detector's candidate stops at "~"; the key's tail goes with it, at every level."""
    assert _scrub_text("x Zq0000112233456789Aa~A y", level) == "x [REDACTED:secret] y"
    assert _scrub_text("hf_token=Zq0000112233456789Aa~A", level) == "hf_token=[REDACTED:secret]"
    assert _scrub_text("token=hf_" + "aB3" * 12 + ".", level) == "token=[REDACTED:secret]."


def test_a_forged_host_marker_keeps_nothing_glued_to_it() -> None:
    out = _scrub_text("https://[REDACTED:host]zqcorp.internal/x", STRICT)
    assert "zqcorp" not in out
    assert _scrub_text(out, STRICT) == out


def test_a_host_named_like_a_secret_key_keeps_its_port() -> None:
    """``zqpass.corp.internal:8443`` is a host and a port, not ``key: value``; a key's value stays secret."""
    kept = "at https://zqpass.corp.internal:8443/api now"
    assert _scrub_text(kept, SECRETS_ONLY) == kept
    assert _scrub_text("password:8443", SECRETS_ONLY) == "password:[REDACTED:secret]"
    assert "8443" not in _scrub_text("https://h.example.org/x?token:8443", SECRETS_ONLY)
