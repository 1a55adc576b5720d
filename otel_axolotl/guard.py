"""The one guard around every hook: telemetry never raises into training.

A hook that fails is skipped and said once per hook (``_logging``); the traceback goes to the
debug log only. Hot-path hooks keep their own ``try`` (free in Python 3.11 until something
raises) and call ``hook_failed``, instead of paying for the wrapper's extra call every step.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from ._logging import warn_once

_logger = logging.getLogger("otel_axolotl")

F = TypeVar("F", bound=Callable[..., Any])


def hook_failed(name: str, exc: Exception) -> None:
    """A telemetry hook failed: say so once per hook, never raise. The hot-path hooks call
    this from their own ``try`` (free in Python 3.11 until something raises) instead of
    paying for ``guarded``'s extra call on every step."""
    warn_once(f"hook:{name}", "otel-axolotl: %s failed and was skipped: %r", name, exc)
    _logger.debug("otel-axolotl: hook failure", exc_info=True)


def guarded(method: F) -> F:
    """Never let telemetry raise into training; say so once per hook."""

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except Exception as exc:
            hook_failed(method.__qualname__, exc)
            return None

    return wrapper  # type: ignore[return-value]
