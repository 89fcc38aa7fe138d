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
