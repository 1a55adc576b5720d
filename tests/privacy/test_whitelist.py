"""Whitelist: the packaged file, name matching, filter_name, and bad files failing safe."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from otel_axolotl.privacy.markers import marker
from otel_axolotl.privacy.values import Level, RedactionCounter
from otel_axolotl.privacy.whitelist import EXPECTED_FORMAT, Whitelist

# The 39 organisations of Axolotl's whitelist.yaml (newest version), in its order.
AXOLOTL_ORGS = [
    "axolotl-ai-co", "meta-llama", "huggingface", "nvidia", "facebook", "google", "microsoft",
    "deepseek-ai", "HuggingFaceTB", "mistralai", "Qwen", "unsloth", "NousResearch", "allenai", "amd",
    "tiiuae", "tencent", "zai-org", "openai", "ibm-granite", "arcee-ai", "swiss-ai", "CohereForAI",
    "deepcogito", "THUDM", "ai21labs", "LiquidAI", "canopylabs", "state-spaces", "mistral-community",
    "llava-hf", "ByteDance-Seed", "ACE-Step", "openbmb", "MiniMaxAI", "stepfun-ai", "internlm",
    "katanemo", "XiaomiMiMo",
]  # fmt: skip


@pytest.fixture(scope="module")
def packaged() -> Whitelist:
    return Whitelist.load()


def test_packaged_whitelist_has_axolotls_39_organizations(packaged: Whitelist) -> None:
    assert len(AXOLOTL_ORGS) == 39
    assert packaged.organizations == {org.lower() for org in AXOLOTL_ORGS}
    assert Whitelist.load() is packaged  # read once per process


def test_packaged_file_keeps_axolotls_format_and_casing() -> None:
    import importlib.resources

    import yaml

    data = yaml.safe_load(importlib.resources.files("otel_axolotl").joinpath("whitelist.yaml").read_text())
    assert list(data) == ["organizations"]
    assert data["organizations"] == AXOLOTL_ORGS


@pytest.mark.parametrize(
    "name",
    ["meta-llama/llama-7b", "mistralai/mistral-7b-instruct", "META-LLAMA/Llama-7B", "Qwen/Qwen2.5-0.5B"],
)
def test_axolotl_whitelisted_names(packaged: Whitelist, name: str) -> None:
    assert packaged.is_whitelisted(name)


@pytest.mark.parametrize(
    "name",
    [
        "unknown/model", "", "meta-llama", "meta-llama/", "/meta-llama/x", "meta-llama/x/y",
        "./meta-llama/x", "../meta-llama/x", "~/meta-llama/x", "~meta-llama/x", "C:/meta-llama/x",
        "C:\\meta-llama\\x", "meta-llama\\x", "meta-llama/ x", "meta-llama/x y", " meta-llama/x",
        "meta-llama/.", "meta-llama/..", "meta-llama//x", "models/local_model", "models/llama/7b",
        "/home/user/meta-llama/x", "meta-llama/x\n",
    ],
)  # fmt: skip
def test_not_whitelisted(packaged: Whitelist, name: str) -> None:
    assert not packaged.is_whitelisted(name)


def test_non_str_is_not_whitelisted(packaged: Whitelist) -> None:
    assert not packaged.is_whitelisted(None)  # type: ignore[arg-type]
    assert not packaged.is_whitelisted(3)  # type: ignore[arg-type]


def test_constructor_and_empty() -> None:
    wl = Whitelist(["Meta-Llama", " mistralai ", "", 3])  # type: ignore[list-item]
    assert wl.organizations == {"meta-llama", "mistralai"}
    assert "META-LLAMA" in wl and "x" not in wl
    assert wl == Whitelist(["meta-llama", "MISTRALAI"]) and len(wl) == 2
    assert list(wl) == ["meta-llama", "mistralai"]
    assert repr(wl) == "Whitelist(2 organizations)"
    assert not Whitelist.empty().is_whitelisted("meta-llama/x") and len(Whitelist.empty()) == 0


def test_filter_name(packaged: Whitelist) -> None:
    counter = RedactionCounter()
    assert packaged.filter_name("meta-llama/Llama-3-8B", Level.STRICT, counter) == "meta-llama/Llama-3-8B"
    assert (
        packaged.filter_name("meta-llama/Llama-3-8B", Level.SECRETS_ONLY, counter) == "meta-llama/Llama-3-8B"
    )
    assert counter.count == 0
    assert packaged.filter_name("alice/private-model", Level.STRICT, counter) == marker("model")
    assert counter.count == 1
    assert packaged.filter_name("alice/private-model", Level.SECRETS_ONLY, counter) == "alice/private-model"
    assert packaged.filter_name("/home/alice/m", Level.SECRETS_ONLY, counter) == "/home/alice/m"
    token = "hf_" + "x" * 34
    assert packaged.filter_name(f"{token}/m", Level.SECRETS_ONLY, counter) == f"{marker('secret')}/m"
    assert packaged.filter_name("alice/private-model", "bogus", counter) == marker("model")  # type: ignore[arg-type]
    assert packaged.filter_name("/home/alice/models/x", Level.STRICT) == marker("path")
    assert counter.count == 3


def test_whitelisted_name_still_loses_a_token(packaged: Whitelist) -> None:
    token = "hf_" + "Q" * 34
    assert packaged.filter_name(f"meta-llama/{token}", Level.STRICT) == f"meta-llama/{marker('secret')}"


def test_load_a_file(tmp_path: Path) -> None:
    path = tmp_path / "wl.yaml"
    path.write_text('organizations:\n  - "meta-llama"\n  - "mistralai"\n')
    assert Whitelist.load(path).organizations == {"meta-llama", "mistralai"}
    assert Whitelist.load(str(path)).organizations == {"meta-llama", "mistralai"}


@pytest.mark.parametrize(
    "content",
    [
        "organizations: [unclosed",
        "organizations: meta-llama",
        "organizations:\n  - meta-llama\n  - 3\n",
        "- meta-llama\n",
        "orgs: [meta-llama]\n",
        "",
        "\x00\x01",
    ],
)
def test_malformed_file_gives_empty_whitelist_and_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, content: str
) -> None:
    path = tmp_path / "wl.yaml"
    path.write_text(content)
    with caplog.at_level(logging.WARNING):
        wl = Whitelist.load(path)
    assert wl == Whitelist.empty()
    assert len(caplog.records) == 1
    message = caplog.records[0].getMessage()
    assert str(path) in message and EXPECTED_FORMAT in message


@pytest.mark.parametrize("kind", ["missing", "directory", "binary"])
def test_unreadable_file_gives_empty_whitelist_and_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, kind: str
) -> None:
    path = tmp_path / "wl.yaml"
    if kind == "directory":
        path.mkdir()
    elif kind == "binary":
        path.write_bytes(b"\xff\xfe\x00organizations")
    with caplog.at_level(logging.WARNING):
        wl = Whitelist.load(path)
    assert len(wl) == 0
    assert len(caplog.records) == 1
    assert str(path) in caplog.records[0].getMessage()
    assert "organizations: [list of strings]" in caplog.records[0].getMessage()
