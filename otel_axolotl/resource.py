"""The run's resource: what every span, event and metric says about where it comes from.

The SDK's own facts (run id, rank, non-identifying system facts; never host name, user or
command line), plus what the user configured for their own backend (OTEL_RESOURCE_ATTRIBUTES,
OTEL_SERVICE_NAME, the ``service.name`` of their global TracerProvider). The privacy stage
treats the two apart (``user_configured_keys``): the user's keys reach their destinations at
every level with only secrets removed, and never product analytics. Built from the settings,
never from ``Resource.create()``, which would read the environment itself.
"""

from __future__ import annotations

import platform
import sys
import uuid
from collections.abc import Mapping
from typing import Any

from opentelemetry import trace

from . import semconv as sc
from . import settings as _s
from .version import __version__

HOST_ARCH = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "aarch64": "arm64",
    "arm64": "arm64",
    "armv7l": "arm32",
    "armv6l": "arm32",
    "arm": "arm32",
    "i386": "x86",
    "i686": "x86",
    "x86": "x86",
    "ia64": "ia64",
    "ppc": "ppc32",
    "ppc64": "ppc64",
    "ppc64le": "ppc64",
    "s390x": "s390x",
}
"""``platform.machine()`` -> the well-known values of the ``host.arch`` convention."""
DEFAULT_SERVICE_NAME = "otel-axolotl"


def host_arch(machine: str | None = None) -> str:
    raw = (platform.machine() if machine is None else machine).lower()
    return HOST_ARCH.get(raw, raw)


def resource_attributes(
    settings: _s.Settings, run_id: str, library_name: str | None, library_version: str | None
) -> dict[str, Any]:
    """The run's resource: run id, rank, non-identifying system facts. Never host, user, argv.

    What the user configured for their own backend joins them (``OTEL_RESOURCE_ATTRIBUTES``;
    ``service.name`` from ``OTEL_SERVICE_NAME``, else from OTEL_RESOURCE_ATTRIBUTES, else from
    the user's own global TracerProvider, else ours): see ``user_configured_keys``. The SDK's
    facts win over a configured key of the same name (the run id, the rank cannot be
    overridden by accident)."""
    rank = settings.rank
    attrs: dict[str, Any] = {
        sc.ATTR_TELEMETRY_SDK_LANGUAGE: "python",
        sc.ATTR_TELEMETRY_SDK_NAME: "opentelemetry",
        sc.ATTR_TELEMETRY_SDK_VERSION: _sdk_version(),
        sc.ATTR_SERVICE_VERSION: library_version or __version__,
        sc.ATTR_SERVICE_INSTANCE_ID: uuid.uuid4().hex,
        sc.ATTR_TELEMETRY_DISTRO_NAME: "otel-axolotl",
        sc.ATTR_TELEMETRY_DISTRO_VERSION: __version__,
        sc.ATTR_RUN_ID: run_id,
        sc.ATTR_RANK: rank.rank,
        sc.ATTR_LOCAL_RANK: rank.local_rank,
        sc.ATTR_WORLD_SIZE: rank.world_size,
        sc.ATTR_PROCESS_RUNTIME_NAME: sys.implementation.name,
        sc.ATTR_PROCESS_RUNTIME_VERSION: platform.python_version(),
        sc.ATTR_OS_TYPE: sys.platform if sys.platform != "win32" else "windows",
        sc.ATTR_HOST_ARCH: host_arch(),
    }
    if library_name:
        attrs[sc.ATTR_LIBRARY_NAME] = library_name
    if library_version:
        attrs[sc.ATTR_LIBRARY_VERSION] = library_version
    configured = {k: v for k, v in settings.user_resource.items() if k not in attrs}
    service = configured.pop(sc.ATTR_SERVICE_NAME, None) or _global_service_name()
    attrs[sc.ATTR_SERVICE_NAME] = service or settings.service_name or DEFAULT_SERVICE_NAME
    return {**configured, **attrs}


SDK_RESOURCE_KEYS = frozenset(
    {
        sc.ATTR_TELEMETRY_SDK_LANGUAGE,
        sc.ATTR_TELEMETRY_SDK_NAME,
        sc.ATTR_TELEMETRY_SDK_VERSION,
        sc.ATTR_SERVICE_VERSION,
        sc.ATTR_SERVICE_INSTANCE_ID,
        sc.ATTR_TELEMETRY_DISTRO_NAME,
        sc.ATTR_TELEMETRY_DISTRO_VERSION,
        sc.ATTR_RUN_ID,
        sc.ATTR_RANK,
        sc.ATTR_LOCAL_RANK,
        sc.ATTR_WORLD_SIZE,
        sc.ATTR_PROCESS_RUNTIME_NAME,
        sc.ATTR_PROCESS_RUNTIME_VERSION,
        sc.ATTR_OS_TYPE,
        sc.ATTR_HOST_ARCH,
        sc.ATTR_LIBRARY_NAME,
        sc.ATTR_LIBRARY_VERSION,
    }
)
"""The resource facts computed here (``service.name`` is not one: the user may choose it)."""


def user_configured_keys(attributes: Mapping[str, Any]) -> frozenset[str]:
    """Resource keys whose values the user chose for their own backend (not computed here):
    they reach OTLP, console and file at every level with only secrets removed, never PostHog."""
    keys = {k for k in attributes if k not in SDK_RESOURCE_KEYS}
    if attributes.get(sc.ATTR_SERVICE_NAME) == DEFAULT_SERVICE_NAME:
        keys.discard(sc.ATTR_SERVICE_NAME)
    return frozenset(keys)


def _global_service_name() -> str | None:
    """``service.name`` of the user's own global TracerProvider (``trace.set_tracer_provider``,
    or ``opentelemetry-instrument``'s), so one process reports one service."""
    resource = getattr(trace.get_tracer_provider(), "resource", None)
    name = getattr(resource, "attributes", {}).get(sc.ATTR_SERVICE_NAME)
    if isinstance(name, str) and name and not name.startswith("unknown_service"):
        return name
    return None


def _sdk_version() -> str:
    from importlib.metadata import version

    try:
        return version("opentelemetry-sdk")
    except Exception:
        return "unknown"
