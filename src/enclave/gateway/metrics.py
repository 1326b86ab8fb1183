"""Prometheus metrics of the client APIs, exposed at ``/metrics``.

Labels are bounded sets (API, status class, outcome, advice, provider): never an
organisation, key or session, which would grow without limit and identify callers.
Each gateway has its own CollectorRegistry, so that two apps in one process (tests)
do not share counters.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

# Seconds. The low buckets resolve the gateway's own overhead (budget: 1 ms p50).
_OVERHEAD_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
)  # fmt: skip
_LATENCY_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120,
)  # fmt: skip


class GatewayMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "enclave_gateway_requests",
            "Client API requests by API, HTTP status and outcome.",
            ["api", "status", "outcome"],
            registry=r,
        )
        self.decisions = Counter(
            "enclave_gateway_policy_decisions",
            "Policy decisions by advice.",
            ["advice"],
            registry=r,
        )
        self.latency = Histogram(
            "enclave_gateway_request_duration_seconds",
            "Total time from request to the last byte of the response.",
            ["api", "stream"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.overhead = Histogram(
            "enclave_gateway_overhead_seconds",
            "Time the gateway added: the total minus the time spent waiting on the upstream.",
            ["api", "stream"],
            buckets=_OVERHEAD_BUCKETS,
            registry=r,
        )
        self.upstream_errors = Counter(
            "enclave_gateway_upstream_errors",
            "Upstream failures by provider and kind (status, timeout, connect, stream).",
            ["provider", "kind"],
            registry=r,
        )
        self.stream_bytes = Counter(
            "enclave_gateway_stream_bytes",
            "Bytes of streamed responses delivered to clients.",
            ["api"],
            registry=r,
        )
        self.events_pending = Gauge(
            "enclave_gateway_events_pending",
            "Events queued for the next batch write.",
            registry=r,
        )

        # prometheus_client's labels() costs a lock and a tuple build per call (about 4 us
        # here); the label sets are few, so their children are looked up once.
        self._observed: dict[tuple[str, bool, int, str], tuple[Any, Any, Any]] = {}
        self._advice: dict[str, Any] = {}

    def decided(self, advice: str) -> None:
        child = self._advice.get(advice)
        if child is None:
            child = self._advice[advice] = self.decisions.labels(advice)
        child.inc()

    def track_pending(self, pending: Callable[[], int]) -> None:
        self.events_pending.set_function(lambda: float(pending()))

    def observe(
        self,
        *,
        api: str,
        stream: bool,
        status: int,
        outcome: str,
        total: float,
        overhead: float,
    ) -> None:
        key = (api, stream, status, outcome)
        children = self._observed.get(key)
        if children is None:
            mode = "true" if stream else "false"
            children = self._observed[key] = (
                self.requests.labels(api, str(status), outcome),
                self.latency.labels(api, mode),
                self.overhead.labels(api, mode),
            )
        requests, latency, added = children
        requests.inc()
        latency.observe(total)
        added.observe(overhead)

    def exposition(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


__all__ = ["GatewayMetrics"]
