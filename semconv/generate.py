"""Validate semconv/registry.yaml and generate what is derived from it.

    python semconv/generate.py           validate, then write otel_axolotl/semconv.py and
                                         docs/what-we-collect.md
    python semconv/generate.py --check   validate, then exit 1 naming any stale file; write nothing

The registry is OpenTelemetry semantic-conventions-shaped YAML: groups of type attribute_group,
span, event and metric; every attribute carries our extra field `privacy`. A template attribute
(type `template[...]`) registers a namespace: `axolotl.config` covers `axolotl.config.<key>`.
Errors name the group and the field and end the run with exit status 1.
"""

# This file is the command line only; the jobs live beside it: semconv/model.py loads and
# validates the registry, semconv/python_module.py and semconv/markdown_page.py render the files.

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as `python semconv/generate.py`, or loaded from its path by a test
    sys.path.insert(0, str(ROOT))

from semconv.markdown_page import render_markdown  # noqa: E402
from semconv.model import COMMAND, REGISTRY_PATH, load_registry, validate  # noqa: E402
from semconv.python_module import render_python  # noqa: E402

__all__ = ["REGISTRY_PATH", "load_registry", "main", "render_markdown", "render_python", "validate"]

PYTHON_PATH = ROOT / "otel_axolotl" / "semconv.py"
MARKDOWN_PATH = ROOT / "docs" / "what-we-collect.md"


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if a generated file is stale; write nothing"
    )
    parser.add_argument("--registry", type=Path, default=REGISTRY_PATH, help="registry YAML to read")
    parser.add_argument("--python", type=Path, default=PYTHON_PATH, help="Python module to write")
    parser.add_argument("--markdown", type=Path, default=MARKDOWN_PATH, help="Markdown page to write")
    args = parser.parse_args(argv)

    try:
        registry = load_registry(args.registry)
    except (OSError, yaml.YAMLError) as exc:
        print(f"error: cannot read {_display(args.registry)}: {exc}", file=sys.stderr)
        return 1
    errors = validate(registry)
    if errors:
        print(f"error: {_display(args.registry)} is invalid:", file=sys.stderr)
        for error in errors:
            print(f"  - {error}", file=sys.stderr)
        return 1

    outputs = {args.python: render_python(registry), args.markdown: render_markdown(registry)}
    stale = []
    for path, text in outputs.items():
        try:
            current = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            current = None
        if current == text:
            continue
        stale.append(path)
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8", newline="\n")
            print(f"wrote {_display(path)}")
    if args.check and stale:
        for path in stale:
            print(f"error: {_display(path)} is stale; regenerate it with `{COMMAND}`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
