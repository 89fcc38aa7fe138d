"""Files for spreadsheets: CSV that Excel opens as UTF-8, with no cell it would run as a
formula (CSV injection)."""

from __future__ import annotations

import pandas as pd

# What a spreadsheet runs as a formula when a cell starts with it.
FORMULA_START = r"^[=+\-@\t\r]"
PLAIN_NUMBER = r"\s*[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?\s*"
# Excel reads a UTF-8 file as UTF-8 only when it starts with a byte-order mark.
ENCODING = "utf-8-sig"


def neutralise(cells: pd.Series) -> pd.Series:
    """Text cells a spreadsheet would run as formulas, prefixed with ``'`` so they show as
    text; numbers such as ``-5`` are left alone."""
    as_text = cells.astype(str)
    risky = as_text.str.match(FORMULA_START) & ~as_text.str.fullmatch(PLAIN_NUMBER)
    return cells.where(~risky | cells.isna(), "'" + as_text)


def neutralised(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with its column names and text cells neutralised (numbers left as they are)."""
    table = table.copy()
    table.columns = neutralise(pd.Series(table.columns, dtype=str)).tolist()
    for name in table.columns[[not pd.api.types.is_numeric_dtype(d) for d in table.dtypes]]:
        table[name] = neutralise(table[name])
    return table
