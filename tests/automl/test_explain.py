"""Reason codes add up to the model's answer, for every family, task and ensemble."""

import numpy as np
import pandas as pd
import pytest

from automl import AutoML
from automl.ensemble import Blend
from automl.model import Model
from tests.automl.conftest import make_table

FAMILIES = ["linear", "random_forest", "extra_trees", "hist_gradient_boosting", "lightgbm",
            "xgboost"]  # fmt: skip


def answers(model, rows) -> np.ndarray:
    """What each explanation explains: the value, or the explained class's probability."""
    if not model.is_classifier:
        return model.predict(rows)
    proba = model.predict_proba(rows)
    k = np.ones(len(rows), int) if proba.shape[1] == 2 else proba.argmax(axis=1)
    return proba[np.arange(len(rows)), k]


def fitted(task: str, family: str) -> Model:
    train = make_table(task, 300, seed=1)
    run = AutoML(time_budget=30, families=[family], n_trials=1, n_splits=2, seed=0)
    return run.fit(train, target="y").model_


def rows_to_explain(task: str) -> pd.DataFrame:
    rows = make_table(task, 25, seed=7).drop(columns=["y"])
    rows.loc[2, ["x1", "city"]] = np.nan, "Tokyo"  # missing and never seen
    return rows


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
@pytest.mark.parametrize("family", FAMILIES)
def test_contributions_add_up_to_the_answer(task, family):
    model = fitted(task, family)
    rows = rows_to_explain(task)
    explained = model.explain(rows, top=None)
    expected = answers(model, rows)
    for row, answer in zip(explained, expected, strict=True):
        total = row["base"] + sum(c["contribution"] for c in row["contributions"])
        assert total == pytest.approx(answer, abs=1e-6)
        assert row["output"] == pytest.approx(answer, abs=1e-6)
        assert {c["column"] for c in row["contributions"]} == {c["name"] for c in model.schema}
    if task != "multiclass":  # the strongest signal of the table leads, on most rows
        leaders = [row["contributions"][0]["column"] for row in model.explain(rows, top=1)]
        assert leaders.count("x1") >= 8


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_an_ensemble_explains_as_the_weighted_sum_of_its_members(task):
    members = [fitted(task, "xgboost"), fitted(task, "linear"), fitted(task, "random_forest")]
    first = members[0]
    n_classes = None if first.classes_ is None else len(first.classes_)
    blend = Blend([m.pipeline for m in members], [0.5, 0.3, 0.2], n_classes)
    model = Model(blend, task=task, target="y", classes=first.classes_, schema=first.schema,
                  info={})  # fmt: skip
    rows = rows_to_explain(task)
    explained = model.explain(rows, top=3)
    for row, answer in zip(explained, answers(model, rows), strict=True):
        assert row["output"] == pytest.approx(answer, abs=1e-6)
        assert len(row["contributions"]) == 3
        sizes = [abs(c["contribution"]) for c in row["contributions"]]
        assert sizes == sorted(sizes, reverse=True)


def test_values_are_shown_as_sent():
    model = fitted("binary", "linear")
    rows = rows_to_explain("binary")
    first = model.explain(rows.head(1), top=None)[0]
    sent = {c["column"]: c["value"] for c in first["contributions"]}
    assert sent["city"] == rows["city"].iloc[0] and sent["x2"] == rows["x2"].iloc[0]
    assert first["explained"] == model.classes_[1]
