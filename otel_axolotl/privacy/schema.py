"""Config schemas: which keys a host library's config has, and what kind of value each holds.

Why: strict keeps a config value only when something vouches for it. A key's *kind* does:
``learning_rate: float`` lets ``"2e-4"`` pass, ``optimizer: option`` lets ``adamw_torch``
pass (an option-vocabulary token), ``output_dir: path`` never passes at strict. A key nobody
registered is still judged, by the generic rule (numbers, booleans, vocabulary options and
whitelisted model ids pass; anything else becomes a marker).

Shipped: ``schemas/otel_axolotl.yaml`` (this SDK's own attributes and event properties) and
``schemas/axolotl.yaml`` (Axolotl 0.21.0's config keys, recorded by semconv/axolotl_schema.py).
A host library adds its own with :func:`register_schema`; its package name then also counts
as installed code for frame, module and function names (``names.py``).

Kinds: ``bool``, ``int``, ``float``, ``number``, ``option``, ``model``, ``path``, ``text``,
``version``, ``id``, ``code``, ``hardware``, ``stacktrace``, ``module`` (installed code's
module names only), ``frames`` (structured stack frames,
judged whole: ``tree.py``), ``user-configured``, ``host`` and ``user``
(never pass at strict), ``dict``,
``{enum: [...], or: kind}``, ``{list: kind}``, ``{any_of: [kinds]}``. An entry of any other
shape is ignored (its key falls back to the generic rule): a typo cannot open a hole.
"""

from __future__ import annotations

import functools
import importlib.resources
import logging
import threading
from collections.abc import Mapping
from typing import Any

__all__ = ["KINDS", "Schemas", "kind_of", "register_schema", "schemas"]

_logger = logging.getLogger("otel_axolotl")

KINDS: frozenset[str] = frozenset(
    {"bool", "int", "float", "number", "option", "model", "path", "text", "version", "id", "code",
     "hardware", "user-configured", "dict", "host", "user", "stacktrace", "frames", "module"}
)  # fmt: skip
_PACKAGED = ("otel_axolotl", "axolotl")


def _valid(kind: Any) -> bool:
    if isinstance(kind, str):
        return kind in KINDS
    if not isinstance(kind, dict) or len(kind) == 0:
        return False
    if "enum" in kind:
        values = kind["enum"]
        return (
            isinstance(values, list)
            and all(isinstance(v, str) for v in values)
            and set(kind) <= {"enum", "or"}
            and ("or" not in kind or _valid(kind["or"]))
        )
    if set(kind) == {"list"}:
        return _valid(kind["list"])
    if set(kind) == {"any_of"}:
        return isinstance(kind["any_of"], list) and all(_valid(k) for k in kind["any_of"])
    return False


class Schemas:
    """Every registered schema, merged: the first library to register a key decides its kind."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kinds: dict[str, Any] = {}
        self.libraries: list[str] = []

    def add(self, library: str, keys: Mapping[str, Any]) -> int:
        """Register ``keys``; returns how many were accepted (malformed kinds are skipped)."""
        accepted = {k: v for k, v in keys.items() if isinstance(k, str) and k and _valid(v)}
        with self._lock:
            for key, kind in accepted.items():
                self._kinds.setdefault(key, kind)
            if library not in self.libraries:
                self.libraries.append(library)
        skipped = len(keys) - len(accepted)
        if skipped:
            _logger.warning(
                "otel-axolotl: %d entries of the %s privacy schema are malformed and ignored",
                skipped,
                library,
            )
        enum_values.cache_clear()
        return len(accepted)

    def kind(self, key: str) -> Any:
        """The kind registered for ``key`` (or for its last dotted segment), else None."""
        kind = self._kinds.get(key)
        if kind is None and "." in key:
            kind = self._kinds.get(key.rsplit(".", 1)[-1])
        return kind

    def key_names(self) -> frozenset[str]:
        return frozenset(k.lower() for k in self._kinds)

    def enum_values(self) -> frozenset[str]:
        return enum_values(self)


@functools.lru_cache(maxsize=4)
def enum_values(known: Schemas) -> frozenset[str]:
    """Every enum value of every registered kind: public option strings of public libraries."""
    found: set[str] = set()

    def visit(kind: Any) -> None:
        if isinstance(kind, dict):
            found.update(v.lower() for v in kind.get("enum", ()))
            for sub in ("or", "list"):
                if sub in kind:
                    visit(kind[sub])
            for sub_kind in kind.get("any_of", ()):
                visit(sub_kind)

    for kind in list(known._kinds.values()):
        visit(kind)
    return frozenset(found)


@functools.lru_cache(maxsize=1)
def schemas() -> Schemas:
    """The process's schemas, with the packaged ones loaded (once, lazily)."""
    import yaml

    known = Schemas()
    for name in _PACKAGED:
        try:
            text = (
                importlib.resources.files("otel_axolotl.privacy")
                .joinpath(f"schemas/{name}.yaml")
                .read_text("utf-8")
            )
            data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # C: ~10x faster
            known.add(name, data.get("keys", {}) if isinstance(data, dict) else {})
        except Exception as exc:
            _logger.warning("otel-axolotl: cannot read the %s privacy schema (%s)", name, type(exc).__name__)
    return known


def register_schema(library: str, keys: Mapping[str, Any]) -> int:
    """Let a host library's own config keys pass the strict level with their value kinds.

    ``register_schema("mylib", {"optimizer": "option", "lr": "float", "data_dir": "path"})``.
    Returns how many keys were accepted. Values are still judged: a ``path`` never passes at
    strict, an ``option`` only when it is an option-vocabulary token or one of the ``enum``
    values. Never raises.
    """
    try:
        from otel_axolotl.privacy import vocabulary

        count = schemas().add(str(library), keys if isinstance(keys, Mapping) else {})
        vocabulary.vocabulary.cache_clear()
        from otel_axolotl.privacy import channels, names, strict

        names.add_host_package(str(library))
        strict._key_ok.cache_clear()  # judged before the schema existed
        channels.clear_caches()
        return count
    except Exception:
        _logger.debug("otel-axolotl: registering a privacy schema failed", exc_info=True)
        return 0


def kind_of(key: str) -> Any:
    """The registered kind of ``key``, or None."""
    return schemas().kind(key)
