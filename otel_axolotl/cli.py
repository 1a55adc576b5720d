"""The ``otel-axolotl`` command: demo, run, preview, telemetry status|enable|disable."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path

from . import settings as _s
from .version import __version__


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(epochs=args.epochs, samples=args.samples, json_lines=args.json)


def _cmd_run(args: argparse.Namespace) -> int:
    """Run a command with every Python process in it instrumented, all ranks in one trace."""
    command = [c for c in args.command if c != "--"] if args.command[:1] == ["--"] else args.command
    if not command:
        print("otel-axolotl run: give a command, e.g. otel-axolotl run -- python train.py", file=sys.stderr)
        return 2
    env = dict(os.environ)
    env.setdefault(_s.OTEL_AXOLOTL_RUN_ID, uuid.uuid4().hex)
    bootstrap = str(Path(__file__).parent / "_bootstrap")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (bootstrap, env.get("PYTHONPATH", "")) if p)
    try:
        return subprocess.call(command, env=env)
    except FileNotFoundError:
        print(f"otel-axolotl run: command not found: {command[0]}", file=sys.stderr)
        return 127


def _cmd_preview(args: argparse.Namespace) -> int:
    """Print the config-loaded event exactly as PostHog would receive it (strict level)."""
    import yaml

    from .privacy.stage import Scrubber
    from .privacy.values import Level, RedactionCounter
    from .privacy.whitelist import Whitelist

    try:
        config = yaml.safe_load(Path(args.config).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        print(f"otel-axolotl preview: cannot read {args.config}: {exc}", file=sys.stderr)
        return 2
    if not isinstance(config, dict):
        print(f"otel-axolotl preview: {args.config} is not a mapping of config keys", file=sys.stderr)
        return 2
    level = Level(args.level)
    scrubber = Scrubber(level, Whitelist.load(_s.Settings.from_env().whitelist_path))
    counter = RedactionCounter()
    body = scrubber.body(config, counter)
    print(
        json.dumps(
            {"event": "config-loaded", "privacy_level": level.value, "properties": body},
            indent=2,
            default=str,
        )
    )
    print(f"# {counter.count} value(s) redacted; nothing was sent.", file=sys.stderr)
    return 0


def _cmd_telemetry(args: argparse.Namespace) -> int:
    from .consent import config_path, decide, read_recorded_choice, record_choice

    path = config_path()
    if args.action in ("enable", "disable"):
        record_choice(args.action == "enable", path)
        print(f"Product telemetry {args.action}d (recorded in {path}).")
        settings = _s.Settings.from_env()
        if settings.consent is not None and settings.consent != (args.action == "enable"):
            print("Note: the environment (AXOLOTL_DO_NOT_TRACK / DO_NOT_TRACK) overrides this choice.")
        return 0
    settings = _s.Settings.from_env()
    recorded = read_recorded_choice(path)
    decision = decide(settings, recorded=recorded)
    state = "enabled" if decision.product_telemetry else "disabled"
    print(f"Product telemetry: {state} (decided by: {decision.source})")
    print(f"Recorded choice: {'none' if recorded is None else recorded} ({path})")
    otlp = ", ".join(f"{k}={v.endpoint} ({v.protocol})" for k, v in settings.otlp.items()) or "not configured"
    print(f"OTLP destination: {otlp}; privacy level {settings.privacy}")
    if settings.sdk_disabled:
        print("OTEL_SDK_DISABLED=true: nothing is sent anywhere.")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="otel-axolotl", description=__doc__)
    parser.add_argument("--version", action="version", version=f"otel-axolotl {__version__}")
    sub = parser.add_subparsers(dest="cmd", required=True)

    demo = sub.add_parser("demo", help="train a tiny model built in code and show its telemetry")
    demo.add_argument("--epochs", type=float, default=2)
    demo.add_argument("--samples", type=int, default=128, help="training samples (batch size 8)")
    demo.add_argument("--json", action="store_true", help="also print every item as a JSON line")
    demo.set_defaults(func=_cmd_demo)

    run = sub.add_parser("run", help="run a command with its Python processes instrumented")
    run.add_argument("command", nargs=argparse.REMAINDER)
    run.set_defaults(func=_cmd_run)

    preview = sub.add_parser("preview", help="print what a config would send as config-loaded")
    preview.add_argument("config")
    preview.add_argument("--level", choices=_s.PRIVACY_LEVELS, default="strict")
    preview.set_defaults(func=_cmd_preview)

    telemetry = sub.add_parser("telemetry", help="show or record the product-telemetry choice")
    telemetry.add_argument("action", choices=("status", "enable", "disable"))
    telemetry.set_defaults(func=_cmd_telemetry)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    import logging

    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
