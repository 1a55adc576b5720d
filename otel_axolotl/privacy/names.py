"""Code names: module, function and exception-type names say something only about installed code.

Why: ``<module>.<function>-error``, ``code.function.name`` and ``exception.type`` name the
code an error came from. For an installed package (the host library, this SDK, anything in
site-packages or dist-packages, the standard library) that is what a maintainer needs; for the
user's own code (``__main__``, ``alice_experiments.train``) it is a private project's layout.
So a user's module and function become fixed placeholders, and the event name stays stable:
``user_code.function-error``, ``user_code.function``, ``user_code.Error``.
"""

from __future__ import annotations

import builtins
import functools
import importlib.util
import os
import sys
import sysconfig

__all__ = [
    "USER_EVENT",
    "USER_EXCEPTION",
    "USER_FUNCTION",
    "add_host_package",
    "code_name",
    "error_event",
    "exception_type",
    "is_installed_module",
    "is_package_path",
]

USER_FUNCTION = "user_code.function"
"""``code.function.name`` of a function in the user's own code."""
USER_EVENT = f"{USER_FUNCTION}-error"
"""The error event name for an error in the user's own code."""
USER_EXCEPTION = "user_code.Error"
"""``exception.type`` of an exception class the user defined."""

_host_packages: set[str] = {"otel_axolotl", "axolotl"}
_PACKAGE_DIRS = ("site-packages", "dist-packages")


def add_host_package(name: str) -> None:
    """A host library's top-level package counts as installed even from a source checkout."""
    top = name.split(".", 1)[0].replace("-", "_")
    if top.isidentifier():
        _host_packages.add(top)
        is_installed_module.cache_clear()


@functools.lru_cache(maxsize=1)
def _stdlib_dirs() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    return tuple(os.path.normcase(p) for p in {paths.get("stdlib"), paths.get("platstdlib")} if p)


def is_package_path(path: str) -> bool:
    """True for a file of installed code: site-/dist-packages, the stdlib, or the real
    directory of a host package (not a user's folder that merely shares its name)."""
    normal = os.path.normcase(os.path.abspath(path)) if os.path.isabs(path) else os.path.normcase(path)
    parts = normal.replace("\\", "/").split("/")
    if any(p in _PACKAGE_DIRS for p in parts):
        return True
    if normal.startswith(_stdlib_dirs()):
        return True
    return any(normal.startswith(d + os.sep) for d in _host_package_dirs())


def _host_package_dirs() -> tuple[str, ...]:
    dirs: list[str] = []
    for top in sorted(_host_packages):
        if top not in sys.modules:
            continue  # only the package really imported: a user's folder of the same name is not it
        location = _location(top)
        if location:
            dirs.append(os.path.normcase(os.path.dirname(location) if location.endswith(".py") else location))
    return tuple(dirs)


def _location(top: str) -> str | None:
    module = sys.modules.get(top)
    origin = getattr(module, "__file__", None) if module is not None else None
    if origin:
        return os.path.dirname(origin) if os.path.basename(origin) == "__init__.py" else origin
    try:
        spec = importlib.util.find_spec(top)  # a top-level name: looked up, never imported
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    locations = list(spec.submodule_search_locations or ())
    if locations:
        return str(locations[0])
    return spec.origin if spec.origin not in (None, "built-in", "frozen") else None


@functools.lru_cache(maxsize=1024)
def is_installed_module(module: str) -> bool:
    """True if ``module`` (dotted) belongs to installed code: stdlib, builtins, site-packages,
    or a host package. ``__main__``, unknown names and modules of the user's folders: False."""
    top = module.split(".", 1)[0]
    if not top.isidentifier() or top in ("__main__", "__mp_main__", "user_code"):
        return False
    if top in sys.builtin_module_names or top in getattr(sys, "stdlib_module_names", ()) or top == "builtins":
        return True
    location = _location(top)
    if location is None:
        return False
    if top in _host_packages and top in sys.modules:
        return True  # the host library as imported (perhaps from its source checkout)
    return is_package_path(location)


def code_name(dotted: str) -> str:
    """``transformers.trainer.Trainer.train`` stays; ``my_lab.train.main`` -> ``user_code.function``."""
    if not isinstance(dotted, str) or not dotted:
        return USER_FUNCTION
    if "." not in dotted:
        return dotted if dotted in _BUILTIN_NAMES else USER_FUNCTION
    return dotted if is_installed_module(dotted) else USER_FUNCTION


def exception_type(dotted: str) -> str:
    """``torch.OutOfMemoryError`` and ``ValueError`` stay; ``my_lab.DataError`` -> ``user_code.Error``."""
    if not isinstance(dotted, str) or not dotted:
        return USER_EXCEPTION
    if "." not in dotted:
        return dotted if dotted in _BUILTIN_NAMES else USER_EXCEPTION
    return dotted if is_installed_module(dotted) else USER_EXCEPTION


def error_event(name: str) -> str:
    """``<module>.<function>-error``: kept for installed code, else ``user_code.function-error``."""
    base = name.removesuffix("-error")
    if base in ("uncaught", USER_FUNCTION):
        return name
    return name if "." in base and is_installed_module(base) else USER_EVENT


_BUILTIN_NAMES = frozenset(dir(builtins))
