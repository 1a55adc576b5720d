"""Names as channels: span, event and metric names, descriptions, units, scopes, resources.

Why: a name is as free as a value. ``tracer.start_span(f"load {path}")``, a metric made through
the manager's meter with a user's description, ``OTEL_SERVICE_NAME=alice-laptop``: each would
carry personal data past a stage that only looked at attribute values. The rules, per level:

- span names: a registered name passes; another name is free text (strict: vocabulary words
  only; secrets-only: secrets removed).
- event names: a registered name passes; a name of a registered family (``<module>.<function>-
  error``) keeps its fixed part and has its variable part judged (``names.error_event``);
  another name is free text.
- metric names: a registered name passes; at strict another metric is dropped whole.
  Descriptions are free text; a unit passes at strict only when some registered metric uses it.
- instrumentation scopes: at strict, the name of installed code passes, else ``[REDACTED:code]``.
- resources for product analytics (PostHog): only the SDK's own facts (``PRODUCT_RESOURCE_KEYS``),
  each judged by its kind, never what the user configured for their own backend
  (``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``).

All functions are pure and cached per distinct short input (names repeat all the time).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from .. import semconv as sc
from ..resource import SDK_RESOURCE_KEYS
from .markers import Tally, marker
from .names import error_event, is_installed_module
from .schema import kind_of
from .strict import strict_text, strict_value
from .values import Level, scrub_text
from .whitelist import Whitelist

__all__ = [
    "PRODUCT_RESOURCE_KEYS",
    "event_name",
    "metric_description",
    "metric_name",
    "metric_unit",
    "scope_name",
    "span_name",
    "text",
    "user_resource_value",
    "value",
]

PRODUCT_ID_ATTRIBUTE = "posthog.distinct_id"
"""Where the product scrubber puts the run's random product id (the PostHog exporter's
``DISTINCT_ID_ATTRIBUTE``: replayed data keeps the id it was recorded under)."""
PRODUCT_RESOURCE_KEYS: frozenset[str] = SDK_RESOURCE_KEYS - {sc.ATTR_RUN_ID}
"""The resource facts the SDK computes itself; the only ones product analytics receives.
``service.name`` is not among them: the user may set it (``OTEL_SERVICE_NAME``); nor is the run
id, the trace id of the user's own backends (the product id replaces it: ``PRODUCT_ID_ATTRIBUTE``)."""

_REGISTERED_UNITS: frozenset[str] = frozenset(spec.unit for spec in sc.METRICS.values())
_CACHED = 256


@functools.lru_cache(maxsize=8192)
def _text_cached(value: str, strict: bool, whitelist: Whitelist) -> tuple[str, int]:
    counter = Tally()
    clean = (
        strict_text(value, whitelist, counter)  # type: ignore[arg-type]
        if strict
        else scrub_text(value, Level.SECRETS_ONLY, counter)  # type: ignore[arg-type]
    )
    return clean, counter.count


@functools.lru_cache(maxsize=8192)
def _value_cached(key: str, value: str, strict: bool, whitelist: Whitelist) -> tuple[str, int]:
    counter = Tally()
    if strict:
        clean = strict_value(value, kind_of(key), whitelist, counter)  # type: ignore[arg-type]
    else:
        clean = scrub_text(value, Level.SECRETS_ONLY, counter)  # type: ignore[arg-type]
    return clean, counter.count


def _counted(result: tuple[str, int], counter: Any) -> str:
    if result[1] and counter is not None:
        counter.add(result[1])
    return result[0]


def clear_caches() -> None:
    """Forget judged values (a schema was registered since)."""
    _text_cached.cache_clear()
    _value_cached.cache_clear()


def text(value: str, strict: bool, whitelist: Whitelist, counter: Any = None) -> str:
    """Free text (a name, a description, a status message) at the level."""
    if len(value) <= _CACHED:
        return _counted(_text_cached(value, strict, whitelist), counter)
    return _counted(_text_cached.__wrapped__(value, strict, whitelist), counter)


def value(key: str, value: str, strict: bool, whitelist: Whitelist, counter: Any = None) -> str:
    """A string under a registered attribute key: strict judges it by the key's kind."""
    if len(value) <= _CACHED:
        return _counted(_value_cached(key, value, strict, whitelist), counter)
    return _counted(_value_cached.__wrapped__(key, value, strict, whitelist), counter)


def span_name(name: str, strict: bool, whitelist: Whitelist, counter: Any = None) -> str:
    return name if sc.is_registered_span(name) else text(name, strict, whitelist, counter)


def event_name(name: str, strict: bool, whitelist: Whitelist, counter: Any = None) -> str:
    if sc.is_registered_event(name):
        if name in sc.EVENTS:
            return name
        if not strict:  # a family's member at secrets-only: its variable part may hold a secret
            return text(name, strict, whitelist, counter)
        fixed = error_event(name)  # a family's member: its variable part is the module and function
        if fixed != name and counter is not None:
            counter.add()
        return fixed
    return text(name, strict, whitelist, counter)


def metric_name(name: str, strict: bool, whitelist: Whitelist, counter: Any = None) -> str | None:
    """The name to export, or None to drop the metric (strict, unregistered)."""
    if sc.is_registered_metric(name):
        return name
    if strict:
        if counter is not None:
            counter.add()
        return None
    return text(name, strict, whitelist, counter)


def metric_description(description: str, strict: bool, whitelist: Whitelist, counter: Any = None) -> str:
    return text(description, strict, whitelist, counter) if description else description


def metric_unit(unit: str, strict: bool, whitelist: Whitelist, counter: Any = None) -> str:
    if not unit or unit in _REGISTERED_UNITS:
        return unit
    if strict:
        if counter is not None:
            counter.add()
        return marker("text")
    return text(unit, strict, whitelist, counter)


def user_resource_value(value: Any, counter: Any = None) -> Any:
    """A resource value the user configured for their own backend: only secrets removed
    (strings, and strings in lists), at any level; product analytics never receives it."""
    if isinstance(value, str):
        return scrub_text(value, Level.SECRETS_ONLY, counter)
    if isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
        return [user_resource_value(item, counter) for item in value]
    return value


@functools.lru_cache(maxsize=256)
def scope_name(name: str, strict: bool) -> str:
    """An instrumentation scope (the tracer's or meter's name) at the level."""
    if not strict or not name:
        return scrub_text(name, Level.SECRETS_ONLY) if name else name
    return name if is_installed_module(name) else marker("code")
