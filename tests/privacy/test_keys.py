"""Key rules: which keys are secret, path-like (Axolotl's rules) or model/dataset names."""

from __future__ import annotations

import pytest

from otel_axolotl.privacy.keys import FIELDS_TO_REDACT, is_name_key, is_path_key, is_secret_key


@pytest.mark.parametrize(
    "key",
    [
        "hf_token", "HF_TOKEN", "hub_token", "access_token", "token", "auth_token", "refresh-token",
        "wandb_api_key", "openai.api_key", "OPENAI_API_KEY", "apiKey", "x-api-key", "api-key",
        "password", "db_passwd", "passphrase", "pwd", "secret", "client_secret", "SecretAccessKey",
        "aws_secret_access_key", "aws_access_key_id", "private_key", "privateKey", "Authorization",
        "auth_header", "auth", "oauth", "credentials", "gcp_credential", "cookie", "Set-Cookie",
        "session_key", "session_id", "sessionid", "hf_token_path",
    ],
)  # fmt: skip
def test_secret_keys(key: str) -> None:
    assert is_secret_key(key)


@pytest.mark.parametrize(
    "key",
    [
        "max_tokens", "max_new_tokens", "num_tokens", "tokens", "tokens_per_second", "tokens/total",
        "tokens/train_per_sec_per_gpu", "total_tokens", "special_tokens", "skip_special_tokens",
        "pad_token", "eos_token", "bos_token", "unk_token", "sep_token", "cls_token", "mask_token",
        "pad_token_id", "eos_token_id", "token_ids", "input_token_ids", "token_type_ids",
        "tokenizer", "tokenizer_config", "tokenizer_type", "tokenized_path", "detokenize",
        "author", "authors", "learning_rate", "optimizer", "keys", "monkey", "", "base_model",
    ],
)  # fmt: skip
def test_counting_and_ordinary_keys_are_not_secret(key: str) -> None:
    assert not is_secret_key(key)


def test_non_str_keys_are_not_secret() -> None:
    assert not is_secret_key(None)  # type: ignore[arg-type]
    assert not is_secret_key(3)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "key",
    [
        *sorted(FIELDS_TO_REDACT),
        "data_files", "output_dir", "root_dir", "dataset_prepared_path", "filepath", "windows_path",
        "path_to_model", "model_path", "PATH", "logging_dir", "wandb_project", "wandb_entity",
        "use_wandb_", "comet_api_url", "mlflow_tracking_uri", "gradio_share", "trackio_space",
        "swanlab_project", "axolotl.config.base_model", "direction",
    ],
)  # fmt: skip
def test_path_keys_follow_axolotl(key: str) -> None:
    assert is_path_key(key)


@pytest.mark.parametrize(
    "key", ["learning_rate", "optimizer", "message", "metrics", "seed", "wandb", "", "model"]
)
def test_other_keys_are_not_path_keys(key: str) -> None:
    assert not is_path_key(key)


def test_fields_to_redact_is_axolotls_set_plus_data_files() -> None:
    assert {
        "base_model",
        "tokenizer_config",
        "base_model_config",
        "pretraining_dataset",
        "resume_from_checkpoint",
        "hub_model_id",
        "data_files",
    } == FIELDS_TO_REDACT


@pytest.mark.parametrize(
    "key",
    [
        "base_model", "base_model_config", "tokenizer_config", "hub_model_id", "pretraining_dataset",
        "model_name", "model_name_or_path", "gen_ai.request.model", "BASE_MODEL", "axolotl.config.base_model",
        "datasets.0.path", "datasets.path",
    ],
)  # fmt: skip
def test_name_keys(key: str) -> None:
    assert is_name_key(key)


def test_dataset_path_is_a_name_key_only_inside_a_datasets_entry() -> None:
    assert is_name_key("path", parent="datasets")
    assert is_name_key("path", parent="test_datasets")
    assert is_name_key("path", parent="pretraining_dataset")
    assert not is_name_key("path")
    assert not is_name_key("path", parent="nested")
    assert not is_name_key("type", parent="datasets")


@pytest.mark.parametrize("key", ["model", "output_dir", "resume_from_checkpoint", "notes", "", "path"])
def test_other_keys_are_not_name_keys(key: str) -> None:
    assert not is_name_key(key)
