"""Render otel_axolotl/semconv.py: the registry's names as constants, its specs as tables.

The generated module is imported by every part of the package, so it imports only `re` and
`dataclasses`. Its layout is for reading: one constant per name, then one table per signal kind
with one positional row per spec (a comment names the columns), wrapped only where a row does
not fit in LINE_LENGTH columns. The output is a pure function of the registry: deterministic.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .model import COMMAND, Signal, constant_name, event_pattern_constant, valid_model

LINE_LENGTH = 110


class _Code(str):
    """Python source to be written as is (a constant's name), not as a string literal."""


def _py_str(text: str) -> str:
    """A string literal quoted the way `ruff format` quotes it."""
    literal = json.dumps(text)  # a JSON string is a valid Python string literal
    if '"' in text and "'" not in text:
        return "'" + literal[1:-1].replace('\\"', '"') + "'"
    return literal


def _py_literal(value: Any) -> str:
    if isinstance(value, _Code):
        return str(value)
    if isinstance(value, str):
        return _py_str(value)
    if isinstance(value, (list, tuple)):
        items = [_py_literal(v) for v in value]
        return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"
    return repr(value)


def _string_chunks(text: str, width: int) -> list[str]:
    """Split `text` at spaces into pieces whose literals fit in `width` columns."""
    chunks: list[str] = []
    current = ""
    for token in re.findall(r"\S+\s*|\s+", text):
        pieces = [token] if len(_py_str(token)) <= width else list(token)
        for piece in pieces:
            if current and len(_py_str(current + piece)) > width:
                chunks.append(current)
                current = ""
            current += piece
    return [*chunks, current]


def _packed(literals: list[str], indent: int, suffix: str = ",") -> list[str]:
    """`literals` joined by ", ", as many to a line as fit, each line ending in `suffix`."""
    pad = " " * indent
    lines: list[str] = []
    current = ""
    for literal in literals:
        joined = f"{current}, {literal}" if current else literal
        if current and len(pad + joined + suffix) > LINE_LENGTH:
            lines.append(pad + current + suffix)
            joined = literal
        current = joined
    return [*lines, pad + current + suffix] if current else lines


def _py_tuple_lines(value: tuple[Any, ...], indent: int, prefix: str = "", suffix: str = ",") -> list[str]:
    """`prefix value suffix` at `indent`, the tuple's items packed over several lines when too long."""
    pad = " " * indent
    line = f"{pad}{prefix}{_py_literal(value)}{suffix}"
    if len(line) <= LINE_LENGTH:
        return [line]
    return [f"{pad}{prefix}(", *_packed([_py_literal(v) for v in value], indent + 4), f"{pad}){suffix}"]


def _py_text_lines(text: str, indent: int) -> list[str]:
    """A long text argument as adjacent literals, one per line (an argument list needs no parentheses)."""
    pad = " " * indent
    lines = [pad + _py_str(chunk) for chunk in _string_chunks(text, LINE_LENGTH - indent - 1)]
    return [*lines[:-1], lines[-1] + ","]


def _py_row(cls: str, arguments: list[Any], indent: int = 8) -> list[str]:
    """`cls(arguments...),` on one line, or its short arguments packed and its long ones wrapped."""
    pad = " " * indent
    line = f"{pad}{cls}({', '.join(_py_literal(a) for a in arguments)}),"
    if len(line) <= LINE_LENGTH:
        return [line]
    inner = indent + 4
    body: list[str] = []
    short: list[str] = []  # arguments waiting to be packed onto one line
    for argument in arguments:
        literal = _py_literal(argument)
        wrappable = isinstance(argument, (str, tuple)) and not isinstance(argument, _Code)
        if inner + len(literal) + 1 <= LINE_LENGTH or not wrappable:
            short.append(literal)
            continue
        body += _packed(short, inner)
        short = []
        if isinstance(argument, str):
            body += _py_text_lines(argument, inner)
        else:
            body += _py_tuple_lines(argument, inner)
    body += _packed(short, inner)
    return [f"{pad}{cls}(", *body, f"{pad}),"]


def _py_table(name: str, cls: str, columns: str, rows: list[list[Any]]) -> list[str]:
    """`name: dict[str, cls]`, keyed by each row's first column (its name)."""
    out = [f"{name}: dict[str, {cls}] = {{", "    spec.name: spec", f"    for spec in (  # {columns}"]
    for row in rows:
        out += _py_row(cls, row)
    return [*out, "    )", "}", ""]


_PY_HEADER = f'''\
# Generated from semconv/registry.yaml by semconv/generate.py: do not edit.
# Regenerate with `{COMMAND}`.
"""Every name otel-axolotl emits, and the privacy class of every attribute.

Readable version: docs/what-we-collect.md. Only `re` and `dataclasses` are imported, so
importing this module costs next to nothing.
"""

import re
from dataclasses import dataclass
'''

_PY_CLASSES = '''

@dataclass(frozen=True)
class AttributeSpec:
    """A registered attribute; a template attribute is registered by its namespace."""

    name: str
    type: str
    privacy: str
    brief: str
    examples: tuple[object, ...]


@dataclass(frozen=True)
class SpanSpec:
    name: str
    brief: str
    attributes: tuple[str, ...]


@dataclass(frozen=True)
class EventSpec:
    """A registered event; with a `pattern`, a family of names (`name` only describes it)."""

    name: str
    brief: str
    attributes: tuple[str, ...]
    pattern: re.Pattern[str] | None = None


@dataclass(frozen=True)
class MetricSpec:
    name: str
    instrument: str
    unit: str
    brief: str
    attributes: tuple[str, ...]
'''

_PY_FUNCTIONS = '''
# Namespaces of template attributes, longest first, with a trailing ".".
_TEMPLATE_NAMESPACES: tuple[tuple[str, str], ...] = tuple(
    sorted(
        (
            (name + ".", spec.privacy)
            for name, spec in ATTRIBUTES.items()
            if spec.type.startswith("template[")
        ),
        key=lambda item: (-len(item[0]), item[0]),
    )
)
_TEMPLATE_PREFIXES: tuple[str, ...] = tuple(prefix for prefix, _ in _TEMPLATE_NAMESPACES)
_EVENT_NAMES: frozenset[str] = frozenset(name for name, spec in EVENTS.items() if spec.pattern is None)
_EVENT_PATTERNS: tuple[re.Pattern[str], ...] = tuple(
    spec.pattern for spec in EVENTS.values() if spec.pattern is not None
)


def attribute_privacy(key: str) -> str | None:
    """Privacy class of `key`: its own, else its longest template namespace's; None if unregistered."""
    spec = ATTRIBUTES.get(key)
    if spec is not None:
        return spec.privacy
    if key.startswith(_TEMPLATE_PREFIXES):
        for prefix, privacy in _TEMPLATE_NAMESPACES:
            if key.startswith(prefix):
                return privacy
    return None


def is_registered_attribute(key: str) -> bool:
    return attribute_privacy(key) is not None


def is_registered_span(name: str) -> bool:
    return name in SPANS


def is_registered_event(name: str) -> bool:
    """True for a registered event name, or a name matching a registered family's pattern."""
    return name in _EVENT_NAMES or any(pattern.fullmatch(name) for pattern in _EVENT_PATTERNS)


def is_registered_metric(name: str) -> bool:
    return name in METRICS
'''


def _py_pattern(pattern: str) -> str:
    if '"' in pattern or "\n" in pattern or pattern.endswith("\\"):
        return _py_str(pattern)
    return f'r"{pattern}"'


def render_python(registry: Any) -> str:
    """The source of otel_axolotl/semconv.py."""
    model = valid_model(registry)
    attributes = sorted(model.attributes.values(), key=lambda a: a.id)
    attr = {a.id: _Code(constant_name("ATTR", a.id)) for a in attributes}
    out = [_PY_HEADER, "# Attributes"]
    out += [f"{attr[a.id]} = {_py_literal(a.id)}" for a in attributes]
    out += ["", "# Spans"]
    out += [f"{constant_name('SPAN', s.name)} = {_py_literal(s.name)}" for s in model.spans]
    out += ["", "# Events"]
    for event in model.events:
        if event.pattern:
            out.append(f"{event_pattern_constant(event)} = re.compile({_py_pattern(event.pattern)})")
        else:
            out.append(f"{constant_name('EVENT', event.name)} = {_py_literal(event.name)}")
    out += ["", "# Metrics"]
    out += [f"{constant_name('METRIC', m.name)} = {_py_literal(m.name)}" for m in model.metrics]
    out += [_PY_CLASSES, ""]

    def refs(signal: Signal) -> tuple[_Code, ...]:
        return tuple(attr[a] for a in signal.attributes)

    out += _py_table(
        "ATTRIBUTES",
        "AttributeSpec",
        "name, type, privacy, brief, examples",
        [[attr[a.id], a.type, a.privacy, a.brief, a.examples] for a in attributes],
    )
    open_namespaces = tuple(attr[a.id] for a in attributes if a.is_template and a.privacy == "open")
    out += _py_tuple_lines(open_namespaces, 0, "OPEN_NAMESPACES: tuple[str, ...] = ", "")
    out.append("")
    out += _py_table(
        "SPANS",
        "SpanSpec",
        "name, brief, attributes",
        [[_Code(constant_name("SPAN", s.name)), s.brief, refs(s)] for s in model.spans],
    )
    event_rows: list[list[Any]] = []
    for event in model.events:
        # An event family has no name constant: its name only describes it, its pattern matches.
        if event.pattern:
            row = [event.name, event.brief, refs(event), _Code(event_pattern_constant(event))]
        else:
            row = [_Code(constant_name("EVENT", event.name)), event.brief, refs(event)]
        event_rows.append(row)
    out += _py_table("EVENTS", "EventSpec", "name, brief, attributes[, pattern]", event_rows)
    out += _py_table(
        "METRICS",
        "MetricSpec",
        "name, instrument, unit, brief, attributes",
        [
            [_Code(constant_name("METRIC", m.name)), m.instrument, m.unit, m.brief, refs(m)]
            for m in model.metrics
        ],
    )
    return "\n".join(out).rstrip("\n") + "\n" + _PY_FUNCTIONS
