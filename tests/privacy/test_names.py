"""names: a dotted name is installed code only if the whole path is (issue: red-team pass).

The top-level package being installed is not enough: ``torch.<user project>`` or
``os.<User>`` are a user's names behind a public prefix. Nothing here imports a module that
the name points into: the checks run on the real installed packages of this environment.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from otel_axolotl.privacy.names import (
    USER_EVENT,
    USER_EXCEPTION,
    USER_FUNCTION,
    code_name,
    error_event,
    exception_type,
    is_installed_module,
)


@pytest.mark.parametrize(
    "dotted",
    [
        "torch.nn.functional",  # a submodule of a package not necessarily imported
        "torch.nn.functional.cross_entropy",
        "transformers.trainer.Trainer.train",
        "transformers.models.llama.LlamaConfig",  # a lazy package: its star-imported names
        "torch.OutOfMemoryError",  # from an extension module: its .pyi stub
        "builtins.ValueError",
        "json.decoder.JSONDecoder.decode",
        "os.path.join",
        "otel_axolotl.errors",
        "otel_axolotl.errors.send_errors",
        "importlib._bootstrap",
    ],
)
def test_installed_names_stay(dotted: str) -> None:
    assert is_installed_module(dotted)


@pytest.mark.parametrize(
    "dotted",
    [
        "torch.zqalice_private_project",
        "os.ZqAliceSmith",
        "os.zqalice_lab.train",
        "json.ZqAliceError",
        "json.zqacme.secret_run",
        "torch.nn.zqalice",
        "transformers.trainer.ZqTrainer.train",
        "zqlab.train.main",
        "__main__.main",
    ],
)
def test_a_user_name_behind_an_installed_prefix_is_user_code(dotted: str) -> None:
    assert not is_installed_module(dotted)


def test_error_names_behind_an_installed_prefix_become_placeholders() -> None:
    assert error_event("os.zqalice_lab.train-error") == USER_EVENT
    assert code_name("os.zqalice_lab.main") == USER_FUNCTION
    assert exception_type("json.ZqAliceError") == USER_EXCEPTION
    assert exception_type("os.ZqAliceSmith") == USER_EXCEPTION
    assert error_event("transformers.trainer.train-error") == "transformers.trainer.train-error"  # a method
    assert error_event("runpy._module_-error") == "runpy._module_-error"  # <module>, as events spell it
    assert (
        exception_type("ValueError") == "ValueError"
        and exception_type("builtins.ValueError") != USER_EXCEPTION
    )


def test_an_imported_module_decides_by_its_attributes() -> None:
    import requests.exceptions  # noqa: F401  (imported: its attributes decide)

    assert exception_type("requests.exceptions.Timeout") == "requests.exceptions.Timeout"
    assert exception_type("requests.exceptions.ZqAliceTimeout") == USER_EXCEPTION


def test_judging_a_name_imports_nothing() -> None:
    code = textwrap.dedent(
        """
        import sys
        from otel_axolotl.privacy.names import is_installed_module
        before = set(sys.modules)
        assert is_installed_module("transformers.trainer.Trainer.train")
        assert is_installed_module("torch.nn.functional.cross_entropy")
        assert not is_installed_module("torch.zqalice_private_project")
        new = {m.split(".")[0] for m in set(sys.modules) - before}
        assert not new & {"torch", "transformers"}, sorted(new)
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
