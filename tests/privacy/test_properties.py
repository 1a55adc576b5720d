"""Property tests: planted canaries never survive, benign values always do.

Canaries (tests/support/canaries.py) are valid-shaped random secrets of every family and
personal values (e-mails, home and other absolute paths, IPv4/IPv6), planted at random
places: config values, keys, list items, free text between random words, exception
messages. STRICT must remove all of them; SECRETS_ONLY must remove every secret.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from otel_axolotl.privacy.stacktrace import sanitize_stack_trace
from otel_axolotl.privacy.tree import scrub_tree
from otel_axolotl.privacy.values import Level, RedactionCounter, scrub_text
from otel_axolotl.privacy.whitelist import Whitelist
from tests.support.canaries import (
    BENIGN_KEYS,
    BENIGN_VALUES,
    WHITELISTED_MODELS,
    Canary,
    benign_config,
    canary_config,
    canary_sentence,
    canary_traceback,
    leaked,
    personal_canaries,
    secret_canaries,
    secret_values,
    shape_personal_canaries,
)

PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
WHITELIST = Whitelist.load()

# Inputs that once failed (kept as explicit examples so they run on every seed):
# a random lower-case-and-digit key with only three digits, once missed at secrets-only;
LOWER_KEY = "cnyppvrrrluedpmudatcxaisvhdqgqcxo831"
LOWER_KEY_CASE = (LOWER_KEY, (Canary("high_entropy_lower", LOWER_KEY, (LOWER_KEY,), True),))
# a key ending in "~A", whose tail became a home path on a second pass (strict not stable);
TILDE_VALUE = "Zq0000112233456789Aa~A"
TILDE_CASE = (
    f"hf_token={TILDE_VALUE}",
    (Canary("key_value", f"hf_token={TILDE_VALUE}", (TILDE_VALUE,), True),),
)
# text quoting a marker (or something like one): recursed forever, or a forged one let a value by.
FORGED_CASE = (
    "note=[REDACTED:secret]zqhunter2 [REDACTED x [REDACTED:Zqfoo] [REDACTED:zqalice]",
    (Canary("bare_name", "zqhunter2", ("zqhunter2", "zqalice"), False),),
)


def needles_of(planted: Any) -> list[str]:
    return [needle for canary in planted for needle in canary.needles]


@PROPERTY
@given(canary_config())
def test_no_canary_survives_scrub_tree_at_strict(case: tuple[dict[str, Any], tuple[str, ...]]) -> None:
    config, needles = case
    before = copy.deepcopy(config)
    counter = RedactionCounter()
    out = scrub_tree(config, level=Level.STRICT, whitelist=WHITELIST, counter=counter)
    assert not leaked(out, needles)
    assert counter.count >= 1
    assert config == before


@PROPERTY
@given(canary_config(secret_canaries()))
@example(({"notes": f"at {LOWER_KEY}", "extra": {"hf_token": TILDE_VALUE}}, (LOWER_KEY, TILDE_VALUE)))
def test_no_secret_survives_scrub_tree_at_secrets_only(case: tuple[dict[str, Any], tuple[str, ...]]) -> None:
    config, needles = case
    assert not leaked(scrub_tree(config, level=Level.SECRETS_ONLY, whitelist=WHITELIST), needles)


@PROPERTY
@given(canary_sentence(st.one_of(secret_canaries(), shape_personal_canaries())))
@example(TILDE_CASE)
@example(LOWER_KEY_CASE)
def test_no_canary_survives_scrub_text_at_strict(case: tuple[str, Any]) -> None:
    text, planted = case
    out = scrub_text(text, Level.STRICT)
    assert not leaked(out, needles_of(planted))
    again = RedactionCounter()
    assert scrub_text(out, Level.STRICT, again) == out  # stable, and nothing counted twice
    assert again.count == 0


@PROPERTY
@given(canary_sentence(secret_canaries()))
@example(LOWER_KEY_CASE)
@example(TILDE_CASE)
def test_no_secret_survives_scrub_text_at_secrets_only(case: tuple[str, Any]) -> None:
    text, planted = case
    assert not leaked(scrub_text(text, Level.SECRETS_ONLY), needles_of(planted))


@PROPERTY
@given(canary_traceback())
def test_no_canary_survives_sanitize_stack_trace(case: tuple[str, Any, tuple[str, ...]]) -> None:
    text, planted, kept = case
    out = sanitize_stack_trace(text, Level.STRICT)
    assert not leaked(out, needles_of(planted))
    for frame in kept:
        assert f'File "{frame}"' in out


@PROPERTY
@given(canary_traceback(secret_canaries()))
def test_no_secret_survives_sanitize_stack_trace_at_secrets_only(
    case: tuple[str, Any, tuple[str, ...]],
) -> None:
    text, planted, kept = case
    out = sanitize_stack_trace(text, Level.SECRETS_ONLY)
    assert not leaked(out, needles_of(planted))  # includes the home directory's user name
    for frame in kept:
        assert f'File "{frame}"' in out


@PROPERTY
@given(st.one_of(secret_values(), shape_personal_canaries().map(lambda c: c.text)), st.sampled_from(Level))
@example(LOWER_KEY, Level.SECRETS_ONLY)
def test_a_bare_canary_vanishes_whole(value: str, level: Level) -> None:
    out = scrub_text(value, Level.STRICT)
    assert value not in out
    assert "[REDACTED:" in out


@PROPERTY
@given(personal_canaries())
@example(Canary("internal_url", "https://zqpass.corp.internal:8443/api", ("zqpass",), False))
def test_personal_values_are_kept_at_secrets_only(canary: Any) -> None:
    assert scrub_text(f"at {canary.text} now", Level.SECRETS_ONLY) == f"at {canary.text} now"


@PROPERTY
@given(benign_config(), st.sampled_from(Level))
def test_benign_configs_survive_unchanged(config: dict[str, Any], level: Level) -> None:
    counter = RedactionCounter()
    assert scrub_tree(config, level=level, whitelist=WHITELIST, counter=counter) == config
    assert counter.count == 0


@PROPERTY
@given(
    st.sampled_from(WHITELISTED_MODELS),
    st.sampled_from(
        ["base_model", "base_model_config", "tokenizer_config", "model_name_or_path", "hub_model_id"]
    ),
    st.sampled_from(Level),
)
def test_whitelisted_model_names_survive_under_name_keys(model: str, key: str, level: Level) -> None:
    config = {key: model, "datasets": [{"path": model, "type": "alpaca"}], "nested": {key: [model]}}
    assert scrub_tree(config, level=level, whitelist=WHITELIST) == config


@pytest.mark.parametrize("value", [v for v in BENIGN_VALUES if isinstance(v, str)])
@pytest.mark.parametrize("level", list(Level))
def test_each_benign_value_survives_scrub_text(value: str, level: Level) -> None:
    assert scrub_text(value, level) == value


def test_benign_keys_are_benign() -> None:
    from otel_axolotl.privacy.keys import is_name_key, is_path_key, is_secret_key

    assert not [k for k in BENIGN_KEYS if is_secret_key(k) or is_path_key(k) or is_name_key(k)]


@PROPERTY
@given(canary_sentence())
@example(TILDE_CASE)
@example(LOWER_KEY_CASE)
@example(FORGED_CASE)
def test_no_canary_survives_strict_free_text(case: tuple[str, Any]) -> None:
    """Every kind, the fail-closed ones included, through the rule the stage applies to text."""
    from otel_axolotl.privacy.strict import strict_text

    text, planted = case
    out = strict_text(text, WHITELIST)
    assert not leaked(out, needles_of(planted))
    assert strict_text(out, WHITELIST) == out  # stable
