"""Deployments: deploy a trained model, call its endpoint with a key, versions and rollback,
keys, pause, and every answer the endpoint gives to a bad request."""

import json
import threading
import time
from pathlib import Path

import pytest
from django.urls import reverse

from webapp.accounts.models import ApiToken
from webapp.deployments import monitoring, serving
from webapp.deployments.models import Deployment, DeploymentKey
from webapp.experiments.models import Candidate
from webapp.lib import keys

DATA = Path(__file__).parents[1] / "data"

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _kept_from_the_broker(sent):
    """Nothing here reaches the suite's real worker."""


def predict(client, slug, body, key, *, raw=False):
    return client.post(
        f"/api/v1/deployments/{slug}/predict",
        data=body if raw else json.dumps(body),
        content_type="application/json",
        headers={"Authorization": f"Bearer {key}"} if key else {},
    )


def example(deployment) -> dict:
    return {c["name"]: c["example"] for c in deployment.current.schema}


def test_deploy_then_predict_with_the_shown_key(client, deployed):
    deployment, key = deployed
    assert key.startswith("dep_") and deployment.current.number == 1
    stored = DeploymentKey.objects.get()
    assert stored.digest == keys.digest(key) and key not in stored.prefix + stored.digest
    row = example(deployment)
    response = predict(client, deployment.slug, {"rows": [row, row]}, key)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["deployment"] == deployment.slug and body["version"] == 1
    assert len(body["predictions"]) == 2 and set(body["predictions"]) <= {"yes", "no"}
    assert set(body["probabilities"][0]) == {"no", "yes"}
    assert sum(body["probabilities"][0].values()) == pytest.approx(1, abs=1e-4)
    # The key is shown once: the page does not show it again.
    page = client.get(reverse("deployments:detail", args=[deployment.slug])).content.decode()
    assert key not in page and "curl -X POST" in page


def test_the_schema_marks_types_and_required_columns(deployed):
    deployment, _ = deployed
    columns = {c["name"]: c for c in deployment.current.schema}
    assert "customer_id" not in columns and "churned" not in columns
    assert columns["monthly_fee"]["kind"] == "numeric"
    assert isinstance(columns["monthly_fee"]["example"], float)
    assert columns["plan"]["categories"] and columns["plan"]["kind"] == "categorical"
    assert columns["plan"]["required"] and not columns["age"]["required"]  # age has gaps


def _without(row, name):
    return {k: v for k, v in row.items() if k != name}


@pytest.mark.parametrize(
    ("change", "status", "message"),
    [
        (lambda row: {"rows": []}, 400, "no rows"),
        (lambda row: {"rows": [row], "extra": 1}, 422, "Unknown field 'extra'"),
        (lambda row: {"rows": [{**row, "monthly_fee": "twelve"}]}, 422, "'monthly_fee' must be a"),
        (lambda row: {"rows": [{**row, "newsletter": "maybe"}]}, 422, "'newsletter' must be true"),
        (lambda row: {"rows": [{**row, "monthly_fee": False}]}, 422, "must be a number, not false"),
        (lambda row: {"rows": [row, {**row, "colour": "red"}]}, 422, "row 2: unknown column"),
        (lambda row: {"rows": [_without(row, "plan")]}, 422, "'plan' is required"),
        (lambda row: {"rows": [{**row, "signup_date": "not a date"}]}, 422, "signup_date"),
        (lambda row: [row], 400, "list of rows"),
        (lambda row: {"rows": ["a row"]}, 422, "expected an object"),
        (lambda row: {"rows": [row], "explain": "yes"}, 422, "'explain' must be true or false"),
        (lambda row: {"rows": [row], "key": 3}, 422, "'key' must be the name of a column"),
    ],
)
def test_bad_requests_get_a_plain_4xx(client, deployed, change, status, message):
    deployment, key = deployed
    response = predict(client, deployment.slug, change(example(deployment)), key)
    assert response.status_code == status, response.content
    body = response.json()
    assert message in body["detail"] + " ".join(body["errors"])


def _written(count: int) -> list[dict]:
    """The first rows of the training file as a CRM would send them: every value as written,
    the ID and the target included."""
    header, *lines = (DATA / "customers.csv").read_text().splitlines()
    return [dict(zip(header.split(","), line.split(","), strict=True)) for line in lines[:count]]


def _typed(row: dict) -> dict:
    number = {"age", "monthly_fee", "support_calls"}
    return {
        "age": float(row["age"]) if row["age"] else None,
        **{name: float(row[name]) for name in number - {"age"}},
        "newsletter": row["newsletter"] == "yes",
        "plan": row["plan"], "signup_date": row["signup_date"],
    }  # fmt: skip


def test_rows_as_the_training_file_holds_them_predict(client, deployed):
    deployment, key = deployed
    rows = _written(4)
    assert all(isinstance(value, str) for row in rows for value in row.values())
    response = predict(client, deployment.slug, {"rows": rows, "key": "customer_id"}, key)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["ignored_columns"] == ["churned", "customer_id"]
    assert body["keys"] == [row["customer_id"] for row in rows]
    typed = predict(client, deployment.slug, {"rows": [_typed(row) for row in rows]}, key).json()
    assert typed["ignored_columns"] == [] and "keys" not in typed
    assert typed["predictions"] == body["predictions"]
    assert typed["probabilities"] == body["probabilities"]
    # Yes/no as 1/0, numbers or text.
    ones = [{**_typed(row), "newsletter": int(_typed(row)["newsletter"])} for row in rows]
    answer = predict(client, deployment.slug, {"rows": ones}, key).json()
    assert answer["probabilities"] == body["probabilities"]


def test_a_csv_body_is_answered_as_its_json_rows(client, deployed):
    deployment, key = deployed
    lines = (DATA / "customers.csv").read_text().splitlines()[:6]
    response = client.post(
        f"/api/v1/deployments/{deployment.slug}/predict?key=customer_id",
        data="\n".join(lines) + "\n", content_type="text/csv",
        headers={"Authorization": f"Bearer {key}"},
    )  # fmt: skip
    assert response.status_code == 200, response.content
    from_json = predict(client, deployment.slug, {"rows": _written(5), "key": "customer_id"}, key)
    assert response.json() == from_json.json()
    # A semicolon file with a decimal comma is read as training would read it.
    semicolons = "\n".join(line.replace(",", ";") for line in lines).replace("9.99", "9,99")
    other = client.post(
        f"/api/v1/deployments/{deployment.slug}/predict?key=customer_id",
        data=semicolons + "\n", content_type="text/csv",
        headers={"Authorization": f"Bearer {key}"},
    )  # fmt: skip
    assert other.json()["probabilities"] == from_json.json()["probabilities"]
    broken = client.post(
        f"/api/v1/deployments/{deployment.slug}/predict", data=b"\xff\xfe\x00bad",
        content_type="text/csv", headers={"Authorization": f"Bearer {key}"},
    )  # fmt: skip
    assert broken.status_code in (400, 422) and broken.json()["detail"]


def test_predictions_explain_themselves_on_request(client, deployed):
    deployment, key = deployed
    row, other = example(deployment), {**example(deployment), "age": None}
    plain = predict(client, deployment.slug, {"rows": [row]}, key).json()
    assert "explanations" not in plain
    body = predict(client, deployment.slug, {"rows": [row, other], "explain": True}, key).json()
    query = client.post(
        f"/api/v1/deployments/{deployment.slug}/predict?explain=true",
        data=json.dumps({"rows": [row, other]}), content_type="application/json",
        headers={"Authorization": f"Bearer {key}"},
    ).json()  # fmt: skip
    assert query["explanations"] == body["explanations"]
    for explanation, probabilities in zip(body["explanations"], body["probabilities"],
                                          strict=True):  # fmt: skip
        assert explanation["explained"] == "yes"
        assert explanation["output"] == pytest.approx(probabilities["yes"], abs=1e-5)
        reasons = explanation["contributions"]
        assert 0 < len(reasons) <= serving.TOP_REASONS
        assert {r["column"] for r in reasons} <= set(row)
        sizes = [abs(r["contribution"]) for r in reasons]
        assert sizes == sorted(sizes, reverse=True)
        for reason in reasons:
            sent = (row if explanation is body["explanations"][0] else other)[reason["column"]]
            assert reason["value"] == sent


def test_missing_optional_values_are_fine(client, deployed):
    deployment, key = deployed
    row = {**example(deployment), "age": None}
    assert predict(client, deployment.slug, {"rows": [row]}, key).status_code == 200


def test_oversize_batches_and_non_json_are_refused(client, deployed, settings):
    deployment, key = deployed
    settings.MAX_PREDICTION_ROWS = 3
    rows = [example(deployment)] * 4
    response = predict(client, deployment.slug, {"rows": rows}, key)
    assert response.status_code == 422 and "limit of 3" in response.json()["detail"]
    response = predict(client, deployment.slug, b"{not json", key, raw=True)
    assert response.status_code == 400 and "not valid JSON" in response.json()["detail"]


def test_keys_unknown_slugs_and_pausing(client, deployed):
    deployment, key = deployed
    body = {"rows": [example(deployment)]}
    assert predict(client, "no-such-thing", body, key).status_code == 404
    assert predict(client, deployment.slug, body, None).status_code == 401
    assert predict(client, deployment.slug, body, "dep_wrong").status_code == 401
    other, other_key = DeploymentKey.issue(deployment, "crm")
    assert predict(client, deployment.slug, body, other_key).status_code == 200
    other.revoke()
    assert predict(client, deployment.slug, body, other_key).status_code == 401
    assert predict(client, deployment.slug, body, key).status_code == 200  # the others stay

    client.post(reverse("deployments:set_status", args=[deployment.slug]), {"status": "paused"})
    response = predict(client, deployment.slug, body, key)
    assert response.status_code == 503 and "paused" in response.json()["detail"]
    assert client.get(f"/api/v1/deployments/{deployment.slug}/ready").status_code == 503
    client.post(reverse("deployments:set_status", args=[deployment.slug]), {"status": "active"})
    assert client.get(f"/api/v1/deployments/{deployment.slug}/ready").status_code == 200


def test_redeploy_and_rollback_switch_versions(client, deployed, finished):
    deployment, key = deployed
    other = next(c for c in finished.leaderboard() if c.state == "complete" and not c.is_best)
    other.request_build()
    from webapp.experiments.tasks import build_model

    build_model(other.pk)
    response = client.post(
        reverse("deployments:add_version", args=[deployment.slug]), {"model": other.pk}
    )
    assert response.status_code == 302
    body = {"rows": [example(deployment)]}
    assert predict(client, deployment.slug, body, key).json()["version"] == 2
    client.post(reverse("deployments:rollback", args=[deployment.slug, 1]))
    assert predict(client, deployment.slug, body, key).json()["version"] == 1


def test_a_version_switch_fails_no_request(client, deployed, finished):
    """Requests keep flowing while versions switch back and forth: none fails."""
    deployment, key = deployed
    deployment.deploy(finished.best)  # version 2, the same model
    body = {"rows": [example(deployment)]}
    statuses, stop = [], threading.Event()

    def switch():
        while not stop.is_set():
            for number in (1, 2):
                Deployment.objects.get(pk=deployment.pk).rollback(number)

    switcher = threading.Thread(target=switch)
    switcher.start()
    try:
        for _ in range(30):
            statuses.append(predict(client, deployment.slug, body, key).status_code)
    finally:
        stop.set()
        switcher.join()
    assert statuses == [200] * 30


def test_management_api(client, finished):
    response = client.post(
        "/api/v1/deployments",
        data=json.dumps({"model_id": finished.best_id, "slug": "churn"}),
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["endpoint"] == "/api/v1/deployments/churn/predict" and created["version"] == 1
    taken = client.post(
        "/api/v1/deployments",
        data=json.dumps({"model_id": finished.best_id, "slug": "churn"}),
        content_type="application/json",
    )
    assert taken.status_code == 422 and "taken" in taken.json()["detail"]
    unbuilt = next(c for c in finished.candidates.all() if c.artifact == "none")
    response = client.post(
        "/api/v1/deployments/churn/versions",
        data=json.dumps({"model_id": unbuilt.pk}),
        content_type="application/json",
    )
    assert response.status_code == 422 and "build it first" in response.json()["detail"]
    described = client.get("/api/v1/deployments/churn").json()
    assert described["task"] == "binary" and described["classes"] == ["no", "yes"]
    assert described["example"]["rows"][0]["plan"]
    # The key holder may read the description too, without an account.
    client.logout()
    response = client.get(
        "/api/v1/deployments/churn", headers={"Authorization": f"Bearer {created['api_key']}"}
    )
    assert response.status_code == 200
    assert client.get("/api/v1/deployments/churn").status_code == 401


def test_others_cannot_manage_or_see_deployments(client, deployed, bob):
    deployment, _ = deployed
    client.force_login(bob)
    assert client.get(reverse("deployments:detail", args=[deployment.slug])).status_code == 404
    assert client.post(reverse("deployments:delete", args=[deployment.slug])).status_code == 404
    assert client.get("/api/v1/deployments").json()["items"] == []
    assert client.delete(f"/api/v1/deployments/{deployment.slug}").status_code == 404
    assert Deployment.objects.exists()


def test_deployed_models_keep_their_experiment(client, deployed, finished):
    deployment, _ = deployed
    response = client.post(reverse("experiments:delete", args=[finished.pk]), follow=True)
    assert "is deployed" in response.content.decode()
    assert client.delete(f"/api/v1/datasets/{finished.dataset_id}").status_code == 409
    client.post(reverse("deployments:delete", args=[deployment.slug]))
    assert client.delete(f"/api/v1/experiments/{finished.pk}").status_code == 204


def test_the_prediction_endpoint_is_documented(client):
    schema = client.get("/api/v1/openapi.json").json()
    operation = schema["paths"]["/api/v1/deployments/{slug}/predict"]["post"]
    assert {"200", "400", "401", "404", "422", "503"} <= set(operation["responses"])
    assert operation["security"] == [{"DeploymentKey": []}]
    assert "DeploymentKey" in schema["components"]["securitySchemes"]
    query = [p for p in operation["parameters"] if p["in"] == "query"]
    assert [(p["name"], p["schema"]["type"]) for p in query] == [
        ("explain", "boolean"), ("key", "string")
    ]  # fmt: skip
    assert {p["name"] for p in operation["parameters"] if p["in"] == "path"} == {"slug"}
    assert set(operation["requestBody"]["content"]) == {"application/json", "text/csv"}
    answer = schema["components"]["schemas"]["PredictionOut"]["properties"]
    assert {"ignored_columns", "keys"} <= set(answer)


def test_each_deployment_is_documented_with_its_columns(client, deployed, bob):
    deployment, key = deployed
    path = f"/api/v1/deployments/{deployment.slug}/predict"
    schema = client.get("/api/v1/openapi.json").json()  # read by the owner
    body = schema["paths"][path]["post"]["requestBody"]["content"]["application/json"]
    assert body["example"] == deployment.current.example()
    assert [p["name"] for p in schema["paths"][path]["post"]["parameters"]] == ["explain", "key"]
    assert "text/csv" in schema["paths"][path]["post"]["requestBody"]["content"]
    row = body["schema"]["properties"]["rows"]["items"]
    assert row["additionalProperties"] is False and "plan" in row["required"]
    # Each value in its JSON type or as the training file wrote it.
    assert row["properties"]["monthly_fee"]["type"] == ["number", "string"]
    assert row["properties"]["age"]["type"] == ["number", "string", "null"]  # it had gaps
    assert row["properties"]["newsletter"]["type"] == ["boolean", "integer", "string"]
    assert "basic" in row["properties"]["plan"]["description"]
    # The training file's other columns are accepted, and "id" as the row's key.
    assert {"customer_id", "churned", "id"} <= set(row["properties"])
    assert "customer_id" not in row["required"]
    answer = schema["paths"][path]["post"]["responses"]["200"]["content"]["application/json"]
    assert set(answer["schema"]["properties"]["probabilities"]["items"]["required"]) == {
        "no", "yes"
    }  # fmt: skip

    client.force_login(bob)
    assert path not in client.get("/api/v1/openapi.json").json()["paths"]
    client.logout()
    assert path not in client.get("/api/v1/openapi.json").json()["paths"]
    _, token = ApiToken.issue(deployment.owner, "client generator")
    by_token = client.get("/api/v1/openapi.json", headers={"Authorization": f"Bearer {token}"})
    assert path in by_token.json()["paths"]
    own = f"/api/v1/deployments/{deployment.slug}/openapi.json"
    assert client.get(own).status_code == 401
    document = client.get(own, headers={"Authorization": f"Bearer {key}"}).json()
    assert list(document["paths"]) == [path]
    assert "ErrorOut" in document["components"]["schemas"]


def test_models_are_loaded_once_per_version(client, deployed, monkeypatch):
    deployment, key = deployed
    loads = []
    real_load = serving.load_model
    monkeypatch.setattr(
        serving, "load_model", lambda *a, **k: loads.append(1) or real_load(*a, **k)
    )
    serving.forget()
    body = {"rows": [example(deployment)]}
    for _ in range(3):
        assert predict(client, deployment.slug, body, key).status_code == 200
    assert len(loads) == 1


def flushed(client, deployment, requests: int) -> dict:
    """The monitoring report once ``requests`` are in Redis (flushed here or by the thread)."""
    deadline = time.monotonic() + 5
    while True:
        monitoring.flush(monitoring.client())
        report = client.get(f"/api/v1/deployments/{deployment.slug}/monitoring").json()
        if report["total"]["requests"] >= requests or time.monotonic() > deadline:
            return report
        time.sleep(0.1)


def test_requests_errors_and_latency_are_monitored(client, deployed):
    deployment, key = deployed
    row = example(deployment)
    for _ in range(3):
        assert predict(client, deployment.slug, {"rows": [row, row]}, key).status_code == 200
    assert predict(client, deployment.slug, {"rows": [{"x": 1}]}, key).status_code == 422
    report = flushed(client, deployment, requests=4)
    assert report["total"] == {"requests": 4, "errors": 1, "rows": 6}
    assert report["latency_ms"]["p50"] is not None
    drift = {c["name"]: c for c in report["drift"]}
    assert drift["monthly_fee"]["n"] == 6
    assert not drift["monthly_fee"]["drifted"]  # too few values to tell
    page = client.get(reverse("deployments:detail", args=[deployment.slug])).content.decode()
    assert 'id="monitor-requests">4<' in page and "Requests per minute" in page


def test_drift_flags_a_shifted_column(client, deployed):
    deployment, key = deployed
    row = example(deployment)
    shifted = [{**row, "monthly_fee": 10_000.0, "age": None} for _ in range(20)]
    assert predict(client, deployment.slug, {"rows": shifted}, key).status_code == 200
    drift = {c["name"]: c for c in flushed(client, deployment, requests=1)["drift"]}
    assert drift["monthly_fee"]["drifted"] and drift["monthly_fee"]["psi"] > 0.2
    assert drift["age"]["drifted"] and drift["age"]["missing"] == 1  # all gaps now


def test_deleting_a_user_removes_their_deployments_and_models(deployed, alice):
    assert Deployment.objects.exists()
    alice.delete()
    assert not Deployment.objects.exists() and not Candidate.objects.exists()


def test_slugs_are_readable_and_unique(finished):
    from webapp.deployments.models import SLUG_PATTERN, unique_slug

    slug = unique_slug("churn_modelling.csv.gz · Exited")
    assert slug == "churn-modelling-csv-gz-exited" and SLUG_PATTERN.match(slug)
    Deployment.create_for(finished.owner, finished.best, slug)
    again = unique_slug("churn_modelling.csv.gz · Exited")
    assert again != slug and again.startswith(slug) and SLUG_PATTERN.match(again)
