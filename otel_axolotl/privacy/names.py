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
import importlib.machinery
import importlib.util
import os
import re
import sys
import sysconfig
import types
from typing import NamedTuple

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
_MAX_NAME = 256
_MAX_SEGMENTS = 16
_MAX_SOURCE = 4 * 1024 * 1024  # characters of a module's source read to find its names
_MAX_STAR_IMPORTS = 8
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_STAR_IMPORT = re.compile(r"^[ \t]*from[ \t]+(\.*[A-Za-z0-9_.]*)[ \t]+import[ \t]+\*", re.MULTILINE)
_CODE_OBJECT_NAMES = frozenset(
    f"{left}{name}{right}"
    for name in ("module", "lambda", "listcomp", "dictcomp", "setcomp", "genexpr")
    for left, right in (("<", ">"), ("_", "_"))  # as Python names them, and as an event name spells them
)


def add_host_package(name: str) -> None:
    """A host library's top-level package counts as installed even from a source checkout."""
    top = name.split(".", 1)[0].replace("-", "_")
    if top.isidentifier():
        _host_packages.add(top)
        is_installed_module.cache_clear()
        _find_module.cache_clear()


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
    """True if ``module`` (dotted) names installed code through and through: stdlib, builtins,
    site-packages or a host package, down to its last segment. The longest prefix that is a
    module must exist there (``torch.nn.functional``), and every segment after it must be
    defined by that module (``transformers.trainer.Trainer.train``); ``torch.alice_project``
    and ``os.AliceError`` are a user's names behind an installed prefix, so False. ``__main__``,
    unknown names and modules of the user's folders: False. Nothing is imported."""
    parts = module.split(".")
    if len(module) > _MAX_NAME or len(parts) > _MAX_SEGMENTS:
        return False
    top = parts[0]
    if not top.isidentifier() or top in ("__main__", "__mp_main__", "user_code"):
        return False
    if not _is_installed_top(top):
        return False
    depth = 1
    while depth < len(parts) and parts[depth].isidentifier() and _find_module(".".join(parts[: depth + 1])):
        depth += 1
    return _defined_in(".".join(parts[:depth]), parts[depth:])


def _is_installed_top(top: str) -> bool:
    if top in sys.builtin_module_names or top in getattr(sys, "stdlib_module_names", ()) or top == "builtins":
        return True
    location = _location(top)
    if location is None:
        return False
    if top in _host_packages and top in sys.modules:
        return True  # the host library as imported (perhaps from its source checkout)
    return is_package_path(location)


class _Found(NamedTuple):
    locations: tuple[str, ...] | None  # None: a plain module, not a package
    origin: str | None  # its source or extension file, if it has one


@functools.lru_cache(maxsize=512)
def _find_module(name: str) -> _Found | None:
    """Where module ``name`` lives (its search locations and source file), found without
    importing anything: ``importlib.util.find_spec`` of a submodule imports its parent, so a
    parent not yet imported is searched on disk (``PathFinder`` over its locations)."""
    module = sys.modules.get(name)
    if module is not None:
        path = getattr(module, "__path__", None)
        origin = getattr(module, "__file__", None)
        locations = tuple(str(p) for p in path) if path is not None else None
        return _Found(locations, origin if isinstance(origin, str) else None)
    parent, _, _leaf = name.rpartition(".")
    try:
        if not parent:
            spec = importlib.util.find_spec(name)  # a top-level name: looked up, never imported
        else:
            found = _find_module(parent)
            if found is None or found.locations is None:
                return None  # the parent is a plain module: nothing under it is a module
            if parent in sys.modules:
                spec = importlib.util.find_spec(name)  # the parent is imported already
            else:
                spec = importlib.machinery.PathFinder.find_spec(name, list(found.locations))
    except Exception:  # a broken finder or package: not provably installed
        return None
    if spec is None:
        return None
    locations = tuple(str(p) for p in spec.submodule_search_locations or ()) or None
    origin = spec.origin if spec.origin not in (None, "built-in", "frozen") else None
    if parent and origin is not None and not is_package_path(origin):
        return None  # a user's folder inside a namespace package is not installed code
    return _Found(locations, origin)


def _defined_in(module: str, names: list[str]) -> bool:
    """True if each of ``names`` (``Trainer``, ``train``) is defined by installed ``module``:
    an attribute of it when it is imported (read statically: a lazy module's ``__getattr__``
    would import), else a word of its source (a name in public code is not private)."""
    if not names:
        return True
    if len(names) == 1 and names[0] in _CODE_OBJECT_NAMES:
        return True  # <module>, <lambda>: Python's own names
    if not all(name.isidentifier() for name in names):
        return False
    loaded = sys.modules.get(module)
    if loaded is not None and _has_attributes(loaded, names):
        return True
    if names[-1][:1].isupper() and loaded is not None and not _is_lazy(loaded):
        return False  # a class of an imported module is its attribute, or it is not the module's
    found = _find_module(module)
    words = _source_words(module, found.origin if found is not None else None)
    return all(name in words for name in names)


def _has_attributes(obj: object, names: list[str]) -> bool:
    import inspect  # only when a dotted name is judged: per error, not per step

    for name in names:
        try:
            obj = vars(obj)[name] if isinstance(obj, types.ModuleType) else inspect.getattr_static(obj, name)
        except (KeyError, AttributeError, TypeError):
            return False
    return True


def _is_lazy(module: types.ModuleType) -> bool:
    """A module that makes its names on first use (PEP 562 ``__getattr__``, transformers'
    ``_LazyModule``): a name it has not made yet is not in its dictionary."""
    return "__getattr__" in vars(module) or type(module) is not types.ModuleType


@functools.lru_cache(maxsize=64)
def _source_words(module: str, origin: str | None) -> frozenset[str]:
    """The identifiers of a module's source (or, for an extension, its ``.pyi`` stub), plus
    those of the modules it star-imports (``from torch._C import *``), one level deep."""
    text = _read_source(origin)
    words = set(_WORD.findall(text))
    package = (
        module if origin and os.path.basename(origin).startswith("__init__.") else module.rpartition(".")[0]
    )
    for star in _STAR_IMPORT.findall(text)[:_MAX_STAR_IMPORTS]:
        target = _absolute(star, package)
        found = _find_module(target) if target else None
        if found is not None:
            words.update(_WORD.findall(_read_source(found.origin)))
    return frozenset(words)


def _absolute(name: str, package: str) -> str | None:
    dots = len(name) - len(name.lstrip("."))
    if not dots:
        return name
    base = package.split(".")
    if dots - 1 >= len(base):
        return None
    stem = ".".join(base[: len(base) - (dots - 1)])
    rest = name[dots:]
    return f"{stem}.{rest}" if rest else stem


def _read_source(origin: str | None) -> str:
    if not origin:
        return ""
    candidates = [origin]
    if not origin.endswith((".py", ".pyi")):  # an extension module: its stub, if it ships one
        folder, leaf = os.path.split(origin)
        stem = leaf.split(".", 1)[0]
        candidates = [os.path.join(folder, stem + ".pyi"), os.path.join(folder, stem, "__init__.pyi")]
    for candidate in candidates:
        try:
            with open(candidate, encoding="utf-8", errors="replace") as handle:
                return handle.read(_MAX_SOURCE)
        except OSError:
            continue
    return ""


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
