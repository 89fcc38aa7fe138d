"""The columns a deployment's requests send, as its key holders see them.

A key is handed to another team's program, so what it reveals is a description, never the
data: each column's example is a typical value made from the training profile (a median, the
most frequent of a few categories, a date mid-way through the range), categories are listed
only for columns with few of them, and free text shows its type, not values such as names.
"""

from __future__ import annotations

from datetime import datetime

# More categories than this are not listed (they are likely names, places, products).
LISTED_CATEGORIES = 30
PLACEHOLDERS = {"text": "text", "categorical": "category"}


def column(model_column: dict, profile: dict | None, *, required: bool) -> dict:
    """One request column: the model's ``{name, kind, categories, date_format}`` with its
    training profile (``profile``, which may be missing) turned into a public example."""
    kind = model_column["kind"]
    categories = model_column.get("categories") or None
    if kind not in ("categorical", "boolean") or len(categories or ()) > LISTED_CATEGORIES:
        categories = None
    return {
        "name": model_column["name"],
        "kind": kind,
        "required": required,
        "categories": categories,
        "example": _example(kind, categories, model_column.get("date_format"), profile or {}),
        "date_format": model_column.get("date_format"),
    }


def _example(kind: str, categories: list | None, date_format: str | None, profile: dict):
    stats = profile.get("stats") or {}
    if kind == "numeric":
        return _typical_number(stats, profile.get("examples") or [])
    if kind == "boolean":
        return _typical_boolean(stats)
    if kind == "datetime":
        return _typical_date(stats, date_format)
    if kind == "categorical" and categories:
        top = stats.get("top") or []
        return str(top[0][0]) if top else categories[0]
    return PLACEHOLDERS.get(kind, "text")


def _typical_number(stats: dict, examples: list) -> float | int:
    median = stats.get("50%")
    if median is None:
        return 0
    numbers = _numbers(examples)
    if numbers and all(number.is_integer() for number in numbers):
        return round(median)
    return float(f"{median:.4g}")


def _numbers(values: list) -> list[float]:
    numbers = []
    for value in values:
        try:
            numbers.append(float(value))
        except (TypeError, ValueError):
            continue
    return numbers


def _typical_boolean(stats: dict) -> bool:
    import pandas as pd

    from automl import parse_booleans

    top = stats.get("top") or []
    if not top:
        return False
    value = parse_booleans(pd.Series([str(top[0][0])]))[0]
    return bool(value == 1.0)  # NaN, for a word it cannot read, counts as false


def _typical_date(stats: dict, date_format: str | None) -> str:
    """A date mid-way through the training range, written as the column writes dates."""
    try:
        first = datetime.fromisoformat(str(stats["min"]))
        last = datetime.fromisoformat(str(stats["max"]))
    except (KeyError, ValueError):
        return "2024-01-01"
    middle = first + (last - first) / 2
    midnight = datetime.min.time()
    if first.time() == last.time() == midnight:  # a column of days: a day, not a noon
        middle = datetime.combine(middle.date(), midnight)
    if date_format and date_format != "ISO8601":
        return middle.strftime(date_format)
    if middle.time() == midnight:
        return middle.date().isoformat()
    return middle.isoformat(sep=" ", timespec="seconds")
