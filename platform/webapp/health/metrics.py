"""Prometheus metrics for ``GET /metrics``: prediction requests, errors and latency per
deployment, jobs by kind, state and queue, and the workers serving each queue.

Counters live in the process that answers the request; with several gunicorn workers they are
shared through ``PROMETHEUS_MULTIPROC_DIR`` (prometheus_client's multiprocess mode, set up by
the launcher), so a scrape sees every process's counts. Jobs and workers are read at scrape
time from the database and the broker. The endpoint answers only the bearer of
``METRICS_TOKEN``, and is off while that setting is empty.
"""

from __future__ import annotations

import hmac
import os

from django.conf import settings
from django.db.models import Count
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily

PREDICTIONS = Counter(
    "automl_prediction_requests",
    "Prediction requests answered, by deployment and HTTP status",
    ["deployment", "status"],
)
PREDICTION_SECONDS = Histogram(
    "automl_prediction_seconds",
    "Time to answer a prediction request, by deployment",
    ["deployment"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


def prediction(slug: str, status: int, seconds: float) -> None:
    """Count one answered request of an existing deployment (unknown slugs are not counted:
    anyone can make them up)."""
    PREDICTIONS.labels(slug, str(status)).inc()
    PREDICTION_SECONDS.labels(slug).observe(seconds)


class Platform:
    """Jobs and workers, read at scrape time (a custom collector)."""

    def collect(self):
        from webapp.datasets.models import Dataset
        from webapp.deployments.models import Batch
        from webapp.experiments.models import Experiment

        jobs = GaugeMetricFamily(
            "automl_jobs", "Jobs by kind, state and queue", labels=["kind", "state", "queue"]
        )
        kinds = [("dataset", Dataset, settings.SHORT_QUEUE),
                 ("experiment", Experiment, settings.TRAINING_QUEUE),
                 ("batch", Batch, settings.SHORT_QUEUE)]  # fmt: skip
        for kind, model, queue in kinds:
            counts = dict(model.objects.order_by().values_list("status").annotate(n=Count("pk")))
            for state in model.Status.values:
                jobs.add_metric([kind, state, queue], counts.get(state, 0))
        yield jobs
        workers = GaugeMetricFamily(
            "automl_workers", "Celery workers answering, by queue they serve", labels=["queue"]
        )
        for queue, count in _workers().items():
            workers.add_metric([queue], count)
        yield workers


def _workers() -> dict[str, int]:
    from webapp.health import checks

    served = dict.fromkeys(settings.WORKER_QUEUES, 0)
    if not checks.broker().ok:
        return served
    for queue in checks.served_queues():
        served[queue] = served.get(queue, 0) + 1
    return served


def exposition() -> tuple[bytes, str]:
    """The metrics as Prometheus text and its content type."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        for collector in (PREDICTIONS, PREDICTION_SECONDS):
            registry.register(collector)
    registry.register(Platform())
    return generate_latest(registry), CONTENT_TYPE_LATEST


def allowed(authorization: str) -> bool | None:
    """Whether the ``Authorization`` header carries ``METRICS_TOKEN``; None when metrics are
    off (no token set)."""
    token = settings.METRICS_TOKEN
    if not token:
        return None
    sent = authorization.removeprefix("Bearer ").strip()
    return hmac.compare_digest(sent.encode(), token.encode())
