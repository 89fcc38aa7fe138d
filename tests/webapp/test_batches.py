"""Batch scoring: a file uploaded to a deployment (page or API) is scored slice by slice and
offered back with its predictions, safe to open in a spreadsheet."""

import csv
import io
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from tests.webapp.conftest import CUSTOMERS
from webapp.deployments import batch as batch_scoring
from webapp.deployments.models import Batch
from webapp.deployments.tasks import reap_batches, score_batch

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _kept_from_the_broker(sent):
    """Nothing here reaches the suite's real worker: tests run the task themselves."""


@pytest.fixture
def served(deployed, monkeypatch):
    """A deployment whose batches wait in the (mocked) queue until a test scores them."""
    from webapp.celery_app import app

    monkeypatch.setitem(app.conf, "task_always_eager", False)
    return deployed


def upload(client, deployment, text: str, name: str = "new customers.csv"):
    return client.post(
        reverse("deployments:create_batch", args=[deployment.slug]),
        {"file": SimpleUploadedFile(name, text.encode())},
    )


def scored(client, deployment, text: str, name: str = "new customers.csv") -> Batch:
    response = upload(client, deployment, text, name)
    assert response.status_code == 302
    batch = Batch.objects.latest("created")
    score_batch(batch.pk)
    batch.refresh_from_db()
    return batch


def rows_of(response) -> list[dict]:
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


def test_a_file_is_scored_and_offered_back_with_its_columns(client, served, sent, monkeypatch):
    deployment, _ = served
    monkeypatch.setattr(batch_scoring, "SLICE_ROWS", 40)  # several slices from the small file
    response = upload(client, deployment, CUSTOMERS.read_text())
    batch = Batch.objects.get()
    assert batch.status == "queued" and batch.version == deployment.current
    assert sent.call_args.args[0] == "webapp.deployments.tasks.score_batch"
    htmx = {"HX-Request": "true", "HX-Target": "batches"}
    detail = reverse("deployments:detail", args=[deployment.slug])
    assert 'hx-trigger="every 2s"' in client.get(detail, headers=htmx).content.decode()
    score_batch(batch.pk)
    partial = client.get(detail, headers=htmx).content.decode()
    assert partial.strip().startswith('<div id="batches"') and "hx-trigger" not in partial
    batch.refresh_from_db()
    assert batch.status == "finished", batch.error
    assert batch.rows_done == batch.rows_total == 150 and batch.progress == 1

    page = client.get(response.url).content.decode()
    result_url = reverse("deployments:batch_result", args=[deployment.slug, batch.pk])
    assert result_url in page and "new customers.csv" in page
    download = client.get(result_url)
    assert download["Content-Disposition"].endswith('filename="new customers-predictions.csv"')
    rows = rows_of(download)
    originals = list(csv.DictReader(CUSTOMERS.open()))
    assert len(rows) == 150
    assert [r["customer_id"] for r in rows] == [r["customer_id"] for r in originals]
    assert rows[0]["monthly_fee"] == originals[0]["monthly_fee"]  # as written, "9.99"
    assert list(rows[0])[-4:] == ["prediction", "probability no", "probability yes", "problems"]
    assert {r["prediction"] for r in rows} <= {"yes", "no"}
    assert float(rows[0]["probability no"]) + float(rows[0]["probability yes"]) == (
        pytest.approx(1, abs=1e-5)
    )
    assert all(r["problems"] == "" for r in rows)
    assert any("not use, kept as they were: 'customer_id', 'churned'" in n for n in batch.notes)


def test_reasons_are_added_when_asked_and_agree_with_the_endpoints(client, served):
    deployment, key = served
    text = CUSTOMERS.read_text().replace("C1001,55,", "C1001,,", 1)  # a missing age
    response = client.post(
        reverse("deployments:create_batch", args=[deployment.slug]),
        {"file": SimpleUploadedFile("few.csv", text.encode()), "reasons": "1"},
    )
    assert response.status_code == 302
    batch = Batch.objects.get()
    assert batch.reasons is True
    score_batch(batch.pk)
    rows = rows_of(client.get(reverse("deployments:batch_result",
                                      args=[deployment.slug, batch.pk])))  # fmt: skip
    assert list(rows[0])[-3:] == ["reason 1", "reason 2", "reason 3"]
    schema = {c["name"] for c in deployment.current.schema}
    for row in rows:
        named = [row[f"reason {n}"].split(" = ")[0] for n in (1, 2, 3)]
        assert len(set(named)) == 3 and set(named) <= schema
    missing_age = [rows[1][f"reason {n}"] for n in (1, 2, 3)]
    assert all(r.startswith("age = (missing) (") for r in missing_age if r.startswith("age "))

    # The same reasons as the endpoint gives for the same row, as written in the file.
    first = next(csv.DictReader(io.StringIO(text)))
    read = {"numeric": float, "boolean": lambda text: text == "yes", "datetime": str,
            "categorical": str}  # fmt: skip
    sent = {c["name"]: read[c["kind"]](first[c["name"]]) for c in deployment.current.schema}
    answer = client.post(f"/api/v1/deployments/{deployment.slug}/predict?explain=true",
                         {"rows": [sent]}, content_type="application/json",
                         headers={"Authorization": f"Bearer {key}"}).json()  # fmt: skip
    top = answer["explanations"][0]["contributions"][:3]
    assert [rows[0][f"reason {n}"].split(" = ")[0] for n in (1, 2, 3)] == [c["column"] for c in top]
    assert rows[0]["reason 1"].endswith(f"({top[0]['contribution']:+.3g})")

    plain = scored(client, deployment, text)
    assert plain.reasons is False
    rows = rows_of(client.get(reverse("deployments:batch_result",
                                      args=[deployment.slug, plain.pk])))  # fmt: skip
    assert "reason 1" not in rows[0]


def test_unreadable_values_are_read_as_missing_and_named(client, served):
    deployment, _ = served
    text = CUSTOMERS.read_text().replace("C1001,55,", "C1001,fifty,", 1)
    batch = scored(client, deployment, text)
    assert batch.status == "finished", batch.error
    rows = rows_of(
        client.get(reverse("deployments:batch_result", args=[deployment.slug, batch.pk]))
    )
    assert rows[1]["age"] == "fifty" and rows[1]["prediction"] in ("yes", "no")
    assert rows[1]["problems"] == "age: 'fifty' is not a number"
    assert rows[0]["problems"] == ""
    assert any(note.startswith("1 row(s) had values") for note in batch.notes)


def test_formulas_are_neutralised_and_numbers_left_alone(client, served):
    deployment, _ = served
    text = (
        "customer_id,age,plan,monthly_fee,signup_date,newsletter,support_calls,=cmd|' /C calc'!A0\n"
        '=HYPERLINK("http://x"),-4,@SUM(A1),-9.99,2024-07-21,yes,1,+1\n'
    )
    batch = scored(client, deployment, text)
    assert batch.status == "finished", batch.error
    download = client.get(reverse("deployments:batch_result", args=[deployment.slug, batch.pk]))
    (row,) = rows_of(download)
    assert row["customer_id"] == '\'=HYPERLINK("http://x")'
    assert row["plan"] == "'@SUM(A1)"
    assert row["age"] == "-4" and row["monthly_fee"] == "-9.99"
    assert "'=cmd|' /C calc'!A0" in row


@pytest.mark.parametrize(
    ("text", "name", "message"),
    [
        ("customer_id,age\nC1,30\n", "a.csv", "no column 'plan'"),
        ("plan,monthly_fee\n", "a.csv", "no data rows"),
        ("a,b\n1,2\n1,2,3\n", "a.csv", "Line 3 has 3 fields"),
    ],
)
def test_a_file_that_cannot_be_scored_fails_in_plain_words(client, served, text, name, message):
    deployment, _ = served
    batch = scored(client, deployment, text, name)
    assert batch.status == "failed" and message in batch.error
    assert not batch.result_path.exists() and not list(batch.directory.glob("*.partial"))
    page = client.get(reverse("deployments:detail", args=[deployment.slug])).content.decode()
    assert message.replace("'", "&#x27;") in page


def test_missing_optional_columns_are_read_as_empty(client, served):
    deployment, _ = served
    text = "plan,monthly_fee,signup_date,newsletter,support_calls\nbasic,9.99,2024-07-21,yes,1\n"
    batch = scored(client, deployment, text)
    assert batch.status == "finished", batch.error
    assert any(n.startswith("Columns not in the file, read as empty: 'age'") for n in batch.notes)


def test_wrong_files_and_paused_deployments_are_refused_before_queueing(client, served):
    deployment, _ = served
    response = upload(client, deployment, "x", name="model.xlsx")
    page = client.get(response.url).content.decode()
    assert "cannot be scored: upload a .csv" in page and not Batch.objects.exists()
    deployment.set_status("paused")
    upload(client, deployment, CUSTOMERS.read_text())
    page = client.get(reverse("deployments:detail", args=[deployment.slug])).content.decode()
    assert "paused: resume it to score files" in page and not Batch.objects.exists()


def batch_key(client, deployment, name="scoring job") -> str:
    """A batch key created on the deployment's page, as its owner does."""
    client.post(reverse("deployments:create_key", args=[deployment.slug]),
                {"name": name, "scope": "batch"})  # fmt: skip
    page = client.get(reverse("deployments:detail", args=[deployment.slug])).content.decode()
    return page.split('id="new-key" readonly value="')[1].split('"')[0]


def test_the_api_scores_files_for_batch_key_holders(client, served, bob):
    deployment, _ = served
    key = batch_key(client, deployment)
    client.logout()
    url = f"/api/v1/deployments/{deployment.slug}/batches"
    auth = {"Authorization": f"Bearer {key}"}
    file = SimpleUploadedFile("rows.csv", CUSTOMERS.read_bytes())
    assert client.post(url, {"file": file}).status_code == 401
    assert client.post(url, {}, headers=auth).status_code == 400
    file.seek(0)
    response = client.post(url, {"file": file}, headers=auth)
    assert response.status_code == 202, response.content
    created = response.json()
    assert created["status"] == "queued" and created["result"] is None and created["version"] == 1
    result = f"{url}/{created['id']}/result"
    assert client.get(result, headers=auth).status_code == 409

    score_batch(created["id"])
    body = client.get(f"{url}/{created['id']}", headers=auth).json()
    assert body["status"] == "finished" and body["progress"] == 1 and body["rows_done"] == 150
    assert body["result"] == result
    assert len(rows_of(client.get(result, headers=auth))) == 150
    assert [b["id"] for b in client.get(url, headers=auth).json()["items"]] == [created["id"]]
    assert client.get(f"{url}/999999", headers=auth).status_code == 404

    client.force_login(bob)  # someone else's session opens nothing
    assert client.get(f"{url}/{created['id']}").status_code == 401
    client.logout()
    assert client.delete(f"{url}/{created['id']}", headers=auth).status_code == 204
    assert not Batch.objects.exists()


def test_a_predict_key_cannot_touch_batches_nor_a_key_see_anothers(client, served):
    deployment, predict_key = served
    mine = batch_key(client, deployment, "mine")
    theirs = batch_key(client, deployment, "theirs")
    owners = scored(client, deployment, CUSTOMERS.read_text())  # scored in the page
    client.logout()
    url = f"/api/v1/deployments/{deployment.slug}/batches"
    sent = client.post(url, {"file": SimpleUploadedFile("rows.csv", CUSTOMERS.read_bytes())},
                       headers={"Authorization": f"Bearer {mine}"}).json()  # fmt: skip
    predict = {"Authorization": f"Bearer {predict_key}"}
    refused = client.get(url, headers=predict)
    assert refused.status_code == 403 and "needs a batch key" in refused.json()["detail"]
    for path in (f"{url}/{owners.pk}", f"{url}/{owners.pk}/result", f"{url}/{sent['id']}"):
        assert client.get(path, headers=predict).status_code == 403
    assert client.delete(f"{url}/{owners.pk}", headers=predict).status_code == 403
    upload_by_predict_key = client.post(
        url, {"file": SimpleUploadedFile("rows.csv", b"a\n1\n")}, headers=predict
    )
    assert upload_by_predict_key.status_code == 403

    other = {"Authorization": f"Bearer {theirs}"}
    assert client.get(url, headers=other).json()["items"] == []  # neither the owner's nor mine
    for batch_id in (owners.pk, sent["id"]):
        assert client.get(f"{url}/{batch_id}", headers=other).status_code == 404
        assert client.delete(f"{url}/{batch_id}", headers=other).status_code == 404
    own = {"Authorization": f"Bearer {mine}"}
    assert [b["id"] for b in client.get(url, headers=own).json()["items"]] == [sent["id"]]
    assert client.get(f"{url}/{owners.pk}/result", headers=own).status_code == 404
    assert Batch.objects.count() == 2


def test_deleting_a_batch_stops_it_and_removes_its_files(client, served):
    deployment, _ = served
    batch = scored(client, deployment, CUSTOMERS.read_text())
    directory = batch.directory
    assert directory.exists()
    batch.claim()  # as a redelivered task would, then the row disappears under it
    client.post(reverse("deployments:delete_batch", args=[deployment.slug, batch.pk]))
    assert not directory.exists()
    assert not batch.record_progress(10, 150)


def test_a_batch_whose_worker_died_is_scored_again_once_then_failed(client, served, sent):
    from tests.webapp.factories import dead_runner

    deployment, _ = served
    upload(client, deployment, CUSTOMERS.read_text())
    batch = Batch.objects.get()
    dead = dead_runner()
    silent = timezone.now() - timedelta(hours=1)
    assert batch.claim()  # a worker took it, then died
    Batch.objects.filter(pk=batch.pk).update(runner=dead, heartbeat=silent)
    sent.reset_mock()
    reap_batches()
    batch.refresh_from_db()
    assert batch.status == "queued" and sent.call_count == 1

    assert batch.claim()  # the second worker dies too
    Batch.objects.filter(pk=batch.pk).update(runner=dead, heartbeat=silent)
    reap_batches()
    batch.refresh_from_db()
    assert batch.status == "failed" and "stopped 2 times" in batch.error


def test_deleting_the_deployment_removes_its_batches(client, served):
    deployment, _ = served
    batch = scored(client, deployment, CUSTOMERS.read_text())
    client.post(reverse("deployments:delete", args=[deployment.slug]))
    assert not Batch.objects.exists() and not batch.directory.exists()
