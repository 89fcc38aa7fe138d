"""Profiling: kinds, the task, and the checks a non-expert needs (more in test_checks)."""

import numpy as np
import pandas as pd
import pytest

from automl import DataError, profile, profile_parquet


def codes(p):
    return {c.id: c for c in p.checks if c.status != "passed"}


def test_profile_infers_kinds_and_task(binary_table):
    p = profile(binary_table, target="y")
    kinds = {c.name: c.kind for c in p.columns}
    assert kinds == {
        "customer_id": "identifier",
        "x1": "numeric",
        "x2": "numeric",
        "city": "categorical",
        "member": "boolean",
        "signup": "datetime",
        "y": "categorical",
    }
    assert p.task == "binary"
    assert set(p.target_summary["classes"]) == {"churned", "stayed"}
    assert [c.name for c in p.features] == ["x1", "x2", "city", "member", "signup"]
    x1 = p.column("x1")
    assert x1.missing == pytest.approx(0.1)
    assert x1.stats["min"] < x1.stats["max"]


def test_task_detection():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"x": rng.normal(size=60)})
    assert profile(df.assign(y=rng.normal(size=60)), "y").task == "regression"
    assert profile(df.assign(y=rng.integers(3, 9, size=60)), "y").task == "multiclass"
    assert profile(df.assign(y=rng.integers(0, 2, size=60)), "y").task == "binary"
    assert profile(df.assign(y=rng.integers(0, 1000, size=60)), "y").task == "regression"
    assert profile(df.assign(y=rng.integers(3, 9, size=60)), "y", task="regression").task == (
        "regression"
    )


def test_checks_name_their_columns(binary_table):
    df = binary_table.assign(
        country="FR", notes=[None] * 250 + ["x", "z"] * 25, leak=binary_table["y"].map(
            {"churned": 1, "stayed": 0}
        )
    )  # fmt: skip
    found = codes(profile(df, target="y"))
    assert found["identifier"].columns == ("customer_id",)
    assert found["constant"].columns == ("country",)
    assert found["mostly_missing"].columns == ("notes",)
    assert found["leakage"].columns == ("leak",)
    assert "'leak'" in found["leakage"].message
    assert "duplicate_rows" not in found


def test_duplicate_rows_are_counted(binary_table):
    df = pd.concat([binary_table, binary_table.head(3)], ignore_index=True)
    assert (
        "3 rows are an exact copy of another row"
        in codes(profile(df, target="y"))["duplicate_rows"].message
    )


def test_a_parquet_file_profiles_like_its_table(binary_table, tmp_path, monkeypatch):
    # A few columns and rows at a time: the same kinds, stats, duplicates and warnings.
    monkeypatch.setattr("automl.profiling.CHUNK_CELLS", 1000)
    df = pd.concat([binary_table, binary_table.head(3)], ignore_index=True)
    df["leak"] = df["y"].map({"churned": 1, "stayed": 0})
    df.loc[::7, "y"] = None
    df.to_parquet(tmp_path / "t.parquet", index=False, row_group_size=100)
    for target in (None, "y"):
        from_file = profile_parquet(tmp_path / "t.parquet", target, exclude=["city"])
        assert from_file == profile(df, target, exclude=["city"])
    assert set(codes(from_file)) >= {"duplicate_rows", "leakage", "target_missing"}


def test_no_leakage_alert_for_honest_columns(binary_table):
    assert "leakage" not in codes(profile(binary_table, target="y"))


def test_class_imbalance_and_too_few_rows():
    df = pd.DataFrame({"x": range(200), "y": ["a"] * 196 + ["b"] * 4})
    found = codes(profile(df, target="y"))
    assert "class_imbalance" in found
    assert "'b'" in found["too_few_rows"].message


def test_kinds_can_be_overridden_and_columns_excluded(binary_table):
    p = profile(binary_table, "y", kinds={"customer_id": "categorical"}, exclude=["city"])
    assert p.column("customer_id").kind == "categorical"
    assert p.column("customer_id").inferred_kind == "identifier"
    assert p.column("city").kind == "excluded"
    assert "city" not in [c.name for c in p.features]


@pytest.mark.timeout(60)
def test_a_pathological_cell_is_profiled_quickly_and_shown_short(binary_table):
    cell = "1" + "%" * 1_000_000 + "x"
    table = binary_table.assign(note=[cell] + ["short"] * (len(binary_table) - 1))
    table.loc[0, "x2"] = cell
    p = profile(table, target="y")
    assert p.column("x2").kind == "numeric" and p.column("x2").stats["max"] < 10
    shown = [*p.column("note").examples, *(v for v, _ in p.column("note").stats["top"])]
    assert cell[:199] + "…" in shown and max(len(v) for v in shown) == 200


def test_to_dict_is_json_ready(binary_table):
    import json

    assert json.loads(json.dumps(profile(binary_table, "y").to_dict()))["task"] == "binary"


@pytest.mark.parametrize(
    ("df", "target", "message"),
    [
        (pd.DataFrame(), None, "no columns"),
        (pd.DataFrame({"a": []}), None, "no rows"),
        (pd.DataFrame({"a": [1, 2]}), "y", "'y' is not in the table"),
        (pd.DataFrame({"a": [1, 2], "y": [None, None]}), "y", "has no values"),
        (pd.DataFrame({"a": [1, 2], "y": ["x", "x"]}), "y", "single value"),
        (pd.DataFrame([[1, 2]], columns=["a", "a"]), None, "'a' appears 2 times"),
    ],
)
def test_bad_tables_get_plain_errors(df, target, message):
    with pytest.raises(DataError, match=message):
        profile(df, target)


def test_regression_target_must_be_numeric():
    df = pd.DataFrame({"a": range(30), "y": ["cheap", "dear", "fair"] * 10})
    with pytest.raises(DataError, match="must hold numbers"):
        profile(df, "y", task="regression")


def test_unknown_kind_or_column_is_refused(binary_table):
    with pytest.raises(DataError, match="Unknown column kind 'number'"):
        profile(binary_table, "y", kinds={"x1": "number"})
    with pytest.raises(DataError, match="'nope'"):
        profile(binary_table, "y", exclude=["nope"])


def test_stats_carry_charts(binary_table):
    p = profile(binary_table, "y")
    histogram = p.column("x1").stats["histogram"]
    assert sum(histogram["counts"]) == p.column("x1").count
    assert len(histogram["edges"]) == len(histogram["counts"]) + 1
    timeline = p.column("signup").stats["timeline"]
    assert timeline[0][0] == "2020-01"  # 300 days: one point a month
    assert sum(n for _, n in timeline) == 300
    assert p.column("city").stats["top"][0][1] >= 300 / 4


def test_suggested_targets():
    from automl.profiling import suggest_targets

    columns = [
        {"name": "id", "kind": "identifier"},
        {"name": "age", "kind": "numeric"},
        {"name": "member", "kind": "boolean"},
        {"name": "Churned", "kind": "boolean"},
        {"name": "notes", "kind": "text"},
        {"name": "spend", "kind": "numeric"},
    ]
    assert suggest_targets(columns) == ["Churned", "member", "spend"]


def test_numbers_are_summarised_as_pandas_would():
    rng = np.random.default_rng(4)
    numbers = np.concatenate([rng.normal(size=3000), [np.inf, np.inf, -0.0, 0.0, np.nan]])
    few = rng.integers(0, 7, size=3005).astype(float)
    frame = pd.DataFrame({"x": numbers, "n": few, "y": rng.integers(0, 2, 3005)})
    p = profile(frame, target="y")
    for name in ("x", "n"):
        column, present = p.column(name), frame[name].dropna()
        assert column.distinct == present.nunique()
        usable = present[np.isfinite(present)]  # infinities are unusable, like text in numbers
        described = usable.describe()
        for key in ("min", "25%", "50%", "75%", "max", "mean", "std"):
            assert column.stats[key] == pytest.approx(described[key]), (name, key)
        counts = column.stats["histogram"]["counts"]
        assert sum(counts) == len(usable) and len(counts) == min(20, usable.nunique())
    assert p.column("x").examples == frame["x"].drop_duplicates().head(5).tolist()
