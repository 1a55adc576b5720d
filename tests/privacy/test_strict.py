"""The strict level is fail-closed on values; markers say why; every channel passes the stage."""

from __future__ import annotations

import math
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource

from otel_axolotl import semconv as sc
from otel_axolotl.privacy import channels, detector
from otel_axolotl.privacy.markers import REASONS, is_marker, marker
from otel_axolotl.privacy.names import USER_EVENT, USER_EXCEPTION, USER_FUNCTION, code_name, exception_type
from otel_axolotl.privacy.schema import KINDS, kind_of, register_schema, schemas
from otel_axolotl.privacy.stage import Scrubber
from otel_axolotl.privacy.strict import strict_key, strict_text, strict_value
from otel_axolotl.privacy.tree import scrub_tree
from otel_axolotl.privacy.values import Level, scrub_text
from otel_axolotl.privacy.vocabulary import own_names, vocabulary
from otel_axolotl.privacy.whitelist import Whitelist

WL = Whitelist.load()
STRICT, SECRETS_ONLY = Level.STRICT, Level.SECRETS_ONLY


def strict(config: Any) -> Any:
    return scrub_tree(config, level=STRICT, whitelist=WL)


# --- markers -------------------------------------------------------------------------------


def test_one_function_makes_every_marker_and_unknown_reasons_fail_closed() -> None:
    assert marker("path") == "[REDACTED:path]"
    assert marker("no-such-reason") == "[REDACTED:text]"
    assert all(is_marker(marker(r)) for r in REASONS)
    assert not is_marker("[REDACTED:path] and more")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/home/alice/x.json", "[REDACTED:path]"),
        ("hf_" + "aB3" * 12, "[REDACTED:secret]"),
        ("alice@example.org", "[REDACTED:email]"),
        ("10.1.2.3", "[REDACTED:address]"),
        ("00-1A-2B-3C-4D-5E", "[REDACTED:address]"),
        ("alice/private-model", "[REDACTED:model]"),
        ("gpu-node-17", "[REDACTED:host]"),
        ("ip-10-0-0-1.ec2.internal", "[REDACTED:address]"),
        ("db.corp.internal", "[REDACTED:host]"),
        ("alice_data/train.jsonl", "[REDACTED:path]"),
        ("//fileserver/share", "[REDACTED:path]"),
        ("zqsomething", "[REDACTED:text]"),
    ],
)
def test_a_value_nobody_vouches_for_becomes_a_marker_that_says_why(value: str, expected: str) -> None:
    assert strict({"notes": value}) == {"notes": expected}


# --- what may pass -------------------------------------------------------------------------


def test_what_may_pass_at_strict() -> None:
    config = {
        "learning_rate": 2e-4,
        "lr_as_text": "2e-4",
        "micro_batch_size": 4,
        "sample_packing": True,
        "load_in_8bit": "true",
        "optimizer": "adamw_torch_fused",
        "lr_scheduler": "cosine",
        "bf16": "auto",
        "adapter": "qlora",
        "attn_implementation": "flash_attention_2",
        "base_model": "meta-llama/Llama-3.1-8B",
        "reward_model": "Qwen/Qwen2.5-0.5B",
        "transformers_version": "4.46.0.dev0",
        "seed": None,
    }
    assert strict(config) == config


def test_numbers_and_booleans_pass_nan_inf_and_huge_ints_do_not_crash() -> None:
    out = strict(
        {"a": float("nan"), "b": float("inf"), "c": -float("inf"), "d": 2**80, "e": -(2**64), "f": 2**63 - 1}
    )
    assert math.isnan(out["a"]) and out["b"] == math.inf and out["c"] == -math.inf
    assert out["d"] == out["e"] == "[REDACTED:number]"  # the OTLP encoder rejects them
    assert out["f"] == 2**63 - 1
    assert scrub_tree({"d": 2**80}, level=SECRETS_ONLY, whitelist=WL) == {"d": "[REDACTED:number]"}


def test_lists_are_judged_item_by_item_and_flag_pairs_are_secrets_at_every_level() -> None:
    argv = ["--hf_token", "plainsecret", "--lr", "0.1", "--api-key", "x", "cosine", "bob"]
    assert strict({"argv": argv}) == {
        "argv": [
            "--hf_token",
            "[REDACTED:secret]",
            "--lr",
            "0.1",
            "--api-key",
            "[REDACTED:secret]",
            "cosine",
            "[REDACTED:text]",
        ]
    }
    kept = scrub_tree({"argv": argv}, level=SECRETS_ONLY, whitelist=WL)["argv"]
    assert kept == [
        "--hf_token",
        "[REDACTED:secret]",
        "--lr",
        "0.1",
        "--api-key",
        "[REDACTED:secret]",
        "cosine",
        "bob",
    ]


def test_free_text_keeps_its_shape_and_loses_its_contents() -> None:
    text = "CUDA out of memory. Tried to allocate 2.00 GiB for alice on gpu-node-7 (see /home/alice/log.txt)"
    assert strict_text(text, WL) == (
        "CUDA out of memory. Tried to allocate 2.00 GiB for [REDACTED:text] on [REDACTED:host] "
        "(see [REDACTED:path])"
    )
    assert strict_text("KeyError: 'learning_rate'", WL) == "KeyError: 'learning_rate'"  # a registered key
    assert strict_text("loaded meta-llama/Llama-3.1-8B, not bob/x", WL) == (
        "loaded meta-llama/Llama-3.1-8B, not [REDACTED:model]"
    )


def test_this_machines_own_user_and_host_names_never_pass() -> None:
    for name in own_names():
        assert name not in strict_text(f"running as {name} now", WL).lower()
        assert name not in str(strict({"notes": name, name: 1})).lower()


def test_plain_keys_that_name_a_person_or_a_machine() -> None:
    config = {"username": "cosine", "hostname": "linear", "host": "auto", "user": "adamw_torch"}
    assert strict(config) == {
        "username": "[REDACTED:user]",
        "hostname": "[REDACTED:host]",
        "host": "[REDACTED:host]",
        "user": "[REDACTED:user]",
    }


def test_keys_nobody_registered_become_markers_at_strict_only() -> None:
    config = {"alice_experiment": 1, "zqthing": 2, "learning_rate": 3, "eval_loss": 4}
    assert strict(config) == {"[REDACTED:key]": 1, "[REDACTED:key]#2": 2, "learning_rate": 3, "eval_loss": 4}
    assert scrub_tree(config, level=SECRETS_ONLY, whitelist=WL) == config
    assert strict_key("hf_token") in ("hf_token", "[REDACTED:key]")


def test_secrets_only_keeps_paths_names_and_keys_but_no_secret() -> None:
    config = {
        "alice_notes": "on gpu-node-7 as alice",
        "output_dir": "/home/alice/out",
        "tokenizer_config": "alice/tok",
        "log": "DB_PASS=hunter2 https://x.org/o?X-Amz-Signature=abcdef123456&v=1 AccountKey=abc+/=",
    }
    out = scrub_tree(config, level=SECRETS_ONLY, whitelist=WL)
    assert out["alice_notes"] == config["alice_notes"]
    assert out["output_dir"] == config["output_dir"] and out["tokenizer_config"] == "alice/tok"
    assert "hunter2" not in out["log"] and "abcdef123456" not in out["log"] and "abc+/=" not in out["log"]


# --- schemas ---------------------------------------------------------------------------------


def test_axolotl_schema_is_shipped_with_value_kinds() -> None:
    assert kind_of("micro_batch_size") == "int"
    assert kind_of("output_dir") == "path"
    assert kind_of("base_model") == "model"
    assert len([k for k in schemas().key_names() if k]) > 600


def test_every_registered_string_attribute_that_strict_may_keep_has_a_kind() -> None:
    missing = [
        name
        for name, spec in sc.ATTRIBUTES.items()
        if spec.privacy == "public" and "string" in spec.type and kind_of(name) is None
    ]
    assert missing == []


def test_a_host_library_registers_its_schema_and_malformed_kinds_are_ignored() -> None:
    assert strict({"zqlib_mode": "zqfast"}) == {"[REDACTED:key]": "[REDACTED:text]"}
    accepted = register_schema(
        "zqlib", {"zqlib_mode": {"enum": ["zqfast", "zqslow"]}, "zqlib_dir": "path", "bad": "nope"}
    )
    assert accepted == 2
    assert strict({"zqlib_mode": "zqfast", "zqlib_dir": "/home/a"}) == {
        "zqlib_mode": "zqfast",
        "zqlib_dir": "[REDACTED:path]",
    }
    assert strict({"zqlib_mode": "alice"}) == {"zqlib_mode": "[REDACTED:text]"}
    assert kind_of("bad") is None
    assert set(KINDS) >= {"option", "path", "model", "text"}


def test_kinds_judge_their_values() -> None:
    assert strict_value("2.13.0+cpu", "version", WL) == "2.13.0+cpu"
    assert strict_value("2.13.0+alice", "version", WL) == "[REDACTED:text]"
    assert strict_value("4bf92f3577b34da6a3ce929d0e0e4736", "id", WL) == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert strict_value("NVIDIA H100 80GB HBM3", "hardware", WL) == "NVIDIA H100 80GB HBM3"
    assert strict_value("alice", "int", WL) == "[REDACTED:text]"


# --- code names ------------------------------------------------------------------------------


def test_code_names_keep_installed_code_only() -> None:
    assert code_name("transformers.trainer.Trainer.train") == "transformers.trainer.Trainer.train"
    assert code_name("otel_axolotl.errors.send_errors") == "otel_axolotl.errors.send_errors"
    assert code_name("json.decoder.JSONDecoder.decode") == "json.decoder.JSONDecoder.decode"
    assert code_name("__main__.train") == USER_FUNCTION
    assert code_name("zqlab.experiments.main") == USER_FUNCTION
    assert exception_type("torch.OutOfMemoryError") == "torch.OutOfMemoryError"
    assert exception_type("ValueError") == "ValueError"
    assert exception_type("zqlab.ZqError") == USER_EXCEPTION
    assert channels.event_name("zqlab.train.main-error", True, WL) == USER_EVENT
    assert (
        channels.event_name("transformers.trainer.train-error", True, WL)
        == "transformers.trainer.train-error"
    )


# --- channels --------------------------------------------------------------------------------


def _metrics_through(scrubber: Scrubber) -> Any:
    reader = InMemoryMetricReader()
    provider = MeterProvider(
        metric_readers=[reader], resource=Resource({"service.name": "zqsvc", "os.type": "linux"})
    )
    meter = provider.get_meter("zqlab_project")
    meter.create_counter("zq_private_metric", description="alice's secret metric").add(1)
    meter.create_counter(
        sc.METRIC_TELEMETRY_DROPPED, unit="{zq}", description="dropped for bob at /home/bob"
    ).add(1)
    data = reader.get_metrics_data()
    provider.shutdown()
    return scrubber.metrics(data)


def test_metric_names_descriptions_units_and_scopes_pass_the_stage() -> None:
    data = _metrics_through(Scrubber(STRICT, WL))
    [rm] = data.resource_metrics
    [sm] = rm.scope_metrics
    assert sm.scope.name == "[REDACTED:code]"
    assert [m.name for m in sm.metrics] == [sc.METRIC_TELEMETRY_DROPPED]  # unregistered: dropped
    [metric] = sm.metrics
    assert metric.unit == "[REDACTED:text]"
    assert "bob" not in metric.description and "[REDACTED:path]" in metric.description
    kept = _metrics_through(Scrubber(SECRETS_ONLY, WL)).resource_metrics[0].scope_metrics[0]
    assert {m.name for m in kept.metrics} == {"zq_private_metric", sc.METRIC_TELEMETRY_DROPPED}


def test_product_analytics_gets_only_the_sdks_own_resource_facts() -> None:
    resource = Resource(
        {
            "service.name": "alice-laptop",
            "service.version": "0.1.0",
            "os.type": "alice",
            "host.arch": "amd64",
            "deployment.environment": "alice-prod",
            "axolotl.run.id": "4bf92f3577b34da6a3ce929d0e0e4736",
        }
    )
    product = Scrubber(STRICT, WL, product_analytics=True).resource(resource).attributes
    assert dict(product) == {
        "service.version": "0.1.0",
        "os.type": "[REDACTED:text]",
        "host.arch": "amd64",
    }  # not the run id either: it is the trace id of the user's own backends (issue 13 item 5)
    otlp = Scrubber(STRICT, WL).resource(resource).attributes
    assert otlp["service.name"] == "alice-laptop"  # what the user set for their own backend
    assert "deployment.environment" not in otlp


# --- detector --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "token",
    [
        "xoxb-2718281828-3141592653-ZqCanaryZqCanaryZqCanary",
        "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc",
        "AKIAIOSFODNN7EXAMPLE",
        "glpat-" + "ZqCanary-x" * 2,
        "SG." + "a" * 22 + "." + "b" * 43,
        "AC" + "0123456789abcdef" * 2,  # Twilio: only the detector's rules know it
        "0123456789:AAHx7Kq9Lm2Np4Rs6Tv8Wy1Za3Bc5De7Fg9Hj",  # Telegram bot token
    ],
)
def test_the_detectors_rules_run_at_every_level(token: str) -> None:
    assert detector.load()
    for level in Level:
        assert token not in scrub_text(f"value {token} here", level)


def test_own_rules_still_hold_when_the_detector_is_off() -> None:
    saved = detector._state.get("rules")
    detector._state["rules"] = None
    detector._judge.cache_clear()
    try:
        for token in ("xoxb-2718281828-3141592653-ZqCanaryZq", "AIza" + "SyZq" * 9, "gsk_" + "Zq9x" * 12):
            assert token not in scrub_text(f"x {token} y", SECRETS_ONLY)
    finally:
        detector._state["rules"] = saved
        detector._judge.cache_clear()


def test_vocabulary_is_documented_data() -> None:
    words = vocabulary()
    assert "adamw_torch" in words.options and "memory" in words.words and "huggingface.co" in words.hosts
    assert "no" in words.options  # YAML's "no" stays a string


def test_every_system_info_package_version_key_is_registered() -> None:
    """system-info's ``<package>_version`` keys pass at strict because the schema names them."""
    from otel_axolotl.privacy.strict import strict_key
    from otel_axolotl.system_info import RELEVANT_PACKAGES

    assert [f"{n}_version" for n in RELEVANT_PACKAGES if strict_key(f"{n}_version") != f"{n}_version"] == []


# --- text that quotes a marker, and stability --------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["[REDACTED", "x [REDACTED:Foo] y", "[REDACTED:]", "[[REDACTED]]", "[REDACTED:secret", "a[REDACTED:b]c"],
)
def test_text_that_only_looks_like_a_marker_is_judged_as_text(text: str) -> None:
    """Once, "[REDACTED" without a real marker recursed forever and the stage dropped the item."""
    for out in (strict_text(text, WL), strict_value(text, None, WL), strict_value(text, "text", WL)):
        assert strict_text(out, WL) == out
    assert "Foo" not in strict_text(text, WL)


def test_a_forged_marker_carries_nothing_past_strict() -> None:
    for text in ("[REDACTED:secret]zqhunter2", "x [REDACTED:zqalice] y", "note=[REDACTED:path]zqhunter2."):
        for out in (strict_text(text, WL), strict_value(text, None, WL)):
            assert "zqhunter2" not in out and "zqalice" not in out
    assert not is_marker("[REDACTED:zqalice]")  # only the closed set of reasons makes a marker


def test_strict_text_is_stable_in_one_call() -> None:
    """``~A`` after a secret's marker is a home path on a second look: the first call settles it."""
    assert detector.load()
    out = strict_text("hf_token=Zq0000112233456789Aa~A", WL)
    assert out == "hf_token=[REDACTED:secret]"
    for text in ("x Zq0000112233456789Aa~A y", "zqalice~data", "a zqbob~/x b", "(zqcarol)~zqdave"):
        out = strict_text(text, WL)
        assert strict_text(out, WL) == out, text


def test_text_that_never_settles_fails_closed() -> None:
    from otel_axolotl.privacy.markers import RedactionCounter
    from otel_axolotl.privacy.values import settled

    counter = RedactionCounter()
    assert settled(lambda t: t + "x", "zq", counter) == marker("text")
    assert counter.count == 1
    assert settled(str.strip, " a ") == "a"


def test_single_case_random_runs_are_secrets_at_every_level() -> None:
    """A 32+ run of one case of letters and a digit is machine-made; hex, words and names stay."""
    assert detector.load()
    for token in (
        "cnyppvrrrluedpmudatcxaisvhdqgqcxo831",  # three digits: once missed at secrets-only
        "eerbdjdgb8b3nbdyghsrsvwhcucbdinyxo1f",
        "EGMHXCSULX3GLLAKWGPFGSU9ETS0GICNBNRW",
        "IyyGhntajmRDmKKWRkOnmGGXgygN2wnd",  # mixed case, one digit
    ):
        for level in Level:
            assert token not in scrub_text(f"key {token} here", level), (token, level)
    for kept in (
        "transformers_trainer_callback",
        "internationalization",
        "pneumonoultramicroscopicsilicovolcanoconiosis",
        "Speech2TextForConditionalGeneration",
        "LayoutLMv3ForSequenceClassification",
        "0123456789abcdef0123456789abcdef",  # a run id
        "transformers.models.llama.modeling_llama",
        "meta-llama/Llama-3.1-8B-Instruct",
    ):
        assert scrub_text(f"at {kept} now", Level.SECRETS_ONLY) == f"at {kept} now", kept
