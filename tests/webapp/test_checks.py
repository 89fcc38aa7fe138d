"""The engine's checks on the platform: cards on the dataset page, "use it anyway", the API,
and the experiment that records what it did."""

import numpy as np
import pandas as pd
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from automl import load
from tests.webapp.factories import launch
from webapp.accounts.models import ApiToken
from webapp.datasets.models import Dataset
from webapp.datasets.tasks import ingest_dataset
from webapp.experiments.models import Experiment


def leaky_csv() -> bytes:
    rng = np.random.default_rng(0)
    spend = rng.normal(50, 15, 200).round(1)
    churned = np.where(spend + rng.normal(0, 10, 200) > 50, "yes", "no")
    visits = rng.integers(1, 30, 200).astype(float)
    visits[:40] = -1  # the CRM's code for "not recorded"
    table = pd.DataFrame({"spend": spend, "visits": visits, "churned": churned,
                          "refund_issued": np.where(churned == "yes", 1, 0)})  # fmt: skip
    return table.to_csv(index=False).encode()


@pytest.fixture
def leaky(alice, eager, django_capture_on_commit_callbacks):
    dataset = Dataset.create_from_upload(alice, SimpleUploadedFile("crm.csv", leaky_csv()))
    ingest_dataset(dataset.pk)
    dataset.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        dataset.choose_target("churned")
    dataset.refresh_from_db()
    return dataset


def card(page: str, check_id: str) -> str:
    return page.split(f'id="check-{check_id}')[1].split("</article>")[0]


def test_the_dataset_page_shows_checks_and_a_leak_can_be_kept(
    client, leaky, django_capture_on_commit_callbacks
):
    client.force_login(leaky.owner)
    page = client.get(reverse("datasets:detail", args=[leaky.pk])).content.decode()
    leak = card(page, "leakage")
    assert "Target leakage, high risk" in leak and "refund_issued" in leak
    assert "Left out of training" in leak and "Use it anyway" in leak
    assert "-1" in card(page, "disguised_missing") and "Keep as values" in page
    assert "Passed checks" in page
    # Alerts and actions come before what passed.
    assert page.index('id="check-leakage') < page.index("Passed checks")

    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("datasets:set_keep", args=[leaky.pk]),
                    {"column": "refund_issued", "keep": "1"})  # fmt: skip
    leaky.refresh_from_db()
    assert leaky.keep == ["refund_issued"]
    page = client.get(reverse("datasets:detail", args=[leaky.pk])).content.decode()
    assert "Kept for training, as you chose" in card(page, "leakage")
    assert "Leave it out" in card(page, "leakage")
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("datasets:set_keep", args=[leaky.pk]),
                    {"column": "refund_issued", "keep": "0"})  # fmt: skip
    leaky.refresh_from_db()
    assert leaky.keep == []
    bad = client.post(reverse("datasets:set_keep", args=[leaky.pk]), {"column": "nope"})
    assert bad.status_code == 400 and "'nope'" in bad.content.decode()


def test_the_api_returns_checks_and_takes_kept_columns(
    client, leaky, django_capture_on_commit_callbacks
):
    headers = {"Authorization": f"Bearer {ApiToken.issue(leaky.owner, 'test')[1]}"}
    body = client.get(f"/api/v1/datasets/{leaky.pk}", headers=headers).json()
    leak = next(c for c in body["checks"] if c["id"] == "leakage")
    assert (leak["status"], leak["columns"]) == ("acted", ["refund_issued"])
    assert leak["details"]["risk"] == "high" and body["keep"] == []
    url = f"/api/v1/datasets/{leaky.pk}/columns"
    with django_capture_on_commit_callbacks(execute=True):
        response = client.patch(url, {"keep": ["visits"]}, content_type="application/json",
                                headers=headers)  # fmt: skip
    assert response.status_code == 200 and response.json()["keep"] == ["visits"]
    body = client.get(f"/api/v1/datasets/{leaky.pk}", headers=headers).json()
    codes = next(c for c in body["checks"] if c["id"] == "disguised_missing")
    assert codes["status"] == "alert" and "Kept as values" in codes["action"]
    bad = client.patch(url, {"keep": ["zzz"]}, content_type="application/json", headers=headers)
    assert bad.status_code == 400 and "'zzz'" in bad.json()["detail"]


def test_a_run_leaves_the_leak_out_and_says_so(
    transactional_db, client, leaky, quick_runs, django_capture_on_commit_callbacks
):
    client.force_login(leaky.owner)
    with django_capture_on_commit_callbacks(execute=True):
        launch(client, leaky, families=["linear"])
    experiment = Experiment.objects.get()
    assert experiment.status == "finished", experiment.error
    leak = next(c for c in experiment.checks if c["id"] == "leakage")
    assert leak["status"] == "acted" and leak["columns"] == ["refund_issued"]
    model = load(experiment.best.artifact_path)
    assert [c["name"] for c in model.schema] == ["spend", "visits"]
    assert {c["name"]: c["missing_values"] for c in model.pipeline[0].steps[0][1].schema} == {
        "spend": [], "visits": [-1]
    }  # fmt: skip
    page = client.get(reverse("experiments:detail", args=[experiment.pk])).content.decode()
    assert "Target leakage, high risk" in card(page, "leakage")
    assert "Use it anyway" not in page  # chosen on the dataset, for the next run

    with django_capture_on_commit_callbacks(execute=True):
        leaky.set_keep(["refund_issued"])
        launch(client, leaky, families=["linear"])
    kept = Experiment.objects.exclude(pk=experiment.pk).get()
    assert kept.keep == ["refund_issued"] and kept.status == "finished", kept.error
    schema = load(kept.best.artifact_path).schema
    assert "refund_issued" in [c["name"] for c in schema]


def test_the_tables_checks_stay_when_the_targets_analysis_failed(leaky):
    table_checks = {c["id"] for c in leaky.profile["checks"]}
    assert "disguised_missing" in table_checks
    leaky.target_profile = {"target": "churned", "error": "The queue is down."}
    assert {c["id"] for c in leaky.checks()} == table_checks
