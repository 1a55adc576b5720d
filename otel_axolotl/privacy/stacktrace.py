"""Stack-trace rule: keep where in the libraries an error happened, drop where the user lives.

Why: a trace is the most useful part of an error report and the most personal one; its frame
paths name the user (``/home/alice/...``), the machine's layout and private projects. The part
of a path that matters to a maintainer starts at ``site-packages`` (``site-packages/
transformers/trainer.py``) or at the package itself (``axolotl/cli/train.py``), and a user's
own file is enough as a bare name (``run.py``). Axolotl's ``sanitize_stack_trace`` does the
same; its six path fixtures are in tests/privacy/test_stacktrace.py.

Frame paths are reduced at every level: a trace says where in the code, not where on disk. To
keep full frame paths for a secrets-only destination, call ``scrub_text`` on the trace instead.
"""

from __future__ import annotations

import re

from otel_axolotl.privacy.values import Level, RedactionCounter, scrub_text

__all__ = ["KEPT_PACKAGES", "sanitize_stack_trace"]

KEPT_PACKAGES: tuple[str, ...] = ("otel_axolotl", "axolotl")
"""Packages whose frames keep their package-relative path even outside site-packages (a
source checkout): this SDK and the host library."""

_FRAME = re.compile(r'(File ")([^"\n]*)(")')
_SEPARATORS = re.compile(r"[\\/]+")
_PACKAGE_DIRS = ("site-packages", "dist-packages")


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
    for index in range(len(parts) - 2, -1, -1):
        if parts[index] in KEPT_PACKAGES:
            return "/".join(parts[index:])
    return parts[-1]


def sanitize_stack_trace(
    text: str, level: Level = Level.STRICT, counter: RedactionCounter | None = None
) -> str:
    """A formatted traceback with frame paths reduced and the rest scrubbed at ``level``.

    Every ``File "<path>"`` keeps its path from the last ``site-packages``/``dist-packages``
    on, or from the last ``otel_axolotl``/``axolotl`` directory, or else only the file name;
    separators become ``/``. Then the whole text (exception messages, source lines, paths
    in messages such as ``No such file: '/home/alice/data.json'``) goes through
    :func:`scrub_text`. ``counter`` counts the REDACTED markers, not the shortened frames.
    Non-str input is returned unchanged.
    """
    if not isinstance(text, str):
        return text
    reduced = _FRAME.sub(lambda m: m.group(1) + _frame_path(m.group(2)) + m.group(3), text)
    return scrub_text(reduced, level, counter)
