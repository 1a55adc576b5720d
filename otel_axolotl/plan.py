"""Which destinations this process sends to, at which privacy level: a pure decision.

    Settings (environment or caller) + consent decision + rank  ->  Plan

A ``Plan`` lists the destinations decided on (not built yet: building imports exporters, and
debug mode prints instead of building) and, for each spooled destination left out, why. The
manager builds its runtime from it; ``otel-axolotl flush`` replays the spool through it, so
both always agree on where data may go. Nothing here has side effects (no file, no socket, no
log line), and nothing beyond the standard library and ``settings`` is imported at module
level: with nothing wanted, privacy and exporter modules are never imported at all.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from . import settings as _s

if TYPE_CHECKING:
    from .consent import ConsentDecision
    from .destinations import Destination
    from .privacy.values import Level
    from .spool import SpoolConfig

NO_CONSENT = "product telemetry is off"
NO_KEY = f"no PostHog project key ({_s.OTEL_AXOLOTL_POSTHOG_API_KEY})"
NO_HOST = f"no valid PostHog host ({_s.OTEL_AXOLOTL_POSTHOG_HOST})"
NOT_MAIN_RANK = "not the main rank"
NO_OTLP = f"no {_s.OTEL_EXPORTER_OTLP_ENDPOINT} set"
RANK_STRATEGY = f"this rank does not export ({_s.OTEL_AXOLOTL_RANKS})"
SDK_DISABLED = f"{_s.OTEL_SDK_DISABLED}=true"
EXPORTERS_NOT_OTLP = "OTEL_<SIGNAL>_EXPORTER names no otlp"


@dataclass(frozen=True)
class PlannedDestination:
    """A destination decided on but not built yet."""

    name: str
    level: Level
    signals: frozenset[str]
    build: Callable[[], Destination | None]
    product_analytics: bool = False  # PostHog: main rank only, strict only, needs consent


@dataclass(frozen=True)
class Plan:
    destinations: tuple[PlannedDestination, ...] = ()
    skipped: Mapping[str, str] = field(default_factory=dict)
    """Destination name -> why it is not in the plan (only for destinations that could be)."""

    @property
    def product_telemetry(self) -> bool:
        return any(d.product_analytics for d in self.destinations)

    @property
    def names(self) -> list[str]:
        return [d.name for d in self.destinations]


def plan(
    settings: _s.Settings,
    consent: ConsentDecision,
    *,
    api_key: str | None,
    posthog_timeout: float | None = None,
) -> Plan:
    """The destinations of this process. ``api_key``: the PostHog project key (code or
    environment); ``posthog_timeout``: the budget of one PostHog export, retries included
    (default: the exporter's own, ``OTEL_EXPORTER_POSTHOG_TIMEOUT`` or 10 s; never the exit
    deadline, which bounds the whole flush instead)."""
    s = settings
    skipped: dict[str, str] = {}
    if s.sdk_disabled:
        return Plan((), {"posthog": SDK_DISABLED, "otlp": SDK_DISABLED})
    selected = observability_exporters(s)
    if not (consent.product_telemetry or selected or s.console or s.file or s.prometheus):
        return Plan((), {"posthog": NO_CONSENT, "otlp": NO_OTLP})
    from . import destinations as _dest
    from .privacy.values import Level

    planned: list[PlannedDestination] = []
    if not consent.product_telemetry:
        skipped["posthog"] = NO_CONSENT
    elif not s.rank.is_main:
        skipped["posthog"] = NOT_MAIN_RANK
    elif not api_key:
        skipped["posthog"] = NO_KEY
    elif not s.posthog_host:
        skipped["posthog"] = NO_HOST
    else:
        key, timeout = api_key, posthog_timeout
        planned.append(
            PlannedDestination(
                "posthog",
                Level.STRICT,
                # Axolotl's events only; its spans as events only when asked (a run summary).
                frozenset({"traces", "logs"} if s.posthog_spans else {"logs"}),
                lambda: _dest.posthog(s, key, export_timeout=timeout),
                product_analytics=True,
            )
        )
    level = Level(s.privacy)
    if not s.rank.exports(s.rank_strategy):
        skipped["otlp"] = RANK_STRATEGY
        return Plan(tuple(planned), skipped)
    if "otlp" in selected:
        planned.append(PlannedDestination("otlp", level, selected["otlp"], lambda: _dest.otlp(s)))
    else:
        skipped["otlp"] = NO_OTLP if not s.exporters else EXPORTERS_NOT_OTLP
    console_signals = frozenset(_s.SIGNALS) if s.console else selected.get("console")
    if console_signals:
        planned.append(
            PlannedDestination(
                "console", level, console_signals, lambda: _dest.console(level, signals=console_signals)
            )
        )
    for name, signals in selected.items():
        if name not in ("otlp", "console", "prometheus"):  # prometheus: its own pull destination below
            planned.append(
                PlannedDestination(
                    f"exporter:{name}",
                    level,
                    signals,
                    functools.partial(_dest.entry_point, name, signals, level),
                )
            )
    if s.file:
        path = s.file
        planned.append(
            PlannedDestination("file", level, frozenset(_s.SIGNALS), lambda: _dest.file(path, level))
        )
    if s.prometheus:
        planned.append(
            PlannedDestination(
                "prometheus", level, frozenset({"metrics"}), lambda: _dest.prometheus(s, level)
            )
        )
    return Plan(tuple(planned), skipped)


def observability_exporters(settings: _s.Settings) -> dict[str, frozenset[str]]:
    """Exporter name -> the signals it receives at the observability level: OTEL_<SIGNAL>_EXPORTER
    where set, else OTLP for each signal with an endpoint (OTEL_EXPORTER_OTLP_*)."""
    selected: dict[str, set[str]] = {}
    for signal in _s.SIGNALS:
        chosen = settings.exporters.get(signal)
        names = ("otlp",) if chosen is None and signal in settings.otlp else (chosen or ())
        for name in names:
            selected.setdefault(name, set()).add(signal)
    return {name: frozenset(signals) for name, signals in selected.items()}


def needs_notice(settings: _s.Settings, consent: ConsentDecision, api_key: str | None) -> bool:
    """The consent notice (and its wait): nobody chose, the host library ships a key, main rank."""
    return not consent.explicit and bool(api_key) and settings.rank.is_main and not settings.sdk_disabled


def spool_config(settings: _s.Settings) -> SpoolConfig:
    """Where undelivered data is kept, as the settings say."""
    from .spool import SpoolConfig

    return SpoolConfig.from_settings(settings)
