"""Answering prediction requests: models loaded once per process and kept by version, and
request rows checked against the model's input schema with strict JSON types.

A new version is a new cache key, so a redeploy is picked up by the next request without a
restart, and requests already running finish on the version they started with. Requests of
up to ``FAST_ROWS`` rows go through the engine's compiled fast path when the model allows
(``automl.fast``): the same answers without pandas' per-call overhead.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
from collections import OrderedDict
from typing import NamedTuple

import numpy as np
import pandas as pd
from django.conf import settings

from automl import QUOTED_CHARACTERS, listing, plain, quoted, shortened
from automl import read_rows as read_columns
from webapp.lib.keys import artifact_signing_key

logger = logging.getLogger(__name__)

# Models kept in memory per process; older ones are loaded again if asked for.
CACHED_MODELS = 8
# Columns named in each row's reason codes, the largest contributions first.
TOP_REASONS = 5
# Above this many rows pandas' vectorised path is as quick as the row-wise fast path.
FAST_ROWS = 1000


class Served(NamedTuple):
    model: object
    fast: object  # an automl.fast.RowPredictor, or None when the model has no fast path


_models: OrderedDict[str, Served] = OrderedDict()
_loading = threading.Lock()


class RequestError(Exception):
    """A request the model cannot answer: ``status`` and messages naming rows and columns, and
    ``headers`` for the answer (``Retry-After``)."""

    def __init__(self, status: int, message: str, errors: list[str] | None = None, **headers: str):
        super().__init__(message)
        self.status, self.message, self.errors = status, message, errors or []
        self.headers = {name.replace("_", "-"): value for name, value in headers.items()}

    def body(self) -> dict:
        return {"detail": self.message, "errors": self.errors}


@functools.lru_cache(maxsize=64)
def cached_version(version_id: int):
    """A deployment version with its model's row, kept per process: versions never change."""
    from webapp.deployments.models import Version

    version = Version.objects.select_related("candidate__experiment").filter(pk=version_id)
    if not version:  # deleted with its deployment since the request looked it up
        raise RequestError(404, "This deployment was just deleted.")
    return version[0]


def model_for(version) -> Served:
    """The version's model, loaded on first use; ``RequestError(503)`` if it cannot load."""
    from automl import ArtifactError, compile_rows, single_threaded

    key = str(version.candidate.artifact_path)  # unique to the model, unlike a row id
    served = _models.get(key)
    if served is not None:
        return served
    with _loading:  # one load per model, however many requests arrive at once
        if key not in _models:
            try:
                model = load_model(version.candidate.artifact_path)
                single_threaded(model)
                _models[key] = Served(model, compile_rows(model, _sample(version.schema)))
            except (ArtifactError, OSError) as err:
                # The reason names files on the server: it goes to the log, not to key holders.
                logger.error("The model of version %s cannot be loaded: %s", version.pk, err)
                message = "The model of this deployment cannot be loaded; tell its owner."
                raise RequestError(503, message) from err
            while len(_models) > CACHED_MODELS:
                _models.popitem(last=False)
        _models.move_to_end(key)
        return _models[key]


def warm(version) -> None:
    """Load the version's model into this process now, on deploy, rather than on the first
    request; a model that cannot load is logged here and answered 503 on request."""
    try:
        model_for(version)
    except RequestError:
        pass  # logged by model_for; answered 503 on request
    except Exception:  # the deployment stands; the next request tries again
        logger.exception("Loading deployed version %s failed", version.pk)


def load_model(path):
    """A model artifact, its files' hashes and signature checked before anything runs."""
    from automl import load

    return load(path, signing_key=artifact_signing_key())


def _sample(schema: list[dict]) -> dict[str, list]:
    """Rows the fast path is checked on: the example from the data, and one with every
    optional value missing."""
    return {c["name"]: [c["example"], c["example"] if c["required"] else None] for c in schema}


def forget() -> None:
    """Drop every loaded model and version (they load again on the next request)."""
    with _loading:
        _models.clear()
        cached_version.cache_clear()


def read_body(request):
    """The request's body: its JSON, or for ``Content-Type: text/csv`` its rows as
    ``{"rows": [...]}``; ``RequestError`` (413, 400) saying why it cannot be read.

    Whatever a client sends is answered in plain words: a body over the size limit, deep
    nesting, numbers with thousands of digits, and NaN or Infinity (which JSON does not have).
    """
    from django.core.exceptions import RequestDataTooBig

    from webapp.lib.errors import body_too_large

    try:
        raw = request.body
    except RequestDataTooBig:
        raise RequestError(413, body_too_large()) from None
    if request.content_type == "text/csv":
        return {"rows": _csv_rows(raw)}
    try:
        return json.loads(raw, parse_int=_integer, parse_constant=_no_constant)
    except RecursionError:
        raise RequestError(400, "The body is not valid JSON: it is nested too deeply.") from None
    except UnicodeDecodeError:
        raise RequestError(400, "The body is not valid JSON: it is not UTF-8 text.") from None
    except ValueError as err:  # json.JSONDecodeError among them
        raise RequestError(400, f"The body is not valid JSON: {err}") from None


def _csv_rows(raw: bytes) -> list[dict]:
    """A CSV body's rows, read by the engine's reader as an uploaded training file is (its
    delimiter, decimal mark and encoding found the same way); the first line names the
    columns."""
    import dataclasses
    import tempfile
    from pathlib import Path

    from automl import AutoMLError, read_table, sniff

    with tempfile.TemporaryDirectory(prefix="automl-predict-") as folder:
        path = Path(folder) / "rows.csv"
        path.write_bytes(raw)
        try:
            dialect = dataclasses.replace(sniff(path), has_header=True)
            frame = read_table(path, dialect)
        except AutoMLError as err:
            raise RequestError(400, f"The CSV body cannot be read: {err}") from None
    return [
        {name: None if pd.isna(value) else plain(value) for name, value in row.items()}
        for row in frame.to_dict("records")
    ]


def _integer(text: str) -> int | float:
    # int() refuses 4,300 digits and more (and is slow before that); no model reads such
    # precision, so a long integer is read as the float it rounds to (inf when too large).
    return int(text) if len(text) <= 20 else float(text)


def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON number; send null for a missing value")


def wants_explanation(request, payload) -> bool:
    """Whether the request asks for reason codes: ``"explain": true`` in the body or
    ``?explain=true``; ``RequestError(422)`` for a body's value that is not true or false."""
    asked = payload.get("explain", False) if isinstance(payload, dict) else False
    if not isinstance(asked, bool):
        raise RequestError(422, f"'explain' must be true or false, not {_json(asked)}.")
    return asked or _said_yes(request.GET.get("explain", ""))


def wants_reasons(request) -> bool:
    """Whether a batch upload asks for each row's reasons: a ``reasons`` form field (a
    checkbox) or ``?reasons=true``."""
    return _said_yes(request.POST.get("reasons", "")) or _said_yes(request.GET.get("reasons", ""))


def _said_yes(value: str) -> bool:
    return value.lower() in ("true", "1", "yes", "on")


def read_rows(payload, version, *, key: str | None = None):
    """The request's rows read for ``version``'s model (an ``automl.Rows``), or
    ``RequestError`` (400 or 422) saying what is wrong.

    Each value is taken in its JSON type or as the training file wrote it ("Yes", 0/1,
    "1,234.50", dates as written); the training table's columns the model does not use are
    accepted and named back; a missing value is ``null``, a blank or an absent field, refused
    for required columns; any other field is refused, so that a typo is not silently ignored.
    ``key`` (or the body's ``"key"``) names the field echoed back as each row's key.
    """
    if not isinstance(payload, dict) or not isinstance(payload.get("rows"), list):
        raise RequestError(400, 'Send a JSON object with a list of rows: {"rows": [{...}]}.')
    unknown_keys = sorted(set(payload) - BODY_FIELDS)
    if unknown_keys:
        raise RequestError(
            422, f"Unknown field {quoted(unknown_keys[0])}: only {listing(sorted(BODY_FIELDS))} "
            "are read.",
        )  # fmt: skip
    rows = payload["rows"]
    if not rows:
        raise RequestError(400, "There are no rows to predict.")
    limit = settings.MAX_PREDICTION_ROWS
    if len(rows) > limit:
        raise RequestError(422, f"{len(rows)} rows is over the limit of {limit} per request.")
    key = payload.get("key", key)
    if key is not None and not isinstance(key, str):
        raise RequestError(422, f"'key' must be the name of a column, not {_json(key)}.")
    read = read_columns(rows, version.schema, ignored=version.ignored_columns, key=key)
    if read.problems:
        shown = read.problems[:20]
        raise RequestError(422, f"{len(read.problems)} problem(s) in the rows: {shown[0]}.", shown)
    return read


# What a prediction request's JSON object may hold.
BODY_FIELDS = {"rows", "explain", "key"}


def _json(value) -> str:
    return shortened(json.dumps(value), QUOTED_CHARACTERS)


def predict(served: Served, columns: dict[str, list], explain: bool = False) -> dict:
    """Predictions (and class probabilities, and with ``explain`` each row's reason codes) as
    JSON; ``RequestError(422)`` for values the model cannot read, such as a date it cannot
    parse, or reason codes asked of a model that gives none."""
    from automl import AutoMLError

    try:
        answer = _answer(served, columns)
        if explain:
            answer["explanations"] = served.model.explain(pd.DataFrame(columns), TOP_REASONS)
        return answer
    except AutoMLError as err:
        raise RequestError(422, str(err)) from None


def _answer(served: Served, columns: dict[str, list]) -> dict:
    model = served.model
    if model.is_classifier:
        proba = _predicted(served, columns, "predict_proba")
        classes = model.classes_
        labels = [_plain(c) for c in classes[proba.argmax(axis=1)]]
        names = [str(c) for c in classes]
        probabilities = [
            dict(zip(names, (round(float(p), 6) for p in row), strict=True)) for row in proba
        ]
        return {"predictions": labels, "probabilities": probabilities}
    return {"predictions": [float(v) for v in _predicted(served, columns, "predict")]}


def _predicted(served: Served, columns: dict[str, list], method: str):
    from automl import Unsupported

    n_rows = len(next(iter(columns.values()), []))
    if served.fast is not None and n_rows <= FAST_ROWS:
        try:
            return getattr(served.fast, method)(columns)
        except Unsupported:
            pass  # a value only the full path reads, or explains
    return getattr(served.model, method)(pd.DataFrame(columns))


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value
