"""Privacy rules: pure functions that decide what of a value may leave the process.

Names are resolved lazily, so that importing one rule module (the manager needs ``Level``
on the disabled path) does not compile every rule or import yaml.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "marker": "markers",
    "register_schema": "schema",
    "strict_text": "strict",
    "Level": "values",
    "RedactionCounter": "values",
    "scrub_text": "values",
    "is_name_key": "keys",
    "is_path_key": "keys",
    "is_secret_key": "keys",
    "sanitize_stack_trace": "stacktrace",
    "scrub_tree": "tree",
    "Whitelist": "whitelist",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
