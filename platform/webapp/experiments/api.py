"""Experiment and model endpoints of the JSON API."""

from datetime import datetime
from typing import Literal

from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import paginate

from webapp.datasets.api import CheckOut
from webapp.datasets.models import Dataset
from webapp.experiments.forms import ExperimentForm
from webapp.experiments.models import SEARCHED, TEST_MIN_ROWS, Candidate, Experiment
from webapp.experiments.views import artifact_response, onnx_response
from webapp.lib.errors import ErrorOut, problems
from webapp.lib.ownership import get_owned_or_404
from webapp.lib.pages import SEARCH, Page, search

router = Router(tags=["experiments"])


class ExperimentFilters(Schema):
    status: Experiment.Status | None = None
    dataset: int | None = Field(None, description="Only the experiments of this dataset")
    q: str = Field("", description=SEARCH)


class ValidationIn(Schema):
    method: Literal["cv", "holdout", "time"] = "cv"
    folds: int = Field(5, description="Folds for `cv`")
    holdout: float = Field(0.2, description="Validation share for `holdout` and `time`")
    time_column: str | None = Field(None, description="Date column ordering rows for `time`")


class ExperimentIn(Schema):
    dataset: int
    target: str
    task: Literal["auto", "binary", "multiclass", "regression"] = "auto"
    metric: str = Field("auto", description="`auto`, or roc_auc, log_loss, accuracy, "
                        "balanced_accuracy, f1, rmse, mae, r2")  # fmt: skip
    time_budget: int = Field(60, description="Seconds of search, final refit included")
    exclude: list[str] = []
    families: list[str] | None = Field(None, description="Model families (default: all)")
    validation: ValidationIn = ValidationIn()
    name: str = ""
    parallelism: int | None = Field(
        None,
        description="Training processes, on any machine, the search may use at once "
        "(default: every one free when it starts)",
    )
    max_models: int | None = Field(
        None,
        description="Models to train at most, within the time budget (default: as many as "
        "it allows); with the fixed seed, the same leaderboard on any machine",
    )
    keep_test: bool | None = Field(
        None,
        description="Keep 10% of rows aside, scored once per model as `test_score` "
        "(default: on for tables of 2,000 rows or more)",
    )


class Progress(Schema):
    elapsed: float
    budget: int
    trials: int


class LeaderboardRow(Schema):
    model_id: int = Field(..., alias="pk")
    name: str = Field(..., alias="model_id")
    rank: int | None
    family: str
    state: str
    score: float | None
    score_std: float | None
    test_score: float | None
    fit_seconds: float | None
    predict_ms_per_1k: float | None
    error: str
    worker: str = Field(..., description="The process that trained it: host:pid")


class ExperimentOut(Schema):
    id: int
    name: str
    dataset: int = Field(..., alias="dataset_id")
    target: str
    task: str
    metric: str
    status: str
    queue_position: int | None = Field(
        None, description="While queued: 1 for the experiment a training worker takes next"
    )
    error: str
    parallelism: int | None
    max_models: int | None
    n_workers: int = Field(..., description="Worker processes that trained a candidate")
    best_model_id: int | None = Field(None, alias="best_id")
    created: datetime
    started: datetime | None
    finished: datetime | None


class ExperimentDetail(ExperimentOut):
    progress: Progress
    leaderboard: list[LeaderboardRow]
    checks: list[CheckOut] = Field(..., description="What the checks found when the run read "
                                   "the data, and what was done about it")  # fmt: skip
    keep: list[str] = Field(..., description="Columns used as they are whatever the checks say")

    @staticmethod
    def resolve_task(experiment):
        return experiment.detected_task or experiment.task

    @staticmethod
    def resolve_metric(experiment):
        return experiment.metric_name or experiment.metric

    @staticmethod
    def resolve_progress(experiment):
        return {
            "elapsed": round(experiment.elapsed, 1),
            "budget": experiment.time_budget,
            "trials": experiment.n_trials,
        }

    @staticmethod
    def resolve_leaderboard(experiment):
        return experiment.leaderboard()


class ModelOut(Schema):
    id: int
    name: str = Field(..., alias="model_id")
    experiment: int = Field(..., alias="experiment_id")
    family: str
    params: dict
    state: str
    score: float | None
    score_std: float | None
    test_score: float | None
    fit_seconds: float | None
    predict_ms_per_1k: float | None
    metric: str = Field(..., alias="experiment.metric_name")
    evaluation: dict | None = Field(None, description="Chart data from out-of-fold predictions")
    importance: list[dict] | None = Field(None, description="Permutation importance per column")
    importance_computing: bool = Field(False, description="Whether a worker is measuring the "
                                       "columns the search's budget left out (their importance "
                                       "is null meanwhile)")  # fmt: skip
    fairness: dict | None = Field(
        None, description="The last fairness check asked for: per group of the column's "
        "values, its rows and selection, true and false positive rates and accuracy (error in "
        "regression), with the disparate-impact ratio against the four-fifths rule; or the "
        "question with an error"
    )  # fmt: skip
    fairness_computing: bool = Field(False, description="Whether a worker is measuring it")
    artifact: str = Field(..., description="none, building, ready or failed")
    artifact_error: str
    trained_rows: int | None = Field(
        None, description="Rows the built model trained on (fewer than training_rows when all "
        "of them would have run past the time budget)"
    )  # fmt: skip
    training_rows: int | None = Field(None, description="Training rows there were")
    onnx: dict | None = Field(
        None, description="Its ONNX export, once built: the largest absolute difference between "
        "the graph's answers and the model's (difference) on the rows checked (rows), or what "
        "prevents the export (blocked_by). Download it from /models/{id}/onnx."
    )  # fmt: skip

    @staticmethod
    def resolve_importance_computing(candidate):
        return candidate.importance_since is not None

    @staticmethod
    def resolve_fairness_computing(candidate):
        return candidate.fairness_since is not None


class FairnessIn(Schema):
    column: str = Field(..., description="A column of the dataset with 2 to 50 values, used in "
                        "training or not")  # fmt: skip
    favourable: str | None = Field(None, description="The class whose selection is compared "
                                   "(classification; default the positive class)")  # fmt: skip


@router.post(
    "/experiments",
    response={201: ExperimentDetail, 413: ErrorOut, 422: ErrorOut, 429: ErrorOut},
    summary="Train models on a dataset; the run is queued on a worker",
)
def create_experiment(request, payload: ExperimentIn):
    dataset = Dataset.objects.owned_by(request.user).filter(pk=payload.dataset).first()
    if dataset is None:
        return Status(422, _invalid({"dataset": [f"You have no dataset {payload.dataset}."]}))
    if dataset.status != Dataset.Status.READY:
        message = f"The dataset is {dataset.status}; wait until it is ready."
        return Status(422, _invalid({"dataset": [message]}))
    data = {
        "name": payload.name,
        "target": payload.target,
        "task": payload.task,
        "metric": payload.metric,
        "time_budget": str(payload.time_budget),
        "exclude": payload.exclude,
        "validation": payload.validation.method,
        "n_splits": payload.validation.folds,
        "holdout_size": payload.validation.holdout,
        "time_column": payload.validation.time_column or "",
        "parallelism": payload.parallelism,
        "max_models": payload.max_models,
    }
    keep_test = payload.keep_test
    if keep_test is None:
        keep_test = (dataset.n_rows or 0) >= TEST_MIN_ROWS
    if keep_test:
        data["keep_test"] = "on"
    form = ExperimentForm(dataset, data)
    # Left out, the families default to all; sent empty, the form says one is needed.
    form.data["families"] = (
        payload.families if payload.families is not None else form.fields["families"].initial
    )
    if not form.is_valid():
        return Status(422, _invalid(form.errors))
    return Status(201, form.save(request.user))


# Form fields whose names differ in the API payload.
API_FIELDS = {
    "validation": ["validation", "method"],
    "n_splits": ["validation", "folds"],
    "holdout_size": ["validation", "holdout"],
    "time_column": ["validation", "time_column"],
}


def _invalid(errors: dict) -> dict:
    """The form's errors in the API's error shape, each line naming its field as the payload
    names it."""
    return problems([
        f"{'.'.join(API_FIELDS.get(field, [field]))}: {message}"
        for field, messages in errors.items()
        for message in messages
    ])  # fmt: skip


@router.get("/experiments", response=list[ExperimentOut], summary="Your experiments, newest first")
@paginate(Page)
def list_experiments(request, filters: Query[ExperimentFilters]):
    experiments = search(Experiment.objects.owned_by(request.user), filters.q, *SEARCHED)
    if filters.status:
        experiments = experiments.filter(status=filters.status)
    if filters.dataset:
        experiments = experiments.filter(dataset_id=filters.dataset)
    return experiments


@router.get(
    "/experiments/{experiment_id}",
    response=ExperimentDetail,
    summary="An experiment's status, progress and leaderboard",
)
def get_experiment(request, experiment_id: int):
    return get_owned_or_404(Experiment, request.user, pk=experiment_id)


@router.post(
    "/experiments/{experiment_id}/cancel",
    response=ExperimentDetail,
    summary="Stop a run; models finished so far are kept",
)
def cancel_experiment(request, experiment_id: int):
    experiment = get_owned_or_404(Experiment, request.user, pk=experiment_id)
    experiment.request_cancel()
    return experiment


@router.post(
    "/experiments/{experiment_id}/restart",
    response={200: ExperimentDetail, 409: ErrorOut},
    summary="Send again a run whose worker stopped or whose queued message was lost",
)
def restart_experiment(request, experiment_id: int):
    experiment = get_owned_or_404(Experiment, request.user, pk=experiment_id)
    if not experiment.start_again():
        detail = "This experiment is not stuck: it waits its turn, trains, or has ended."
        return Status(409, {"detail": detail})
    return experiment


@router.delete(
    "/experiments/{experiment_id}",
    response={204: None, 409: ErrorOut},
    summary="Delete an ended experiment and its models",
)
def delete_experiment(request, experiment_id: int):
    experiment = get_owned_or_404(Experiment, request.user, pk=experiment_id)
    blocker = experiment.deletion_blocker()
    if blocker:
        return Status(409, {"detail": blocker})
    experiment.delete()
    return Status(204, None)


@router.get("/models/{model_id}", response=ModelOut, summary="A model: metrics and chart data")
def get_model(request, model_id: int):
    return get_owned_or_404(Candidate, request.user, pk=model_id)


@router.post(
    "/models/{model_id}/build",
    response={202: ModelOut, 409: ErrorOut, 413: ErrorOut, 429: ErrorOut},
    summary="Train a leaderboard model on all rows so it can be downloaded",
)
def build_model(request, model_id: int):
    candidate = get_owned_or_404(Candidate, request.user, pk=model_id)
    if candidate.state != Candidate.State.COMPLETE:
        return Status(409, {"detail": f"This model is {candidate.state}, not finished."})
    candidate.request_build()
    return Status(202, candidate)


@router.post(
    "/models/{model_id}/fairness",
    response={202: ModelOut, 409: ErrorOut, 422: ErrorOut},
    summary="Compare the model's answers across the groups of a column, on a worker",
)
def measure_fairness(request, model_id: int, payload: FairnessIn):
    candidate = get_owned_or_404(Candidate, request.user, pk=model_id)
    busy = candidate.state != Candidate.State.COMPLETE or candidate.fairness_since is not None
    try:
        candidate.measure_fairness(payload.column, payload.favourable)
    except ValueError as err:
        return Status(409 if busy else 422, {"detail": str(err)})
    return Status(202, candidate)


@router.get(
    "/models/{model_id}/artifact",
    response={200: None, 409: ErrorOut},
    summary="Download the model: a zip of the folder that automl.load reads",
    openapi_extra={"responses": {200: {"content": {"application/zip": {}}}}},
)
def download_model(request, model_id: int):
    candidate = get_owned_or_404(Candidate, request.user, pk=model_id)
    if not candidate.is_downloadable:
        return Status(409, {"detail": not_built(candidate)})
    return artifact_response(candidate)


@router.get(
    "/models/{model_id}/onnx",
    response={200: None, 409: ErrorOut},
    summary="Download the model as an ONNX graph, where every step converts",
    openapi_extra={"responses": {200: {"content": {"application/octet-stream": {}}}}},
)
def download_onnx(request, model_id: int):
    candidate = get_owned_or_404(Candidate, request.user, pk=model_id)
    if not candidate.has_onnx:
        if not candidate.is_downloadable:
            detail = not_built(candidate)
        else:
            reason = (candidate.onnx or {}).get("blocked_by", "it was built before ONNX export")
            detail = f"This model has no ONNX export: {reason}."
        return Status(409, {"detail": detail})
    return onnx_response(candidate)


def not_built(candidate: Candidate) -> str:
    return (f"This model's file is {candidate.artifact}: build it first with "
            f"POST /api/v1/models/{candidate.pk}/build.")  # fmt: skip
