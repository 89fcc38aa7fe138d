"""Scoring a file on a worker: its rows are read a slice at a time, predicted, and written back
with the prediction columns added, safe to open in a spreadsheet.

Input columns are written back exactly as they were in the file (an id like ``007`` keeps its
zeros), while the model reads the values as training read them. A value the model cannot read
(``"abc"`` in a number column) does not sink a file of a million rows: it is read as missing,
and the row's ``problems`` column says so.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from django.conf import settings

from automl import QUOTED_CHARACTERS, count_rows, listing, quoted, read_batches, shortened, sniff
from webapp.deployments import serving
from webapp.deployments.models import Batch
from webapp.lib.files import written_whole
from webapp.lib.spreadsheets import ENCODING, neutralised

# Rows per slice: large enough that per-call overhead vanishes, small enough to stay a few MB.
SLICE_ROWS = 10_000
READ_AS = {"numeric": "a number", "boolean": "yes or no", "datetime": "a date"}
# Reasons added per row when asked: the columns that moved the prediction most.
REASONS = 3


def score(batch: Batch) -> None:
    """Score ``batch``'s file into its result file, recording progress; stops quietly if the
    batch is deleted meanwhile. Raises ``AutoMLError`` (``DataError``, ``ArtifactError``) with
    a message for a file or model that cannot be used."""
    model = serving.load_model(batch.version.candidate.artifact_path)
    schema = batch.version.schema
    limit = settings.MAX_DECOMPRESSED_SIZE
    dialect = sniff(batch.input_path, max_bytes=limit)
    total = count_rows(batch.input_path, dialect, max_bytes=limit)
    done, notes, blanked = 0, [], 0
    try:
        with (
            written_whole(batch.result_path) as partial,
            partial.open("w", encoding=ENCODING, newline="") as out,
        ):
            slices = read_batches(batch.input_path, dialect, rows=SLICE_ROWS, max_bytes=limit)
            for text, values in slices:
                if done == 0:
                    notes = _check_columns(list(text.columns), schema)
                invalid = model.invalid_cells(values)
                blanked += int(invalid.any(axis=1).sum())
                values = values.mask(invalid.reindex(columns=values.columns, fill_value=False))
                scored = _with_predictions(text, values, model, invalid, batch.reasons)
                scored.to_csv(out, header=done == 0, index=False)
                done += len(text)
                if not batch.record_progress(done, max(total, done)):
                    raise _Abandoned
    except _Abandoned:
        return  # deleted, or taken over by another worker: its partial result is gone too
    if blanked:
        notes.append(
            f"{blanked} row(s) had values the model could not read; they were read as missing. "
            "The problems column says which."
        )
    batch.finish(done, notes)


class _Abandoned(Exception):
    """The batch was deleted, or taken over by another worker, while this one scored it."""


def _check_columns(columns: list[str], schema: list[dict]) -> list[str]:
    """Notes on the file's columns, or ``DataError`` when it lacks columns the model needs."""
    from automl import DataError

    present = set(columns)
    missing = [c["name"] for c in schema if c["name"] not in present]
    required = [c["name"] for c in schema if c["required"] and c["name"] in missing]
    if required:
        raise DataError(
            f"The file has no column {listing(required)}, which the model needs. The columns "
            "are matched by name, from the file's first line."
        )
    notes = []
    if missing:
        notes.append(f"Columns not in the file, read as empty: {listing(missing)}.")
    unused = [name for name in columns if name not in {c["name"] for c in schema}]
    if unused:
        notes.append(f"Columns the model does not use, kept as they were: {listing(unused)}.")
    return notes


def _with_predictions(text, values, model, invalid, reasons: bool) -> pd.DataFrame:
    """``text`` (made spreadsheet-safe) with the predictions, probabilities, problems and, when
    asked, each row's ``REASONS`` strongest reasons."""
    added = {}
    if model.is_classifier:
        proba = model.predict_proba(values)
        added["prediction"] = model.classes_[proba.argmax(axis=1)]
        for index, name in enumerate(model.classes_):
            added[f"probability {name}"] = proba[:, index].round(6)
    else:
        added["prediction"] = model.predict(values)
    added["problems"] = _problems(invalid, text, {c["name"]: c["kind"] for c in model.schema})
    if reasons:
        added |= _reasons(model.explain(values, top=REASONS), text)
    result = text.copy()
    for name, column in added.items():
        while name in result.columns:
            name += " (model)"  # an input column of the same name stays as it was
        result[name] = column
    return neutralised(result)


def _reasons(explained: list[dict], text: pd.DataFrame) -> dict[str, list[str]]:
    """``reason 1`` .. ``reason N``: ``column = value as written (+0.123)``, the strongest
    first; the sign says whether it pushed the answer (the explained class's probability, or
    the value) up or down."""
    columns = {f"reason {n}": [""] * len(text) for n in range(1, REASONS + 1)}
    for i, row in enumerate(explained):
        for n, reason in enumerate(row["contributions"], 1):
            name = reason["column"]
            written = text[name].iloc[i] if name in text.columns else None
            missing = written is None or pd.isna(written) or written == ""
            shown = "(missing)" if missing else shortened(str(written), QUOTED_CHARACTERS)
            columns[f"reason {n}"][i] = f"{name} = {shown} ({reason['contribution']:+.3g})"
    return columns


def _problems(invalid: pd.DataFrame, text: pd.DataFrame, kinds: dict[str, str]) -> pd.Series:
    """Per row, the values that were read as missing and why ("" for a clean row)."""
    problems = pd.Series("", index=text.index, dtype=object)
    for name in invalid.columns:
        message = f"{name}: " + text[name].map(quoted) + f" is not {READ_AS[kinds[name]]}"
        message = message.where(invalid[name], "")
        problems += np.where((problems != "") & (message != ""), "; ", "") + message
    return problems
