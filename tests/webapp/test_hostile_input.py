"""Hostile and careless input: every answer is a JSON 4xx or a plain failed state, quickly.

A megabyte cell built to make a backtracking pattern work for hours goes through ingestion,
prediction and batch scoring under a timeout only such a pattern would hit; bodies no JSON
parser should choke on get 400, 413 or 422; paths and methods the API does not have get JSON.
"""

import gzip
import io
import json
from types import SimpleNamespace

import pandas as pd
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.webapp.conftest import CUSTOMERS
from tests.webapp.test_batches import scored
from tests.webapp.test_deployments import example, flushed, predict
from webapp.datasets.models import Dataset
from webapp.datasets.tasks import ingest_dataset
from webapp.deployments import serving

pytestmark = pytest.mark.django_db(transaction=True)

PATHOLOGICAL = "1" + "%" * 1_000_000 + "x"


@pytest.fixture(autouse=True)
def _kept_from_the_broker(sent):
    """Nothing here reaches the suite's real worker."""


@pytest.mark.timeout(120)
def test_a_pathological_cell_is_ingested_predicted_and_scored_quickly(client, deployed):
    deployment, key = deployed
    owner = deployment.owner
    lines = CUSTOMERS.read_text().splitlines()
    header = lines[0].split(",")
    fee = header.index("monthly_fee")
    cells = lines[1].split(",")
    cells[fee] = PATHOLOGICAL
    hostile = "\n".join([lines[0], ",".join(cells), *lines[2:]]) + "\n"
    # A kilobyte of gzip that expands to the megabyte cell.
    packed = gzip.compress(hostile.encode())
    assert len(packed) < 10_000
    dataset = Dataset.create_from_upload(owner, SimpleUploadedFile("hostile.csv.gz", packed))
    ingest_dataset(dataset.pk)
    dataset.refresh_from_db()
    assert dataset.status == "ready", dataset.error
    assert {c["name"]: c["kind"] for c in dataset.columns()}["monthly_fee"] == "numeric"

    row = {**example(deployment), "monthly_fee": PATHOLOGICAL}
    response = predict(client, deployment.slug, {"rows": [row]}, key)
    assert response.status_code == 422
    assert "must be a number" in response.json()["detail"]
    assert len(response.content) < 1000

    batch = scored(client, deployment, hostile)
    assert batch.status == "finished", batch.error
    download = client.get(f"/api/v1/deployments/{deployment.slug}/batches/{batch.pk}/result")
    result = pd.read_csv(io.BytesIO(b"".join(download.streaming_content)), dtype=str)
    assert result["monthly_fee"][0] == PATHOLOGICAL  # kept as written
    problem = result["problems"][0]
    assert problem.startswith("monthly_fee: '1%%%") and len(problem) < 100
    assert result["prediction"][0] in {"yes", "no"}


BODIES = [
    ("[" * 100_000 + "]" * 100_000, 400, "nested too deeply"),
    ('{"rows": [' * 50_000, 400, "nested too deeply"),
    ('{"rows": [{"monthly_fee": NaN}]}', 400, "NaN is not a JSON number"),
    ('{"rows": [{"monthly_fee": -Infinity}]}', 400, "-Infinity is not a JSON number"),
    (b'{"rows": ["\xff\xfe"]}', 400, "not valid JSON"),
    ("not json", 400, "not valid JSON"),
    ("", 400, "not valid JSON"),
    ('"rows"', 400, "a list of rows"),
    ("[1, 2]", 400, "a list of rows"),
    ('{"rows": {"a": 1}}', 400, "a list of rows"),
    ('{"rows": [1, "x", null]}', 422, "expected an object"),
]
# Numbers too large for any model: int() refuses 5,000 digits, 10**400 overflows a float.
NUMBERS = ["1" + "0" * 5000, str(10**400), "1e400", "-1e31"]


def test_bodies_no_parser_should_choke_on_get_a_plain_4xx(client, deployed):
    deployment, key = deployed
    for body, status, message in BODIES:
        response = predict(client, deployment.slug, body, key, raw=True)
        assert response.status_code == status, (body[:40], response.content[:300])
        assert response["Content-Type"].startswith("application/json")
        assert message in response.json()["detail"], body[:40]
    for value in NUMBERS:
        row = json.dumps(example(deployment))[:-1] + f', "age": {value}}}'
        response = predict(client, deployment.slug, f'{{"rows": [{row}]}}', key, raw=True)
        assert response.status_code == 422, (value[:40], response.content[:300])
        assert "row 1: 'age' is too large" in response.json()["detail"]


def test_a_body_over_the_limit_is_a_json_413_and_counted(client, deployed, settings):
    deployment, key = deployed
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    row = example(deployment)
    response = predict(client, deployment.slug, {"rows": [row] * 500}, key)
    assert response.status_code == 413
    assert (
        "larger than the 9.8 KB this server reads (MAX_REQUEST_BODY)" in response.json()["detail"]
    )
    report = flushed(client, deployment, requests=1)
    assert report["total"]["errors"] == 1


def test_every_api_error_is_json(client, deployed, alice, settings):
    client.force_login(alice)
    missing = client.get("/api/v1/no/such/thing")
    assert missing.status_code == 404 and missing["Content-Type"] == "application/json"
    assert "There is no /api/v1/no/such/thing" in missing.json()["detail"]
    wrong = client.put("/api/v1/datasets")
    assert wrong.status_code == 405 and "PUT is not allowed" in wrong.json()["detail"]
    assert "GET" in wrong["Allow"]
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    big = client.post("/api/v1/experiments", "x" * 5000, content_type="application/json")
    assert big.status_code == 413 and "MAX_REQUEST_BODY" in big.json()["detail"]
    # Pages keep their HTML.
    assert "text/html" in client.get("/datasets/no-such-page").get("Content-Type")


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=50),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=st.dictionaries(st.sampled_from(["rows", "row", "x"]), JSON_VALUES, max_size=3))
def test_any_json_body_is_read_or_refused_with_a_request_error(payload):
    schema = [
        {"name": "n", "kind": "numeric", "required": True},
        {"name": "c", "kind": "categorical", "required": False},
        {"name": "b", "kind": "boolean", "required": False},
        {"name": "d", "kind": "datetime", "required": False},
    ]
    if isinstance(payload.get("rows"), list):
        payload["rows"] = [{"n": v, "c": v, "b": v, "d": v} for v in payload["rows"]]
    version = SimpleNamespace(schema=schema, ignored_columns=["target"])
    try:
        rows = serving.read_rows(payload, version)
    except serving.RequestError as err:
        refusal = err
    else:
        assert set(rows.columns) == {"n", "c", "b", "d"}
        return
    assert 400 <= refusal.status < 500 and refusal.message


def test_monitoring_keeps_bounded_values_and_counts_what_redis_missed(
    client, deployed, monkeypatch
):
    import redis

    from webapp.deployments import monitoring
    from webapp.lib.redis_server import free_port

    flush = monitoring.flush
    # The web process's flush thread stays out of the way: this test flushes by itself.
    monkeypatch.setattr(monitoring, "flush", lambda client: 0)
    deployment, key = deployed
    row = {**example(deployment), "plan": "p" * 100_000}
    assert predict(client, deployment.slug, {"rows": [row] * 30}, key).status_code == 200
    flush(monitoring.client())
    report = client.get(f"/api/v1/deployments/{deployment.slug}/monitoring").json()
    stored = monitoring.client().lrange(f"deploy:{deployment.pk}:sample:plan", 0, -1)
    assert len(stored) == monitoring.SAMPLE_ROWS_PER_REQUEST  # 20 of the 30 rows
    assert max(len(v) for v in stored) <= monitoring.SAMPLE_CHARACTERS + 2  # JSON quotes
    assert report["dropped"] == 0

    # Redis away: the records of the flush are dropped, not kept, and counted.
    away = redis.Redis(port=free_port(), socket_connect_timeout=0.2)
    for _ in range(3):
        assert predict(client, deployment.slug, {"rows": [row]}, key).status_code == 200
    with pytest.raises(redis.RedisError):
        flush(away)
    assert len(monitoring._buffer) == 0
    flush(monitoring.client())
    report = client.get(f"/api/v1/deployments/{deployment.slug}/monitoring").json()
    assert report["dropped"] == 3 and report["total"]["requests"] == 1
    page = client.get(f"/deployments/{deployment.slug}/").content.decode()
    assert "3 requests could not be recorded while Redis was unreachable" in page


def test_a_database_that_does_not_answer_is_a_503_in_words(client, alice, monkeypatch):
    from django.db import OperationalError

    from webapp.lib.ownership import OwnedQuerySet

    client.force_login(alice)
    client.raise_request_exception = False

    def down(self, user):
        raise OperationalError("connection refused")

    monkeypatch.setattr(OwnedQuerySet, "owned_by", down)
    api = client.get("/api/v1/datasets")
    assert api.status_code == 503 and api["Retry-After"] == "10"
    assert "The database is not answering" in api.json()["detail"]
    page = client.get("/datasets/")
    assert page.status_code == 503 and "The database is not answering" in page.content.decode()


def test_a_database_lost_while_a_list_is_written_out_is_a_503_too(client, alice, monkeypatch):
    from django.db import OperationalError

    from webapp.lib.ownership import OwnedQuerySet

    client.force_login(alice)
    client.raise_request_exception = False

    # The list is read only when the answer is written: the error surfaces inside pydantic.
    def lost(self):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(OwnedQuerySet, "_fetch_all", lost)
    api = client.get("/api/v1/datasets")
    assert api.status_code == 503 and "The database is not answering" in api.json()["detail"]
