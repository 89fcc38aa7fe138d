"""The job lifecycle every worker task shares: a memory ceiling, and failures in words."""

import contextlib
import resource

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from webapp.datasets.models import Dataset
from webapp.lib import jobs, memory


@pytest.fixture
def claimed(alice):
    dataset = Dataset.objects.create(owner=alice, name="d", filename="d.csv", suffix=".csv",
                                     size=1)  # fmt: skip
    assert dataset.claim()
    return dataset


def test_a_job_past_its_memory_ceiling_fails_itself_in_words(claimed, settings):
    settings.JOB_MEMORY_LIMIT = 300 * 1024**2
    before = resource.getrlimit(resource.RLIMIT_AS)
    with jobs.running(claimed, "internal"):
        np.ones(4 * 1024**3 // 8)  # 4 GB: refused, not handed to the kernel's OOM killer
    claimed.refresh_from_db()
    assert claimed.status == "failed"
    assert "needed more memory than the 300.0 MB a job may use" in claimed.error
    assert "JOB_MEMORY_LIMIT" in claimed.error
    assert resource.getrlimit(resource.RLIMIT_AS) == before  # lifted once the job ends


def test_a_bug_is_logged_and_shown_as_an_internal_error(claimed, caplog):
    with jobs.running(claimed, "Something went wrong on our side."):
        raise KeyError("a bug")
    claimed.refresh_from_db()
    assert claimed.status == "failed" and claimed.error == "Something went wrong on our side."
    assert "KeyError" in caplog.text


def test_a_job_within_its_ceiling_keeps_its_memory(claimed, settings):
    settings.JOB_MEMORY_LIMIT = 300 * 1024**2
    with memory.ceiling(settings.JOB_MEMORY_LIMIT):
        block = np.ones(100 * 1024**2 // 8)
    assert block.sum() == len(block)


def test_the_memory_of_the_machine_or_its_container_sets_the_defaults(settings):
    assert 0 < settings.JOB_MEMORY_LIMIT <= memory.machine_memory()
    assert settings.MAX_DECOMPRESSED_SIZE < settings.JOB_MEMORY_LIMIT


@pytest.mark.parametrize(
    ("maker", "name"),
    [
        ("shared_string_bomb", "bomb.xlsx"),
        ("parquet_bomb", "bomb.parquet"),
    ],
)
def test_small_files_that_expand_to_gigabytes_fail_in_words(alice, tmp_path, maker, name, settings):
    from tests import hostile
    from webapp.datasets.tasks import ingest_dataset

    settings.MAX_DECOMPRESSED_SIZE = 50 * 1024**2
    path = getattr(hostile, maker)(tmp_path / name)
    assert path.stat().st_size < 5 * 1024**2
    dataset = Dataset.create_from_upload(alice, SimpleUploadedFile(name, path.read_bytes()))
    ingest_dataset(dataset.pk)
    dataset.refresh_from_db()
    assert dataset.status == "failed"
    assert "expands to more than 50 MB" in dataset.error
    assert "raise MAX_DECOMPRESSED_SIZE" in dataset.error


def test_the_reapers_sweep_what_stopped_processes_left_behind(alice, settings):
    import os
    import time
    import uuid

    from webapp.datasets.tasks import reap_datasets
    from webapp.deployments.models import Batch
    from webapp.deployments.tasks import reap_batches

    dataset = Dataset.create_from_upload(alice, SimpleUploadedFile("a.csv", b"a,b\n1,2\n"))
    old = time.time() - 7 * 3600
    partial = dataset.directory / "data.parquet.partial"
    fresh = dataset.directory / "other.parquet.partial"
    orphan = Dataset.directory_root() / str(uuid.uuid4())
    batches = Batch.directory_root() / str(uuid.uuid4())
    cut_off = settings.FILE_UPLOAD_TEMP_DIR / "tmp1234.upload.csv"
    for path in (partial, fresh, orphan / "upload.csv", batches / "input.csv", cut_off):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("left behind")
    for path in (partial, orphan / "upload.csv", orphan, batches, cut_off):
        os.utime(path, (old, old))
    os.utime(dataset.directory, (old, old))
    reap_datasets()
    reap_batches()
    assert not partial.exists() and not orphan.exists() and not cut_off.exists()
    assert not batches.exists()
    assert fresh.exists()  # maybe still being written by a live process
    assert dataset.upload_path.exists()  # a dataset's own folder stays, however old


def test_a_job_whose_end_could_not_be_written_is_reaped_though_its_process_lives(claimed):
    from datetime import timedelta

    from django.utils import timezone

    from webapp.datasets.tasks import reap_datasets

    # Claimed by this (living) process, then silent: its end was lost with the database.
    silent = timezone.now() - jobs.STUCK_AFTER - timedelta(seconds=1)
    Dataset.objects.filter(pk=claimed.pk).update(heartbeat=silent)
    claimed.refresh_from_db()
    assert claimed.runner == jobs.runner_name() and claimed.runner_lost()
    reap_datasets()
    claimed.refresh_from_db()
    assert claimed.status == "uploaded"  # sent again


def test_a_job_the_queue_refuses_fails_in_words(alice, sent, django_capture_on_commit_callbacks):
    sent.side_effect = ConnectionError("Redis is down")
    with django_capture_on_commit_callbacks(execute=True):
        dataset = Dataset.create_from_upload(alice, SimpleUploadedFile("a.csv", b"a,b\n1,2\n"))
    dataset.refresh_from_db()
    assert dataset.status == "failed" and "could not be reached" in dataset.error


def test_a_file_being_read_is_not_read_twice_at_once(claimed):
    with pytest.raises(ValueError, match="being read now"):
        claimed.reingest()


def test_a_job_taken_again_removes_what_the_lost_attempt_was_writing(claimed):
    from datetime import timedelta

    from django.utils import timezone

    from webapp.lib.files import written_whole

    claimed.directory.mkdir(parents=True, exist_ok=True)
    target = claimed.directory / "data.parquet"
    writing = contextlib.ExitStack()
    partial = writing.enter_context(written_whole(target))
    partial.write_bytes(b"half of it")
    silent = timezone.now() - jobs.STUCK_AFTER - timedelta(seconds=1)
    Dataset.objects.filter(pk=claimed.pk).update(heartbeat=silent)
    assert Dataset.objects.get(pk=claimed.pk).claim()  # the reaper's or a redelivery's
    assert not partial.exists()
    with pytest.raises(FileNotFoundError):
        writing.close()  # the writer that lost the job ends its file
    assert not target.exists()  # and put nothing in place


def _waited(model, pk, **fields):
    """Move a row's times back past HEARTBEAT_TIMEOUT: what a reaper waits for."""
    from datetime import timedelta

    from django.conf import settings
    from django.utils import timezone

    before = timezone.now() - timedelta(seconds=settings.HEARTBEAT_TIMEOUT + 1)
    model.objects.filter(pk=pk).update(**{field: before for field in fields})


def _sent_ids(sent, task) -> list:
    return [call.args[1][0] for call in sent.call_args_list if call.args[0] == task.name]


def _to_the_broker(monkeypatch):
    """After a fixture's eager run: tasks go to the broker again (``sent`` keeps them)."""
    from webapp.celery_app import app

    monkeypatch.setitem(app.conf, "task_always_eager", False)


def test_a_waiting_job_whose_message_the_broker_lost_is_sent_again(
    alice, sent, django_capture_on_commit_callbacks
):
    from webapp.datasets.tasks import ingest_dataset, reap_datasets

    # The message never reaches the (real) broker: as if Redis lost it in a restart.
    with django_capture_on_commit_callbacks(execute=True):
        dataset = Dataset.create_from_upload(alice, SimpleUploadedFile("a.csv", b"a,b\n1,2\n"))
    assert _sent_ids(sent, ingest_dataset) == [dataset.pk]
    with django_capture_on_commit_callbacks(execute=True):
        reap_datasets()
    assert len(sent.call_args_list) == 1  # just sent: its message may be on its way
    _waited(Dataset, dataset.pk, sent=True)
    assert Dataset.objects.get(pk=dataset.pk).is_stuck
    with django_capture_on_commit_callbacks(execute=True):
        reap_datasets()
        reap_datasets()  # once: the second pass finds it sent again just now
    assert _sent_ids(sent, ingest_dataset) == [dataset.pk, dataset.pk]
    dataset.refresh_from_db()
    assert dataset.status == "uploaded" and not dataset.is_stuck


def test_a_message_waiting_in_the_queue_is_not_lost_one_taken_by_no_live_worker_is(alice, settings):
    from celery import Celery

    from webapp.celery_app import app
    from webapp.datasets.tasks import ingest_dataset
    from webapp.lib import broker

    # A queue no worker of the suite serves; a priority of its own list.
    settings.WORKER_QUEUES = {**settings.WORKER_QUEUES, "held-by-test": 1}
    dataset = Dataset.objects.create(owner=alice, name="d", filename="d.csv", suffix=".csv",
                                     size=1)  # fmt: skip
    other = Dataset.objects.create(owner=alice, name="e", filename="e.csv", suffix=".csv",
                                   size=1)  # fmt: skip
    Celery.send_task(app, ingest_dataset.name, (dataset.pk,), queue="held-by-test", priority=3)
    assert broker.lost(ingest_dataset, [dataset.pk, other.pk]) == {other.pk}
    with app.connection_for_read() as connection:
        queue = connection.SimpleQueue("held-by-test")
        # Taken as a worker takes it, not acknowledged yet, but by no worker that answers:
        # as a worker killed after reserving it leaves it (test_faults has the real one).
        message = queue.get(timeout=5)
        assert message.headers["task"] == ingest_dataset.name
        assert broker.lost(ingest_dataset, [dataset.pk]) == {dataset.pk}
        message.ack()
        assert broker.lost(ingest_dataset, [dataset.pk]) == {dataset.pk}
        queue.close()


def test_a_broker_that_cannot_be_read_loses_nothing(monkeypatch):
    from webapp.celery_app import app
    from webapp.datasets.tasks import ingest_dataset
    from webapp.lib import broker

    monkeypatch.setitem(app.conf, "broker_url", "redis://127.0.0.1:1/0")  # nothing listens
    assert broker.lost(ingest_dataset, [1, 2]) == set()


def test_a_stuck_experiment_starts_again_in_its_place(
    client, alice, dataset, sent, django_capture_on_commit_callbacks
):
    from webapp.experiments.models import Experiment
    from webapp.experiments.tasks import train_experiment

    from .factories import launch

    client.force_login(alice)
    with django_capture_on_commit_callbacks(execute=True):
        launch(client, dataset)
    experiment = Experiment.objects.get()
    first_task = experiment.task_id
    page = client.get(f"/experiments/{experiment.pk}/").content.decode()
    assert 'id="stuck"' not in page  # waiting its turn, just sent
    assert client.post(f"/api/v1/experiments/{experiment.pk}/restart").status_code == 409

    _waited(Experiment, experiment.pk, sent=True)
    page = client.get(f"/experiments/{experiment.pk}/").content.decode()
    assert 'id="stuck"' in page and "the job queue lost it" in page and "Start again" in page
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/experiments/{experiment.pk}/restart")
    assert response.status_code == 302
    restarted = Experiment.objects.get()
    assert _sent_ids(sent, train_experiment) == [experiment.pk, experiment.pk]
    assert restarted.status == "queued" and restarted.task_id != first_task
    assert restarted.queued == experiment.queued  # its place in the queue is kept
    assert sent.call_args_list[-1].kwargs["task_id"] == restarted.task_id


def test_a_stalled_batch_starts_again(
    client, deployed, sent, monkeypatch, django_capture_on_commit_callbacks
):
    from webapp.deployments.models import Batch
    from webapp.deployments.tasks import score_batch

    _to_the_broker(monkeypatch)
    deployment, _ = deployed
    batch = Batch.objects.create(deployment=deployment, version=deployment.current,
                                 filename="rows.csv", size=1)  # fmt: skip
    # Taken by a process that is gone (a pid no process has).
    Batch.objects.filter(pk=batch.pk).update(status="running", runner="elsewhere:1:1",
                                              attempts=2)  # fmt: skip
    _waited(Batch, batch.pk, heartbeat=True)
    page = client.get(f"/deployments/{deployment.slug}/").content.decode()
    assert "The worker scoring this file has stopped" in page
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/deployments/{deployment.slug}/batches/{batch.pk}/restart")
    batch.refresh_from_db()
    assert batch.status == "queued" and batch.attempts == 0  # a person's new start
    assert _sent_ids(sent, score_batch) == [batch.pk]


@pytest.fixture
def trained(alice, dataset):
    """A candidate of an ended experiment, as training leaves it (no model built yet)."""
    from webapp.experiments.models import Candidate, Experiment

    experiment = Experiment.objects.create(owner=alice, dataset=dataset, target="churned",
                                           status="finished")  # fmt: skip
    return Candidate.objects.create(experiment=experiment, model_id="m001", family="linear",
                                    state="complete", score=0.5)  # fmt: skip


def test_lost_builds_and_target_analyses_are_sent_again(
    trained, sent, django_capture_on_commit_callbacks
):
    from webapp.datasets.tasks import profile_target, reap_datasets
    from webapp.experiments.models import Candidate
    from webapp.experiments.tasks import build_model, reap_experiments

    dataset = trained.experiment.dataset
    with django_capture_on_commit_callbacks(execute=True):
        assert trained.request_build()
        dataset.choose_target("churned")
    assert _sent_ids(sent, build_model) == [trained.pk]
    assert _sent_ids(sent, profile_target) == [dataset.pk]
    with django_capture_on_commit_callbacks(execute=True):
        reap_experiments()
        reap_datasets()
    assert len(sent.call_args_list) == 2  # just sent: their messages may be on their way
    _waited(Candidate, trained.pk, artifact_started=True)
    _waited(Dataset, dataset.pk, updated=True)
    with django_capture_on_commit_callbacks(execute=True):
        reap_experiments()
        reap_datasets()
    assert _sent_ids(sent, build_model) == [trained.pk, trained.pk]
    assert _sent_ids(sent, profile_target) == [dataset.pk, dataset.pk]


def test_builds_and_target_analyses_the_queue_refuses_fail_in_words(
    trained, sent, django_capture_on_commit_callbacks
):
    sent.side_effect = ConnectionError("Redis is down")
    dataset = trained.experiment.dataset
    with django_capture_on_commit_callbacks(execute=True):
        trained.request_build()
        dataset.choose_target("churned")
    trained.refresh_from_db()
    dataset.refresh_from_db()
    assert trained.artifact == "failed" and "could not be reached" in trained.artifact_error
    assert "could not be reached" in dataset.target_profile["error"]
