"""The API's conventions: every list in pages (limit, offset, total) with its filters, and one
error shape everywhere ({"detail": sentence, "errors": [lines]})."""

import pytest

from webapp.accounts.models import ApiToken
from webapp.experiments.models import Experiment

pytestmark = pytest.mark.django_db


def test_lists_come_in_pages_with_a_total(client, alice):
    for number in range(5):
        ApiToken.issue(alice, f"script {number}")
    client.force_login(alice)
    page = client.get("/api/v1/tokens?limit=2&offset=1").json()
    assert page["total"] == 5 and page["limit"] == 2 and page["offset"] == 1
    assert [t["name"] for t in page["items"]] == ["script 3", "script 2"]  # newest first
    last = client.get("/api/v1/tokens?limit=2&offset=4").json()
    assert [t["name"] for t in last["items"]] == ["script 0"] and last["total"] == 5
    assert client.get("/api/v1/tokens").json()["limit"] == 50
    # An offset past what the database's integers hold is refused, not a server error.
    far = client.get("/api/v1/tokens?offset=27079083750240842416128")
    assert far.status_code == 422 and far.json()["errors"][0].startswith("offset: ")
    too_many = client.get("/api/v1/tokens?limit=100000")
    assert too_many.status_code == 422
    assert too_many.json()["errors"][0].startswith("limit: ")


def test_experiments_filter_by_status_dataset_and_words(client, alice, dataset):
    other = type(dataset).objects.create(owner=alice, name="other.csv", status="ready", size=1)
    rows = [("churn first try", dataset, "finished"), ("churn again", dataset, "failed"),
            ("prices", other, "finished")]  # fmt: skip
    for name, table, status in rows:
        Experiment.objects.create(owner=alice, dataset=table, name=name, target="churned",
                                  status=status)  # fmt: skip
    client.force_login(alice)

    def names(query):
        page = client.get(f"/api/v1/experiments?{query}").json()
        assert page["total"] == len(page["items"])
        return sorted(e["name"] for e in page["items"])

    assert names("status=finished") == ["churn first try", "prices"]
    assert names(f"dataset={dataset.pk}") == ["churn again", "churn first try"]
    assert names(f"dataset={dataset.pk}&status=failed") == ["churn again"]
    assert names("q=CHURN first") == ["churn first try"]
    assert names("q=nothing") == []
    wrong = client.get("/api/v1/experiments?status=done")
    assert wrong.status_code == 422 and wrong.json()["errors"][0].startswith("status: ")
    assert client.get("/api/v1/datasets?status=ready&q=other").json()["total"] == 1
    assert client.get("/api/v1/deployments?status=paused").json() == {
        "items": [], "total": 0, "limit": 50, "offset": 0
    }  # fmt: skip


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("get", "/api/v1/nowhere", None, 404),
        ("put", "/api/v1/datasets", None, 405),
        ("get", "/api/v1/datasets/999999", None, 404),
        ("post", "/api/v1/experiments", {"dataset": "x"}, 422),
        ("post", "/api/v1/deployments", {"model_id": 999}, 422),
        ("post", "/api/v1/deployments/nope/predict", {"rows": []}, 404),
        ("delete", "/api/v1/tokens/999999", None, 404),
    ],
)
def test_every_error_has_one_shape(client, alice, method, path, body, status):
    client.force_login(alice)
    response = getattr(client, method)(path, body, content_type="application/json")
    assert response.status_code == status, response.content
    answer = response.json()
    assert set(answer) == {"detail", "errors"}, answer
    assert isinstance(answer["detail"], str) and answer["detail"]
    assert all(isinstance(line, str) for line in answer["errors"])
    client.logout()
    anonymous = client.get("/api/v1/datasets").json()
    assert set(anonymous) == {"detail", "errors"}


def test_the_schema_documents_the_error_shape(client):
    schema = client.get("/api/v1/openapi.json").json()
    shape = schema["components"]["schemas"]["ErrorOut"]
    assert shape["required"] == ["detail"] and set(shape["properties"]) == {"detail", "errors"}
    listing = schema["paths"]["/api/v1/experiments"]["get"]
    assert {p["name"] for p in listing["parameters"]} >= {
        "limit",
        "offset",
        "status",
        "dataset",
        "q",
    }
    answer = listing["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    paged = schema["components"]["schemas"][answer.rsplit("/", 1)[1]]
    assert set(paged["properties"]) == {"items", "total", "limit", "offset"}
    for name, path in schema["paths"].items():
        for operation in path.values():
            for code, response in operation["responses"].items():
                if name.endswith("/ready") and code == "503":
                    continue  # a probe's answer, {"ready": false}, not an error
                if code.startswith(("4", "5")) and "content" in response:
                    body = response["content"]["application/json"]["schema"]
                    assert body == {"$ref": "#/components/schemas/ErrorOut"}, (code, operation)


def test_the_pages_lists_have_a_search_box_and_pages(client, alice, dataset):
    from django.urls import reverse

    from webapp.lib.pages import LIST_PAGE_SIZE

    for number in range(LIST_PAGE_SIZE + 3):
        Experiment.objects.create(owner=alice, dataset=dataset, name=f"run {number:02d}",
                                  target="churned")  # fmt: skip
    Experiment.objects.create(owner=alice, dataset=dataset, name="prices", target="price")
    client.force_login(alice)
    url = reverse("experiments:index")
    first = client.get(url).content.decode()
    assert 'type="search" name="q"' in first and "Page 1 of 2" in first
    assert "prices" in first and "run 00" not in first  # newest first
    second = client.get(url, {"page": 2}).content.decode()
    assert "run 00" in second and "Page 2 of 2" in second
    found = client.get(url, {"q": "PRICE"}).content.decode()
    assert "prices" in found and "run 01" not in found and "Page 1 of" not in found
    nothing = client.get(url, {"q": "nowhere"}).content.decode()
    assert "Nothing matches “nowhere”" in nothing
    for name in ("datasets:index", "deployments:index"):
        assert client.get(reverse(name), {"q": "x", "page": "9"}).status_code == 200
