from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from automl.exceptions import DataError, TooLargeError
from automl.reading import Dialect, count_rows, read_batches, read_table, sniff
from tests import hostile


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def read_error(path: Path, *args: Dialect, **kwargs: int) -> str:
    with pytest.raises(DataError) as info:
        read_table(path, *args, **kwargs)
    return str(info.value)


def test_comma_file_keeps_numbers_and_strings_apart(tmp_path: Path) -> None:
    path = write(tmp_path / "data.csv", "id,price,city\n1,2.5,Paris\n2,3.75,Lyon\n")

    df = read_table(path)

    assert list(df.columns) == ["id", "price", "city"]
    assert df["id"].tolist() == [1, 2]
    assert df["price"].tolist() == [2.5, 3.75]
    assert df["city"].tolist() == ["Paris", "Lyon"]
    assert df.attrs["dialect"] == {
        "delimiter": ",",
        "decimal": ".",
        "encoding": "utf-8",
        "has_header": True,
        "quotechar": '"',
    }


def test_dates_are_left_as_text(tmp_path: Path) -> None:
    path = write(tmp_path / "data.csv", "day,n\n2024-01-01,1\n2024-01-02,2\n")

    df = read_table(path)

    assert df["day"].tolist() == ["2024-01-01", "2024-01-02"]
    assert not pd.api.types.is_datetime64_any_dtype(df["day"])


def test_semicolon_and_decimal_comma_are_detected(tmp_path: Path) -> None:
    path = write(tmp_path / "data.csv", "name;amount;rate\na;1.234,56;-0,5\nb;12,5;3,25\nc;7;1\n")

    df = read_table(path)

    assert df.attrs["dialect"]["delimiter"] == ";"
    assert df.attrs["dialect"]["decimal"] == ","
    assert df["amount"].tolist() == [1234.56, 12.5, 7.0]
    assert df["rate"].tolist() == [-0.5, 3.25, 1.0]


def test_semicolon_file_with_decimal_commas_everywhere_splits_on_semicolon(
    tmp_path: Path,
) -> None:
    path = write(tmp_path / "data.csv", "1,5;2,5\n3,5;4,5\n")

    dialect = sniff(path)

    assert (dialect.delimiter, dialect.decimal, dialect.has_header) == (";", ",", False)


def test_tab_file_is_detected(tmp_path: Path) -> None:
    path = write(tmp_path / "data.txt", "a\tb, with comma\n1\tx, y\n2\tz, w\n")

    df = read_table(path)

    assert df.attrs["dialect"]["delimiter"] == "\t"
    assert list(df.columns) == ["a", "b, with comma"]
    assert df["b, with comma"].tolist() == ["x, y", "z, w"]


def test_tsv_prefers_tab_even_when_commas_split_evenly(tmp_path: Path) -> None:
    path = write(tmp_path / "data.tsv", "a,b\tc,d\n1,2\t3,4\n5,6\t7,8\n")

    assert sniff(path).delimiter == "\t"


def test_pipe_file_is_detected(tmp_path: Path) -> None:
    path = write(tmp_path / "data.csv", "a|b|c\n1|2|x\n3|4|y\n")

    df = read_table(path)

    assert df.attrs["dialect"]["delimiter"] == "|"
    assert df["b"].tolist() == [2, 4]


def test_single_column_file_is_valid(tmp_path: Path) -> None:
    path = write(tmp_path / "data.csv", "value\n1\n2\n3\n")

    df = read_table(path)

    assert list(df.columns) == ["value"]
    assert df["value"].tolist() == [1, 2, 3]
    assert df.attrs["dialect"]["delimiter"] == ","


def test_utf8_bom_is_detected_and_not_part_of_the_first_name(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_bytes(b"\xef\xbb\xbfname,n\nx,1\n")

    df = read_table(path)

    assert df.attrs["dialect"]["encoding"] == "utf-8-sig"
    assert list(df.columns) == ["name", "n"]


def test_utf16_with_bom_is_read(tmp_path: Path) -> None:
    path = write(tmp_path / "data.csv", "ville;prix\nSète;1,5\n", encoding="utf-16")

    df = read_table(path)

    assert df.attrs["dialect"]["encoding"] == "utf-16"
    assert df["ville"].tolist() == ["Sète"]
    assert df["prix"].tolist() == [1.5]


def test_utf16_without_bom_is_detected_from_the_nul_bytes(tmp_path: Path) -> None:
    path = write(tmp_path / "data.csv", "a,b\n1,2\n", encoding="utf-16-le")

    df = read_table(path)

    assert df.attrs["dialect"]["encoding"] == "utf-16-le"
    assert df["b"].tolist() == [2]


def test_cp1252_file_is_decoded(tmp_path: Path) -> None:
    path = write(tmp_path / "data.csv", "nom;montant\ncafé;5 €\n", encoding="cp1252")

    df = read_table(path)

    assert df.attrs["dialect"]["encoding"] == "cp1252"
    assert df["nom"].tolist() == ["café"]
    assert df["montant"].tolist() == ["5 €"]


def test_unicode_column_names_are_preserved(tmp_path: Path) -> None:
    path = write(tmp_path / "data.csv", "Prix (€), 温度 \n1,20.5\n2,21\n")

    df = read_table(path)

    assert list(df.columns) == ["Prix (€)", "温度"]
    assert df["温度"].tolist() == [20.5, 21.0]


def test_quoted_fields_with_delimiters_quotes_and_newlines(tmp_path: Path) -> None:
    text = 'id,comment,n\n1,"a, b",10\n2,"she said ""hi""",20\n3,"two\nlines",30\n'
    path = write(tmp_path / "data.csv", text)

    df = read_table(path)

    assert df["comment"].tolist() == ["a, b", 'she said "hi"', "two\nlines"]
    assert df["n"].tolist() == [10, 20, 30]


def test_file_without_header_gets_numbered_columns(tmp_path: Path) -> None:
    path = write(tmp_path / "data.csv", "1,2.5,x\n2,3.5,y\n")

    df = read_table(path)

    assert df.attrs["dialect"]["has_header"] is False
    assert list(df.columns) == ["column 1", "column 2", "column 3"]
    assert df["column 1"].tolist() == [1, 2]
    assert df.attrs["notes"] == []


def test_text_header_above_text_rows_is_detected(tmp_path: Path) -> None:
    path = write(tmp_path / "data.csv", "name,city\nAlice,Paris\nBob,Lyon\n")

    assert sniff(path).has_header is True


def test_gzip_csv_is_read(tmp_path: Path) -> None:
    path = tmp_path / "data.csv.gz"
    path.write_bytes(gzip.compress(b"a;b\n1,5;x\n2,5;y\n"))

    df = read_table(path)

    assert df["a"].tolist() == [1.5, 2.5]
    assert df["b"].tolist() == ["x", "y"]


def test_gzip_bomb_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bomb.csv.gz"
    path.write_bytes(gzip.compress(b"a\n" + b"0\n" * 200_000))

    assert "more than 100 KB once decompressed" in read_error(path, max_bytes=100 * 1024)


def test_gzip_larger_than_limit_after_the_sample_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.csv.gz"
    path.write_bytes(gzip.compress(b"a,b,c\n" + b"1234567.25,2345678.5,3456789.75\n" * 200_000))

    # About 6 MB of text, and values that would take about as much: past a 3 MB limit.
    assert "expands to more than 2.86 MB of values" in read_error(path, max_bytes=3_000_000)
    assert len(read_table(path, max_bytes=10_000_000)) == 200_000


def test_a_gzip_bomb_of_tiny_cells_is_refused_before_parsing(tmp_path: Path) -> None:
    path = hostile.gzip_bomb(tmp_path / "bomb.csv.gz", gigabytes=4)
    assert path.stat().st_size < 10_000_000
    # Each two-byte "0\n" becomes an eight-byte number: 1 GB of values from 250 MB of text.
    # (Parsing it would have taken gigabytes of memory and said "once decompressed".)
    assert "expands to more than 1 GB of values" in read_error(path, max_bytes=1024**3)


def test_an_uncompressed_file_of_tiny_cells_is_refused_before_parsing(tmp_path: Path) -> None:
    path = write(tmp_path / "zeros.csv", "n\n" + "0\n" * 400_000)
    assert "of values" in read_error(path, max_bytes=2_000_000)  # 800 KB of text, 3.2 MB parsed


def test_gz_file_that_is_not_gzip_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "data.csv.gz", "a,b\n1,2\n")

    assert "ends in .gz but 'data.csv.gz' is not gzip-compressed" in read_error(path)


def test_truncated_gzip_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "data.csv.gz"
    path.write_bytes(gzip.compress(b"a,b\n" + b"1,2\n" * 1000)[:40])

    assert "damaged or truncated" in read_error(path)


def test_plain_file_over_the_limit_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "data.csv", "a\n" + "1\n" * 1000)

    assert "larger than 1000 bytes" in read_error(path, max_bytes=1000)


def test_parquet_round_trip(tmp_path: Path) -> None:
    original = pd.DataFrame({"x": [1, 2, 3], " label ": ["a", "b", "c"], "y": [0.5, None, 2.0]})
    path = tmp_path / "data.parquet"
    original.to_parquet(path)

    df = read_table(path)

    assert list(df.columns) == ["x", "label", "y"]
    assert df["x"].tolist() == [1, 2, 3]
    assert df["label"].tolist() == ["a", "b", "c"]
    assert df["y"].isna().tolist() == [False, True, False]
    assert df.attrs["dialect"]["delimiter"] == ","


def test_corrupt_parquet_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "data.parquet"
    path.write_bytes(b"PAR1 this is not really parquet PAR1")

    assert "is not a readable Parquet file" in read_error(path)


def test_parquet_with_duplicate_columns_gets_unique_names(tmp_path: Path) -> None:
    path = tmp_path / "data.parquet"
    pq.write_table(pa.table([pa.array([1]), pa.array([2])], names=["price", "price"]), path)

    df = read_table(path)

    assert list(df.columns) == ["price", "price (2)"] and df["price (2)"].tolist() == [2]
    assert df.attrs["notes"] == [
        "Column 2 is named 'price' like an earlier one; it is called 'price (2)' here."
    ]


def test_parquet_without_rows_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "data.parquet"
    pq.write_table(pa.table({"a": pa.array([], pa.int64())}), path)

    assert read_error(path) == "The file has column names but no data rows."


def test_explicit_dialect_overrides_the_sniffed_one(tmp_path: Path) -> None:
    path = write(tmp_path / "data.csv", "1;2\n3;4\n")
    dialect = Dialect(delimiter=";", decimal=".", encoding="utf-8", has_header=True)

    df = read_table(path, dialect)

    assert sniff(path).has_header is False
    assert list(df.columns) == ["1", "2"]
    assert df["2"].tolist() == [4]
    assert df.attrs["dialect"] == dialect.to_dict()


def test_invalid_dialect_is_refused() -> None:
    with pytest.raises(DataError, match="Unknown encoding 'klingon'"):
        Dialect(delimiter=",", decimal=".", encoding="klingon", has_header=True)
    with pytest.raises(DataError, match="decimal mark"):
        Dialect(delimiter=",", decimal=",", encoding="utf-8", has_header=True)


def test_unsupported_extension_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "data.docx", "a,b\n1,2\n")

    assert "accepted formats are .csv, .tsv, .txt" in read_error(path)


def test_missing_file_is_refused(tmp_path: Path) -> None:
    assert read_error(tmp_path / "nope.csv") == "The file 'nope.csv' does not exist."


@pytest.mark.parametrize("text", ["", "\n\n  \n"])
def test_empty_file_is_refused(tmp_path: Path, text: str) -> None:
    path = write(tmp_path / "data.csv", text)

    assert read_error(path) == "The file is empty."


def test_header_without_rows_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "data.csv", "price,city\n")

    assert read_error(path) == "The file has a header but no data rows."


def test_ragged_row_in_the_sample_is_refused_with_its_line(tmp_path: Path) -> None:
    rows = "".join(f"{i},{i},{i},{i}\n" for i in range(5))
    path = write(tmp_path / "data.csv", "a,b,c,d\n" + rows + "1,2,3,4,5\n")

    assert read_error(path) == "Line 7 has 5 fields but the header has 4."


def test_extra_field_on_the_first_data_row_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "data.csv", "a,b\n1,2,3\n4,5\n")

    assert read_error(path) == "Line 2 has 3 fields but the header has 2."


def test_ragged_row_beyond_the_sample_is_refused_with_its_line(tmp_path: Path) -> None:
    # 600 rows put the bad line past the sniffing sample, so pandas' error is translated.
    rows = "".join(f"{i},{i}\n" for i in range(600))
    path = write(tmp_path / "data.csv", "a,b\n" + rows + "1,2,3\n")

    assert read_error(path) == "Line 602 has 3 fields but the header has 2."


def test_duplicate_column_names_become_unique_with_a_note(tmp_path: Path) -> None:
    path = write(tmp_path / "data.csv", "price, price ,city,price (2),price\n1,2,x,3,4\n")

    df = read_table(path)

    assert list(df.columns) == ["price", "price (3)", "city", "price (2)", "price (4)"]
    assert df["price (3)"].tolist() == [2] and df["price (2)"].tolist() == [3]
    assert df.attrs["notes"][0] == (
        "Column 2 is named 'price' like an earlier one; it is called 'price (3)' here."
    )
    assert len(df.attrs["notes"]) == 2


def test_blank_column_names_get_numbered_names(tmp_path: Path) -> None:
    path = write(tmp_path / "data.csv", ",a, ,column 3\n0,1,2,5\n1,3,4,6\n")

    df = read_table(path)

    assert list(df.columns) == ["column 1", "a", "column 3 (2)", "column 3"]
    assert df.attrs["notes"] == [
        "Column 1 has no name in the file; it is called 'column 1' here.",
        "Column 3 has no name in the file; it is called 'column 3 (2)' here.",
    ]
    assert df["column 3 (2)"].tolist() == [2, 4]


def test_nul_bytes_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_bytes(b"a,b\n1,\x002\n3,4\n" * 10)

    assert "contains NUL bytes, so it is probably not a text table" in read_error(path)


def test_wrong_explicit_encoding_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "data.csv", "nom\ncafé\n", encoding="cp1252")
    dialect = Dialect(delimiter=",", decimal=".", encoding="utf-8", has_header=True)

    assert "cannot be decoded as utf-8" in read_error(path, dialect)


def test_invalid_bytes_after_the_sample_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_bytes(b"a,b\n" + b"xxxxxxxxxx,1\n" * 100_000 + b"caf\xe9,2\n")

    assert "cannot be decoded as utf-8" in read_error(path)


def test_excel_workbook_first_sheet(tmp_path):
    path = tmp_path / "sales.xlsx"
    pd.DataFrame({"region": ["north", "south"], "amount": [1.5, 2.5]}).to_excel(path, index=False)
    frame = read_table(path)
    assert list(frame.columns) == ["region", "amount"]
    assert frame["amount"].tolist() == [1.5, 2.5]


def test_excel_repeated_headers_get_unique_names(tmp_path):
    path = tmp_path / "sales.xlsx"
    frame = pd.DataFrame([["region", "amount", "amount", None], ["north", 1, 2, 3]])
    frame.to_excel(path, index=False, header=False)
    df = read_table(path)
    assert list(df.columns) == ["region", "amount", "amount (2)", "column 4"]
    assert len(df.attrs["notes"]) == 2


def test_an_excel_file_sharing_one_long_text_among_many_cells_is_refused(tmp_path):
    path = hostile.shared_string_bomb(tmp_path / "bomb.xlsx", cells=100_000)
    assert path.stat().st_size < 100_000  # 10 GB once each cell holds its copy of the text
    with pytest.raises(TooLargeError, match="expands to more than 50 MB of cells") as info:
        read_table(path, max_bytes=50 * 1024**2)
    assert info.value.limit == 50 * 1024**2
    small = hostile.shared_string_bomb(tmp_path / "small.xlsx", cells=20, text_bytes=10)
    assert read_table(small).shape == (1, 10)  # the same form, within bounds, reads


def test_an_excel_file_declaring_a_huge_sheet_reads_only_its_cells(tmp_path):
    # A million rows declared, two cells filled: read as the two cells, not padded out.
    frame = read_table(hostile.dimension_bomb(tmp_path / "corner.xlsx"), max_bytes=20 * 1024**2)
    assert frame.shape == (1, 2)
    # One value per row, each a column further right: a table of 16,000 by 16,000, refused
    # after its first thousand rows whatever the limit.
    path = hostile.diagonal_sheet(tmp_path / "diagonal.xlsx")
    assert path.stat().st_size < 500_000
    with pytest.raises(DataError, match="almost all empty cells: 1,001 values spread over"):
        read_table(path, max_bytes=10 * 1024**3)


def test_an_excel_file_whose_xml_is_over_the_limit_is_refused(tmp_path):
    path = tmp_path / "sales.xlsx"
    pd.DataFrame({"n": [1] * 20_000}).to_excel(path, index=False)
    assert path.stat().st_size < 200_000
    assert "of XML" in read_error(path, max_bytes=200_000)


def test_a_parquet_file_that_decodes_past_the_limit_is_refused(tmp_path):
    path = hostile.parquet_bomb(tmp_path / "bomb.parquet", rows=1_000_000)
    assert path.stat().st_size < 1_000_000  # a gigabyte of text once decoded
    with pytest.raises(TooLargeError, match="expands to more than 100 MB of values"):
        read_table(path, max_bytes=100 * 1024**2)
    df = read_table(path, max_bytes=2 * 1024**3)  # within the limit it reads as usual
    assert df["note"].iloc[-1] == "x" * 1000 and len(df) == 1_000_000


def test_damaged_excel_workbook(tmp_path):
    path = tmp_path / "broken.xlsx"
    path.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(DataError, match="not a readable Excel"):
        read_table(path)


def test_a_column_whose_chunks_disagree_becomes_text(tmp_path):
    # Large files parse in chunks; numbers first and a word late in a column must not mix.
    path = write(tmp_path / "mixed.csv", "a,b\n" + "1,2\n" * 300_000 + "x,3\n")
    frame = read_table(path)
    assert {type(v) for v in frame["a"]} == {str}
    assert frame["a"].iloc[-1] == "x"
    assert frame["b"].dtype.kind == "i"


def test_batches_keep_the_text_as_written_and_read_values_like_the_whole_file(
    tmp_path: Path,
) -> None:
    lines = ["code;price;city"] + [f"{i:03d};{i},5;{'NA' if i % 4 == 0 else 'Lyon'}"
                                    for i in range(1, 11)]  # fmt: skip
    path = write(tmp_path / "data.csv", "\n".join(lines) + "\n")

    batches = list(read_batches(path, rows=4))

    assert [len(text) for text, _ in batches] == [4, 4, 2]
    text = pd.concat([t for t, _ in batches])
    values = pd.concat([v for _, v in batches])
    whole = read_table(path)
    assert text["code"].tolist()[:2] == ["001", "002"]
    assert text["price"].iloc[0] == "1,5" and text["city"].iloc[3] == "NA"
    assert values.reset_index(drop=True).equals(whole)
    assert count_rows(path, Dialect(**whole.attrs["dialect"])) == 10


def test_batches_refuse_what_they_cannot_read(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="text tables"):
        list(read_batches(tmp_path / "data.parquet"))
    header_only = write(tmp_path / "empty.csv", "a,b\n")
    with pytest.raises(DataError, match="no data rows"):
        list(read_batches(header_only))
    ragged = write(tmp_path / "ragged.csv", "a,b\n" + "1,2\n" * 3 + "1,2,3\n")
    with pytest.raises(DataError, match="Line 5 has 3 fields"):
        list(read_batches(ragged, rows=2))


def test_count_rows_reads_compressed_files_and_a_missing_last_line_break(tmp_path: Path) -> None:
    path = tmp_path / "data.csv.gz"
    path.write_bytes(gzip.compress(b"a,b\n1,2\n3,4"))
    dialect = Dialect(delimiter=",", decimal=".", encoding="utf-8", has_header=True)
    assert count_rows(path, dialect) == 2
    assert [len(t) for t, _ in read_batches(path, rows=1)] == [1, 1]
