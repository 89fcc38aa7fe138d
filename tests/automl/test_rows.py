"""Request rows read as the training file was: JSON types or values as written, the training
table's other columns accepted and named, an optional key echoed, problems by row and column."""

import pytest

from automl import read_rows

SCHEMA = [
    {"name": "fee", "kind": "numeric", "required": True},
    {"name": "partner", "kind": "boolean", "required": False, "categories": ["Yes", "No"]},
    {"name": "plan", "kind": "categorical", "required": False},
    {"name": "since", "kind": "datetime", "required": False},
]


def test_values_as_the_training_file_wrote_them_are_read():
    rows = [
        {"fee": "1,234.50", "partner": "Yes", "plan": "basic", "since": "01/02/2024"},
        {"fee": "$5", "partner": 0, "plan": 7, "since": None},
        {"fee": 12, "partner": "n", "plan": "", "since": ""},
        {"fee": " 12 % ", "partner": True, "plan": 2.5},
    ]
    read = read_rows(rows, SCHEMA)
    assert read.problems == []
    assert read.columns == {
        "fee": [1234.5, 5.0, 12, 12.0],
        "partner": [True, False, False, True],
        "plan": ["basic", "7", None, "2.5"],
        "since": ["01/02/2024", None, None, None],
    }
    assert read.ignored == [] and read.keys is None


def test_columns_the_model_does_not_use_are_named_and_a_key_is_echoed():
    rows = [{"fee": 1, "customerID": "A-1", "churned": "No"}, {"fee": 2, "customerID": "A-2"}]
    read = read_rows(rows, SCHEMA, ignored=["customerID", "churned"], key="customerID")
    assert read.problems == []
    assert read.ignored == ["churned", "customerID"]
    assert read.keys == ["A-1", "A-2"]
    # "id" is the key by default, whatever it holds, and is no unknown column.
    read = read_rows([{"fee": 1, "id": 7}, {"fee": 2}], SCHEMA)
    assert read.problems == [] and read.keys == [7, None] and read.ignored == []


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ({"fee": "twelve"}, "'fee' must be a number, not \"twelve\""),
        ({"fee": True}, "'fee' must be a number, not true"),
        ({"fee": "1e31"}, "'fee' is too large"),
        ({"fee": 10**40}, "'fee' is too large"),
        ({"fee": 1, "partner": "maybe"}, "'partner' must be true or false (or 1 or 0, or as in "
         "the training data: 'Yes', 'No'), not \"maybe\""),
        ({"fee": 1, "partner": 2}, "'partner' must be true or false"),
        ({"fee": 1, "plan": ["a"]}, "'plan' must be text, not [\"a\"]"),
        ({"fee": 1, "since": 20240102}, "'since' must be a date, written as in the training"),
        ({"fee": 1, "colour": "red"}, "unknown column 'colour'"),
        ({"fee": None}, "'fee' is required"),
        ({"fee": "  "}, "'fee' is required"),
    ],
)  # fmt: skip
def test_values_of_the_wrong_kind_are_named_by_row_and_column(row, problem):
    problems = read_rows([{"fee": 1}, {"fee": 2}, row], SCHEMA).problems
    assert len(problems) == 1
    assert problems[0].startswith("row 3: ") and problem in problems[0]


def test_rows_that_are_not_objects_and_long_lists_of_problems():
    read = read_rows([{"fee": 1}, "a row", {"fee": "x"}], SCHEMA)
    assert read.problems == [
        "row 2: expected an object of column values",
        "row 3: 'fee' must be a number, not \"x\"",
    ]
    many = read_rows([{"fee": None}] * 100, SCHEMA).problems
    assert 20 < len(many) < 100
