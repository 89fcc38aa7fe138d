"""End to end: real fits on small generated tables, with a few seconds of budget each."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import r2_score, roc_auc_score

from automl import AutoML, AutoMLError, DataError, Event, NotFittedError, load
from automl.search import FIRST_LOOK, FIRST_LOOK_ROWS, fold_fit_seconds
from tests.automl.conftest import make_table, skewed_table

# Runs end after TRIALS candidates, well within their budget, so that what they find does not
# depend on how busy the machine is (the budget's promise is measured in benchmarks/).
BUDGET, TRIALS = 60, 4


@pytest.fixture(scope="module")
def binary_run():
    train = make_table("binary", n_rows=400, seed=1)
    return AutoML(time_budget=BUDGET, n_trials=TRIALS, seed=0, test_size=0.2).fit(train, target="y")


def test_binary_fit_finds_the_signal_within_budget(binary_run):
    fresh = make_table("binary", n_rows=300, seed=2)
    proba = binary_run.predict_proba(fresh)
    assert list(binary_run.model_.classes_) == ["churned", "stayed"]
    assert roc_auc_score(fresh["y"] == "stayed", proba[:, 1]) > 0.85
    assert set(binary_run.predict(fresh)) <= {"churned", "stayed"}


def test_leaderboard_is_sorted_and_complete(binary_run):
    board = binary_run.leaderboard_
    done = board[board["state"] == "complete"]
    assert len(done) >= 3
    assert done["score"].is_monotonic_decreasing  # ROC AUC: greater is better
    assert done["rank"].tolist() == list(range(1, len(done) + 1))
    assert done["test_score"].between(0.5, 1).all()
    assert (done["fit_seconds"] > 0).all() and (done["predict_ms_per_1k"] > 0).all()
    assert binary_run.model_.info["model_id"] == done["model_id"].iloc[0]
    assert binary_run.metric_.name == "roc_auc"


def test_multiclass_fit_beats_chance_on_log_loss(multiclass_table):
    run = AutoML(
        time_budget=BUDGET, n_trials=TRIALS, families=["hist_gradient_boosting", "linear"]
    ).fit(multiclass_table, target="y")
    assert run.metric_.name == "log_loss"
    board = run.leaderboard_
    assert board["score"].iloc[0] < np.log(3) * 0.8  # chance is log(3)
    assert board[board["state"] == "complete"]["score"].is_monotonic_increasing
    assert run.predict_proba(multiclass_table).shape == (len(multiclass_table), 3)


def test_regression_fit_explains_the_target(regression_table):
    run = AutoML(time_budget=BUDGET, n_trials=TRIALS, metric="r2").fit(regression_table,
                                                                      target="y")  # fmt: skip
    fresh = make_table("regression", n_rows=300, seed=5)
    assert r2_score(fresh["y"], run.predict(fresh)) > 0.8
    with pytest.raises(DataError, match="not class probabilities"):
        run.predict_proba(fresh)


def test_a_skewed_target_is_searched_on_both_scales_and_answered_in_its_units(regression_table):
    families = ["hist_gradient_boosting", "linear"]
    run = AutoML(time_budget=BUDGET, n_trials=TRIALS, families=families, n_splits=3, seed=0)
    run.fit(skewed_table(), target="y")
    tried = {(row["family"], row["params"].get("target_scale"))
             for _, row in run.leaderboard_.iterrows() if row["family"] in families}  # fmt: skip
    assert tried == {(f, scale) for f in families for scale in ("raw", "log")}
    fresh = skewed_table(200, seed=5)
    assert fresh["y"].corr(pd.Series(run.predict(fresh)), method="spearman") > 0.9
    # A bell-shaped target with negative values keeps one scale, named nowhere.
    plain = AutoML(time_budget=BUDGET, n_trials=2, families=families, n_splits=3)
    plain.fit(regression_table, target="y")
    assert all("target_scale" not in params for params in plain.leaderboard_["params"])


def test_a_large_table_gets_a_first_look_on_a_sample_before_the_portfolio():
    table = make_table("binary", n_rows=6300, seed=2)
    rows = []
    run = AutoML(time_budget=BUDGET, n_trials=2, n_splits=3, seed=0)
    run.fit(table, target="y", callbacks=[lambda e: rows.append(e.data.get("row"))])
    first = next(row for row in rows if row)
    assert first["model_id"] == "m001" and first["state"] == "complete"
    assert first["family"] == FIRST_LOOK[0] and first["params"]["sample_rows"] == FIRST_LOOK_ROWS
    second = run.leaderboard_.set_index("model_id").loc["m002"]
    assert second["family"] == "hist_gradient_boosting" and "sample_rows" not in second["params"]
    # Built from its row, it trains on every row, as any candidate does.
    model = run.build(table, first, target="y")
    assert model.predict_proba(table).shape == (len(table), 2)
    # Its time to fit a whole fold, for the budget's sake, is scaled up from its sample.
    assert fold_fit_seconds(2.0, first["params"], 4 * FIRST_LOOK_ROWS) == 8.0
    assert fold_fit_seconds(2.0, second["params"], 4 * FIRST_LOOK_ROWS) == 2.0
    # A table whose folds hold fewer rows starts with the portfolio.
    small = AutoML(time_budget=BUDGET, n_trials=1, n_splits=3).fit(table.head(600), target="y")
    assert "sample_rows" not in small.leaderboard_["params"].iloc[0]


def test_a_table_with_text_tries_the_linear_model_first(binary_table):
    rng = np.random.default_rng(0)
    good, bad, filler = ["great", "lovely", "perfect"], ["awful", "torn", "cheap"], ["the", "it"]
    y = rng.integers(0, 2, 300)
    reviews = [" ".join(rng.choice([good if label else bad, filler][i % 2]) for i in range(6))
               for label in y]  # fmt: skip
    table = pd.DataFrame({"review": reviews, "size": rng.normal(size=300), "y": y})
    run = AutoML(time_budget=BUDGET, n_trials=2, n_splits=3, seed=0).fit(table, target="y")
    board = run.leaderboard_.set_index("model_id")
    assert board.loc["m001", "family"] == "linear" and board.loc["m001", "score"] > 0.95
    # Without text, the portfolio starts with histogram boosting.
    plain = AutoML(time_budget=BUDGET, n_trials=1, n_splits=3).fit(binary_table, target="y")
    assert plain.leaderboard_.set_index("model_id").loc["m001", "family"] != "linear"


def test_callbacks_see_the_search_and_should_stop_cancels(binary_table):
    events: list[Event] = []
    run = AutoML(time_budget=60).fit(
        binary_table,
        target="y",
        callbacks=[events.append],
        should_stop=lambda: sum(e.kind == "candidate_finished" for e in events) >= 2,
    )
    kinds = [e.kind for e in events]
    assert kinds[0] == "search_started"
    assert kinds[-1] == "finished"
    assert events[-1].data["cancelled"] is True
    assert kinds.count("candidate_finished") == 2
    assert "best_changed" in kinds
    assert run.cancelled_ is True
    assert len(run.leaderboard_) == 2
    assert run.predict(binary_table).shape == (len(binary_table),)
    row = next(e for e in events if e.kind == "candidate_finished").data["row"]
    assert {"model_id", "family", "score", "score_std", "fit_seconds", "params"} <= set(row)


def test_a_crashing_learner_is_a_failed_row_not_a_failed_run(binary_table, monkeypatch):
    from automl.learners import LEARNERS

    def broken(*args, **kwargs):
        raise RuntimeError("out of cheese")

    monkeypatch.setattr(LEARNERS["xgboost"], "make", broken)
    run = AutoML(time_budget=BUDGET, families=["xgboost", "linear"], n_trials=4).fit(
        binary_table, target="y"
    )
    failed = run.leaderboard_[run.leaderboard_["state"] == "failed"]
    assert len(failed) >= 1
    assert "out of cheese" in failed["error"].iloc[0]
    best = run.model_.info  # a linear model, or an ensemble of linear models
    assert {m["family"] for m in best["params"].get("members", [best])} == {"linear"}


def test_every_learner_failing_is_a_plain_error(binary_table, monkeypatch):
    from automl.learners import LEARNERS

    monkeypatch.setattr(LEARNERS["linear"], "make", lambda *a, **k: 1 / 0)
    with pytest.raises(AutoMLError, match=r"Every model failed.*ZeroDivisionError"):
        AutoML(time_budget=BUDGET, families=["linear"], n_trials=2).fit(binary_table, target="y")


@pytest.mark.parametrize("validation", ["holdout", "time"])
def test_other_validation_choices(binary_table, validation):
    run = AutoML(
        time_budget=4, validation=validation, time_column="signup", families=["linear"]
    ).fit(binary_table, target="y")
    assert run.leaderboard_["score"].iloc[0] > 0.8
    assert run.leaderboard_["score_std"].iloc[0] == 0  # one validation split


def test_y_may_be_given_as_values(binary_table):
    X, y = binary_table.drop(columns="y"), binary_table["y"]
    run = AutoML(time_budget=3, families=["linear"]).fit(X, y)
    assert run.model_.target == "y"


def test_save_and_load_give_the_same_predictions(binary_run, tmp_path):
    binary_run.save(tmp_path / "model")
    model = load(tmp_path / "model")
    fresh = make_table("binary", n_rows=50, seed=3)
    assert np.allclose(model.predict_proba(fresh), binary_run.predict_proba(fresh))
    manifest = model.manifest()
    assert manifest["task"] == "binary"
    assert manifest["classes"] == ["churned", "stayed"]
    assert {c["name"]: c["kind"] for c in manifest["schema"]}["signup"] == "datetime"
    city = next(c for c in manifest["schema"] if c["name"] == "city")
    assert set(city["categories"]) == {"Paris", "Lyon", "Nice", "Lille"}


def test_prediction_checks_its_input(binary_run):
    rows = make_table("binary", n_rows=5, seed=4)
    rows["x2"] = ["1.5", "oops", "2", "?", "3"]
    with pytest.raises(DataError, match=r"'x2' expects numbers .* but has row 2 \('oops'\), row 4"):
        binary_run.predict(rows)
    # Numbers too large for any model to compute with are refused the same way.
    with pytest.raises(DataError, match=r"at most 1e\+30 in size\) but has row 1 \(1e\+200\)"):
        binary_run.predict(rows.assign(x2=[1e200, 1, 2, 3, 4]))
    # Missing columns become missing values; extra ones are ignored; new categories are fine.
    lenient = make_table("binary", n_rows=5, seed=4).drop(columns=["x1"])
    lenient = lenient.assign(extra=1, city="Tokyo")
    assert len(binary_run.predict(lenient)) == 5
    with pytest.raises(DataError, match="None of the model's columns"):
        binary_run.predict(pd.DataFrame({"other": [1]}))
    with pytest.raises(DataError, match="no rows"):
        binary_run.predict(rows.iloc[:0])


# A megabyte cell that a backtracking pattern would take hours over; linear code, a second.
PATHOLOGICAL = "1" + "%" * 1_000_000 + "x"


@pytest.mark.timeout(60)
def test_a_pathological_cell_is_refused_quickly_and_quoted_briefly(binary_run):
    rows = make_table("binary", n_rows=5, seed=4).assign(x2=["1.5", PATHOLOGICAL, "2", "3", "4"])
    with pytest.raises(DataError, match=r"row 2 \('1%%%%") as refused:
        binary_run.predict(rows)
    assert len(str(refused.value)) < 300
    assert binary_run.model_.invalid_cells(rows)["x2"].tolist() == [0, 1, 0, 0, 0]


def test_invalid_cells_are_located_so_the_rest_can_be_predicted(binary_run):
    model = binary_run.model_
    rows = make_table("binary", n_rows=5, seed=4)
    rows["x2"] = ["1.5", "oops", "2", "?", "3"]
    rows["signup"] = rows["signup"].astype(str).where(rows.index != 0, "not a date")
    invalid = model.invalid_cells(rows)
    assert sorted(invalid.columns) == ["signup", "x2"]
    assert invalid["x2"].tolist() == [False, True, False, True, False]
    assert invalid["signup"].tolist() == [True, False, False, False, False]
    blanked = rows.mask(invalid.reindex(columns=rows.columns, fill_value=False))
    assert len(model.predict_proba(blanked)) == 5
    assert model.invalid_cells(make_table("binary", n_rows=5, seed=4)).empty


def test_unfitted_model_says_so():
    with pytest.raises(NotFittedError, match="call fit first"):
        AutoML().predict(pd.DataFrame({"a": [1]}))


def test_unicode_column_names_work():
    df = make_table("regression", n_rows=120).rename(columns={"x1": "Prix (€)", "city": "都市"})
    run = AutoML(time_budget=3, families=["linear"]).fit(df, target="y")
    assert "Prix (€)" in [c["name"] for c in run.model_.schema]


@pytest.mark.parametrize(
    ("df", "kwargs", "message"),
    [
        (pd.DataFrame({"a": [], "y": []}), {}, "no rows"),
        (pd.DataFrame({"a": [1], "y": [1]}), {}, "single value"),
        (pd.DataFrame({"a": range(20)}), {}, "'y' is not in the table"),
        (pd.DataFrame({"a": range(20), "y": [None] * 20}), {}, "has no values"),
        (pd.DataFrame({"a": range(20), "y": ["x"] * 20}), {}, "single value"),
        (pd.DataFrame({"a": range(20), "y": list("ab") * 10}), {"task": "regression"},
         "must hold numbers"),
        (pd.DataFrame({"a": [3, 1, 4, 1, 5] * 4, "y": [*"ab" * 9, "c", "d"]}), {},
         "class 'c'.*single row"),
        (pd.DataFrame({"a": range(6), "y": [0, 1] * 3}), {}, "at least 10"),
        (pd.DataFrame({"id": range(30), "y": [0, 1] * 15}), {}, "No column can be used"),
        (pd.DataFrame([[1, 2, 0]] * 20, columns=["a", "a", "y"]), {}, "'a' appears 2 times"),
        (pd.DataFrame({"a": range(20), "y": [0, 1] * 10}), {"metric": "rmse"},
         "does not apply to binary"),
        (pd.DataFrame({"a": range(20), "y": [0, 1] * 10}), {"families": ["svm"]},
         "Unknown model family 'svm'"),
        (pd.DataFrame({"a": range(20), "y": [0, 1] * 10}), {"time_budget": 0}, "positive"),
    ],
)  # fmt: skip
def test_bad_input_gets_a_specific_plain_error(df, kwargs, message):
    with pytest.raises(DataError, match=message):
        AutoML(**{"time_budget": 3, **kwargs}).fit(df, target="y")


def test_each_finished_candidate_reports_its_evaluation():
    table = make_table("binary", n_rows=300, seed=3)
    events = []
    run = AutoML(time_budget=30, n_trials=3, families=["linear", "random_forest"]).fit(
        table, target="y", callbacks=[events.append]
    )
    finished = [e.data for e in events if e.kind == "candidate_finished"]
    searched = [data for data in finished if data["row"]["family"] != "ensemble"]
    assert len(searched) == 3 and len(finished) - len(searched) <= 1
    for data in finished:
        evaluation = data["evaluation"]
        assert data["row"]["state"] == "complete"
        assert evaluation["task"] == "binary" and evaluation["positive"] == "stayed"
        # Out-of-fold: every training row is predicted once, by a model that never saw it.
        assert sum(map(sum, evaluation["confusion"]["matrix"])) == len(table)
        assert evaluation["roc"]["auc"] == pytest.approx(data["row"]["score"], abs=0.05)
    assert run.cancelled_ is False


def test_the_best_model_measures_which_columns_matter():
    table = make_table("regression", n_rows=400, seed=4)
    table["noise"] = np.random.default_rng(0).normal(size=len(table))
    run = AutoML(time_budget=30, n_trials=2, families=["hist_gradient_boosting"]).fit(
        table, target="y"
    )
    importance = {row["column"]: row["importance"] for row in run.model_.info["importance"]}
    assert set(importance) == {c["name"] for c in run.model_.schema}
    assert importance["x1"] > importance["noise"] and importance["x1"] > 0
    assert run.model_.info["importance"][0]["column"] in {"x1", "x2", "city"}


def test_build_trains_any_leaderboard_row_later():
    table = make_table("multiclass", n_rows=300, seed=6)
    settings = {"time_budget": 30, "n_trials": 3, "families": ["linear", "random_forest"]}
    run = AutoML(**settings).fit(table, target="y")
    row = run.leaderboard_.iloc[-1].to_dict()
    model = AutoML(**settings).build(table, row, target="y")  # a fresh object, as a worker has
    assert model.info["model_id"] == row["model_id"] and model.info["family"] == row["family"]
    assert model.predict_proba(table).shape == (len(table), 3)
    assert {r["column"] for r in model.info["importance"]} == {c["name"] for c in model.schema}


def test_a_class_missing_from_a_fold_still_gets_a_probability_column():
    from sklearn.linear_model import LogisticRegression

    from automl.ensemble import predict

    X = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0]})
    fitted = LogisticRegression().fit(X, [0, 2, 0, 2])  # class 1 absent from these rows
    proba = predict(fitted, X, 3)
    assert proba.shape == (4, 3) and (proba[:, 1] == 0).all()
    assert np.allclose(proba.sum(axis=1), 1)


def test_a_refit_that_would_overrun_the_budget_trains_on_fewer_rows(monkeypatch):
    import automl.automl as engine

    # The search trains on 300 of the 2,700 training rows; a one-second budget, all of it kept
    # for importance, leaves no time to refit on all of them.
    monkeypatch.setattr(engine, "MIN_SEARCH_ROWS", 300)
    monkeypatch.setattr(engine, "SEARCH_CELLS", 1)
    train = make_table("multiclass", n_rows=3000, seed=5)
    train.loc[:2, "y"] = "rare"  # a class a sample of the rows would likely miss
    run = AutoML(time_budget=1, n_trials=1, validation="holdout", test_size=0.1,
                 families=["linear"]).fit(train, target="y")  # fmt: skip
    info = run.model_.info
    assert info["n_training_rows"] == 2700
    assert 300 <= info["n_rows"] < 2700
    assert run.predict_proba(train.head(5)).shape == (5, 4)  # it still knows every class


def test_importance_measures_every_column_of_a_leaderboard_row(binary_table):
    run = AutoML(time_budget=30, families=["linear"], n_trials=1).fit(binary_table, target="y")
    row = run.leaderboard_.iloc[0].to_dict()
    importance = AutoML(families=["linear"]).importance(binary_table, row, target="y")
    assert {r["column"] for r in importance} == {c.name for c in run.profile_.features}
    assert all(r["importance"] is not None for r in importance)
    assert importance[0]["column"] == "x1"  # the strongest signal of the table
