"""Batch scoring end to end: a file uploaded through the API is scored by a real worker."""

import csv
import io
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.webapp.conftest import CUSTOMERS

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_a_real_worker_scores_an_uploaded_file(client, deployed, monkeypatch, celery_worker):
    from webapp.celery_app import app

    monkeypatch.setitem(app.conf, "task_always_eager", False)  # the real queue, from here on
    deployment, key = deployed
    auth = {"Authorization": f"Bearer {key}"}
    url = f"/api/v1/deployments/{deployment.slug}/batches"
    file = SimpleUploadedFile("rows.csv", CUSTOMERS.read_bytes())
    response = client.post(url, {"file": file}, headers=auth)
    assert response.status_code == 202, response.content

    deadline = time.monotonic() + 60
    while (body := client.get(f"{url}/{response.json()['id']}", headers=auth).json())["status"] in (
        "queued",
        "running",
    ) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert body["status"] == "finished", body["error"]
    download = client.get(body["result"], headers=auth)
    rows = list(
        csv.DictReader(io.StringIO(b"".join(download.streaming_content).decode("utf-8-sig")))
    )
    assert len(rows) == body["rows_done"] == 150
    assert {r["prediction"] for r in rows} <= {"yes", "no"}
