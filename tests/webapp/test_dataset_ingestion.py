"""Ingestion on the worker, called directly: a corpus of awkward files, each ready with the
right shape or failed with a specific reason; never an exception, never stuck processing."""

from pathlib import Path

import pandas as pd
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from webapp.datasets.models import Dataset
from webapp.datasets.tasks import ingest_dataset, profile_target

CORPUS = Path(__file__).resolve().parents[1] / "data" / "corpus"


def ingest(owner, filename: str, content: bytes, **fields) -> Dataset:
    upload = SimpleUploadedFile(filename, content)
    dataset = Dataset.create_from_upload(owner, upload)
    Dataset.objects.filter(pk=dataset.pk).update(**fields)
    ingest_dataset(dataset.pk)
    dataset.refresh_from_db()
    return dataset


READY = {
    "blank_headers.csv": (3, ["a", "column 2", "c"]),
    "dates_several_formats.csv": (28, ["iso", "eu", "us"]),
    "formulas.csv": (4, ["name", "note"]),
    "good.csv.gz": (50, ["a", "b"]),
    "latin1.csv": (3, ["ville", "prix"]),
    "mixed_line_endings.csv": (4, ["a", "b"]),
    "no_header.csv": (30, ["column 1", "column 2", "column 3"]),
    "only_commas.csv": (3, ["column 1", "column 2", "column 3"]),
    "pipe_delimited.txt": (30, ["a", "b", "c"]),
    "quoted_newlines.csv": (3, ["id", "comment", "score"]),
    "semicolon_decimal_comma.csv": (30, ["name", "price", "qty"]),
    "single_column.csv": (20, ["value"]),
    "tab_delimited.tsv": (30, ["a", "b", "c"]),
    "thousands_separators.csv": (4, ["city", "population"]),
    "trailing_delimiter.csv": (2, ["a", "b", "column 3"]),
    "duplicate_headers.csv": (2, ["price", "size", "price (2)"]),
    "unicode_emoji_headers.csv": (3, ["Prix (€)", "温度", "📈 growth"]),
    "utf16.csv": (3, ["name", "value"]),
    "utf8_bom.csv": (2, ["name", "value"]),
    "whitespace_headers.csv": (2, ["a", "b"]),
    "windows1252.csv": (2, ["item", "price"]),
}
FAILED = {
    "binary_junk.csv": "not a text table",
    "bomb.csv.gz": "raise MAX_DECOMPRESSED_SIZE",
    "empty.csv": "The file is empty",
    "header_only.csv": "header but no data rows",
    "not_gzip.csv.gz": "not gzip-compressed",
    "nul_bytes.csv": "NUL bytes",
    "ragged_rows.csv": "Line 3 has 5 fields but the header has 3",
}


def test_the_corpus_is_complete():
    assert {p.name for p in CORPUS.iterdir()} == {*READY, *FAILED, "wrong_extension.json"}


@pytest.mark.parametrize(("filename", "expected"), READY.items())
def test_awkward_files_ingest(alice, filename, expected, settings):
    dataset = ingest(alice, filename, (CORPUS / filename).read_bytes())
    assert dataset.status == "ready", dataset.error
    n_rows, columns = expected
    assert dataset.n_rows == n_rows
    assert [c["name"] for c in dataset.columns()] == columns
    assert pd.read_parquet(dataset.parquet_path).shape == (n_rows, len(columns))
    assert dataset.preview["columns"] == columns


@pytest.mark.parametrize(("filename", "message"), FAILED.items())
def test_malformed_files_fail_with_a_specific_reason(alice, filename, message, settings):
    settings.MAX_DECOMPRESSED_SIZE = 1_000_000
    dataset = ingest(alice, filename, (CORPUS / filename).read_bytes())
    assert dataset.status == "failed"
    assert message in dataset.error


def test_profiles_read_numbers_and_dates_the_way_people_write_them(alice):
    semicolons = ingest(alice, "s.csv", (CORPUS / "semicolon_decimal_comma.csv").read_bytes())
    assert {c["name"]: c["kind"] for c in semicolons.columns()}["price"] == "numeric"
    assert pd.read_parquet(semicolons.parquet_path)["price"].iloc[3] == 3.5
    dates = ingest(alice, "d.csv", (CORPUS / "dates_several_formats.csv").read_bytes())
    assert {c["kind"] for c in dates.columns()} == {"datetime"}
    thousands = ingest(alice, "t.csv", (CORPUS / "thousands_separators.csv").read_bytes())
    population = next(c for c in thousands.columns() if c["name"] == "population")
    assert population["kind"] == "numeric"
    assert population["stats"]["max"] == 2161000


def test_formulas_stay_plain_text(alice):
    dataset = ingest(alice, "f.csv", (CORPUS / "formulas.csv").read_bytes())
    assert dataset.preview["rows"][0][1].startswith("=cmd")
    assert next(c for c in dataset.columns() if c["name"] == "note")["kind"] != "numeric"


@pytest.mark.slow
def test_a_wide_file_and_a_long_line(alice):
    wide = ",".join(f"c{i}" for i in range(5000)) + "\n" + ",".join(["1"] * 5000) + "\n"
    dataset = ingest(alice, "wide.csv", (wide + wide.split("\n")[1] + "\n").encode())
    assert dataset.status == "ready", dataset.error
    assert dataset.n_columns == 5000

    long_line = "text\n" + "x" * 10_000_000 + "\n" + "short\n"
    dataset = ingest(alice, "long.csv", long_line.encode())
    assert dataset.status == "ready", dataset.error
    assert dataset.n_rows == 2


def test_a_dataset_interrupted_while_processing_can_be_taken_again(alice):
    # A worker killed mid-way leaves the row processing; the redelivered task takes it again.
    dataset = ingest(
        alice, "good.csv.gz", (CORPUS / "good.csv.gz").read_bytes(), status="processing"
    )
    assert dataset.status == "ready"


def test_a_finished_dataset_is_not_ingested_twice(alice):
    dataset = ingest(alice, "good.csv.gz", (CORPUS / "good.csv.gz").read_bytes())
    Dataset.objects.filter(pk=dataset.pk).update(n_rows=-1)
    ingest_dataset(dataset.pk)
    dataset.refresh_from_db()
    assert dataset.n_rows == -1


def test_unexpected_errors_fail_the_dataset_with_a_plain_message(alice, monkeypatch):
    import webapp.datasets.tasks as tasks

    monkeypatch.setattr(tasks, "profile_parquet", lambda path: 1 / 0)
    dataset = ingest(alice, "good.csv.gz", (CORPUS / "good.csv.gz").read_bytes())
    assert dataset.status == "failed"
    assert dataset.error == tasks.INTERNAL_ERROR


def test_target_profile_gives_the_task_and_checks(alice):
    rows = "".join(f"{i},{i % 3},{'yes' if i % 2 else 'no'},{i % 2}\n" for i in range(60))
    dataset = ingest(alice, "t.csv", ("id,group,bought,paid\n" + rows).encode())
    Dataset.objects.filter(pk=dataset.pk).update(target="bought")
    profile_target(dataset.pk)
    dataset.refresh_from_db()
    assert dataset.target_profile["task"] == "binary"
    assert dataset.target_profile["target_summary"]["classes"] == {"no": 30, "yes": 30}
    leakage = next(c for c in dataset.checks() if c["id"] == "leakage")
    assert (leakage["columns"], leakage["status"]) == (["paid"], "acted")
    # Kept, the leak stays a feature, and the check says so.
    Dataset.objects.filter(pk=dataset.pk).update(keep=["paid"], target_profile=None)
    profile_target(dataset.pk)
    dataset.refresh_from_db()
    leakage = next(c for c in dataset.checks() if c["id"] == "leakage")
    assert leakage["status"] == "alert" and "as you chose" in leakage["action"]


def test_made_up_column_names_are_noted_on_the_page(client, alice):
    dataset = ingest(alice, "dup.csv", (CORPUS / "duplicate_headers.csv").read_bytes())
    assert dataset.notes == [
        "Column 3 is named 'price' like an earlier one; it is called 'price (2)' here."
    ]
    client.force_login(alice)
    page = client.get(f"/datasets/{dataset.pk}/").content.decode()
    assert "it is called &#x27;price (2)&#x27; here" in page
    assert client.get(f"/api/v1/datasets/{dataset.pk}").json()["notes"] == dataset.notes
