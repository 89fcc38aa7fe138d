"""Ensemble selection weighs candidates on their out-of-fold predictions, and the blend
predicts with those weights."""

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression

from automl import AutoML, load
from automl.ensemble import Blend, blend, lighten, select_weights
from automl.fast import compile_rows
from automl.metrics import get_metric
from tests.automl.test_fast import as_columns, table

RMSE = get_metric("rmse", "regression")
LOG_LOSS = get_metric("log_loss", "multiclass")


def test_complementary_errors_are_blended_half_and_half():
    rng = np.random.default_rng(0)
    y = rng.normal(size=2000)
    error = rng.normal(size=2000)
    # Opposite errors: alone each is off by ``error``, together they cancel out.
    weights = select_weights([y + error, y - error], y, RMSE)
    assert weights == pytest.approx([0.5, 0.5], abs=0.05)
    assert RMSE(y, blend([y + error, y - error], weights)) < 0.1


def test_a_useless_candidate_gets_no_weight():
    rng = np.random.default_rng(1)
    y = rng.normal(size=1000)
    good, noise = y + rng.normal(scale=0.1, size=1000), rng.normal(size=1000)
    weights = select_weights([noise, good], y, RMSE)
    assert weights[0] == 0 and weights[1] == 1


def test_a_member_that_adds_nothing_measurable_is_left_out_the_costliest_first():
    rng = np.random.default_rng(3)
    y = rng.normal(size=4000)
    error = rng.normal(size=4000)
    # Two near twins with one error, a third with the opposite one: the blend needs one twin.
    twin = y + error + rng.normal(scale=0.01, size=4000)
    members = [y + error, twin, y - error]
    weights = np.array([0.25, 0.25, 0.5])
    kept = lighten(members, y, RMSE, weights, costs=[1.0, 5.0, 1.0])
    assert kept == pytest.approx([0.5, 0, 0.5])  # the costly twin goes
    assert lighten(members, y, RMSE, weights, costs=[5.0, 1.0, 1.0]) == pytest.approx([0, 0.5, 0.5])
    # Members that each carry their part of the gain all stay.
    assert lighten(members[::2], y, RMSE, [0.5, 0.5], costs=[9.0, 1.0]) == pytest.approx([0.5, 0.5])


def test_weights_of_probabilities_keep_rows_summing_to_one():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 3, size=500)
    sharp = np.eye(3)[y] * 0.7 + 0.1
    vague = np.full((500, 3), 1 / 3)
    weights = select_weights([vague, sharp], y, LOG_LOSS, classes=[0, 1, 2])
    assert weights.sum() == pytest.approx(1) and weights[1] > weights[0]
    assert np.allclose(blend([vague, sharp], weights).sum(axis=1), 1)


def test_blend_weighs_members_and_aligns_missing_classes():
    X = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]})
    partial = LogisticRegression().fit(X, [0, 0, 0, 2, 2, 2])  # never saw class 1
    full = LogisticRegression(C=0.01).fit(X, [0, 1, 1, 2, 2, 2])
    blended = Blend([partial, full], [0.75, 0.25], n_classes=3)
    expected = 0.75 * np.insert(partial.predict_proba(X), 1, 0, axis=1)
    expected += 0.25 * full.predict_proba(X)
    assert np.allclose(blended.predict_proba(X), expected)
    assert (blended.predict(X) == expected.argmax(axis=1)).all()
    regression = Blend([LinearRegression().fit(X, [0, 1, 2, 3, 4, 5])], [1.0], None)
    assert np.allclose(regression.predict(X), [0, 1, 2, 3, 4, 5])


@pytest.fixture(scope="module")
def ensembled():
    train = table("multiclass", 400, seed=8)  # typed as JSON sends values, for the fast path
    settings = {"time_budget": 60, "n_trials": 4, "families": ["linear", "random_forest"]}
    return AutoML(**settings, test_size=0.2).fit(train, target="y"), settings, train


def test_the_ensemble_is_a_leaderboard_row_weighed_on_unseen_rows(ensembled):
    run, _, _ = ensembled
    board = run.leaderboard_
    ensemble = board[board["family"] == "ensemble"].iloc[0]
    members = ensemble["params"]["members"]
    assert len(members) >= 2
    assert sum(m["weight"] for m in members) == pytest.approx(1)
    assert {m["model_id"] for m in members} <= set(board["model_id"])
    singles = board[(board["family"] != "ensemble") & (board["state"] == "complete")]
    # Chosen on the same out-of-fold rows, the blend scores at least as well as its best part.
    assert ensemble["score"] <= singles["score"].min() + 1e-9
    assert np.isfinite(ensemble["test_score"])


def test_the_final_ensemble_refits_its_members_on_all_rows(ensembled):
    run, _, train = ensembled
    model = run.model_
    assert model.info["family"] == "ensemble"
    members = model.info["params"]["members"]
    assert len(model.pipelines) == len(members)
    assert model.pipeline.weights == [m["weight"] for m in members]
    # Refit on every training row: all 320 (80% of 400, the rest kept for the test), where a
    # fold model saw 256. A forest's bootstrap draws as many rows as it is given.
    forests = [p[-1] for p in model.pipelines if hasattr(p[-1], "estimators_")]
    assert forests
    for forest in forests:
        assert forest.estimators_[0].tree_.weighted_n_node_samples[0] == 320
    proba = run.predict_proba(train)
    assert proba.shape == (len(train), 3) and np.allclose(proba.sum(axis=1), 1)
    assert {r["column"] for r in model.info["importance"]} == {c["name"] for c in model.schema}


def test_an_ensemble_saves_builds_and_serves_like_any_model(ensembled, tmp_path):
    run, settings, train = ensembled
    rows = train.drop(columns=["y"]).head(30)
    run.save(tmp_path / "model")
    assert np.allclose(load(tmp_path / "model").predict_proba(rows), run.predict_proba(rows))
    fast = compile_rows(run.model_, as_columns(rows.head(2)))
    assert fast is not None
    assert np.allclose(fast.predict_proba(as_columns(rows)), run.predict_proba(rows))
    # Built later from its leaderboard row alone, as a worker does, it predicts the same.
    row = run.leaderboard_[run.leaderboard_["family"] == "ensemble"].iloc[0].to_dict()
    built = AutoML(**settings, test_size=0.2).build(train, row, target="y")
    assert np.allclose(built.predict_proba(rows), run.predict_proba(rows), atol=1e-6)


@pytest.mark.slow
def test_the_same_seed_gives_the_same_leaderboard():
    train = table("binary", 300, seed=9)
    settings = {"time_budget": 60, "n_trials": 6, "seed": 3}
    first = AutoML(**settings).fit(train, target="y").leaderboard_
    second = AutoML(**settings).fit(train, target="y").leaderboard_
    columns = ["model_id", "family", "state", "score"]
    pd.testing.assert_frame_equal(first[columns], second[columns])
    assert (first["family"] == "ensemble").sum() <= 1
