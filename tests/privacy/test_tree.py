"""scrub_tree: Axolotl's nested example, key rules, containers, and never mutating the input."""

from __future__ import annotations

import copy
from collections import OrderedDict
from decimal import Decimal
from pathlib import PurePosixPath
from typing import Any

import pytest

from otel_axolotl.privacy.tree import MAX_DEPTH
from otel_axolotl.privacy.tree import scrub_tree as _scrub_tree
from otel_axolotl.privacy.values import Level, RedactionCounter
from otel_axolotl.privacy.whitelist import Whitelist
from tests.privacy._plain import REDACTED, plain


def scrub_tree(*args, **kwargs):  # type: ignore[no-untyped-def]
    return plain(_scrub_tree(*args, **kwargs))


STRICT = Level.STRICT
SECRETS_ONLY = Level.SECRETS_ONLY
HF = "hf_" + "aB3" * 12


@pytest.fixture(scope="module")
def wl() -> Whitelist:
    return Whitelist.load()


def scrub(value: Any, wl: Whitelist, level: Level = STRICT, **kwargs: Any) -> Any:
    return scrub_tree(value, level=level, whitelist=wl, **kwargs)


def test_axolotl_nested_redaction_example(wl: Whitelist) -> None:
    """Axolotl's test_redacted_properties, input verbatim, with the real whitelist."""
    properties = {
        "filepath": "/home/user/sensitive/data.txt",
        "windows_path": "C:\\Users\\name\\Documents\\project\\file.py",
        "output_dir": "/var/lib/data",
        "path_to_model": "models/llama/7b",
        "message": "Training started",
        "metrics": {"loss": 0.5, "accuracy": 0.95},
        "base_model": "models/local_model",
        "nested": {
            "model_path": "/models/my_model",
            "root_dir": "/home/user/projects",
            "stats": {"steps": 1000, "epochs": 3},
        },
    }
    sanitized = scrub(properties, wl)
    assert sanitized["filepath"] == "[REDACTED]"
    assert sanitized["windows_path"] == "[REDACTED]"
    assert sanitized["path_to_model"] == "[REDACTED]"
    assert sanitized["base_model"] == "[REDACTED]"
    assert sanitized["message"] == "Training started"
    assert sanitized["metrics"] == {"loss": 0.5, "accuracy": 0.95}
    assert sanitized["nested"]["model_path"] == "[REDACTED]"
    assert sanitized["nested"]["root_dir"] == "[REDACTED]"
    assert sanitized["nested"]["stats"] == {"steps": 1000, "epochs": 3}
    assert sanitized["output_dir"] == "[REDACTED]"  # not asserted by Axolotl; by its rules


def test_whitelisted_names_are_kept_on_every_trigger(wl: Whitelist) -> None:
    config = {
        "base_model": "meta-llama/Llama-3.1-8B",
        "tokenizer_config": "mistralai/Mistral-7B-v0.1",
        "resume_from_checkpoint": "Qwen/Qwen2.5-0.5B",
        "hub_model_id": "alice/my-finetune",
        "wandb_project": "meta-llama/x",
        "wandb_entity": "alice",
        "datasets": [{"path": "tatsu-lab/alpaca", "type": "alpaca"}, {"path": "HuggingFaceTB/smoltalk"}],
    }
    assert scrub(config, wl) == {
        "base_model": "meta-llama/Llama-3.1-8B",
        "tokenizer_config": "mistralai/Mistral-7B-v0.1",
        "resume_from_checkpoint": "Qwen/Qwen2.5-0.5B",
        "hub_model_id": REDACTED,
        "wandb_project": "meta-llama/x",
        "wandb_entity": REDACTED,
        "datasets": [{"path": REDACTED, "type": "alpaca"}, {"path": "HuggingFaceTB/smoltalk"}],
    }


def test_secrets_only_keeps_paths_and_names_but_not_secrets(wl: Whitelist) -> None:
    config = {
        "base_model": "alice/private",
        "output_dir": "/home/alice/out",
        "hf_token": HF,
        "notes": f"token {HF} for alice@example.org",
        "datasets": [{"path": "/data/x.jsonl"}],
    }
    assert scrub(config, wl, SECRETS_ONLY) == {
        "base_model": "alice/private",
        "output_dir": "/home/alice/out",
        "hf_token": REDACTED,
        "notes": "token [REDACTED] for alice@example.org",
        "datasets": [{"path": "/data/x.jsonl"}],
    }


def test_secret_keys_redact_whatever_their_value_and_everything_below(wl: Whitelist) -> None:
    config = {
        "hf_token": "plain",
        "password": 123456,
        "api_key": ["a", "b"],
        "credentials": {"user": "bob", "pin": 1234, "nested": [{"x": "y"}], "enabled": True, "none": None},
        "max_tokens": 512,
        "pad_token": "<pad>",
        "empty_secret": "",
    }
    assert scrub(config, wl) == {
        "hf_token": REDACTED,
        "password": REDACTED,
        "api_key": [REDACTED, REDACTED],
        "credentials": {
            "user": REDACTED,
            "pin": REDACTED,
            "nested": [{"x": REDACTED}],
            "enabled": True,
            "none": None,
        },
        "max_tokens": 512,
        "pad_token": "<pad>",
        "empty_secret": "",
    }


def test_list_items_inherit_the_list_key(wl: Whitelist) -> None:
    config = {"data_files": ["/a/b.json", "c.json"], "tags": ["/home/u/x", "ok"], "items": [["/x/y"]]}
    assert scrub(config, wl) == {
        "data_files": [REDACTED, REDACTED],
        "tags": [REDACTED, "ok"],
        "items": [[REDACTED]],
    }
    assert scrub(config, wl, SECRETS_ONLY) == config


def test_values_under_other_keys_are_scrubbed_by_shape(wl: Whitelist) -> None:
    config = {"message": f"saved to /home/alice/x with {HF}", "seed": 42, "ratio": 0.5, "ok": True, "n": None}
    assert scrub(config, wl) == {
        "message": "saved to [REDACTED] with [REDACTED]",
        "seed": 42,
        "ratio": 0.5,
        "ok": True,
        "n": None,
    }


def test_keys_are_scrubbed_and_collisions_kept_apart(wl: Whitelist) -> None:
    config = {"/home/alice/a": 1, "/home/bob/b": 2, HF: "x", 7: "seven", ("a", 1): "t"}
    assert scrub(config, wl) == {
        REDACTED: 1,
        f"{REDACTED}#2": 2,
        f"{REDACTED}#3": "x",
        "7": "seven",
        "('a', 1)": "t",
    }


def test_other_types(wl: Whitelist) -> None:
    class Broken:
        def __str__(self) -> str:
            raise RuntimeError("no")

    config = {
        "blob": b"secret bytes",
        "raw": bytearray(b"x"),
        "output_dir": PurePosixPath("/home/alice/out"),
        "note": PurePosixPath("/home/alice/out"),
        "lr": Decimal("0.1"),
        "tuple": (1, "/home/a/b"),
        "set": {3},
        "broken": Broken(),
        "ordered": OrderedDict(a=1),
    }
    counter = RedactionCounter()
    assert scrub(config, wl, counter=counter) == {
        "blob": REDACTED,
        "raw": REDACTED,
        "output_dir": REDACTED,
        "note": REDACTED,
        "lr": 0.1,  # a plain float: the OTLP encoder rejects Decimal (issue 14)
        "tuple": [1, REDACTED],
        "set": [3],
        "broken": REDACTED,
        "ordered": {"a": 1},
    }
    assert counter.count == 6


def test_cycles_and_depth_are_bounded(wl: Whitelist) -> None:
    loop: dict[str, Any] = {"a": 1}
    loop["self"] = loop
    items: list[Any] = [1]
    items.append(items)
    assert scrub(loop, wl) == {"a": 1, "self": REDACTED}
    assert scrub(items, wl) == [1, REDACTED]

    deep: Any = "leaf"
    for _ in range(MAX_DEPTH + 5):
        deep = {"k": deep}
    out = scrub(deep, wl)
    depth = 0
    while isinstance(out, dict):
        out = out["k"]
        depth += 1
    assert out == REDACTED and depth == MAX_DEPTH

    shared = {"x": "/home/a/b"}
    assert scrub({"one": shared, "two": shared}, wl) == {"one": {"x": REDACTED}, "two": {"x": REDACTED}}


def test_input_is_never_mutated(wl: Whitelist) -> None:
    config = {"a": [{"output_dir": "/home/a"}, ("t", HF)], HF: {"password": "x"}, "s": {1, 2}}
    before = copy.deepcopy(config)
    out = scrub(config, wl)
    assert config == before
    assert out is not config and out["a"] is not config["a"]


def test_key_argument_selects_the_rule_for_a_bare_value(wl: Whitelist) -> None:
    assert scrub("abc", wl, _key="hf_token") == REDACTED
    assert scrub("alice/x", wl, _key="base_model") == REDACTED
    assert scrub("meta-llama/x", wl, _key="base_model") == "meta-llama/x"
    assert scrub("relative/dir", wl, _key="output_dir") == REDACTED
    # Strict is fail-closed on values: a relative path may hold a user name (issue 13).
    assert scrub("relative/dir", wl, _key="notes") == REDACTED
    assert scrub("relative/dir", wl, SECRETS_ONLY, _key="notes") == "relative/dir"
    assert scrub(["a", 1], wl, _key="api_key") == [REDACTED, REDACTED]
    assert scrub("cosine", wl) == "cosine"
    assert scrub(None, wl) is None


def test_counter_counts_every_redaction(wl: Whitelist) -> None:
    counter = RedactionCounter()
    scrub(
        {"hf_token": "x", "output_dir": "/a", "base_model": "alice/m", "note": "at /b and /c"},
        wl,
        counter=counter,
    )
    assert counter.count == 5


def test_unknown_level_fails_closed(wl: Whitelist) -> None:
    assert scrub({"output_dir": "x/y"}, wl, "bogus") == {"output_dir": REDACTED}  # type: ignore[arg-type]
