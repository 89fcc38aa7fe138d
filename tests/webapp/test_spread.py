"""One experiment over several training workers, through real Redis and real workers.

Each worker here is started as a separate machine's would be: its own node name and temporary
folder, sharing only Redis, the database and the data volume. They serve a queue of their
own (TRAINING_QUEUE in their environment), so the suite's workers never take their tasks.
"""

import contextlib
import json
import os
import signal
import time
from datetime import timedelta

import numpy as np
import optuna
import pandas as pd
import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from automl.study import Workdir, close_storage, open_storage
from tests.automl.test_parallel import trains_a_candidate
from tests.webapp.test_experiment_worker import dataset, ended, new_experiment, wait  # noqa: F401
from tests.webapp.workers import kill_whole, own_worker, pool_processes
from webapp.celery_app import app as celery_app
from webapp.datasets.models import Dataset
from webapp.datasets.tasks import ingest_dataset
from webapp.deployments.models import Deployment
from webapp.experiments import studies, tasks
from webapp.experiments.models import Experiment

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.django_db(transaction=True)]
QUEUE = "spread"


@pytest.fixture
def machines(redis_url, tmp_path, monkeypatch):
    """Two training workers, one process each, as on two machines; experiments launched here
    go to them."""
    send = tasks.train_experiment.apply_async
    monkeypatch.setattr(tasks.train_experiment, "apply_async",
                        lambda *a, **o: send(*a, **{**o, "queue": QUEUE}))  # fmt: skip
    with contextlib.ExitStack() as stack:
        workers = [
            stack.enter_context(_machine(redis_url, tmp_path, n)) for n in ("north", "south")
        ]
        _wait_until_serving(2)
        yield workers


def _machine(redis_url, tmp_path, name: str, concurrency: int = 1):
    folder = tmp_path / name
    folder.mkdir()
    return own_worker(redis_url, "training", QUEUE, "--concurrency", str(concurrency), name=name,
                      TRAINING_QUEUE=QUEUE, TMPDIR=str(folder))  # fmt: skip


def _wait_until_serving(count: int) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        queues = celery_app.control.inspect(timeout=1).active_queues() or {}
        serving = [n for n, qs in queues.items() if any(q["name"] == QUEUE for q in qs)]
        if len(serving) >= count:
            return
    raise AssertionError(f"only {len(serving)} workers serve {QUEUE}")


def _spread_experiment(dataset, budget: int):  # noqa: F811
    experiment = new_experiment(dataset, budget)
    experiment.parallelism = 2
    experiment.save()
    return experiment


@pytest.fixture
def blendable(dataset, monkeypatch):  # noqa: F811
    """A table on which a linear model and a forest, each right in part, blend into a better
    model: the ensemble is a row of its own. The linear model sees x1's trend, the forest
    the sign of x2 * x3 (which no line can)."""
    rng = np.random.default_rng(0)
    x1, x2, x3 = rng.normal(size=(3, 600))
    chance = 1 / (1 + np.exp(-(1.5 * x1 + 2.5 * np.sign(x2 * x3))))
    y = np.where(rng.random(600) < chance, "yes", "no")
    frame = pd.DataFrame({"x1": x1.round(3), "x2": x2.round(3), "x3": x3.round(3), "y": y})
    csv = frame.to_csv(index=False).encode()
    monkeypatch.setattr(ingest_dataset, "apply_async", lambda *a, **k: None)
    blendable = Dataset.create_from_upload(dataset.owner, SimpleUploadedFile("shops.csv", csv))
    ingest_dataset(blendable.pk)
    blendable.refresh_from_db()
    return blendable


def _active_on(queue: str) -> int:
    active = celery_app.control.inspect(timeout=1).active() or {}
    return sum(
        task["delivery_info"].get("routing_key") == queue for tasks_ in active.values()
        for task in tasks_
    )  # fmt: skip


def test_an_experiment_trains_on_two_workers_ensembles_and_deploys(blendable, machines, client):
    experiment = _spread_experiment(blendable, budget=120)
    # Eight models, whichever worker trains each: the same leaderboard, with its blend, however
    # busy the machine.
    experiment.target, experiment.families = "y", ["linear", "random_forest"]
    experiment.max_models = 8
    experiment.save()
    experiment.launch()
    wait(experiment, ended, 180)
    assert experiment.status == "finished", experiment.error
    workers = set(experiment.candidates.exclude(worker="").values_list("worker", flat=True))
    assert len(workers) == experiment.n_workers == 2, workers
    hosts = {w.rsplit(":", 1)[0] for w in workers}
    assert len(hosts) == 1  # one test machine: two processes, each named host:pid
    board = list(
        experiment.candidates.values_list("model_id", "family", "state", "score", "worker")
    )
    assert experiment.candidates.filter(family="ensemble").exists(), board
    assert experiment.n_trials == experiment.candidates.count()
    assert experiment.candidates.exclude(family="ensemble").count() == 8
    assert not experiment.search_directory.exists()  # the shared state goes with the run
    # The best model deploys and answers.
    client.force_login(blendable.owner)
    response = client.post(reverse("deployments:create", args=[experiment.best_id]))
    deployment = Deployment.objects.get()
    page = client.get(response.url).content.decode()
    key = page.split('id="new-key" readonly value="')[1].split('"')[0]
    row = {c["name"]: c["example"] for c in deployment.current.schema}
    answer = client.post(f"/api/v1/deployments/{deployment.slug}/predict",
                         data=json.dumps({"rows": [row]}), content_type="application/json",
                         headers={"Authorization": f"Bearer {key}"})  # fmt: skip
    assert answer.status_code == 200, answer.content
    # The API says who trained what.
    detail = client.get(f"/api/v1/experiments/{experiment.pk}").json()
    assert detail["n_workers"] == 2 and detail["parallelism"] == 2
    assert {row["worker"] for row in detail["leaderboard"]} >= workers


def test_cancel_stops_both_workers_within_seconds(dataset, machines):  # noqa: F811
    experiment = _spread_experiment(dataset, budget=120)
    experiment.launch()
    wait(experiment, lambda e: e.n_workers == 2, 120)
    assert experiment.status == "running" and experiment.n_workers == 2
    assert _active_on(QUEUE) == 2
    asked = time.monotonic()
    experiment.request_cancel()
    wait(experiment, ended, 60)
    assert experiment.status == "cancelled"
    while _active_on(QUEUE) and time.monotonic() - asked < 60:
        time.sleep(0.2)
    assert _active_on(QUEUE) == 0
    assert time.monotonic() - asked < 20


def test_a_lost_worker_costs_its_trial_and_the_run_finishes_with_the_other(dataset, machines):  # noqa: F811
    experiment = _spread_experiment(dataset, budget=40)
    experiment.launch()
    wait(experiment, lambda e: e.n_workers == 2, 120)
    assert experiment.status == "running"
    coordinator = int(experiment.runner.split(":")[1])
    processes = [pid for worker in machines for pid in pool_processes(worker.pid)]
    (helper,) = set(processes) - {coordinator}
    with _study(experiment) as study:
        deadline = time.monotonic() + 60
        while not trains_a_candidate(study, helper) and time.monotonic() < deadline:
            time.sleep(0.05)
    os.kill(helper, signal.SIGKILL)
    wait(experiment, ended, 180)
    assert experiment.status == "finished", experiment.error
    assert experiment.attempts == 1  # the coordinator never stopped
    lost = experiment.candidates.filter(error__startswith="Its worker stopped")
    assert lost.exists(), list(experiment.candidates.values_list("state", "error"))
    assert lost.first().worker.endswith(f":{helper}")


@contextlib.contextmanager
def _study(experiment):
    """The experiment's study, wherever the platform keeps it."""
    storage = open_storage(studies.storage_url() or Workdir(experiment.search_directory).journal)
    try:
        yield optuna.load_study(study_name=experiment.study_name, storage=storage)
    finally:
        close_storage(storage)


def test_a_lost_coordinator_is_taken_over(dataset, machines):  # noqa: F811
    experiment = _spread_experiment(dataset, budget=40)
    experiment.launch()
    wait(experiment, lambda e: e.n_trials >= 2, 120)
    assert experiment.status == "running"
    first = set(experiment.candidates.values_list("pk", flat=True))
    os.kill(int(experiment.runner.split(":")[1]), signal.SIGKILL)
    wait(experiment, lambda e: e.attempts == 2 or not e.is_active, 60)
    wait(experiment, ended, 180)
    assert experiment.status == "finished", experiment.error
    assert experiment.attempts == 2
    # Taken over, not started again: what the first coordinator's search found is kept.
    assert first <= set(experiment.candidates.values_list("pk", flat=True))


def test_when_every_machine_dies_the_run_is_taken_over_with_a_new_helper(
    dataset,  # noqa: F811
    machines,
    redis_url,
    tmp_path,
):
    # Room for trials after the take-over, which may wait out the lost writer's journal lock.
    experiment = _spread_experiment(dataset, budget=60)
    experiment.launch()
    wait(experiment, lambda e: e.n_workers == 2, 120)
    assert experiment.status == "running"
    for worker in machines:  # whole: no worker is left to hand the helper's message back
        kill_whole(worker)
    with _machine(redis_url, tmp_path, "west", concurrency=2):
        _wait_until_serving(1)
        deadline = time.monotonic() + 30
        while not experiment.runner_lost() and time.monotonic() < deadline:
            time.sleep(0.1)
        # The reaper, as beat runs it once the heartbeat is stale.
        Experiment.objects.filter(pk=experiment.pk).update(
            heartbeat=timezone.now() - timedelta(seconds=settings.HEARTBEAT_TIMEOUT + 1)
        )
        tasks.reap_experiments()
        wait(experiment, lambda e: e.attempts == 2 or not e.is_active, 60)
        taken_over, coordinator = timezone.now(), experiment.runner.rsplit(":", 1)[0]
        wait(experiment, ended, 180)
    assert experiment.status == "finished", experiment.error
    assert experiment.attempts == 2
    # The new coordinator asked for the helper it lacked, which trained beside it.
    trained = experiment.candidates.exclude(worker=coordinator).exclude(state="failed")
    helped = [c for c in trained if c.created - timedelta(seconds=c.seconds) > taken_over]
    assert helped, list(experiment.candidates.values_list("worker", "created", "seconds"))
