"""Key rules: what a config key or attribute name says about the value stored under it.

Why by key: a value such as ``"hunter2"`` or ``"my-project"`` has no recognisable shape, but
the key above it (``password``, ``wandb_project``) tells us it must not leave the machine.
These rules are pure string functions; the tree walker and the free-text scrubber apply them.

Three questions, three functions:

- :func:`is_secret_key`: the value is a credential. Always redacted, at every level.
- :func:`is_path_key`: the value is a location (Axolotl's rules: named fields, ``path``/``dir``
  in the key, tracker prefixes). Redacted at the strict level unless it is a whitelisted
  model or dataset name.
- :func:`is_name_key`: the value is a model or dataset name that the whitelist may keep.
"""

from __future__ import annotations

import re

__all__ = [
    "FIELDS_TO_REDACT",
    "NAME_KEYS",
    "PATH_INDICATORS",
    "PREFIXES_TO_REDACT",
    "is_name_key",
    "is_path_key",
    "is_secret_key",
]

# --- secrets -------------------------------------------------------------------------------

# Matched against the key lower-cased with every non-alphanumeric character removed, so that
# ``api_key``, ``api-key``, ``apiKey`` and ``openai.api_key`` all read ``apikey``.
_COMPACT_SECRET_WORDS: tuple[str, ...] = (
    "secret",
    "password",
    "passwd",
    "passphrase",
    "apikey",
    "accesskey",
    "privatekey",
    "authorization",
    "authheader",
    "credential",
    "cookie",
    # Session keys, ids and tokens are bearer credentials. No training config uses the word
    # for anything else, so the whole word counts (the brief named ``session_key``).
    "session",
    "passcode",
    "signature",  # X-Amz-Signature, SharedAccessSignature
    "connectionstring",  # Azure: "...;AccountKey=..."
)

# Matched only as a whole part of the key (split on non-alphanumerics): as substrings these
# would catch ``author``, ``pwdist`` and the like.
_WHOLE_PART_SECRET_WORDS: frozenset[str] = frozenset(
    {"auth", "oauth", "pwd", "pw", "key", "pass", "sig", "private", "sas", "otp", "totp", "hotp"}
    | {"bearer", "jwt", "creds", "cred", "hmac", "pword", "xsrf", "csrf", "cvv", "cvc", "ssn"}
)
# Secret only as the key's last part: ``pin``/``user_pin`` (not ``dataloader_pin_memory``),
# ``pat``/``github_pat`` (a personal access token).
_LAST_PART_SECRET_WORDS: frozenset[str] = frozenset({"pin", "pat"})
_MORE_COMPACT_SECRET_WORDS: tuple[str, ...] = ("mnemonic", "seedphrase", "connstr", "recoverycode", "pincode")
# A part that ends in ``key`` or ``pass`` is a credential too (``signingkey``, ``AccountKey``,
# ``dbpass``); the list below are the words that merely end that way.
_KEY_SUFFIXES: tuple[str, ...] = ("key", "pass")
_NOT_SECRET_PARTS: frozenset[str] = frozenset({"monkey", "turkey", "hockey", "jockey", "bypass", "compass"})

# ``token`` is a credential (``hf_token``, ``access_token``) and also the unit that language
# models count in (``max_tokens``, ``pad_token_id``, ``tokenizer_config``). An occurrence of
# ``token`` is benign when the text right after it makes it a count, an id or the tokenizer:
_BENIGN_AFTER_TOKEN: tuple[str, ...] = (
    "s",  # tokens, tokens_per_second, num_tokens, special_tokens, tokens/total
    "izer",  # tokenizer, tokenizer_config, tokenizer_type
    "ize",  # tokenize, tokenized_path, detokenize
    "isation",
    "ization",
    "_id",  # pad_token_id, token_ids
    "id",
    "_type",  # token_type_ids
    "_count",
    "_len",
)
# ... or when it names a special token of the tokenizer (``pad_token: "<pad>"``).
_SPECIAL_TOKEN_NAMES: frozenset[str] = frozenset(
    {"pad", "eos", "bos", "unk", "sep", "cls", "mask", "special", "eot", "image", "audio", "video"}
)
_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def _token_word_is_secret(lowered: str) -> bool:
    """True if some ``token`` in the (lower-cased) key is not one of the counting forms."""
    normal = _NON_ALNUM.sub("_", lowered)
    start = normal.find("token")
    while start != -1:
        after = normal[start + 5 :]
        if not after.startswith(_BENIGN_AFTER_TOKEN):
            before = normal[:start].rstrip("_").rsplit("_", 1)[-1]
            if not (before in _SPECIAL_TOKEN_NAMES and (after == "" or after.startswith("_"))):
                return True
        start = normal.find("token", start + 5)
    return False


def is_secret_key(key: str) -> bool:
    """True if the key names a credential, so its value must never be exported.

    Case-insensitive substring rules (``secret``, ``password``, ``passwd``, ``api_key``,
    ``apikey``, ``access_key``, ``private_key``, ``authorization``, ``auth_header``,
    ``credential``, ``cookie``, ``session``, ``passcode``, ``signature``, ``connectionstring``)
    on the key with separators removed; ``auth``, ``oauth``, ``pwd``, ``pw``, ``key``, ``pass``,
    ``sig``, ``private``, ``sas``, ``otp``, ``totp``, ``bearer``, ``jwt``, ``cred(s)``, ``hmac``,
    ``xsrf``/``csrf``, ``cvv``/``cvc``, ``ssn`` as whole parts (split on separators), ``pin`` and
    ``pat`` as the last part, ``mnemonic``/``seed_phrase``/``conn_str``/``recovery_code`` anywhere,
    and any part ending in ``key`` or ``pass`` (``signing_key``, ``AccountKey``, ``DB_PASS``);
    and ``token`` except in the counting forms:
    ``*tokens*`` (``max_tokens``, ``tokens_per_second``, ``special_tokens``), ``*token_id*``,
    ``*token_type*``, ``*token_count``/``*token_len``, ``tokenizer*``/``tokenize*`` and the
    special-token names (``pad_token``, ``eos_token``, ``bos_token``, ``unk_token`` ...).
    A secret stored under a benign-looking key (``api_tokens``) is still caught by the
    value rules, which look at every string's shape.
    """
    if not isinstance(key, str) or not key:
        return False
    lowered = key.lower()
    compact = _NON_ALNUM.sub("", lowered)
    if any(word in compact for word in _COMPACT_SECRET_WORDS + _MORE_COMPACT_SECRET_WORDS):
        return True
    if "token" in compact and _token_word_is_secret(lowered):
        return True
    parts = _NON_ALNUM.split(lowered)
    if not _WHOLE_PART_SECRET_WORDS.isdisjoint(parts):
        return True
    if parts and parts[-1] in _LAST_PART_SECRET_WORDS:
        return True
    return any(part.endswith(_KEY_SUFFIXES) and part not in _NOT_SECRET_PARTS for part in parts)


# --- paths (Axolotl's rules) ---------------------------------------------------------------

FIELDS_TO_REDACT: frozenset[str] = frozenset(
    {
        "base_model",
        "tokenizer_config",
        "base_model_config",
        "pretraining_dataset",  # a str or a dict
        "resume_from_checkpoint",
        "hub_model_id",
        "data_files",
    }
)
"""Axolotl's ``FIELDS_TO_REDACT`` plus ``data_files``: keys whose value is a location."""

PREFIXES_TO_REDACT: tuple[str, ...] = ("wandb_", "comet_", "mlflow_", "gradio_", "trackio_", "swanlab_")
"""Experiment-tracker settings (project, entity, run name, URI) name the user's workspace."""

PATH_INDICATORS: tuple[str, ...] = ("path", "dir")
"""Axolotl redacts every key containing one of these (so ``root_dir``, ``model_path``)."""


def _last_segment(lowered: str) -> str:
    """``axolotl.config.base_model`` -> ``base_model``: flattened attribute keys keep the rules."""
    return lowered.rsplit(".", 1)[-1]


def is_path_key(key: str) -> bool:
    """True if, by Axolotl's rules, the key's value is a location that may identify the user.

    The key (or its last dotted segment) is one of :data:`FIELDS_TO_REDACT`; or ``path`` or
    ``dir`` occurs in the lower-cased key; or a tracker prefix (:data:`PREFIXES_TO_REDACT`)
    occurs anywhere in it (Axolotl matches the prefixes case-sensitively; we lower-case).
    """
    if not isinstance(key, str) or not key:
        return False
    lowered = key.lower()
    if lowered in FIELDS_TO_REDACT or _last_segment(lowered) in FIELDS_TO_REDACT:
        return True
    if any(indicator in lowered for indicator in PATH_INDICATORS):
        return True
    return any(prefix in lowered for prefix in PREFIXES_TO_REDACT)


# --- names ---------------------------------------------------------------------------------

NAME_KEYS: frozenset[str] = frozenset(
    {
        "base_model",
        "base_model_config",
        "tokenizer_config",
        "tokenizer_name",
        "tokenizer_name_or_path",
        "hub_model_id",
        "pretraining_dataset",
        "model_name",
        "model_name_or_path",
        "dataset_name",
        "gen_ai.request.model",
        "gen_ai.response.model",
    }
)
"""Keys whose value is a Hugging Face model or dataset id (``org/name``)."""

_DATASET_LIST_KEYS: frozenset[str] = frozenset({"datasets", "test_datasets", "pretraining_dataset"})


def is_name_key(key: str, *, parent: str = "") -> bool:
    """True if the key's value is a model or dataset name that the whitelist may keep.

    ``parent`` is the key that holds the dict this key is in (the list's key for a dict inside
    a list): Axolotl's ``datasets: [{path: org/name, type: alpaca}]`` makes ``path`` a name
    key when ``parent`` is ``datasets``, ``test_datasets`` or ``pretraining_dataset``. A
    flattened key such as ``datasets.0.path`` counts too. Exact matches otherwise (the key or
    its last dotted segment in :data:`NAME_KEYS`).
    """
    if not isinstance(key, str) or not key:
        return False
    lowered = key.lower()
    if lowered in NAME_KEYS or _last_segment(lowered) in NAME_KEYS:
        return True
    parts = lowered.split(".")
    if parts[-1] != "path":
        return False
    if isinstance(parent, str) and parent.lower() in _DATASET_LIST_KEYS:
        return True
    return any(part in _DATASET_LIST_KEYS for part in parts[:-1])
