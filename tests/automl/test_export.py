"""ONNX export: every family the converters know answers as the model does; a step without an
ONNX form is named."""

import numpy as np
import onnxruntime
import pandas as pd
import pytest

from automl import AutoML
from automl.export import TOLERANCE, onnx_inputs, to_onnx
from tests.automl.conftest import make_table, skewed_table

FAMILIES = ["linear", "hist_gradient_boosting", "lightgbm", "xgboost", "random_forest",
            "extra_trees"]  # fmt: skip


def messy(task: str) -> pd.DataFrame:
    """The engine's test table with what conversion finds hard: dates with hours, missing
    categories and dates, a column of many categories (target-encoded), yes/no."""
    df = make_table(task, n_rows=240)
    rng = np.random.default_rng(1)
    df["signup"] = (pd.Timestamp("1999-12-30") + pd.to_timedelta(rng.integers(0, 10**9, 240), "s")
                    ).strftime("%Y-%m-%d %H:%M:%S")  # fmt: skip
    df.loc[::17, "signup"] = ""
    df.loc[::13, "city"] = np.nan
    df["shop"] = [f"shop {i}" for i in rng.integers(0, 40, 240)]
    return df


def fitted(df, family, **settings):
    run = AutoML(families=[family], n_trials=1, seed=0, exclude=["customer_id"],
                 validation="holdout", **settings)  # fmt: skip
    return run.fit(df, target="y").model_


def run_graph(export, model, X) -> dict:
    session = onnxruntime.InferenceSession(export.onnx, providers=["CPUExecutionProvider"])
    names = [output.name for output in session.get_outputs()]
    return dict(zip(names, session.run(None, onnx_inputs(model, model.validate(X))), strict=True))


# Every family on a binary target in the default run, on the other tasks in the slow one.
@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize(
    "task", ["binary", pytest.param("multiclass", marks=pytest.mark.slow),
             pytest.param("regression", marks=pytest.mark.slow)],
)  # fmt: skip
def test_each_family_converts_and_answers_as_the_model(task, family):
    df = messy(task)
    if family == "hist_gradient_boosting":  # its own category splits do not convert (below)
        df = df.drop(columns=["city"])
    if task == "multiclass" or family == "hist_gradient_boosting":
        df = df.drop(columns=["shop"])  # nor do many categories encoded by three classes' rates
    model = fitted(df, family)
    export = to_onnx(model, df.head(100))
    assert export.blocked_by is None and export.onnx
    assert export.rows == 100 and export.difference <= TOLERANCE
    # The graph, run as any ONNX runtime would, on rows it was not checked on.
    rows = df.tail(50)
    answers = run_graph(export, model, rows)
    if task == "regression":
        np.testing.assert_allclose(answers["prediction"], model.predict(rows), rtol=1e-4, atol=1e-3)
    else:
        np.testing.assert_allclose(answers["probabilities"], model.predict_proba(rows), atol=1e-4)
        assert list(answers["label"]) == [str(label) for label in model.predict(rows)]


@pytest.mark.parametrize("task", ["binary", pytest.param("regression", marks=pytest.mark.slow)])
def test_an_ensemble_converts_as_one_graph(task):
    df = messy(task)
    run = AutoML(families=["linear", "lightgbm", "random_forest"], n_trials=6, seed=0,
                 exclude=["customer_id"]).fit(df, target="y")  # fmt: skip
    model = run.model_
    assert len(model.pipelines) > 1, "the test needs a blend"
    export = to_onnx(model, df)
    assert export.blocked_by is None and export.difference <= TOLERANCE
    answers = run_graph(export, model, df)
    if task == "regression":
        np.testing.assert_allclose(answers["prediction"], model.predict(df), rtol=1e-4)
    else:
        assert list(answers["label"]) == [str(label) for label in model.predict(df)]


@pytest.mark.parametrize("family", ["linear", pytest.param("xgboost", marks=pytest.mark.slow)])
def test_a_model_of_a_log_scale_target_answers_in_its_units(family):
    df = skewed_table(n_rows=240)
    run = AutoML(families=[family], n_trials=1, seed=0, exclude=["customer_id"],
                 validation="holdout").fit(df, target="y")  # fmt: skip
    candidate = run.leaderboard_.iloc[0].to_dict()
    candidate["params"] = {**candidate["params"], "target_scale": "log"}
    model = run.build(df, candidate, target="y")
    export = to_onnx(model, df)
    assert export.blocked_by is None
    answers = run_graph(export, model, df)["prediction"]
    np.testing.assert_allclose(answers, model.predict(df), rtol=1e-4)
    assert answers.max() > 2 * np.median(answers)  # the long tail, not the log scale


def test_a_step_without_an_onnx_form_is_named():
    df = make_table("binary", n_rows=80)
    df["note"] = [f"customer wrote about {w} and {v}" for w, v in
                  zip(np.random.default_rng(0).choice(["price", "delay", "staff"], 80),
                      np.random.default_rng(1).choice(["refund", "thanks", "app"], 80),
                      strict=True)]  # fmt: skip
    model = fitted(df, "linear", kinds={"note": "text"})
    export = to_onnx(model, df)
    assert export.onnx is None
    assert export.blocked_by == (
        "reading text into terms (TF-IDF), for the column 'note', has no ONNX form"
    )
    export = to_onnx(fitted(messy("multiclass").head(120), "linear"), df)
    assert export.blocked_by == ("encoding the many categories of 'shop' by each class's rate "
                                 "has no ONNX form for more than two classes")  # fmt: skip
    export = to_onnx(fitted(make_table("binary", n_rows=80), "hist_gradient_boosting"), df)
    assert export.blocked_by == (
        "scikit-learn's gradient boosting splitting on categories itself has no ONNX form"
    )
