"""The fast path for a few rows gives the model's own answers, for every family and encoding,
and steps aside for what it cannot read."""

import math

import numpy as np
import pandas as pd
import pytest

from automl import AutoML
from automl.fast import BOOSTED, FORESTS, RowPredictor, Unsupported, compile_rows, single_threaded
from automl.learners import LEARNERS
from tests.automl.conftest import make_table

SHOPS = [f"shop {i}" for i in range(30)]  # over MAX_ONE_HOT: target-encoded


def table(task: str, n_rows: int, seed: int):
    df = make_table(task, n_rows=n_rows, seed=seed)
    df["shop"] = np.random.default_rng(seed).choice(SHOPS, size=n_rows)
    df["renewal"] = pd.date_range("2021-03-01", periods=n_rows, freq="3D").strftime("%Y-%m-%d")
    df["x2"] = df["x2"].astype(float)  # JSON sends numbers, not text
    df["member"] = (df["member"] == "yes").astype(object)
    # Codes for "unknown", which the model reads as missing values.
    rng = np.random.default_rng(seed + 100)
    df["visits"] = np.where(rng.random(n_rows) < 0.15, -1, rng.integers(1, 30, n_rows))
    df["city"] = df["city"].mask(rng.random(n_rows) < 0.1, "?")
    return df


def as_columns(frame) -> dict[str, list]:
    """Columns of JSON values, as a prediction request brings them."""
    return {
        name: [None if (isinstance(v, float) and math.isnan(v)) else v for v in values]
        for name, values in frame.astype(object).to_dict("list").items()
    }


@pytest.fixture(scope="module", params=[
    ("binary", "linear"), ("binary", "random_forest"), ("multiclass", "hist_gradient_boosting"),
    ("multiclass", "xgboost"), ("regression", "extra_trees"), ("regression", "linear"),
    ("binary", "hist_gradient_boosting"), ("regression", "hist_gradient_boosting"),
])  # fmt: skip
def fitted(request):
    task, family = request.param
    train = table(task, 300, seed=1)
    run = AutoML(time_budget=30, seed=0, families=[family], n_trials=1, n_splits=2)
    return run.fit(
        train,
        target="y",
    ).model_


def test_the_fast_path_gives_the_models_answers(fitted):
    rows = table("binary", 40, seed=5).drop(columns=["y"])
    rows.loc[3, "city"] = "Tokyo"  # never seen
    rows.loc[4, "shop"] = "a new shop"
    rows.loc[5, ["x1", "x2", "city", "shop", "signup", "member", "renewal"]] = np.nan
    rows.loc[7, "renewal"] = "2024-02-29T15:30:00+02:00"  # not a plain day: read by pandas
    rows.loc[6, "city"] = "  Paris "
    columns = as_columns(rows.drop(columns=["customer_id"]))
    codes = {c["name"]: c["missing_values"] for c in fitted.pipeline[0].steps[0][1].schema}
    assert codes["visits"] == [-1] and codes["city"] == ["?"]
    assert (rows["visits"] == -1).any() and (rows["city"] == "?").any()
    fast = compile_rows(fitted, as_columns(rows.head(2)))
    assert fast is not None
    # Forests are walked as arrays, all trees at once.
    assert isinstance(fast, RowPredictor)
    assert (fast.trees is not None) == isinstance(fitted.pipeline[-1], (*FORESTS, *BOOSTED))
    if fitted.is_classifier:
        assert np.allclose(fast.predict_proba(columns), fitted.predict_proba(rows), rtol=1e-9)
        assert (fast.predict(columns) == fitted.predict(rows)).all()
    else:  # the same up to the order of floating-point sums
        assert np.allclose(fast.predict(columns), fitted.predict(rows), rtol=1e-12)


def test_values_only_the_full_path_reads_are_left_to_it(fitted):
    rows = as_columns(table("binary", 2, seed=6).drop(columns=["y"]))
    fast = compile_rows(fitted, rows)
    for change in ({"x1": ["12", 1.0]}, {"x1": [1e200, 1.0]}, {"signup": ["soon", None]}):
        with pytest.raises(Unsupported):
            fast.predict({**rows, **change})


def test_text_columns_have_no_fast_path():
    train = table("binary", 200, seed=1)
    train["note"] = [f"words {i % 7} and more words {i % 3}" for i in range(200)]
    model = AutoML(
        time_budget=20, families=["linear"], n_trials=1, n_splits=2, kinds={"note": "text"}
    )
    model = model.fit(train, target="y").model_
    assert compile_rows(model, as_columns(train.drop(columns=["y"]).head(2))) is None


def test_single_threaded_sets_every_pool_to_one(fitted):
    single_threaded(fitted)
    estimator = fitted.pipeline[-1]
    for target in (estimator, getattr(estimator, "model_", None)):
        if target is not None and "n_jobs" in target.get_params():
            assert target.get_params()["n_jobs"] == 1


@pytest.mark.parametrize("family", ["xgboost", "hist_gradient_boosting"])
def test_a_log_scale_model_is_answered_in_the_targets_units(family):
    train = table("regression", 300, seed=1).assign(y=lambda d: 1000 * np.exp(d["y"] / 20))
    run = AutoML(time_budget=30, seed=0, families=[family], n_trials=1, n_splits=2)
    run.fit(train, target="y")
    params = {**LEARNERS[family].portfolio[0], "target_scale": "log"}
    model = run.build(train, {"model_id": "m002", "family": family, "params": params},
                      target="y")  # fmt: skip
    single_threaded(model)
    rows = table("regression", 40, seed=5).drop(columns=["y", "customer_id"])
    fast = compile_rows(model, as_columns(rows.head(2)))
    assert fast is not None and (fast.trees is not None) == (family != "xgboost")
    if family == "xgboost":
        assert model.pipeline[-1].model_.model_.get_params()["n_jobs"] == 1
    assert np.allclose(fast.predict(as_columns(rows)), model.predict(rows), rtol=1e-9)
    assert model.predict(rows).min() > 0
