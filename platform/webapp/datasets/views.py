from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from webapp.accounts.quotas import QuotaExceeded
from webapp.datasets.forms import DialectForm
from webapp.datasets.models import IN_USE, KIND_CHOICES, Dataset
from webapp.lib.ownership import get_owned_or_404
from webapp.lib.pages import listing
from webapp.lib.uploads import upload_refusal


@login_required
def index(request):
    datasets = Dataset.objects.owned_by(request.user)
    return render(request, "datasets/index.html", listing(request, datasets, "name"))


@login_required
@require_POST
def upload(request):
    """Takes the upload form, posted by the page's script (JSON answers) or without it."""
    wants_json = request.headers.get("Accept", "").startswith("application/json")
    error, status = None, 400
    files = request.FILES  # parsing the body is what sets the upload's refusal
    refusal = upload_refusal(request)
    if refusal:
        status, error = refusal
    elif "file" not in files:
        error = "Choose a file to upload."
    else:
        try:
            dataset = Dataset.create_from_upload(
                request.user, files["file"], request.POST.get("name", "").strip()
            )
        except ValueError as err:
            error = str(err)
        except QuotaExceeded as err:
            error, status = str(err), err.status
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
        "suggested_targets": dataset.suggested_targets(),
    }
    # While ingestion runs, the page polls this view for its body alone.
    if request.htmx and request.htmx.target == "dataset-body":
        return render(request, "datasets/_body.html", context)
    return render(request, "datasets/detail.html", context)


@login_required
@require_POST
def set_kind(request, dataset_id: int):
    dataset = get_owned_or_404(Dataset, request.user, pk=dataset_id, status=Dataset.Status.READY)
    try:
        dataset.correct_kinds({request.POST.get("column", ""): request.POST.get("kind", "")})
    except ValueError as err:
        return HttpResponse(str(err), status=400)
    return redirect("datasets:detail", dataset.pk)


@login_required
@require_POST
def set_keep(request, dataset_id: int):
    """A check's "use it anyway" (``keep=1``) or "follow the check" (``keep=0``) button."""
    dataset = get_owned_or_404(Dataset, request.user, pk=dataset_id, status=Dataset.Status.READY)
    columns = request.POST.getlist("column")
    wanted = set(dataset.keep) | set(columns)
    if request.POST.get("keep") == "0":
        wanted = set(dataset.keep) - set(columns)
    try:
        dataset.set_keep(sorted(wanted))
    except ValueError as err:
        return HttpResponse(str(err), status=400)
    return redirect("datasets:detail", dataset.pk)


@login_required
@require_POST
def set_target(request, dataset_id: int):
    dataset = get_owned_or_404(Dataset, request.user, pk=dataset_id, status=Dataset.Status.READY)
    try:
        dataset.choose_target(request.POST.get("target", ""))
    except ValueError as err:
        return HttpResponse(str(err), status=400)
    return redirect("datasets:detail", dataset.pk)


@login_required
@require_POST
def reingest(request, dataset_id: int):
    dataset = get_owned_or_404(Dataset, request.user, pk=dataset_id)
    if dataset.in_use:
        messages.error(request, IN_USE)
        return redirect("datasets:detail", dataset.pk)
    form = DialectForm(request.POST)
    # "Start again" sends no options: they are detected afresh.
    with_options = "delimiter" in request.POST
    if with_options and not form.is_valid():
        messages.error(request, "Check the reading options: " + form.errors.as_text())
        return redirect("datasets:detail", dataset.pk)
    try:
        dataset.reingest(form.cleaned_data or None if with_options else None)
    except (ValueError, QuotaExceeded) as err:
        messages.error(request, str(err))
        return redirect("datasets:detail", dataset.pk)
    if with_options:
        messages.success(request, "Reading the file again with these options.")
    return redirect("datasets:detail", dataset.pk)


@login_required
@require_POST
def delete(request, dataset_id: int):
    dataset = get_owned_or_404(Dataset, request.user, pk=dataset_id)
    blocker = dataset.deletion_blocker()
    if blocker:
        messages.error(request, blocker)
        return redirect("datasets:detail", dataset.pk)
    dataset.delete()
    messages.success(request, f"Dataset “{dataset.name}” and its files were deleted.")
    return redirect("datasets:index")
