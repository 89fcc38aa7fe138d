"""Reason codes add up to the model's answer, for every family, task and ensemble."""

import numpy as np
import pandas as pd
import pytest

from automl import AutoML, AutoMLError
from automl.ensemble import Blend
from automl.learners import LEARNERS
from automl.model import Model
from tests.automl.conftest import make_table, skewed_table

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


def with_text(task: str, n_rows: int, seed: int) -> pd.DataFrame:
    """``make_table`` with a free-text column, whose words make the model's input sparse, and
    a whole-number column, so that 0 is common."""
    table = make_table(task, n_rows, seed)
    rng = np.random.default_rng(seed)
    words = [f"word{i}" for i in range(300)]
    table["note"] = [" ".join(rng.choice(words, 12)) for _ in range(n_rows)]
    table["x1"] = table["x1"].round()
    return table


@pytest.mark.parametrize(
    ("task", "family"),
    [("binary", "xgboost"), ("multiclass", "xgboost"), ("regression", "xgboost"),
     ("binary", "lightgbm"), ("regression", "linear")],
)  # fmt: skip
def test_sparse_inputs_are_explained_as_the_model_reads_them(task, family):
    # XGBoost takes a sparse matrix's absent entries for missing values, not zeros.
    run = AutoML(time_budget=30, families=[family], n_trials=1, n_splits=2, seed=0)
    model = run.fit(with_text(task, 300, seed=1), target="y").model_
    rows = with_text(task, 25, seed=7).drop(columns=["y"])
    assert "note" in {c["name"] for c in model.schema}
    explained = model.explain(rows, top=None)
    for row, answer in zip(explained, answers(model, rows), strict=True):
        assert row["output"] == pytest.approx(answer, abs=1e-6)


def test_a_model_that_gives_no_reason_codes_says_so_in_plain_words():
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import Pipeline

    model = fitted("binary", "linear")
    train = make_table("binary", 300, seed=1)
    features = model.pipeline[:-1]
    codes = (train.y == model.classes_[1]).astype(int)  # the engine's learners see class codes
    neighbours = KNeighborsClassifier().fit(features.transform(model.validate(train)), codes)
    other = Model(Pipeline([*features.steps, ("knn", neighbours)]), task="binary", target="y",
                  classes=model.classes_, schema=model.schema, info={})  # fmt: skip
    with pytest.raises(AutoMLError, match=r"KNeighborsClassifier\) gives no reason codes"):
        other.explain(rows_to_explain("binary"))


def test_a_column_that_raises_a_class_is_credited_with_raising_its_probability():
    from sklearn.linear_model import LogisticRegression

    from automl.explain import _class_contributions

    # x1 lowers every class's margin, the explained class's least; x2 raises its margin only.
    # Class 0's probability rises from 1/3 to 0.82 though its own margin falls: both columns
    # raised it, and both are credited with a rise.
    model = LogisticRegression()
    model.classes_ = np.array([0, 1, 2])
    model.coef_ = np.array([[-1.0, 0.2], [-3.0, 0.0], [-3.0, 0.0]])
    model.intercept_ = np.zeros(3)
    Z = np.array([[1.0, 1.0]])
    base, phi = _class_contributions(model, Z, np.array([0]), 3)
    answer = model.predict_proba(Z)[0, 0]
    assert base[0] == pytest.approx(1 / 3) and base[0] + phi.sum() == pytest.approx(answer)
    assert (phi > 0).all(), phi


def test_rows_explained_a_chunk_at_a_time_are_explained_as_alone(monkeypatch):
    import automl.explain

    model = fitted("multiclass", "xgboost")
    rows = rows_to_explain("multiclass")
    whole = model.explain(rows, top=None)
    monkeypatch.setattr(automl.explain, "CHUNK", 7)  # 25 rows: three chunks and a rest
    for alone, chunked in zip(whole, model.explain(rows, top=None), strict=True):
        assert chunked["base"] == pytest.approx(alone["base"], abs=1e-9)
        by_column = {c["column"]: c["contribution"] for c in chunked["contributions"]}
        for reason in alone["contributions"]:
            assert by_column[reason["column"]] == pytest.approx(reason["contribution"], abs=1e-9)


def test_values_are_shown_as_sent():
    model = fitted("binary", "linear")
    rows = rows_to_explain("binary")
    first = model.explain(rows.head(1), top=None)[0]
    sent = {c["column"]: c["value"] for c in first["contributions"]}
    assert sent["city"] == rows["city"].iloc[0] and sent["x2"] == rows["x2"].iloc[0]
    assert first["explained"] == model.classes_[1]


def path_dependent_shapley(tree, x: np.ndarray) -> np.ndarray:
    """Shapley values of one scikit-learn tree at ``x`` by enumerating every coalition: the
    value of a coalition follows ``x`` on its features and averages the others' branches by
    training cover, TreeSHAP's definition. Exponential: for a few features only."""
    from itertools import combinations
    from math import factorial

    t = tree.tree_

    def value(node, known):
        if t.children_left[node] < 0:
            return t.value[node, 0, 0]
        left, right = t.children_left[node], t.children_right[node]
        if t.feature[node] in known:
            return value(left if x[t.feature[node]] <= t.threshold[node] else right, known)
        weights = t.weighted_n_node_samples[[left, right]]
        return (weights[0] * value(left, known) + weights[1] * value(right, known)) / sum(weights)

    n = len(x)
    phi = np.zeros(n)
    for i in range(n):
        others = [j for j in range(n) if j != i]
        for size in range(n):
            for known in combinations(others, size):
                weight = factorial(size) * factorial(n - size - 1) / factorial(n)
                phi[i] += weight * (value(0, {*known, i}) - value(0, set(known)))
    return phi


def test_forest_contributions_are_exact_shapley_values_not_path_credits():
    from sklearn.ensemble import RandomForestRegressor

    from automl.explain import _forest_paths, _raw_contributions

    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 4))
    y = X[:, 0] * X[:, 1] + np.where(X[:, 2] > 0, 2, 0) + rng.normal(scale=0.1, size=400)
    forest = RandomForestRegressor(n_estimators=3, max_depth=4, random_state=0).fit(X, y)
    rows = rng.normal(size=(5, 4))
    base, phi = _raw_contributions(forest, rows, None)
    expected = np.mean([[path_dependent_shapley(tree, x) for x in rows]
                        for tree in forest.estimators_], axis=0)  # fmt: skip
    np.testing.assert_allclose(phi, expected, atol=1e-5)
    np.testing.assert_allclose(base + phi.sum(axis=1), forest.predict(rows), atol=1e-9)
    # Path credits add up the same, but share an interaction otherwise.
    assert not np.allclose(_forest_paths(forest, rows, None)[1], expected, atol=1e-3)


def test_a_value_that_32_bit_floats_do_not_hold_is_still_explained_in_full():
    from sklearn.ensemble import HistGradientBoostingRegressor

    from automl.explain import _raw_contributions
    from automl.treeshap import hist_contributions

    X = np.arange(1e9, 1e9 + 400, dtype=float)[:, None]  # steps of 1, 32-bit floats keep 64
    y = (X[:, 0] % 2) * 10.0
    model = HistGradientBoostingRegressor(max_iter=20, random_state=0).fit(X, y)
    _, _, copied = hist_contributions(model, X, 0)
    baseline = float(model._baseline_prediction.ravel()[0])
    assert (np.abs(copied + baseline - model.predict(X)) > 1e-3).any()  # the copy strays there
    base, phi = _raw_contributions(model, X, None)
    np.testing.assert_allclose(base + phi.sum(axis=1), model.predict(X), atol=1e-6)


@pytest.mark.parametrize("family", ["linear", "random_forest", "xgboost"])
def test_a_log_scale_model_explains_in_the_targets_units(family):
    train = skewed_table(300, seed=1)
    run = AutoML(time_budget=30, families=[family], n_trials=1, n_splits=2, seed=0)
    run.fit(train, target="y")
    params = {**LEARNERS[family].portfolio[0], "target_scale": "log"}
    model = run.build(train, {"model_id": "m009", "family": family, "params": params}, target="y")
    rows = skewed_table(25, seed=7).drop(columns=["y"])
    for row, answer in zip(model.explain(rows, top=None), model.predict(rows), strict=True):
        # The reasons add up to the output exactly; the output is the answer to the precision
        # of the model's own numbers (XGBoost's are 32-bit: a last digit's difference).
        total = row["base"] + sum(c["contribution"] for c in row["contributions"])
        assert total == pytest.approx(row["output"], rel=1e-9)
        assert row["output"] == pytest.approx(answer, rel=1e-6)
    # In the target's units, not in logs: a row's reasons move it by hundreds, not by tenths.
    moved = [abs(c["contribution"]) for row in model.explain(rows, top=1)
             for c in row["contributions"]]  # fmt: skip
    assert np.median(moved) > 50
