"""A worker process killed mid-ingestion: the task comes back and the dataset ends ready."""

import os
import signal
import time

import numpy as np
import pandas as pd
import pytest
from django.core.files import File

from tests.webapp.workers import pool_processes
from webapp.datasets.models import Dataset

pytestmark = pytest.mark.integration


def wait_for(dataset: Dataset, statuses: set[str], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        dataset.refresh_from_db()
        if dataset.status in statuses:
            return dataset.status
        time.sleep(0.05)
    return dataset.status


def test_killed_pool_process_requeues_the_ingestion(
    transactional_db, django_user_model, celery_worker, tmp_path
):
    owner = django_user_model.objects.create_user("ada")
    rng = np.random.default_rng(0)
    n = 300_000
    frame = pd.DataFrame({f"x{i}": rng.normal(size=n) for i in range(10)})
    frame["city"] = rng.choice(["Paris", "Lyon", "Nice"], n)
    path = tmp_path / "big.csv"
    frame.to_csv(path, index=False)

    with path.open("rb") as handle:
        dataset = Dataset.create_from_upload(owner, File(handle, name="big.csv"))
    assert wait_for(dataset, {"processing", "ready", "failed"}, 30) == "processing"
    victims = pool_processes(celery_worker.short.pid)
    assert victims, "the worker has no pool process"
    for pid in victims:
        os.kill(pid, signal.SIGKILL)

    assert wait_for(dataset, {"ready", "failed"}, 120) == "ready", dataset.error
    assert dataset.n_rows == n
    assert celery_worker.poll() is None  # the worker itself lives on
