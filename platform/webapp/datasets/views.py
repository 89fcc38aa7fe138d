from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from automl.kinds import KINDS
from webapp.datasets.forms import DialectForm
from webapp.datasets.models import Dataset
from webapp.lib.ownership import get_owned_or_404
from webapp.lib.uploads import limit_message, too_large

KIND_CHOICES = [*KINDS, "excluded"]


@login_required
def index(request):
    datasets = Dataset.objects.owned_by(request.user)
    return render(request, "datasets/index.html", {"datasets": datasets})


@login_required
@require_POST
def upload(request):
    """Takes the upload form, posted by the page's script (JSON answers) or without it."""
    wants_json = request.headers.get("Accept", "").startswith("application/json")
    error, status = None, 400
    files = request.FILES  # parsing the body is what sets too_large
    if too_large(request):
        error, status = limit_message(), 413
    elif "file" not in files:
        error = "Choose a file to upload."
    else:
        try:
            dataset = Dataset.create_from_upload(
                request.user, files["file"], request.POST.get("name", "").strip()
            )
        except ValueError as err:
            error = str(err)
    if error:
        if wants_json:
            return JsonResponse({"error": error}, status=status)
        messages.error(request, error)
        return redirect("datasets:index")
    url = reverse("datasets:detail", args=[dataset.pk])
    if wants_json:
        return JsonResponse({"id": dataset.pk, "url": url}, status=201)
    return redirect(url)


@login_required
def detail(request, dataset_id: int):
    dataset = get_owned_or_404(Dataset, request.user, pk=dataset_id)
    context = {
        "dataset": dataset,
        "columns": dataset.columns(),
        "kind_choices": KIND_CHOICES,
        "dialect_form": DialectForm(initial=dataset.dialect or {}),
        "suggested_targets": _suggested_targets(dataset),
    }
    # While ingestion runs, the page polls this view for its body alone.
    if request.htmx and request.htmx.target == "dataset-body":
        return render(request, "datasets/_body.html", context)
    return render(request, "datasets/detail.html", context)


@login_required
@require_POST
def set_kind(request, dataset_id: int):
    dataset = get_owned_or_404(Dataset, request.user, pk=dataset_id, status=Dataset.Status.READY)
    column, kind = request.POST.get("column", ""), request.POST.get("kind", "")
    names = {c["name"]: c for c in dataset.profile["columns"]}
    if column not in names or kind not in KIND_CHOICES:
        return HttpResponse("Unknown column or kind.", status=400)
    if kind == names[column]["kind"]:
        dataset.kinds.pop(column, None)
    else:
        dataset.kinds[column] = kind
    dataset.save(update_fields=["kinds", "updated"])
    if dataset.target:
        _analyse_target(dataset)
    return redirect("datasets:detail", dataset.pk)


@login_required
@require_POST
def set_target(request, dataset_id: int):
    dataset = get_owned_or_404(Dataset, request.user, pk=dataset_id, status=Dataset.Status.READY)
    target = request.POST.get("target", "")
    if target and target not in {c["name"] for c in dataset.profile["columns"]}:
        return HttpResponse("Unknown column.", status=400)
    dataset.target = target
    dataset.target_profile = None
    dataset.save(update_fields=["target", "target_profile", "updated"])
    if target:
        _analyse_target(dataset)
    return redirect("datasets:detail", dataset.pk)


@login_required
@require_POST
def reingest(request, dataset_id: int):
    dataset = get_owned_or_404(Dataset, request.user, pk=dataset_id)
    if "delimiter" not in request.POST:  # "Start again": detect the options afresh
        dataset.reingest(None)
        return redirect("datasets:detail", dataset.pk)
    form = DialectForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Check the reading options: " + form.errors.as_text())
        return redirect("datasets:detail", dataset.pk)
    dataset.reingest(form.cleaned_data or None)
    messages.success(request, "Reading the file again with these options.")
    return redirect("datasets:detail", dataset.pk)


@login_required
@require_POST
def delete(request, dataset_id: int):
    dataset = get_owned_or_404(Dataset, request.user, pk=dataset_id)
    dataset.delete()
    messages.success(request, f"Dataset “{dataset.name}” and its files were deleted.")
    return redirect("datasets:index")


def _analyse_target(dataset: Dataset) -> None:
    from django.db import transaction

    from webapp.datasets.tasks import profile_target

    transaction.on_commit(lambda: profile_target.delay(dataset.pk))


def _suggested_targets(dataset: Dataset) -> list[str]:
    if not dataset.profile:
        return []
    from automl.profiling import suggest_targets

    return suggest_targets(dataset.profile["columns"])
