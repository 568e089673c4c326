"""Prometheus metrics: what happened in this process (counters, histograms) and what the database
holds at the moment of the scrape (gauges, :class:`Snapshot`).

The in-process metrics live in one registry of their own, so a test or a second app in the same
process never collides with the default registry's collectors. Recording one costs a dictionary
look-up and a lock, a few microseconds: cheap enough for the notification path.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

REGISTRY = CollectorRegistry(auto_describe=True)

NOTIFICATIONS = Counter(
    "silverpay_notifications",
    "Inbound WeChat notifications by API version, endpoint and outcome",
    ["api_version", "endpoint", "outcome"],
    registry=REGISTRY,
)
SETTLE_SECONDS = Histogram(
    "silverpay_notification_settle_seconds",
    "From a notification's arrival to its answer (verified, settled and committed)",
    ["api_version"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=REGISTRY,
)
WECHAT_CALLS = Counter(
    "silverpay_wechat_calls",
    "Calls to WeChat by API version, endpoint and outcome (OK, or the error code: WeChat's err_code / "
    "errcode, or UPSTREAM_UNAVAILABLE when the outcome is unknown)",
    ["api_version", "endpoint", "code"],
    registry=REGISTRY,
)
WECHAT_SECONDS = Histogram(
    "silverpay_wechat_call_seconds",
    "Duration of calls to WeChat by endpoint",
    ["api_version", "endpoint"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
    registry=REGISTRY,
)

_SLUG = re.compile(r"[^a-z0-9]+")


def outcome_label(message: str) -> str:
    """A notification answer's message as a label value: ``unknown order`` → ``unknown_order``."""
    return _SLUG.sub("_", message.lower()).strip("_")[:40] or "unknown"


@dataclass(frozen=True)
class Snapshot:
    """The database's side of the metrics, read at scrape time (:mod:`silverpay.service.observability`)."""

    orders_by_status: dict[str, int] = field(default_factory=dict)
    sweep_backlog: int = 0
    sweep_oldest_due_s: float = 0.0
    refunds_processing: int = 0
    refunds_processing_oldest_s: float = 0.0
    needs_review: int = 0
    discrepancies_open: int = 0
    workers_live: int = 0
    worker_heartbeat_age_s: float | None = None  # None: no worker has written a heartbeat


class _SnapshotCollector(Collector):
    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot

    def collect(self) -> list[GaugeMetricFamily]:
        s = self.snapshot
        orders = GaugeMetricFamily("silverpay_orders", "Orders by status", labels=["status"])
        for status, count in sorted(s.orders_by_status.items()):
            orders.add_metric([status], count)
        heartbeat = GaugeMetricFamily(
            "silverpay_worker_heartbeat_age_seconds",
            "Seconds since the latest worker heartbeat (absent when none was ever written)",
        )
        if s.worker_heartbeat_age_s is not None:
            heartbeat.add_metric([], s.worker_heartbeat_age_s)
        return [
            orders,
            GaugeMetricFamily("silverpay_sweep_backlog", "PAYING orders due for a query by the sweeper",
                              value=s.sweep_backlog),
            GaugeMetricFamily("silverpay_sweep_oldest_due_seconds",
                              "How long the longest-waiting due PAYING order has been due (0 when none)",
                              value=s.sweep_oldest_due_s),
            GaugeMetricFamily("silverpay_refunds_processing", "Refunds in PROCESSING", value=s.refunds_processing),
            GaugeMetricFamily("silverpay_refunds_processing_oldest_seconds",
                              "Age of the oldest refund still PROCESSING (0 when none)",
                              value=s.refunds_processing_oldest_s),
            GaugeMetricFamily("silverpay_orders_needs_review", "Orders flagged for an operator",
                              value=s.needs_review),
            GaugeMetricFamily("silverpay_reconciliation_discrepancies_open",
                              "Unresolved discrepancies of the latest reconciliation run of each day",
                              value=s.discrepancies_open),
            GaugeMetricFamily("silverpay_workers_live", "Workers whose heartbeat is recent (within three beats)",
                              value=s.workers_live),
            heartbeat,
        ]  # fmt: skip


def render(snapshot: Snapshot) -> bytes:
    """The exposition text: this process's counters and histograms, then the database's gauges.
    With ``PROMETHEUS_MULTIPROC_DIR`` set (before start), counters are summed over every process."""
    gauges = CollectorRegistry(auto_describe=False)
    gauges.register(_SnapshotCollector(snapshot))
    return _process_metrics() + generate_latest(gauges)


def _process_metrics() -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(REGISTRY)
