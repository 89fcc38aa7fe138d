"""The Datasets pages and API: upload, owner-only access, corrections, target, delete."""

from pathlib import Path
from unittest import mock

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from webapp.accounts.models import ApiToken
from webapp.datasets.models import Dataset
from webapp.datasets.tasks import ingest_dataset

CSV = b"age,city,bought\n" + b"".join(
    f"{20 + i % 40},{['Paris', 'Lyon', 'Nice'][i % 3]},{'yes' if i % 4 else 'no'}\n".encode()
    for i in range(80)
)


def upload(client, content=CSV, filename="customers.csv", **extra):
    return client.post(
        reverse("datasets:upload"),
        {"file": SimpleUploadedFile(filename, content), **extra},
        headers={"Accept": "application/json"},
    )


@pytest.fixture
def ready(alice):
    dataset = Dataset.create_from_upload(alice, SimpleUploadedFile("customers.csv", CSV))
    ingest_dataset(dataset.pk)
    dataset.refresh_from_db()
    return dataset


def test_upload_stores_the_file_and_queues_ingestion(
    client, alice, django_capture_on_commit_callbacks
):
    client.force_login(alice)
    with (
        mock.patch("webapp.datasets.tasks.ingest_dataset.apply_async") as send,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = upload(client, name="Customers 2026")
    assert response.status_code == 201
    dataset = Dataset.objects.get()
    assert response.json() == {
        "id": dataset.pk,
        "url": reverse("datasets:detail", args=[dataset.pk]),
    }
    send.assert_called_once_with((dataset.pk,))
    assert (dataset.name, dataset.filename, dataset.status) == (
        "Customers 2026",
        "customers.csv",
        "uploaded",
    )
    assert dataset.upload_path.read_bytes() == CSV
    assert str(dataset.key) in str(dataset.upload_path)  # never the client's file name
    assert dataset.size == len(CSV)


def test_name_defaults_to_the_file_name(client, alice):
    client.force_login(alice)
    upload(client, filename="sales.csv.gz", content=b"\x1f\x8b")
    assert Dataset.objects.get().name == "sales.csv.gz"


def test_file_names_cannot_reach_outside_the_data_directory(client, alice, settings):
    client.force_login(alice)
    upload(client, filename="../../../etc/evil.csv")
    dataset = Dataset.objects.get()
    assert dataset.upload_path.resolve().is_relative_to(Path(settings.MEDIA_ROOT).resolve())
    assert dataset.upload_path.name == "upload.csv"


def test_unsupported_files_are_refused_in_plain_words(client, alice):
    client.force_login(alice)
    response = upload(client, filename="notes.docx")
    assert response.status_code == 400
    assert "not a supported file" in response.json()["error"]
    assert not Dataset.objects.exists()


def test_files_over_the_limit_get_413(client, alice, settings):
    settings.MAX_UPLOAD_SIZE = 1000
    client.force_login(alice)
    response = upload(client, content=b"a,b\n" + b"1,2\n" * 1000)
    assert response.status_code == 413
    assert "larger than the 1000 bytes" in response.json()["error"]
    assert not Dataset.objects.exists()


def test_upload_without_script_redirects(client, alice):
    client.force_login(alice)
    response = client.post(reverse("datasets:upload"), {"file": SimpleUploadedFile("a.csv", CSV)})
    assert response.status_code == 302
    assert response.url == reverse("datasets:detail", args=[Dataset.objects.get().pk])


def test_dataset_page_shows_the_profile(client, ready):
    client.force_login(ready.owner)
    page = client.get(reverse("datasets:detail", args=[ready.pk])).content.decode()
    assert "80</strong> rows" in page
    assert '<svg class="chart"' in page  # the age histogram
    assert "topvalue" in page  # the city's top values
    assert "Paris" in page


def test_page_polls_while_processing(client, alice):
    client.force_login(alice)
    upload(client)
    dataset = Dataset.objects.get()
    page = client.get(reverse("datasets:detail", args=[dataset.pk])).content.decode()
    assert 'hx-trigger="every 1s"' in page
    body = client.get(
        reverse("datasets:detail", args=[dataset.pk]),
        headers={"HX-Request": "true", "HX-Target": "dataset-body"},
    )
    assert "<html" not in body.content.decode()


def test_kinds_can_be_corrected(client, ready):
    client.force_login(ready.owner)
    url = reverse("datasets:set_kind", args=[ready.pk])
    client.post(url, {"column": "age", "kind": "categorical"})
    client.post(url, {"column": "city", "kind": "excluded"})
    ready.refresh_from_db()
    assert ready.kinds == {"age": "categorical", "city": "excluded"}
    client.post(url, {"column": "age", "kind": "numeric"})  # back to what was inferred
    ready.refresh_from_db()
    assert ready.kinds == {"city": "excluded"}
    assert client.post(url, {"column": "nope", "kind": "numeric"}).status_code == 400


def test_choosing_a_target_profiles_it(client, ready, eager, django_capture_on_commit_callbacks):
    client.force_login(ready.owner)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("datasets:set_target", args=[ready.pk]), {"target": "bought"})
    ready.refresh_from_db()
    assert ready.target == "bought"
    assert ready.target_profile["task"] == "binary"
    page = client.get(reverse("datasets:detail", args=[ready.pk])).content.decode()
    assert "binary classification" in page


def test_reingest_with_corrected_options(client, alice, eager, django_capture_on_commit_callbacks):
    client.force_login(alice)
    with django_capture_on_commit_callbacks(execute=True):
        upload(client, content=b"a;b\n1,5;2\n3,5;4\n")
    dataset = Dataset.objects.get()
    form = {"delimiter": ";", "decimal": ".", "encoding": "utf-8", "has_header": "on"}
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("datasets:reingest", args=[dataset.pk]), form)
    dataset.refresh_from_db()
    assert dataset.status == "ready"
    assert dataset.dialect["decimal"] == "."
    assert dataset.preview["rows"][0][0] == "1,5"


def test_delete_removes_the_row_and_files(client, ready, django_capture_on_commit_callbacks):
    from webapp.experiments.models import Experiment

    client.force_login(ready.owner)
    experiment = Experiment.objects.create(
        owner=ready.owner, dataset=ready, target="bought", status="running"
    )
    experiment.directory.mkdir(parents=True)
    response = client.post(reverse("datasets:delete", args=[ready.pk]), follow=True)
    assert "An experiment is training on this dataset" in response.content.decode()
    assert Dataset.objects.exists()  # refused while a run uses the data
    assert client.delete(f"/api/v1/datasets/{ready.pk}").status_code == 409
    experiment.status = "finished"
    experiment.save()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("datasets:delete", args=[ready.pk]))
    assert response.status_code == 302
    assert not Dataset.objects.exists() and not Experiment.objects.exists()
    assert not ready.directory.exists()
    assert not experiment.directory.exists()  # the experiments' models go with the data


def test_others_get_404_everywhere(client, ready, bob):
    client.force_login(bob)
    for name in ["detail", "set_kind", "set_target", "reingest", "delete"]:
        method = client.get if name == "detail" else client.post
        assert method(reverse(f"datasets:{name}", args=[ready.pk])).status_code == 404, name
    assert "customers.csv" not in client.get(reverse("datasets:index")).content.decode()
    assert Dataset.objects.filter(pk=ready.pk).exists()


# The JSON API


def bearer(user):
    return {"Authorization": f"Bearer {ApiToken.issue(user, 'test')[1]}"}


def test_api_upload_and_read(client, alice, eager, django_capture_on_commit_callbacks):
    headers = bearer(alice)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/api/v1/datasets",
            {"file": SimpleUploadedFile("c.csv", CSV), "name": "via API"},
            headers=headers,
        )
    assert response.status_code == 201, response.content
    created = response.json()
    assert (created["name"], created["status"]) == ("via API", "uploaded")
    detail = client.get(f"/api/v1/datasets/{created['id']}", headers=headers).json()
    assert detail["status"] == "ready"
    assert detail["n_rows"] == 80
    kinds = {c["name"]: c["kind"] for c in detail["columns"]}
    assert kinds == {"age": "numeric", "city": "categorical", "bought": "boolean"}
    assert [d["id"] for d in client.get("/api/v1/datasets", headers=headers).json()["items"]] == [
        created["id"]
    ]


def test_api_errors(client, alice, settings):
    headers = bearer(alice)
    response = client.post("/api/v1/datasets", {}, headers=headers)
    assert response.status_code == 400
    assert "field 'file'" in response.json()["detail"]
    response = client.post(
        "/api/v1/datasets", {"file": SimpleUploadedFile("x.doc", b"x")}, headers=headers
    )
    assert response.status_code == 400
    settings.MAX_UPLOAD_SIZE = 10
    response = client.post(
        "/api/v1/datasets", {"file": SimpleUploadedFile("c.csv", CSV)}, headers=headers
    )
    assert response.status_code == 413
    assert "larger than" in response.json()["detail"]


def test_api_patch_columns_and_delete(client, ready):
    headers = bearer(ready.owner)
    url = f"/api/v1/datasets/{ready.pk}/columns"
    response = client.patch(
        url,
        {"kinds": {"age": "categorical"}, "exclude": ["city"]},
        content_type="application/json",
        headers=headers,
    )
    assert response.status_code == 200
    kinds = {c["name"]: c["kind"] for c in response.json()["columns"]}
    assert kinds["age"] == "categorical" and kinds["city"] == "excluded"
    bad = client.patch(
        url, {"kinds": {"zzz": "numeric"}}, content_type="application/json", headers=headers
    )
    assert bad.status_code == 400 and "'zzz'" in bad.json()["detail"]
    bad = client.patch(
        url, {"kinds": {"age": "number"}}, content_type="application/json", headers=headers
    )
    assert bad.status_code == 400 and "Unknown kind 'number'" in bad.json()["detail"]
    assert client.delete(f"/api/v1/datasets/{ready.pk}", headers=headers).status_code == 204
    assert not Dataset.objects.exists()


def test_api_is_owner_only(client, ready, bob):
    headers = bearer(bob)
    assert client.get(f"/api/v1/datasets/{ready.pk}", headers=headers).status_code == 404
    assert client.delete(f"/api/v1/datasets/{ready.pk}", headers=headers).status_code == 404
    patch = client.patch(
        f"/api/v1/datasets/{ready.pk}/columns",
        {"exclude": ["age"]},
        content_type="application/json",
        headers=headers,
    )
    assert patch.status_code == 404
    assert client.get("/api/v1/datasets", headers=headers).json()["items"] == []


def test_a_stalled_ingestion_can_be_started_again(
    client, alice, eager, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    from django.utils import timezone

    client.force_login(alice)
    upload(client)
    dataset = Dataset.objects.get()
    long_ago = timezone.now() - timedelta(hours=1)
    Dataset.objects.filter(pk=dataset.pk).update(status="processing", updated=long_ago)
    page = client.get(reverse("datasets:detail", args=[dataset.pk])).content.decode()
    assert "Start again" in page
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("datasets:reingest", args=[dataset.pk]))
    dataset.refresh_from_db()
    assert dataset.status == "ready"


def test_a_corrected_kind_gets_its_own_summary(
    client, ready, eager, django_capture_on_commit_callbacks
):
    assert "histogram" in next(c for c in ready.columns() if c["name"] == "age")["stats"]
    client.force_login(ready.owner)
    with django_capture_on_commit_callbacks(execute=False) as pending:
        client.post(
            reverse("datasets:set_kind", args=[ready.pk]), {"column": "age", "kind": "categorical"}
        )
    ready.refresh_from_db()
    assert ready.reprofile_pending
    page = client.get(reverse("datasets:detail", args=[ready.pk])).content.decode()
    assert "Updating the column summaries" in page and 'hx-trigger="every 1s"' in page
    for callback in pending:
        callback()  # the worker profiles with the new kind
    ready.refresh_from_db()
    age = next(c for c in ready.columns() if c["name"] == "age")
    assert age["kind"] == "categorical" and "top" in age["stats"]
    assert "histogram" not in age["stats"]
    assert (
        "Updating" not in client.get(reverse("datasets:detail", args=[ready.pk])).content.decode()
    )


def test_the_reaper_reads_a_stalled_dataset_again_once_then_fails_it(
    ready, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    from django.utils import timezone

    from tests.webapp.factories import dead_runner
    from webapp.datasets.tasks import reap_datasets

    dead = dead_runner()
    silent = timezone.now() - timedelta(hours=1)
    Dataset.objects.filter(pk=ready.pk).update(
        status="processing", attempts=1, runner=dead, heartbeat=silent
    )
    with django_capture_on_commit_callbacks() as sent:
        reap_datasets()
    ready.refresh_from_db()
    assert ready.status == "uploaded" and len(sent) == 1  # ingestion is sent again
    assert ready.claim() and ready.attempts == 2  # what the re-sent task does first

    Dataset.objects.filter(pk=ready.pk).update(runner=dead, heartbeat=silent)
    with django_capture_on_commit_callbacks() as sent:
        reap_datasets()
    ready.refresh_from_db()
    assert ready.status == "failed" and "stopped 2 times" in ready.error and not sent
    assert not ready.claim()  # a late redelivery of the first message changes nothing
    ready.refresh_from_db()
    assert ready.status == "failed"
