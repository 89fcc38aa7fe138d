"""Every family's portfolio lies inside its search space, and every family trains."""

import numpy as np
import optuna
import pytest

from automl.learners import LEARNERS, make_pipeline
from automl.profiling import profile
from automl.search import PORTFOLIO_ORDER


@pytest.mark.parametrize("family", list(LEARNERS))
def test_the_portfolio_lies_inside_the_search_space(family):
    learner = LEARNERS[family]
    assert learner.portfolio
    for config in learner.portfolio:
        # A fixed trial refuses a value its distribution cannot hold, as an enqueued trial does.
        fixed = optuna.trial.FixedTrial({f"{family}__{k}": v for k, v in config.items()})
        assert learner.search_space(fixed, 1000) == config


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
