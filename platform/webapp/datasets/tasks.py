"""Ingestion on a worker: read the upload once, keep it as Parquet, profile it.

Tasks take ids and trust the row, not Celery, for state (``webapp.lib.jobs``): a redelivered or
duplicated task finds the dataset ready or failed and does nothing, and one whose worker died
mid-way finds it still processing and does the work again (every file it writes is replaced
whole, or not at all).
"""

from __future__ import annotations

import logging

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from celery import shared_task
from django.conf import settings
from django.utils import timezone

from automl import Dialect, profile_parquet, read_table
from webapp.datasets.models import Dataset
from webapp.lib import broker, memory
from webapp.lib.files import sweep, sweep_files, written_whole
from webapp.lib.jobs import failure_reason, heartbeat_timeout, reap, running

logger = logging.getLogger(__name__)

PREVIEW_ROWS = 20
PARQUET_SLICE = 100_000
INTERNAL_ERROR = "Something went wrong on our side while reading the file; it has been logged."


@shared_task
def ingest_dataset(dataset_id: int) -> None:
    dataset = Dataset.objects.filter(pk=dataset_id).first()
    if dataset is None or not dataset.claim():
        return
    with running(dataset, INTERNAL_ERROR):
        dialect, notes = _store_as_parquet(dataset)
        # The table is freed by now: profile and preview read the Parquet file a few columns
        # at a time, so the worker's peak stays near the size of the table, not twice it.
        memory.return_freed()
        dataset.mark_ready(
            dialect=dialect,
            notes=notes,
            profile=profile_parquet(dataset.parquet_path).to_dict(),
            preview=_preview(dataset.parquet_path),
        )


@shared_task
def profile_target(dataset_id: int) -> None:
    """The profile with the analyst's kinds, kept columns and chosen target: the task, its
    balance, target-aware checks, and column statistics for corrected kinds."""
    dataset = Dataset.objects.filter(pk=dataset_id, status=Dataset.Status.READY).first()
    if dataset is None or not (dataset.target or dataset.kinds or dataset.keep):
        return
    target = dataset.target
    overrides = {k: v for k, v in dataset.kinds.items() if v != "excluded"}
    excluded = [k for k, v in dataset.kinds.items() if v == "excluded" and k != target]
    try:
        with memory.ceiling(settings.JOB_MEMORY_LIMIT):
            result = profile_parquet(
                dataset.parquet_path, target or None, kinds=overrides, exclude=excluded,
                keep=dataset.keep,
            ).to_dict()  # fmt: skip
    except Exception as error:
        reason = failure_reason(error)
        if reason is None:
            logger.exception("Profiling target %r of dataset %s failed", target, dataset_id)
        result = {"error": reason or INTERNAL_ERROR}
    # The analyst may have changed the target, kinds or kept columns meanwhile: store only a
    # current result.
    Dataset.objects.filter(
        pk=dataset_id, target=target, kinds=dataset.kinds, keep=dataset.keep
    ).update(target_profile={"target": target, **result})


@shared_task
def reap_datasets() -> None:
    """Read again, once, or fail ingestions whose worker stopped; send again target analyses
    whose message was lost; and remove what stopped processes left on disk: partial files,
    folders of deleted datasets, cut-off uploads (beat runs this)."""
    reap(Dataset)
    since = timezone.now() - heartbeat_timeout()
    # What ``reprofile_pending`` says, asked of the database: ready, with a target, kinds or
    # kept columns.
    pending = Dataset.objects.filter(
        status=Dataset.Status.READY, target_profile__isnull=True, updated__lt=since
    ).exclude(target="", kinds={}, keep=[])
    waiting = {dataset.pk: dataset for dataset in pending}
    for pk in broker.lost(profile_target, waiting):
        logger.warning("The analysis of dataset %s lost its message: sending it again", pk)
        waiting[pk].send_reprofile()
    sweep(Dataset.directory_root(), Dataset)
    sweep_files(settings.FILE_UPLOAD_TEMP_DIR)


def _store_as_parquet(dataset: Dataset) -> tuple[dict, list[str]]:
    """Read the upload and write it as the dataset's Parquet file; return the dialect used
    and the reader's notes (column names it made up)."""
    dialect = Dialect(**dataset.dialect) if dataset.dialect else None
    frame = read_table(dataset.upload_path, dialect, max_bytes=settings.MAX_DECOMPRESSED_SIZE)
    _write_parquet(frame, dataset.parquet_path)
    return frame.attrs["dialect"], frame.attrs.get("notes", [])


def _write_parquet(frame: pd.DataFrame, path) -> None:
    # Slice by slice: converting the whole frame to Arrow at once would double its memory.
    schema = pa.Schema.from_pandas(_as_storable(frame.head(PARQUET_SLICE)), preserve_index=False)
    with written_whole(path) as partial, pq.ParquetWriter(partial, schema) as writer:
        for start in range(0, len(frame), PARQUET_SLICE):
            piece = _as_storable(frame.iloc[start : start + PARQUET_SLICE])
            writer.write_table(pa.Table.from_pandas(piece, schema=schema, preserve_index=False))


def _as_storable(piece: pd.DataFrame) -> pd.DataFrame:
    """Columns that mix types (Excel does that) as text, which Parquet can store."""
    mixed = [name for name, dtype in piece.dtypes.items() if pd.api.types.is_object_dtype(dtype)]
    return piece.assign(**{name: piece[name].map(_as_text) for name in mixed})


def _as_text(value):
    return value if value is None or pd.isna(value) else str(value)


def _preview(path) -> dict:
    """The first rows as stored, so the preview shows what training will read."""
    with pq.ParquetFile(path) as file:
        first = next(file.iter_batches(batch_size=PREVIEW_ROWS)).to_pandas()
    head = first.astype(object).where(first.notna(), None)
    return {
        "columns": [str(c) for c in first.columns],
        "rows": [[_cell(v) for v in row] for row in head.itertuples(index=False)],
    }


def _cell(value):
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return round(value, 6)
    return str(value)
