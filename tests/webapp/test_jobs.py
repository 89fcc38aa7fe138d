"""The job lifecycle every worker task shares: a memory ceiling, and failures in words."""

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
        ("dimension_bomb", "corner.xlsx"),
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
