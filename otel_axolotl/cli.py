"""The ``otel-axolotl`` command: demo, run, preview, flush, telemetry status|enable|disable."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import settings as _s
from .consent import NOTICE_SHOWN
from .version import __version__


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(epochs=args.epochs, samples=args.samples, json_lines=args.json)


FORWARDED_SIGNALS = ("SIGTERM", "SIGINT", "SIGHUP")


def _cmd_run(args: argparse.Namespace) -> int:
    """Run a command with every Python process in it instrumented, all ranks in one trace.

    The wrapper forwards SIGTERM, SIGINT and SIGHUP to the command and returns its status
    (128 + the signal's number when a signal ended it). The consent notice is shown at most
    once for the whole process tree (see ``_notice_for_children``)."""
    import signal
    import tempfile

    command = [c for c in args.command if c != "--"] if args.command[:1] == ["--"] else args.command
    if not command:
        print("otel-axolotl run: give a command, e.g. otel-axolotl run -- python train.py", file=sys.stderr)
        return 2
    env = dict(os.environ)
    env.setdefault(_s.OTEL_AXOLOTL_RUN_ID, uuid.uuid4().hex)
    bootstrap = str(Path(__file__).parent / "_bootstrap")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (bootstrap, env.get("PYTHONPATH", "")) if p)
    with tempfile.TemporaryDirectory(prefix="otel-axolotl-run-") as private:
        env[NOTICE_SHOWN] = _notice_for_children(Path(private))
        # At a terminal, Ctrl-C reaches the command's process group directly (the command stays
        # in the foreground); elsewhere the command gets its own group, and every signal the
        # wrapper receives is passed to that whole group (a launcher and its ranks).
        interactive = sys.stdin is not None and sys.stdin.isatty()
        try:
            child = subprocess.Popen(command, env=env, start_new_session=not interactive)
        except FileNotFoundError:
            print(f"otel-axolotl run: command not found: {command[0]}", file=sys.stderr)
            return 127
        except OSError as exc:
            print(f"otel-axolotl run: cannot start {command[0]}: {exc.strerror or exc}", file=sys.stderr)
            return 126

        def forward(signum: int, _frame: object) -> None:
            if interactive and signum == signal.SIGINT:
                return  # the terminal sent it to the command too
            try:
                if interactive:
                    child.send_signal(signum)
                else:
                    os.killpg(child.pid, signum)
            except (ProcessLookupError, PermissionError):
                pass

        previous = {}
        for name in FORWARDED_SIGNALS:
            number = getattr(signal, name, None)
            if number is not None:
                previous[number] = signal.signal(number, forward)
        try:
            status = child.wait()  # SIGINT is handled above: no KeyboardInterrupt here
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)
    return 128 - status if status < 0 else status


def _notice_for_children(private: Path) -> str:
    """The value of OTEL_AXOLOTL_NOTICE_SHOWN for the command's processes: ``1`` when no
    notice is due anywhere (the user chose, or everything is off); else a file in the
    wrapper's private directory that the first process due to show the notice creates, so
    that it alone shows it and waits (it alone knows the host library's key and default,
    hence whether a notice is due and whether it says ON or OFF)."""
    from .consent import read_recorded_choice

    settings = _s.Settings.from_env()
    if settings.sdk_disabled or settings.consent is not None:
        return "1"
    if read_recorded_choice(settings.config_file) is not None:
        return "1"
    return str(private / "notice-shown")


def _cmd_preview(args: argparse.Namespace) -> int:
    """Print the config-loaded event exactly as PostHog would receive it (strict level)."""
    import yaml

    from .privacy.scrubber import Scrubber
    from .privacy.values import Level, RedactionCounter
    from .privacy.whitelist import Whitelist

    try:
        config = yaml.safe_load(Path(args.config).read_bytes().decode("utf-8"))
    except OSError as exc:
        print(f"otel-axolotl preview: cannot read {args.config}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except UnicodeDecodeError:
        print(f"otel-axolotl preview: {args.config} is not UTF-8 text", file=sys.stderr)
        return 2
    except Exception as exc:  # YAMLError, or whatever a hostile document makes the parser raise
        print(
            f"otel-axolotl preview: {args.config} is not valid YAML ({type(exc).__name__})", file=sys.stderr
        )
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


def _cmd_flush(args: argparse.Namespace) -> int:
    """Send what earlier runs kept in the spool to the destinations configured now: the same
    plan a run would make (consent, key, main rank, rank strategy), the same replay."""
    from . import plan as _plan
    from .consent import decide, honour_withdrawal, read_recorded_choice
    from .pipeline import run_with_deadline
    from .replay import ReplayReport, replay_all
    from .spool import SPOOLED_DESTINATIONS

    settings = _s.Settings.from_env()
    if settings.sdk_disabled:
        print("OTEL_SDK_DISABLED=true: nothing is sent anywhere; the spool is left as it is.")
        return 0
    decision = decide(settings, recorded=read_recorded_choice(settings.config_file))
    deleted = honour_withdrawal(decision, settings=settings)
    if deleted:
        print(f"posthog: product telemetry is off; deleted {deleted} unsent file(s).")
    config = _plan.spool_config(settings)
    waiting = {name: config.pending_count(name) for name in SPOOLED_DESTINATIONS}
    planned = _plan.plan(
        settings, decision, api_key=settings.posthog_api_key, posthog_timeout=min(args.timeout, 10.0)
    )
    built: dict[str, Any] = {}
    for destination in planned.destinations:
        if waiting.get(destination.name):
            made = destination.build()
            if made is not None:
                built[destination.name] = made

    deadline = time.monotonic() + args.timeout
    reports: dict[str, ReplayReport] = {}

    def send_all() -> None:
        jobs = []
        for name, dest in built.items():
            spool = config.spool(name, recipient=dest.recipient, level=dest.level)  # its own files only
            if spool is not None:
                jobs.append((spool, {"traces": dest.span_exporter, "logs": dest.log_exporter}))
        for report in replay_all(jobs, deadline=deadline, export_timeout_s=args.timeout):
            reports[report.destination] = report

    finished = run_with_deadline([[send_all]], args.timeout, "flush")
    exporters = [e for d in built.values() for e in (d.span_exporter, d.log_exporter) if e is not None]
    run_with_deadline([[e.shutdown] for e in exporters], 2.0, "exporter shutdown")

    status = 0 if finished else 1
    for name in SPOOLED_DESTINATIONS:
        left = config.pending_count(name)
        report = reports.get(name)
        if not waiting[name] and report is None:
            print(f"{name}: nothing spooled.")
        elif report is None:
            print(f"{name}: {left} file(s) kept: {planned.skipped.get(name, 'not sent')}.")
        else:
            line = f"{name}: sent {report.sent_items} item(s) from {report.sent_files} file(s)"
            if report.skipped_files:
                line += f"; skipped {report.skipped_files} unreadable file(s)"
            if report.set_aside_files:
                line += f"; set aside {report.set_aside_files} refused file(s)"
            line += f"; {left} file(s) left."
            if left > report.left_files:
                line += f" ({left - report.left_files} of them for other endpoints, keys or levels.)"
            if report.failed:
                line += " The destination did not accept them; they are kept for later."
                status = 1
            print(line)
    if not finished:
        print(f"otel-axolotl flush: stopped after {args.timeout:g} s; the rest is kept for later.")
    return status


def _cmd_telemetry(args: argparse.Namespace) -> int:
    from .consent import decide, discard_product_spool, read_recorded_choice, record_choice
    from .plan import spool_config
    from .spool import PRODUCT_DESTINATION, SPOOLED_DESTINATIONS

    settings = _s.Settings.from_env()
    path = settings.config_file
    if args.action in ("enable", "disable"):
        try:
            record_choice(args.action == "enable", path)
        except OSError as exc:
            print(
                f"otel-axolotl telemetry: cannot record the choice in {path}: {exc.strerror or exc}",
                file=sys.stderr,
            )
            return 1
        print(f"Product telemetry {args.action}d (recorded in {path}).")
        if args.action == "disable":
            deleted = discard_product_spool(settings=settings)
            if deleted:
                spool_dir = spool_config(settings).kind_directory(PRODUCT_DESTINATION)
                print(f"Deleted {deleted} unsent product-telemetry file(s) from {spool_dir}.")
        if settings.consent is not None and settings.consent != (args.action == "enable"):
            print("Note: the environment (AXOLOTL_DO_NOT_TRACK / DO_NOT_TRACK) overrides this choice.")
        return 0
    recorded = read_recorded_choice(path)
    decision = decide(settings, recorded=recorded)
    state = "enabled" if decision.product_telemetry else "disabled"
    print(f"Product telemetry: {state} (decided by: {decision.source})")
    print(f"Recorded choice: {'none' if recorded is None else recorded} ({path})")
    otlp = ", ".join(f"{k}={v.endpoint} ({v.protocol})" for k, v in settings.otlp.items()) or "not configured"
    print(f"OTLP destination: {otlp}; privacy level {settings.privacy}")
    spool = spool_config(settings)
    if spool.enabled:
        counts = ", ".join(f"{n}: {spool.pending_count(n)} file(s)" for n in SPOOLED_DESTINATIONS)
        print(f"Spool: {spool.root} ({counts}); `otel-axolotl flush` sends it now.")
    else:
        print(f"Spool: off ({_s.OTEL_AXOLOTL_SPOOL}=false)")
    if settings.sdk_disabled:
        print("OTEL_SDK_DISABLED=true: nothing is sent anywhere.")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="otel-axolotl", description=__doc__)
    parser.add_argument("--version", action="version", version=f"otel-axolotl {__version__}")
    sub = parser.add_subparsers(dest="cmd", required=True)

    demo = sub.add_parser("demo", help="train a tiny model built in code and show its telemetry")
    demo.add_argument("--epochs", type=_bounded(float, 0.01, 1000), default=2)
    demo.add_argument(
        "--samples", type=_bounded(int, 8, 1_000_000), default=128, help="training samples (batch size 8)"
    )
    demo.add_argument("--json", action="store_true", help="also print every item as a JSON line")
    demo.set_defaults(func=_cmd_demo)

    run = sub.add_parser("run", help="run a command with its Python processes instrumented")
    run.add_argument("command", nargs=argparse.REMAINDER)
    run.set_defaults(func=_cmd_run)

    preview = sub.add_parser("preview", help="print what a config would send as config-loaded")
    preview.add_argument("config")
    preview.add_argument("--level", choices=_s.PRIVACY_LEVELS, default="strict")
    preview.set_defaults(func=_cmd_preview)

    flush = sub.add_parser("flush", help="send what earlier runs could not deliver (the spool) now")
    flush.add_argument(
        "--timeout", type=_bounded(float, 0.1, 3600), default=30.0, help="seconds at most (default 30)"
    )
    flush.set_defaults(func=_cmd_flush)

    telemetry = sub.add_parser("telemetry", help="show or record the product-telemetry choice")
    telemetry.add_argument("action", choices=("status", "enable", "disable"))
    telemetry.set_defaults(func=_cmd_telemetry)
    return parser


def _bounded(kind: type[float] | type[int], low: float, high: float) -> Any:
    """An argparse type: a finite ``kind`` within [low, high], read as the variables are
    (``settings.read_number``); argparse then names the option in one line, with status 2."""

    def parse(text: str) -> float | int:
        value = _s.read_number(text)
        if value is None or not low <= value <= high or (kind is int and not value.is_integer()):
            raise argparse.ArgumentTypeError(f"expected a {kind.__name__} from {low:g} to {high:g}")
        return int(value) if kind is int else value

    parse.__name__ = kind.__name__
    return parse


def main(argv: Sequence[str] | None = None) -> int:
    """The command. Bad input gets one line on stderr and a non-zero status, never a traceback
    (set OTEL_AXOLOTL_DEBUG_CLI=1 to see one)."""
    import logging

    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if os.environ.get("OTEL_AXOLOTL_DEBUG_CLI") == "1":
            raise
        print(f"otel-axolotl {args.cmd}: failed ({type(exc).__name__}: {_short(exc)})", file=sys.stderr)
        return 1


def _short(exc: BaseException) -> str:
    """An error's message on one line, cut short (it is meant for a person, not a log)."""
    text = " ".join(str(exc).split())
    return text if len(text) <= 200 else text[:197] + "..."


if __name__ == "__main__":
    sys.exit(main())
