from __future__ import annotations

import math
from pathlib import Path

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.staticfiles import finders
from django.http import FileResponse, Http404, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_POST

from automl import AutoMLError
from webapp.accounts.quotas import QuotaExceeded
from webapp.datasets.models import Dataset
from webapp.experiments.forms import ExperimentForm
from webapp.experiments.models import SEARCHED, SORT_KEYS, Candidate, Experiment
from webapp.lib.ownership import get_owned_or_404
from webapp.lib.pages import listing
from webapp.lib.spreadsheets import ENCODING, neutralised

# Most models shown side by side on the compare page.
MAX_COMPARED = 6
# Leaderboard rows a report lists.
REPORTED_MODELS = 20


@login_required
def index(request):
    experiments = Experiment.objects.owned_by(request.user).select_related("dataset", "best")
    found = listing(request, experiments, *SEARCHED)
    return render(request, "experiments/index.html", found)


@login_required
def new(request, dataset_id: int):
    dataset = get_owned_or_404(Dataset, request.user, pk=dataset_id)
    if dataset.status != Dataset.Status.READY:
        messages.error(request, "This dataset is not ready yet: wait until it has been read.")
        return redirect("datasets:detail", dataset.pk)
    form = ExperimentForm(dataset, request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            experiment = form.save(request.user)
        except QuotaExceeded as err:
            form.add_error(None, str(err))
        else:
            return redirect("experiments:detail", experiment.pk)
    return render(request, "experiments/new.html", {"dataset": dataset, "form": form})


@login_required
def detail(request, experiment_id: int):
    experiment = get_owned_or_404(Experiment, request.user, pk=experiment_id)
    sort = request.GET.get("sort", "rank")
    within, within_error = _tolerance(request.GET.get("within"))
    leaderboard = experiment.leaderboard(sort)
    context = {
        "experiment": experiment,
        "leaderboard": leaderboard,
        "sort": sort if sort in SORT_KEYS else "rank",
        "within": experiment.default_tolerance() if within is None else within,
        "within_error": within_error,
    }
    if experiment.status == Experiment.Status.FINISHED:
        context["choices"] = experiment.choices(within, leaderboard)
    # While the run is live, the page polls this view for its body alone.
    if request.htmx and request.htmx.target == "experiment-body":
        return render(request, "experiments/_body.html", context)
    return render(request, "experiments/detail.html", context)


def _tolerance(text: str | None) -> tuple[float | None, str]:
    """The tolerance the page was asked for (None: the default), and what is wrong with it."""
    if not text:
        return None, ""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        return None, "The tolerance must be a number, 0 or more, in the metric's units."
    return value, ""


@login_required
@require_POST
def cancel(request, experiment_id: int):
    experiment = get_owned_or_404(Experiment, request.user, pk=experiment_id)
    if experiment.is_active:
        experiment.request_cancel()
        messages.success(request, "Stopping the run; every model finished so far is kept.")
    return redirect("experiments:detail", experiment.pk)


@login_required
@require_POST
def restart(request, experiment_id: int):
    experiment = get_owned_or_404(Experiment, request.user, pk=experiment_id)
    if experiment.start_again():
        messages.success(request, "Sent again: it starts when a training worker is free.")
    return redirect("experiments:detail", experiment.pk)


@login_required
@require_POST
def delete(request, experiment_id: int):
    experiment = get_owned_or_404(Experiment, request.user, pk=experiment_id)
    blocker = experiment.deletion_blocker()
    if blocker:
        messages.error(request, blocker)
        return redirect("experiments:detail", experiment.pk)
    experiment.delete()
    messages.success(request, f"Experiment “{experiment.name}” and its models were deleted.")
    return redirect("experiments:index")


@login_required
def model(request, candidate_id: int):
    candidate = get_owned_or_404(Candidate, request.user, pk=candidate_id)
    context = {"candidate": candidate, "experiment": candidate.experiment}
    if request.htmx and request.htmx.target == "model-artifact":
        return render(request, "experiments/_artifact.html", context)
    return render(request, "experiments/model.html", context)


@login_required
@require_POST
def build(request, candidate_id: int):
    candidate = get_owned_or_404(Candidate, request.user, pk=candidate_id)
    try:
        candidate.request_build()
    except QuotaExceeded as err:
        messages.error(request, str(err))
    return redirect("experiments:model", candidate.pk)


@login_required
@require_POST
def fairness(request, candidate_id: int):
    candidate = get_owned_or_404(Candidate, request.user, pk=candidate_id)
    try:
        candidate.measure_fairness(request.POST.get("column", ""), request.POST.get("favourable"))
    except ValueError as err:
        messages.error(request, str(err))
    return redirect(reverse("experiments:model", args=[candidate.pk]) + "#fairness")


@login_required
def report(request, candidate_id: int):
    """The model's report: one HTML file with its styles inside, which opens and prints
    without the server or a network."""
    candidate = get_owned_or_404(Candidate, request.user, pk=candidate_id)
    if candidate.state != Candidate.State.COMPLETE:
        raise Http404("Only a finished model has a report.")
    experiment = candidate.experiment
    context = {
        "candidate": candidate,
        "experiment": experiment,
        "leaderboard": [c for c in experiment.leaderboard() if c.rank][:REPORTED_MODELS],
        "schema": _schema(candidate),
        "styles": Path(finders.find("css/app.css")).read_text(encoding="utf-8"),
        "generated": timezone.now(),
    }
    response = render(request, "experiments/report.html", context)
    name = f"{experiment.name}-{candidate.model_id}-report.html"
    response["Content-Disposition"] = content_disposition_header(True, name)
    return response


def _schema(candidate: Candidate) -> list[dict] | None:
    """The columns a deployment of the model takes, once it is built."""
    from automl import read_manifest
    from webapp.deployments.models import input_schema  # deployments build on experiments

    if candidate.artifact != Candidate.Artifact.READY:
        return None
    try:
        return input_schema(candidate, read_manifest(candidate.artifact_path))
    except (OSError, AutoMLError):  # removed or damaged since: the report goes without it
        return None


@login_required
def artifact(request, candidate_id: int):
    candidate = get_owned_or_404(Candidate, request.user, pk=candidate_id)
    if not candidate.is_downloadable:
        raise Http404("This model has not been built yet.")
    return artifact_response(candidate)


@login_required
def onnx(request, candidate_id: int):
    candidate = get_owned_or_404(Candidate, request.user, pk=candidate_id)
    if not candidate.has_onnx:
        raise Http404("This model has no ONNX export.")
    return onnx_response(candidate)


def onnx_response(candidate: Candidate) -> FileResponse:
    """The model's ONNX graph as a download named after its experiment."""
    name = f"{candidate.experiment.name}-{candidate.model_id}.onnx"
    return FileResponse(candidate.onnx_path.open("rb"), as_attachment=True, filename=name,
                        content_type="application/octet-stream")  # fmt: skip


def artifact_response(candidate: Candidate) -> FileResponse:
    """The model's zip as a download named after its experiment."""
    name = f"{candidate.experiment.name}-{candidate.model_id}.zip"
    return FileResponse(candidate.archive_path.open("rb"), as_attachment=True, filename=name)


@login_required
def leaderboard_csv(request, experiment_id: int):
    """The leaderboard as a CSV file for a spreadsheet: every candidate, best first, with no
    cell a spreadsheet would run as a formula (model names and errors come from data)."""
    import json

    import pandas as pd

    from automl import family_title

    experiment = get_owned_or_404(Experiment, request.user, pk=experiment_id)
    metric = experiment.metric_name
    rows = [
        {
            "rank": c.rank, "model": c.model_id, "family": family_title(c.family),
            "state": c.state, f"{metric} (validation)": c.score,
            f"{metric} (spread across folds)": c.score_std, f"{metric} (test)": c.test_score,
            "fit seconds": c.fit_seconds, "predict ms per 1,000 rows": c.predict_ms_per_1k,
            "settings": json.dumps(c.params, sort_keys=True), "error": c.error,
        }
        for c in experiment.leaderboard()
    ]  # fmt: skip
    table = neutralised(pd.DataFrame(rows, columns=list(rows[0]) if rows else ["rank"]))
    response = HttpResponse(
        table.to_csv(index=False).encode(ENCODING), content_type="text/csv; charset=utf-8"
    )
    name = f"{experiment.name}-leaderboard.csv"
    response["Content-Disposition"] = content_disposition_header(True, name)
    return response


@login_required
def compare(request, experiment_id: int):
    experiment = get_owned_or_404(Experiment, request.user, pk=experiment_id)
    ids = set(request.GET.getlist("models"))
    if not 2 <= len(ids) <= MAX_COMPARED or not all(i.isascii() and i.isdigit() for i in ids):
        return HttpResponseBadRequest(
            f"Pick between 2 and {MAX_COMPARED} models of the leaderboard to compare."
        )
    chosen = list(experiment.candidates.filter(pk__in=ids, state=Candidate.State.COMPLETE))
    if len(chosen) != len(ids):
        raise Http404("Some of these models are not finished models of this experiment.")
    ranks = {c.pk: c.rank for c in experiment.leaderboard()}
    for candidate in chosen:
        candidate.rank = ranks[candidate.pk]
    chosen.sort(key=lambda c: c.rank)
    return render(
        request, "experiments/compare.html", {"experiment": experiment, "candidates": chosen}
    )
