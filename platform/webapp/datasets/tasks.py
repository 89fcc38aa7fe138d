"""Ingestion on a worker: read the upload once, keep it as Parquet, profile it.

Tasks take ids and trust the row, not Celery, for state: a redelivered or duplicated task finds
the dataset ready or failed and does nothing, and one whose worker died mid-way finds it still
processing and does the work again (every file it writes is replaced atomically).
"""

from __future__ import annotations

import logging
import os

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from celery import shared_task
from django.conf import settings

from automl import AutoMLError, Dialect, profile, read_table
from webapp.datasets.models import Dataset

logger = logging.getLogger(__name__)

PREVIEW_ROWS = 20
PARQUET_SLICE = 100_000
INTERNAL_ERROR = "Something went wrong on our side while reading the file; it has been logged."


@shared_task
def ingest_dataset(dataset_id: int) -> None:
    dataset = Dataset.objects.filter(pk=dataset_id).first()
    if dataset is None or not dataset.claim():
        return
    try:
        dialect = Dialect(**dataset.dialect) if dataset.dialect else None
        frame = read_table(dataset.upload_path, dialect, max_bytes=settings.MAX_DECOMPRESSED_SIZE)
        _write_parquet(frame, dataset.parquet_path)
        dataset.mark_ready(
            dialect=frame.attrs.get("dialect"),
            profile=profile(frame).to_dict(),
            preview=_preview(frame),
        )
    except AutoMLError as err:
        dataset.mark_failed(str(err))
    except Exception:
        logger.exception("Ingesting dataset %s failed", dataset_id)
        dataset.mark_failed(INTERNAL_ERROR)


@shared_task
def profile_target(dataset_id: int) -> None:
    """The profile with the chosen target: the task, its balance, target-aware warnings."""
    dataset = Dataset.objects.filter(pk=dataset_id, status=Dataset.Status.READY).first()
    if dataset is None or not dataset.target:
        return
    target = dataset.target
    try:
        frame = pd.read_parquet(dataset.parquet_path)
        overrides = {k: v for k, v in dataset.kinds.items() if v != "excluded"}
        excluded = [k for k, v in dataset.kinds.items() if v == "excluded" and k != target]
        result = profile(frame, target, kinds=overrides, exclude=excluded).to_dict()
    except AutoMLError as err:
        result = {"error": str(err)}
    except Exception:
        logger.exception("Profiling target %r of dataset %s failed", target, dataset_id)
        result = {"error": INTERNAL_ERROR}
    # The analyst may have picked another target meanwhile: keep only the current one's result.
    Dataset.objects.filter(pk=dataset_id, target=target).update(
        target_profile={"target": target, **result}
    )


def _write_parquet(frame: pd.DataFrame, path) -> None:
    # Columns that mix types (Excel does that) become text, which Parquet can store.
    for name in frame.columns:
        if frame[name].dtype == object:
            frame[name] = frame[name].map(lambda v: v if v is None or pd.isna(v) else str(v))
    partial = path.with_suffix(".partial")
    # Slice by slice: converting the whole frame to Arrow at once would double its memory.
    schema = pa.Schema.from_pandas(frame.head(PARQUET_SLICE), preserve_index=False)
    with pq.ParquetWriter(partial, schema) as writer:
        for start in range(0, len(frame), PARQUET_SLICE):
            piece = frame.iloc[start : start + PARQUET_SLICE]
            writer.write_table(pa.Table.from_pandas(piece, schema=schema, preserve_index=False))
    os.replace(partial, path)


def _preview(frame: pd.DataFrame) -> dict:
    head = frame.head(PREVIEW_ROWS).astype(object).where(frame.head(PREVIEW_ROWS).notna(), None)
    return {
        "columns": [str(c) for c in frame.columns],
        "rows": [[_cell(v) for v in row] for row in head.itertuples(index=False)],
    }


def _cell(value):
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return round(value, 6)
    return str(value)
