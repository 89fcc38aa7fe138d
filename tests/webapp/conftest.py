import time
from pathlib import Path
from unittest import mock

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from tests.webapp.factories import launch, make_user
from webapp.datasets.models import Dataset
from webapp.datasets.tasks import ingest_dataset
from webapp.deployments.models import Deployment
from webapp.experiments.models import Experiment

CUSTOMERS = Path(__file__).resolve().parents[1] / "data" / "customers.csv"


@pytest.fixture(scope="session", autouse=True)
def _static_files(static_root):
    """Pages render with the production static storage, whose manifest collectstatic writes."""


@pytest.fixture(autouse=True)
def _fresh_limits(redis_url):
    """Counts of failed logins and predictions start at zero in every test."""
    import redis

    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter("limit:*"):
        client.delete(key)
    yield
    client.close()


@pytest.fixture(autouse=True)
def _fresh_serving_caches():
    """Each test's database starts its ids again: what one test served must not leak."""
    from webapp.deployments import serving

    serving.forget()


@pytest.fixture
def eager(monkeypatch):
    """Tasks run in the test's process when enqueued, so unit tests see their results."""
    from webapp.celery_app import app

    monkeypatch.setitem(app.conf, "task_always_eager", True)


@pytest.fixture
def alice(db):
    return make_user("alice")


@pytest.fixture
def bob(db):
    return make_user("bob")


# Experiments on the shipped customers table, trained by the real engine in seconds.
@pytest.fixture
def sent(monkeypatch):
    """Tasks sent to the broker, kept here: the suite's real worker must not take them.
    Eager tasks (the ``eager`` fixture) still run in the test's process."""
    from webapp.celery_app import app

    send = mock.Mock()
    monkeypatch.setattr(app, "send_task", send)
    return send


@pytest.fixture
def dataset(alice):
    upload = SimpleUploadedFile("customers.csv", CUSTOMERS.read_bytes())
    dataset = Dataset.create_from_upload(alice, upload)
    ingest_dataset(dataset.pk)
    dataset.refresh_from_db()
    # With committed rows the upload's message reaches the suite's worker too, which may have
    # claimed the ingestion first: it is then done there.
    deadline = time.monotonic() + 60
    while dataset.status == "processing" and time.monotonic() < deadline:
        time.sleep(0.1)
        dataset.refresh_from_db()
    assert dataset.status == "ready", dataset.error
    return dataset


@pytest.fixture
def quick_runs(monkeypatch, settings):
    """Runs stop after four candidates, and beat often, so each test takes seconds."""
    settings.HEARTBEAT_SECONDS = 0.05
    engine_settings = Experiment.engine_settings
    monkeypatch.setattr(
        Experiment, "engine_settings", lambda self: {**engine_settings(self), "n_trials": 4}
    )


@pytest.fixture
def finished(
    transactional_db, client, alice, dataset, eager, quick_runs, django_capture_on_commit_callbacks
):
    """An experiment trained in the test's process. Its heartbeat thread has its own database
    connection, which sees only committed rows: hence ``transactional_db``."""
    client.force_login(alice)
    with django_capture_on_commit_callbacks(execute=True):
        response = launch(client, dataset)
    assert response.status_code == 302, response.content
    experiment = Experiment.objects.get()
    assert experiment.status == "finished", experiment.error
    return experiment


@pytest.fixture
def deployed(client, finished):
    """The best model of a finished experiment, deployed from its page."""
    response = client.post(reverse("deployments:create", args=[finished.best_id]))
    deployment = Deployment.objects.get()
    assert response.url == reverse("deployments:detail", args=[deployment.slug])
    page = client.get(response.url).content.decode()
    key = page.split('id="new-key" readonly value="')[1].split('"')[0]
    return deployment, key
