"""What a deployment key may do and see: predictions within its rate, a description made of
typical values (never a real row), and a readiness probe that tells nothing and loads nothing."""

import csv
import json

import pytest
from django.urls import reverse

from tests.webapp.conftest import CUSTOMERS
from tests.webapp.test_deployments import example, predict
from webapp.deployments import serving
from webapp.deployments.models import DeploymentKey

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _kept_from_the_broker(sent):
    """Nothing here reaches the suite's real worker."""


def test_a_key_over_its_rate_gets_429_with_retry_after(client, deployed, settings):
    deployment, key = deployed
    settings.PREDICT_RATE_LIMIT = 3
    body = {"rows": [example(deployment)]}
    assert [predict(client, deployment.slug, body, key).status_code for _ in range(3)] == [200] * 3
    refused = predict(client, deployment.slug, body, key)
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert "may send 3 prediction requests a minute" in refused.json()["detail"]
    # Limits are per key: another key of the same deployment still answers.
    _, other = DeploymentKey.issue(deployment, "other")
    assert predict(client, deployment.slug, body, other).status_code == 200
    # A key's own rate wins over the default; 0 is no limit.
    _, unlimited = DeploymentKey.issue(deployment, "bulk", rate_limit=0)
    statuses = {predict(client, deployment.slug, body, unlimited).status_code for _ in range(6)}
    assert statuses == {200}


def test_the_page_creates_keys_with_a_scope_and_a_rate(client, deployed, settings):
    deployment, _ = deployed
    detail = reverse("deployments:detail", args=[deployment.slug])
    create = reverse("deployments:create_key", args=[deployment.slug])
    client.post(create, {"name": "nightly files", "scope": "batch", "rate_limit": "30"})
    key = DeploymentKey.objects.get(name="nightly files")
    assert key.scope == "batch" and key.predictions_per_minute == 30
    page = client.get(detail).content.decode()
    assert "predict and score files" in page and ">30<" in page
    assert f'>{settings.PREDICT_RATE_LIMIT} <span class="muted">(default)' in page
    for bad in ({"scope": "admin"}, {"rate_limit": "²"}, {"rate_limit": "-1"}):
        client.post(create, {"name": "bad", **bad})
    assert not DeploymentKey.objects.filter(name="bad").exists()


def test_the_description_gives_typical_values_never_a_real_row(client, deployed):
    deployment, key = deployed
    described = client.get(
        f"/api/v1/deployments/{deployment.slug}", headers={"Authorization": f"Bearer {key}"}
    ).json()
    example_row = described["example"]["rows"][0]
    with CUSTOMERS.open() as handle:
        training = [
            {k: v for k, v in row.items() if k in example_row} for row in csv.DictReader(handle)
        ]
    as_written = {k: str(v) for k, v in example_row.items()}
    assert all(as_written != {k: str(v) for k, v in row.items()} for row in training)
    columns = {c["name"]: c for c in described["columns"]}
    assert columns["plan"]["categories"] and example_row["plan"] in columns["plan"]["categories"]
    # The median, as the model would read it.
    fees = sorted(float(row["monthly_fee"]) for row in training)
    assert example_row["monthly_fee"] == pytest.approx(fees[len(fees) // 2], rel=0.05)
    # A day mid-way through the training range, written as the column writes days.
    days = sorted(row["signup_date"] for row in training)
    assert days[0] < example_row["signup_date"] < days[-1] and len(example_row["signup_date"]) == 10
    # The description is a working request.
    assert predict(client, deployment.slug, described["example"], key).status_code == 200


def test_many_categories_and_free_text_show_a_type_not_values(client, deployed):
    from webapp.deployments.schema import LISTED_CATEGORIES, column

    names = [f"Person {i}" for i in range(LISTED_CATEGORIES + 1)]
    profile = {"stats": {"top": [[names[0], 9]]}, "missing": 0}
    many = column({"name": "rep", "kind": "categorical", "categories": names}, profile,
                  required=True)  # fmt: skip
    assert many["categories"] is None and many["example"] == "category"
    text = column({"name": "comment", "kind": "text"}, {"examples": ["Ann's note"]},
                  required=False)  # fmt: skip
    assert text["example"] == "text" and text["categories"] is None
    few = column({"name": "plan", "kind": "categorical", "categories": ["a", "b"]},
                 {"stats": {"top": [["b", 5], ["a", 3]]}}, required=True)  # fmt: skip
    assert few["categories"] == ["a", "b"] and few["example"] == "b"


def test_ready_says_yes_or_no_and_loads_nothing(client, deployed):
    deployment, _ = deployed
    client.logout()
    serving.forget()
    url = f"/api/v1/deployments/{deployment.slug}/ready"
    response = client.get(url)
    assert response.status_code == 200 and response.json() == {"ready": True}
    assert not serving._models  # nothing loaded for a probe
    body = response.content.decode()
    assert deployment.current.candidate.experiment.name not in body
    deployment.set_status("paused")
    assert client.get(url).status_code == 503 and client.get(url).json() == {"ready": False}
    assert client.get("/api/v1/deployments/no-such/ready").status_code == 404


def test_deploying_loads_the_model_before_the_first_request(client, finished):
    serving.forget()
    response = client.post(
        "/api/v1/deployments",
        data=json.dumps({"model_id": finished.best_id, "slug": "warm"}),
        content_type="application/json",
    )
    assert response.status_code == 201
    assert str(finished.best.artifact_path) in serving._models
