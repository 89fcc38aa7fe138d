"""GET /metrics: Prometheus text for the bearer of METRICS_TOKEN, with prediction requests,
errors and latency per deployment, jobs by state and queue, and workers by queue; counts of
several web processes add up (prometheus_client's multiprocess mode)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, multiprocess
from prometheus_client.parser import text_string_to_metric_families

from tests.webapp.test_deployments import example, predict

ROOT = Path(__file__).parents[2]
TOKEN = "metrics-token-for-tests"


def scrape(client) -> dict:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    families = text_string_to_metric_families(response.content.decode())
    return {sample.name + json.dumps(sample.labels, sort_keys=True): sample.value
            for family in families for sample in family.samples}  # fmt: skip


def value(samples: dict, name: str, **labels) -> float:
    return samples.get(name + json.dumps(labels, sort_keys=True), 0.0)


@pytest.mark.django_db
def test_metrics_are_off_without_a_token_and_need_it(client, settings):
    settings.METRICS_TOKEN = ""
    off = client.get("/metrics")
    assert off.status_code == 404 and "METRICS_TOKEN" in off.json()["detail"]
    settings.METRICS_TOKEN = TOKEN
    assert client.get("/metrics").status_code == 401
    wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong["WWW-Authenticate"] == "Bearer"


@pytest.mark.django_db(transaction=True)
def test_predictions_jobs_and_workers_are_counted(client, deployed, settings, sent):
    settings.METRICS_TOKEN = TOKEN
    deployment, key = deployed
    slug = deployment.slug
    before = scrape(client)
    assert predict(client, slug, {"rows": [example(deployment)]}, key).status_code == 200
    assert predict(client, slug, {"rows": [{"colour": "red"}]}, key).status_code == 422
    assert predict(client, "no-such-deployment", {"rows": []}, key).status_code == 404
    after = scrape(client)

    def added(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert added("automl_prediction_requests_total", deployment=slug, status="200") == 1
    assert added("automl_prediction_requests_total", deployment=slug, status="422") == 1
    assert added("automl_prediction_seconds_count", deployment=slug) == 2
    assert added("automl_prediction_seconds_bucket", deployment=slug, le="+Inf") == 2
    assert not any("no-such-deployment" in name for name in after)  # made-up slugs
    queue = settings.TRAINING_QUEUE
    assert value(after, "automl_jobs", kind="experiment", state="finished", queue=queue) == 1
    assert value(after, "automl_jobs", kind="dataset", state="ready", queue=settings.SHORT_QUEUE)
    assert (
        value(after, "automl_jobs", kind="batch", state="queued", queue=settings.SHORT_QUEUE) == 0
    )
    for queue in settings.WORKER_QUEUES:
        assert f'automl_workers{{"queue": "{queue}"}}' in after


def test_counts_of_several_processes_add_up(tmp_path):
    """Two web processes count requests into one folder; a scrape reads their sum."""
    count = (
        "from webapp.health import metrics\n"
        "for _ in range(3): metrics.prediction('churn', 200, 0.02)\n"
        "metrics.prediction('churn', 503, 1.5)\n"
    )
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
           "PYTHONPATH": f"{ROOT / 'platform'}:{ROOT}"}  # fmt: skip
    for _ in range(2):
        subprocess.run([sys.executable, "-c", count], env=env, check=True, timeout=60)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(tmp_path))
    requests = registry.get_sample_value
    assert (
        requests("automl_prediction_requests_total", {"deployment": "churn", "status": "200"}) == 6
    )
    assert (
        requests("automl_prediction_requests_total", {"deployment": "churn", "status": "503"}) == 2
    )
    assert requests("automl_prediction_seconds_bucket", {"deployment": "churn", "le": "0.025"}) == 6
