"""Who a spool is for, and who holds a claim on one of its files: the names on disk.

Recipients. A spool belongs to one recipient at one privacy level. The recipient is what the
destination was built with (OTLP: protocol and URL of each spooled signal; PostHog: host and
project key), hashed in memory (:func:`recipient_id`, kept on the ``Destination``) and keyed
again for the directory name (:func:`directory_name`) with a random key stored in the spool
root (``.recipient-key``, mode 0600). So no URL or key is written, a directory name cannot be
matched against a guessed URL without that key, and two machines' names never agree.

Levels. Data scrubbed at a level may go to a destination of that level or a laxer one
(:func:`may_receive`): strict data to a secrets-only backend, never secrets-only data to a
strict one.

Files. A spool file's name says when it was written, its signal, its item count and how
often delivering it failed (:class:`SpoolFile`), so ordering and the cap need no reading.

Claims. A process claims a file by renaming it with its pid and hashes of its host name and
boot id in the suffix (:func:`claim_suffix`); :func:`claimant_gone` tells, on the same host,
whether that process has ended (or the machine rebooted since), so a dead claim is taken back
at once, not after the age rule that remains for claims from other hosts.

Standard library only: used on the disabled path.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import re
import secrets
import stat
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LEVELS = ("strict", "secrets-only")
"""Privacy levels, strictest first."""
SPOOLED_SIGNALS = ("traces", "logs")
KEY_FILE = ".recipient-key"
"""In the spool root: the random key the recipient directories' names are derived with."""
CLAIMED = ".claimed"

_NAME = re.compile(r"^(\d{20})-(\d+)-([0-9a-f]{6})\.(traces|logs)\.(\d+)\.(\d+)\.jsonl$")
"""A spool file: time written (ns), pid, random token, signal, items, failed attempts."""
DIRECTORY = re.compile(r"^([0-9a-f]{32})-(strict|secrets-only)$")
"""A recipient's directory: keyed recipient hash, then the level."""
_CLAIM_TAG = re.compile(r"\.claimed(?:-(\d+)-([0-9a-f]{8})([0-9a-f]{8}))?$")
_O_SAFE = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
"""Opening a planted FIFO must not block, and a planted symlink must not be followed."""
_NO_HASH = "0" * 8


class UnsafeFile(OSError):
    """Not a regular file (a FIFO, device, directory), or larger than allowed: never read."""


def read_regular(path: Path, limit: int) -> bytes:
    """The bytes of ``path`` when it is a regular file of at most ``limit`` bytes (never a
    FIFO, a device or a symlink); OSError (UnsafeFile included) otherwise."""
    fd = os.open(path, _O_SAFE)
    with os.fdopen(fd, "rb") as file:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnsafeFile("not a regular file")
        if info.st_size > limit:
            raise UnsafeFile("larger than the spool cap")
        return file.read(limit + 1)


# -- recipients and levels ------------------------------------------------------------------------


def recipient_id(kind: str, *parts: str) -> str:
    """The identity of one recipient, in memory: SHA-256 over the destination kind and what
    the destination was built with. Never written as is (see :func:`directory_name`)."""
    return hashlib.sha256(json.dumps([kind, *parts]).encode("utf-8")).hexdigest()


def otlp_recipient(targets: Mapping[str, tuple[str, str]]) -> str:
    """``targets``: signal -> (protocol, URL its exporter sends to). Only spooled signals
    count: metrics are never spooled, so their endpoint does not decide where the spool goes."""
    parts = sorted(
        f"{signal} {protocol} {url.rstrip('/')}"
        for signal, (protocol, url) in targets.items()
        if signal in SPOOLED_SIGNALS
    )
    return recipient_id("otlp", *parts)


def posthog_recipient(host: str, api_key: str) -> str:
    """One PostHog project: the host and the project key together."""
    return recipient_id("posthog", host.rstrip("/"), api_key)


def level_name(level: Any) -> str | None:
    """``Level.STRICT`` or ``"strict"`` -> ``"strict"``; None for anything else."""
    value = getattr(level, "value", level)
    return value if value in LEVELS else None


def may_receive(data_level: str | None, destination_level: str | None) -> bool:
    """Whether data scrubbed at ``data_level`` may go to a destination at ``destination_level``."""
    if data_level not in LEVELS or destination_level not in LEVELS:
        return False
    return LEVELS.index(data_level) <= LEVELS.index(destination_level)


def directory_name(key: bytes, recipient: str, level: str) -> str:
    return f"{hmac.new(key, recipient.encode('utf-8'), hashlib.sha256).hexdigest()[:32]}-{level}"


def recipient_key(root: Path) -> bytes | None:
    """The spool's random key, made on first use (two processes racing agree on one). None
    when the file is damaged; OSError when it can be neither read nor made."""
    path = root / KEY_FILE
    with contextlib.suppress(FileNotFoundError):
        return _parse_key(read_regular(path, 256))
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = root / f".{KEY_FILE}.{os.getpid()}.{secrets.token_hex(3)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32))
        try:
            os.link(tmp, path)  # atomic and never replaces: the first creator wins
        except FileExistsError:
            pass
        except OSError:  # a file system without hard links: a rename, nearly as good
            if not path.exists():
                os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    return _parse_key(read_regular(path, 256))


def _parse_key(data: bytes) -> bytes | None:
    try:
        key = bytes.fromhex(data.strip().decode("ascii"))
    except ValueError:
        return None
    return key if len(key) >= 16 else None


@dataclass(frozen=True)
class SpoolFile:
    """One file, as its name describes it."""

    path: Path
    written_ns: int
    signal: str
    items: int
    attempts: int

    @classmethod
    def parse(cls, path: Path) -> SpoolFile | None:
        match = _NAME.match(base_name(path.name))
        if match is None:
            return None
        written, _pid, _token, signal, items, attempts = match.groups()
        return cls(path, int(written), signal, int(items), int(attempts))

    @staticmethod
    def new_name(signal: str, items: int) -> str:
        """The name of a file this process writes now: never failed, unique by pid and token."""
        return f"{time.time_ns():020d}-{os.getpid()}-{secrets.token_hex(3)}.{signal}.{items}.0.jsonl"

    def renamed(self, attempts: int) -> str:
        head = base_name(self.path.name).split(".", 1)[0]
        return f"{head}.{self.signal}.{self.items}.{attempts}.jsonl"

    def at(self, path: Path, attempts: int | None = None) -> SpoolFile:
        attempts = self.attempts if attempts is None else attempts
        return SpoolFile(path, self.written_ns, self.signal, self.items, attempts)


# -- claims ---------------------------------------------------------------------------------------

_MACHINE: tuple[str, str] | None = None


def _machine() -> tuple[str, str]:
    """Hashes (8 hex digits each) of this host's name and of its current boot."""
    global _MACHINE
    if _MACHINE is None:
        import socket  # ~10 ms: only when a file is claimed or a claim checked

        boot = ""
        with contextlib.suppress(OSError):
            boot = (
                read_regular(Path("/proc/sys/kernel/random/boot_id"), 64).decode("ascii", "replace").strip()
            )

        def short(text: str) -> str:
            text = text.strip()
            return hashlib.sha256(text.encode("utf-8")).hexdigest()[:8] if text else _NO_HASH

        _MACHINE = (short(socket.gethostname()), short(boot))
    return _MACHINE


def claim_suffix() -> str:
    host, boot = _machine()
    return f"{CLAIMED}-{os.getpid()}-{host}{boot}"


def base_name(name: str) -> str:
    """A spool file's own name, without a claim suffix."""
    index = name.find(CLAIMED)
    return name if index < 0 else name[:index]


def claimant_gone(name: str) -> bool:
    """Whether the process named in a claim is known to have ended: on this host, either a
    claim from before the last boot or no such pid now. A claim from another host (a shared
    directory) or without a tag (an older release) is not known: the age rule decides."""
    match = _CLAIM_TAG.search(name)
    if match is None or match.group(1) is None:
        return False
    pid, host, boot = int(match.group(1)), match.group(2), match.group(3)
    my_host, my_boot = _machine()
    if host != my_host:
        return False
    if boot != my_boot and _NO_HASH not in (boot, my_boot):
        return True
    if pid == os.getpid() or os.name == "nt":  # ours; on Windows os.kill would end the process
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # EPERM: alive, another user's
        return False
    return False
