"""The documented vocabulary of the strict level: which words and option values may pass.

Why a vocabulary: strict is fail-closed on values, so "harmless" has to be a list somebody can
read and review, not the absence of a rule that fires. ``vocabulary.yaml`` (shipped in the
package) holds option values, free-text words and public host names; the names of Python's
builtins, the keys and enum values of every registered schema (``schema.py``) join them.
This machine's own user and host names never count as words, whatever the lists say.

Read once per process, lazily (the disabled path never parses YAML).
"""

from __future__ import annotations

import builtins
import functools
import importlib.resources
import logging
from dataclasses import dataclass

__all__ = ["Vocabulary", "own_names", "vocabulary"]

_logger = logging.getLogger("otel_axolotl")


@dataclass(frozen=True)
class Vocabulary:
    """Lower-cased sets; see vocabulary.yaml for what each holds."""

    options: frozenset[str]
    words: frozenset[str]
    hosts: frozenset[str]

    def is_option(self, value: str) -> bool:
        return value.lower() in self.options

    def is_word(self, word: str) -> bool:
        lowered = word.lower()
        return (lowered in self.words or lowered in self.options) and lowered not in own_names()


def _strings(values: object) -> frozenset[str]:
    if not isinstance(values, list):
        return frozenset()
    return frozenset(str(v).strip().lower() for v in values if isinstance(v, str) and v.strip())


@functools.lru_cache(maxsize=1)
def vocabulary() -> Vocabulary:
    """The packaged vocabulary plus builtins and registered schemas; empty lists (everything
    redacted at strict) and one warning if the file cannot be read. Never raises."""
    import yaml

    from otel_axolotl.privacy.schema import schemas

    data: dict[str, object] = {}
    try:
        text = (
            importlib.resources.files("otel_axolotl.privacy").joinpath("vocabulary.yaml").read_text("utf-8")
        )
        loader = getattr(yaml, "CBaseLoader", yaml.BaseLoader)
        loaded = yaml.load(text, Loader=loader)  # every scalar a string: "no" stays "no"
        data = loaded if isinstance(loaded, dict) else {}
    except Exception as exc:
        _logger.warning("otel-axolotl: cannot read the privacy vocabulary (%s); strict keeps no text", exc)
    known = schemas()
    builtin_names = frozenset(name.lower() for name in dir(builtins) if not name.startswith("_"))
    return Vocabulary(
        options=_strings(data.get("options")) | known.enum_values(),
        words=_strings(data.get("words")) | builtin_names | known.key_names(),
        hosts=_strings(data.get("hosts")),
    )


@functools.lru_cache(maxsize=1)
def own_names() -> frozenset[str]:
    """This machine's user name and host name (and its short form), lower-cased; looked up
    once. Never raises: a lookup that fails adds nothing."""
    names: set[str] = set()
    try:
        import getpass

        names.add(getpass.getuser())
    except Exception:
        pass
    try:
        import socket

        host = socket.gethostname()
        names.update({host, host.split(".", 1)[0]})
    except Exception:
        pass
    return frozenset(n.lower() for n in names if n and len(n) >= 2 and n.lower() not in ("root", "localhost"))
