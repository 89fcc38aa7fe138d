"""Type inference on the columns analysts' files really hold."""

import numpy as np
import pandas as pd
import pytest

from automl import kinds as K


def kind(values, name="col"):
    return K.infer_kind(pd.Series(values, name=name), name)[0]


def test_numbers_stored_as_text_are_numeric():
    assert kind(["1,234", "$5", "12 %", " 7 ", "3.5"] * 5) == "numeric"
    parsed = K.parse_numbers(pd.Series(["1,234.5", "$5", "12 %", "abc", None]))
    assert parsed.iloc[:3].tolist() == [1234.5, 5.0, 12.0]
    assert parsed.iloc[3:].isna().all()


@pytest.mark.timeout(60)
def test_a_pathological_cell_is_read_in_linear_time():
    # "1%%%...x" made the old currency-and-percent pattern backtrack from every position.
    cell = "1" + "%" * 1_000_000 + "x"
    values = pd.Series(["12 %", " $ 7 ", "3.5"] * 40 + [cell])
    assert K.infer_kind(values, "rate")[0] == "numeric"
    assert K.parse_numbers(values).isna().tolist() == [False] * 120 + [True]


@pytest.mark.parametrize(
    ("values", "expected_format"),
    [
        (["2021-01-05", "2021-02-17", "2022-12-31"], "ISO8601"),
        (["2021-01-05 10:30:00", "2021-02-17 08:00:00", "2022-12-31 23:59:59"], "ISO8601"),
        (["05/01/2021", "17/02/2021", "31/12/2022"], "%d/%m/%Y"),
        (["01/05/2021", "02/17/2021", "12/31/2022"], "%m/%d/%Y"),
        (["05.01.2021", "17.02.2021", "31.12.2022"], "%d.%m.%Y"),
    ],
)
def test_dates_in_several_formats(values, expected_format):
    assert K.infer_kind(pd.Series(values * 5), "when") == ("datetime", expected_format)
    parsed = K.parse_dates(pd.Series(values), expected_format)
    assert parsed.dt.year.tolist() == [2021, 2021, 2022]


def test_years_alone_are_numbers_not_dates():
    assert kind([2019, 2020, 2021, 2022] * 5) == "numeric"


def test_identifiers():
    assert kind(np.arange(100, 200), "PassengerId") == "identifier"
    assert kind([f"C{i:05d}" for i in range(50)], "customer") == "identifier"
    # Unique floats are measurements, not IDs.
    assert kind(np.linspace(0, 1, 50), "ratio") == "numeric"


@pytest.mark.parametrize("pair", [("yes", "no"), ("Y", "N"), ("True", "False"), (1, 0)])
def test_booleans(pair):
    assert kind(list(pair) * 10) == "boolean"
    assert K.parse_booleans(pd.Series([*pair, "maybe"])).tolist()[:2] == [1.0, 0.0]


def test_constant_and_empty_columns():
    assert kind(["a"] * 10) == "constant"
    assert kind([None] * 10) == "constant"


def test_free_text_and_categories():
    sentences = [f"customer {i} wrote that the delivery was late again" for i in range(40)]
    assert kind(sentences) == "text"
    assert kind(["red", "green", "blue"] * 10) == "categorical"


def test_invalid_rows_names_only_unreadable_values():
    values = pd.Series(["1", "two", None, "", "4"])
    assert K.invalid_rows(values, "numeric").tolist() == [False, True, False, False, False]
    assert not K.invalid_rows(values, "categorical").any()
