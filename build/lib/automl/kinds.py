"""Column kinds: what a column holds, inferred from its values, and how to read it as that kind.

Analysts' files store numbers as text ("1,234", "12 %", "$5"), booleans as yes/no and dates in
many formats. Inference decides a kind once, at profiling; ``convert`` then reads any column the
same way at training and at prediction time, so a model never sees a value parsed differently
from the data it learned on.
"""

from __future__ import annotations

import re
import sys
import warnings

import numpy as np
import pandas as pd

KINDS = ("numeric", "categorical", "boolean", "datetime", "text", "identifier", "constant")
# Kinds a model learns from; identifiers and constants carry no signal that generalises.
FEATURE_KINDS = ("numeric", "categorical", "boolean", "datetime", "text")

TRUE_WORDS = {"true", "t", "yes", "y", "1", "1.0", "on"}
FALSE_WORDS = {"false", "f", "no", "n", "0", "0.0", "off"}
DATE_FORMATS = (
    "ISO8601",
    "%d/%m/%Y",
    "%m/%d/%Y",
    "%d.%m.%Y",
    "%d-%m-%Y",
    "%Y/%m/%d",
    "%d/%m/%Y %H:%M",
    "%m/%d/%Y %H:%M",
    "%d/%m/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M:%S",
    "%d %b %Y",
    "%b %d, %Y",
)
# Currency signs, percent and spaces around a number: "$ 1,234.50", "12 %". Stripped as
# character sets, not by a regular expression: a pattern anchored at the end, such as
# ``[\s%]*$``, is tried from every position and takes quadratic time on a long cell.
_SPACES = "".join(chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace())
_LEADING_NOISE = _SPACES + "$€£¥"
_TRAILING_NOISE = _SPACES + "%"
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(\D|$))")
_ID_NAME = re.compile(r"(^|[_\s-])(id|uuid|guid|key|code)$|^id[_\s-]|Id$|ID$")

# Share of non-missing values that must parse for a text column to count as numbers or dates.
PARSE_SHARE = 0.95
# The largest size of a number a model reads; infinities and larger values count as missing.
MAX_MAGNITUDE = 1e30
SAMPLE = 5000


def _strings(series: pd.Series) -> pd.Series:
    return series.dropna().astype(str).str.strip()


def parse_numbers(series: pd.Series) -> pd.Series:
    """Read text such as "1,234.5", "$5" or "12 %" as floats; what does not parse is NaN."""
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        return series.astype(float)
    text = series.astype("string").str.lstrip(_LEADING_NOISE).str.rstrip(_TRAILING_NOISE)
    text = text.str.replace(_THOUSANDS, "", regex=True)
    return pd.to_numeric(text, errors="coerce").astype(float)


def parse_booleans(series: pd.Series) -> pd.Series:
    """Read yes/no, true/false, 1/0 ... as 1.0 / 0.0; anything else is NaN."""
    if pd.api.types.is_bool_dtype(series):
        return series.astype(float)
    if pd.api.types.is_numeric_dtype(series):  # already 1/0, as a model's input reader gives
        return series.astype(float).where(series.isin([0, 1]))
    words = series.astype("string").str.strip().str.lower()
    out = pd.Series(np.nan, index=series.index, dtype=float)
    out[words.isin(TRUE_WORDS).fillna(False).to_numpy(bool)] = 1.0
    out[words.isin(FALSE_WORDS).fillna(False).to_numpy(bool)] = 0.0
    return out


def parse_dates(series: pd.Series, date_format: str | None) -> pd.Series:
    """Read dates with the format found at profiling; what does not parse is NaT."""
    if pd.api.types.is_datetime64_any_dtype(series):
        values = series
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            values = pd.to_datetime(
                series.astype("string"), format=date_format, errors="coerce", utc=True
            )
    if getattr(values.dt, "tz", None) is not None:
        values = values.dt.tz_convert("UTC").dt.tz_localize(None)
    return values


def convert(series: pd.Series, kind: str, date_format: str | None = None) -> pd.Series:
    """``series`` read as ``kind``: floats, 0/1 floats, datetimes, or strings with NaN kept.

    Numbers larger than ``MAX_MAGNITUDE`` in size (and infinities) become NaN.
    """
    if kind == "numeric":
        numbers = parse_numbers(series)
        # Beyond this no model computes reliably (float32 overflows to infinity in forests),
        # so such values are unusable, like text in a number column.
        return numbers.where(numbers.abs() <= MAX_MAGNITUDE)
    if kind == "boolean":
        return parse_booleans(series)
    if kind == "datetime":
        return parse_dates(series, date_format)
    text = series.astype("string").str.strip()
    return text.mask(text == "").astype(object).where(text.notna(), np.nan)


def invalid_rows(
    series: pd.Series, kind: str, date_format: str | None = None, converted: pd.Series = None
) -> pd.Series:
    """Mask of values present in ``series`` that cannot be read as ``kind``.

    ``converted``, when the caller already has ``convert(series, ...)``, saves a second parse.
    """
    if kind not in ("numeric", "boolean", "datetime"):
        return pd.Series(False, index=series.index)
    present = series.notna()
    if not pd.api.types.is_numeric_dtype(series):
        present &= series.astype("string").str.strip() != ""
    if converted is None:
        converted = convert(series, kind, date_format)
    return present & converted.isna()


def find_date_format(series: pd.Series) -> str | None:
    """The first known date format that reads nearly every value of ``series``, if any."""
    sample = _strings(series).head(SAMPLE)
    if sample.empty or not sample.str.contains(r"\d", regex=True).all():
        return None
    # Plain numbers such as 2021 or 20210105 are numbers, not dates, until a user says so.
    if sample.str.fullmatch(r"[-+]?\d+(\.\d+)?").mean() > 0.5:
        return None
    for date_format in DATE_FORMATS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            parsed = pd.to_datetime(sample, format=date_format, errors="coerce")
        if parsed.notna().mean() >= PARSE_SHARE:
            return date_format
    return None


def infer_kind(
    series: pd.Series, name: str = "", *, distinct: int | None = None
) -> tuple[str, str | None]:
    """Return ``(kind, date_format)`` for a column, the date format only for datetimes.

    ``distinct``, when the caller has counted the column's distinct values present, saves a
    pass over a long column.
    """
    values = series.dropna()
    is_text = pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)
    if is_text:  # the count the caller has is of the text before stripping: count again
        values = values.astype(str).str.strip()
        values = values[values != ""]
        distinct = None
    n_distinct = values.nunique() if distinct is None else distinct
    if n_distinct <= 1:
        return "constant", None
    if pd.api.types.is_bool_dtype(values):
        return "boolean", None
    if pd.api.types.is_datetime64_any_dtype(values):
        return "datetime", None
    if not is_text:
        return _numeric_kind(values, name, n_distinct), None

    if n_distinct == 2 and {v.lower() for v in values.unique()} <= TRUE_WORDS | FALSE_WORDS:
        return "boolean", None
    # Decide on a sample; parse every value only once a column is known to hold numbers.
    sample = values.sample(SAMPLE, random_state=0) if len(values) > SAMPLE else values
    if parse_numbers(sample).notna().mean() >= PARSE_SHARE:
        numbers = parse_numbers(values).dropna()
        return _numeric_kind(numbers, name, numbers.nunique()), None
    date_format = find_date_format(sample)
    if date_format is not None:
        return "datetime", date_format
    if _looks_like_text(sample):
        return "text", None
    if _looks_like_identifier(values, name):
        return "identifier", None
    return "categorical", None


def _numeric_kind(values: pd.Series, name: str, n_distinct: int) -> str:
    if n_distinct == 2 and set(values.unique()) <= {0, 1}:
        return "boolean"
    numbers = values.to_numpy(float)
    # Most measurements show a fraction in their first rows: no pass over a long column then.
    is_integral = all(bool(np.all(np.mod(part, 1) == 0)) for part in (numbers[:1000], numbers))
    if is_integral and n_distinct == len(values) and len(values) >= 20:
        ordered = values.sort_values().to_numpy(float)
        consecutive = bool(np.all(np.diff(ordered) == 1))
        if consecutive or _ID_NAME.search(name or ""):
            return "identifier"
    return "numeric"


def _looks_like_text(text: pd.Series) -> bool:
    sample = text.head(SAMPLE)
    words = sample.str.count(r"\s+") + 1
    return (
        sample.nunique() > 0.5 * len(sample) and words.mean() >= 4 and sample.str.len().mean() > 25
    )


def _looks_like_identifier(text: pd.Series, name: str) -> bool:
    unique_share = text.nunique() / len(text)
    if len(text) < 20:
        return False
    return unique_share == 1.0 or (unique_share > 0.95 and bool(_ID_NAME.search(name or "")))
