"""Quotas: how much each user may store and run at once, so no one fills the disk or the queue.

Defaults come from settings (``QUOTA_STORAGE``, ``QUOTA_EXPERIMENTS``, ``QUOTA_JOBS``); an
administrator changes them per user on the team page. They are checked where a person starts
something (an upload, a launch, a build, a file to score), never when a worker retries a job,
and a refusal names the quota and what to delete.

Storage counts the bytes each row keeps on disk (``disk_bytes``: an upload and its Parquet
copy, a model's folder and zip, a scored file), so usage is one query, not a walk of folders.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Sum

from webapp.lib.files import human_size

STORAGE_ADVICE = (
    "Delete datasets, experiments or scored files you no longer need, or ask an administrator "
    "to raise your quota."
)


class QuotaExceeded(Exception):
    """Something a user started would go past one of their quotas; ``status`` for the API
    (413 for storage, 429 for jobs), the message for people."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Figures:
    storage: int
    experiments: int
    jobs: int


def allowance(user) -> Figures:
    """The user's quotas: the administrator's figures where set, else the defaults."""
    quota = getattr(user, "quota", None)  # the row an administrator made, if any

    def pick(name: str, default: int) -> int:
        value = getattr(quota, name, None) if quota else None
        return default if value is None else value

    return Figures(
        storage=pick("storage", settings.QUOTA_STORAGE),
        experiments=pick("experiments", settings.QUOTA_EXPERIMENTS),
        jobs=pick("jobs", settings.QUOTA_JOBS),
    )


def usage(user) -> Figures:
    """What the user stores, and runs at once, now."""
    from webapp.datasets.models import Dataset
    from webapp.deployments.models import Batch
    from webapp.experiments.models import Candidate, Experiment

    def total(queryset) -> int:
        return queryset.aggregate(n=Sum("disk_bytes"))["n"] or 0

    storage = (
        total(Dataset.objects.filter(owner=user))
        + total(Candidate.objects.filter(experiment__owner=user))
        + total(Batch.objects.filter(deployment__owner=user))
    )
    experiments = Experiment.objects.filter(owner=user, status__in=["queued", "running"]).count()
    jobs = (
        experiments
        + Dataset.objects.filter(owner=user, status__in=["uploaded", "processing"]).count()
        + Candidate.objects.filter(experiment__owner=user, artifact="building").count()
        + Batch.objects.filter(deployment__owner=user, status__in=["queued", "running"]).count()
    )
    return Figures(storage=storage, experiments=experiments, jobs=jobs)


def room(user) -> int:
    """Bytes the user may still store."""
    return max(allowance(user).storage - usage(user).storage, 0)


def storage_refusal(user, incoming: int) -> str | None:
    """Why ``incoming`` more bytes would go past the user's storage quota, or None."""
    limit, used = allowance(user).storage, usage(user).storage
    if used + incoming <= limit:
        return None
    needs = f", and this needs {human_size(incoming)} more" if incoming else ""
    return (
        f"You are using {human_size(used)} of your {human_size(limit)} storage quota{needs}. "
        + STORAGE_ADVICE
    )


def check_storage(user, incoming: int = 0) -> None:
    message = storage_refusal(user, incoming)
    if message:
        raise QuotaExceeded(message, 413)


@contextlib.contextmanager
def new_job(user, *, experiment: bool = False, incoming: int = 0) -> Iterator[None]:
    """Start a job of ``user``'s in the block, within their quotas: jobs at once, experiments
    at once (for an experiment), and storage (a job writes files); ``QuotaExceeded`` past one.

    The check and the block are one transaction with the user's row locked, so requests sent
    at once cannot all slip in under the same count.
    """
    with transaction.atomic():
        get_user_model().objects.select_for_update().get(pk=user.pk)
        _check(user, experiment=experiment, incoming=incoming)
        yield


def _check(user, *, experiment: bool, incoming: int) -> None:
    limits, used = allowance(user), usage(user)
    if experiment and used.experiments >= limits.experiments:
        raise QuotaExceeded(
            f"You already have {used.experiments} experiment(s) running or queued, the most "
            "your quota of experiments at once allows. Wait for one to finish or cancel it, "
            "or ask an administrator to raise your quota.",
            429,
        )
    if used.jobs >= limits.jobs:
        raise QuotaExceeded(
            f"You already have {used.jobs} jobs waiting or running (files being read, "
            "experiments, models being built, files being scored), the most your quota of "
            "jobs at once allows. Wait for some to finish, or ask an administrator to raise "
            "your quota.",
            429,
        )
    check_storage(user, incoming)
