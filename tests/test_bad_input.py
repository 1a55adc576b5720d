"""Bad input never crashes (issue 14 items 1, 2, 5, 6, 8; issue 13 item 6).

Every numeric, boolean and choice variable is fed generated junk (hypothesis): ``init()``
never raises, one message names the variable, the raw value is never echoed. Files that are
not UTF-8, CLI commands given bad input, values no transport can carry, a second ``init()``,
``otel-axolotl run`` and signals: each against the real thing (real child processes, the
rotel collector, the PostHog-speaking server).
"""

from __future__ import annotations

import decimal
import enum
import fractions
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from otel_axolotl import cli, coerce, consent
from otel_axolotl import manager as manager_module
from otel_axolotl import settings as _s
from otel_axolotl.manager import TelemetryManager
from tests.support.posthog_capture import PostHogCaptureServer, refused_url
from tests.support.rotel import Rotel
from tests.support.scripts import REPO, child_env, run_training

NUMERIC = [
    _s.OTEL_AXOLOTL_NOTICE_SECONDS,
    _s.OTEL_AXOLOTL_PROGRESS_STEPS,
    _s.OTEL_AXOLOTL_PROGRESS_SECONDS,
    _s.OTEL_AXOLOTL_STEP_SPANS,
    _s.OTEL_AXOLOTL_SHUTDOWN_TIMEOUT,
    _s.OTEL_METRIC_EXPORT_INTERVAL,
    _s.OTEL_AXOLOTL_SPOOL_MAX_BYTES,
    _s.OTEL_EXPORTER_OTLP_TIMEOUT,
    "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
]
BOOLEAN = [
    _s.OTEL_SDK_DISABLED,
    _s.OTEL_AXOLOTL_CONSOLE,
    _s.OTEL_AXOLOTL_DEBUG,
    _s.OTEL_AXOLOTL_POSTHOG_SPANS,
    _s.OTEL_AXOLOTL_HARDWARE_METRICS,
    _s.OTEL_AXOLOTL_AUTO_INSTRUMENT,
    _s.OTEL_AXOLOTL_SIGNALS,
    _s.OTEL_AXOLOTL_SPOOL,
]
CHOICE = [
    _s.OTEL_AXOLOTL_PRIVACY,
    _s.OTEL_AXOLOTL_RANKS,
    _s.OTEL_AXOLOTL_GPUS,
    _s.OTEL_EXPORTER_OTLP_PROTOCOL,
]
NASTY_NUMBERS = [
    "inf",
    "-inf",
    "nan",
    "1e400",
    "-1e400",
    "1e20",
    "0x10",
    "١٢",
    "  ",
    "-0",
    "9" * 5000,
    "1_000",
]
SECRETISH = "sk-live-canary-4242"

# Values made of anything, and the classic traps, with the canary inside some of them.
junk = st.one_of(
    st.sampled_from(NASTY_NUMBERS),
    st.text(min_size=1, max_size=40).filter(lambda t: "\x00" not in t),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.just(SECRETISH),
)


def _env(spool_dir: Path | str, **extra: str) -> dict[str, str]:
    """``child_env`` with ``extra`` overriding its defaults (the notice wait among them)."""
    env = child_env(spool_dir)
    env.update(extra)
    return env


def _messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "otel_axolotl"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(NUMERIC + BOOLEAN + CHOICE), value=junk)
def test_any_value_of_any_variable_never_raises_and_is_never_echoed(name, value, caplog):
    caplog.clear()
    _s._warned.clear()
    caplog.set_level(logging.WARNING)
    env = {name: value, _s.OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4317"}
    settings_ = _s.Settings.from_env(env)  # must not raise
    said = _messages(caplog)
    assert len(said) <= 1, said
    text = value.strip().lower()
    unreadable = bool(text) and (
        (name in NUMERIC and _s.read_number(text) is None)
        or (name in BOOLEAN and text not in _s.TRUE_WORDS | _s.FALSE_WORDS)
        or (
            name in CHOICE
            and text
            not in (
                "strict",
                "secrets-only",
                "all",
                "main",
                "first-per-node",
                "visible",
                "grpc",
                "http/protobuf",
            )
        )
    )
    if unreadable:
        assert said, f"an unreadable {name} gets its one message"
    if said:
        assert name in said[0], "the message names the variable"
        stripped = value.strip()
        if len(stripped) >= 4:
            assert stripped not in said[0], "the raw value is never echoed"
    # Whatever was given, what the consumers get is finite and bounded.
    assert 0 <= settings_.notice_seconds <= 600
    assert 1 <= settings_.progress_steps <= _s.MAX_STEPS
    assert 100 <= settings_.metric_interval_millis <= _s.MAX_METRIC_INTERVAL_MILLIS
    assert 0 <= settings_.spool_max_bytes <= _s.MAX_SPOOL_BYTES
    assert all(0 < t.timeout <= 600 for t in settings_.otlp.values())


@pytest.mark.parametrize("value", NASTY_NUMBERS)
def test_the_reported_overflows_fall_back_to_the_default_with_one_message(value, caplog):
    _s._warned.clear()
    caplog.set_level(logging.WARNING, "otel_axolotl")
    env = {
        _s.OTEL_AXOLOTL_PROGRESS_STEPS: value,
        _s.OTEL_AXOLOTL_SPOOL_MAX_BYTES: value,
        _s.OTEL_METRIC_EXPORT_INTERVAL: value,
    }
    got = _s.Settings.from_env(env)
    if value.strip() in ("-0",):  # a number, but below the minimum for steps/interval
        assert got.spool_max_bytes == 0
    else:
        assert got.spool_max_bytes == _s.DEFAULT_SPOOL_MAX_BYTES
    assert got.progress_steps == _s.DEFAULT_PROGRESS_STEPS
    assert got.metric_interval_millis == _s.DEFAULT_METRIC_INTERVAL_MILLIS
    expected = 0 if not value.strip() else 1  # blank is unset: the default, silently
    for name in (_s.OTEL_AXOLOTL_PROGRESS_STEPS, _s.OTEL_METRIC_EXPORT_INTERVAL):
        assert len([m for m in _messages(caplog) if name in m]) == expected


def test_plain_numbers_still_read():
    env = {
        _s.OTEL_AXOLOTL_PROGRESS_STEPS: " 1e3 ",
        _s.OTEL_AXOLOTL_SPOOL_MAX_BYTES: "1048576",
        _s.OTEL_METRIC_EXPORT_INTERVAL: "250.5",
        _s.OTEL_AXOLOTL_STEP_SPANS: ".25",
    }
    got = _s.Settings.from_env(env)
    assert (got.progress_steps, got.spool_max_bytes, got.metric_interval_millis, got.step_span_ratio) == (
        1000,
        1048576,
        250.5,
        0.25,
    )


def test_consent_and_url_warnings_name_the_variable_not_the_value(caplog):
    caplog.set_level(logging.WARNING, "otel_axolotl")
    env = {
        "DO_NOT_TRACK": SECRETISH,
        _s.OTEL_AXOLOTL_POSTHOG_HOST: f"ftp://{SECRETISH}",
        _s.OTEL_AXOLOTL_RUN_ID: SECRETISH,
    }
    _s.Settings.from_env(env)
    text = "\n".join(_messages(caplog))
    assert "DO_NOT_TRACK" in text and _s.OTEL_AXOLOTL_POSTHOG_HOST in text and _s.OTEL_AXOLOTL_RUN_ID in text
    assert SECRETISH not in text


def test_bad_otlp_headers_are_validated_here_and_never_logged(rotel_collector: Rotel, monkeypatch, caplog):
    """The SDK's parser logs a bad header entry verbatim; ours names the variable and entry."""
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rotel_collector.grpc_endpoint)
    monkeypatch.setenv(
        "OTEL_EXPORTER_OTLP_HEADERS", f"x-team=ml,{SECRETISH},authorization=Bearer%20{SECRETISH}2"
    )
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_LOGS_HEADERS", f"only-bad-{SECRETISH}")
    monkeypatch.setenv("AXOLOTL_DO_NOT_TRACK", "1")
    manager = TelemetryManager(show_consent_notice=False)
    assert manager.destinations == ["otlp"]
    traces = manager.settings.otlp["traces"]
    assert dict(traces.headers) == {"x-team": "ml", "authorization": f"Bearer {SECRETISH}2"}
    manager.send_event("train-start", {"step": 1})
    with manager.tracer.start_as_current_span("axolotl.step"):
        pass
    assert manager.shutdown(timeout=10)
    assert rotel_collector.recorder.wait_for(lambda r: bool(r.logs) and bool(r.spans))
    everything = "\n".join(r.getMessage() for r in caplog.records)
    assert "OTEL_EXPORTER_OTLP_HEADERS" in everything and "OTEL_EXPORTER_OTLP_LOGS_HEADERS" in everything
    assert SECRETISH not in everything


def test_an_unopenable_output_file_is_named_by_its_variable(tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.WARNING, "otel_axolotl")
    target = tmp_path / SECRETISH  # a directory: cannot be opened for appending
    target.mkdir()
    monkeypatch.setenv("OTEL_AXOLOTL_FILE", str(target))
    manager = TelemetryManager(show_consent_notice=False)
    assert manager.destinations == []
    assert _s.OTEL_AXOLOTL_FILE in caplog.text and SECRETISH not in caplog.text
    manager.shutdown()


def test_a_recorded_choice_that_is_not_utf8_is_no_choice(tmp_path, monkeypatch, caplog):
    path = tmp_path / "config.yaml"
    path.write_bytes(b"product_telemetry: \xff\xfe true\n")
    caplog.set_level(logging.WARNING, "otel_axolotl")
    assert consent.read_recorded_choice(path) is None
    assert str(path) in caplog.text and "UTF-8" in caplog.text
    monkeypatch.setenv("OTEL_AXOLOTL_CONFIG_FILE", str(path))
    monkeypatch.setenv("OTEL_AXOLOTL_POSTHOG_API_KEY", "phc_key")
    monkeypatch.setenv("OTEL_AXOLOTL_POSTHOG_HOST", refused_url())
    import otel_axolotl

    manager = otel_axolotl.init()  # the state of every user who never chose: must not raise
    assert not manager.enabled
    otel_axolotl.shutdown()


# -- values at the edge ----------------------------------------------------------------------


class _Mode(str, enum.Enum):
    FAST = "fast"


ODD_VALUES = {
    "f32": np.float32(0.5),
    "i64": np.int64(7),
    "u8": np.uint8(3),
    "b": np.bool_(True),
    "zero_d": np.array(2.5),
    "dec": decimal.Decimal("1.25"),
    "frac": fractions.Fraction(1, 4),
    "cpx": 1 + 2j,
    "big": 2**80,
    "huge": 10**400,
    "nan": float("nan"),
    "nested": {"xs": [np.float16(1.0), np.int32(2)], 3: "three"},
    "mode": _Mode.FAST,
}


def test_coerce_makes_every_value_plain():
    body, truncated = coerce.event_body(ODD_VALUES)
    assert truncated == 0
    assert body["f32"] == 0.5 and type(body["f32"]) is float
    assert body["i64"] == 7 and type(body["i64"]) is int
    assert body["u8"] == 3 and type(body["u8"]) is int
    assert body["b"] is True
    assert body["zero_d"] == 2.5 and type(body["zero_d"]) is float
    assert body["dec"] == 1.25 and body["frac"] == 0.25
    assert body["cpx"] == "(1+2j)"
    assert type(body["big"]) is float
    assert isinstance(body["huge"], str)
    assert body["nan"] == "nan"
    assert body["nested"] == {"xs": [1.0, 2], "3": "three"}
    assert body["mode"] == "fast" and type(body["mode"]) is str

    def plain(value):
        if isinstance(value, dict):
            return all(isinstance(k, str) and plain(v) for k, v in value.items())
        if isinstance(value, list):
            return all(plain(v) for v in value)
        return type(value) in (bool, int, float, str) or value is None

    assert plain(body)


def test_odd_values_never_fail_a_live_otlp_batch(rotel_collector: Rotel, monkeypatch):
    """One event of numpy/Decimal/complex values between good ones: all arrive, as numbers."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rotel_collector.grpc_endpoint)
    monkeypatch.setenv("OTEL_AXOLOTL_PRIVACY", "secrets-only")
    monkeypatch.setenv("AXOLOTL_DO_NOT_TRACK", "1")
    manager = TelemetryManager(show_consent_notice=False)
    manager.send_event("train-progress", {"learning_rate": 1e-4})
    manager.send_event("train-progress", ODD_VALUES)
    manager.send_event("train-progress", {"learning_rate": 2e-4})
    manager.start_run({"axolotl.train.loss": np.float32(1.5)})
    manager.end_run()
    assert manager.shutdown(timeout=10)
    recorder = rotel_collector.recorder
    assert recorder.wait_for(lambda r: len([x for x in r.logs if x["event_name"] == "train-progress"]) == 3)
    odd = next(x["body"] for x in recorder.received.logs if "f32" in (x["body"] or {}))
    assert odd["f32"] == 0.5 and odd["i64"] == 7 and odd["b"] is True and odd["dec"] == 1.25


def test_an_event_over_the_transport_limit_is_truncated_not_failed(
    posthog_server: PostHogCaptureServer, monkeypatch, caplog
):
    monkeypatch.setenv("AXOLOTL_DO_NOT_TRACK", "0")
    monkeypatch.setenv("OTEL_AXOLOTL_POSTHOG_API_KEY", "phc_key")
    monkeypatch.setenv("OTEL_AXOLOTL_POSTHOG_HOST", posthog_server.url)
    caplog.set_level(logging.WARNING, "otel_axolotl")
    manager = TelemetryManager(show_consent_notice=False)
    manager.send_event("config-loaded", {"learning_rate": 1e-4, "notes": "x" * (3 * 1024 * 1024)})
    manager.send_event("train-start", {})
    assert manager.shutdown(timeout=10)
    assert posthog_server.wait_for(
        lambda events: {"config-loaded", "train-start"} <= {e["event"] for e in events}
    )
    config = next(e for e in posthog_server.events if e["event"] == "config-loaded")
    assert config["properties"]["learning_rate"] == 1e-4
    assert "x" * 1000 not in str(config["properties"])
    assert any("TRUNCATED" in m for m in _messages(caplog))


# -- lifecycle -------------------------------------------------------------------------------


def test_after_shutdown_the_manager_stays_shut(monkeypatch, capfd):
    monkeypatch.setenv("OTEL_AXOLOTL_CONSOLE", "true")
    import otel_axolotl

    first = otel_axolotl.init()
    run_id = first.run_id
    otel_axolotl.shutdown()
    capfd.readouterr()
    monkeypatch.setenv("OTEL_AXOLOTL_POSTHOG_API_KEY", "phc_key")  # would now show a notice
    monkeypatch.setenv("OTEL_AXOLOTL_NOTICE_SECONDS", "30")
    started = time.monotonic()
    again = otel_axolotl.init()
    assert again is first and TelemetryManager.get_instance() is first and again.run_id == run_id
    assert again.closed and not again.active
    otel_axolotl.shutdown()
    first.shutdown()  # a second and third shutdown: nothing at all
    assert time.monotonic() - started < 5, "no notice wait"
    out = capfd.readouterr()
    assert out.err == "" and out.out == ""


_LATE_CALLER = (
    "import atexit\n"
    "from otel_axolotl.manager import TelemetryManager\n"
    "def late():\n"
    "    m = TelemetryManager.get_instance()\n"
    "    m.send_event('train-end', {'late': True})\n"
    "    print('LATE', m.closed, m.run_id == first, flush=True)\n"
    "atexit.register(late)  # first registered: runs after otel-axolotl's own exit hook\n"
    "import otel_axolotl\n"
    "first = otel_axolotl.init().run_id\n"
)


def test_get_instance_in_a_late_atexit_hook_builds_nothing(tmp_path):
    env = _env(tmp_path, OTEL_AXOLOTL_CONSOLE="true", OTEL_AXOLOTL_NOTICE_SECONDS="30")
    env["OTEL_AXOLOTL_POSTHOG_API_KEY"] = "phc_key"  # a rebuilt manager would show the notice
    env["OTEL_AXOLOTL_POSTHOG_HOST"] = refused_url()
    env["AXOLOTL_DO_NOT_TRACK"] = "1"
    proc = subprocess.run(
        [sys.executable, "-c", _LATE_CALLER], env=env, capture_output=True, text=True, timeout=60, cwd=REPO
    )
    assert proc.returncode == 0, proc.stderr
    assert "LATE True True" in proc.stdout
    assert "Traceback" not in proc.stderr and "RuntimeError" not in proc.stderr
    assert '"late"' not in proc.stderr, "nothing is sent after shutdown"


def test_a_second_init_says_once_what_it_ignored(monkeypatch, caplog):
    caplog.set_level(logging.WARNING, "otel_axolotl")
    import otel_axolotl

    first = otel_axolotl.init(library_name="one")
    assert otel_axolotl.init(library_name="one") is first
    assert not [m for m in _messages(caplog) if "init()" in m]
    otel_axolotl.init(library_name="two", posthog_api_key=f"phc_{SECRETISH}")
    otel_axolotl.init(library_name="two", posthog_api_key=f"phc_{SECRETISH}")
    said = [m for m in _messages(caplog) if "init()" in m]
    assert len(said) == 1 and "library_name" in said[0] and "posthog_api_key" in said[0]
    assert SECRETISH not in caplog.text


def test_init_product_telemetry_false_is_always_honoured(posthog_server: PostHogCaptureServer, monkeypatch):
    monkeypatch.setenv("OTEL_AXOLOTL_POSTHOG_HOST", posthog_server.url)
    import otel_axolotl

    manager = otel_axolotl.init(product_telemetry=True, posthog_api_key="phc_key")
    assert manager.enabled and "posthog" in manager.destinations
    posthog_server.set_mode(503)
    manager.send_event("train-start", {})
    spool_root = manager.settings.spool_dir
    again = otel_axolotl.init(product_telemetry=False)
    assert again is manager and not manager.enabled
    manager.send_event("train-end", {})
    manager.shutdown(timeout=3)
    posthog_server.set_mode("ok")
    time.sleep(0.5)
    assert [e for e in posthog_server.events if e["event"] == "train-end"] == []
    product = [p for p in spool_root.rglob("*") if p.is_file() and "posthog" in str(p)]
    assert product == [], "the product spool is deleted"


def test_the_posthog_logger_says_each_kind_once(monkeypatch, caplog):
    monkeypatch.setenv("AXOLOTL_DO_NOT_TRACK", "0")
    monkeypatch.setenv("OTEL_AXOLOTL_POSTHOG_API_KEY", "phc_key")
    monkeypatch.setenv("OTEL_AXOLOTL_POSTHOG_HOST", refused_url())
    caplog.set_level(logging.WARNING)
    import posthog.request  # noqa: F401 - installs posthog's own filter, which formats every message

    manager = TelemetryManager(show_consent_notice=False)
    assert manager.destinations == ["posthog"]
    upstream = logging.getLogger(manager_module.POSTHOG_LOGGER)
    for n in range(50):
        upstream.warning("failed to gzip request body, sending uncompressed: %s", n)
    assert len([r for r in caplog.records if r.name == "posthog"]) == 1
    manager.shutdown(timeout=1)


# -- consent: a library's default is not the user's choice (issue 13 item 6) -----------------


def test_code_default_is_not_explicit_and_the_recorded_choice_beats_it():
    decided = consent.decide(_s.Settings(), code_choice=True)
    assert decided == consent.ConsentDecision(True, False, "code")
    assert consent.decide(_s.Settings(), code_choice=True, recorded=False).source == "config file"


_OPT_OUT_HOST = (
    "import time, otel_axolotl\n"
    "t = time.monotonic()\n"
    "m = otel_axolotl.init(product_telemetry=True, posthog_api_key='phc_key')\n"
    "print('WAITED', time.monotonic() - t, m.enabled, flush=True)\n"
    "otel_axolotl.shutdown(timeout=1)\n"
)


def test_a_library_default_on_shows_the_on_notice_and_waits(tmp_path):
    env = _env(tmp_path, OTEL_AXOLOTL_NOTICE_SECONDS="1.5", OTEL_AXOLOTL_POSTHOG_HOST=refused_url())
    proc = subprocess.run(
        [sys.executable, "-c", _OPT_OUT_HOST], env=env, capture_output=True, text=True, timeout=60, cwd=REPO
    )
    assert proc.returncode == 0, proc.stderr
    assert "telemetry is ON unless you opt out" in proc.stderr
    waited, enabled = proc.stdout.split()[1:3]
    assert float(waited) >= 1.4 and enabled == "True"
    # The user's choice silences it.
    env["AXOLOTL_DO_NOT_TRACK"] = "1"
    proc = subprocess.run(
        [sys.executable, "-c", _OPT_OUT_HOST], env=env, capture_output=True, text=True, timeout=60, cwd=REPO
    )
    assert "telemetry is" not in proc.stderr and float(proc.stdout.split()[1]) < 1.0


# -- the CLI ---------------------------------------------------------------------------------


def _cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "otel_axolotl.cli", *args],
        env=env or _env(os.environ.get("OTEL_AXOLOTL_SPOOL_DIR", "/nonexistent")),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
    )


def test_cli_answers_bad_input_with_one_line_and_a_status(tmp_path):
    not_utf8 = tmp_path / "bad.yaml"
    not_utf8.write_bytes(b"base_model: \xff\xfe\n")
    unwritable = tmp_path / "a-file"  # a directory path through a file: unwritable, even as root
    unwritable.write_text("")
    env = _env(tmp_path / "spool", OTEL_AXOLOTL_CONFIG_FILE=str(unwritable / "sub" / "config.yaml"))
    cases = [
        ("preview", str(tmp_path / "missing.yaml")),
        ("preview", str(not_utf8)),
        ("preview", str(tmp_path)),
        ("flush", "--timeout", "inf"),
        ("flush", "--timeout", "abc"),
        ("demo", "--samples", "1e400"),
        ("telemetry", "enable"),
        ("telemetry", "bogus"),
    ]
    for args in cases:
        proc = _cli(*args, env=env)
        assert proc.returncode != 0, (args, proc.stdout, proc.stderr)
        assert "Traceback" not in proc.stderr, (args, proc.stderr)
        assert proc.stderr.strip(), args


def test_cli_main_turns_an_unexpected_error_into_one_line(monkeypatch, capsys):
    def broken(_args):
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(cli, "_cmd_telemetry", broken)
    assert cli.main(["telemetry", "status"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "RuntimeError" in err


# -- otel-axolotl run ------------------------------------------------------------------------

_SLEEPER = (
    "import signal, sys, time\n"
    "def on_term(n, f):\n"
    "    print('CHILD_GOT', n, flush=True); sys.exit(0 if n == signal.SIGHUP else 7)\n"
    "signal.signal(signal.SIGTERM, on_term); signal.signal(signal.SIGHUP, on_term)\n"
    "print('READY', flush=True)\n"
    "time.sleep(60)\n"
)


def _wrapped(code: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "otel_axolotl.cli", "run", "--", sys.executable, "-c", code],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )


@pytest.mark.parametrize(("sig", "status"), [(signal.SIGTERM, 7), (signal.SIGHUP, 0)])
def test_run_forwards_signals_and_returns_the_childs_status(tmp_path, sig, status):
    proc = _wrapped(_SLEEPER, _env(tmp_path))
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "READY"
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=30)
    assert f"CHILD_GOT {int(sig)}" in out, err
    assert proc.returncode == status


def test_run_returns_128_plus_the_signal_that_killed_the_child(tmp_path):
    code = "import os, signal; print('READY', flush=True); os.kill(os.getpid(), signal.SIGKILL)"
    proc = _wrapped(code, _env(tmp_path))
    proc.communicate(timeout=30)
    assert proc.returncode == 128 + signal.SIGKILL


_TREE = (
    "import subprocess, sys, time\n"
    "t = time.monotonic()\n"
    "init = 'import otel_axolotl; otel_axolotl.init()'\n"
    "kids = [subprocess.Popen([sys.executable, '-c', init]) for _ in range(2)]\n"
    "print('STATUS', [k.wait() for k in kids], time.monotonic() - t, flush=True)\n"
)


def test_run_shows_the_notice_once_for_the_whole_tree(tmp_path):
    env = _env(
        tmp_path,
        OTEL_AXOLOTL_NOTICE_SECONDS="1",
        OTEL_AXOLOTL_POSTHOG_API_KEY="phc_key",
        OTEL_AXOLOTL_POSTHOG_HOST=refused_url(),
    )
    started = time.monotonic()
    proc = _wrapped(_TREE, env)
    _, err = proc.communicate(timeout=90)
    assert proc.returncode == 0, err
    assert err.count("anonymous product telemetry is OFF") == 1, err
    assert time.monotonic() - started < 1 + 20, "one wait, not three"


def test_run_launchers_are_recognised():
    from otel_axolotl.launchers import is_launcher

    py = sys.executable
    assert is_launcher([py, "-m", "torch.distributed.run", "--nproc_per_node", "2", "train.py"])
    assert is_launcher([py, "/venv/bin/torchrun", "train.py"])
    assert is_launcher([py, "/venv/bin/accelerate", "launch", "train.py"])
    assert is_launcher([py, "-m", "accelerate.commands.launch", "train.py"])
    assert is_launcher([py, "/venv/bin/deepspeed", "train.py"])
    assert not is_launcher([py, "/venv/bin/accelerate", "config"])
    assert not is_launcher([py, "train.py"])
    assert not is_launcher([py, "-m", "axolotl.cli.train", "cfg.yml"])
    assert not is_launcher([py, "-c", "import torch"])


@pytest.mark.e2e
@pytest.mark.timeout(240)
def test_torchrun_under_run_notice_once_and_the_agent_exports_nothing(rotel_collector: Rotel, tmp_path):
    from tests.support.rotel import free_port
    from tests.support.scripts import TRAIN_TINY

    env = _env(
        tmp_path,
        OTEL_AXOLOTL_NOTICE_SECONDS="1",
        OTEL_AXOLOTL_POSTHOG_API_KEY="phc_key",
        OTEL_AXOLOTL_POSTHOG_HOST=refused_url(),
        OTEL_AXOLOTL_HARDWARE_METRICS="true",
        OTEL_EXPORTER_OTLP_ENDPOINT=rotel_collector.grpc_endpoint,
        OTEL_METRIC_EXPORT_INTERVAL="500",
    )
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2"]
    command += ["--master_port", str(free_port()), str(TRAIN_TINY)]
    proc = subprocess.run(
        [sys.executable, "-m", "otel_axolotl.cli", "run", "--", *command],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=220,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert len([line for line in proc.stdout.splitlines() if line.startswith("DONE")]) == 2
    assert proc.stderr.count("anonymous product telemetry is OFF") == 1, proc.stderr[-4000:]
    recorder = rotel_collector.recorder
    assert recorder.wait_for(lambda r: len([s for s in r.spans if s["name"] == "axolotl.run"]) == 2)
    time.sleep(1.0)
    pids = {m["resource"].get("process.pid") for m in recorder.received.metrics} - {None}
    instances = {m["resource"].get("service.instance.id") for m in recorder.received.metrics}
    spans_instances = {s["resource"].get("service.instance.id") for s in recorder.received.spans}
    assert recorder.received.metrics, "the ranks' metrics arrive"
    assert instances <= spans_instances, "every metric stream belongs to a rank; the agent sent none"
    assert len(pids) <= 2


# -- a real run with bad values: completes with the bare run's loss ------------------------


@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_training_with_every_number_broken_completes_with_the_bare_loss(tmp_path):
    bare = run_training(_env(tmp_path / "bare", OTEL_SDK_DISABLED="true"))
    values = ["inf", "1e400", "nan", "0x10", "-1", "1e20", "1e400", "abc", "1e9999"]
    broken = dict(zip(NUMERIC, values, strict=True))
    env = _env(
        tmp_path / "broken",
        OTEL_AXOLOTL_FILE=str(tmp_path / "out.jsonl"),
        OTEL_EXPORTER_OTLP_HEADERS=f"{SECRETISH}",
        AXOLOTL_DO_NOT_TRACK=SECRETISH,
        **broken,
    )
    env[_s.OTEL_AXOLOTL_CONFIG_FILE] = str(_write_not_utf8(tmp_path / "config.yaml"))
    run = run_training(env)
    assert run.loss == pytest.approx(bare.loss)
    assert run.instrumented
    assert "Traceback" not in run.output
    assert SECRETISH not in run.output
    for name in broken:
        assert run.output.count(name) == 1, (name, run.output[-3000:])
    lines = Path(tmp_path / "out.jsonl").read_text().splitlines()
    assert any('"train-end"' in line for line in lines), "nothing lost: the run's end arrives"


def _write_not_utf8(path: Path) -> Path:
    path.write_bytes(b"\xff\xfeproduct_telemetry: true")
    return path
