"""Rows sent to a model as JSON values, read the way the training file was read.

A program that calls a model sends what its own table holds: ``"Yes"``/``"No"`` or ``0``/``1``
for a yes/no column, ``"1,234.50"`` for a number, a date as the training file wrote dates, and
columns the model does not use (an ID, the target itself). ``read_rows`` accepts each value in
its JSON type or as the training data wrote it, reads text numbers with the same rules as
training (``automl.kinds.convert``), and says in one line per problem which row and column
cannot be used. What it does not check, a date it cannot parse, the model's own reading finds
and names (``Model.validate``).
"""

from __future__ import annotations

import json
from typing import NamedTuple

import pandas as pd

from automl import kinds as K
from automl.wording import QUOTED_CHARACTERS, listing, shortened

# Problems listed before reading stops: enough to fix a request, few enough to read.
MAX_PROBLEMS = 20
# A row field echoed back as the row's key when the request names none.
DEFAULT_KEY = "id"


class Rows(NamedTuple):
    """Request rows as columns of values for the model.

    ``columns`` maps each model column to one value per row (``None`` when missing);
    ``ignored`` names the columns sent that the model does not use; ``keys`` holds each row's
    key as sent (``None`` when no key is in play); ``problems`` says, one line each, what
    cannot be used, by row and column (empty when all is well).
    """

    columns: dict[str, list]
    ignored: list[str]
    keys: list | None
    problems: list[str]


def read_rows(rows: list, schema: list[dict], *, ignored=(), key: str | None = None) -> Rows:
    """Read ``rows`` (a list of ``{column: value}`` objects) for a model whose input columns
    are ``schema`` (``{"name", "kind"}``, with ``"required"`` for columns that must have a
    value and ``"categories"`` as written in training).

    ``ignored`` are columns of the training file the model does not use: accepted and named
    in ``Rows.ignored``. ``key`` names the field echoed back as each row's key (by default
    ``"id"`` when rows send it); any other field is an unknown column.
    """
    columns = {column["name"]: column for column in schema}
    ignored = set(ignored)
    if (
        key is None
        and DEFAULT_KEY not in columns
        and any(isinstance(row, dict) and DEFAULT_KEY in row for row in rows)
    ):
        key = DEFAULT_KEY
    values: dict[str, list] = {name: [] for name in columns}
    keys = [] if key is not None else None
    sent_ignored: set[str] = set()
    # Numbers sent as text, read together per column: (row number, position, text).
    texts: dict[str, list[tuple[int, int, str]]] = {}
    problems: list[str] = []
    for number, row in enumerate(rows, 1):
        if not isinstance(row, dict):
            problems.append(f"row {number}: expected an object of column values")
            continue
        if keys is not None:
            keys.append(row.get(key))
        for name in row:
            if name in ignored:
                sent_ignored.add(name)
            elif name not in columns and name != key:
                problems.append(f"row {number}: unknown column {name!r}")
        for name, column in columns.items():
            value, problem = _cell(row.get(name), column)
            if problem:
                problems.append(f"row {number}: {name!r} {problem}")
            elif isinstance(value, str) and column["kind"] == "numeric":
                texts.setdefault(name, []).append((number, len(values[name]), value))
            values[name].append(value)
        if len(problems) > MAX_PROBLEMS:
            break
    for name, sent in texts.items():
        problems += _read_numbers(values[name], sent, name)
    return Rows(values, sorted(sent_ignored), keys, problems)


def _cell(value, column: dict):
    """``(value for the model, problem or None)`` for one cell."""
    if isinstance(value, str) and not value.strip():
        value = None  # a blank cell of a file is a missing value
    if value is None:
        return None, ("is required" if column.get("required") else None)
    kind = column["kind"]
    if kind == "numeric":
        if isinstance(value, str):
            return value, None  # read with the training file's rules, per column
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None, f"must be a number, not {_shown(value)}"
        # Compared before any float conversion, which would overflow on a huge integer.
        if not abs(value) <= K.MAX_MAGNITUDE:
            return None, f"is too large: numbers are read up to {K.MAX_MAGNITUDE:g} in size"
        return value, None
    if kind == "boolean":
        return _yes_no(value, column)
    if kind in ("categorical", "text") and _is_number(value):
        return str(value), None  # a category written as a number is text to the model
    if not isinstance(value, str):
        expected = "a date, written as in the training data" if kind == "datetime" else "text"
        return None, f"must be {expected}, not {_shown(value)}"
    return value, None


def _yes_no(value, column: dict):
    if isinstance(value, bool):
        return value, None
    if _is_number(value) and value in (0, 1):
        return bool(value), None
    if isinstance(value, str):
        word = value.strip().lower()
        if word in K.TRUE_WORDS:
            return True, None
        if word in K.FALSE_WORDS:
            return False, None
    written = column.get("categories")
    also = f", or as in the training data: {listing(written)}" if written else ""
    return None, f"must be true or false (or 1 or 0{also}), not {_shown(value)}"


def _read_numbers(values: list, sent: list[tuple[int, int, str]], name: str) -> list[str]:
    """Put the numbers read from ``sent`` (row number, position, text) into ``values``; a
    problem for each text that is not a number as training read them."""
    numbers = K.parse_numbers(pd.Series([text for _, _, text in sent], dtype=object))
    problems = []
    for (number, position, text), parsed in zip(sent, numbers, strict=True):
        if pd.isna(parsed):
            problems.append(f"row {number}: {name!r} must be a number, not {_shown(text)}")
        elif not abs(parsed) <= K.MAX_MAGNITUDE:
            problems.append(
                f"row {number}: {name!r} is too large: numbers are read up to "
                f"{K.MAX_MAGNITUDE:g} in size"
            )
        else:
            values[position] = float(parsed)
    return problems


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _shown(value) -> str:
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return shortened(text, QUOTED_CHARACTERS)
