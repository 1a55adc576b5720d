"""The registry's model: load semconv/registry.yaml, validate it, and name its constants.

The registry is OpenTelemetry semantic-conventions-shaped YAML: groups of type attribute_group,
span, event and metric; every attribute carries our extra field `privacy`. A template attribute
(type `template[...]`) registers a namespace: `axolotl.config` covers `axolotl.config.<key>`.
Validation collects every problem, each naming the group and the field, so that one run of the
generator shows them all; the renderers (python_module, markdown_page) only ever see a valid model.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
REGISTRY_PATH = ROOT / "semconv" / "registry.yaml"
COMMAND = "python semconv/generate.py"
"""How to regenerate; the generated files and the error messages name it."""

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

UPSTREAM_PREFIX = "https://opentelemetry.io/docs/specs/semconv/registry/attributes"


@dataclass(frozen=True)
class Attribute:
    """A registered attribute key; a template attribute stands for its whole namespace."""

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
    """A parsed registry: attributes by id, and the signals sorted by name (stable output)."""

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


def event_pattern_constant(event: Signal) -> str:
    """An event family has no name constant, only its compiled pattern: `EVENT_<GROUP>_PATTERN`."""
    return constant_name("EVENT", event.group.removeprefix("event.")) + "_PATTERN"


def one_line(text: str) -> str:
    """YAML folded text with its line breaks and runs of spaces collapsed."""
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
    return Attribute(aid, atype, privacy, one_line(brief), tuple(examples), group, upstream)


def _parse_signal(
    kind: str, where: str, group: dict[str, Any], refs: list[str], errors: list[str]
) -> Signal | None:
    count = len(errors)
    brief = one_line(group.get("brief") or "")
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
        constant = event_pattern_constant(signal) if signal.pattern else constant_name("EVENT", signal.name)
        owners.setdefault(constant, []).append(f"event {signal.name!r}")
    return [
        f"constant {constant} would name several things: {', '.join(sorted(things))}; rename one"
        for constant, things in sorted(owners.items())
        if len(things) > 1
    ]


def valid_model(registry: Any) -> Model:
    """The model of a registry the caller has validated; raises ValueError listing the problems if not."""
    model, errors = _parse(registry)
    if errors:
        raise ValueError("invalid registry:\n" + "\n".join(errors))
    return model
