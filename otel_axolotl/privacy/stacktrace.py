"""Stack-trace rule: keep where in the libraries an error happened, drop where the user lives.

Why: a trace is the most useful part of an error report and the most personal one; its frame
paths name the user (``/home/alice/...``), the machine's layout and private projects, and the
source line under a user's frame is the user's own code (``login(token="hf_...")``). The part
of a path that matters to a maintainer starts at ``site-packages`` (``site-packages/
transformers/trainer.py``) or at the package itself (``axolotl/cli/train.py``). Axolotl's
``sanitize_stack_trace`` does the same; its six path fixtures are in
tests/privacy/test_stacktrace.py.

Per frame, at every level: the path is reduced (from the last site-/dist-packages on, from
a host package's real directory on, else the bare file name), and the source line under a
frame of user code becomes ``[REDACTED:code]``. At strict a user frame's file and function
become ``[REDACTED:code]`` too, and every other line is free text (``strict.strict_text``):
only vocabulary words, numbers and installed code names stay. Package frames and their
source lines are public code: only the shape rules run on them.
"""

from __future__ import annotations

import os
import re
import sys

from otel_axolotl.privacy.markers import marker
from otel_axolotl.privacy.names import is_package_path
from otel_axolotl.privacy.values import Level, RedactionCounter, scrub_text

__all__ = ["KEPT_PACKAGES", "sanitize_stack_trace"]

KEPT_PACKAGES: tuple[str, ...] = ("otel_axolotl", "axolotl")
"""Packages whose frames keep their package-relative path even outside site-packages (a
source checkout): this SDK and the host library, when it is the one really imported."""

_FRAME_LINE = re.compile(r'([ \t]*File ")([^"\n]*)(", line \d+(?:, in )?)([^\n]*)')
_SEPARATORS = re.compile(r"[\\/]+")
_PACKAGE_DIRS = ("site-packages", "dist-packages")
_CARETS = re.compile(r"[ \t]*[\^~\-]+[ \t]*\r?\n?")


def _frame_path(path: str) -> str:
    """``/home/u/.venv/lib/python3.11/site-packages/torch/nn/x.py`` -> ``site-packages/torch/nn/x.py``;
    ``/home/u/src/axolotl/src/axolotl/cli/train.py`` -> ``axolotl/cli/train.py``;
    ``C:\\Users\\u\\proj\\run.py`` -> ``run.py``; ``<frozen runpy>`` stays."""
    if path.startswith("<") and path.endswith(">"):
        return path
    parts = [part for part in _SEPARATORS.split(path) if part]
    if not parts:
        return ""
    for index in range(len(parts) - 2, -1, -1):  # the last package directory wins
        if parts[index] in _PACKAGE_DIRS:
            return "/".join(parts[index:])
    if _is_package_frame(path):
        for index in range(len(parts) - 2, -1, -1):
            if parts[index] in KEPT_PACKAGES:
                return "/".join(parts[index:])
    return parts[-1]


def _is_package_frame(path: str) -> bool:
    """Installed code: site-/dist-packages, the stdlib, ``<frozen ...>``, a host package's real
    directory (a user's folder that only shares its name is not)."""
    if path.startswith("<") and path.endswith(">"):
        return path.startswith("<frozen ")
    parts = [part for part in _SEPARATORS.split(path) if part]
    if any(part in _PACKAGE_DIRS for part in parts):
        return True
    if os.path.isabs(path) or (len(path) > 2 and path[1] == ":"):
        return is_package_path(path)
    # A frame already reduced by an earlier pass: "otel_axolotl/errors.py" (a host package
    # really imported), "threading.py" (a standard-library module).
    if len(parts) > 1:
        return parts[0] in KEPT_PACKAGES and parts[0] in sys.modules
    stem = parts[0].removesuffix(".py") if parts else ""
    return bool(parts) and parts[0].endswith(".py") and stem in getattr(sys, "stdlib_module_names", ())


def sanitize_stack_trace(
    text: str, level: Level = Level.STRICT, counter: RedactionCounter | None = None
) -> str:
    """A formatted traceback with frame paths reduced, user source lines removed, and the rest
    scrubbed at ``level`` (see the module docstring). ``counter`` counts the markers, not the
    shortened frames. Non-str input is returned unchanged."""
    if not isinstance(text, str):
        return text
    strict = level != Level.SECRETS_ONLY
    out: list[str] = []
    prose: list[str] = []  # message lines, scrubbed together: a PEM block or a message spans lines

    def flush() -> None:
        if prose:
            out.append(_scrub_prose("".join(prose), strict, level, counter))
            prose.clear()

    in_user_frame = False
    for line in text.splitlines(keepends=True):
        frame = _FRAME_LINE.match(line)
        if frame is not None:
            flush()
            path, function = frame.group(2), frame.group(4)
            package = _is_package_frame(path)
            in_user_frame = not package
            shown = _frame_path(path)
            if strict and not package:
                shown = _count(counter) if shown else shown
                function = _count(counter) if function else function
            elif strict:
                function = scrub_text(function, Level.STRICT, counter)
            out.append(frame.group(1) + shown + frame.group(3) + function + line[frame.end() :])
            continue
        indented = line[:1] in (" ", "\t")
        if indented and in_user_frame and _CARETS.fullmatch(line) is None:
            indent = line[: len(line) - len(line.lstrip())]
            out.append(indent + _count(counter) + ("\n" if line.endswith("\n") else ""))
            continue
        if indented and not in_user_frame and not prose and out and _FRAME_LINE.match(out[-1]):
            out.append(scrub_text(line, level, counter))  # a package's own source line: public code
            continue
        in_user_frame = False
        prose.append(line)
    flush()
    return "".join(out)


def _scrub_prose(text: str, strict: bool, level: Level, counter: RedactionCounter | None) -> str:
    if not strict:
        return scrub_text(text, level, counter)
    from otel_axolotl.privacy.strict import strict_text
    from otel_axolotl.privacy.whitelist import Whitelist

    return strict_text(text, Whitelist.load(), counter)


def _count(counter: RedactionCounter | None) -> str:
    if counter is not None:
        counter.add()
    return marker("code")
