"""Every best model shows its column importance: what the search's budget left unmeasured is
measured afterwards on a worker, and the model page says so meanwhile."""

from datetime import timedelta

import pandas as pd
from django.urls import reverse
from django.utils import timezone

from automl import load
from webapp.experiments.models import Candidate
from webapp.experiments.tasks import reap_experiments, save_model


def test_columns_left_unmeasured_are_measured_after_the_run(client, finished):
    best = finished.best
    model = load(best.artifact_path)
    measured = model.info["importance"]
    assert all(row["importance"] is not None for row in measured)
    # As when the budget ran out: the last columns were not reached.
    partial = [*measured[:2], *({**row, "importance": None, "std": None} for row in measured[2:])]
    Candidate.objects.filter(pk=best.pk).update(importance=partial, importance_since=timezone.now())
    page = client.get(reverse("experiments:model", args=[best.pk])).content.decode()
    assert 'id="importance-computing"' in page and 'hx-trigger="every 2s"' in page
    assert client.get(f"/api/v1/models/{best.pk}").json()["importance_computing"] is True

    model.info["importance"] = partial
    examples = pd.read_parquet(finished.dataset.parquet_path)
    save_model(best, model, examples)  # sends the measuring job, run here (eager, no transaction)
    best.refresh_from_db()
    assert best.importance_since is None and not best.importance_incomplete
    assert {row["column"] for row in best.importance} == {row["column"] for row in measured}
    page = client.get(reverse("experiments:model", args=[best.pk])).content.decode()
    assert 'id="importance-computing"' not in page
    assert client.get(f"/api/v1/models/{best.pk}").json()["importance_computing"] is False


def test_an_importance_job_that_never_ends_is_given_up(finished, settings):
    long_ago = timezone.now() - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 120)
    Candidate.objects.filter(pk=finished.best_id).update(importance_since=long_ago)
    reap_experiments()
    assert Candidate.objects.get(pk=finished.best_id).importance_since is None
