"""Read an analyst's table (CSV-like text or Parquet) into a DataFrame.

The same reader serves the engine and the platform's ingestion, so both see the same columns
and the same errors. Sniffing looks only at a sample of the first megabyte: the dialect it finds
is stored in ``df.attrs["dialect"]`` so a user can correct it and read the file again.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import dataclasses
import gzip
import io
import re
import warnings
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterator
from os import PathLike
from pathlib import Path
from typing import BinaryIO

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from automl.exceptions import DataError, TooLargeError
from automl.wording import quoted

__all__ = ["DEFAULT_MAX_BYTES", "Dialect", "count_rows", "read_batches", "read_table", "sniff"]

DEFAULT_MAX_BYTES = 10 * 1024**3

_SAMPLE_BYTES = 1024**2
_SAMPLE_ROWS = 500
# Ties between equally consistent delimiters go to the rarer character: a semicolon file full
# of decimal commas splits just as evenly on ",".
_DELIMITERS = ("\t", ";", "|", ",")
_TEXT_SUFFIXES = (".csv", ".tsv", ".txt")
_ACCEPTED = ".csv, .tsv, .txt (each optionally gzip-compressed as .gz), .xlsx and .parquet"
_GZIP_MAGIC = b"\x1f\x8b"

_NUMBER = re.compile(r"[+-]?(\d[\d.,]*|[.,]\d[\d.,]*)([eE][+-]?\d+)?")
_COMMA_DECIMAL = re.compile(r"[+-]?(\d{1,3}(\.\d{3})+|\d+),\d+")
_DOT_DECIMAL = re.compile(r"[+-]?\d*\.\d+")
_DOT_GROUPED = re.compile(r"[+-]?\d{1,3}(\.\d{3})+(,\d+)?")
_PANDAS_RAGGED = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


@dataclasses.dataclass(frozen=True)
class Dialect:
    """How a text table is written: the options ``read_table`` needs to parse it.

    Parameters
    ----------
    delimiter : str
        Field separator, one of ``","``, ``";"``, ``"\\t"`` and ``"|"``.
    decimal : str
        Decimal mark, ``"."`` or ``","``. With ``","`` a dot between digit groups
        (``1.234,56``) is read as a thousands separator when the sample shows one.
    encoding : str
        A Python codec name such as ``"utf-8"``, ``"utf-8-sig"``, ``"utf-16"`` or ``"cp1252"``.
    has_header : bool
        Whether the first row holds the column names.
    quotechar : str, default='"'
        Character that quotes fields containing delimiters, quotes or newlines.

    Raises
    ------
    DataError
        If an option is not one of the accepted values.

    Examples
    --------
    >>> dialect = Dialect(delimiter=";", decimal=",", encoding="cp1252", has_header=True)
    >>> dialect.to_dict()["delimiter"]
    ';'
    """

    delimiter: str
    decimal: str
    encoding: str
    has_header: bool
    quotechar: str = '"'

    def __post_init__(self) -> None:
        if self.delimiter not in _DELIMITERS:
            raise DataError(f"The delimiter must be one of , ; tab |, not {self.delimiter!r}.")
        if self.decimal not in (".", ",") or self.decimal == self.delimiter:
            raise DataError("The decimal mark must be '.' or ',' and differ from the delimiter.")
        if len(self.quotechar) != 1 or self.quotechar == self.delimiter:
            raise DataError("The quote character must be one character, not the delimiter.")
        try:
            codecs.lookup(self.encoding)
        except LookupError:
            raise DataError(f"Unknown encoding {self.encoding!r}.") from None

    def to_dict(self) -> dict:
        """Return the options as a plain JSON-serialisable dict."""
        return dataclasses.asdict(self)


_PARQUET_DIALECT = Dialect(delimiter=",", decimal=".", encoding="utf-8", has_header=True)


def sniff(path: str | PathLike[str], *, max_bytes: int = DEFAULT_MAX_BYTES) -> Dialect:
    """Guess the dialect of a table file from its first megabyte.

    Parameters
    ----------
    path : str or path-like
        A ``.csv``, ``.tsv`` or ``.txt`` file, optionally ending in ``.gz``, or a ``.parquet``
        file (whose dialect is a fixed placeholder).
    max_bytes : int, default=DEFAULT_MAX_BYTES
        Largest (decompressed) size accepted.

    Returns
    -------
    Dialect
        The delimiter, decimal mark, encoding and header flag that fit the sample best.

    Raises
    ------
    DataError
        If the file is missing, empty, too large, binary or of an unsupported type.

    Examples
    --------
    >>> dialect = sniff("sales.csv")
    >>> dialect.delimiter, dialect.decimal
    (';', ',')
    """
    path = Path(path)
    kind, compressed = _file_kind(path)
    _require_file(path)
    if kind == "parquet":
        return _PARQUET_DIALECT
    data, at_eof = _read_sample(path, compressed, max_bytes)
    return _sniff_sample(data, at_eof, prefer_tab=kind == "tsv")


def read_table(
    path: str | PathLike[str],
    dialect: Dialect | None = None,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> pd.DataFrame:
    """Read a table file into a DataFrame, sniffing its dialect unless one is given.

    Parameters
    ----------
    path : str or path-like
        A ``.csv``, ``.tsv`` or ``.txt`` file, optionally ending in ``.gz``, an ``.xlsx``
        workbook (its first sheet) or a ``.parquet`` file.
    dialect : Dialect, optional
        Options to parse a text file with; by default ``sniff(path)`` chooses them.
    max_bytes : int, default=DEFAULT_MAX_BYTES
        Largest size a file may be, or expand to once read: a text file's (decompressed)
        bytes, a workbook's XML and cells, a Parquet file's decoded columns. A larger one is
        refused before it exhausts memory or disk.

    Returns
    -------
    pandas.DataFrame
        One column per field, with pandas' type inference (dates stay text). The dialect used
        is stored as a dict in ``df.attrs["dialect"]``; ``df.attrs["notes"]`` lists, in plain
        sentences, the column names made up for blank or repeated ones (``x``, ``x (2)``,
        ``column 3``).

    Raises
    ------
    TooLargeError
        If the file is, or expands to, more than ``max_bytes``.
    DataError
        If the file cannot be read as a table; the message says why in one sentence.

    Examples
    --------
    >>> df = read_table("sales.csv")
    >>> df.attrs["dialect"]["delimiter"]
    ';'
    """
    path = Path(path)
    kind, compressed = _file_kind(path)
    _require_file(path)
    if kind in ("parquet", "xlsx"):
        frame = (_read_parquet if kind == "parquet" else _read_excel)(path, max_bytes)
        dialect = _PARQUET_DIALECT
    else:
        data, at_eof = _read_sample(path, compressed, max_bytes)
        if dialect is None:
            dialect = _sniff_sample(data, at_eof, prefer_tab=kind == "tsv")
        sample = _decode(data, dialect.encoding, at_eof)
        frame = _read_text(path, compressed, dialect, max_bytes, sample)
    frame.attrs["dialect"] = dialect.to_dict()
    return frame


def read_batches(
    path: str | PathLike[str],
    dialect: Dialect | None = None,
    *,
    rows: int = 10_000,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Iterator[tuple[pd.DataFrame, pd.DataFrame]]:
    """Read a text table ``rows`` rows at a time, each batch as ``(text, values)``.

    ``text`` holds every cell exactly as written (``"007"`` stays ``"007"``, an empty cell is
    ``""``), for writing the rows back out; ``values`` is read as ``read_table`` reads the
    whole file, for a model. Memory stays near one batch, whatever the file's size.

    Raises
    ------
    DataError
        If the file is not a text table or cannot be parsed; batches already yielded stay
        valid.
    """
    path = Path(path)
    kind, compressed = _file_kind(path)
    if kind in ("parquet", "xlsx"):
        raise DataError(f"Batches are read from text tables ({', '.join(_TEXT_SUFFIXES)}).")
    _require_file(path)
    data, at_eof = _read_sample(path, compressed, max_bytes)
    if dialect is None:
        dialect = _sniff_sample(data, at_eof, prefer_tab=kind == "tsv")
    options = _csv_options(dialect, _decode(data, dialect.encoding, at_eof))
    verbatim = {"dtype": str, "keep_default_na": False, "na_filter": False}
    with (
        _open_binary(path, compressed, max_bytes) as raw_text,
        io.TextIOWrapper(raw_text, encoding=dialect.encoding, newline="") as text_file,
        _open_binary(path, compressed, max_bytes) as raw_values,
        io.TextIOWrapper(raw_values, encoding=dialect.encoding, newline="") as values_file,
        _parse_errors(dialect),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore", pd.errors.DtypeWarning)
        # Two parsers over the same bytes with the same options split the same rows.
        texts = pd.read_csv(text_file, chunksize=rows, **options, **verbatim)
        values = pd.read_csv(values_file, chunksize=rows, **options)
        n_rows = 0
        for text, typed in zip(texts, values, strict=True):
            if text.empty:
                continue
            n_rows += len(text)
            yield text, _objects_as_text(typed)
        if not n_rows:
            raise DataError("The file has a header but no data rows.")


def count_rows(
    path: str | PathLike[str], dialect: Dialect, *, max_bytes: int = DEFAULT_MAX_BYTES
) -> int:
    """The number of rows of a text table, from its line breaks: exact unless cells hold line
    breaks of their own, then an upper bound. Fast enough to plan progress on large files."""
    path = Path(path)
    _, compressed = _file_kind(path)
    lines, last = 0, b"\n"
    with _open_binary(path, compressed, max_bytes) as handle:
        while block := handle.read(1 << 20):
            lines += block.count(b"\n")
            last = block[-1:]
    lines += last != b"\n"  # a last line without its line break
    return max(lines - dialect.has_header, 0)


def _file_kind(path: Path) -> tuple[str, bool]:
    name = path.name.lower()
    if name.endswith(".parquet"):
        return "parquet", False
    if name.endswith(".xlsx"):
        return "xlsx", False
    compressed = name.endswith(".gz")
    stem = name.removesuffix(".gz")
    for suffix in _TEXT_SUFFIXES:
        if stem.endswith(suffix):
            return suffix[1:], compressed
    raise DataError(f"Cannot read {path.name!r}: accepted formats are {_ACCEPTED}.")


def _require_file(path: Path) -> None:
    if not path.is_file():
        raise DataError(f"The file {path.name!r} does not exist.")


def _describe_size(size: int) -> str:
    for unit, factor in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if size >= factor:
            return f"{size / factor:.3g} {unit}"
    return f"{size} bytes"


class _LimitedReader(io.RawIOBase):
    """Raises once more than ``limit`` bytes came out of ``source``: a gzip bomb stops early."""

    def __init__(self, source: gzip.GzipFile, limit: int) -> None:
        self._source, self._limit, self._seen = source, limit, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        count = self._source.readinto(buffer)
        self._seen += count
        if self._seen > self._limit:
            raise TooLargeError(
                f"The file holds more than {_describe_size(self._limit)} once decompressed, "
                "more than this reader accepts.",
                self._limit,
            )
        return count


@contextlib.contextmanager
def _open_binary(path: Path, compressed: bool, max_bytes: int) -> Iterator[BinaryIO]:
    if not compressed:
        if path.stat().st_size > max_bytes:
            raise TooLargeError(f"The file is larger than {_describe_size(max_bytes)}.", max_bytes)
        with path.open("rb") as raw:
            yield raw
        return
    with path.open("rb") as raw:
        if raw.read(2) != _GZIP_MAGIC:
            raise DataError(f"The file name ends in .gz but {path.name!r} is not gzip-compressed.")
        raw.seek(0)
        try:
            with gzip.GzipFile(fileobj=raw) as unzipped:
                yield io.BufferedReader(_LimitedReader(unzipped, max_bytes))
        except (gzip.BadGzipFile, EOFError, zlib.error):
            raise DataError("The compressed file is damaged or truncated.") from None


def _read_sample(path: Path, compressed: bool, max_bytes: int) -> tuple[bytes, bool]:
    with _open_binary(path, compressed, max_bytes) as handle:
        data = handle.read(_SAMPLE_BYTES + 1)
    return data[:_SAMPLE_BYTES], len(data) <= _SAMPLE_BYTES


def _sniff_sample(data: bytes, at_eof: bool, *, prefer_tab: bool) -> Dialect:
    encoding = _detect_encoding(data, at_eof)
    text = _decode(data, encoding, at_eof)
    delimiter = _detect_delimiter(text, prefer_tab=prefer_tab)
    rows = [row for _, row in _parse_rows(text, delimiter, '"')]
    if not rows:
        raise DataError("The file is empty.")
    decimal = _detect_decimal(rows) if delimiter != "," else "."
    return Dialect(delimiter, decimal, encoding, _detect_header(rows))


def _detect_encoding(data: bytes, at_eof: bool) -> str:
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    even, odd = data[0::2], data[1::2]
    # ASCII text in UTF-16 has a NUL in every other byte; which half says the byte order.
    if len(data) >= 4 and odd.count(0) >= 0.95 * len(odd) and even.count(0) < 0.05 * len(even):
        return "utf-16-le"
    if len(data) >= 4 and even.count(0) >= 0.95 * len(even) and odd.count(0) < 0.05 * len(odd):
        return "utf-16-be"
    for encoding in ("utf-8", "cp1252"):
        try:
            codecs.getincrementaldecoder(encoding)("strict").decode(data, final=at_eof)
        except UnicodeDecodeError:
            continue
        return encoding
    return "latin-1"


def _decode(data: bytes, encoding: str, at_eof: bool) -> str:
    # An incremental decoder holds back a character cut in half at the end of the sample.
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    try:
        text = decoder.decode(data, final=at_eof)
    except UnicodeDecodeError:
        raise _undecodable(encoding) from None
    if "\x00" in text:
        raise DataError(
            "The file contains NUL bytes, so it is probably not a text table "
            "(or its encoding is wrong)."
        )
    if not at_eof and "\n" in text:
        text = text[: text.rindex("\n") + 1]
    if not text.strip():
        raise DataError("The file is empty.")
    return text


def _undecodable(encoding: str) -> DataError:
    return DataError(f"The file cannot be decoded as {encoding}; choose its encoding explicitly.")


def _parse_rows(text: str, delimiter: str, quotechar: str) -> list[tuple[int, list[str]]]:
    """Sample rows that are not blank, each with the line on which it ends."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar=quotechar)
    rows: list[tuple[int, list[str]]] = []
    # A field over csv's size limit ends the sample early; the rows before it are enough.
    with contextlib.suppress(csv.Error):
        for row in reader:
            if len(row) > 1 or (row and row[0].strip()):
                rows.append((reader.line_num, row))
            if len(rows) >= _SAMPLE_ROWS:
                break
    return rows


def _detect_delimiter(text: str, *, prefer_tab: bool) -> str:
    best, best_score = ",", (0.0, 0)
    for rank, delimiter in enumerate(reversed(_DELIMITERS)):
        widths = Counter(len(row) for _, row in _parse_rows(text, delimiter, '"'))
        if not widths:
            continue
        width, count = widths.most_common(1)[0]
        if width <= 1:
            continue
        if prefer_tab and delimiter == "\t":
            return delimiter
        score = (count / widths.total(), rank)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _detect_decimal(rows: list[list[str]]) -> str:
    values = [value.strip() for row in rows for value in row]
    comma = sum(bool(_COMMA_DECIMAL.fullmatch(value)) for value in values)
    dot = sum(_is_dot_decimal(value) for value in values)
    return "," if comma > dot else "."


def _is_dot_decimal(value: str) -> bool:
    # "1.234" could be either mark; it votes for neither.
    return bool(_DOT_DECIMAL.fullmatch(value)) and not _DOT_GROUPED.fullmatch(value)


def _thousands(rows: list[list[str]], dialect: Dialect) -> str | None:
    # pandas drops a thousands separator wherever it sits ("1.5" becomes 15), so use one only
    # when the sample shows dot-grouped numbers and no dot that could be a decimal mark.
    if dialect.decimal != ",":
        return None
    values = [value.strip() for row in rows for value in row]
    grouped = any(_DOT_GROUPED.fullmatch(value) for value in values)
    return "." if grouped and not any(map(_is_dot_decimal, values)) else None


def _detect_header(rows: list[list[str]]) -> bool:
    first, body = [value.strip() for value in rows[0]], rows[1:]
    if any(_NUMBER.fullmatch(value) for value in first):
        return False
    if not body:
        return all(first)
    for index, name in enumerate(first):
        column = [row[index].strip() for row in body if index < len(row) and row[index].strip()]
        numeric = sum(bool(_NUMBER.fullmatch(value)) for value in column)
        if name and column and numeric * 2 > len(column):
            return True
    if not all(first) or len(set(first)) < len(first):
        return False
    return not any(
        name in {row[index].strip() for row in body if index < len(row)}
        for index, name in enumerate(first)
    )


def _column_names(first_row: list[str], has_header: bool) -> tuple[list[str], list[str]]:
    """Unique column names from the header (or numbers, without one), and a note for each
    name that had to be made up: a blank name becomes ``column 3``, the second ``x`` ``x (2)``."""
    if not has_header:
        return [f"column {number}" for number in range(1, len(first_row) + 1)], []
    written = [str(value).replace("\ufeff", "").strip() for value in first_row]
    taken = set(written)
    names: list[str] = []
    notes = []
    for number, name in enumerate(written, start=1):
        if name and name not in names:
            names.append(name)
            continue
        base = name or f"column {number}"
        unique, copy = base, 1
        while unique in taken or unique in names:
            copy += 1
            unique = f"{base} ({copy})"
        names.append(unique)
        if name:
            notes.append(f"Column {number} is named {quoted(name)} like an earlier one; it is "
                         f"called {quoted(unique)} here.")  # fmt: skip
        else:
            notes.append(f"Column {number} has no name in the file; it is called "
                         f"{quoted(unique)} here.")  # fmt: skip
    return names, notes


def _ragged(line: int, fields: int, width: int, has_header: bool) -> DataError:
    reference = "the header" if has_header else "the first line"
    return DataError(f"Line {line} has {fields} fields but {reference} has {width}.")


def _read_text(
    path: Path, compressed: bool, dialect: Dialect, max_bytes: int, sample: str
) -> pd.DataFrame:
    options = _csv_options(dialect, sample)
    _check_expansion(path, compressed, dialect, max_bytes, sample)
    with (
        _open_binary(path, compressed, max_bytes) as raw,
        io.TextIOWrapper(raw, encoding=dialect.encoding, newline="") as text,
        _parse_errors(dialect),
        warnings.catch_warnings(),
    ):
        # Chunked parsing (low_memory) halves the peak memory of a large file; a column
        # whose chunks disagree comes back as mixed objects, made text below.
        warnings.simplefilter("ignore", pd.errors.DtypeWarning)
        frame = pd.read_csv(text, low_memory=True, **options)
    if frame.empty:
        raise DataError("The file has a header but no data rows.")
    rows = [row for _, row in _parse_rows(sample, dialect.delimiter, dialect.quotechar)]
    frame = _objects_as_text(frame)
    frame.attrs["notes"] = _column_names(rows[0], dialect.has_header)[1]
    return frame


# The least a parsed cell costs in memory (a float64); parsing holds about twice that at once.
_VALUE_BYTES = 8


def _check_expansion(
    path: Path, compressed: bool, dialect: Dialect, max_bytes: int, sample: str
) -> None:
    """Refuse, before parsing, a text table whose values would take more than ``max_bytes``.

    The sample tells how many cells a byte of the file holds; a file of tiny cells ("0\n" a
    million times over) takes many times its size once parsed. A compressed file is read
    through once, without parsing, up to the size that many cells would fill: a gzip bomb
    stops there in seconds, before any memory is spent on it.
    """
    reader = csv.reader(buffer := io.StringIO(sample, newline=""), delimiter=dialect.delimiter,
                        quotechar=dialect.quotechar)  # fmt: skip
    cells = 0
    with contextlib.suppress(csv.Error):
        for number, row in enumerate(reader):
            cells += len(row)
            if number >= _SAMPLE_ROWS:
                break
    per_byte = cells / max(buffer.tell(), 1)
    limit = min(max_bytes, int(max_bytes / (_VALUE_BYTES * per_byte))) if per_byte else max_bytes
    if compressed:
        try:
            with _open_binary(path, compressed, limit) as raw:
                while raw.read(1 << 22):
                    pass
        except TooLargeError:
            raise _expanded(max_bytes, "values") from None
    elif path.stat().st_size > limit:
        raise _expanded(max_bytes, "values")


def _csv_options(dialect: Dialect, sample: str) -> dict:
    """``pd.read_csv`` options for a text file, its column names checked on ``sample``."""
    numbered = _parse_rows(sample, dialect.delimiter, dialect.quotechar)
    rows = [row for _, row in numbered]
    names, _ = _column_names(rows[0], dialect.has_header)
    # pandas silently drops the extra fields of the first data row, so check the sample here.
    for line, row in numbered[1 if dialect.has_header else 0 :]:
        if len(row) > len(names):
            raise _ragged(line, len(row), len(names), dialect.has_header)
    return {
        "sep": dialect.delimiter,
        "decimal": dialect.decimal,
        "thousands": _thousands(rows, dialect),
        "quotechar": dialect.quotechar,
        "header": 0 if dialect.has_header else None,
        "names": names,
        "index_col": False,
        "compression": None,
    }


@contextlib.contextmanager
def _parse_errors(dialect: Dialect) -> Iterator[None]:
    """pandas' parsing errors as ``DataError`` in plain words."""
    try:
        yield
    except UnicodeDecodeError:
        raise _undecodable(dialect.encoding) from None
    except pd.errors.EmptyDataError:
        raise DataError("The file is empty.") from None
    except pd.errors.ParserError as exc:
        raise _translate_parser_error(exc, dialect.has_header) from None


def _objects_as_text(frame: pd.DataFrame) -> pd.DataFrame:
    for name in frame.columns[[dtype == "object" for dtype in frame.dtypes]]:
        column = frame[name]
        frame[name] = column.where(column.isna(), column.astype(str))
    return frame


def _translate_parser_error(exc: pd.errors.ParserError, has_header: bool) -> DataError:
    match = _PANDAS_RAGGED.search(str(exc))
    if match:
        width, line, fields = map(int, match.groups())
        return _ragged(line, fields, width, has_header)
    return DataError("The file cannot be split into rows and columns; check its quoting.")


def _read_excel(path: Path, max_bytes: int) -> pd.DataFrame:
    """The first sheet of an Excel workbook, its first row as column names.

    An .xlsx file is a zip of XML: a few kilobytes can declare millions of cells, or share one
    long text among them all. The sheet's declared size, the XML's size and the values read,
    counted as they would be stored, must each stay within ``max_bytes``.
    """
    import openpyxl

    if path.stat().st_size > max_bytes:
        raise TooLargeError(f"The file is larger than {_describe_size(max_bytes)}.", max_bytes)
    try:
        _check_workbook_parts(path, max_bytes)
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except TooLargeError:
        raise
    except Exception:  # zipfile and openpyxl raise many kinds of errors for a damaged file
        raise DataError(f"{path.name!r} is not a readable Excel (.xlsx) workbook.") from None
    try:
        rows = _sheet_rows(book.worksheets[0], max_bytes)
    except DataError:
        raise
    except Exception:
        raise DataError(f"{path.name!r} is not a readable Excel (.xlsx) workbook.") from None
    finally:
        book.close()
    frame = pd.DataFrame(rows, dtype=object).dropna(how="all").dropna(axis=1, how="all")
    if frame.empty:
        raise DataError("The file is empty.")
    header = [("" if pd.isna(v) else str(v)) for v in frame.iloc[0]]
    frame = frame.iloc[1:].reset_index(drop=True)
    frame.columns, notes = _column_names(header, has_header=True)
    if frame.empty:
        raise DataError("The file has a header but no data rows.")
    # Cells arrive as Python objects; let pandas find numbers and text per column again.
    frame = frame.infer_objects()
    frame.attrs["notes"] = notes
    return frame


# What one cell and one row cost once read, beyond their text: pointers and Python objects.
_CELL_BYTES, _ROW_BYTES = 16, 64
# A sheet whose rows and columns make a table this many times larger than the values it holds
# (past a million cells) is mostly padding: one value per row, each a column further right,
# makes a table of a billion cells from a file of a megabyte.
_SPARSE_RATIO, _SPARSE_CELLS = 100, 1_000_000


def _expanded(max_bytes: int, what: str) -> TooLargeError:
    return TooLargeError(
        f"This file expands to more than {_describe_size(max_bytes)} of {what} when read, "
        "more than this reader accepts.",
        max_bytes,
    )


def _check_workbook_parts(path: Path, max_bytes: int) -> None:
    """Refuse a workbook whose parts declare more than ``max_bytes`` in all.

    Every part counts, whatever its name (a workbook may keep its sheets and shared texts
    under any). The declared size is a true bound: zipfile never yields more than it,
    whatever the compressed data holds."""
    with zipfile.ZipFile(path) as archive:
        declared = sum(info.file_size for info in archive.infolist())
    if declared > max_bytes:
        raise _expanded(max_bytes, "XML")


def _sheet_rows(sheet, max_bytes: int) -> list[tuple]:
    """The sheet's rows that hold a value, stopped as soon as their values, or the table
    they make (rows by the widest row), add up past ``max_bytes``."""
    sheet.reset_dimensions()  # read the rows there are, not a size the file merely declares
    rows, used, width, filled = [], 0, 0, 0
    for row in sheet.iter_rows(values_only=True):
        values = sum(value is not None for value in row)
        if not values:
            continue  # blank rows are dropped anyway; a sheet can declare a million of them
        used += _ROW_BYTES + sum(
            _CELL_BYTES + (len(value) if isinstance(value, str) else 0) for value in row
        )
        width, filled = max(width, len(row)), filled + values
        table = (len(rows) + 1) * width
        if used > max_bytes or table * _CELL_BYTES > max_bytes:
            raise _expanded(max_bytes, "cells")
        if table > _SPARSE_CELLS and table > _SPARSE_RATIO * filled:
            raise DataError(
                f"The first sheet is almost all empty cells: {filled:,} values spread over "
                f"{len(rows) + 1:,} rows and {width:,} columns so far. Keep only the table's "
                "cells on the sheet (or save it as CSV) and upload it again."
            )
        rows.append(row)
    return [row + (None,) * (width - len(row)) for row in rows]


def _read_parquet(path: Path, max_bytes: int) -> pd.DataFrame:
    """A Parquet file, its decoded size checked before its text is decoded.

    Columns are compressed and often dictionary-encoded: a small file can hold a million
    copies of one long text. The sizes the metadata declares are checked first; text is then
    read still encoded, one row group at a time, and its decoded length counted before it is
    decoded. A file whose metadata lies about its sizes meets the job's memory ceiling.
    """
    if path.stat().st_size > max_bytes:
        raise TooLargeError(f"The file is larger than {_describe_size(max_bytes)}.", max_bytes)
    try:
        # ParquetFile, unlike pq.read_table, accepts duplicate names, so they get our message.
        schema = pq.ParquetFile(path).schema_arrow
        texts = [f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_binary(f.type)
                 or pa.types.is_large_string(f.type)]  # fmt: skip
        file = pq.ParquetFile(path, read_dictionary=texts)
        table = _decoded_table(file, max_bytes)
    except TooLargeError:
        raise
    except (pa.ArrowException, OSError):
        raise DataError(f"{path.name!r} is not a readable Parquet file.") from None
    frame = table.to_pandas()
    if frame.shape[1] == 0:
        raise DataError("The file is empty.")
    frame.columns, notes = _column_names([str(name) for name in frame.columns], has_header=True)
    if frame.empty:
        raise DataError("The file has column names but no data rows.")
    frame.attrs["notes"] = notes
    return frame


def _decoded_table(file: pq.ParquetFile, max_bytes: int) -> pa.Table:
    meta = file.metadata
    declared = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    if max(declared, meta.num_rows * meta.num_columns * 8) > max_bytes:
        raise _expanded(max_bytes, "values")
    # Row groups stay encoded (small) until their decoded size is known to fit.
    groups, used = [], 0
    for index in range(meta.num_row_groups):
        group = file.read_row_group(index)
        used += sum(_decoded_size(column) for column in group.columns)
        if used > max_bytes:
            raise _expanded(max_bytes, "values")
        groups.append(group)
    if not groups:
        return file.schema_arrow.empty_table()
    return pa.concat_tables([_decode_dictionaries(group) for group in groups])


def _decoded_size(column: pa.ChunkedArray) -> int:
    """Bytes ``column`` takes once its dictionaries are decoded (texts and their offsets)."""
    if not pa.types.is_dictionary(column.type):
        return column.nbytes
    total = 0
    for chunk in column.chunks:
        lengths = pc.binary_length(chunk.dictionary).take(chunk.indices)
        total += (pc.sum(lengths).as_py() or 0) + 8 * len(chunk)
    return total


def _decode_dictionaries(table: pa.Table) -> pa.Table:
    columns = [
        pc.cast(column, column.type.value_type) if pa.types.is_dictionary(column.type) else column
        for column in table.columns
    ]
    return pa.table(columns, names=table.column_names)
