"""Schemathesis generates requests from the OpenAPI schemas and checks every answer against
them: no 500 for anything a client sends, and only declared statuses and shapes.

A schema-valid request may still be refused (a PNG is a file, not a table; a model id must be
yours), so refusals of valid data are not counted as failures; anything else is.
"""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

pytestmark = pytest.mark.django_db(transaction=True)

FUZZ = settings(
    max_examples=60,
    derandomize=True,  # the same requests on every run: a failure here is never luck
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(autouse=True)
def _kept_from_the_broker(sent):
    """Nothing here reaches the suite's real worker."""


@pytest.fixture
def application():
    # Made after the session's collectstatic, so whitenoise finds its files.
    from webapp.wsgi import application

    return application


@pytest.fixture
def key_holder(deployed):
    return {"Authorization": f"Bearer {deployed[1]}"}


def fuzz(schema, headers) -> list[str]:
    """Run every operation of ``schema`` with generated requests; return those it ran."""
    ran = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @FUZZ
        @given(case=operation.as_strategy())
        def check(case):
            case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])

        check()
        ran.append(operation.label)
    return ran


def test_the_prediction_endpoint_keeps_to_its_schema(application, deployed, key_holder):
    # The deployment's own document has its real columns, so most requests reach the model.
    deployment, _ = deployed
    path = f"/api/v1/deployments/{deployment.slug}/openapi.json"
    schema = schemathesis.openapi.from_wsgi(path, application, headers=key_holder)
    assert fuzz(schema, key_holder) == [f"POST /api/v1/deployments/{deployment.slug}/predict"]


@pytest.mark.slow
def test_the_whole_api_keeps_to_its_schema(application, deployed, finished):
    # The owner's token, with a dataset, an experiment and a deployment to find: generated
    # requests reach past the 404s into each endpoint's checks.
    from webapp.accounts.models import ApiToken

    _, token = ApiToken.issue(finished.owner, "fuzz")
    owner = {"Authorization": f"Bearer {token}"}
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application, headers=owner)
    ran = fuzz(schema, owner)
    assert "POST /api/v1/deployments" in ran and "POST /api/v1/experiments" in ran


def test_the_schema_holds_each_answer_once(client):
    # A status declared as a number and as a string appears twice in the JSON, which Swagger
    # UI refuses to render ("duplicated mapping key").
    import json

    def unique(pairs):
        keys = [key for key, _ in pairs]
        assert len(keys) == len(set(keys)), keys
        return dict(pairs)

    json.loads(client.get("/api/v1/openapi.json").content, object_pairs_hook=unique)
