"""Render docs/what-we-collect.md: the registry as a page for people deciding what to allow.

Besides the tables of attributes, spans, events and metrics (each with its privacy class), the
page explains the privacy levels and classes in prose written here, so that the one page a user
reads about our data is complete. Like the Python module, it is a pure function of the registry.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from .model import COMMAND, PRIVACY_CLASSES, Attribute, one_line, valid_model


def _md_code(text: str) -> str:
    fence = "``" if "`" in text else "`"
    pad = " " if "`" in text else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _md_cell(text: str) -> str:
    return one_line(text).replace("|", "\\|")


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
    model = valid_model(registry)
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
