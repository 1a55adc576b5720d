"""Record Axolotl's config keys and their value kinds as data (otel_axolotl/privacy/schemas/axolotl.yaml).

Why a script: the strict privacy level keeps a config value only when the host library's schema
says what kind of value the key holds. Axolotl declares its config as pydantic models; this reads
their annotations with ``ast`` (nothing of Axolotl is imported or copied) and writes key -> kind.

Usage: ``pip download axolotl==0.21.0 --no-deps --python-version 3.12 --only-binary=:all: -d /tmp/axo``,
unzip the wheel, then ``python semconv/axolotl_schema.py /tmp/axo/x/axolotl/utils/schemas``.

Kinds: bool, int, float, number, option (a token of the option vocabulary), enum (listed values),
model (a whitelisted org/name), path, text, dict (its own keys decide), and ``list[...]`` of those.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path
from typing import Any

import yaml

OUT = Path(__file__).resolve().parent.parent / "otel_axolotl" / "privacy" / "schemas" / "axolotl.yaml"
_PATHY = ("path", "dir", "file", "url", "uri", "output", "cache", "checkpoint", "endpoint", "host")
_MODEL_KEYS = {
    "base_model",
    "base_model_config",
    "tokenizer_config",
    "hub_model_id",
    "reward_model",
    "ref_model",
}


def _enums(tree: ast.Module) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and any(
            getattr(b, "id", getattr(b, "attr", "")) == "Enum" for b in node.bases
        ):
            values = [
                stmt.value.value
                for stmt in node.body
                if isinstance(stmt, ast.Assign)
                and isinstance(stmt.value, ast.Constant)
                and isinstance(stmt.value.value, str)
            ]
            values += [
                stmt.targets[0].id
                for stmt in node.body
                if isinstance(stmt, ast.Assign)
                and isinstance(stmt.targets[0], ast.Name)
                and not isinstance(stmt.value, ast.Constant)
            ]
            out[node.name] = values
    return out


def _kind(node: ast.expr | None, key: str, enums: dict[str, list[str]], models: set[str]) -> Any:
    """An annotation -> a kind; strings under a key that names a location are paths."""
    if node is None:
        return "text"
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        kinds = [_kind(n, key, enums, models) for n in (node.left, node.right)]
        kinds = [k for k in kinds if k != "none"]
        enum_values = [v for k in kinds if isinstance(k, dict) for v in k.get("enum", [])]
        plain = [k for k in kinds if not isinstance(k, dict) or "enum" not in k]
        if enum_values and all(p in ("bool", "none") for p in plain):
            return {"enum": sorted(set(enum_values)), **({"or": plain[0]} if plain else {})}
        if not kinds:
            return "none"
        if len({str(k) for k in kinds}) == 1:
            return kinds[0]
        if set(map(str, kinds)) <= {"int", "float"}:
            return "number"
        return {"any_of": kinds}
    if isinstance(node, ast.Constant) and node.value is None:
        return "none"
    if isinstance(node, ast.Name):
        name = node.id
        if name in ("bool",):
            return "bool"
        if name == "int":
            return "int"
        if name == "float":
            return "float"
        if name == "str":
            lowered = key.lower()
            if key in _MODEL_KEYS or lowered.endswith(("_model", "model_name", "model_id")):
                return "model"
            if any(p in lowered for p in _PATHY):
                return "path"
            if lowered.endswith(
                ("name", "project", "entity", "id", "tag", "token", "key", "prompt", "message")
            ):
                return "text"
            return "option"
        if name in enums:
            return {"enum": enums[name]}
        if name in models:
            return "dict"
        if name in ("dict", "Any", "object"):
            return "dict"
        return "text"
    if isinstance(node, ast.Subscript):
        base = getattr(node.value, "id", getattr(node.value, "attr", ""))
        if base == "Literal":
            elts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
            values = [e.value for e in elts if isinstance(e, ast.Constant)]
            return {"enum": [v for v in values if isinstance(v, str)]} if values else "text"
        if base in ("list", "List", "Sequence", "tuple", "set"):
            inner = node.slice.elts[0] if isinstance(node.slice, ast.Tuple) else node.slice
            return {"list": _kind(inner, key, enums, models)}
        if base in ("dict", "Dict", "Mapping"):
            return "dict"
        if base in ("Annotated",):
            return _kind(node.slice.elts[0], key, enums, models)  # type: ignore[attr-defined]
        if base == "Optional":
            return _kind(node.slice, key, enums, models)
        if base == "Union":
            elts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
            acc: ast.expr = elts[0]
            for e in elts[1:]:
                acc = ast.BinOp(left=acc, op=ast.BitOr(), right=e)
            return _kind(acc, key, enums, models)
    return "text"


def extract(folder: Path) -> dict[str, Any]:
    trees = {p: ast.parse(p.read_text(encoding="utf-8")) for p in sorted(folder.rglob("*.py"))}
    enums: dict[str, list[str]] = {}
    models: set[str] = set()
    for tree in trees.values():
        enums.update(_enums(tree))
        models.update(n.name for n in tree.body if isinstance(n, ast.ClassDef))
    keys: dict[str, Any] = {}
    for tree in trees.values():
        for cls in (n for n in tree.body if isinstance(n, ast.ClassDef)):
            for stmt in cls.body:
                if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                    key = stmt.target.id
                    if key.startswith("_") or key == "model_config":
                        continue
                    kind = _kind(stmt.annotation, key, enums, models)
                    if kind == "none":
                        kind = "text"
                    keys.setdefault(key, kind)
    return keys


def main(argv: list[str]) -> int:
    keys = extract(Path(argv[1]))
    header = (
        "# Axolotl's config keys and the kind of value each holds, read from the annotations of\n"
        "# axolotl 0.21.0's src/axolotl/utils/schemas/*.py by semconv/axolotl_schema.py (data only).\n"
        "# Kinds: see otel_axolotl/privacy/schema.py. Regenerate with the script; edit by hand with care.\n"
    )
    OUT.write_text(
        header + yaml.safe_dump({"library": "axolotl", "keys": keys}, sort_keys=True, width=110),
        encoding="utf-8",
    )
    print(f"wrote {len(keys)} keys to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
