"""Feature pipelines: each kind becomes model input, and nothing leaks across folds."""

import numpy as np
import pandas as pd
import pytest

from automl import profile
from automl.features import DateParts, KindReader, make_preprocessor
from automl.learners import LEARNERS


@pytest.mark.parametrize("family", ["linear", "hist_gradient_boosting", "xgboost"])
def test_pipeline_turns_every_kind_into_finite_numbers(binary_table, family):
    p = profile(binary_table, "y")
    y = (binary_table["y"] == "churned").astype(int)
    out = make_preprocessor(p, LEARNERS[family].inputs).fit(binary_table, y).transform(binary_table)
    dense = out.toarray() if hasattr(out, "toarray") else out
    assert dense.shape[0] == len(binary_table)
    assert np.isfinite(dense).all()


def test_missing_values_get_indicators_and_dates_get_parts(binary_table):
    p = profile(binary_table, "y")
    pre = make_preprocessor(p, LEARNERS["random_forest"].inputs).fit(
        binary_table, binary_table["y"] == "churned"
    )
    names = list(pre.get_feature_names_out())
    assert "missingindicator_x1" in names
    assert {"signup_year", "signup_month", "signup_day_of_week"} <= set(names)
    assert "signup_hour" not in names  # dates without times carry no hour


def test_unseen_categories_and_missing_columns_are_handled(binary_table):
    p = profile(binary_table, "y")
    pre = make_preprocessor(p, LEARNERS["linear"].inputs).fit(
        binary_table, binary_table["y"] == "churned"
    )
    new = binary_table.head(3).assign(city=["Tokyo", None, "Paris"]).drop(columns=["member"])
    assert pre.transform(new).shape[0] == 3


def test_imputation_learns_only_from_training_rows():
    df = pd.DataFrame({"x": [1.0, 2.0, 3.0, np.nan, 1000.0, 1000.0], "y": [0, 1, 0, 1, 0, 1]})
    p = profile(df, "y")
    train, valid = df.iloc[:4], df.iloc[4:]
    pre = make_preprocessor(p, LEARNERS["random_forest"].inputs).fit(train, train["y"])
    # The training median is 2; validation rows, however extreme, do not move it.
    assert pre.transform(df.iloc[[3]])[0, 0] == 2.0
    assert pre.transform(valid)[:, 0].tolist() == [1000.0, 1000.0]


def test_target_encoding_of_a_fold_never_sees_the_validation_targets():
    rng = np.random.default_rng(0)
    n = 400
    df = pd.DataFrame({"shop": [f"s{i % 60}" for i in range(n)], "y": rng.integers(0, 2, n)})
    p = profile(df, "y")
    train, valid = df.iloc[:300], df.iloc[300:]
    encoded = (
        make_preprocessor(p, LEARNERS["xgboost"].inputs).fit(train, train["y"]).transform(valid)
    )
    flipped = valid.assign(y=1 - valid["y"])
    refit = (
        make_preprocessor(p, LEARNERS["xgboost"].inputs).fit(train, train["y"]).transform(flipped)
    )
    assert np.allclose(encoded, refit)


def test_text_becomes_tfidf_terms():
    reviews = [f"great product number {i} works" for i in range(20)] + [
        f"terrible product broke after day {i}" for i in range(20)
    ]
    df = pd.DataFrame({"review": reviews, "y": [1] * 20 + [0] * 20})
    p = profile(df, "y")
    assert p.column("review").kind == "text"
    pre = make_preprocessor(p, LEARNERS["linear"].inputs).fit(df, df["y"])
    assert {"great", "terrible"} <= set(pre.get_feature_names_out())


def test_kind_reader_reads_each_kind():
    schema = [
        {"name": "n", "kind": "numeric", "date_format": None},
        {"name": "b", "kind": "boolean", "date_format": None},
        {"name": "d", "kind": "datetime", "date_format": "%d/%m/%Y"},
    ]
    raw = pd.DataFrame({"n": ["1,000", "x"], "b": ["yes", "no"], "d": ["31/12/2020", None]})
    out = KindReader(schema).fit(raw).transform(raw)
    assert out["n"].tolist()[0] == 1000.0
    assert np.isnan(out["n"].tolist()[1])
    assert out["b"].tolist() == [1.0, 0.0]
    assert out["d"].dt.year.tolist()[0] == 2020


def test_transformers_clone_with_their_parameters():
    from sklearn.base import clone

    schema = [{"name": "n", "kind": "numeric", "date_format": None}]
    assert clone(KindReader(schema)).get_params() == {"schema": schema}
    assert clone(DateParts()).get_params() == {}
