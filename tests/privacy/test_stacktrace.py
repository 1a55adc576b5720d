"""sanitize_stack_trace: Axolotl's six path fixtures, plus messages, levels and odd frames."""

from __future__ import annotations

import sys
import traceback

import pytest

from otel_axolotl.privacy.stacktrace import sanitize_stack_trace as _sanitize
from otel_axolotl.privacy.values import Level, RedactionCounter
from tests.privacy._plain import REDACTED, plain


def sanitize_stack_trace(*args, **kwargs):  # type: ignore[no-untyped-def]
    return plain(_sanitize(*args, **kwargs))


# Axolotl's fixtures (tests/telemetry/test_errors.py), typed out from the described paths.

EXAMPLE = """Traceback (most recent call last):
  File "/home/user/.local/lib/python3.9/site-packages/axolotl/cli/train.py", line 83, in main
    trainer = get_trainer(cfg)
  File "/home/user/.local/lib/python3.9/site-packages/axolotl/train.py", line 214, in get_trainer
    model = get_model(cfg)
  File "/home/user/.local/lib/python3.9/site-packages/axolotl/utils/models.py", line 120, in get_model
    raise ValueError("Model path not found")
ValueError: Model path not found
"""

WINDOWS = """Traceback (most recent call last):
  File "C:\\Users\\name\\AppData\\Local\\Programs\\Python\\Python39\\lib\\site-packages\\axolotl\\cli\\train.py", line 83, in main
    trainer = get_trainer(cfg)
  File "C:\\Users\\name\\AppData\\Local\\Programs\\Python\\Python39\\lib\\site-packages\\axolotl\\train.py", line 214, in get_trainer
    model = get_model(cfg)
  File "C:\\Users\\name\\AppData\\Local\\Programs\\Python\\Python39\\lib\\site-packages\\transformers\\models\\auto\\modeling_auto.py", line 482, in from_pretrained
    raise ValueError(
ValueError: Unrecognized configuration class <class 'transformers.models.llama.configuration_llama.LlamaConfig'>
"""  # noqa: E501

MIXED = """Traceback (most recent call last):
  File "/home/user/.local/lib/python3.9/site-packages/axolotl/cli/train.py", line 83, in main
    trainer.train()
  File "/home/user/.local/lib/python3.9/site-packages/transformers/trainer.py", line 1539, in train
    return inner_training_loop(
  File "/home/user/.local/lib/python3.9/site-packages/axolotl/utils/trainer.py", line 310, in training_step
    batch = next(iterator)
  File "/home/user/.local/lib/python3.9/site-packages/torch/utils/data/dataloader.py", line 633, in __next__
    data = self._next_data()
RuntimeError: CUDA out of memory
"""

VENV = """Traceback (most recent call last):
  File "/home/user/venv/lib/python3.9/site-packages/transformers/trainer.py", line 1539, in train
    return inner_training_loop(
  File "/home/user/venv/lib/python3.9/site-packages/transformers/trainer.py", line 1809, in _inner_training_loop
    tr_loss_step = self.training_step(model, inputs)
  File "/home/user/venv/lib/python3.9/site-packages/accelerate/accelerator.py", line 1905, in backward
    loss.backward(**kwargs)
  File "/home/user/venv/lib/python3.9/site-packages/torch/_tensor.py", line 487, in backward
    torch.autograd.backward(
RuntimeError: CUDA out of memory
"""  # noqa: E501

DIST_PACKAGES = """Traceback (most recent call last):
  File "/usr/local/lib/python3.8/dist-packages/torch/utils/data/dataloader.py", line 633, in __next__
    data = self._next_data()
  File "/usr/local/lib/python3.8/dist-packages/torch/utils/data/dataloader.py", line 677, in _next_data
    data = self._dataset_fetcher.fetch(index)
  File "/usr/local/lib/python3.8/dist-packages/torch/utils/data/_utils/fetch.py", line 51, in fetch
    data = [self.dataset[idx] for idx in possibly_batched_index]
  File "/usr/local/lib/python3.8/dist-packages/datasets/arrow_dataset.py", line 2803, in __getitem__
    return self._getitem(key)
IndexError: Index 10000 out of range for dataset of length 9832.
"""

PROJECT = """Traceback (most recent call last):
  File "/home/user/projects/myproject/run.py", line 25, in <module>
    main()
  File "/home/user/projects/myproject/src/cli.py", line 45, in main
    app.run()
  File "/home/user/projects/myproject/src/app.py", line 102, in run
    raise ValueError("Configuration missing")
ValueError: Configuration missing
"""


def test_sanitize_stack_trace() -> None:
    out = sanitize_stack_trace(EXAMPLE)
    assert "/home/user" not in out
    assert ".local/lib/python3.9" not in out
    assert "site-packages/axolotl/cli/train.py" in out
    assert "site-packages/axolotl/train.py" in out
    assert "site-packages/axolotl/utils/models.py" in out
    assert "ValueError: Model path not found" in out


def test_sanitize_windows_paths() -> None:
    out = sanitize_stack_trace(WINDOWS)
    assert "C:\\Users\\name" not in out
    assert "AppData\\Local\\Programs\\Python" not in out
    for kept in (
        "site-packages\\axolotl\\cli\\train.py",
        "site-packages\\axolotl\\train.py",
        "site-packages\\transformers\\models\\auto\\modeling_auto.py",
    ):
        assert kept in out or kept.replace("\\", "/") in out
    assert "ValueError: Unrecognized configuration class" in out


def test_sanitize_mixed_paths() -> None:
    out = sanitize_stack_trace(MIXED)
    assert "site-packages/axolotl/cli/train.py" in out
    assert "site-packages/transformers/trainer.py" in out
    assert "site-packages/axolotl/utils/trainer.py" in out
    assert "site-packages/torch/utils/data/dataloader.py" in out
    assert "RuntimeError: CUDA out of memory" in out


def test_sanitize_venv_paths() -> None:
    out = sanitize_stack_trace(VENV)
    assert "/home/user/venv" not in out
    assert "site-packages/transformers/trainer.py" in out
    assert "site-packages/accelerate/accelerator.py" in out
    assert "site-packages/torch/_tensor.py" in out
    assert "RuntimeError: CUDA out of memory" in out


def test_sanitize_dist_packages() -> None:
    out = sanitize_stack_trace(DIST_PACKAGES)
    assert "/usr/local/lib/python3.8" not in out
    assert "dist-packages/torch/utils/data/dataloader.py" in out
    assert "dist-packages/torch/utils/data/_utils/fetch.py" in out
    assert "dist-packages/datasets/arrow_dataset.py" in out
    assert "IndexError: Index 10000 out of range for dataset of length 9832." in out


def test_sanitize_project_paths() -> None:
    # The user's own frames: at strict file and function become markers, and at every level
    # their source lines do (issue 13); secrets-only keeps the bare file names.
    out = sanitize_stack_trace(PROJECT)
    assert "/home/user/projects" not in out
    assert "run.py" not in out and 'File "[REDACTED]", line 25, in [REDACTED]' in out
    assert "ValueError: Configuration missing" in out
    kept = sanitize_stack_trace(PROJECT, Level.SECRETS_ONLY)
    assert "/home/user/projects" not in kept
    assert "run.py" in kept
    assert "cli.py" in kept
    assert "app.py" in kept
    assert "ValueError: Configuration missing" in kept


@pytest.mark.parametrize("level", [Level.STRICT, Level.SECRETS_ONLY])
@pytest.mark.parametrize("trace", [EXAMPLE, WINDOWS, MIXED, VENV, DIST_PACKAGES, PROJECT])
def test_frames_are_reduced_at_every_level_and_nothing_is_redacted_in_the_fixtures(
    level: Level, trace: str
) -> None:
    out = sanitize_stack_trace(trace, level)
    assert "user" not in out and "name\\" not in out
    assert REDACTED not in out or trace is PROJECT  # PROJECT is user code: its frames lose their source
    assert out.count('File "') == trace.count('File "')


def test_own_and_host_library_frames_stay_package_relative() -> None:
    import os

    import otel_axolotl

    real = os.path.join(os.path.dirname(otel_axolotl.__file__), "privacy", "stage.py")
    trace = (
        f'  File "{real}", line 1, in f\n'
        '  File "/home/alice/src/otel-axolotl/otel_axolotl/privacy/stage.py", line 2, in g\n'
        '  File "/home/alice/axolotl_runs/train.py", line 3, in h\n'
        '  File "/home/alice/.venv/lib/python3.11/site-packages/axolotl/train.py", line 4, in i\n'
        '  File "<frozen runpy>", line 198, in _run_module_as_main\n'
        '  File "<string>", line 1, in <module>\n'
    )
    out = sanitize_stack_trace(trace)
    assert 'File "otel_axolotl/privacy/stage.py", line 1, in f' in out  # the SDK really imported
    # A user's folder that merely shares the package's name is user code (issue 13).
    assert 'File "[REDACTED]", line 2, in [REDACTED]' in out
    assert 'File "[REDACTED]", line 3, in [REDACTED]' in out
    assert 'File "site-packages/axolotl/train.py"' in out
    assert 'File "<frozen runpy>"' in out and 'File "[REDACTED]", line 1' in out
    assert "alice" not in out
    kept = sanitize_stack_trace(trace, Level.SECRETS_ONLY)
    assert 'File "stage.py", line 2, in g' in kept and 'File "train.py", line 3' in kept
    assert 'File "<string>"' in kept and "alice" not in kept


def test_message_and_source_lines_are_scrubbed() -> None:
    token = "hf_" + "Zz1" * 12
    trace = (
        "Traceback (most recent call last):\n"
        '  File "/home/alice/run.py", line 3, in <module>\n'
        '    open("/home/alice/data.json")\n'
        "FileNotFoundError: [Errno 2] No such file or directory: '/home/alice/data.json'\n"
        f"During handling: token={token} from alice@example.org at 10.0.0.7\n"
    )
    strict = sanitize_stack_trace(trace)
    assert "alice" not in strict and token not in strict and "10.0.0.7" not in strict
    assert "No such file or directory: '[REDACTED]'" in strict
    assert "\n    [REDACTED]\n" in strict  # the user's source line, whole

    counter = RedactionCounter()
    secrets_only = sanitize_stack_trace(trace, Level.SECRETS_ONLY, counter)
    assert token not in secrets_only and counter.count == 2  # the token and the source line
    assert "open(" not in secrets_only
    assert 'File "run.py"' in secrets_only  # frames reduced at every level
    assert "'/home/alice/data.json'" in secrets_only  # the message keeps paths at secrets-only


def test_a_real_traceback() -> None:
    def fail() -> None:
        raise FileNotFoundError("/home/alice/secret-dir/x.txt")

    try:
        fail()
    except FileNotFoundError as exc:
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    out = sanitize_stack_trace(text)
    assert 'File "test_stacktrace.py"' not in out  # this test file is user code
    assert "alice" not in out and "/work" not in out and "FileNotFoundError: [REDACTED]" in out
    kept = sanitize_stack_trace(text, Level.SECRETS_ONLY)
    assert 'File "test_stacktrace.py"' in kept and "raise FileNotFoundError" not in kept


def test_degenerate_input() -> None:
    assert sanitize_stack_trace("") == ""
    assert sanitize_stack_trace('File "", line 1') == 'File "", line 1'
    assert sanitize_stack_trace('File "/", line 1') == 'File "", line 1'
    assert sanitize_stack_trace(None) is None  # type: ignore[arg-type]


def _nested_group_trace() -> str:
    import json

    def user_step(password: str) -> None:
        json.loads("{" + password)  # a package frame (json) under a user frame

    def inner() -> None:
        try:
            user_step("zqPlainS3cretValue")
        except ValueError as exc:
            raise ExceptionGroup("inner", [exc, KeyError("k")]) from None  # noqa: F821 (3.11+)

    try:
        try:
            inner()
        except ExceptionGroup as group:  # noqa: F821
            raise ExceptionGroup("outer", [group, TypeError("t")])  # noqa: B904, F821 (its context shows)
    except BaseException as exc:
        return "".join(traceback.format_exception(exc))
    raise AssertionError("unreachable")


@pytest.mark.skipif(sys.version_info < (3, 11), reason="ExceptionGroup is Python 3.11+")
@pytest.mark.parametrize("level", [Level.STRICT, Level.SECRETS_ONLY])
def test_a_nested_exception_group_keeps_its_margins_and_loses_the_user(level: Level) -> None:
    import os

    trace = _nested_group_trace()
    assert "  |   File " in trace and "    |   File " in trace and "+-+---" in trace  # really nested
    out = sanitize_stack_trace(trace, level)
    assert "zqPlainS3cretValue" not in out and "user_step(" not in out  # the user's source lines
    assert os.path.dirname(__file__) not in out and "/work" not in out  # no absolute path
    assert out.count('File "') == trace.count('File "')
    assert out.count("\n") == trace.count("\n")
    for line in trace.splitlines():  # every group margin and rule survives in place
        if line.lstrip().startswith(("|", "+")):
            margin = line[: line.index(line.lstrip()[0]) + 1]
            assert any(o.startswith(margin) for o in out.splitlines())
    assert 'File "decoder.py", line' in out  # the standard library's frame: its file name
    if level == Level.STRICT:
        assert "user_step" not in out and "test_stacktrace.py" not in out
        assert '  |   File "[REDACTED]", line' in out
    else:
        assert '    |   File "test_stacktrace.py", line' in out and ", in user_step" in out


def test_frames_written_into_a_message_are_free_text() -> None:
    trace = (
        "Traceback (most recent call last):\n"
        '  File "/usr/lib/python3.11/json/decoder.py", line 1, in decode\n'
        "    obj, end = self.raw_decode(s, idx=_w(s, 0).end())\n"
        "ValueError: bad row\n"
        '  File "/home/zqalice/.venv/lib/python3.11/site-packages/torch/x.py", line 1, in zqalice_fn\n'
        "    zqalice smith\n"
        "\n"
        "During handling of the above exception, another exception occurred:\n"
        "\n"
        "Traceback (most recent call last):\n"
        '  File "/home/zqalice/t.py", line 9, in main\n'
        "    zqsecret_call()\n"
        "KeyError: 'x'\n"
    )
    out = sanitize_stack_trace(trace)
    assert "zq" not in out
    assert 'File "[REDACTED]", line 1, in [REDACTED]' in out  # the message's fake frame: free text
    assert 'File "[REDACTED]", line 9, in [REDACTED]\n    [REDACTED]\n' in out  # after the chain: a frame
    kept = sanitize_stack_trace(trace, Level.SECRETS_ONLY)
    assert "zqsecret_call" not in kept and 'File "t.py", line 9, in main' in kept


@pytest.mark.parametrize(
    ("frozen", "package"),
    [
        ("<frozen runpy>", True),
        ("<frozen importlib._bootstrap>", True),
        ("<frozen zqalice_lab>", False),
        ("<frozen os.zqalice>", False),
    ],
)
def test_only_a_standard_library_module_is_a_frozen_package_frame(frozen: str, package: bool) -> None:
    trace = f'  File "{frozen}", line 1, in zqalice_fn\n    zqalice_source()\n'
    out = sanitize_stack_trace(trace)
    assert "zqalice_fn" not in out  # a function the module does not define is not its own
    assert (f'File "{frozen}"' in out) is package
    if not package:
        assert out == '  File "[REDACTED]", line 1, in [REDACTED]\n    [REDACTED]\n'
    real = sanitize_stack_trace('  File "<frozen runpy>", line 198, in _run_module_as_main\n')
    assert real == '  File "<frozen runpy>", line 198, in _run_module_as_main\n'
