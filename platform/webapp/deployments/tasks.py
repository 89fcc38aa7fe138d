"""Batch scoring on a worker. Like every task here it takes an id and trusts the row: a
redelivered message finds the batch finished or failed and does nothing."""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from automl import AutoMLError
from webapp.deployments import batch as batch_scoring
from webapp.deployments.models import Batch

logger = logging.getLogger(__name__)

INTERNAL_ERROR = "Something went wrong on our side while scoring the file; it has been logged."


@shared_task
def score_batch(batch_id: int) -> None:
    batch = Batch.objects.select_related("version__candidate").filter(pk=batch_id).first()
    if batch is None or not batch.claim():
        return
    try:
        batch_scoring.score(batch)
    except AutoMLError as err:
        batch.fail(str(err))
    except Exception:
        logger.exception("Scoring batch %s failed", batch_id)
        batch.fail(INTERNAL_ERROR)


@shared_task
def reap_batches() -> None:
    """Score again, once, or fail batches whose worker stopped (beat runs this)."""
    stalled = Batch.objects.filter(
        status=Batch.Status.RUNNING, updated__lt=timezone.now() - Batch.STALLED_AFTER
    )
    for batch in stalled:
        with transaction.atomic():  # look again under a lock: it may have ended since
            row = Batch.objects.select_for_update().filter(pk=batch.pk).first()
            if row and row.status == Batch.Status.RUNNING and row.updated == batch.updated:
                logger.warning("Batch %s stalled while scoring; its worker is lost", row.pk)
                row.requeue_or_fail()
