"""Small files built to hurt a reader: each is kilobytes on disk and gigabytes once read.

Used by the tests and by ``benchmarks/hostile.py``, which uploads them to a running platform.
"""

from __future__ import annotations

import gzip
import io
import zipfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

# A cell on which a pattern anchored at the end (``[\s%]*$``) backtracks from every position.
PATHOLOGICAL_CELL = "1" + "%" * 1_000_000 + "x"


def pathological_csv_gz(path: Path, rows: int = 50) -> Path:
    """A gzipped CSV of a few kilobytes whose number column holds one megabyte cell."""
    lines = ["amount,label"] + [f"{i % 7},{'yes' if i % 2 else 'no'}" for i in range(rows)]
    lines.insert(2, f"{PATHOLOGICAL_CELL},no")
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    return path


def gzip_bomb(path: Path, gigabytes: float = 2.0) -> Path:
    """A gzipped CSV that expands to ``gigabytes`` of one column of zeros: one compressed
    block of 64 MB repeated (a gzip file may hold many members), so it is made in a moment."""
    block = gzip.compress(b"0\n" * (32 << 20), compresslevel=9)
    with path.open("wb") as out:
        out.write(gzip.compress(b"n\n"))
        for _ in range(int(gigabytes * 1024**3 / (64 << 20))):
            out.write(block)
    return path


def parquet_bomb(path: Path, rows: int = 4_000_000, text_bytes: int = 1000) -> Path:
    """A Parquet file whose one text is stored once and repeated ``rows`` times."""
    indices = pa.array(np.zeros(rows, dtype="int32"))
    column = pa.DictionaryArray.from_arrays(indices, pa.array(["x" * text_bytes]))
    pq.write_table(pa.table({"note": column}), path)
    return path


_SHEET = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    "{dimension}<sheetData>{rows}</sheetData></worksheet>"
)
_SHARED = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="{count}" '
    'uniqueCount="1"><si><t>{text}</t></si></sst>'
)
_PARTS = {
    "[Content_Types].xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" '
        'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        '<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>'
    ),
    "_rels/.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>'
    ),
    "xl/workbook.xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        '<sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>'
    ),
    "xl/_rels/workbook.xml.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships/worksheet" Target="worksheets/sheet1.xml"/>'
        '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>'
    ),
}


def _workbook(path: Path, rows: str, *, text: str = "x", count: int = 1, dimension="") -> Path:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, content in _PARTS.items():
            archive.writestr(name, content)
        archive.writestr("xl/worksheets/sheet1.xml", _SHEET.format(dimension=dimension, rows=rows))
        archive.writestr("xl/sharedStrings.xml", _SHARED.format(count=count, text=text))
    path.write_bytes(buffer.getvalue())
    return path


def shared_string_bomb(path: Path, cells: int = 100_000, text_bytes: int = 100_000) -> Path:
    """A workbook whose every cell refers to the same long shared text."""
    row = '<c t="s"><v>0</v></c>' * 10
    rows = "".join(f'<row r="{r}">{row}</row>' for r in range(1, cells // 10 + 1))
    return _workbook(path, rows, text="x" * text_bytes, count=cells)


def dimension_bomb(path: Path) -> Path:
    """A workbook that declares the largest sheet Excel allows and fills its far corner."""
    rows = (
        '<row r="1"><c t="s"><v>0</v></c></row>'
        '<row r="1048576"><c r="XFD1048576"><v>1</v></c></row>'
    )
    return _workbook(path, rows, dimension='<dimension ref="A1:XFD1048576"/>')


def _column(number: int) -> str:
    letters = ""
    while number:
        number, rest = divmod(number - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def diagonal_sheet(path: Path, size: int = 16_000) -> Path:
    """A workbook with one value per row, each a column further right: ``size`` cells that
    make a table of ``size`` by ``size`` once read into rows and columns."""
    rows = "".join(
        f'<row r="{r}"><c r="{_column(r)}{r}"><v>1</v></c></row>' for r in range(1, size + 1)
    )
    return _workbook(path, rows)
