"""Whether product telemetry (PostHog) may be sent, and the notice shown when nobody decided.

Precedence: environment (DO_NOT_TRACK, AXOLOTL_DO_NOT_TRACK) -> the host library's choice in
code -> the choice recorded by ``otel-axolotl telemetry enable|disable`` -> no choice. No
choice means off, plus a notice and a wait on the main process, so that a user who never
read the docs still learns what could be collected before anything could be.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from . import settings as _s

_logger = logging.getLogger("otel_axolotl")

DOCS_URL = "https://github.com/otel-axolotl/otel-axolotl/blob/main/docs/what-we-collect.md"

NOTICE = f"""\
otel-axolotl: anonymous product telemetry is OFF until you choose.
  If enabled, the maintainers receive: the training config with paths, secrets and
  non-whitelisted model names removed; OS, Python, package versions and hardware model;
  training progress and sanitized errors. Never host names, user names, paths or tokens;
  a fresh random id per run and nothing sent from non-main ranks.
  Opt in:  AXOLOTL_DO_NOT_TRACK=0   or  otel-axolotl telemetry enable
  Opt out: AXOLOTL_DO_NOT_TRACK=1   or  otel-axolotl telemetry disable  (DO_NOT_TRACK=1 works too)
  Either choice silences this notice. Details: {DOCS_URL}
"""


@dataclass(frozen=True)
class ConsentDecision:
    product_telemetry: bool
    explicit: bool
    source: str


def config_path(env: Mapping[str, str] | None = None) -> Path:
    """Where the choice is recorded (``Settings.config_file`` holds the same, resolved)."""
    return _s.config_file(os.environ if env is None else env)


def read_recorded_choice(path: Path | None = None) -> bool | None:
    """The recorded choice, or None. A file that cannot be read is no choice, with a warning."""
    path = config_path() if path is None else path
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        _s.warn_once(f"config:{path}", "otel-axolotl: cannot read %s (%s); no recorded choice.", path, exc)
        return None
    import yaml  # lazy: only read when no environment variable decided

    try:
        data = yaml.safe_load(text)
        value = data.get("product_telemetry") if isinstance(data, dict) else None
    except yaml.YAMLError:
        value = None
    if isinstance(value, bool):
        return value
    _s.warn_once(
        f"config:{path}",
        "otel-axolotl: %s should contain 'product_telemetry: true' or 'product_telemetry: false'; "
        "ignoring it (no recorded choice).",
        path,
    )
    return None


def record_choice(enabled: bool, path: Path | None = None) -> Path:
    import yaml

    path = config_path() if path is None else path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump({"product_telemetry": enabled}), encoding="utf-8")
    os.replace(tmp, path)
    return path


def decide(
    settings: _s.Settings,
    *,
    code_choice: bool | None = None,
    recorded: bool | None = None,
    env: Mapping[str, str] | None = None,
) -> ConsentDecision:
    env = os.environ if env is None else env
    if settings.sdk_disabled:
        return ConsentDecision(False, True, _s.OTEL_SDK_DISABLED)
    if settings.consent is not None:
        source = _s.DO_NOT_TRACK if (env.get(_s.DO_NOT_TRACK) or "").strip() else _s.AXOLOTL_DO_NOT_TRACK
        return ConsentDecision(settings.consent, True, source)
    if code_choice is not None:
        return ConsentDecision(code_choice, True, "code")
    if recorded is not None:
        return ConsentDecision(recorded, True, "config file")
    return ConsentDecision(False, False, "default")


def discard_product_spool(
    env: Mapping[str, str] | None = None, *, settings: _s.Settings | None = None
) -> int:
    """Delete the product-telemetry (PostHog) spool: once consent is withdrawn, nothing kept
    from an earlier run is sent. The spool is where ``settings`` (else ``env``) put it.
    Returns how many files were deleted. Never raises."""
    from .spool import PRODUCT_DESTINATION, SpoolConfig  # standard library only: cheap

    try:
        config = SpoolConfig.from_settings(settings) if settings is not None else SpoolConfig.from_env(env)
        return config.clear(PRODUCT_DESTINATION)
    except Exception:
        _logger.debug("otel-axolotl: cannot delete the product-telemetry spool", exc_info=True)
        return 0


def honour_withdrawal(
    decision: ConsentDecision, env: Mapping[str, str] | None = None, *, settings: _s.Settings | None = None
) -> int:
    """When ``decision`` says no to product telemetry on purpose (DO_NOT_TRACK,
    AXOLOTL_DO_NOT_TRACK, the host library in code, the recorded choice), delete its spool.
    OTEL_SDK_DISABLED pauses everything and is not a withdrawal. Returns files deleted."""
    if decision.product_telemetry or not decision.explicit or decision.source == _s.OTEL_SDK_DISABLED:
        return 0
    return discard_product_spool(env, settings=settings)


def show_notice(seconds: float) -> None:
    """Print the notice on stderr and wait, so it is seen before training output scrolls it away."""
    sys.stderr.write(NOTICE)
    if seconds > 0:
        sys.stderr.write(f"otel-axolotl: continuing in {seconds:g} s...\n")
    sys.stderr.flush()
    if seconds > 0:
        time.sleep(seconds)
