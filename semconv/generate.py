"""Validate semconv/registry.yaml and generate what is derived from it.

    python semconv/generate.py           validate, then write otel_axolotl/semconv.py and
                                         docs/what-we-collect.md
    python semconv/generate.py --check   validate, then exit 1 naming any stale file; write nothing

The registry is OpenTelemetry semantic-conventions-shaped YAML: groups of type attribute_group,
span, event and metric; every attribute carries our extra field `privacy`. A template attribute
(type `template[...]`) registers a namespace: `axolotl.config` covers `axolotl.config.<key>`.
Errors name the group and the field and end the run with exit status 1.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
REGISTRY_PATH = ROOT / "semconv" / "registry.yaml"
PYTHON_PATH = ROOT / "otel_axolotl" / "semconv.py"
MARKDOWN_PATH = ROOT / "docs" / "what-we-collect.md"
COMMAND = "python semconv/generate.py"

GROUP_TYPES = ("attribute_group", "span", "event", "metric")
PRIVACY_CLASSES = ("public", "whitelisted-name", "redacted", "open", "never")
INSTRUMENTS = (
    "counter",
    "updowncounter",
    "gauge",
    "histogram",
    "observable_gauge",
    "observable_counter",
    "observable_updowncounter",
)
STABILITIES = ("stable", "development", "experimental", "deprecated", "release_candidate", "alpha", "beta")
_VALUE_TYPES = ("string", "int", "double", "boolean", "string[]", "int[]", "double[]", "boolean[]", "any")
ATTRIBUTE_TYPES = _VALUE_TYPES + tuple(f"template[{t}]" for t in _VALUE_TYPES)

LINE_LENGTH = 110
UPSTREAM_PREFIX = "https://opentelemetry.io/docs/specs/semconv/registry/attributes"


# ---------------------------------------------------------------------------- model


@dataclass(frozen=True)
class Attribute:
    id: str
    type: str
    privacy: str
    brief: str
    examples: tuple[Any, ...]
    group: str
    upstream: str | None = None
    """OpenTelemetry's definition (a semantic-conventions registry URL): the meaning is theirs,
    ``brief`` then only notes how we use it."""

    @property
    def is_template(self) -> bool:
        return self.type.startswith("template[")


@dataclass(frozen=True)
class Signal:
    """A span, an event or a metric."""

    kind: str  # the group type: "span", "event" or "metric"
    group: str
    name: str
    brief: str
    attributes: tuple[str, ...]  # sorted attribute ids
    pattern: str | None = None  # events only: a family of names
    instrument: str | None = None  # metrics only
    unit: str | None = None  # metrics only


@dataclass
class Model:
    attributes: dict[str, Attribute]
    spans: list[Signal]
    events: list[Signal]
    metrics: list[Signal]


def load_registry(path: str | Path = REGISTRY_PATH) -> Any:
    """Parse the registry YAML; raises OSError or yaml.YAMLError."""
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def validate(registry: Any) -> list[str]:
    """Every problem in the registry, one readable message each; empty when it is valid."""
    return _parse(registry)[1]


def constant_name(prefix: str, name: str) -> str:
    """`ATTR`, `axolotl.run.id` -> `ATTR_RUN_ID`; `EVENT`, `train-start` -> `EVENT_TRAIN_START`."""
    name = name.removeprefix("axolotl.")
    return f"{prefix}_{re.sub(r'[^0-9A-Za-z]', '_', name).upper()}"


def _event_pattern_constant(event: Signal) -> str:
    return constant_name("EVENT", event.group.removeprefix("event.")) + "_PATTERN"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _is_literal(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, (str, int, bool)) or value is None:
        return True
    return isinstance(value, list) and all(_is_literal(v) and not isinstance(v, list) for v in value)


def _text(entry: dict[str, Any], key: str, where: str, errors: list[str], allowed: Sequence[str] = ()) -> str:
    """The string field `key` of `entry`, recording an error (and returning "") when it is unusable."""
    if key not in entry or entry[key] is None:
        errors.append(f"{where}: missing field '{key}'")
        return ""
    value = entry[key]
    if not isinstance(value, str) or not value.strip():
        errors.append(f"{where}: field '{key}' must be a non-empty string, got {value!r}")
        return ""
    if allowed and value not in allowed:
        errors.append(f"{where}: field '{key}' is {value!r}; expected one of: {', '.join(allowed)}")
        return ""
    return value


def _parse(registry: Any) -> tuple[Model, list[str]]:
    errors: list[str] = []
    model = Model(attributes={}, spans=[], events=[], metrics=[])
    groups = registry.get("groups") if isinstance(registry, dict) else None
    if not isinstance(groups, list):
        return model, ["registry: top-level field 'groups' must be a list of groups"]

    group_ids: set[str] = set()
    pending: list[tuple[str, str, dict[str, Any], list[str]]] = []  # (kind, where, group, refs)
    for index, group in enumerate(groups):
        if not isinstance(group, dict):
            errors.append(f"group #{index + 1}: must be a mapping, got {group!r}")
            continue
        gid = group.get("id")
        where = f"group {gid!r}" if isinstance(gid, str) and gid else f"group #{index + 1}"
        gid = _text(group, "id", where, errors)
        if gid and gid in group_ids:
            errors.append(f"{where}: duplicate group id")
        group_ids.add(gid)
        kind = _text(group, "type", where, errors, GROUP_TYPES)
        _text(group, "brief", where, errors)
        if "stability" in group:
            _text(group, "stability", where, errors, STABILITIES)

        entries = group.get("attributes") or []
        if not isinstance(entries, list):
            errors.append(f"{where}: field 'attributes' must be a list")
            entries = []
        refs: list[str] = []
        for position, entry in enumerate(entries):
            entry_where = f"{where}, attribute #{position + 1}"
            if not isinstance(entry, dict) or ("id" in entry) == ("ref" in entry):
                errors.append(f"{entry_where}: must be a mapping with exactly one of 'id' or 'ref'")
            elif "ref" in entry:
                ref = _text(entry, "ref", entry_where, errors)
                if ref in refs:
                    errors.append(f"{where}: attribute {ref!r} is listed twice")
                elif ref:
                    refs.append(ref)
            else:
                attribute = _parse_attribute(entry, gid, where, position + 1, errors)
                if attribute is None:
                    continue
                previous = model.attributes.get(attribute.id)
                if previous is not None:
                    errors.append(
                        f"{where}: attribute {attribute.id!r} is already defined in group {previous.group!r}"
                    )
                    continue
                model.attributes[attribute.id] = attribute
                if attribute.id in refs:
                    errors.append(f"{where}: attribute {attribute.id!r} is listed twice")
                refs.append(attribute.id)
        if kind in ("span", "event", "metric"):
            pending.append((kind, where, group, refs))

    names: dict[tuple[str, str], str] = {}
    for kind, where, group, refs in pending:
        for ref in refs:
            if ref not in model.attributes:
                errors.append(f"{where}: field 'attributes' refers to undefined attribute {ref!r}")
        signal = _parse_signal(kind, where, group, refs, errors)
        if signal is None:
            continue
        if (kind, signal.name) in names:
            errors.append(
                f"{where}: {kind} name {signal.name!r} is already used by {names[kind, signal.name]}"
            )
            continue
        names[kind, signal.name] = where
        {"span": model.spans, "event": model.events, "metric": model.metrics}[kind].append(signal)

    errors.extend(_constant_clashes(model))
    model.spans.sort(key=lambda s: s.name)
    model.events.sort(key=lambda s: s.name)
    model.metrics.sort(key=lambda s: s.name)
    return model, errors


def _parse_attribute(
    entry: dict[str, Any], group: str, group_where: str, position: int, errors: list[str]
) -> Attribute | None:
    count = len(errors)
    aid = _text(entry, "id", f"{group_where}, attribute #{position}", errors)
    where = f"{group_where}, attribute {aid!r}" if aid else f"{group_where}, attribute #{position}"
    atype = _text(entry, "type", where, errors, ATTRIBUTE_TYPES)
    upstream = entry.get("upstream")
    if upstream is None:  # ours: its meaning is declared here
        brief = _text(entry, "brief", where, errors)
        _text(entry, "stability", where, errors, STABILITIES)
    else:  # OpenTelemetry's: referenced, not re-declared (stability and meaning are upstream's)
        anchor = "#" + aid.replace(".", "-").replace("_", "-")
        if not (
            isinstance(upstream, str) and upstream.startswith(UPSTREAM_PREFIX) and upstream.endswith(anchor)
        ):
            errors.append(
                f"{where}: field 'upstream' must be a semantic-conventions registry URL "
                f"({UPSTREAM_PREFIX}/<namespace>/{anchor}), got {upstream!r}"
            )
        for key in ("brief", "stability"):
            if key in entry:
                errors.append(f"{where}: an upstream attribute has no '{key}' (upstream's); use 'note'")
        brief = entry.get("note") or ""
        if not isinstance(brief, str):
            errors.append(f"{where}: field 'note' must be a string")
            brief = ""
    privacy = _text(entry, "privacy", where, errors, PRIVACY_CLASSES)
    examples = entry.get("examples", [])
    if not isinstance(examples, list):
        examples = [examples]
    if not all(_is_literal(e) for e in examples):
        errors.append(f"{where}: field 'examples' must hold strings, numbers, booleans or lists of them")
    if len(errors) > count:
        return None
    return Attribute(aid, atype, privacy, _one_line(brief), tuple(examples), group, upstream)


def _parse_signal(
    kind: str, where: str, group: dict[str, Any], refs: list[str], errors: list[str]
) -> Signal | None:
    count = len(errors)
    brief = _one_line(group.get("brief") or "")
    attributes = tuple(sorted(refs))
    if kind == "metric":
        name = _text(group, "metric_name", where, errors)
        instrument = _text(group, "instrument", where, errors, INSTRUMENTS)
        unit = _text(group, "unit", where, errors)
        signal = Signal(kind, group.get("id", ""), name, brief, attributes, instrument=instrument, unit=unit)
    else:
        name = _text(group, "name", where, errors)
        pattern = None
        if kind == "event" and "pattern" in group:
            pattern = _text(group, "pattern", where, errors)
            try:
                re.compile(pattern)
            except re.error as exc:
                errors.append(f"{where}: field 'pattern' is not a valid regular expression: {exc}")
        signal = Signal(kind, group.get("id", ""), name, brief, attributes, pattern=pattern)
    return signal if len(errors) == count else None


def _constant_clashes(model: Model) -> list[str]:
    owners: dict[str, list[str]] = {}
    for attribute in model.attributes.values():
        owners.setdefault(constant_name("ATTR", attribute.id), []).append(f"attribute {attribute.id!r}")
    for signal in model.spans:
        owners.setdefault(constant_name("SPAN", signal.name), []).append(f"span {signal.name!r}")
    for signal in model.metrics:
        owners.setdefault(constant_name("METRIC", signal.name), []).append(f"metric {signal.name!r}")
    for signal in model.events:
        constant = _event_pattern_constant(signal) if signal.pattern else constant_name("EVENT", signal.name)
        owners.setdefault(constant, []).append(f"event {signal.name!r}")
    return [
        f"constant {constant} would name several things: {', '.join(sorted(things))}; rename one"
        for constant, things in sorted(owners.items())
        if len(things) > 1
    ]


def _valid_model(registry: Any) -> Model:
    model, errors = _parse(registry)
    if errors:
        raise ValueError("invalid registry:\n" + "\n".join(errors))
    return model


# ---------------------------------------------------------------------------- Python


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


def _py_lines(value: Any, indent: int, prefix: str = "", suffix: str = ",") -> list[str]:
    """`prefix value suffix` at `indent`, wrapped over several lines when too long."""
    pad = " " * indent
    line = f"{pad}{prefix}{_py_literal(value)}{suffix}"
    if len(line) <= LINE_LENGTH or not isinstance(value, (str, list, tuple)) or isinstance(value, _Code):
        return [line]
    inner = " " * (indent + 4)
    if isinstance(value, str):
        body = [inner + _py_str(c) for c in _string_chunks(value, LINE_LENGTH - len(inner))]
    else:
        body = [text for item in value for text in _py_lines(item, indent + 4)]
    return [f"{pad}{prefix}(", *body, f"{pad}){suffix}"]


def _py_spec(key: Any, cls: str, fields: list[tuple[str, Any]]) -> list[str]:
    lines = [f"    {_py_literal(key)}: {cls}("]
    for field, value in fields:
        lines += _py_lines(value, 8, f"{field}=")
    return [*lines, "    ),"]


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
    model = _valid_model(registry)
    attributes = sorted(model.attributes.values(), key=lambda a: a.id)
    attr = {a.id: _Code(constant_name("ATTR", a.id)) for a in attributes}
    out = [_PY_HEADER, "# Attributes"]
    out += [f"{attr[a.id]} = {_py_literal(a.id)}" for a in attributes]
    out += ["", "# Spans"]
    out += [f"{constant_name('SPAN', s.name)} = {_py_literal(s.name)}" for s in model.spans]
    out += ["", "# Events"]
    for event in model.events:
        if event.pattern:
            out.append(f"{_event_pattern_constant(event)} = re.compile({_py_pattern(event.pattern)})")
        else:
            out.append(f"{constant_name('EVENT', event.name)} = {_py_literal(event.name)}")
    out += ["", "# Metrics"]
    out += [f"{constant_name('METRIC', m.name)} = {_py_literal(m.name)}" for m in model.metrics]
    out += [_PY_CLASSES, ""]

    def refs(signal: Signal) -> tuple[_Code, ...]:
        return tuple(attr[a] for a in signal.attributes)

    out.append("ATTRIBUTES: dict[str, AttributeSpec] = {")
    for a in attributes:
        fields: list[tuple[str, Any]] = [("name", attr[a.id]), ("type", a.type), ("privacy", a.privacy)]
        out += _py_spec(attr[a.id], "AttributeSpec", [*fields, ("brief", a.brief), ("examples", a.examples)])
    out += ["}", ""]
    open_namespaces = tuple(attr[a.id] for a in attributes if a.is_template and a.privacy == "open")
    out += _py_lines(open_namespaces, 0, "OPEN_NAMESPACES: tuple[str, ...] = ", "")
    out += ["", "SPANS: dict[str, SpanSpec] = {"]
    for span in model.spans:
        key = _Code(constant_name("SPAN", span.name))
        out += _py_spec(key, "SpanSpec", [("name", key), ("brief", span.brief), ("attributes", refs(span))])
    out += ["}", "", "EVENTS: dict[str, EventSpec] = {"]
    for event in model.events:
        # An event family has no name constant: its key is the name that describes it.
        event_key = event.name if event.pattern else _Code(constant_name("EVENT", event.name))
        fields = [("name", event_key), ("brief", event.brief), ("attributes", refs(event))]
        if event.pattern:
            fields.append(("pattern", _Code(_event_pattern_constant(event))))
        out += _py_spec(event_key, "EventSpec", fields)
    out += ["}", "", "METRICS: dict[str, MetricSpec] = {"]
    for metric in model.metrics:
        key = _Code(constant_name("METRIC", metric.name))
        fields = [("name", key), ("instrument", metric.instrument), ("unit", metric.unit)]
        out += _py_spec(key, "MetricSpec", [*fields, ("brief", metric.brief), ("attributes", refs(metric))])
    out += ["}", _PY_FUNCTIONS]
    return "\n".join(out)


# ---------------------------------------------------------------------------- Markdown


def _md_code(text: str) -> str:
    fence = "``" if "`" in text else "`"
    pad = " " if "`" in text else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _md_cell(text: str) -> str:
    return _one_line(text).replace("|", "\\|")


def _md_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_md_cell(cell) for cell in row) + " |" for row in rows]
    return [*lines, ""]


def _md_example(value: Any) -> str:
    if isinstance(value, str):
        return _md_code(value)
    return _md_code(json.dumps(value))


def _md_attribute_list(ids: Sequence[str]) -> str:
    return ", ".join(_md_code(i) for i in ids) or "none"


_MD_INTRO = f"""\
# What we collect

<!-- Generated from semconv/registry.yaml by semconv/generate.py: do not edit. -->

This page is generated from [`semconv/registry.yaml`](../semconv/registry.yaml): edit the
registry, then run `{COMMAND}`.

It lists every name otel-axolotl emits: span names, event names, metric names and attribute
keys. A test fails when the code emits a name that is not listed here, and the strict privacy
level drops every attribute key that is not listed (a fail-closed allowlist).

At the strict level values are fail-closed too: a string value leaves only when something
vouches for it (a number or boolean, a value its key's kind accepts, a token of the option
vocabulary, a whitelisted `org/name` model id, a package-relative stack frame). The kinds of
this SDK's own keys are in `otel_axolotl/privacy/schemas/otel_axolotl.yaml`, Axolotl's config
keys in `otel_axolotl/privacy/schemas/axolotl.yaml`, the vocabulary in
`otel_axolotl/privacy/vocabulary.yaml`. Everything else becomes a marker that says why:
`[REDACTED:secret]`, `[REDACTED:path]`, `[REDACTED:model]`, `[REDACTED:host]`,
`[REDACTED:address]`, `[REDACTED:email]`, `[REDACTED:user]`, `[REDACTED:code]`,
`[REDACTED:key]`, `[REDACTED:text]`, `[REDACTED:value]`, `[REDACTED:number]`.

## Privacy levels

Every destination is fed from one privacy stage, at one of two levels:

- **strict**: product analytics (PostHog) always uses it; OTLP uses it by default.
- **secrets-only**: OTLP only, when you opt in with `OTEL_AXOLOTL_PRIVACY=secrets-only`. Paths
  and model names are kept; secrets (tokens, keys, passwords, bearer headers) never are.

Product analytics is sent only with consent (`AXOLOTL_DO_NOT_TRACK=0`) and from one rank;
OTLP only to an endpoint you configured. Each run gets a fresh random id; there is no
persistent identity.

## Privacy classes

Each attribute has one privacy class, which says what each level does with it:

"""

# Per privacy class: what it holds, what strict does, what secrets-only does.
_MD_PRIVACY_CLASSES = {
    "public": (
        "Non-identifying by construction: counts, versions, enums, random ids.",
        "numbers and booleans kept; a string kept only when its kind accepts it, else a marker",
        "kept; string values still pass the secret rules",
    ),
    "whitelisted-name": (
        "A model or dataset name.",
        "kept only when its organisation is whitelisted, else `[REDACTED:model]`",
        "kept, after secret scrubbing",
    ),
    "redacted": ("May carry personal data.", "always `[REDACTED:text]`", "kept, after secret scrubbing"),
    "open": (
        "Free-form content handed over on purpose (the config, `send_event` properties, exception details).",
        "every nested key and value judged: registered or vocabulary keys, vouched-for values",
        "every nested key and value goes through the secret rules",
    ),
    "never": ("Listed so that nobody adds it.", "dropped", "dropped"),
}


def _md_description(attribute: Attribute) -> str:
    """Ours: the brief. OpenTelemetry's: a link to its definition, then how we use it."""
    if attribute.upstream is None:
        return attribute.brief
    link = f"OpenTelemetry: [{attribute.id}]({attribute.upstream})."
    return f"{link} {attribute.brief}" if attribute.brief else link


def render_markdown(registry: Any) -> str:
    """The text of docs/what-we-collect.md."""
    model = _valid_model(registry)
    out = [_MD_INTRO.rstrip("\n"), ""]
    out += _md_table(
        ["Class", "What it holds", "strict", "secrets-only"],
        ([_md_code(name), *_MD_PRIVACY_CLASSES[name]] for name in PRIVACY_CLASSES),
    )
    out += [
        "A template attribute, written `prefix.<key>`, is a namespace: every key under it has its class.",
        "",
    ]

    attributes = sorted(model.attributes.values(), key=lambda a: a.id)
    out += [f"## Attributes ({len(attributes)})", ""]
    out += _md_table(
        ["Name", "Type", "Privacy", "Description", "Example"],
        (
            [
                _md_code(f"{a.id}.<key>" if a.is_template else a.id),
                _md_code(a.type),
                _md_code(a.privacy),
                _md_description(a),
                ", ".join(_md_example(e) for e in a.examples),
            ]
            for a in attributes
        ),
    )

    out += [f"## Spans ({len(model.spans)})", ""]
    out += _md_table(
        ["Name", "Description", "Attributes"],
        ([_md_code(s.name), s.brief, _md_attribute_list(s.attributes)] for s in model.spans),
    )

    out += [f"## Events ({len(model.events)})", ""]
    out += [
        "Events travel as OpenTelemetry log records or span events. An event's body, where it has one,",
        "is free-form content of the `open` class: every key and value in it is scrubbed.",
        "",
    ]
    out += _md_table(
        ["Name", "Description", "Attributes"],
        (
            [
                _md_code(e.name) + (f" (any name matching {_md_code(e.pattern)})" if e.pattern else ""),
                e.brief,
                _md_attribute_list(e.attributes),
            ]
            for e in model.events
        ),
    )

    out += [f"## Metrics ({len(model.metrics)})", ""]
    out += _md_table(
        ["Name", "Instrument", "Unit", "Description", "Attributes"],
        (
            [
                _md_code(m.name),
                m.instrument or "",
                _md_code(m.unit or ""),
                m.brief,
                _md_attribute_list(m.attributes),
            ]
            for m in model.metrics
        ),
    )
    return "\n".join(out).rstrip("\n") + "\n"


# ---------------------------------------------------------------------------- command line


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
