"""/healthz reports the database, Redis and the workers; the header warns when no worker runs."""

import pytest
from django.urls import reverse

from webapp.health.tasks import probe
from webapp.lib import redis_server


@pytest.fixture
def no_redis(settings):
    url = f"redis://127.0.0.1:{redis_server.free_port()}/0"
    settings.REDIS_URL = settings.CELERY_BROKER_URL = url


@pytest.fixture
def no_worker(settings, redis_url):
    # A Redis database no worker listens on: Redis answers, no worker does.
    settings.CELERY_BROKER_URL = redis_url.rsplit("/", 1)[0] + "/15"


@pytest.mark.integration
@pytest.mark.django_db
def test_all_up(client, celery_worker):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["down"] == []
    assert all(check["ok"] for check in body["checks"].values())
    assert set(body["checks"]) == {"database", "redis", "workers"}
    assert body["checks"]["workers"]["detail"] == "Workers serve every queue (short, training)"


@pytest.mark.django_db
def test_no_worker_is_503_naming_the_workers(client, no_worker):
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["down"] == ["workers"]
    assert "No Celery worker" in body["checks"]["workers"]["detail"]


@pytest.mark.django_db
def test_redis_down_is_503_naming_redis_and_workers(client, no_redis):
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["down"] == ["redis", "workers"]


def test_database_down_is_503_naming_the_database(client, db, monkeypatch):
    from django.db import DatabaseError, connection

    def refuse(*args, **kwargs):
        raise DatabaseError("connection refused")

    with monkeypatch.context() as patch:
        patch.setattr(connection, "cursor", refuse)
        response = client.get("/healthz")
    assert response.status_code == 503
    assert "database" in response.json()["down"]


def test_header_badge_warns_when_no_worker_runs(client, alice, no_worker):
    client.force_login(alice)
    page = client.get(reverse("datasets:index")).content.decode()
    assert reverse("health:worker_badge") in page
    badge = client.get(reverse("health:worker_badge")).content.decode()
    assert "No worker running" in badge


@pytest.mark.integration
@pytest.mark.django_db
def test_header_badge_is_empty_while_a_worker_runs(client, celery_worker):
    assert client.get(reverse("health:worker_badge")).content.decode().strip() == ""


@pytest.mark.integration
@pytest.mark.django_db
def test_a_task_runs_on_a_real_worker_through_redis(celery_worker):
    from django.db import connection
    from django.db.migrations.recorder import MigrationRecorder

    result = probe.delay().get(timeout=60)
    # The worker is a separate process reached through the broker, and it works on the same
    # database as this test.
    assert result["database"] == str(connection.settings_dict["NAME"])
    assert result["migrations"] == MigrationRecorder(connection).migration_qs.count() > 0


@pytest.mark.django_db
def test_a_queue_without_a_worker_is_named(client, alice, monkeypatch):
    from celery.app.control import Inspect

    # What a lone short worker answers: nothing would train.
    only_short = {"short@vm": [{"name": "short", "routing_key": "short"}]}
    monkeypatch.setattr(Inspect, "active_queues", lambda self: only_short)
    response = client.get("/healthz")
    assert response.status_code == 503 and response.json()["down"] == ["workers"]
    detail = response.json()["checks"]["workers"]["detail"]
    assert detail == "No worker serves the training queue: experiments wait until one starts."
    client.force_login(alice)
    assert "No training worker running" in client.get("/healthz/badge").content.decode()
