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

An exception group's parts keep their margin (``  |   File ...``) and rules (``+-+--- 1 ---``),
and get the same rules. The exception's message is free text, even where it looks like a
frame; a ``<frozen m>`` frame is a package's only if ``m`` is a standard-library module (and,
at strict, its function only if ``m`` defines it).
"""

from __future__ import annotations

import os
import re
import sys

from otel_axolotl.privacy.markers import marker
from otel_axolotl.privacy.names import is_installed_module, is_package_path
from otel_axolotl.privacy.values import Level, RedactionCounter, scrub_text

__all__ = ["KEPT_PACKAGES", "sanitize_stack_trace"]

KEPT_PACKAGES: tuple[str, ...] = ("otel_axolotl", "axolotl")
"""Packages whose frames keep their package-relative path even outside site-packages (a
source checkout): this SDK and the host library, when it is the one really imported."""

_FRAME_LINE = re.compile(r'([ \t]*File ")([^"\n]*)(", line \d+(?:, in )?)([^\n]*)')
_SEPARATORS = re.compile(r"[\\/]+")
_PACKAGE_DIRS = ("site-packages", "dist-packages")
_CARETS = re.compile(r"[ \t]*[\^~\-]+[ \t]*\r?\n?")
_GROUP_MARGIN = re.compile(r"[ ]*\|(?: |(?=\r?\n)|$)")  # "  | ": a line of an exception group's part
_GROUP_RULE = re.compile(  # "  + Exception Group Traceback ...", "  +-+------- 1 -------", "  +-------"
    r"[ ]*\+(?: Exception Group Traceback \(most recent call last\):"
    r"|-[-+]*(?: (?:\d+|\.\.\.) -+)?)[ \t]*\r?\n?"
)
_CHAIN_LINES = frozenset(
    (
        "During handling of the above exception, another exception occurred:",
        "The above exception was the direct cause of the following exception:",
    )
)
_STRUCTURE_LINES = _CHAIN_LINES | {
    "",
    "Traceback (most recent call last):",
    "Exception Group Traceback (most recent call last):",
}


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
    if path.startswith("<") and path.endswith(">"):  # <frozen runpy>; a message can fake one
        name = path.removeprefix("<frozen ").removesuffix(">") if path.startswith("<frozen ") else ""
        return name.split(".", 1)[0] in getattr(sys, "stdlib_module_names", ()) and is_installed_module(name)
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
    return _Sanitizer(level, counter).run(text)


class _Sanitizer:
    """One pass over the lines. Python writes a traceback as frames, then the exception's
    line and message, then (chained) the next one; an exception group's parts carry a margin
    (``  | ``) and are split by rules (``+-+---- 1 ----``). The message is free text whatever
    it looks like: from the exception's line on, nothing is a frame until a chain line
    (``During handling ...``) or, in a group, a line without the message's margin."""

    def __init__(self, level: Level, counter: RedactionCounter | None) -> None:
        self.level, self.counter = level, counter
        self.strict = level != Level.SECRETS_ONLY
        self.out: list[str] = []
        self.prose: list[str] = []  # message lines, scrubbed together: a PEM block spans lines
        self.prose_margin = ""
        self.grouped = False  # an exception group's header was seen: margins are structure
        self.message_margin: str | None = None  # inside an exception's message (at this margin)
        self.frame_margin: str | None = None  # the last frame's margin while its source may follow
        self.user_frame = False
        self.source_seen = False

    def run(self, text: str) -> str:
        for line in text.splitlines(keepends=True):
            self._line(line)
        self._flush()
        return "".join(self.out)

    def _line(self, line: str) -> None:
        if self.message_margin is not None:
            margin = self.message_margin
            body = _without_margin(line, margin)
            if body is None:
                self.message_margin = None  # a group's rule or the next chain: the message ended
            else:
                self._add_prose(margin, body)
                if body.strip() in _CHAIN_LINES:
                    self.message_margin = None
                return
        if self.frame_margin is not None:
            source = _without_margin(line, self.frame_margin) or ""
            indented = source[:1] in (" ", "\t") and _FRAME_LINE.match(source) is None
            if indented and self._source_line(self.frame_margin, source):
                return
        self.frame_margin = None
        if _GROUP_RULE.fullmatch(line):
            self._flush()
            self.grouped = True
            self.out.append(line)  # structure only: a rule or a group's header
            return
        margin_match = _GROUP_MARGIN.match(line) if self.grouped else None
        margin = margin_match.group(0) if margin_match else ""
        body = line[len(margin) :]
        frame = _FRAME_LINE.match(body)
        if frame is not None:
            self._frame(margin, body, frame)
            return
        if body[:1] not in (" ", "\t") and body.strip() not in _STRUCTURE_LINES:
            self.message_margin = margin  # the exception's line: its message follows
        self._add_prose(margin, body)

    def _frame(self, margin: str, body: str, frame: re.Match[str]) -> None:
        self._flush()
        path, function = frame.group(2), frame.group(4)
        package = _is_package_frame(path)
        shown = _frame_path(path)
        if self.strict and not package:
            shown = _count(self.counter) if shown else shown
            function = _count(self.counter) if function else function
        elif self.strict and path.startswith("<frozen ") and not _defines(path[8:-1], function):
            function = _count(self.counter)  # a frozen module's frame names a function it has
        elif self.strict:
            function = scrub_text(function, Level.STRICT, self.counter)
        self.out.append(margin + frame.group(1) + shown + frame.group(3) + function + body[frame.end() :])
        self.frame_margin, self.user_frame, self.source_seen = margin, not package, False

    def _source_line(self, margin: str, body: str) -> bool:
        """An indented line under a frame: a user's source becomes a marker, a package's own
        source is public code (shape rules only); carets and the rest are prose."""
        if self.user_frame and _CARETS.fullmatch(body) is None:
            indent = body[: len(body) - len(body.lstrip())]
            self.out.append(margin + indent + _count(self.counter) + ("\n" if body.endswith("\n") else ""))
            return True
        if not self.user_frame and not self.source_seen:
            self.source_seen = True
            self.out.append(margin + scrub_text(body, self.level, self.counter))
            return True
        return False

    def _add_prose(self, margin: str, body: str) -> None:
        if self.prose and margin != self.prose_margin:
            self._flush()
        self.prose_margin = margin
        self.prose.append(body)

    def _flush(self) -> None:
        if not self.prose:
            return
        clean = _scrub_prose("".join(self.prose), self.strict, self.level, self.counter)
        self.prose.clear()
        margin = self.prose_margin
        self.out.append(
            "".join(margin + part for part in clean.splitlines(keepends=True)) if margin else clean
        )


def _without_margin(line: str, margin: str) -> str | None:
    """The line without its group margin, or None if it lacks it (``  |`` alone: an empty line)."""
    if line.startswith(margin):
        return line[len(margin) :]
    bare = margin.rstrip()
    if bare and line.rstrip("\r\n") == bare:
        return line[len(bare) :]
    return None


def _scrub_prose(text: str, strict: bool, level: Level, counter: RedactionCounter | None) -> str:
    if not strict:
        return scrub_text(text, level, counter)
    from otel_axolotl.privacy.strict import strict_text
    from otel_axolotl.privacy.whitelist import Whitelist

    return strict_text(text, Whitelist.load(), counter)


def _defines(module: str, function: str) -> bool:
    return not function or is_installed_module(f"{module}.{function}")


def _count(counter: RedactionCounter | None) -> str:
    if counter is not None:
        counter.add()
    return marker("code")
