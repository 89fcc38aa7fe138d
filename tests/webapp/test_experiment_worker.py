"""Training on real workers through real Redis: a run to the end, and runs whose worker dies.

A killed pool process gets its task back at once (late acks, reject on worker lost) and the
run starts again; a killed whole worker leaves its task unacknowledged until the visibility
timeout, so the reaper, which Celery beat runs, re-queues the run for another worker.
"""

import os
import signal
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from tests.webapp.workers import kill_whole, own_worker, pool_processes
from webapp.celery_app import app as celery_app
from webapp.datasets.models import Dataset
from webapp.datasets.tasks import ingest_dataset
from webapp.experiments import tasks
from webapp.experiments.models import Experiment

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.django_db(transaction=True)]
CUSTOMERS = Path(__file__).resolve().parents[1] / "data" / "customers.csv"


@pytest.fixture
def dataset(django_user_model, monkeypatch):
    owner = django_user_model.objects.create_user("ada")
    with monkeypatch.context() as patch:
        patch.setattr(
            ingest_dataset, "apply_async", lambda *a, **k: None
        )  # ingested right here instead
        dataset = Dataset.create_from_upload(
            owner, SimpleUploadedFile("customers.csv", CUSTOMERS.read_bytes())
        )
    ingest_dataset(dataset.pk)
    dataset.refresh_from_db()
    return dataset


def new_experiment(dataset, budget: int, owner=None) -> Experiment:
    return Experiment.objects.create(
        owner=owner or dataset.owner, dataset=dataset, target="churned", time_budget=budget,
        families=["linear", "random_forest", "hist_gradient_boosting"], n_splits=3,
    )  # fmt: skip


def wait(experiment: Experiment, done, timeout: float) -> Experiment:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        experiment.refresh_from_db()
        if done(experiment):
            return experiment
        time.sleep(0.1)
    return experiment


def ended(experiment) -> bool:
    return not experiment.is_active


def test_a_run_on_the_worker_grows_the_leaderboard_to_the_end(dataset, celery_worker):
    experiment = new_experiment(dataset, budget=10)
    launched = time.monotonic()
    experiment.launch()
    wait(experiment, lambda e: e.candidates.exists(), 60)
    first_row = time.monotonic() - launched
    assert experiment.status == "running" and first_row < 30
    wait(experiment, ended, 90)
    assert experiment.status == "finished", experiment.error
    assert experiment.n_trials == experiment.candidates.count() >= 3
    assert experiment.best and experiment.best.artifact == "ready"
    assert experiment.elapsed < 10 * 1.5 + 10  # budget, refit and importance, plus start-up


def test_a_killed_pool_process_restarts_the_run(dataset, celery_worker):
    experiment = new_experiment(dataset, budget=12)
    experiment.launch()
    wait(experiment, lambda e: e.n_trials >= 1, 60)
    assert experiment.status == "running"
    for pid in pool_processes(celery_worker.training.pid):
        os.kill(pid, signal.SIGKILL)
    wait(experiment, ended, 120)
    assert experiment.status == "finished", experiment.error
    assert experiment.attempts == 2
    assert celery_worker.poll() is None


def test_a_killed_worker_is_reaped_and_the_run_finishes_elsewhere(
    dataset, celery_worker, redis_url
):
    # A worker of its own, on its own queue, so the suite's worker cannot take the run first.
    with own_worker(redis_url, "training", "doomed") as doomed:
        experiment = new_experiment(dataset, budget=20)
        experiment.task_id = "doomed-run"
        experiment.save()
        tasks.train_experiment.apply_async((experiment.pk,), task_id="doomed-run", queue="doomed")
        wait(experiment, lambda e: e.n_trials >= 1, 90)
        assert experiment.status == "running" and experiment.runner
        kill_whole(doomed)

    # A killed process takes a moment to be gone; the reaper comes a minute later in real life.
    deadline = time.monotonic() + 30
    while not experiment.runner_lost() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert experiment.runner_lost(), experiment.runner
    # Nothing will beat again: as the heartbeat goes stale, the reaper (beat's job) steps in.
    Experiment.objects.filter(pk=experiment.pk).update(
        heartbeat=timezone.now() - timedelta(seconds=settings.HEARTBEAT_TIMEOUT + 1)
    )
    tasks.reap_experiments()
    experiment.refresh_from_db()
    assert experiment.status in ("queued", "running") and experiment.task_id != "doomed-run"
    wait(experiment, ended, 120)
    assert experiment.status == "finished", experiment.error
    assert experiment.attempts == 2


def test_beat_runs_the_reapers():
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert scheduled == {
        "webapp.experiments.tasks.reap_experiments",
        "webapp.datasets.tasks.reap_datasets",
        "webapp.deployments.tasks.reap_batches",
    }
    celery_app.loader.import_default_modules()
    assert scheduled <= set(celery_app.tasks)


def test_a_small_upload_is_read_while_a_run_trains(dataset, celery_worker):
    experiment = new_experiment(dataset, budget=60)
    experiment.launch()
    wait(experiment, lambda e: e.n_trials >= 1, 60)
    assert experiment.status == "running"
    upload = Dataset.create_from_upload(
        dataset.owner, SimpleUploadedFile("small.csv", b"a,b\n1,x\n2,y\n3,z\n")
    )
    ready = wait(upload, lambda d: d.status in ("ready", "failed"), 30)
    experiment.refresh_from_db()
    # Read on the short queue's worker, not after the run: the run still trains.
    assert ready.status == "ready" and experiment.status == "running"
    experiment.request_cancel()
    wait(experiment, ended, 60)


def test_one_training_worker_takes_another_persons_first_run_before_a_second(
    dataset, celery_worker, redis_url, django_user_model, monkeypatch
):
    send = tasks.train_experiment.apply_async

    def to_fair(*args, **options):
        return send(*args, **{**options, "queue": "fair"})

    monkeypatch.setattr(tasks.train_experiment, "apply_async", to_fair)
    bo = django_user_model.objects.create_user("bo")
    # One training process of its own, on a queue of its own: the order is the broker's alone.
    with own_worker(redis_url, "training", "fair", "--concurrency", "1"):
        first = new_experiment(dataset, budget=8)
        first.launch()
        wait(first, lambda e: e.status == "running", 90)
        second, bos = new_experiment(dataset, budget=8), new_experiment(dataset, 8, owner=bo)
        second.launch()
        bos.launch()  # later, but bo's first
        for experiment in (first, second, bos):
            wait(experiment, ended, 120)
            assert experiment.status == "finished", experiment.error
        assert first.started < bos.started < second.started
