"""Fairness by group: the rates, the four-fifths rule, and the out-of-fold answers it reads."""

import numpy as np
import pandas as pd
import pytest

from automl import AutoML
from automl.fairness import MIN_JUDGED_ROWS, by_group


def hiring(n: int, biased: bool, seed: int = 0) -> pd.DataFrame:
    """Applicants in pairs alike but for ``sex``; when ``biased``, the outcome depends on it as
    much as on skill, else the two sexes have the same outcomes exactly."""
    rng = np.random.default_rng(seed)
    skill = np.tile(rng.normal(size=n // 2), 2)
    noise = np.tile(rng.normal(scale=0.3, size=n // 2), 2)
    sex = np.repeat(["female", "male"], n // 2)
    score = skill + noise + (np.where(sex == "male", 1.5, -1.5) if biased else 0)
    table = pd.DataFrame({"skill": skill, "sex": sex, "hired": np.where(score > 0, "yes", "no")})
    return table.sample(frac=1, random_state=seed).reset_index(drop=True)


def test_rates_per_group_and_a_failed_four_fifths_rule_named_in_words():
    sex = pd.Series(["f"] * 100 + ["m"] * 100, name="sex")
    actual = ["yes"] * 50 + ["no"] * 50 + ["yes"] * 50 + ["no"] * 50
    # Women: 20 of the 50 hired predicted yes, 10 of the others; men: 45 and 15.
    predicted = (["yes"] * 20 + ["no"] * 30 + ["yes"] * 10 + ["no"] * 40
                 + ["yes"] * 45 + ["no"] * 5 + ["yes"] * 15 + ["no"] * 35)  # fmt: skip
    result = by_group(sex, actual, predicted, favourable="yes")
    women, men = sorted(result["groups"], key=lambda g: g["value"])
    assert women == {"value": "f", "rows": 100, "selection_rate": 0.3, "true_positive_rate": 0.4,
                     "false_positive_rate": 0.2, "accuracy": 0.6}  # fmt: skip
    assert men["selection_rate"] == 0.6 and men["true_positive_rate"] == 0.9
    assert result["ratio"] == pytest.approx(0.5)
    assert result["passes"] is False
    assert "'f'" in result["message"] and "'m'" in result["message"] and "50%" in result["message"]


def test_equal_rates_pass_and_small_groups_are_shown_but_not_judged():
    column = pd.Series(["a"] * 50 + ["b"] * 50 + ["c"] * 5 + [None] * 3, name="group")
    predicted = (["yes", "no"] * 25) * 2 + ["no"] * 5 + ["yes"] * 3
    result = by_group(column, ["yes"] * 108, predicted, favourable="yes")
    assert result["passes"] is True and result["ratio"] == pytest.approx(1.0)
    assert [g["value"] for g in result["groups"]] == ["a", "b", "c", "(missing)"]
    assert result["groups"][2]["selection_rate"] == 0.0  # 5 rows: shown, below MIN_JUDGED_ROWS
    assert result["groups"][1]["false_positive_rate"] is None  # no negative row in the group

    few = by_group(column[:60], ["yes"] * 60, predicted[:60], favourable="yes")
    assert few["ratio"] is None and few["passes"] is None
    assert str(MIN_JUDGED_ROWS) in few["message"]


def test_regression_gets_error_by_group():
    column = pd.Series(["x", "x", "y", "y"], name="site")
    result = by_group(column, [1.0, 3.0, 10.0, 10.0], [2.0, 2.0, 14.0, 6.0])
    x, y = result["groups"]
    assert (x["mae"], x["mean_error"], x["mean_predicted"]) == (1.0, 0.0, 2.0)
    assert (y["mae"], y["rmse"], y["mean_actual"]) == (4.0, 4.0, 10.0)
    assert "ratio" not in result


def test_many_values_are_pooled_beyond_the_largest():
    column = pd.Series([f"v{i}" for i in range(40)] * 3, name="city")
    result = by_group(column, [1.0] * 120, [1.0] * 120)
    assert len(result["groups"]) == 21 and result["groups"][-1]["value"] == "(other)"
    assert result["groups"][-1]["rows"] == 60


@pytest.mark.parametrize("biased", [True, False])
def test_out_of_fold_answers_reveal_a_model_that_learned_a_bias(biased):
    table = hiring(600, biased)
    table.loc[[3, 10], "hired"] = None  # unlabelled rows are not answered
    run = AutoML(time_budget=60, families=["linear"], n_trials=1, n_splits=3, test_size=0.2,
                 seed=0)  # fmt: skip
    best = run.fit(table, target="hired").leaderboard_.iloc[0].to_dict()
    answers = run.out_of_fold(table, best, target="hired")

    assert len(answers) == 478  # 598 labelled, a fifth kept aside for the test
    assert answers.index.is_unique and not answers.index.isin([3, 10]).any()
    assert (answers["actual"] == table.loc[answers.index, "hired"]).all()
    assert set(answers["predicted"]) <= {"yes", "no"}
    assert (answers["actual"] == answers["predicted"]).mean() > 0.8

    result = by_group(table.loc[answers.index, "sex"], answers["actual"], answers["predicted"],
                      favourable="yes")  # fmt: skip
    assert result["passes"] is (not biased)
