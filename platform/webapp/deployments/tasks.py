"""Batch scoring on a worker. Like every task here it takes an id and trusts the row (a job,
see ``webapp.lib.jobs``): a redelivered message finds the batch finished or failed and does
nothing."""

from __future__ import annotations

from celery import shared_task

from webapp.deployments import batch as batch_scoring
from webapp.deployments.models import Batch
from webapp.lib.files import sweep
from webapp.lib.jobs import reap, running

INTERNAL_ERROR = "Something went wrong on our side while scoring the file; it has been logged."


@shared_task
def score_batch(batch_id: int) -> None:
    batch = Batch.objects.select_related("version__candidate").filter(pk=batch_id).first()
    if batch is None or not batch.claim():
        return
    with running(batch, INTERNAL_ERROR):
        batch_scoring.score(batch)


@shared_task
def reap_batches() -> None:
    """Score again, once, or fail batches whose worker stopped, and remove what stopped
    processes left on disk (beat runs this)."""
    reap(Batch)
    sweep(Batch.directory_root(), Batch)
