"""Whitelist rule: which model and dataset names may be reported as they are.

Why: knowing that runs fine-tune ``meta-llama/Llama-3.1-8B`` is useful and reveals nothing
about the user, while ``alice/secret-project`` or ``/home/alice/models/x`` does. Axolotl keeps a
name only when its organisation is on a list (``whitelist.yaml``); so do we, with the same
file format and the same 39 organisations, and a stricter reading of what counts as a name: a
Hugging Face id is exactly ``org/name`` (a local path never is).

A broken whitelist file must not break training or leak names: it becomes an empty whitelist
(every name redacted at the strict level) and one warning.
"""

from __future__ import annotations

import functools
import importlib.resources
import logging
import os
import re
from collections.abc import Iterable, Iterator
from typing import Any

import yaml

from otel_axolotl.privacy.markers import MARKER, marker
from otel_axolotl.privacy.values import Level, RedactionCounter, scrub_text

__all__ = ["EXPECTED_FORMAT", "Whitelist"]

_LOG = logging.getLogger(__name__)

EXPECTED_FORMAT = "organizations: [list of strings]"
"""The whitelist file's shape, as the warning about a bad file states it."""

_PACKAGE = "otel_axolotl"
_PACKAGED_FILE = "whitelist.yaml"

# ``org/name``: two parts, each starting with a letter or digit, then letters, digits, ``_``,
# ``-``, ``.`` (Hugging Face's repo-id alphabet). So ``/x/y``, ``./x``, ``../x``, ``~u/x``,
# ``C:/x``, ``a\\b``, ``a/b/c``, names with spaces and empty parts never count.
_REPO_ID = re.compile(r"([A-Za-z0-9][A-Za-z0-9_.\-]{0,95})/[A-Za-z0-9][A-Za-z0-9_.\-]{0,95}")


class Whitelist:
    """An immutable set of organisations (compared case-insensitively)."""

    __slots__ = ("_orgs",)

    def __init__(self, orgs: Iterable[str] = ()) -> None:
        self._orgs: frozenset[str] = frozenset(
            org.strip().lower() for org in orgs if isinstance(org, str) and org.strip()
        )

    @classmethod
    def empty(cls) -> Whitelist:
        """A whitelist that keeps no name."""
        return cls(())

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None) -> Whitelist:
        """Read a whitelist file; ``None`` reads the one shipped with the package.

        A missing, unreadable or malformed file gives an empty whitelist and one warning that
        names the file and the expected format (``organizations: [list of strings]``); this
        never raises.
        """
        if path is None:
            return _packaged_whitelist()
        name = os.fspath(path)
        try:
            with open(name, encoding="utf-8") as handle:
                text = handle.read()
        except (OSError, UnicodeDecodeError) as exc:
            return _rejected(name, f"cannot read it ({type(exc).__name__})")
        return _parse(text, name)

    @property
    def organizations(self) -> frozenset[str]:
        """The organisations, lower-cased."""
        return self._orgs

    def is_whitelisted(self, name: str) -> bool:
        """True if ``name`` is a Hugging Face id ``org/name`` whose org is on the list.

        ``meta-llama/Llama-3-8B`` and ``META-LLAMA/llama-3-8b`` are whitelisted; ``unknown/x``,
        ``meta-llama`` (one part), ``meta-llama/x/y`` (three), ``/meta-llama/x``,
        ``./meta-llama/x`` and ``C:\\meta-llama\\x`` (local paths) are not.
        """
        if not isinstance(name, str):
            return False
        match = _REPO_ID.fullmatch(name)
        return match is not None and match.group(1).lower() in self._orgs

    def filter_name(
        self, value: str, level: Level = Level.STRICT, counter: RedactionCounter | None = None
    ) -> str:
        """What may be reported of a model or dataset name at ``level``.

        Whitelisted: kept (only the secret rules run on it, so no token can ride along in a
        public-looking name). Otherwise STRICT gives ``[REDACTED:model]`` (``:path``, ``:secret``
        ... when the value has that shape; counted) and SECRETS_ONLY gives
        the name with secrets removed. An unknown level counts as STRICT.
        """
        if self.is_whitelisted(value):
            return scrub_text(value, Level.SECRETS_ONLY, counter)
        if level == Level.SECRETS_ONLY:
            return scrub_text(value if isinstance(value, str) else str(value), Level.SECRETS_ONLY, counter)
        text = value if isinstance(value, str) else str(value)
        shaped = scrub_text(text, Level.STRICT)
        reason = "model"
        if MARKER.fullmatch(shaped) and shaped != marker("text"):
            reason = shaped[len("[REDACTED:") : -1]  # a path, a secret, an address ...
        elif _REPO_ID.fullmatch(text) is None and ("/" in text or "\\" in text):
            reason = "path"
        if counter is not None:
            counter.add()
        return marker(reason)

    def __len__(self) -> int:
        return len(self._orgs)

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._orgs))

    def __contains__(self, org: object) -> bool:
        return isinstance(org, str) and org.lower() in self._orgs

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Whitelist) and other._orgs == self._orgs

    def __hash__(self) -> int:
        return hash(self._orgs)

    def __repr__(self) -> str:
        return f"Whitelist({len(self._orgs)} organizations)"


def _rejected(name: str, reason: str) -> Whitelist:
    _LOG.warning(
        "otel-axolotl: ignoring whitelist file %s: %s; expected YAML of the form '%s'. "
        "No model or dataset name will be kept at the strict level.",
        name,
        reason,
        EXPECTED_FORMAT,
    )
    return Whitelist.empty()


def _parse(text: str, name: str) -> Whitelist:
    """Validate the whole file: one bad entry rejects it, so a typo cannot half-apply."""
    try:
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        return _rejected(name, f"it is not valid YAML ({type(exc).__name__})")
    orgs = data.get("organizations") if isinstance(data, dict) else None
    if not isinstance(orgs, list) or not all(isinstance(org, str) for org in orgs):
        return _rejected(name, "it has no 'organizations' list of strings")
    return Whitelist(orgs)


@functools.lru_cache(maxsize=1)
def _packaged_whitelist() -> Whitelist:
    """The shipped file, read once per process (a Whitelist is immutable, so sharing is safe)."""
    resource = importlib.resources.files(_PACKAGE).joinpath(_PACKAGED_FILE)
    name = f"{_PACKAGE}/{_PACKAGED_FILE}"
    try:
        text = resource.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return _rejected(name, f"cannot read it ({type(exc).__name__})")
    return _parse(text, name)
