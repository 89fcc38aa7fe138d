from __future__ import annotations

import json

import redis
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from webapp.accounts.quotas import QuotaExceeded
from webapp.deployments import monitoring
from webapp.deployments.models import Batch, Deployment, DeploymentKey
from webapp.deployments.serving import wants_reasons
from webapp.experiments.models import Candidate
from webapp.lib.ownership import get_owned_or_404
from webapp.lib.pages import listing
from webapp.lib.uploads import upload_refusal

# Batches listed on a deployment's page; older ones stay reachable through the API.
BATCHES_SHOWN = 10
MAX_RATE = 1_000_000


@login_required
def index(request):
    deployments = Deployment.objects.owned_by(request.user).select_related("current__candidate")
    return render(request, "deployments/index.html", listing(request, deployments, "slug", "name"))


@login_required
@require_POST
def create(request, candidate_id: int):
    candidate = get_owned_or_404(Candidate, request.user, pk=candidate_id)
    try:
        deployment, key = Deployment.create_for(request.user, candidate)
    except ValueError as err:
        messages.error(request, str(err))
        return redirect("experiments:model", candidate.pk)
    # Shown once, after a redirect, so a reload cannot make another deployment.
    request.session["new_key"] = {"slug": deployment.slug, "key": key}
    return redirect("deployments:detail", deployment.slug)


def _monitoring(deployment) -> dict:
    try:
        return monitoring.report(deployment)
    except redis.RedisError:
        return {"error": "Monitoring is unavailable: Redis cannot be reached."}


@login_required
def detail(request, slug: str):
    deployment = get_owned_or_404(Deployment, request.user, slug=slug)
    if request.htmx and request.htmx.target == "monitoring":
        context = {"deployment": deployment, "monitoring": _monitoring(deployment)}
        return render(request, "deployments/_monitoring.html", context)
    if request.htmx and request.htmx.target == "batches":
        return render(request, "deployments/_batches.html", _batches(deployment))
    new_key = request.session.pop("new_key", None)
    if new_key and new_key["slug"] != slug:
        new_key = None
    version = deployment.current
    example = version.example() if version else {}
    endpoint = request.build_absolute_uri(reverse("api:predict", kwargs={"slug": slug}))
    experiment = version.candidate.experiment if version else None
    context = {
        "deployment": deployment,
        "version": version,
        "versions": deployment.versions.select_related("candidate"),
        "keys": deployment.keys.all(),
        "default_rate": settings.PREDICT_RATE_LIMIT,
        "new_key": new_key,
        "endpoint": endpoint,
        "example_json": json.dumps(example, indent=2, ensure_ascii=False),
        "example_compact": json.dumps(example, ensure_ascii=False),
        "monitoring": _monitoring(deployment),
        **_batches(deployment),
        "built_models": experiment.candidates.filter(artifact=Candidate.Artifact.READY)
        if experiment
        else [],
    }
    return render(request, "deployments/detail.html", context)


def _batches(deployment) -> dict:
    batches = list(deployment.batches.select_related("version")[:BATCHES_SHOWN])
    return {
        "deployment": deployment,
        "batches": batches,
        "batches_active": any(b.is_active for b in batches),
    }


@login_required
@require_POST
def create_batch(request, slug: str):
    deployment = get_owned_or_404(Deployment, request.user, slug=slug)
    files = request.FILES  # parsing the body is what sets the upload's refusal
    refusal = upload_refusal(request)
    if refusal:
        messages.error(request, refusal[1])
    elif "file" not in files:
        messages.error(request, "Choose a file to score.")
    else:
        try:
            batch = Batch.create_from_upload(deployment, files["file"],
                                             reasons=wants_reasons(request))  # fmt: skip
        except (ValueError, QuotaExceeded) as err:
            messages.error(request, str(err))
        else:
            messages.success(request, f"“{batch.filename}” is being scored.")
    return redirect(reverse("deployments:detail", args=[slug]) + "#batches")


def result_response(batch: Batch) -> FileResponse:
    """The scored file as a download named after the uploaded one."""
    return FileResponse(
        batch.result_path.open("rb"), as_attachment=True, filename=batch.result_name,
        content_type="text/csv; charset=utf-8",
    )  # fmt: skip


@login_required
def batch_result(request, slug: str, batch_id: int):
    deployment = get_owned_or_404(Deployment, request.user, slug=slug)
    batch = get_object_or_404(deployment.batches, pk=batch_id, status=Batch.Status.FINISHED)
    return result_response(batch)


@login_required
@require_POST
def delete_batch(request, slug: str, batch_id: int):
    deployment = get_owned_or_404(Deployment, request.user, slug=slug)
    deployment.batches.filter(pk=batch_id).delete()
    return redirect(reverse("deployments:detail", args=[slug]) + "#batches")


@login_required
@require_POST
def restart_batch(request, slug: str, batch_id: int):
    deployment = get_owned_or_404(Deployment, request.user, slug=slug)
    batch = deployment.batches.filter(pk=batch_id).first()
    if batch is not None and batch.start_again():
        messages.success(request, f"{batch.filename} is sent again to be scored.")
    return redirect(reverse("deployments:detail", args=[slug]) + "#batches")


@login_required
@require_POST
def add_version(request, slug: str):
    deployment = get_owned_or_404(Deployment, request.user, slug=slug)
    candidate = get_owned_or_404(Candidate, request.user, pk=request.POST.get("model") or 0)
    try:
        version = deployment.deploy(candidate)
    except ValueError as err:
        messages.error(request, str(err))
    else:
        messages.success(request, f"Version {version.number} ({candidate.model_id}) now answers.")
    return redirect("deployments:detail", slug)


@login_required
@require_POST
def rollback(request, slug: str, number: int):
    deployment = get_owned_or_404(Deployment, request.user, slug=slug)
    try:
        deployment.rollback(number)
    except ValueError as err:
        messages.error(request, str(err))
    else:
        messages.success(request, f"Version {number} answers again.")
    return redirect("deployments:detail", slug)


@login_required
@require_POST
def set_status(request, slug: str):
    deployment = get_owned_or_404(Deployment, request.user, slug=slug)
    paused = request.POST.get("status") == Deployment.Status.PAUSED
    deployment.set_status(Deployment.Status.PAUSED if paused else Deployment.Status.ACTIVE)
    return redirect("deployments:detail", slug)


@login_required
@require_POST
def create_key(request, slug: str):
    deployment = get_owned_or_404(Deployment, request.user, slug=slug)
    name = request.POST.get("name", "").strip()[:100] or "key"
    scope = request.POST.get("scope", DeploymentKey.Scope.PREDICT)
    rate = request.POST.get("rate_limit", "").strip()
    is_number = rate.isascii() and rate.isdigit() and int(rate) <= MAX_RATE
    if scope not in DeploymentKey.Scope.values or not (rate == "" or is_number):
        messages.error(request, "Choose what the key may do, and a whole number of requests.")
        return redirect(reverse("deployments:detail", args=[slug]) + "#keys")
    rate_limit = int(rate) if rate else None
    _, key = DeploymentKey.issue(deployment, name, scope=scope, rate_limit=rate_limit)
    request.session["new_key"] = {"slug": slug, "key": key}
    return redirect("deployments:detail", slug)


@login_required
@require_POST
def revoke_key(request, slug: str, key_id: int):
    deployment = get_owned_or_404(Deployment, request.user, slug=slug)
    key = deployment.keys.filter(pk=key_id).first()
    if key:
        key.revoke()
        messages.success(request, f"Key {key.prefix}… revoked: programs using it are refused.")
    return redirect("deployments:detail", slug)


@login_required
@require_POST
def delete(request, slug: str):
    deployment = get_owned_or_404(Deployment, request.user, slug=slug)
    deployment.delete()
    messages.success(request, f"Deployment “{slug}” deleted: its endpoint answers 404.")
    return redirect("deployments:index")
