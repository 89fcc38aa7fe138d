"""Every family's portfolio lies inside its search space, every family trains, a skewed target
is also learned on a log scale, and forests stay within their bytes."""

import dataclasses

import numpy as np
import optuna
import pytest

from automl.learners import (
    FIRST_ROUNDS,
    FOREST_BYTES,
    LEARNERS,
    MIN_LEAVES,
    NODE_BYTES,
    LogTarget,
    make_pipeline,
    target_scales,
)
from automl.profiling import profile
from automl.search import FIRST_LOOK, PORTFOLIO_ORDER
from tests.automl.conftest import make_table, skewed_table


@pytest.mark.parametrize("family", list(LEARNERS))
def test_the_portfolio_lies_inside_the_search_space(family):
    learner = LEARNERS[family]
    assert learner.portfolio
    for config in learner.portfolio:
        # A fixed trial refuses a value its distribution cannot hold, as an enqueued trial does.
        fixed = optuna.trial.FixedTrial({f"{family}__{k}": v for k, v in config.items()})
        assert learner.search_space(fixed, 1000) == config


def test_the_first_look_lies_inside_the_search_space():
    family, config = FIRST_LOOK
    fixed = optuna.trial.FixedTrial({f"{family}__{k}": v for k, v in config.items()})
    assert LEARNERS[family].search_space(fixed, 1000) == config


def test_the_portfolio_order_names_real_configurations():
    for family, index in PORTFOLIO_ORDER:
        assert index < len(LEARNERS[family].portfolio)
    assert {family for family, _ in PORTFOLIO_ORDER} == set(LEARNERS)


@pytest.mark.parametrize("family", list(LEARNERS))
@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_each_family_trains_on_every_task(family, task, request):
    table = request.getfixturevalue(f"{task}_table")
    p = profile(table, "y", task=task)
    y = table["y"].to_numpy()
    y = y.astype(float) if task == "regression" else np.unique(y, return_inverse=True)[1]
    pipeline = make_pipeline(p, family, LEARNERS[family].portfolio[0], seed=0, n_jobs=1)
    pipeline.fit(table, y)
    if task == "regression":
        assert np.corrcoef(pipeline.predict(table), y)[0, 1] > 0.5
    else:
        proba = pipeline.predict_proba(table)
        assert proba.shape == (len(table), len(np.unique(y)))
        assert (proba.argmax(axis=1) == y).mean() > 0.5


@pytest.mark.parametrize("family", [f for f in LEARNERS if f in ("xgboost", "lightgbm")])
def test_boosting_stops_at_its_deadline_with_a_usable_model(family, binary_table):
    import pickle
    import time

    p = profile(binary_table, "y")
    y = np.unique(binary_table["y"], return_inverse=True)[1]
    slow = {**LEARNERS[family].portfolio[0], "learning_rate": 0.01}
    unhurried = make_pipeline(p, family, slow, seed=0, n_jobs=1).fit(binary_table, y)
    hurried = make_pipeline(p, family, slow, seed=0, n_jobs=1)
    hurried.fit(binary_table, y, model__deadline=time.monotonic())
    rounds = {"xgboost": lambda m: m.get_booster().num_boosted_rounds(),
              "lightgbm": lambda m: m.booster_.num_trees()}[family]  # fmt: skip
    assert rounds(hurried[-1].model_) < 5 < rounds(unhurried[-1].model_)
    assert hurried.predict_proba(binary_table).shape == (len(binary_table), 2)
    assert not hasattr(hurried[-1], "deadline")  # a moment of this process, not of the model
    pickle.loads(pickle.dumps(hurried))


def test_a_skewed_target_never_below_zero_is_tried_on_a_log_scale_too(regression_table):
    assert target_scales(profile(skewed_table(), "y")) == ["raw", "log"]
    assert target_scales(profile(regression_table, "y")) == ["raw"]  # bell-shaped, negatives
    below_zero = skewed_table().assign(y=lambda d: d["y"] - 1000)
    assert target_scales(profile(below_zero, "y")) == ["raw"]
    assert target_scales(profile(make_table("binary"), "y")) == ["raw"]


@pytest.mark.parametrize("family", ["linear", "lightgbm"])
def test_a_log_scale_model_answers_in_the_targets_units(family):
    train = skewed_table()
    p, y = profile(train, "y"), train["y"].to_numpy()
    params = {**LEARNERS[family].portfolio[0], "target_scale": "log"}
    pipeline = make_pipeline(p, family, params, seed=0, n_jobs=1).fit(train, y)
    assert isinstance(pipeline[-1], LogTarget)
    assert np.corrcoef(np.log(pipeline.predict(train)), np.log(y))[0, 1] > 0.9
    # Learned on log(1 + y): its log answers, carried back, are the pipeline's answers.
    log_answers = pipeline[-1].model_.predict(pipeline[:-1].transform(train))
    assert np.median(np.abs(log_answers - np.log1p(y))) < 0.5
    # Far outside the training rows, a linear model's exp() would overflow: bounded instead.
    far = train.head(3).assign(x1=1e6)
    answers = pipeline.predict(far)
    assert (
        np.isfinite(answers).all()
        and (answers >= 0).all()
        and answers.max() <= 2 * y.max() * (1 + 1e-9)
    )


def test_a_log_scale_booster_still_stops_at_its_deadline():
    import time

    train = skewed_table()
    p, y = profile(train, "y"), train["y"].to_numpy()
    params = {**LEARNERS["lightgbm"].portfolio[0], "learning_rate": 0.01, "target_scale": "log"}
    hurried = make_pipeline(p, "lightgbm", params, seed=0, n_jobs=1)
    hurried.fit(train, y, model__deadline=time.monotonic())
    assert hurried[-1].model_.model_.booster_.num_trees() < 5


@pytest.mark.parametrize("family", ["random_forest", "extra_trees"])
def test_a_forest_on_a_large_table_is_bounded_in_bytes_not_only_in_trees(family, binary_table):
    small = profile(binary_table, "y")
    config = LEARNERS[family].portfolio[0]
    assert make_pipeline(small, family, config, seed=0, n_jobs=1)[-1].max_leaf_nodes is None
    for classes in (2, 26):
        summary = {"classes": {f"c{i}": 10 for i in range(classes)}}
        large = dataclasses.replace(small, n_rows=5_000_000, target_summary=summary)
        leaves = make_pipeline(large, family, config, seed=0, n_jobs=1)[-1].max_leaf_nodes
        node = NODE_BYTES + 8 * classes
        assert leaves >= MIN_LEAVES and config["n_estimators"] * 2 * leaves * node <= FOREST_BYTES


def _trees(model) -> int:
    return model.n_iter_ if hasattr(model, "n_iter_") else len(model.estimators_)


@pytest.mark.parametrize("family", ["hist_gradient_boosting", "random_forest", "extra_trees"])
@pytest.mark.parametrize("task", ["binary", "regression"])
def test_trees_stop_growing_at_their_deadline(family, task, request):
    import pickle
    import time

    table = request.getfixturevalue(f"{task}_table")
    p = profile(table, "y")
    y = table["y"].to_numpy()
    y = y.astype(float) if task == "regression" else np.unique(y, return_inverse=True)[1]
    size = "max_iter" if family == "hist_gradient_boosting" else "n_estimators"
    slow = {**LEARNERS[family].portfolio[0], size: 400 if size == "max_iter" else 100}
    unhurried = make_pipeline(p, family, slow, seed=0, n_jobs=1)
    unhurried.fit(table, y, model__deadline=time.monotonic() + 3600)
    hurried = make_pipeline(p, family, slow, seed=0, n_jobs=1)
    hurried.fit(table, y, model__deadline=time.monotonic())
    assert _trees(hurried[-1]) == FIRST_ROUNDS and _trees(unhurried[-1]) == slow[size]
    # In rounds or at once, the same trees: a timed fit is the fit, cut short.
    at_once = make_pipeline(p, family, slow, seed=0, n_jobs=1).fit(table, y)
    method = "predict" if task == "regression" else "predict_proba"
    assert np.allclose(getattr(at_once, method)(table), getattr(unhurried, method)(table))
    # Its settings as given, and it predicts with the trees it has.
    assert getattr(hurried[-1], size) == slow[size] and not hurried[-1].warm_start
    assert getattr(pickle.loads(pickle.dumps(hurried)), method)(table).shape[0] == len(table)
