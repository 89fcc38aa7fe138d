"""``AutoML`` keeps scikit-learn's estimator contract: parameters, clone, cross-validation, a
Pipeline's last step, and the fitted attributes scikit-learn's tools read."""

import numpy as np
import pytest
from sklearn.base import clone, is_classifier, is_regressor
from sklearn.compose import ColumnTransformer
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from automl import AutoML
from tests.automl.conftest import make_table

# A trial count, not only a time budget: the result must not depend on the machine's speed.
QUICK = {"time_budget": 120, "n_trials": 2, "families": ["linear"], "n_splits": 3}


def test_parameters_clone_and_set_params():
    run = AutoML(task="binary", seed=3, exclude=["customer_id"], **QUICK)
    params = run.get_params()
    assert params["seed"] == 3 and params["exclude"] == ["customer_id"]
    assert set(params) >= {"task", "metric", "time_budget", "n_trials", "families", "kinds"}
    copy = clone(run)
    assert copy is not run and copy.get_params() == params
    assert copy.set_params(seed=4) is copy and copy.seed == 4 and run.seed == 3
    with pytest.raises(ValueError, match="Invalid parameter"):
        run.set_params(budget=3)
    assert is_classifier(run) and not is_regressor(run)
    assert is_regressor(AutoML(task="regression")) and not is_classifier(AutoML())


def test_cross_val_score_on_a_small_table():
    table = make_table("binary", n_rows=240)
    X, y = table.drop(columns="y"), table["y"]
    scores = cross_val_score(AutoML(**QUICK), X, y, cv=3, scoring="roc_auc")
    assert scores.shape == (3,) and scores.min() > 0.8  # the signal is strong
    accuracy = cross_val_score(AutoML(task="binary", **QUICK), X, y, cv=3)
    assert accuracy.min() > 0.7


def test_fitted_attributes_and_a_pipeline_step():
    table = make_table("multiclass", n_rows=240)
    X, y = table.drop(columns="y"), table["y"]
    run = AutoML(**QUICK).fit(X, y)
    check_is_fitted(run)
    assert list(run.feature_names_in_) == list(X.columns) and run.n_features_in_ == X.shape[1]
    assert sorted(run.classes_) == ["high", "low", "mid"] and is_classifier(run)
    proba = run.predict_proba(X)
    assert proba.shape == (len(X), 3) and np.allclose(proba.sum(axis=1), 1)
    assert set(run.predict(X)) <= set(run.classes_)
    assert 0 <= run.score(X, y) <= 1

    numbers = ColumnTransformer([("keep", "passthrough", ["x1", "x2"])])
    pipe = Pipeline([("columns", numbers), ("automl", AutoML(task="regression", **QUICK))])
    regression = make_table("regression", n_rows=240)
    fitted = clone(pipe).fit(regression.drop(columns="y"), regression["y"])
    # An array reaches the last step: its columns are named x0, x1.
    assert {column["name"] for column in fitted[-1].model_.schema} == {"x0", "x1"}
    assert not hasattr(fitted[-1], "feature_names_in_") and fitted[-1].n_features_in_ == 2
    assert fitted.predict(regression.drop(columns="y")).shape == (240,)
    assert fitted.score(regression.drop(columns="y"), regression["y"]) > 0.3


def test_unfitted_is_said_plainly():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        check_is_fitted(AutoML())
