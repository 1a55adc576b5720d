"""The on-disk spool: spans and events that could not be delivered, kept for the next start.

Where: under the per-user cache directory, ``$XDG_CACHE_HOME/otel-axolotl/spool/``
(``~/.cache/...``), or under ``OTEL_AXOLOTL_SPOOL_DIR``: one directory per destination kind
(``otlp``, ``posthog``), and in it one per recipient and privacy level,
``otlp/<recipient>-<level>/`` (``spool_layout.py`` says how the names are made). Console and
file destinations write locally and are never spooled.

For whom: a pipeline lists only its own recipient's directory at its own level and, at
``secrets-only``, the same recipient's ``strict`` one. Data scrubbed at ``secrets-only`` is never
replayed into a ``strict`` destination, nor scrubbed again for one: it is left for its own
recipient. A destination without a recipient id is not spooled (its undelivered data is counted
as dropped). Files of the version-1 layout (directly in ``otlp/`` or ``posthog/``, recipient
unknown) are deleted, with one info message, when a pipeline of that kind first lists its spool.

What: only data that has passed the privacy stage; the delivery stage behind it feeds the
spool (``delivery.py``), and the next start or ``otel-axolotl flush`` sends it (``replay.py``).
Metrics are not spooled: cumulative, the next export carries them.

How: one file per failed batch or per shutdown, written to a hidden temporary name and renamed
into place. Each file is JSON lines: a header (format, version, signal, item count, destination
kind, recipient, level; checked again on reading), then one span or event per line
(``spool_codec.py``). The name carries the time, the signal, the item count and how often
delivering it failed. Over the cap (``OTEL_AXOLOTL_SPOOL_MAX_BYTES`` per destination kind, all
recipients together) the oldest files are deleted first.

Several processes may share a directory: a file is claimed by renaming it before it is sent; a
claim whose process has ended on this machine is taken back at once, one from another host
after ``STALE_SECONDS`` (``spool_files.py`` makes these file-system moves). Only regular files
are opened (a FIFO or symlink planted here is skipped). A file that cannot be read is deleted
with one warning naming it; reading never raises into start-up.

Only the standard library is imported here at module level: consent withdrawal deletes the
product spool on the disabled path, which must stay cheap.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import settings as _s
from . import spool_files as files
from .spool_codec import Binding, SpoolFileError, SpoolVersionError, decode_file, encode_file
from .spool_layout import (
    DIRECTORY,
    LEVELS,
    SpoolFile,
    UnsafeFile,
    directory_name,
    level_name,
    may_receive,
    read_regular,
    recipient_key,
)

_logger = logging.getLogger("otel_axolotl")

SPOOLED_DESTINATIONS = ("otlp", "posthog")
"""Destinations that cross the network. Console, file and debug destinations are never spooled."""
PRODUCT_DESTINATION = "posthog"
"""The product-telemetry destination, whose spool is deleted when consent is withdrawn."""
MAX_ATTEMPTS = 5
"""Replays of one file that may fail before it is given up (and its items counted as dropped),
so that one file the backend always refuses cannot hold back the others."""

DropSink = Callable[[str, str, int], None]
"""``(signal, reason, count)``: told about items the spool itself gives up."""


# -- recipients ---------------------------------------------------------------------------------


def spool_root(env: Mapping[str, str] | None = None) -> Path:
    """``OTEL_AXOLOTL_SPOOL_DIR``, else ``$XDG_CACHE_HOME/otel-axolotl/spool``, else ``~/.cache/...``."""
    return _s.spool_dir(os.environ if env is None else env)


@dataclass(frozen=True)
class SpoolConfig:
    """Whether to spool, where, and how much per destination kind."""

    enabled: bool = True
    root: Path = Path(".")
    max_bytes: int = _s.DEFAULT_SPOOL_MAX_BYTES

    @classmethod
    def from_settings(cls, settings: _s.Settings) -> SpoolConfig:
        return cls(enabled=settings.spool, root=settings.spool_dir, max_bytes=settings.spool_max_bytes)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SpoolConfig:
        return cls.from_settings(_s.Settings.from_env(env))

    def spool(
        self, destination: str, drops: DropSink | None = None, *, recipient: str | None, level: Any
    ) -> Spool | None:
        """The spool of one recipient (``recipient_id``) at one privacy level (a ``Level`` or its
        value), whether or not spooling is enabled (to read it). None when there is no
        recipient, an unknown level, or the spool key cannot be read or made (warned once)."""
        level_value = level_name(level)
        if not recipient or level_value is None:
            return None
        try:
            key = recipient_key(self.root)
        except OSError as exc:
            _s.warn_once(
                f"spool-key:{self.root}",
                "otel-axolotl: cannot read or create the spool key in %s (%s); undelivered telemetry "
                "is dropped.",
                self.root,
                exc,
            )
            return None
        if key is None:
            _s.warn_once(
                f"spool-key:{self.root}",
                "otel-axolotl: the spool key in %s is damaged (delete it to start afresh); undelivered "
                "telemetry is dropped.",
                self.root,
            )
            return None
        name = directory_name(key, recipient, level_value)
        return Spool(self.kind_directory(destination) / name, destination, self.max_bytes, drops)

    def kind_directory(self, destination: str) -> Path:
        """Where every spool of one destination kind lives (all recipients, all levels)."""
        return self.root / destination

    def spools(self, destination: str) -> list[Spool]:
        """Every recipient's spool of one kind (to count or clear them; never to replay)."""
        return _recipient_spools(self.kind_directory(destination), destination, self.max_bytes)

    def pending_count(self, destination: str) -> int:
        """Files waiting in every spool of one kind, whoever they are for."""
        return sum(len(spool.pending()) for spool in self.spools(destination))

    def clear(self, destination: str) -> int:
        """Delete every spool file of one kind, every recipient and level and the version-1
        layout included (consent withdrawn); how many files were deleted."""
        deleted = sum(spool.clear() for spool in self.spools(destination))
        return deleted + files.clear(self.kind_directory(destination))


def _recipient_spools(
    kind_dir: Path, destination: str, max_bytes: int, drops: DropSink | None = None
) -> list[Spool]:
    try:
        entries = list(os.scandir(kind_dir))
    except OSError:
        return []
    return [
        Spool(Path(e.path), destination, max_bytes, drops)
        for e in sorted(entries, key=lambda e: e.name)
        if DIRECTORY.match(e.name) and e.is_dir(follow_symlinks=False)
    ]


class Spool:
    """The files of one recipient at one level (the directory's name says which): write, list,
    claim, read, delete, cap. ``directory`` is ``<root>/<kind>/<recipient>-<level>``."""

    def __init__(self, directory: Path, destination: str, max_bytes: int, drops: DropSink | None = None):
        self.directory = Path(directory)
        self.destination = destination
        self.max_bytes = max_bytes
        self._drops = drops
        self._cap_warned = False
        self._swept = False
        bound = DIRECTORY.match(self.directory.name)
        self.recipient: str | None = bound.group(1) if bound else None
        self.level: str | None = bound.group(2) if bound else None

    def sources(self) -> list[Spool]:
        """The spools whose data may be replayed into this one's destination: its own and, at
        a laxer level, the same recipient's stricter ones. Never a laxer level's."""
        if self.level is None:
            return []
        return [
            self
            if level == self.level
            else Spool(
                self.directory.with_name(f"{self.recipient}-{level}"),
                self.destination,
                self.max_bytes,
                self._drops,
            )
            for level in LEVELS
            if may_receive(level, self.level)
        ]

    # -- writing ----------------------------------------------------------------------------
    def write(self, signal: str, items: Sequence[Any]) -> Path | None:
        """Keep ``items`` (spans or ``ReadableLogRecord``s, already scrubbed) in one new file.

        Returns the file, or None when it could not be written (one warning per spool; the
        caller counts the items as dropped). Never raises.
        """
        if not items or self.level is None:
            return None
        try:
            data = encode_file(signal, items, self._binding)
            final = files.write_whole(self.directory, SpoolFile.new_name(signal, len(items)), data)
        except Exception as exc:  # disk full, read-only home, an item we cannot encode
            _s.warn_once(
                f"spool-write:{self.directory}",
                "otel-axolotl: cannot write the %s spool in %s (%s); undelivered telemetry is dropped.",
                self.destination,
                self.directory,
                exc,
            )
            return None
        self._enforce_cap()
        return final

    def _enforce_cap(self) -> None:
        """Delete the oldest files of this kind (every recipient) until they fit ``max_bytes``."""
        sized = []
        for spool in _recipient_spools(self.directory.parent, self.destination, self.max_bytes):
            for f in files.list_files(spool.directory, claimed=True):
                with contextlib.suppress(OSError):
                    sized.append((f, f.path.stat().st_size))
        sized.sort(key=lambda fs: (fs[0].written_ns, fs[0].path.name))
        total = sum(size for _, size in sized)
        for f, size in sized:  # oldest first
            if total <= self.max_bytes:
                break
            if files.delete(f.path):
                total -= size
                self._drop(f.signal, "spool_full", f.items)
                if not self._cap_warned:
                    self._cap_warned = True
                    _logger.warning(
                        "otel-axolotl: the %s spool in %s is over its %d-byte cap (%s); the oldest "
                        "files are deleted first.",
                        self.destination,
                        self.directory.parent,
                        self.max_bytes,
                        _s.OTEL_AXOLOTL_SPOOL_MAX_BYTES,
                    )

    # -- reading ----------------------------------------------------------------------------
    def pending(self) -> list[SpoolFile]:
        """Files waiting to be sent, oldest first. Takes back dead claims and temporary files;
        the first call also deletes the kind's version-1 files (they know no recipient)."""
        if not self._swept:
            self._swept = True
            self._sweep_version_one()
        return files.list_files(self.directory, claimed=False)

    def _sweep_version_one(self) -> None:
        kind = self.directory.parent
        deleted = [f for f in files.list_files(kind, claimed=True) if files.delete(f.path)]
        for f in deleted:
            self._drop(f.signal, "undelivered", f.items)
        if deleted:
            _logger.info(
                "otel-axolotl: deleted %d spool file(s) of an older otel-axolotl in %s: they do not say "
                "which endpoint or privacy level they were for, so they are never sent.",
                len(deleted),
                kind,
            )

    def claim(self, f: SpoolFile) -> SpoolFile | None:
        """Take ``f`` for sending; None when another process took it first."""
        return files.claim(f)

    def read(self, f: SpoolFile) -> list[Any]:
        """The items of a claimed file, rebuilt as SDK objects.

        Raises SpoolFileError after deleting a corrupt, truncated or misplaced file (one
        warning naming it), or SpoolVersionError for another format version (given back).
        """
        try:
            return decode_file(read_regular(f.path, max(self.max_bytes, 1)), self._binding)
        except SpoolVersionError as exc:
            _s.warn_once(
                f"spool-version:{f.path}",
                "otel-axolotl: skipping spool file %s (%s); left in place.",
                f.path,
                exc,
            )
            self.give_back(f, failed=False)
            raise
        except Exception as exc:
            why = (
                str(exc)
                if isinstance(exc, (SpoolFileError, UnsafeFile))
                else f"corrupt: {type(exc).__name__}"
            )
            _logger.warning("otel-axolotl: skipping unreadable spool file %s (%s); deleting it.", f.path, why)
            files.delete(f.path)
            raise SpoolFileError(why) from exc

    # -- after sending ----------------------------------------------------------------------
    def done(self, f: SpoolFile) -> None:
        """Delivered: delete it."""
        files.delete(f.path)

    def discard(self, path: Path) -> None:
        """A file this process wrote turned out to be delivered after all: delete it (unless
        another process has claimed it meanwhile)."""
        files.delete(path)

    def give_back(self, f: SpoolFile, *, failed: bool = True) -> SpoolFile | None:
        """Not delivered: unclaim it for a later try (returned), or give it up after MAX_ATTEMPTS."""
        attempts = f.attempts + 1 if failed else f.attempts
        if attempts >= MAX_ATTEMPTS:
            if files.delete(f.path):
                self._drop(f.signal, "undelivered", f.items)
            return None
        try:
            return files.unclaim(f, attempts)
        except OSError:
            _logger.debug("otel-axolotl: cannot unclaim %s", f.path, exc_info=True)
            return None

    def set_aside(self, f: SpoolFile, why: str) -> None:
        """A claimed file the destination refused while it accepted others (too large for the
        transport, invalid): deleted and counted, so it holds back no file behind it."""
        if files.delete(f.path):
            self._drop(f.signal, "undelivered", f.items)
            _s.warn_once(
                f"spool-set-aside:{self.directory}",
                "otel-axolotl: the %s destination %s spool file %s while accepting others; it is "
                "deleted (%d item(s) counted as dropped). Further such files are not logged.",
                self.destination,
                why,
                f.path.name,
                f.items,
            )

    def clear(self) -> int:
        """Delete every spool file here (consent withdrawn); how many files were deleted."""
        return files.clear(self.directory)

    @property
    def _binding(self) -> Binding:
        """What each file's header says it was written for, and is checked against."""
        return (self.destination, self.recipient, self.level)

    def _drop(self, signal: str, reason: str, count: int) -> None:
        if self._drops is not None and count > 0:
            self._drops(signal, reason, count)
