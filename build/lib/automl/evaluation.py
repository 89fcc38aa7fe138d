"""What a trained model gets right and wrong, as plain JSON the platform stores and draws.

``evaluate`` turns held-out predictions into curves, a confusion matrix and summaries;
``permutation_importance`` measures how much each raw column matters, within a deadline.
Every number out of here is a plain ``int``, ``float`` or ``None`` (for NaN and infinity), so
``json.dumps(..., allow_nan=False)`` accepts the result as is.
"""

from __future__ import annotations

import itertools
import math
import time
import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd
from sklearn import metrics as skm

TASKS = ("binary", "multiclass", "regression")
# A confusion matrix wider than this is unreadable on a page; the rest go in one "other" class.
MAX_CONFUSION_CLASSES = 30
OTHER = "other"
SCATTER_POINTS = 500
RESIDUAL_BINS = 30


def evaluate(task: str, y_true, prediction, classes=None, *, max_points=200, seed=0) -> dict:
    """Charts and summaries of held-out predictions, ready to store as JSON.

    Parameters
    ----------
    task : {"binary", "multiclass", "regression"}
    y_true : array-like of shape (n,)
        Class codes ``0..k-1`` (indexes into ``classes``), or the actual values in regression.
    prediction : array-like of shape (n, k) or (n,)
        Class probabilities in the order of ``classes``, or the predicted values.
    classes : array-like of shape (k,), optional
        The original class labels (strings, numbers, booleans); their ``str`` is shown.
        Defaults to the codes themselves.
    max_points : int, default=200
        Most points kept per binary curve; the first and last are always kept.
    seed : int, default=0
        Seeds the sample of points in the regression scatter plot.

    Returns
    -------
    dict
        Always ``task`` and ``skipped``: the rows left out because their prediction (or
        actual value) is not a finite number. Classification adds ``confusion``
        (``labels``, ``matrix`` with actual classes in rows and predicted classes in columns,
        ``truncated``), ``per_class`` and ``accuracy``; binary also ``positive``, ``roc`` and
        ``pr`` (``None`` when the rows hold a single class). Regression adds ``scatter``,
        ``residuals`` (actual minus predicted) and ``summary``.
    """
    if task not in TASKS:
        raise ValueError(f"Unknown task {task!r}; use one of {', '.join(TASKS)}.")
    if max_points < 2:
        raise ValueError("max_points must be at least 2, to keep a curve's two ends.")
    if task == "regression":
        return _evaluate_regression(y_true, prediction, seed)
    proba = np.asarray(prediction, dtype=float)
    if proba.ndim != 2:
        raise ValueError("Classification needs an (n, k) array of class probabilities.")
    classes = np.arange(proba.shape[1]) if classes is None else np.asarray(classes)
    if proba.shape[1] != len(classes) or (task == "binary" and len(classes) != 2):
        raise ValueError(f"Expected {len(classes)} probability columns, got {proba.shape[1]}.")
    y = np.asarray(y_true).astype(int)
    _check_lengths(y, proba)
    usable = np.isfinite(proba).all(axis=1)
    y, proba = y[usable], proba[usable]
    result = {"task": task, "skipped": int((~usable).sum())}
    result.update(_classification(y, proba.argmax(axis=1), classes))
    if task == "binary":
        result["positive"] = str(classes[-1])
        result.update(_curves(y, proba[:, 1], max_points))
    return result


def permutation_importance(
    predict: Callable,
    X: pd.DataFrame,
    y_true,
    score: Callable,
    *,
    deadline: float | None = None,
    n_repeats: int = 3,
    max_rows: int = 2000,
    seed: int = 0,
) -> list[dict]:
    """How much the score drops when each column's values are shuffled among the rows.

    Parameters
    ----------
    predict : callable
        ``predict(X) -> prediction`` on a DataFrame like ``X``; its errors propagate.
    X : pandas.DataFrame
        Raw columns of any dtype; a shuffled column keeps its dtype.
    y_true : array-like of shape (n,)
        What ``score`` compares the prediction with.
    score : callable
        ``score(y_true, prediction) -> float``, greater is better.
    deadline : float, optional
        A ``time.monotonic()`` time after which no new shuffle is started.
    n_repeats : int, default=3
        Shuffles per column, in rounds over all columns.
    max_rows : int, default=2000
        Rows sampled from ``X`` (with ``seed``) to keep each prediction cheap.
    seed : int, default=0
        Seeds the row sample and the shuffles.

    Returns
    -------
    list of dict
        ``{"column", "importance", "std"}`` per column: the mean and standard deviation of the
        score's drop over the shuffles done, most important first. Columns not reached before
        the deadline (all of them if it has already passed) have ``None`` for both and come
        last, in table order.
    """
    if n_repeats < 1:
        raise ValueError("n_repeats must be at least 1.")
    rng = np.random.default_rng(seed)
    y = np.asarray(y_true)
    _check_lengths(y, X)
    if len(X) > max_rows:
        rows = np.sort(rng.choice(len(X), size=max_rows, replace=False))
        X, y = X.iloc[rows], y[rows]

    drops: list[list[float]] = [[] for _ in range(X.shape[1])]
    if X.shape[1] and not _past(deadline):
        baseline = float(score(y, predict(X)))
        # Every column is shuffled once before any is shuffled again: a short deadline then
        # measures each column roughly rather than a few precisely.
        for _, j in itertools.product(range(n_repeats), range(X.shape[1])):
            if _past(deadline):
                break
            drops[j].append(baseline - _shuffled_score(predict, X, y, score, j, rng))

    out = [
        {"column": str(name), "importance": _mean(d or None), "std": _std(d or None)}
        for name, d in zip(X.columns, drops, strict=True)
    ]
    # sorted() is stable, so unreached columns stay in table order at the end.
    return sorted(out, key=lambda r: (r["importance"] is None, -(r["importance"] or 0)))


def _shuffled_score(predict, X, y, score, j, rng) -> float:
    shuffled = X.copy(deep=False)
    # By position, so duplicate or non-string column names work; iloc keeps the dtype.
    shuffled.isetitem(j, X.iloc[:, j].iloc[rng.permutation(len(X))].set_axis(X.index))
    return float(score(y, predict(shuffled)))


def _past(deadline) -> bool:
    return deadline is not None and time.monotonic() >= deadline


def _mean(drops):
    return None if drops is None else _number(np.mean(drops))


def _std(drops):
    return None if drops is None else _number(np.std(drops))


def _classification(y, predicted, classes) -> dict:
    matrix = _count_pairs(y, predicted, len(classes))
    tp, support, predicted_count = np.diag(matrix), matrix.sum(axis=1), matrix.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):  # 0/0 is NaN, then None: undefined
        precision, recall = tp / predicted_count, tp / support
        f1 = 2 * tp / (support + predicted_count)
    per_class = [
        {
            "label": str(label),
            "precision": _number(p),
            "recall": _number(r),
            "f1": _number(f),
            "support": int(s),
        }
        for label, p, r, f, s in zip(classes, precision, recall, f1, support, strict=True)
    ]
    return {
        "confusion": _confusion(y, predicted, classes),
        "per_class": per_class,
        "accuracy": _number(tp.sum() / len(y)) if len(y) else None,
    }


def _confusion(y, predicted, classes) -> dict:
    k = len(classes)
    labels = [str(c) for c in classes]
    truncated = k > MAX_CONFUSION_CLASSES
    if truncated:
        # The most frequent actual classes (ties by code), shown in code order, then "other".
        counts = np.bincount(y, minlength=k)
        kept = np.sort(np.argsort(-counts, kind="stable")[:MAX_CONFUSION_CLASSES])
        position = np.full(k, MAX_CONFUSION_CLASSES)
        position[kept] = np.arange(MAX_CONFUSION_CLASSES)
        y, predicted = position[y], position[predicted]
        labels = [labels[i] for i in kept] + [OTHER]
    matrix = _count_pairs(y, predicted, len(labels))
    return {"labels": labels, "matrix": matrix.tolist(), "truncated": truncated}


def _count_pairs(y, predicted, k) -> np.ndarray:
    """The k x k confusion matrix: actual classes in rows, predicted in columns."""
    return np.bincount(y * k + predicted, minlength=k * k).reshape(k, k)


def _curves(y, score, max_points) -> dict:
    if len(np.unique(y)) < 2:  # no curve or area exists without both classes
        return {"roc": None, "pr": None}
    fpr, tpr, roc_thresholds = skm.roc_curve(y, score, drop_intermediate=True)
    precision, recall, pr_thresholds = skm.precision_recall_curve(y, score, drop_intermediate=True)
    # sklearn ends the PR curve at recall 0 with no threshold; reversed, it starts there like
    # the ROC curve at its infinite threshold, and both run from strictest to loosest.
    pr_thresholds = np.append(pr_thresholds, np.inf)[::-1]
    roc = _downsample({"fpr": fpr, "tpr": tpr, "threshold": roc_thresholds}, max_points)
    pr = _downsample(
        {"recall": recall[::-1], "precision": precision[::-1], "threshold": pr_thresholds},
        max_points,
    )
    roc["auc"] = _number(skm.roc_auc_score(y, score))
    pr["average_precision"] = _number(skm.average_precision_score(y, score))
    return {"roc": roc, "pr": pr}


def _downsample(columns: dict, max_points: int) -> dict:
    n = len(next(iter(columns.values())))
    keep = np.unique(np.linspace(0, n - 1, min(n, max_points)).round().astype(int))
    return {name: _numbers(values[keep]) for name, values in columns.items()}


def _evaluate_regression(y_true, prediction, seed) -> dict:
    actual = np.asarray(y_true, dtype=float).ravel()
    predicted = np.asarray(prediction, dtype=float).ravel()
    _check_lengths(actual, predicted)
    usable = np.isfinite(actual) & np.isfinite(predicted)
    actual, predicted = actual[usable], predicted[usable]
    rows = np.arange(len(actual))
    if len(rows) > SCATTER_POINTS:
        rows = np.sort(np.random.default_rng(seed).choice(rows, SCATTER_POINTS, replace=False))
    counts, edges = np.histogram(actual - predicted, bins=RESIDUAL_BINS)
    return {
        "task": "regression",
        "skipped": int((~usable).sum()),
        "scatter": {"actual": _numbers(actual[rows]), "predicted": _numbers(predicted[rows])},
        "residuals": {"edges": _numbers(edges), "counts": counts.tolist()},
        "summary": _regression_summary(actual, predicted),
    }


def _regression_summary(actual, predicted) -> dict:
    if len(actual) == 0:
        return {"rmse": None, "mae": None, "r2": None}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # R² of a single row is undefined: NaN, shown as None
        r2 = skm.r2_score(actual, predicted)
    return {
        "rmse": _number(skm.root_mean_squared_error(actual, predicted)),
        "mae": _number(skm.mean_absolute_error(actual, predicted)),
        "r2": _number(r2),
    }


def _check_lengths(y, prediction) -> None:
    if len(y) != len(prediction):
        raise ValueError(f"Got {len(y)} true values but {len(prediction)} predictions.")


def _number(value) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _numbers(values) -> list:
    return [_number(v) for v in np.asarray(values, dtype=float).tolist()]
