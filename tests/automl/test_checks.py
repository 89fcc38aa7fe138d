"""The checks of a table: each planted problem is found, named and acted on, and a clean table
of the same shape raises no alert."""

import numpy as np
import pandas as pd
import pytest

from automl import AutoML, profile
from automl.features import make_preprocessor
from automl.learners import LEARNERS
from automl.splits import make_splits, split_rows
from tests.automl.conftest import make_table


def found(p, check_id):
    """The checks of ``p`` with ``check_id`` that did not pass."""
    return [c for c in p.checks if c.id == check_id and c.status != "passed"]


def alerts(p):
    return [c for c in p.checks if c.status == "alert"]


def test_every_check_is_data_alerts_first():
    p = profile(make_table("binary", 300).assign(country="FR"), target="y")
    assert {c.status for c in p.checks} <= {"passed", "info", "alert", "acted"}
    order = ["alert", "acted", "info", "passed"]
    assert [order.index(c.status) for c in p.checks] == sorted(order.index(c.status)
                                                               for c in p.checks)  # fmt: skip
    constant = found(p, "constant")[0]
    assert constant.columns == ("country",) and constant.action == "Left out of training."
    assert {c.id for c in p.checks if c.status == "passed"} >= {"leakage", "disguised_missing"}
    assert p.to_dict()["checks"][0].keys() >= {"id", "status", "message", "columns", "action"}


def test_a_column_derived_from_the_outcome_is_flagged_and_kept():
    df = make_table("binary", 1000, seed=1)
    rng = np.random.default_rng(1)
    entered = np.where(df["y"] == "churned", "closed", "open")
    flipped = rng.random(len(df)) < 0.03  # the data-entry process gets 3 % wrong
    df["account"] = np.where(flipped, np.where(entered == "closed", "open", "closed"), entered)
    leak = found(profile(df, target="y"), "leakage")
    assert [(c.columns, c.status, c.details["risk"]) for c in leak] == [
        (("account",), "alert", "moderate")
    ]
    assert leak[0].details["scores"]["alone"] > leak[0].details["scores"]["without"] + 0.1
    # The same table without it: its strongest column is not beyond the rest.
    assert not found(profile(df.drop(columns="account"), target="y"), "leakage")


def test_a_perfect_leak_is_left_out_unless_kept():
    df = make_table("regression", 400).assign(invoice=lambda d: d["y"] * 1.2 + 3)
    p = profile(df, target="y")
    leak = found(p, "leakage")[0]
    assert (leak.columns, leak.status, leak.details["risk"]) == (("invoice",), "acted", "high")
    assert "Left out of training" in leak.action
    assert "invoice" not in [c.name for c in p.features]
    kept = profile(df, target="y", keep=["invoice"])
    assert found(kept, "leakage")[0].status == "alert"
    assert "invoice" in [c.name for c in kept.features]


def test_the_target_in_other_units_is_a_high_risk_leak():
    # The other columns reach R² 0.97, a shallow tree on the copy 0.99: not 0.1 beyond them.
    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.normal(size=(3000, 3)).round(3), columns=["a", "b", "c"])
    df["y"] = df.a + df.b + df.c + rng.normal(scale=0.25, size=3000)
    df["y_cents"] = (df["y"] * 100).round()
    leak = found(profile(df, target="y"), "leakage")
    assert [(c.columns, c.details["risk"], c.status) for c in leak] == [
        (("y_cents",), "high", "acted")
    ]


def counts_table(noise: float, n_rows: int = 1000) -> pd.DataFrame:
    rng = np.random.default_rng(2)
    hour = rng.integers(0, 24, n_rows)
    temp = rng.normal(15, 8, n_rows)
    casual = rng.poisson(np.exp(2 + 0.05 * temp))
    registered = rng.poisson(np.exp(3 + 0.8 * np.sin(hour / 24 * 2 * np.pi)))
    count = casual + registered + np.round(rng.normal(0, noise, n_rows))
    return pd.DataFrame({"hour": hour, "temp": temp, "casual": casual,
                         "registered": registered, "count": count})  # fmt: skip


def test_columns_that_add_up_to_the_target_are_left_out_together():
    p = profile(counts_table(noise=0), target="count")
    leak = found(p, "leakage")
    assert len(leak) == 1 and set(leak[0].columns) == {"casual", "registered"}
    assert leak[0].status == "acted" and "sum" in leak[0].message
    assert [c.name for c in p.features] == ["hour", "temp"]
    assert leak[0].details["scores"]["together"] >= 0.999
    # Counts that are only part of the target: no alert.
    assert not alerts(profile(counts_table(noise=20), target="count"))


def test_a_product_and_a_comparison_are_found():
    rng = np.random.default_rng(3)
    df = pd.DataFrame({"price": rng.uniform(1, 50, 600), "units": rng.integers(1, 40, 600),
                       "noise": rng.normal(size=600)})  # fmt: skip
    total = found(profile(df.assign(total=df.price * df.units), target="total"), "leakage")
    assert set(total[0].columns) == {"price", "units"} and "product" in total[0].message
    late = df.assign(shipped=rng.uniform(0, 30, 600), promised=rng.uniform(0, 30, 600))
    late["late"] = np.where(late.shipped > late.promised, "late", "on time")
    leak = found(profile(late, target="late"), "leakage")
    assert set(leak[0].columns) == {"shipped", "promised"}
    control = late.assign(late=np.where(rng.random(600) < 0.5, "late", "on time"))
    assert not found(profile(control, target="late"), "leakage")


def medical_table(zeros: bool, n_rows: int = 800) -> pd.DataFrame:
    rng = np.random.default_rng(4)
    glucose = rng.normal(120, 30, n_rows).clip(45).round()
    insulin = rng.lognormal(4.8, 0.6, n_rows).clip(15).round()
    pregnancies = rng.poisson(3, n_rows)  # 0 is a real count here
    if zeros:
        glucose[rng.random(n_rows) < 0.02] = 0
        insulin[rng.random(n_rows) < 0.45] = 0
    outcome = np.where(glucose / 40 + rng.normal(size=n_rows) > 3.2, "yes", "no")
    return pd.DataFrame({"pregnancies": pregnancies, "glucose": glucose, "insulin": insulin,
                         "outcome": outcome})  # fmt: skip


def test_zeros_that_mean_not_measured_are_read_as_missing():
    p = profile(medical_table(zeros=True), target="outcome")
    check = found(p, "disguised_missing")[0]
    assert check.status == "acted" and check.columns == ("glucose", "insulin")
    assert "'insulin': 0 in" in check.message and "Read as missing" in check.action
    assert p.column("insulin").missing_values == (0,)
    assert p.column("insulin").stats["disguised"][0][0] == 0
    assert p.column("pregnancies").missing_values == ()
    reader = make_preprocessor(p, LEARNERS["random_forest"].inputs).steps[0][1].fit(None)
    read = reader.transform(pd.DataFrame({"pregnancies": [0], "glucose": [0], "insulin": [0]}))
    assert read.isna().to_numpy().tolist() == [[False, True, True]]

    kept = profile(medical_table(zeros=True), target="outcome", keep=["insulin"])
    assert kept.column("insulin").missing_values == () and "Kept as values" in (
        found(kept, "disguised_missing")[0].action
    )
    assert not found(profile(medical_table(zeros=False), target="outcome"), "disguised_missing")


@pytest.mark.parametrize("code", [-1, 999, 9999])
def test_number_codes_beyond_the_values_are_found(code):
    rng = np.random.default_rng(5)
    age = rng.integers(18, 90, 500).astype(float)
    age[:30] = code
    assert profile(pd.DataFrame({"age": age})).column("age").missing_values == (code,)
    # The top of a scale that reaches it, and zeros that are most of a column, are values.
    scores = rng.integers(0, 100, 500).astype(float)
    rain = np.where(rng.random(500) < 0.8, 0, rng.exponential(2, 500).round(2) + 0.1)
    clean = profile(pd.DataFrame({"scores": scores, "rain": rain}))
    assert not found(clean, "disguised_missing")


@pytest.mark.parametrize(("code", "rows"), [(-1, 60), (9999999, 60)])
def test_a_code_beside_the_values_of_a_count_is_found(code, rows):
    # -1 visits lies next to 0 visits, yet no count is negative; a count of 9,999,999 is far.
    rng = np.random.default_rng(8)
    visits = rng.poisson(4, 2000).astype(float)
    visits[:rows] = code
    assert profile(pd.DataFrame({"visits": visits})).column("visits").missing_values == (code,)
    # A count that goes below 0 by nature (a change of visits) keeps its -1.
    change = rng.poisson(4, 2000) - rng.poisson(4, 2000)
    assert not found(profile(pd.DataFrame({"change": change})), "disguised_missing")


def test_words_for_unknown_are_found_in_categories():
    rng = np.random.default_rng(6)
    job = rng.choice(["clerk", "engineer", "nurse", " ?", "N/A"], 300)
    check = found(profile(pd.DataFrame({"job": job, "n": range(300)})), "disguised_missing")[0]
    assert check.columns == ("job",) and check.status == "info"
    assert {v for v, _ in check.details["values"]["job"]} == {"?", "N/A"}


def test_a_date_the_target_drifts_with_is_reported():
    rng = np.random.default_rng(7)
    days = pd.date_range("2020-01-01", periods=500, freq="D")
    df = pd.DataFrame({"day": days.strftime("%Y-%m-%d"), "x": rng.normal(size=500)})
    drifting = df.assign(sales=np.arange(500) * 0.1 + df.x + rng.normal(size=500))
    check = found(profile(drifting, target="sales"), "time_drift")[0]
    assert check.columns == ("day",) and "time-ordered validation" in check.action
    # Validated in time order already: said, not advised.
    chosen = found(profile(drifting, target="sales", time_column="day"), "time_drift")[0]
    assert (
        chosen.status == "acted" and chosen.action == "Validated in time order on 'day', as chosen."
    )
    steady = df.assign(sales=df.x + rng.normal(size=500))
    assert not found(profile(steady, target="sales"), "time_drift")


def test_a_date_after_the_rows_time_is_flagged_when_a_time_column_is_chosen():
    rng = np.random.default_rng(9)
    opened = pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 700, 400), "D")
    closed = opened + pd.to_timedelta(rng.integers(1, 90, 400), "D")
    df = pd.DataFrame({"opened": opened.strftime("%Y-%m-%d"), "closed": closed.strftime(
        "%Y-%m-%d"), "amount": rng.normal(size=400)})  # fmt: skip
    df["paid"] = np.where(df.amount + rng.normal(size=400) > 0, "yes", "no")
    check = found(profile(df, target="paid", time_column="opened"), "leakage")[0]
    assert check.columns == ("closed",) and check.status == "alert"
    assert "later than 'opened'" in check.message
    # Without a time column nothing says which date is the row's moment.
    assert not found(profile(df, target="paid"), "leakage")
    assert not found(profile(df, target="paid", time_column="closed"), "leakage")


def test_copies_are_counted_and_what_naive_folds_would_score_is_said():
    single = make_table("binary", 300)
    tripled = pd.concat([single] * 3, ignore_index=True)
    check = found(profile(tripled, target="y"), "duplicate_rows")[0]
    assert check.status == "acted" and check.details["rows"] == 600
    assert check.details["score_naive"] > check.details["score_grouped"]
    assert "kept in the same fold" in check.action
    assert not found(profile(single, target="y"), "duplicate_rows")


@pytest.mark.parametrize("validation", ["cv", "holdout"])
def test_copies_stay_on_one_side_of_every_split(validation):
    rng = np.random.default_rng(8)
    groups = rng.integers(0, 150, 600)
    y = (groups % 3 == 0).astype(int)
    splits = make_splits(y, "binary", validation=validation, n_splits=5, holdout_size=0.2,
                         order=None, seed=0, groups=groups)  # fmt: skip
    for train, valid in splits:
        assert not set(groups[train]) & set(groups[valid])
        assert len(train) + len(valid) == 600
    first, second = split_rows(y, "binary", 0.25, 0, groups)
    assert not set(groups[first]) & set(groups[second])
    assert 0.15 < len(second) / 600 < 0.35


def test_copies_never_validate_each_other_in_the_search():
    single = make_table("binary", 300)
    tripled = pd.concat([single] * 3, ignore_index=True)
    settings = {"time_budget": 60, "n_trials": 2, "families": ["random_forest"], "seed": 0}
    alone = AutoML(**settings).fit(single, target="y").leaderboard_
    copies = AutoML(**settings).fit(tripled, target="y").leaderboard_
    # Naive folds put copies on both sides: a forest would then score near 1.
    assert copies["score"].iloc[0] <= alone["score"].iloc[0] + 0.03


def test_a_left_out_leak_is_not_trained_on_and_the_run_says_so():
    df = make_table("binary", 300).assign(refund=lambda d: (d["y"] == "churned").astype(int))
    settings = {"time_budget": 30, "n_trials": 1, "families": ["linear"]}
    run = AutoML(**settings).fit(df, target="y")
    assert "refund" not in [c["name"] for c in run.model_.schema]
    leak = next(c for c in run.checks_ if c.id == "leakage")
    assert leak.status == "acted" and leak.columns == ("refund",)
    assert {c["id"]: c["status"] for c in run.model_.info["checks"]}["leakage"] == "acted"
    kept = AutoML(**settings, keep=["refund"]).fit(df, target="y")
    assert "refund" in [c["name"] for c in kept.model_.schema]


@pytest.mark.parametrize("planted", [True, False])
def test_ids_written_alike_on_both_sides_of_the_test_split_are_reported(planted):
    df = make_table("binary", 400, seed=4)
    ids = [f"C-{i:04d}" for i in range(400)]
    if planted:  # the last 100 rows are the first 100 customers again, keyed a little apart
        ids[300:] = [f"c{i:04d} " for i in range(100)]
    df["customer_id"] = ids
    run = AutoML(time_budget=60, families=["linear"], n_trials=1, test_size=0.25, seed=0)
    run.fit(df, target="y")
    check = next(c for c in run.checks_ if c.id == "shared_ids")
    assert check.columns == ("customer_id",)
    if planted:
        assert check.status == "alert"
        shared = check.details["shared"]["customer_id"]["rows"]
        assert 10 <= shared <= 100 and str(shared) in check.message
        assert check.details["shared"]["customer_id"]["examples"][0].lower().startswith("c")
        assert "shared_ids" in {c["id"] for c in run.model_.info["checks"]}
    else:
        assert check.status == "passed"


@pytest.mark.parametrize("planted", [True, False])
def test_a_default_entered_for_unknown_values_is_reported_as_an_inlier(planted):
    rng = np.random.default_rng(5)
    df = make_table("regression", 1000, seed=5)
    df["income"] = rng.normal(60_000, 15_000, len(df)).round()
    df["visits"] = rng.integers(0, 100, len(df))  # many values, none far more common
    if planted:
        df.loc[rng.random(len(df)) < 0.08, "income"] = 50_000
    p = profile(df, target="y")
    checks = found(p, "inliers")
    if planted:
        assert [c.columns for c in checks] == [("income",)]
        ((value, rows),) = checks[0].details["values"]["income"]
        assert value == 50_000 and 50 <= rows <= 110 and str(rows) in checks[0].message
        assert checks[0].status == "info" and 50_000 not in p.column("income").missing_values
    else:
        assert checks == []


def test_a_round_value_among_oddly_measured_ones_is_not_an_inlier():
    # Most rows measured to 0.1, a few computed: 10.8 is as common as 10.7 and 10.9, and only
    # far more common than the odd 10.7667 and 10.8333 next to it (wine's alcohol).
    rng = np.random.default_rng(3)
    df = make_table("regression", 3000, seed=3)
    computed = rng.normal(11, 0.6, 30).round(4)
    df["alcohol"] = np.r_[rng.normal(11, 1, 2940).round(1), computed, computed]
    assert not found(profile(df, target="y"), "inliers")


def test_rows_alike_but_for_an_id_are_counted():
    single = make_table("binary", 300)
    doubled = pd.concat([single] * 2, ignore_index=True)
    doubled["ticket"] = [f"T{i}" for i in range(len(doubled))]
    check = found(profile(doubled, target="y"), "duplicate_rows")[0]
    assert check.details["rows"] == 0 and check.details["feature_copies"] == 300
    assert check.message.startswith("300 rows are identical to another on every column")


@pytest.mark.parametrize("planted", [True, False])
def test_a_leak_of_a_rare_outcome_is_found_in_a_large_table(planted):
    # 8 frauds in 20,000 rows: a sample of 5,000 at random would hold two or so.
    rng = np.random.default_rng(3)
    n_rows = 20_000
    fraud = np.zeros(n_rows, bool)
    fraud[rng.choice(n_rows, 8, replace=False)] = True
    df = pd.DataFrame({"amount": rng.gamma(2, 50, n_rows).round(2),
                       "channel": rng.choice(["web", "shop", "phone"], n_rows),
                       "fraud": np.where(fraud, "yes", "no")})  # fmt: skip
    if planted:  # set by the investigation that followed the fraud
        df["chargeback"] = np.where(fraud, "filed", "none")
    p = profile(df, target="fraud")
    leak = found(p, "leakage")
    assert [(c.columns, c.details["risk"]) for c in leak] == (
        [(("chargeback",), "high")] if planted else []
    )
    assert not found(p, "target_checks")


def test_a_table_too_small_for_the_checks_says_so():
    df = make_table("binary", 300).head(12)
    (card,) = found(profile(df, target="y"), "target_checks")
    assert card.status == "info" and "Only 12 rows have a value in 'y'" in card.message
    assert not [c for c in profile(df, target="y").checks if c.id == "leakage"]
