"""Every environment variable otel-axolotl reads, in one place, and the one way to parse them
(OpenTelemetry's standard ones are read in ``otel_env``; their names are importable here too).

A setting resolves argument -> environment variable -> default. A value that cannot be read
gets one warning naming the variable and what is accepted, then the safe default: a bad
value never turns telemetry on and never stops training.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from . import ranks
from ._logging import _warned as _warned  # re-exported: tests clear it to see a warning again
from ._logging import warn_once as warn_once
from .env_values import FALSE_WORDS, TRUE_WORDS, clean
from .env_values import parse_bool as parse_bool
from .env_values import parse_choice as parse_choice
from .env_values import parse_float as parse_float
from .env_values import parse_headers as parse_headers
from .env_values import parse_int as parse_int
from .env_values import read_number as read_number
from .env_values import validate_url as validate_url

# OpenTelemetry's own variables are read in otel_env; their names are importable here too.
from .otel_env import BUILTIN_EXPORTERS as BUILTIN_EXPORTERS
from .otel_env import DEFAULT_OTLP_TIMEOUT as DEFAULT_OTLP_TIMEOUT
from .otel_env import MAX_EXPORT_TIMEOUT_SECONDS as MAX_EXPORT_TIMEOUT_SECONDS
from .otel_env import OTEL_EXPORTER_OTLP_ENDPOINT as OTEL_EXPORTER_OTLP_ENDPOINT
from .otel_env import OTEL_EXPORTER_OTLP_HEADERS as OTEL_EXPORTER_OTLP_HEADERS
from .otel_env import OTEL_EXPORTER_OTLP_PROTOCOL as OTEL_EXPORTER_OTLP_PROTOCOL
from .otel_env import OTEL_EXPORTER_OTLP_SIGNAL_ENDPOINT as OTEL_EXPORTER_OTLP_SIGNAL_ENDPOINT
from .otel_env import OTEL_EXPORTER_OTLP_SIGNAL_HEADERS as OTEL_EXPORTER_OTLP_SIGNAL_HEADERS
from .otel_env import OTEL_EXPORTER_OTLP_SIGNAL_PROTOCOL as OTEL_EXPORTER_OTLP_SIGNAL_PROTOCOL
from .otel_env import OTEL_EXPORTER_OTLP_SIGNAL_TIMEOUT as OTEL_EXPORTER_OTLP_SIGNAL_TIMEOUT
from .otel_env import OTEL_EXPORTER_OTLP_TIMEOUT as OTEL_EXPORTER_OTLP_TIMEOUT
from .otel_env import (
    OTEL_EXPORTER_PROMETHEUS_HOST,
    OTEL_EXPORTER_PROMETHEUS_PORT,
    OTEL_METRIC_EXPORT_INTERVAL,
    OTEL_METRICS_EXPORTER,
    OTEL_SDK_DISABLED,
    OTEL_SERVICE_NAME,
    TRACEPARENT,
    TRACESTATE,
    OtlpSignal,
    exporter_selection,
    otlp_defaults,
    resolve_otlp,
    user_resource,
)
from .otel_env import OTEL_RESOURCE_ATTRIBUTES as OTEL_RESOURCE_ATTRIBUTES
from .otel_env import OTEL_SIGNAL_EXPORTER as OTEL_SIGNAL_EXPORTER
from .otel_env import OTLP_PROTOCOLS as OTLP_PROTOCOLS
from .otel_env import SIGNALS as SIGNALS
from .otel_env import installed_exporters as installed_exporters

# --- consent and switches -------------------------------------------------------------
AXOLOTL_DO_NOT_TRACK = "AXOLOTL_DO_NOT_TRACK"
"""Product telemetry (PostHog): ``0``/``false`` opts in, ``1``/``true`` opts out. Unset: off,
and a notice is shown (see OTEL_AXOLOTL_NOTICE_SECONDS)."""
DO_NOT_TRACK = "DO_NOT_TRACK"
"""The cross-tool standard: ``1``/``true`` opts out of product telemetry."""

# --- ours -------------------------------------------------------------------------------
OTEL_AXOLOTL_PRIVACY = "OTEL_AXOLOTL_PRIVACY"
"""Privacy level of the OTLP destination: ``strict`` (default) or ``secrets-only``.
PostHog is always strict."""
OTEL_AXOLOTL_CONSOLE = "OTEL_AXOLOTL_CONSOLE"
"""``true``: print every span, event and metric export as JSON lines on stderr."""
OTEL_AXOLOTL_FILE = "OTEL_AXOLOTL_FILE"
"""A file path: append every export there as JSON lines."""
OTEL_AXOLOTL_DEBUG = "OTEL_AXOLOTL_DEBUG"
"""``true``: print every payload exactly as each destination would receive it (after
scrubbing) and send nothing."""
OTEL_AXOLOTL_POSTHOG_HOST = "OTEL_AXOLOTL_POSTHOG_HOST"
"""PostHog host for product telemetry. Default ``https://us.i.posthog.com``."""
OTEL_AXOLOTL_POSTHOG_SPANS = "OTEL_AXOLOTL_POSTHOG_SPANS"
"""``true``: also send the run's spans to PostHog as events (``axolotl.run``, ``axolotl.epoch``,
...: a run summary). Default false: PostHog gets Axolotl's events only, as Axolotl sends them."""
OTEL_AXOLOTL_POSTHOG_API_KEY = "OTEL_AXOLOTL_POSTHOG_API_KEY"
"""PostHog project key. The embedding library usually passes it in code instead."""
OTEL_AXOLOTL_NOTICE_SECONDS = "OTEL_AXOLOTL_NOTICE_SECONDS"
"""How long start-up waits after the consent notice. Default 15."""
OTEL_AXOLOTL_NOTICE_SHOWN = "OTEL_AXOLOTL_NOTICE_SHOWN"
"""Set by ``otel-axolotl run`` for every process of its command: ``1`` when no notice is due
(the user chose), else the path of a file in the wrapper's private directory: the first
process due to show the notice creates it and shows it (and waits); every other process of
the tree finds it there and neither shows it nor waits."""
OTEL_AXOLOTL_PROGRESS_STEPS = "OTEL_AXOLOTL_PROGRESS_STEPS"
"""``train-progress`` at the run's first step, then this many steps after the last one. Default
100 (Axolotl 0.21.0's ``report_interval_steps``)."""
OTEL_AXOLOTL_PROGRESS_SECONDS = "OTEL_AXOLOTL_PROGRESS_SECONDS"
"""...or earlier, at a step that is a multiple of OTEL_AXOLOTL_PROGRESS_STEPS, when this many
seconds passed since the last one (Axolotl 0.21.0's rule, which reads the clock only at those
steps). Default 60 (Axolotl's ``TIME_SINCE_LAST``)."""
OTEL_AXOLOTL_WINDOW_STEPS = "OTEL_AXOLOTL_WINDOW_STEPS"
"""A live run: an ``axolotl.window`` span (step range, loss, throughput) ends every this many
optimizer steps, so a trace fills in while training runs and keeps all but the last window after
a kill. Default 100."""
OTEL_AXOLOTL_WINDOW_SECONDS = "OTEL_AXOLOTL_WINDOW_SECONDS"
"""...or earlier, when the window has lasted this many seconds. Default 60."""
OTEL_AXOLOTL_STEP_SPANS = "OTEL_AXOLOTL_STEP_SPANS"
"""Fraction of optimizer steps that get a span, 0..1. Default 0 (none)."""
OTEL_AXOLOTL_SHUTDOWN_TIMEOUT = "OTEL_AXOLOTL_SHUTDOWN_TIMEOUT"
"""Total seconds that flushing at exit may take, all destinations together. Default 2."""
OTEL_AXOLOTL_WHITELIST = "OTEL_AXOLOTL_WHITELIST"
"""Path of a whitelist.yaml replacing the packaged list of organisations."""
OTEL_AXOLOTL_RUN_ID = "OTEL_AXOLOTL_RUN_ID"
"""32 hex digits: join an existing run (set by ``otel-axolotl run`` for every rank)."""
OTEL_AXOLOTL_HARDWARE_METRICS = "OTEL_AXOLOTL_HARDWARE_METRICS"
"""``false`` turns off host, process and GPU metrics. Default true."""
OTEL_AXOLOTL_GPUS = "OTEL_AXOLOTL_GPUS"
"""Which GPUs the hardware metrics watch: ``visible`` (default) the ones this process uses
(CUDA_VISIBLE_DEVICES, then the local rank's device in multi-process runs), or ``all`` every
GPU on the node."""
OTEL_AXOLOTL_AUTO_INSTRUMENT = "OTEL_AXOLOTL_AUTO_INSTRUMENT"
"""``false``: ``init()`` does not patch ``transformers.Trainer``. Default true."""
OTEL_AXOLOTL_CONFIG_FILE = "OTEL_AXOLOTL_CONFIG_FILE"
"""Where ``otel-axolotl telemetry enable|disable`` records the choice. Default
``$XDG_CONFIG_HOME/otel-axolotl/config.yaml`` (``~/.config/...``)."""
OTEL_AXOLOTL_SIGNALS = "OTEL_AXOLOTL_SIGNALS"
"""``false``: install no SIGTERM/SIGINT handler. Default true: on SIGTERM or SIGINT the open run
ends as ``interrupted`` (run span and ``train-end`` event) and telemetry is flushed within
OTEL_AXOLOTL_SHUTDOWN_TIMEOUT, then the handler that was there before runs (the default one
still ends the process with the same signal; SIGINT still raises KeyboardInterrupt)."""
OTEL_AXOLOTL_RANKS = "OTEL_AXOLOTL_RANKS"
"""Which ranks export to OTLP, console and file: ``all`` (default), ``main`` (global rank 0
only) or ``first-per-node`` (local rank 0 of every node). Product telemetry (PostHog) is always
sent from the main rank only, whatever this says."""

OTEL_AXOLOTL_SPOOL = "OTEL_AXOLOTL_SPOOL"
"""``false``: what cannot be delivered by the exit deadline (or fails to export) is dropped
(and counted) instead of kept on disk for the next start. Default true."""
OTEL_AXOLOTL_SPOOL_DIR = "OTEL_AXOLOTL_SPOOL_DIR"
"""Directory of the on-disk spool, one subdirectory per destination. Default
``$XDG_CACHE_HOME/otel-axolotl/spool`` (``~/.cache/...``)."""
OTEL_AXOLOTL_SPOOL_MAX_BYTES = "OTEL_AXOLOTL_SPOOL_MAX_BYTES"
"""Size cap of the spool, per destination, in bytes; the oldest files are deleted first.
Default 16 MiB."""

DEFAULT_POSTHOG_HOST = "https://us.i.posthog.com"
DEFAULT_NOTICE_SECONDS = 15.0
DEFAULT_PROGRESS_STEPS = 100
DEFAULT_PROGRESS_SECONDS = 60.0
DEFAULT_SHUTDOWN_TIMEOUT = 2.0
DEFAULT_WINDOW_STEPS = 100
DEFAULT_WINDOW_SECONDS = 60.0
DEFAULT_PROMETHEUS_HOST = "127.0.0.1"
DEFAULT_PROMETHEUS_PORT = 9464
DEFAULT_METRIC_INTERVAL_MILLIS = 10_000
DEFAULT_SPOOL_MAX_BYTES = 16 * 1024 * 1024
# Upper bounds: a value past them is a typo (or ``1e400``), never a wish; each keeps its
# consumer's arithmetic and timers (``threading`` refuses waits beyond ~292 years) sane.
MAX_STEPS = 10**9
MAX_PROGRESS_SECONDS = 7 * 24 * 3600.0
MAX_METRIC_INTERVAL_MILLIS = 24 * 3600 * 1000.0
MAX_SPOOL_BYTES = 1 << 40

PRIVACY_LEVELS = ("strict", "secrets-only")
RANK_STRATEGIES = ("all", "main", "first-per-node")
DEFAULT_RANK_STRATEGY = "all"
GPU_CHOICES = ("visible", "all")
CUDA_VISIBLE_DEVICES = "CUDA_VISIBLE_DEVICES"
"""CUDA's own variable: which GPUs this process uses (read for the hardware metrics)."""
TORCHELASTIC_RESTART_COUNT = "TORCHELASTIC_RESTART_COUNT"
"""torchrun's attempt number of an elastic restart (each attempt gets its own rank-0 run span)."""


def parse_consent(env: Mapping[str, str]) -> bool | None:
    """Read AXOLOTL_DO_NOT_TRACK / DO_NOT_TRACK: True opt-in, False opt-out, None no choice.

    An unreadable value is a choice too: it means no product telemetry (fail closed), with
    one warning, and no notice wait (the user tried to decide).
    """
    dnt = clean(env, DO_NOT_TRACK)
    if dnt is not None and dnt not in TRUE_WORDS | FALSE_WORDS:
        warn_once(
            "consent:DO_NOT_TRACK",
            "otel-axolotl: DO_NOT_TRACK is set to a value that is not understood (not shown); "
            "accepted: 1/true (opt out) or 0/false. Product telemetry stays off.",
        )
        return False
    if dnt in TRUE_WORDS:
        return False
    value = clean(env, AXOLOTL_DO_NOT_TRACK)
    if value is None:
        return None
    if value in ("0", "false"):
        return True
    if value in ("1", "true"):
        return False
    warn_once(
        "consent:AXOLOTL_DO_NOT_TRACK",
        "otel-axolotl: AXOLOTL_DO_NOT_TRACK is set to a value that is not understood (not shown); "
        "accepted: 0/false (opt in) or 1/true (opt out). Product telemetry stays off.",
    )
    return False


@dataclass(frozen=True)
class Settings:
    """Everything the manager needs to decide, resolved once at ``init()``."""

    sdk_disabled: bool = False
    consent: bool | None = None
    privacy: str = "strict"
    console: bool = False
    file: str | None = None
    debug: bool = False
    posthog_host: str | None = DEFAULT_POSTHOG_HOST
    posthog_api_key: str | None = None
    posthog_spans: bool = False
    notice_seconds: float = DEFAULT_NOTICE_SECONDS
    progress_steps: int = DEFAULT_PROGRESS_STEPS
    progress_seconds: float = DEFAULT_PROGRESS_SECONDS
    step_span_ratio: float = 0.0
    window_steps: int = DEFAULT_WINDOW_STEPS
    window_seconds: float = DEFAULT_WINDOW_SECONDS
    prometheus: bool = False
    """Serve metrics for Prometheus to scrape (``prometheus`` in OTEL_METRICS_EXPORTER)."""
    prometheus_host: str = DEFAULT_PROMETHEUS_HOST
    prometheus_port: int = DEFAULT_PROMETHEUS_PORT
    shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT
    whitelist_path: str | None = None
    run_id: str | None = None
    hardware_metrics: bool = True
    auto_instrument: bool = True
    metric_interval_millis: float = DEFAULT_METRIC_INTERVAL_MILLIS
    service_name: str = "otel-axolotl"
    otlp: dict[str, OtlpSignal] = field(default_factory=dict)
    rank_strategy: str = DEFAULT_RANK_STRATEGY
    signals: bool = True
    spool: bool = True
    spool_dir: Path = field(default_factory=lambda: spool_dir({}))
    spool_max_bytes: int = DEFAULT_SPOOL_MAX_BYTES
    gpus: str = "visible"
    cuda_visible_devices: str | None = None
    config_file: Path = field(default_factory=lambda: config_file({}))
    rank: ranks.RankInfo = field(default_factory=ranks.RankInfo)
    shared_run_id: str | None = None
    """The run id every rank of this launch derives alike (``ranks.shared_run_id``), or None."""
    restart_attempt: str = "0"
    traceparent: str | None = None
    """TRACEPARENT as given (validated when the run span is started), or None."""
    tracestate: str | None = None
    user_resource: dict[str, str] = field(default_factory=dict)
    """What the user configured for their own backend: OTEL_RESOURCE_ATTRIBUTES, with
    OTEL_SERVICE_NAME as ``service.name`` on top. Never sent to product analytics."""
    otlp_defaults: dict[str, OtlpSignal] = field(default_factory=dict)
    """Signal -> where ``OTEL_<SIGNAL>_EXPORTER=otlp`` sends when no endpoint variable is set:
    the spec's default for the signal's protocol (``localhost:4317`` gRPC, ``:4318`` HTTP)."""
    exporters: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Signal -> the exporter names OTEL_<SIGNAL>_EXPORTER selects (known names only; ``()`` for
    ``none``); a signal absent here was not set (OTLP when an endpoint is configured)."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env  # the one place that reads the environment
        rank = ranks.detect(env)
        selection = exporter_selection(env)
        host = env.get(OTEL_AXOLOTL_POSTHOG_HOST, "").strip()
        run_id = (env.get(OTEL_AXOLOTL_RUN_ID) or "").strip().lower() or None
        if run_id is not None and not _is_run_id(run_id):
            warn_once(
                "run_id",
                "otel-axolotl: %s is not 32 hex digits, not all zero (value not shown); a new run "
                "id is used.",
                OTEL_AXOLOTL_RUN_ID,
            )
            run_id = None
        return cls(
            sdk_disabled=parse_bool(env, OTEL_SDK_DISABLED, False),
            consent=parse_consent(env),
            privacy=parse_choice(env, OTEL_AXOLOTL_PRIVACY, PRIVACY_LEVELS, "strict"),
            console=parse_bool(env, OTEL_AXOLOTL_CONSOLE, False),
            file=(env.get(OTEL_AXOLOTL_FILE) or "").strip() or None,
            debug=parse_bool(env, OTEL_AXOLOTL_DEBUG, False),
            posthog_host=validate_url(host, OTEL_AXOLOTL_POSTHOG_HOST) if host else DEFAULT_POSTHOG_HOST,
            posthog_api_key=(env.get(OTEL_AXOLOTL_POSTHOG_API_KEY) or "").strip() or None,
            posthog_spans=parse_bool(env, OTEL_AXOLOTL_POSTHOG_SPANS, False),
            notice_seconds=parse_float(env, OTEL_AXOLOTL_NOTICE_SECONDS, DEFAULT_NOTICE_SECONDS, maximum=600),
            progress_steps=parse_int(
                env, OTEL_AXOLOTL_PROGRESS_STEPS, DEFAULT_PROGRESS_STEPS, minimum=1, maximum=MAX_STEPS
            ),
            progress_seconds=parse_float(
                env, OTEL_AXOLOTL_PROGRESS_SECONDS, DEFAULT_PROGRESS_SECONDS, maximum=MAX_PROGRESS_SECONDS
            ),
            step_span_ratio=parse_float(env, OTEL_AXOLOTL_STEP_SPANS, 0.0, maximum=1.0),
            window_steps=int(parse_float(env, OTEL_AXOLOTL_WINDOW_STEPS, DEFAULT_WINDOW_STEPS, minimum=1)),
            window_seconds=parse_float(env, OTEL_AXOLOTL_WINDOW_SECONDS, DEFAULT_WINDOW_SECONDS, minimum=0.1),
            prometheus="prometheus"
            in {n.strip().lower() for n in env.get(OTEL_METRICS_EXPORTER, "").split(",")},
            prometheus_host=(env.get(OTEL_EXPORTER_PROMETHEUS_HOST) or "").strip() or DEFAULT_PROMETHEUS_HOST,
            prometheus_port=int(
                parse_float(
                    env, OTEL_EXPORTER_PROMETHEUS_PORT, DEFAULT_PROMETHEUS_PORT, minimum=0, maximum=65535
                )
            ),
            shutdown_timeout=parse_float(
                env, OTEL_AXOLOTL_SHUTDOWN_TIMEOUT, DEFAULT_SHUTDOWN_TIMEOUT, minimum=0.1, maximum=600
            ),
            whitelist_path=(env.get(OTEL_AXOLOTL_WHITELIST) or "").strip() or None,
            run_id=run_id,
            hardware_metrics=parse_bool(env, OTEL_AXOLOTL_HARDWARE_METRICS, True),
            auto_instrument=parse_bool(env, OTEL_AXOLOTL_AUTO_INSTRUMENT, True),
            metric_interval_millis=parse_float(
                env,
                OTEL_METRIC_EXPORT_INTERVAL,
                DEFAULT_METRIC_INTERVAL_MILLIS,
                minimum=100,
                maximum=MAX_METRIC_INTERVAL_MILLIS,
            ),
            service_name=(env.get(OTEL_SERVICE_NAME) or "").strip() or "otel-axolotl",
            otlp=resolve_otlp(env),
            rank_strategy=parse_choice(env, OTEL_AXOLOTL_RANKS, RANK_STRATEGIES, DEFAULT_RANK_STRATEGY),
            signals=parse_bool(env, OTEL_AXOLOTL_SIGNALS, True),
            spool=parse_bool(env, OTEL_AXOLOTL_SPOOL, True),
            spool_dir=spool_dir(env),
            spool_max_bytes=parse_int(
                env, OTEL_AXOLOTL_SPOOL_MAX_BYTES, DEFAULT_SPOOL_MAX_BYTES, maximum=MAX_SPOOL_BYTES
            ),
            gpus=parse_choice(env, OTEL_AXOLOTL_GPUS, GPU_CHOICES, "visible"),
            cuda_visible_devices=env.get(CUDA_VISIBLE_DEVICES),
            config_file=config_file(env),
            rank=rank,
            shared_run_id=None if run_id else ranks.shared_run_id(env, rank),
            restart_attempt=(env.get(TORCHELASTIC_RESTART_COUNT) or "0").strip(),
            traceparent=(env.get(TRACEPARENT) or "").strip() or None,
            tracestate=(env.get(TRACESTATE) or "").strip() or None,
            user_resource=user_resource(env),
            exporters=selection,
            otlp_defaults=otlp_defaults(env) if any("otlp" in v for v in selection.values()) else {},
        )


def _is_run_id(value: str) -> bool:
    return len(value) == 32 and all(c in "0123456789abcdef" for c in value) and value != "0" * 32


def spool_dir(env: Mapping[str, str]) -> Path:
    """``OTEL_AXOLOTL_SPOOL_DIR``, else ``$XDG_CACHE_HOME/otel-axolotl/spool``, else ``~/.cache/...``."""
    explicit = (env.get(OTEL_AXOLOTL_SPOOL_DIR) or "").strip()
    if explicit:
        return Path(explicit).expanduser()
    cache = (env.get("XDG_CACHE_HOME") or "").strip()
    if not os.path.isabs(cache):  # the XDG spec: a relative path is invalid and ignored
        cache = os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "otel-axolotl" / "spool"


def config_file(env: Mapping[str, str]) -> Path:
    """Where ``otel-axolotl telemetry enable|disable`` records the choice (OTEL_AXOLOTL_CONFIG_FILE)."""
    explicit = (env.get(OTEL_AXOLOTL_CONFIG_FILE) or "").strip()
    if explicit:
        return Path(explicit).expanduser()
    base = (env.get("XDG_CONFIG_HOME") or "").strip() or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "otel-axolotl" / "config.yaml"
