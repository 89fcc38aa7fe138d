"""Deployment endpoints: managing deployments (owner's token) and predicting (deployment key).

The prediction endpoint reads its body itself rather than through a fixed schema, because each
deployment's columns differ; every error it can answer is declared in the OpenAPI schema. A
``serving.RequestError`` raised anywhere here becomes its JSON answer (see ``webapp.api``).
"""

import math
import time
from datetime import datetime
from typing import NamedTuple

from django.http import JsonResponse
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import paginate

from webapp.accounts.api import bearer, request_user
from webapp.accounts.quotas import QuotaExceeded
from webapp.deployments import monitoring, openapi, serving
from webapp.deployments.models import Batch, Deployment, DeploymentKey, Version
from webapp.deployments.views import result_response
from webapp.experiments.models import Candidate
from webapp.health import metrics
from webapp.lib import limits
from webapp.lib.errors import ErrorOut
from webapp.lib.ownership import get_owned_or_404
from webapp.lib.pages import SEARCH, Page, search
from webapp.lib.uploads import upload_refusal

router = Router(tags=["deployments"])
OWNER_QUOTA = (
    "The deployment's owner has reached a quota (storage, or jobs at once), so this file cannot "
    "be scored now. Try again later, or ask the owner."
)


class DeploymentFilters(Schema):
    status: Deployment.Status | None = None
    q: str = Field("", description=SEARCH)


class BatchFilters(Schema):
    status: Batch.Status | None = None


class DeployIn(Schema):
    model_id: int
    slug: str = Field("", description="Lowercase letters, digits and dashes; made up if empty")


class VersionIn(Schema):
    model_id: int


class RollbackIn(Schema):
    version: int


class Created(Schema):
    slug: str
    version: int
    endpoint: str
    api_key: str = Field(..., description="Shown only in this response; keep it safe")


class VersionOut(Schema):
    number: int
    model_id: int = Field(..., alias="candidate_id")
    created: datetime


class DeploymentOut(Schema):
    slug: str
    name: str
    status: str
    version: int | None
    endpoint: str
    created: datetime

    @staticmethod
    def resolve_version(deployment):
        return deployment.current.number if deployment.current else None

    @staticmethod
    def resolve_endpoint(deployment):
        return _endpoint(deployment)


class ColumnOut(Schema):
    name: str
    kind: str
    required: bool
    categories: list[str] | None
    example: str | float | bool | None


class DeploymentDetail(Schema):
    slug: str
    name: str
    status: str
    version: int | None
    endpoint: str
    created: datetime
    task: str
    target: str
    classes: list[str] | None
    metric: str
    score: float | None
    columns: list[ColumnOut]
    example: dict


def _endpoint(deployment: Deployment) -> str:
    return f"/api/v1/deployments/{deployment.slug}/predict"


def _candidate(request, model_id: int) -> Candidate | None:
    return Candidate.objects.owned_by(request.user).filter(pk=model_id).first()


@router.post(
    "/deployments",
    response={201: Created, 422: ErrorOut},
    summary="Deploy a built model behind a prediction endpoint",
)
def create_deployment(request, payload: DeployIn):
    candidate = _candidate(request, payload.model_id)
    if candidate is None:
        return Status(422, {"detail": f"model_id: you have no model {payload.model_id}."})
    try:
        deployment, key = Deployment.create_for(request.user, candidate, payload.slug)
    except ValueError as err:
        return Status(422, {"detail": str(err)})
    return Status(
        201,
        {"slug": deployment.slug, "version": deployment.current.number,
         "endpoint": _endpoint(deployment), "api_key": key},
    )  # fmt: skip


@router.get("/deployments", response=list[DeploymentOut], summary="Your deployments")
@paginate(Page)
def list_deployments(request, filters: Query[DeploymentFilters]):
    owned = Deployment.objects.owned_by(request.user).select_related("current")
    owned = search(owned, filters.q, "slug", "name")
    return owned.filter(status=filters.status) if filters.status else owned


@router.post(
    "/deployments/{slug}/versions",
    response={201: DeploymentOut, 422: ErrorOut},
    summary="Serve another model as the next version; traffic switches at once",
)
def add_version(request, slug: str, payload: VersionIn):
    deployment = get_owned_or_404(Deployment, request.user, slug=slug)
    candidate = _candidate(request, payload.model_id)
    if candidate is None:
        return Status(422, {"detail": f"model_id: you have no model {payload.model_id}."})
    try:
        deployment.deploy(candidate)
    except ValueError as err:
        return Status(422, {"detail": str(err)})
    return Status(201, deployment)


@router.post(
    "/deployments/{slug}/rollback",
    response={200: DeploymentOut, 422: ErrorOut},
    summary="Serve an earlier version again",
)
def rollback(request, slug: str, payload: RollbackIn):
    deployment = get_owned_or_404(Deployment, request.user, slug=slug)
    try:
        deployment.rollback(payload.version)
    except ValueError as err:
        return Status(422, {"detail": f"version: {err}"})
    return deployment


@router.post("/deployments/{slug}/pause", response=DeploymentOut, summary="Answer 503 for now")
def pause(request, slug: str):
    deployment = get_owned_or_404(Deployment, request.user, slug=slug)
    deployment.set_status(Deployment.Status.PAUSED)
    return deployment


@router.post("/deployments/{slug}/resume", response=DeploymentOut, summary="Answer again")
def resume(request, slug: str):
    deployment = get_owned_or_404(Deployment, request.user, slug=slug)
    deployment.set_status(Deployment.Status.ACTIVE)
    return deployment


@router.delete("/deployments/{slug}", response={204: None}, summary="Delete a deployment")
def delete_deployment(request, slug: str):
    get_owned_or_404(Deployment, request.user, slug=slug).delete()
    return Status(204, None)


class Access(NamedTuple):
    """Who calls a deployment: its owner (``key`` None) or the holder of one of its keys."""

    deployment: Deployment
    key: DeploymentKey | None


def _key_for(request, slug: str, deployment_id: int | None) -> DeploymentKey:
    """The live key of the deployment the request sends, or ``RequestError`` (404, 401)."""
    if deployment_id is None:
        raise serving.RequestError(404, f"There is no deployment {slug!r}.")
    sent = bearer(request)
    key = DeploymentKey.live(deployment_id, sent) if sent else None
    if key is None:
        raise serving.RequestError(
            401, "Send this deployment's key: 'Authorization: Bearer <key>'."
        )
    return key


def _access(request, slug: str, *, files: bool = False) -> Access:
    """The deployment for its owner (session or personal token) or a holder of its key; with
    ``files``, only batch keys (and the owner) get through."""
    user = request_user(request)
    owned = Deployment.objects.owned_by(user).filter(slug=slug).first() if user else None
    if owned:
        return Access(owned, None)
    deployment = (
        Deployment.objects.select_related("current__candidate__experiment")
        .filter(slug=slug)
        .first()
    )
    key = _key_for(request, slug, deployment.pk if deployment else None)
    if files and not key.scores_files:
        raise serving.RequestError(
            403, "This key only predicts. Scoring files needs a batch key: its owner creates "
            "one on the deployment's page.",
        )  # fmt: skip
    return Access(deployment, key)


def _rate_limit(key: DeploymentKey) -> None:
    """``RequestError(429)`` with ``Retry-After`` once ``key`` is over its rate."""
    rate = key.predictions_per_minute
    wait = limits.hit(limits.Limit("predict", rate, 60), str(key.pk))
    if wait is not None:
        raise serving.RequestError(
            429, f"This key may send {rate} prediction requests a minute; wait "
            f"{limits.in_words(wait)} before sending more.", Retry_After=str(math.ceil(wait)),
        )  # fmt: skip


PREDICT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": openapi.rows_body(
                    {"type": "object"},
                    description="One object per row: {column: value}, each value in its JSON "
                    "type or as the training file wrote it; columns of the training file the "
                    "model does not use are accepted. See GET /api/v1/deployments/{slug} for "
                    "the columns.",
                ),
                "example": {"rows": [{"column": "value"}], "explain": False},
            },
            "text/csv": openapi.csv_body(openapi.CSV_ROWS),
        },
    },
    "parameters": [openapi.EXPLAIN_QUERY, openapi.KEY_QUERY],
    "security": [{"DeploymentKey": []}],
}


class Contribution(Schema):
    column: str
    value: str | float | bool | None = Field(..., description="The value as the model read it")
    contribution: float


class Explanation(Schema):
    base: float = Field(..., description="The answer for an average row")
    output: float = Field(..., description="base plus every column's contribution: the "
                          "predicted value, or the explained class's probability")  # fmt: skip
    explained: str | float | bool | None = Field(
        ..., description="The class explained: the positive one for yes/no targets, else the "
        "predicted one (null for a number)"
    )  # fmt: skip
    contributions: list[Contribution] = Field(
        ..., description="The columns that moved the answer most, largest first"
    )


class PredictionOut(Schema):
    predictions: list
    probabilities: list[dict[str, float]] | None = Field(
        None, description="Classification: each row's probability per class"
    )
    explanations: list[Explanation] | None = Field(
        None, description='With `"explain": true` (or `?explain=true`): each row\'s reason codes'
    )
    deployment: str
    version: int
    ignored_columns: list[str] = Field(
        ..., description="Columns sent that the model does not use (the training data's IDs, "
        "excluded columns, the target): read and left out"
    )  # fmt: skip
    keys: list | None = Field(
        None, description="Each row's key as sent (the field `key` names, or `id`), when any"
    )


@router.post(
    "/deployments/{slug}/predict",
    auth=None,
    response={200: PredictionOut, 400: ErrorOut, 401: ErrorOut,
              404: ErrorOut, 413: ErrorOut, 422: ErrorOut,
              429: ErrorOut, 503: ErrorOut},
    summary="Predict: send rows, get predictions (deployment key)",
    openapi_extra=PREDICT_BODY,
)  # fmt: skip
def predict(request, slug: str):
    started = time.perf_counter()
    # Only what changes is read per request (status, serving version, key); the version
    # itself never changes and comes from the process's cache.
    found = Deployment.objects.filter(slug=slug).values_list("pk", "status", "current_id")
    deployment_id, status, version_id = found.first() or (None, None, None)
    try:
        _rate_limit(_key_for(request, slug, deployment_id))
        if status == Deployment.Status.PAUSED:
            raise serving.RequestError(503, "This deployment is paused by its owner.")
        if version_id is None:
            raise serving.RequestError(503, "This deployment has no model to serve.")
        version = serving.cached_version(version_id)
        payload = serving.read_body(request)
        explain = serving.wants_explanation(request, payload)
        rows = serving.read_rows(payload, version, key=request.GET.get("key"))
        answer = serving.predict(serving.model_for(version), rows.columns, explain)
    except serving.RequestError as err:
        if deployment_id is not None:
            seconds = time.perf_counter() - started
            monitoring.record(deployment_id, ok=False, columns=None, seconds=seconds)
            metrics.prediction(slug, err.status, seconds)
        raise  # answered by the API's handler, like every RequestError
    seconds = time.perf_counter() - started
    monitoring.record(deployment_id, ok=True, columns=rows.columns, seconds=seconds)
    metrics.prediction(slug, 200, seconds)
    answer["ignored_columns"] = rows.ignored
    if rows.keys is not None:
        answer["keys"] = rows.keys
    # Built here rather than validated by ninja: the answer is ours, and checking a thousand
    # probabilities against the schema would cost more than computing them.
    return JsonResponse({**answer, "deployment": slug, "version": version.number})


class MonitoringOut(Schema):
    series: list[dict] = Field(..., description="Requests, errors and rows per minute")
    total: dict
    latency_ms: dict = Field(..., description="p50, p95 and p99 over the period (upper bounds)")
    drift: list[dict] = Field(..., description="Recent inputs against the training data")
    dropped: int = Field(..., description="Requests not recorded while Redis was unreachable")


@router.get(
    "/deployments/{slug}/monitoring",
    response=MonitoringOut,
    summary="Traffic, latency and input drift over the last hour",
)
def monitor(request, slug: str):
    deployment = get_owned_or_404(Deployment, request.user, slug=slug)
    return monitoring.report(deployment)


@router.get(
    "/deployments/{slug}",
    auth=None,
    response={200: DeploymentDetail, 401: ErrorOut, 404: ErrorOut},
    summary="What a deployment expects and how good its model is (key holder or owner)",
    openapi_extra={"security": [{"DeploymentKey": []}]},
)
def describe(request, slug: str):
    deployment = _access(request, slug).deployment
    version: Version | None = deployment.current
    candidate = version.candidate if version else None
    experiment = candidate.experiment if candidate else None
    return {
        "slug": deployment.slug, "name": deployment.name, "status": deployment.status,
        "version": version.number if version else None, "endpoint": _endpoint(deployment),
        "created": deployment.created,
        "task": experiment.detected_task if experiment else "",
        "target": experiment.target if experiment else "",
        "classes": version.classes if version else None,
        "metric": experiment.metric_name if experiment else "",
        "score": candidate.score if candidate else None,
        "columns": version.schema if version else [],
        "example": version.example() if version else {"rows": []},
    }  # fmt: skip


class ReadyOut(Schema):
    ready: bool


@router.get(
    "/deployments/{slug}/ready",
    auth=None,
    response={200: ReadyOut, 404: ErrorOut, 503: ReadyOut},
    summary="200 when the deployment can answer, 503 when paused or without a model (no key)",
)
def ready(request, slug: str):
    # Open to probes without a key, so it says no more than yes or no, and loads nothing:
    # models load on deploy and on the first keyed request.
    found = Deployment.objects.filter(slug=slug).select_related("current__candidate").first()
    if found is None:
        raise serving.RequestError(404, f"There is no deployment {slug!r}.")
    is_ready = (
        found.status == Deployment.Status.ACTIVE
        and found.current is not None
        and found.current.candidate.is_downloadable
    )
    return Status(200 if is_ready else 503, {"ready": is_ready})


class BatchOut(Schema):
    id: int
    filename: str
    status: str
    version: int = Field(..., alias="version.number")
    rows_done: int
    rows_total: int | None = Field(..., description="Estimated until the batch finishes")
    progress: float = Field(..., description="Share of the rows scored, 0 to 1")
    notes: list[str]
    reasons: bool = Field(..., description="Whether each row gets its top reasons")
    error: str
    created: datetime
    finished: datetime | None
    result: str | None = Field(..., description="Where to download the scored file")

    @staticmethod
    def resolve_result(batch):
        if batch.status != Batch.Status.FINISHED:
            return None
        return f"/api/v1/deployments/{batch.deployment.slug}/batches/{batch.pk}/result"


BATCH_ACCESS = {"security": [{"DeploymentKey": []}, {"TokenAuth": []}]}
# The file is read by the endpoint itself, after the key is checked, so it is declared here.
UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "reasons": {
                            "type": "boolean",
                            "default": False,
                            "description": "Add, for each row, the columns that moved its "
                            "prediction most: 'reason 1' to 'reason 3', each as 'column = value "
                            "(signed contribution)'",
                        },
                    },
                }
            }
        },
    }
}
BATCH_ERRORS = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut}


def _batches(access: Access):
    """The batches the caller may see: every one for the owner, its own for a batch key."""
    batches = access.deployment.batches.select_related("version", "deployment")
    return batches if access.key is None else batches.filter(sent_by=access.key)


def _batch(request, slug: str, batch_id: int) -> Batch:
    batch = _batches(_access(request, slug, files=True)).filter(pk=batch_id).first()
    if batch is None:
        raise serving.RequestError(404, f"There is no batch {batch_id} of yours in {slug!r}.")
    return batch


@router.post(
    "/deployments/{slug}/batches",
    auth=None,
    response={202: BatchOut, 400: ErrorOut, **BATCH_ERRORS, 413: ErrorOut,
              429: ErrorOut, 503: ErrorOut, 507: ErrorOut},
    summary="Score a CSV file on a worker (batch key or owner)",
    openapi_extra={**BATCH_ACCESS, **UPLOAD_BODY},
)  # fmt: skip
def create_batch(request, slug: str):
    access = _access(request, slug, files=True)
    # The body is read only now, once the caller may score files: a stranger's upload is
    # never written to disk, and the owner's storage quota bounds this one.
    request.upload_owner = access.deployment.owner
    file = request.FILES.get("file")
    refusal = upload_refusal(request)
    if refusal:
        raise serving.RequestError(*refusal)
    if file is None:
        raise serving.RequestError(400, "Send the file as multipart form field 'file'.")
    deployment = access.deployment
    try:
        batch = Batch.create_from_upload(deployment, file, key=access.key,
                                         reasons=serving.wants_reasons(request))  # fmt: skip
    except ValueError as err:
        status = 400 if deployment.status == Deployment.Status.ACTIVE else 503
        raise serving.RequestError(status, str(err)) from None
    except QuotaExceeded as err:
        # A key holder learns the owner's quota is full, not what the owner stores.
        message = str(err) if access.key is None else OWNER_QUOTA
        raise serving.RequestError(err.status, message) from None
    return Status(202, batch)


@router.get(
    "/deployments/{slug}/batches",
    auth=None,
    response={200: list[BatchOut], **BATCH_ERRORS},
    summary="The files scored by a deployment, newest first (a batch key sees its own)",
    openapi_extra=BATCH_ACCESS,
)
@paginate(Page)
def list_batches(request, slug: str, filters: Query[BatchFilters]):
    batches = _batches(_access(request, slug, files=True))
    return batches.filter(status=filters.status) if filters.status else batches


@router.get(
    "/deployments/{slug}/batches/{batch_id}",
    auth=None,
    response={200: BatchOut, **BATCH_ERRORS},
    summary="A batch's progress and, once finished, where its result is",
    openapi_extra=BATCH_ACCESS,
)
def get_batch(request, slug: str, batch_id: int):
    return _batch(request, slug, batch_id)


@router.get(
    "/deployments/{slug}/batches/{batch_id}/result",
    auth=None,
    response={200: None, **BATCH_ERRORS, 409: ErrorOut},
    summary="Download the scored file (CSV): the input columns and the predictions",
    openapi_extra={**BATCH_ACCESS, "responses": {"200": {
        "description": "The scored file", "content": {"text/csv": {}}}}},
)  # fmt: skip
def batch_result(request, slug: str, batch_id: int):
    batch = _batch(request, slug, batch_id)
    if batch.status != Batch.Status.FINISHED:
        raise serving.RequestError(409, f"The batch is {batch.status}, not finished.")
    return result_response(batch)


@router.delete(
    "/deployments/{slug}/batches/{batch_id}",
    auth=None,
    response={204: None, **BATCH_ERRORS},
    summary="Delete a batch and its files (a running one stops)",
    openapi_extra=BATCH_ACCESS,
)
def delete_batch(request, slug: str, batch_id: int):
    _batch(request, slug, batch_id).delete()
    return Status(204, None)


@router.get(
    "/deployments/{slug}/openapi.json",
    auth=None,
    response={200: dict, 401: ErrorOut, 404: ErrorOut},
    summary="This deployment's own OpenAPI document, with its columns (key holder or owner)",
    openapi_extra=BATCH_ACCESS,
)
def deployment_openapi(request, slug: str):
    from webapp.api import api

    deployment = _access(request, slug).deployment
    return openapi.document(deployment, api.get_openapi_schema()["components"])
