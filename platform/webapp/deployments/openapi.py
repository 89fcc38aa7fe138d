"""Each deployment's endpoints in OpenAPI, with its real columns, types and an example row.

The platform's schema has one generic prediction path; a deployment's own document (and the
platform's schema as its owner reads it) adds the concrete path, so client generators and
the docs page show exactly what to send.
"""

from __future__ import annotations

import re

from django.conf import settings

from automl import MAX_MAGNITUDE
from webapp.deployments.models import Deployment, Version
from webapp.deployments.serving import TOP_REASONS

ERROR = {"$ref": "#/components/schemas/ErrorOut"}
ERRORS = {
    "400": "Not JSON, or not an object with a list of rows",
    "401": "No key, or not a live key of this deployment",
    "404": "No such deployment",
    "422": "Values that do not fit the columns; the messages name row and column",
    "503": "Paused by its owner, or the model cannot be loaded",
}
# strftime directives as the patterns of the values they read.
DIRECTIVES = {"%d": r"\d{1,2}", "%m": r"\d{1,2}", "%Y": r"\d{4}", "%H": r"\d{1,2}",
              "%M": r"\d{2}", "%S": r"\d{2}", "%b": "[A-Za-z]{3}"}  # fmt: skip


def paths(deployment: Deployment) -> dict:
    """OpenAPI path items for ``deployment``'s prediction endpoint as it serves now."""
    version = deployment.current
    if version is None:
        return {}
    base = f"/api/v1/deployments/{deployment.slug}"
    experiment = version.candidate.experiment
    return {
        f"{base}/predict": {
            "post": {
                "operationId": f"predict_{deployment.slug.replace('-', '_')}",
                "summary": f"Predict {experiment.target!r} with {deployment.slug} "
                f"(version {version.number})",
                "tags": ["your deployments"],
                "security": [{"DeploymentKey": []}],
                "parameters": [EXPLAIN_QUERY, KEY_QUERY],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": request_schema(version),
                            "example": version.example(),
                        },
                        "text/csv": csv_body(CSV_ROWS),
                    },
                },
                "responses": {
                    "200": {
                        "description": "One prediction per row, in order",
                        "content": {"application/json": {"schema": answer_schema(version)}},
                    },
                    **{
                        status: {
                            "description": description,
                            "content": {"application/json": {"schema": ERROR}},
                        }
                        for status, description in ERRORS.items()
                    },
                },
            }
        }
    }


def document(deployment: Deployment, components: dict) -> dict:
    """A whole OpenAPI document for one deployment (for its key holders' client generators)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"{deployment.slug} prediction API",
            "version": str(deployment.current.number if deployment.current else 0),
            "description": f"Predictions from the deployment {deployment.name!r}. "
            "Authenticate with one of its keys: `Authorization: Bearer <key>`.",
        },
        "paths": paths(deployment),
        "components": {
            "schemas": {"ErrorOut": components["schemas"]["ErrorOut"]},
            "securitySchemes": {"DeploymentKey": components["securitySchemes"]["DeploymentKey"]},
        },
    }


def request_schema(version: Version) -> dict:
    """The request body: each model column in its JSON type or as the training file wrote it,
    the training table's unused columns accepted, and ``id`` as an optional row key."""
    properties = {column["name"]: _column(column) for column in version.schema}
    for name in version.ignored_columns:
        properties[name] = {
            "description": "A column of the training data the model does not use: accepted, "
            "and named in the answer's ignored_columns",
        }
    properties.setdefault("id", ROW_ID)
    row = {
        "type": "object",
        "properties": properties,
        "required": [c["name"] for c in version.schema if c["required"]],
        "additionalProperties": False,
    }
    return rows_body(row, maxItems=settings.MAX_PREDICTION_ROWS)


def _column(column: dict) -> dict:
    kind = column["kind"]
    types = WRITTEN_TYPES.get(kind, ["string", "integer", "number"])
    prop = {"type": types if column["required"] else [*types, "null"]}
    notes = [AS_WRITTEN.get(kind, "")]
    if kind == "numeric":
        prop["maximum"], prop["minimum"] = MAX_MAGNITUDE, -MAX_MAGNITUDE
    if kind == "datetime":
        dates = date_format(column)
        notes.append(dates.pop("description"))
        prop.update(dates)
    if column.get("categories"):
        shown = column["categories"][:20]
        more = ", …" if len(column["categories"]) > 20 else ""
        notes.append("Seen in training: " + ", ".join(map(str, shown)) + more)
    prop["description"] = ". ".join(note for note in notes if note)
    if column["example"] is not None:
        prop["examples"] = [column["example"]]
    return prop


# Each kind's JSON types: its own, and text as the training file wrote it.
WRITTEN_TYPES = {
    "numeric": ["number", "string"],
    "boolean": ["boolean", "integer", "string"],
    "datetime": ["string"],
}
AS_WRITTEN = {
    "numeric": 'A number, or text as the training data wrote numbers ("1,234.50", "12 %")',
    "boolean": "true or false, 1 or 0, or as the training data wrote it (yes/no, y/n, on/off)",
    "categorical": "A category (a number is read as its text)",
}
# A field that is not a column: echoed back with the row's prediction in ``keys``.
ROW_ID = {"description": "Optional: the row's key, echoed back in the answer's keys"}


# What ``"explain": true`` adds to an answer: each row's reason codes.
EXPLANATIONS = {
    "type": "array",
    "description": "With explain: for each row, a base value and the columns that moved the "
    "answer most; all the columns' contributions add up to the answer (the predicted value, or "
    "the probability of the explained class: the positive one for yes/no targets, else the "
    "predicted one), so base + contributions = output",
    "items": {
        "type": "object",
        "required": ["base", "output", "explained", "contributions"],
        "properties": {
            "base": {"type": "number", "description": "The answer for an average row"},
            "output": {"type": "number"},
            "explained": {"description": "The class explained (null for a number)"},
            "contributions": {
                "type": "array",
                "description": f"The {TOP_REASONS} columns of largest contribution in size",
                "items": {
                    "type": "object",
                    "required": ["column", "value", "contribution"],
                    "properties": {
                        "column": {"type": "string"},
                        "value": {"description": "The value as the model read it"},
                        "contribution": {"type": "number"},
                    },
                },
            },
        },
    },
}


IGNORED = {
    "type": "array",
    "items": {"type": "string"},
    "description": "Columns the rows sent that the model does not use (the training data's "
    "IDs, excluded columns, the target): read and left out",
}
KEYS = {
    "type": "array",
    "description": "Each row's key as sent (the field named by `key`, or `id`); only when "
    "there is one",
}


# ``?explain=true``: the body's ``"explain"`` as a query parameter.
EXPLAIN_QUERY = {
    "name": "explain",
    "in": "query",
    "required": False,
    "schema": {"type": "boolean", "default": False},
    "description": 'Add each row\'s reason codes (`explanations`), as `"explain": true` does',
}


def rows_body(row: dict, **rows: object) -> dict:
    """A prediction request: ``{"rows": [row, ...], "explain": bool, "key": str}``, with
    more keywords for ``rows``."""
    return {
        "type": "object",
        "required": ["rows"],
        "additionalProperties": False,
        "properties": {
            "rows": {"type": "array", "items": row, "minItems": 1, **rows},
            "explain": {
                "type": "boolean",
                "default": False,
                "description": "Add each row's reason codes (`explanations`); also `?explain=true`",
            },
            "key": KEY,
        },
    }


KEY = {
    "type": "string",
    "description": "The field of each row echoed back as its key in the answer's `keys` (a "
    "column such as an ID, or `id`, the default when rows send it); also `?key=`",
}
# ``?key=``: the body's ``"key"`` as a query parameter (for CSV bodies).
KEY_QUERY = {
    "name": "key",
    "in": "query",
    "required": False,
    "schema": {"type": "string"},
    "description": "The field of each row echoed back as its key in `keys`, as the body's "
    '`"key"` does',
}


def csv_body(description: str) -> dict:
    """The ``text/csv`` form of a prediction request: the rows as a file."""
    return {
        "schema": {"type": "string", "description": description},
        "example": "customer_id,age,plan\nC1000,38,basic\n",
    }


CSV_ROWS = (
    "A CSV file: a header line naming the columns, then one line per row, written as the "
    "training file was (its delimiter, decimal mark and encoding are found the same way). "
    "Options go in the query: `?explain=true`, `?key=column`"
)


def answer_schema(version: Version) -> dict:
    classes = version.classes
    if classes:
        prediction = {"description": "The predicted class: one of " + ", ".join(classes)}
        probabilities = {
            "type": "array",
            "description": "Each row's probability per class",
            "items": {
                "type": "object",
                "properties": {c: {"type": "number", "minimum": 0, "maximum": 1} for c in classes},
                "required": classes,
            },
        }
    else:
        prediction = {"type": "number"}
        probabilities = {"type": "null"}
    return {
        "type": "object",
        "required": ["predictions", "probabilities", "deployment", "version", "ignored_columns"],
        "properties": {
            "predictions": {"type": "array", "items": prediction},
            "probabilities": probabilities,
            "deployment": {"type": "string", "const": version.deployment.slug},
            "version": {"type": "integer"},
            "explanations": EXPLANATIONS,
            "ignored_columns": IGNORED,
            "keys": KEYS,
        },
    }


def date_format(column: dict) -> dict:
    """How a date column's values are written: a JSON Schema format for ISO dates, else a
    pattern from the format training found (which cannot rule out a 31st of February)."""
    written = column.get("date_format")
    if written == "ISO8601":
        example = str(column["example"] or "")
        is_day = re.fullmatch(r"\d{4}-\d{2}-\d{2}", example) or not example
        return {"format": "date" if is_day else "date-time", "description": "An ISO 8601 date"}
    if written:
        parts = re.split(r"(%[a-zA-Z])", written)
        pattern = "".join(DIRECTIVES.get(part, re.escape(part)) for part in parts if part)
        return {"pattern": f"^{pattern}$", "description": f"A date written as {written}"}
    return {"description": "A date, written as in the training data"}
