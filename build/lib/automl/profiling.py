"""Profile a table: what each column holds, what the target asks for, and what looks wrong
(its checks, ``automl.checks``)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from os import PathLike

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from automl import kinds as K
from automl.checks import (
    Check,
    disguised_missing,
    inliers,
    ordered,
    table_checks,
    target_checks,
)
from automl.exceptions import DataError
from automl.wording import plain, shortened

TASKS = ("binary", "multiclass", "regression")
# An integer target with at most this many values is read as classes (wine quality 3..9).
MAX_CLASSES_FROM_NUMBERS = 20
HISTOGRAM_BINS = 20
# Longest example or frequent value kept in a profile, in characters.
SHOWN_CHARACTERS = 200
# Values held at once when profiling a Parquet file: a group of columns or a slice of rows.
CHUNK_CELLS = 1_000_000
# Column names that usually hold what a table is about, in the words people use.
TARGET_NAME = re.compile(
    r"^(y|target|label|class|outcome|result|response|status|churn\w*|default|survived|"
    r"price|sales|revenue|quality|score|exited|fraud|approved)$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class ColumnProfile:
    """What one column holds. ``missing`` is a share in [0, 1]; ``missing_values`` are values
    read as missing (codes for "unknown", see ``automl.checks``); ``left_out`` is set when a
    check leaves the column out of training (a high-risk leak)."""

    name: str
    kind: str
    inferred_kind: str
    dtype: str
    count: int
    missing: float
    distinct: int
    examples: list
    date_format: str | None = None
    stats: dict = field(default_factory=dict)
    missing_values: tuple = ()
    left_out: bool = False

    @property
    def is_feature(self) -> bool:
        return self.kind in K.FEATURE_KINDS and not self.left_out


@dataclass(frozen=True)
class DatasetProfile:
    """The profile of a table, and of its target when one was given.

    Attributes
    ----------
    columns : tuple of ColumnProfile, in the table's order (the target included).
    task : "binary", "multiclass" or "regression" when a target was given, else None.
    target_summary : class counts for classification; min, max, mean, std and skew for
        regression.
    checks : tuple of automl.checks.Check, alerts first.
    """

    n_rows: int
    n_columns: int
    columns: tuple[ColumnProfile, ...]
    duplicate_rows: int
    target: str | None = None
    task: str | None = None
    target_summary: dict = field(default_factory=dict)
    checks: tuple[Check, ...] = ()

    def column(self, name: str) -> ColumnProfile:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)

    @property
    def features(self) -> list[ColumnProfile]:
        """Columns a model learns from: every feature kind but the target."""
        return [c for c in self.columns if c.is_feature and c.name != self.target]

    def to_dict(self) -> dict:
        return _jsonable(asdict(self))


def profile(
    df: pd.DataFrame,
    target: str | None = None,
    *,
    kinds: dict[str, str] | None = None,
    exclude: list[str] | tuple[str, ...] = (),
    task: str = "auto",
    keep: list[str] | tuple[str, ...] = (),
    time_column: str | None = None,
) -> DatasetProfile:
    """Profile ``df``: the kind of each column, the task its ``target`` asks for, and checks.

    Parameters
    ----------
    df : DataFrame
        The table, one row per example.
    target : str, optional
        The column to predict. Adds the task, the target's summary and target-aware checks.
    kinds : dict, optional
        Kinds chosen by the caller, overriding inference: ``{"zip": "categorical"}``.
    exclude : list of str
        Columns to leave out of the model; their kind becomes "excluded".
    task : {"auto", "binary", "multiclass", "regression"}
        Overrides the task inferred from the target.
    keep : list of str
        Columns used as they are, whatever the checks say: a suspected leak kept for
        training, codes for "unknown" kept as values.
    time_column : str, optional
        The date ordering the rows (a time-ordered validation's): a date column later than it
        on nearly every row is flagged as a leak.

    Returns
    -------
    DatasetProfile

    Raises
    ------
    DataError
        Unknown columns or kinds, or a target that cannot be learned.

    See Also
    --------
    profile_parquet : The same for a Parquet file, read a few columns at a time.

    Examples
    --------
    >>> p = profile(pd.DataFrame({"x": [1, 2, 3], "y": ["a", "b", "a"]}), target="y")
    >>> p.task, p.column("x").kind
    ('binary', 'numeric')
    """
    if not isinstance(df, pd.DataFrame):
        raise DataError("Expected a table (a pandas DataFrame).")
    return _profile(_Frame(df), target, kinds, exclude, task, keep, time_column)


def profile_parquet(
    path: str | PathLike[str],
    target: str | None = None,
    *,
    kinds: dict[str, str] | None = None,
    exclude: list[str] | tuple[str, ...] = (),
    task: str = "auto",
    keep: list[str] | tuple[str, ...] = (),
    time_column: str | None = None,
) -> DatasetProfile:
    """Profile a Parquet file without loading it whole: the same result as ``profile``.

    Columns are read a few at a time and rows hashed slice by slice (``CHUNK_CELLS`` values
    at once), so memory stays near the largest column rather than the whole table.

    Parameters
    ----------
    path : str or path-like
        A Parquet file, as ``DataFrame.to_parquet`` writes it.
    target, kinds, exclude, task, keep, time_column
        As for ``profile``.

    Returns
    -------
    DatasetProfile
    """
    with pq.ParquetFile(path) as file:
        return _profile(_ParquetTable(file), target, kinds, exclude, task, keep, time_column)


def _profile(table: _Table, target, kinds, exclude, task, keep, time_column) -> DatasetProfile:
    _check_table(table.names, table.n_rows)
    kinds = dict(kinds or {})
    named = set(kinds) | set(exclude) | set(keep) | ({time_column} if time_column else set())
    unknown = sorted(named - set(table.names))
    if unknown:
        raise DataError(f"These columns are not in the table: {', '.join(map(repr, unknown))}.")
    bad = sorted({k for k in kinds.values() if k not in K.KINDS})
    if bad:
        raise DataError(f"Unknown column kind {bad[0]!r}; use one of {', '.join(K.KINDS)}.")
    if target is not None and target not in table.names:
        raise DataError(f"The target column {target!r} is not in the table.")

    columns = tuple(
        _profile_column(
            series,
            kinds.get(series.name),
            excluded=series.name in exclude and series.name != target,
            kept=series.name in keep or series.name == target,
        )
        for series in table.columns()
    )
    result = DatasetProfile(table.n_rows, len(table.names), columns, _duplicates(table))
    checks = table_checks(result)
    if target is not None:
        y = table.column(target)
        detected, summary = _target_task(y, result.column(target), task)
        result = replace(result, target=target, task=detected, target_summary=summary)
        found, leaving = target_checks(table, y, result, keep, time_column)
        checks += found
        columns = tuple(replace(c, left_out=c.name in leaving) for c in result.columns)
        result = replace(result, columns=columns)
    return replace(result, checks=ordered(checks))


class _Frame:
    """A DataFrame read the way profiling reads a table: column by column, rows by slices."""

    def __init__(self, df: pd.DataFrame) -> None:
        self.df, self.names, self.n_rows = df, list(df.columns), len(df)

    def columns(self) -> Iterator[pd.Series]:
        return (self.df[name] for name in self.names)

    def column(self, name: str) -> pd.Series:
        return self.df[name]

    def row_slices(self, size: int) -> Iterator[pd.DataFrame]:
        return (self.df.iloc[start : start + size] for start in range(0, self.n_rows, size))

    def rows(self, positions: np.ndarray, names: list[str]) -> pd.DataFrame:
        return self.df.iloc[positions][names]


class _ParquetTable:
    """A Parquet file read a group of columns or a slice of rows at a time."""

    def __init__(self, file: pq.ParquetFile) -> None:
        self.file, self.names, self.n_rows = file, file.schema_arrow.names, file.metadata.num_rows

    def columns(self) -> Iterator[pd.Series]:
        for group in self._groups(self.names):
            for _, series in group.items():
                yield series

    def column(self, name: str) -> pd.Series:
        return self.file.read(columns=[name]).to_pandas()[name]

    def row_slices(self, size: int) -> Iterator[pd.DataFrame]:
        return (batch.to_pandas() for batch in self.file.iter_batches(batch_size=size))

    def rows(self, positions: np.ndarray, names: list[str]) -> pd.DataFrame:
        picked = [group.iloc[positions] for group in self._groups(names)]
        return pd.concat(picked, axis=1) if picked else pd.DataFrame()

    def _groups(self, names: list[str]) -> Iterator[pd.DataFrame]:
        size = max(1, CHUNK_CELLS // self.n_rows)
        for start in range(0, len(names), size):
            yield self.file.read(columns=names[start : start + size]).to_pandas()


# Both read a table the same way, so one ``_profile`` serves frames and files.
_Table = _Frame | _ParquetTable


def _duplicates(table: _Table) -> int:
    """Rows that copy an earlier row, found by row hashes computed slice by slice.

    Not ``df.duplicated()``: that builds a codes matrix the size of the table.
    """
    size = max(1, CHUNK_CELLS // len(table.names))
    hashes = [pd.util.hash_pandas_object(rows, index=False) for rows in table.row_slices(size)]
    return int(pd.concat(hashes, ignore_index=True).duplicated().sum())


def suggest_targets(columns: list[dict], limit: int = 3) -> list[str]:
    """Likely targets among profiled columns (``DatasetProfile.to_dict()["columns"]``), best first.

    A name such as "target", "label" or "churned" first, then yes/no columns, then the last
    column (where most tables keep their outcome); never IDs, constants or free text.
    """
    usable = [
        (position, column)
        for position, column in enumerate(columns)
        if column["kind"] in ("numeric", "categorical", "boolean")
    ]

    def rank(item):
        position, column = item
        return (
            not TARGET_NAME.match(str(column["name"]).strip()),
            column["kind"] != "boolean",
            position != len(columns) - 1,
            position,
        )

    return [column["name"] for _, column in sorted(usable, key=rank)][:limit]


def _check_table(names: list, n_rows: int) -> None:
    if len(names) == 0:
        raise DataError("The table has no columns.")
    if n_rows == 0:
        raise DataError("The table has no rows.")
    names = pd.Index(names)
    if not names.is_unique:
        repeated = names[names.duplicated()].unique()[0]
        count = int((names == repeated).sum())
        raise DataError(f"Column names must be unique: {repeated!r} appears {count} times.")


def _profile_column(series: pd.Series, kind: str | None, *, excluded: bool, kept: bool
                    ) -> ColumnProfile:  # fmt: skip
    present = series.dropna()
    distinct = _count_distinct(present)
    inferred, date_format = K.infer_kind(series, str(series.name), distinct=distinct)
    chosen = "excluded" if excluded else (kind or inferred)
    if chosen == "datetime" and date_format is None and not excluded:
        date_format = K.find_date_format(series)
    # Numbers and dates are summarised as read; categories and yes/no as written.
    parsed = chosen in ("numeric", "datetime")
    values = K.convert(series, chosen, date_format) if parsed else series
    # Numbers read as numbers keep their count, unless some were too large to use.
    same = pd.api.types.is_numeric_dtype(series) and values.count() == present.size
    stats = _stats(values, chosen, distinct if same else None)
    codes = [] if excluded else disguised_missing(K.convert(series, chosen) if chosen ==
                                                  "categorical" else values, chosen)  # fmt: skip
    if codes:
        stats["disguised"] = codes
    peaks = inliers(values) if chosen == "numeric" else []
    if peaks:
        stats["inliers"] = peaks
    return ColumnProfile(
        name=str(series.name),
        kind=chosen,
        inferred_kind=inferred,
        dtype=str(series.dtype),
        count=int(present.size),
        missing=float(1 - present.size / max(len(series), 1)),
        distinct=distinct,
        examples=[_shown(v) for v in _first_distinct(present, 5)],
        date_format=date_format,
        stats=stats,
        missing_values=() if kept else tuple(value for value, _ in codes),
    )


def _count_distinct(present: pd.Series) -> int:
    """How many distinct values ``present`` (nothing missing) holds. Floats are sorted rather
    than hashed: on millions of mostly different values, over twice as fast."""
    if pd.api.types.is_float_dtype(present) and len(present):
        ordered = np.sort(present.to_numpy(float))
        return 1 + int(np.count_nonzero(ordered[1:] != ordered[:-1]))  # inf - inf is NaN
    return int(present.nunique())


def _stats(values: pd.Series, kind: str, distinct: int | None = None) -> dict:
    """A column's summary for its kind; ``distinct`` is the count of distinct values present
    when the caller has it."""
    present = values.dropna()
    if kind == "numeric" and len(present):
        numbers = present.to_numpy(float)
        if distinct is None:
            distinct = _count_distinct(present.astype(float))
        counts, edges = np.histogram(numbers, bins=min(HISTOGRAM_BINS, distinct))
        summary = {
            "min": numbers.min(),
            **dict(
                zip(("25%", "50%", "75%"), np.quantile(numbers, [0.25, 0.5, 0.75]), strict=True)
            ),
            "max": numbers.max(),
            "mean": numbers.mean(),
            "std": numbers.std(ddof=1) if len(numbers) > 1 else np.nan,
        }
        histogram = {"counts": counts.tolist(), "edges": [plain(e) for e in edges]}
        return {**{k: plain(v) for k, v in summary.items()}, "histogram": histogram}
    if kind in ("categorical", "boolean", "constant"):
        top = values.value_counts().head(10)
        return {"top": [[_shown(v), int(n)] for v, n in top.items()]}
    if kind == "datetime" and len(present):
        return {
            "min": str(present.min()),
            "max": str(present.max()),
            "timeline": _timeline(present),
        }
    return {}


def _timeline(dates: pd.Series) -> list[list]:
    """Rows per period, the period (day, month or year) chosen to give a readable curve."""
    span_days = (dates.max() - dates.min()).days
    period = "D" if span_days <= 90 else "M" if span_days <= 365 * 5 else "Y"
    counts = dates.dt.to_period(period).value_counts().sort_index()
    full = counts.reindex(pd.period_range(counts.index.min(), counts.index.max()), fill_value=0)
    return [[str(p), int(n)] for p, n in full.items()]


def _target_task(y: pd.Series, column: ColumnProfile, task: str) -> tuple[str, dict]:
    name = column.name
    present = y.dropna()
    if len(present) == 0:
        raise DataError(f"The target column {name!r} has no values.")
    if task not in ("auto", *TASKS):
        raise DataError(f"Unknown task {task!r}; use auto, binary, multiclass or regression.")
    numbers = K.parse_numbers(present)
    is_numeric = numbers.notna().mean() >= K.PARSE_SHARE
    n_classes = present.nunique()
    if task == "auto":
        integral = is_numeric and bool(np.all(np.mod(numbers.dropna(), 1) == 0))
        if n_classes == 2:
            task = "binary"
        elif is_numeric and not (integral and n_classes <= MAX_CLASSES_FROM_NUMBERS):
            task = "regression"
        else:
            task = "multiclass"
    if task == "regression":
        if not is_numeric:
            example = present[numbers.isna()].iloc[0]
            raise DataError(
                f"The target {name!r} must hold numbers for a regression, but has values such "
                f"as {example!r}."
            )
        values = numbers.dropna()
        summary = {k: float(getattr(values, k)()) for k in ("min", "max", "mean", "std")}
        # pandas' skew is NaN on fewer than 3 values or a constant target: no tail then.
        summary["skew"] = float(np.nan_to_num(values.skew()))
        return task, summary
    if n_classes < 2:
        raise DataError(
            f"The target {name!r} has a single value ({present.iloc[0]!r}): there is nothing to "
            "predict. Choose another target or add rows of other classes."
        )
    if task == "binary" and n_classes > 2:
        raise DataError(f"The target {name!r} has {n_classes} classes, not 2: choose multiclass.")
    counts = present.astype(str).value_counts()
    return task, {"classes": {str(k): int(v) for k, v in counts.items()}}


def _first_distinct(values: pd.Series, n: int) -> pd.Series:
    """The first ``n`` distinct values in order: found in the first rows when they hold that
    many, so a long column is not hashed whole for five examples."""
    head = values.head(100 * n).drop_duplicates()
    return head.head(n) if len(head) >= n else values.drop_duplicates().head(n)


def _shown(value):
    """A value as the profile shows it: long text cut, so one huge cell keeps it small."""
    value = plain(value)
    return shortened(value, SHOWN_CHARACTERS) if isinstance(value, str) else value


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return plain(value)
