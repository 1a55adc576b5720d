"""One spool directory's files on the file system: written whole, listed, claimed, deleted.

Several processes may share a spool directory (the ranks of one node, a run and
``otel-axolotl flush``), and anyone who can write to it may plant something there. So:

- a file is written under a hidden temporary name and renamed into place, so a reader never
  sees half of one; a temporary file older than ``STALE_SECONDS`` is a writer that died, and
  is deleted;
- a file is claimed by renaming it (``spool_layout.claim_suffix``) before it is sent, so two
  processes never send the same one; a claim whose process has ended on this machine is taken
  back at once, one from another host after ``STALE_SECONDS``;
- only regular files are listed (and so ever opened), and deleting never opens: a FIFO,
  device or symlink planted here is harmless.

What to write, how often a file may fail and how much may be kept is the spool's (``spool.py``).
Standard library only: on the disabled path.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

from .spool_layout import CLAIMED, SpoolFile, base_name, claim_suffix, claimant_gone

STALE_SECONDS = 600.0
"""A claim (or a temporary file) this old belongs to a process that died; it is taken back.
Claims of a process known dead on this machine are taken back at once."""

_TMP = ".tmp"


def write_whole(directory: Path, name: str, data: bytes) -> Path:
    """``data`` as ``directory/name``, all of it or nothing: written to a temporary name and
    renamed into place. The directory (and its parent) are made 0700, the file 0600.
    OSError when it cannot be written."""
    directory.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    directory.mkdir(mode=0o700, exist_ok=True)
    tmp = directory / f".{name}{_TMP}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    final = directory / name
    os.replace(tmp, final)
    return final


def list_files(directory: Path, *, claimed: bool) -> list[SpoolFile]:
    """The spool files in ``directory``, oldest first; deletes a dead writer's temporary files.

    ``claimed``: every file, claimed or not (to size or delete them). Otherwise only those
    waiting to be sent: a dead process's claim is taken back, a live one's file left out."""
    try:
        entries = list(os.scandir(directory))
    except OSError:  # no spool yet (the usual case), or unreadable
        return []
    now = time.time()
    found = []
    for entry in entries:
        name = entry.name
        try:
            regular = entry.is_file(follow_symlinks=False)
        except OSError:
            continue
        if not regular:
            continue  # a FIFO, device, symlink or directory is never opened
        if _is_temporary(name):
            if _age(entry, now) > STALE_SECONDS:
                delete(Path(entry.path))  # a writer died half-way
            continue
        f = SpoolFile.parse(Path(entry.path))
        if f is None:
            continue  # not ours: left alone
        if CLAIMED in name and not claimed:
            if not (claimant_gone(name) or _age(entry, now) > STALE_SECONDS):
                continue
            try:
                f = unclaim(f, f.attempts)  # the claimant died; send it again
            except OSError:
                continue
        found.append(f)
    return sorted(found, key=lambda f: (f.written_ns, f.path.name))


def claim(f: SpoolFile) -> SpoolFile | None:
    """Take ``f`` for sending; None when another process took it first."""
    claimed = f.path.with_name(base_name(f.path.name) + claim_suffix())
    try:
        os.rename(f.path, claimed)
        os.utime(claimed)  # the claim's age, for STALE_SECONDS
    except OSError:
        return None
    return f.at(claimed)


def unclaim(f: SpoolFile, attempts: int) -> SpoolFile:
    """Release a claimed ``f`` for a later try, its name now counting ``attempts`` failures.
    OSError when it cannot be renamed (another process took it back meanwhile)."""
    back = f.path.with_name(f.renamed(attempts))
    os.rename(f.path, back)
    return f.at(back, attempts)


def delete(path: Path) -> bool:
    """Whether ``path`` was deleted here (False: gone already, or not ours to delete)."""
    try:
        os.unlink(path)
        return True
    except OSError:
        return False


def clear(directory: Path) -> int:
    """Delete every spool file and temporary file in ``directory``, then the directory if
    nothing else is in it; how many files were deleted."""
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return 0
    deleted = 0
    for entry in entries:
        ours = SpoolFile.parse(Path(entry.path)) is not None
        if ours or _is_temporary(entry.name):
            deleted += delete(Path(entry.path))  # unlinking never opens: a FIFO is harmless
    with contextlib.suppress(OSError):
        directory.rmdir()  # only when nothing else is in it
    return deleted


def _is_temporary(name: str) -> bool:
    return name.startswith(".") and name.endswith(_TMP)


def _age(entry: os.DirEntry[str], now: float) -> float:
    try:
        return now - entry.stat(follow_symlinks=False).st_mtime
    except OSError:
        return 0.0
