"""Quotas: storage, experiments and jobs at once, per user; a refusal names the quota and what
to delete, and nothing partial is kept."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from tests.webapp.conftest import CUSTOMERS
from tests.webapp.factories import launch
from webapp.accounts import quotas
from webapp.accounts.models import ApiToken, Quota
from webapp.datasets.models import Dataset
from webapp.experiments.models import Experiment

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _kept_from_the_broker(sent):
    """Nothing here reaches the suite's real worker."""


def test_storage_counts_uploads_parquet_and_models(finished):
    used = quotas.usage(finished.owner)
    dataset = finished.dataset
    assert dataset.disk_bytes > dataset.size  # the upload and its Parquet copy
    assert finished.best.disk_bytes > 0
    assert used.storage == dataset.disk_bytes + finished.best.disk_bytes
    assert used.experiments == 0 and used.jobs == 0


def test_an_upload_past_the_storage_quota_is_refused_before_it_is_kept(client, alice, settings):
    settings.QUOTA_STORAGE = 2000
    _, token = ApiToken.issue(alice, "t")
    auth = {"Authorization": f"Bearer {token}"}
    folders = settings.MEDIA_ROOT / "datasets"
    folders.mkdir(parents=True, exist_ok=True)
    before = set(folders.iterdir()), set(settings.FILE_UPLOAD_TEMP_DIR.iterdir())
    upload = SimpleUploadedFile("customers.csv", CUSTOMERS.read_bytes())
    response = client.post("/api/v1/datasets", {"file": upload}, headers=auth)
    assert response.status_code == 413
    message = response.json()["detail"]
    assert "of your 2.0 KB storage quota" in message and "Delete datasets" in message
    assert not Dataset.objects.exists()
    assert (set(folders.iterdir()), set(settings.FILE_UPLOAD_TEMP_DIR.iterdir())) == before
    client.force_login(alice)
    again = SimpleUploadedFile("customers.csv", CUSTOMERS.read_bytes())
    page = client.post(reverse("datasets:upload"), {"file": again}, follow=True)
    assert "storage quota" in page.content.decode()
    settings.QUOTA_STORAGE = 10**9
    Quota.objects.create(user=alice, storage=100)  # the administrator's figure wins
    assert quotas.allowance(alice).storage == 100


def test_experiments_and_jobs_at_once_are_limited(client, alice, dataset, settings):
    settings.QUOTA_EXPERIMENTS = 1
    client.force_login(alice)
    assert launch(client, dataset).status_code == 302
    response = launch(client, dataset)
    assert response.status_code == 200  # the form again, saying why
    assert "experiments at once" in response.content.decode()
    assert Experiment.objects.count() == 1
    _, token = ApiToken.issue(alice, "t")
    api = client.post(
        "/api/v1/experiments",
        {"dataset": dataset.pk, "target": "churned"},
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert api.status_code == 429 and "experiments at once" in api.json()["detail"]

    settings.QUOTA_EXPERIMENTS, settings.QUOTA_JOBS = 5, 2
    assert launch(client, dataset).status_code == 302  # two jobs now: the second experiment
    upload = SimpleUploadedFile("more.csv", CUSTOMERS.read_bytes())
    refused = client.post("/api/v1/datasets", {"file": upload},
                          headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    assert refused.status_code == 429 and "jobs at once" in refused.json()["detail"]


def test_builds_and_files_to_score_count_as_jobs(client, deployed, settings):
    from tests.webapp.test_batches import batch_key

    deployment, _ = deployed
    experiment = deployment.current.candidate.experiment
    unbuilt = experiment.candidates.filter(state="complete", artifact="none").first()
    key = batch_key(client, deployment)
    settings.QUOTA_JOBS = 0
    response = client.post(f"/api/v1/models/{unbuilt.pk}/build")
    assert response.status_code == 429 and "jobs at once" in response.json()["detail"]
    unbuilt.refresh_from_db()
    assert unbuilt.artifact == "none"
    client.logout()
    batch = client.post(
        f"/api/v1/deployments/{deployment.slug}/batches",
        {"file": SimpleUploadedFile("rows.csv", CUSTOMERS.read_bytes())},
        headers={"Authorization": f"Bearer {key}"},
    )
    # The key holder is told the owner's quota is full, not what the owner stores.
    assert batch.status_code == 429 and "owner has reached a quota" in batch.json()["detail"]
    assert "GB" not in batch.json()["detail"]


def test_the_account_page_shows_usage(client, finished):
    page = client.get(reverse("accounts:profile")).content.decode()
    assert "What you use" in page and "Experiments running or queued" in page
    assert "of 20.0\xa0GB" in page


def test_uploads_sent_at_once_cannot_all_slip_under_the_quota(alice, settings):
    import threading

    from django.db import connection

    settings.QUOTA_JOBS = 3
    start = threading.Barrier(8)
    refused = []

    def upload():
        start.wait()
        try:
            Dataset.create_from_upload(alice, SimpleUploadedFile("c.csv", CUSTOMERS.read_bytes()))
        except quotas.QuotaExceeded:
            refused.append(1)
        finally:
            connection.close()

    threads = [threading.Thread(target=upload) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Dataset.objects.count() == 3 and len(refused) == 5


def test_strangers_uploads_are_never_read(client, deployed, settings):
    deployment, _ = deployed
    client.logout()
    before = set(settings.FILE_UPLOAD_TEMP_DIR.iterdir())
    big = SimpleUploadedFile("rows.csv", CUSTOMERS.read_bytes() * 50)
    response = client.post(f"/api/v1/deployments/{deployment.slug}/batches", {"file": big})
    assert response.status_code == 401
    # A multipart post to a page: refused before the body is read (then the CSRF check fails).
    page = client.post(reverse("datasets:upload"), {"file": big})
    assert page.status_code in (302, 403)
    assert set(settings.FILE_UPLOAD_TEMP_DIR.iterdir()) == before
