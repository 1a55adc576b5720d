"""The Prometheus pull endpoint, fed only through the privacy stage.

A ``PrometheusMetricReader`` is a pull reader: the HTTP server's thread asks it to collect at
each scrape, and the reader hands the collected ``MetricsData`` to its Prometheus collector.
That hand-over (``MetricReader._receive_metrics``, the SDK's one hook for a reader's data) is
where the destination's ``Scrubber`` runs here, so the collector only ever holds scrubbed
data: data point attributes and the resource (``target_info``) at the destination's level.
Fail closed: a collection that cannot be scrubbed is not handed over, and the scrape serves
nothing for it.

The endpoint has its own ``CollectorRegistry`` (not prometheus_client's global one, which the
host program may use for its own metrics) and its own server, stopped with the meter provider.
Imported only when the destination is used: ``prometheus_client`` is the extra
``otel-axolotl[prometheus]``.
"""

from __future__ import annotations

import logging
from typing import Any

from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics.export import MetricsData
from prometheus_client import CollectorRegistry, start_http_server

from . import settings as _s

_logger = logging.getLogger("otel_axolotl")


class Endpoint:
    """A listening HTTP server over one registry; readers are attached to it later."""

    def __init__(self, host: str, port: int) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self._server, self._thread = start_http_server(port, addr=host, registry=self.registry)
        self.host = host
        self.port = int(self._server.server_address[1])

    def reader(self, scrubber: Any) -> ScrubbedPrometheusReader:
        return ScrubbedPrometheusReader(scrubber, self)

    def close(self) -> None:
        try:
            self._server.shutdown()
            self._server.server_close()
        except Exception:
            _logger.debug("otel-axolotl: stopping the Prometheus endpoint failed", exc_info=True)


class ScrubbedPrometheusReader(PrometheusMetricReader):
    """The exporter's reader, with the privacy stage between collection and the collector."""

    def __init__(self, scrubber: Any, endpoint: Endpoint) -> None:
        super().__init__(registry=endpoint.registry)
        self._scrubber = scrubber
        self._endpoint = endpoint

    def _receive_metrics(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> None:
        if metrics_data is None:
            return
        try:
            clean = self._scrubber.metrics(metrics_data)
        except Exception:  # fail closed: nothing unscrubbed is ever served
            _s.warn_once(
                "prometheus:scrub",
                "otel-axolotl: metrics the privacy stage could not scrub were not served to Prometheus.",
            )
            _logger.debug("otel-axolotl: scrubbing for Prometheus failed", exc_info=True)
            return
        super()._receive_metrics(clean, timeout_millis, **kwargs)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        try:
            super().shutdown(timeout_millis=timeout_millis, **kwargs)
        finally:
            self._endpoint.close()
