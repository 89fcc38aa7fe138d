"""Answering prediction requests: models loaded once per process and kept by version, and
request rows checked against the model's input schema with strict JSON types.

A new version is a new cache key, so a redeploy is picked up by the next request without a
restart, and requests already running finish on the version they started with.
"""

from __future__ import annotations

import json
import math
import threading
from collections import OrderedDict

import numpy as np
import pandas as pd
from django.conf import settings

from webapp.lib.keys import artifact_signing_key

# Models kept in memory per process; older ones are loaded again if asked for.
CACHED_MODELS = 8
_models: OrderedDict[str, object] = OrderedDict()
_loading = threading.Lock()


class RequestError(Exception):
    """A request the model cannot answer: ``status`` and messages naming rows and columns."""

    def __init__(self, status: int, message: str, errors: list[str] | None = None):
        super().__init__(message)
        self.status, self.message, self.errors = status, message, errors or []

    def body(self) -> dict:
        return {"detail": self.message, "errors": self.errors}


def model_for(version):
    """The version's model, loaded on first use; ``RequestError(503)`` if it cannot load."""
    from automl import ArtifactError

    key = str(version.candidate.artifact_path)  # unique to the model, unlike a row id
    model = _models.get(key)
    if model is not None:
        return model
    with _loading:  # one load per model, however many requests arrive at once
        if key not in _models:
            try:
                _models[key] = load_model(version.candidate.artifact_path)
            except (ArtifactError, OSError) as err:
                message = f"The model of this deployment cannot be loaded: {err}"
                raise RequestError(503, message) from err
            while len(_models) > CACHED_MODELS:
                _models.popitem(last=False)
        _models.move_to_end(key)
        return _models[key]


def load_model(path):
    """A model artifact, its files' hashes and signature checked before anything runs."""
    from automl import load

    return load(path, signing_key=artifact_signing_key())


def forget() -> None:
    """Drop every loaded model (they load again on the next request)."""
    with _loading:
        _models.clear()


def read_rows(payload, schema: list[dict]) -> pd.DataFrame:
    """The request's rows as a table, or ``RequestError`` (400 or 422) saying what is wrong.

    Types are strict: a number column takes JSON numbers (not ``"12"``, not ``true``), a
    yes/no column JSON booleans, the others strings (categories also take integers). A missing
    value is ``null`` or an absent field, refused for required columns; unknown fields are
    refused so that a typo is not silently ignored.
    """
    if not isinstance(payload, dict) or not isinstance(payload.get("rows"), list):
        raise RequestError(400, 'Send a JSON object with a list of rows: {"rows": [{...}]}.')
    unknown_keys = sorted(set(payload) - {"rows"})
    if unknown_keys:
        raise RequestError(422, f"Unknown field {unknown_keys[0]!r}: only 'rows' is read.")
    rows = payload["rows"]
    if not rows:
        raise RequestError(400, "There are no rows to predict.")
    limit = settings.MAX_PREDICTION_ROWS
    if len(rows) > limit:
        raise RequestError(422, f"{len(rows)} rows is over the limit of {limit} per request.")
    columns = {column["name"]: column for column in schema}
    errors: list[str] = []
    values: dict[str, list] = {name: [] for name in columns}
    for number, row in enumerate(rows, 1):
        if not isinstance(row, dict):
            errors.append(f"row {number}: expected an object of column values")
            continue
        for name in sorted(set(row) - set(columns)):
            errors.append(f"row {number}: unknown column {name!r}")
        for name, column in columns.items():
            value, problem = _checked(row.get(name), column)
            if problem:
                errors.append(f"row {number}: {name!r} {problem}")
            values[name].append(value)
        if len(errors) > 20:
            break
    if errors:
        shown = errors[:20]
        raise RequestError(422, f"{len(errors)} problem(s) in the rows: {shown[0]}.", shown)
    return pd.DataFrame(values)


EXPECTED = {"numeric": "a number", "boolean": "true or false", "datetime": "a date string"}


def _checked(value, column: dict):
    """``(value for the model, problem or None)`` for one cell."""
    if value is None:
        return None, ("is required" if column.get("required") else None)
    kind = column["kind"]
    if kind == "numeric":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None, f"must be a number, not {_json(value)}"
        return (value if math.isfinite(value) else None), None
    if kind == "boolean":
        if not isinstance(value, bool):
            return None, f"must be true or false, not {_json(value)}"
        return value, None
    if kind == "categorical" and isinstance(value, int) and not isinstance(value, bool):
        return str(value), None
    if not isinstance(value, str):
        return None, f"must be {EXPECTED.get(kind, 'a string')}, not {_json(value)}"
    return value, None


def _json(value) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def predict(model, frame: pd.DataFrame) -> dict:
    """Predictions (and class probabilities) as JSON; ``RequestError(422)`` for values the
    model cannot read, such as a date it cannot parse."""
    from automl import DataError

    try:
        if model.is_classifier:
            proba = model.predict_proba(frame)
            classes = model.classes_
            labels = [_plain(c) for c in classes[proba.argmax(axis=1)]]
            names = [str(c) for c in classes]
            probabilities = [
                dict(zip(names, (round(float(p), 6) for p in row), strict=True)) for row in proba
            ]
            return {"predictions": labels, "probabilities": probabilities}
        return {"predictions": [float(v) for v in model.predict(frame)]}
    except DataError as err:
        raise RequestError(422, str(err)) from None


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value
