"""Evaluation charts and column importances: right numbers, bounded sizes, valid JSON."""

import json
import time

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from automl.evaluation import evaluate, permutation_importance


def binary_case(n=1000, seed=0):
    """Codes and (n, 2) probabilities that rank positives higher, but not perfectly."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    p = np.clip(0.35 * y + 0.65 * rng.random(n), 0, 1)
    return y, np.c_[1 - p, p]


def test_perfect_binary_predictor():
    y = np.array([0, 0, 0, 1, 1, 1, 0, 1])
    p = y * 0.8 + 0.1
    result = evaluate("binary", y, np.c_[1 - p, p], ["stayed", "churned"])
    roc, pr = result["roc"], result["pr"]
    assert roc["auc"] == 1.0
    assert (roc["fpr"][0], roc["tpr"][0]) == (0.0, 0.0)
    assert (roc["fpr"][-1], roc["tpr"][-1]) == (1.0, 1.0)
    assert pr["average_precision"] == 1.0
    assert (pr["recall"][0], pr["precision"][0]) == (0.0, 1.0)
    assert pr["recall"][-1] == 1.0
    assert result["accuracy"] == 1.0
    assert result["positive"] == "churned"


def test_curves_are_downsampled_keeping_both_ends():
    y, proba = binary_case(n=5000)
    full = evaluate("binary", y, proba, max_points=100_000)
    assert len(full["roc"]["fpr"]) > 300  # the test needs a curve worth shortening
    result = evaluate("binary", y, proba, max_points=50)
    for curve in (result["roc"], result["pr"]):
        lengths = {len(v) for v in curve.values() if isinstance(v, list)}
        assert len(lengths) == 1
        assert 2 <= lengths.pop() <= 50
    roc = result["roc"]
    assert (roc["fpr"][0], roc["tpr"][0], roc["fpr"][-1], roc["tpr"][-1]) == (0, 0, 1, 1)
    assert roc["fpr"] == sorted(roc["fpr"])
    assert roc["threshold"][0] is None  # sklearn's infinite first threshold
    assert roc["threshold"][-1] == full["roc"]["threshold"][-1]
    # The area is computed on the whole curve, not the thinned one.
    assert roc["auc"] == pytest.approx(roc_auc_score(y, proba[:, 1]))


def test_confusion_and_per_class_from_string_classes():
    y, proba = binary_case(n=400)
    result = evaluate("binary", y, proba, np.array(["no", "yes"]))
    confusion = np.array(result["confusion"]["matrix"])
    assert result["confusion"]["labels"] == ["no", "yes"]
    assert confusion.sum() == 400
    assert confusion.sum(axis=1).tolist() == np.bincount(y).tolist()  # rows are actual classes
    assert confusion.sum(axis=0).tolist() == np.bincount(proba.argmax(axis=1)).tolist()
    assert result["accuracy"] == pytest.approx(np.trace(confusion) / 400)
    yes = result["per_class"][1]
    assert yes["label"] == "yes"
    assert yes["support"] == int((y == 1).sum())
    assert yes["recall"] == pytest.approx(confusion[1, 1] / confusion[1].sum())
    assert yes["precision"] == pytest.approx(confusion[1, 1] / confusion[:, 1].sum())


def test_labels_are_strings_for_booleans_and_numbers():
    y, proba = binary_case(n=50)
    result = evaluate("binary", y, proba, np.array([False, True]))
    assert result["positive"] == "True"
    assert [c["label"] for c in result["per_class"]] == ["False", "True"]
    multi = evaluate("multiclass", [0, 1, 2], np.eye(3), np.array([10, 20, 30]))
    assert multi["confusion"]["labels"] == ["10", "20", "30"]
    assert multi["confusion"]["truncated"] is False
    assert "roc" not in multi
    assert multi["accuracy"] == 1.0


def test_many_classes_keep_the_most_frequent_and_group_the_rest():
    rng = np.random.default_rng(0)
    # Classes 0-4 are rare; 5-34 are common, so the 30 kept are exactly 5-34.
    y = np.concatenate([np.arange(5), np.repeat(np.arange(5, 35), 10)])
    proba = rng.dirichlet(np.ones(35), size=len(y))
    classes = np.array([f"c{i}" for i in range(35)])
    result = evaluate("multiclass", y, proba, classes)
    confusion = result["confusion"]
    matrix = np.array(confusion["matrix"])
    assert confusion["truncated"] is True
    assert confusion["labels"] == [f"c{i}" for i in range(5, 35)] + ["other"]
    assert matrix.shape == (31, 31)
    assert matrix.sum() == len(y)
    assert matrix[-1].sum() == 5  # one row for each rare class
    assert len(result["per_class"]) == 35  # only the matrix is cut


def test_regression_sample_histogram_and_summary():
    rng = np.random.default_rng(0)
    actual = rng.normal(size=2000)
    predicted = actual + rng.normal(scale=0.5, size=2000)
    result = evaluate("regression", actual, predicted, seed=1)
    assert len(result["scatter"]["actual"]) == len(result["scatter"]["predicted"]) == 500
    assert set(result["scatter"]["actual"]) <= set(actual.tolist())
    assert result == evaluate("regression", actual, predicted, seed=1)
    assert result["scatter"] != evaluate("regression", actual, predicted, seed=2)["scatter"]
    residuals = result["residuals"]
    assert len(residuals["counts"]) == 30
    assert len(residuals["edges"]) == 31
    assert sum(residuals["counts"]) == 2000
    summary = result["summary"]
    assert summary["rmse"] == pytest.approx(np.sqrt(np.mean((actual - predicted) ** 2)))
    assert summary["mae"] == pytest.approx(np.mean(np.abs(actual - predicted)))
    assert 0.5 < summary["r2"] < 0.95


def test_small_regression_keeps_every_point():
    result = evaluate("regression", [1, 2, 3], [1.5, 2.0, 2.5])
    assert result["scatter"] == {"actual": [1.0, 2.0, 3.0], "predicted": [1.5, 2.0, 2.5]}


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_results_are_strict_json_even_with_a_nan_prediction(task):
    rng = np.random.default_rng(0)
    if task == "regression":
        y, prediction, classes = rng.normal(size=100), rng.normal(size=100), None
    else:
        k = 2 if task == "binary" else 3
        y, prediction = rng.integers(0, k, 100), rng.dirichlet(np.ones(k), size=100)
        classes = np.array(["a", "b", "c"][:k], dtype=object)
    prediction[7] = np.nan
    result = evaluate(task, y, prediction, classes)
    assert json.loads(json.dumps(result, allow_nan=False)) == result
    assert result["skipped"] == 1
    if task == "regression":
        assert sum(result["residuals"]["counts"]) == 99
    else:
        assert np.array(result["confusion"]["matrix"]).sum() == 99


def test_a_single_class_has_no_curves():
    result = evaluate("binary", [1, 1, 1], np.array([[0.2, 0.8], [0.6, 0.4], [0.1, 0.9]]))
    assert result["roc"] is None
    assert result["pr"] is None
    assert result["per_class"][0]["recall"] is None  # no actual rows of class 0
    json.dumps(result, allow_nan=False)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="task"):
        evaluate("ranking", [0], [[1.0]])
    with pytest.raises(ValueError, match="probability columns"):
        evaluate("binary", [0, 1], np.eye(2), ["a", "b", "c"])
    with pytest.raises(ValueError, match="predictions"):
        evaluate("regression", [1.0, 2.0], [1.0])


@pytest.fixture
def fitted_frame():
    """A logistic regression that uses ``signal`` and two columns of pure noise."""
    rng = np.random.default_rng(0)
    X = pd.DataFrame(
        {
            "noise_a": rng.normal(size=600),
            "signal": rng.normal(size=600),
            "noise_b": rng.normal(size=600),
        }
    )
    y = (X["signal"] + 0.3 * rng.normal(size=600) > 0).astype(int).to_numpy()
    model = LogisticRegression().fit(X.to_numpy(), y)
    return X, y, lambda frame: model.predict_proba(frame.to_numpy())[:, 1]


def test_an_informative_column_outranks_noise(fitted_frame):
    X, y, predict = fitted_frame
    importances = permutation_importance(predict, X, y, roc_auc_score)
    assert importances[0]["column"] == "signal"
    signal, *noise = importances
    assert signal["importance"] > 0.2
    assert all(abs(r["importance"]) < 0.05 for r in noise)
    assert all(r["std"] >= 0 for r in importances)
    assert json.loads(json.dumps(importances, allow_nan=False)) == importances
    assert importances == permutation_importance(predict, X, y, roc_auc_score)  # seeded


def test_a_past_deadline_computes_nothing(fitted_frame):
    X, y, _ = fitted_frame

    def never(frame):
        raise AssertionError("predict should not run after the deadline")

    importances = permutation_importance(never, X, y, roc_auc_score, deadline=time.monotonic())
    assert [r["column"] for r in importances] == ["noise_a", "signal", "noise_b"]
    assert all(r["importance"] is None and r["std"] is None for r in importances)


def test_columns_not_reached_by_the_deadline_come_last():
    X = pd.DataFrame({"a": [1.0, 2.0, 3.0], "c": [7.0, 8.0, 9.0], "b": [4.0, 5.0, 6.0]})
    deadline = time.monotonic() + 0.2
    calls = []

    def slow_after_first_column(frame):
        calls.append(1)
        if len(calls) == 3:  # baseline, then one shuffle of "a" and of "c": out of time
            time.sleep(max(0.0, deadline - time.monotonic()) + 0.01)
        return frame["a"].to_numpy()

    importances = permutation_importance(
        slow_after_first_column,
        X,
        np.array([1.0, 2.0, 3.0]),
        lambda y, p: -np.abs(y - p).sum(),
        deadline=deadline,
        n_repeats=2,
    )
    assert len(calls) == 3
    # Each column is shuffled once before any twice: "a" and "c" measured once, "b" never.
    assert importances[0]["column"] == "a" and importances[0]["importance"] > 0
    assert importances[1] == {"column": "c", "importance": 0.0, "std": 0.0}
    assert importances[2] == {"column": "b", "importance": None, "std": None}


def test_shuffles_keep_dtypes_and_sample_rows():
    n = 3000
    X = pd.DataFrame(
        {
            "city": pd.Series(np.resize(["Paris", "Lyon", None], n), dtype="string"),
            "size": pd.Categorical(np.resize(["S", "M", "L"], n)),
            "when": pd.date_range("2020-01-01", periods=n, freq="h"),
            "amount": np.where(np.arange(n) % 7 == 0, np.nan, np.arange(n, dtype=float)),
            "count": pd.array(np.resize([1, None, 3], n), dtype="Int64"),
        }
    )
    frames = []

    def predict(frame):
        frames.append(frame)
        return np.zeros(len(frame))

    importances = permutation_importance(
        predict, X, np.zeros(n), lambda y, p: 0.0, max_rows=500, n_repeats=1
    )
    assert [r["importance"] for r in importances] == [0.0] * 5
    baseline, *shuffled = frames
    assert len(shuffled) == X.shape[1]
    assert len(baseline) == 500
    assert baseline.index.isin(X.index).all()
    for column, frame in zip(X.columns, shuffled, strict=True):
        assert frame.dtypes.equals(X.dtypes)
        assert frame.drop(columns=column).equals(baseline.drop(columns=column))
        values, before = frame[column], baseline[column]
        assert not values.equals(before)
        assert values.sort_values(ignore_index=True).equals(before.sort_values(ignore_index=True))


def test_prediction_errors_propagate(fitted_frame):
    X, y, _ = fitted_frame

    def broken(frame):
        raise ValueError("model exploded")

    with pytest.raises(ValueError, match="model exploded"):
        permutation_importance(broken, X, y, roc_auc_score)
