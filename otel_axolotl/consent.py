"""Whether product telemetry (PostHog) may be sent, and the notice shown when nobody decided.

Precedence: environment (DO_NOT_TRACK, AXOLOTL_DO_NOT_TRACK) -> the choice recorded by
``otel-axolotl telemetry enable|disable`` -> the host library's default in code -> no choice. No
choice means off. Only the user's own choice (the variables, the recorded choice) is
*explicit*: a host library's default in code (Axolotl's opt-out model) decides on or off but
still shows the notice and waits, as Axolotl does, so a user who never read the docs learns
what could be collected before anything is. The notice says ON or OFF, as decided, and is
shown once per process tree (``otel-axolotl run`` marks its children with
OTEL_AXOLOTL_NOTICE_SHOWN).
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

NOTICE_SHOWN = _s.OTEL_AXOLOTL_NOTICE_SHOWN

NOTICE_ON = f"""\
otel-axolotl: anonymous product telemetry is ON unless you opt out.
  The maintainers receive: the training config with paths, secrets and non-whitelisted
  model names removed; OS, Python, package versions and hardware model; training progress
  and sanitized errors. Never host names, user names, paths or tokens; a fresh random id
  per run and nothing sent from non-main ranks.
  Opt out: AXOLOTL_DO_NOT_TRACK=1   or  otel-axolotl telemetry disable  (DO_NOT_TRACK=1 works too)
  Keep it: AXOLOTL_DO_NOT_TRACK=0   or  otel-axolotl telemetry enable
  Either choice silences this notice. Details: {DOCS_URL}
"""

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
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        reason = "not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else type(exc).__name__
        _s.warn_once(f"config:{path}", "otel-axolotl: cannot read %s (%s); no recorded choice.", path, reason)
        return None
    import yaml  # lazy: only read when no environment variable decided

    try:
        data = yaml.safe_load(text)
        value = data.get("product_telemetry") if isinstance(data, dict) else None
    except Exception:  # YAMLError, and whatever a hostile document makes the parser raise
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
    if recorded is not None:  # the user's recorded choice beats a library's default
        return ConsentDecision(recorded, True, "config file")
    if code_choice is not None:  # the host library's default: decides, but is not the user's choice
        return ConsentDecision(code_choice, False, "code")
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
    AXOLOTL_DO_NOT_TRACK, the recorded choice), delete its spool. A host library's False in
    code is not the user's withdrawal, but nothing may be sent with product telemetry off, so
    its spool goes too. OTEL_SDK_DISABLED pauses everything and is not a withdrawal, nor is
    nobody having chosen yet. Returns files deleted."""
    on_purpose = decision.explicit or decision.source == "code"
    if decision.product_telemetry or not on_purpose or decision.source == _s.OTEL_SDK_DISABLED:
        return 0
    return discard_product_spool(env, settings=settings)


def notice_shown(env: Mapping[str, str] | None = None) -> bool:
    """Whether another process of this tree (under ``otel-axolotl run``) has shown the notice
    already. False means this process is the one to show it: it has claimed it."""
    env = os.environ if env is None else env
    value = (env.get(NOTICE_SHOWN) or "").strip()
    if not value:
        return False  # not under the wrapper: every process decides for itself
    if value == "1":
        return True
    try:
        os.close(os.open(value, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        return True
    except OSError:  # the wrapper's directory is gone: rather show it than hide it
        return False
    return False


def show_notice(seconds: float, *, telemetry_on: bool = False) -> None:
    """Print the notice on stderr and wait, so it is seen before training output scrolls it
    away. ``telemetry_on``: the host library's default enables it (the ON text)."""
    sys.stderr.write(NOTICE_ON if telemetry_on else NOTICE)
    if seconds > 0:
        sys.stderr.write(f"otel-axolotl: continuing in {seconds:g} s...\n")
    sys.stderr.flush()
    if seconds > 0:
        time.sleep(seconds)


def settle(
    settings: _s.Settings,
    *,
    code_choice: bool | None,
    api_key: str | None,
    env: Mapping[str, str] | None,
    show_consent_notice: bool = True,
) -> ConsentDecision:
    """This process's decision, with what it entails: the recorded choice read (only when no
    variable decided and there is a key to send with), a withdrawal honoured (the unsent
    PostHog spool deleted), the notice shown when nobody chose (``plan.needs_notice``)."""
    from .plan import needs_notice

    recorded = read_recorded_choice(settings.config_file) if settings.consent is None and api_key else None
    decision = decide(settings, code_choice=code_choice, recorded=recorded, env=env)
    honour_withdrawal(decision, settings=settings)
    if show_consent_notice and needs_notice(settings, decision, api_key) and not notice_shown(env):
        show_notice(settings.notice_seconds, telemetry_on=decision.product_telemetry)
    return decision
