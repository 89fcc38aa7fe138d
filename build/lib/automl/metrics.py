"""Metrics by name, each knowing its direction and what predictions it needs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn import metrics as skm

from automl.exceptions import DataError

DEFAULTS = {"binary": "roc_auc", "multiclass": "log_loss", "regression": "rmse"}


@dataclass(frozen=True)
class Metric:
    """A named score. ``needs_proba``: computed from class probabilities, not labels."""

    name: str
    greater_is_better: bool
    needs_proba: bool
    tasks: tuple[str, ...]
    description: str
    _score: Callable

    def __call__(self, y_true, prediction, classes=None) -> float:
        return float(self._score(y_true, prediction, classes))

    def better(self, a: float, b: float) -> bool:
        """Whether score ``a`` beats ``b``."""
        return a > b if self.greater_is_better else a < b


def _roc_auc(y, proba, classes):
    if proba.ndim == 2 and proba.shape[1] == 2:
        return skm.roc_auc_score(y, proba[:, 1])
    return skm.roc_auc_score(y, proba, multi_class="ovr", labels=classes)


def _log_loss(y, proba, classes):
    # Stored in float32, or blended, rows sum to 1 only within rounding, which sklearn warns of.
    proba = np.clip(proba, 1e-15, 1)
    return skm.log_loss(y, proba / proba.sum(axis=1, keepdims=True), labels=classes)


def _f1(y, labels, classes):
    average = "binary" if classes is not None and len(classes) == 2 else "macro"
    return skm.f1_score(
        y, labels, average=average, pos_label=classes[-1] if average == "binary" else 1
    )


CLASSIFICATION = ("binary", "multiclass")
METRICS = {
    m.name: m
    for m in [
        Metric("roc_auc", True, True, CLASSIFICATION,
               "How well the model ranks positives above negatives: 0.5 is chance, 1 perfect.",
               _roc_auc),
        Metric("log_loss", False, True, CLASSIFICATION,
               "How confident and right the predicted probabilities are: lower is better.",
               _log_loss),
        Metric("accuracy", True, False, CLASSIFICATION,
               "The share of rows whose class is predicted right.",
               lambda y, p, c: skm.accuracy_score(y, p)),
        Metric("balanced_accuracy", True, False, CLASSIFICATION,
               "Accuracy averaged over classes, so rare classes count as much as common ones.",
               lambda y, p, c: skm.balanced_accuracy_score(y, p)),
        Metric("f1", True, False, CLASSIFICATION,
               "Balance of precision and recall (of the positive class, or averaged over classes).",
               _f1),
        Metric("rmse", False, False, ("regression",),
               "Typical size of an error, in the target's unit; large errors weigh more.",
               lambda y, p, c: skm.root_mean_squared_error(y, p)),
        Metric("mae", False, False, ("regression",),
               "Average size of an error, in the target's unit.",
               lambda y, p, c: skm.mean_absolute_error(y, p)),
        Metric("r2", True, False, ("regression",),
               "Share of the target's variation the model explains: 1 is perfect, 0 no better "
               "than the average.",
               lambda y, p, c: skm.r2_score(y, p)),
    ]
}  # fmt: skip


def get_metric(name: str, task: str) -> Metric:
    """The metric called ``name`` ("auto" for the task's default), checked against ``task``."""
    name = DEFAULTS[task] if name in (None, "auto") else name
    metric = METRICS.get(name)
    if metric is None:
        raise DataError(f"Unknown metric {name!r}; use one of {', '.join(METRICS)}.")
    if task not in metric.tasks:
        suitable = ", ".join(m.name for m in METRICS.values() if task in m.tasks)
        raise DataError(f"The metric {name!r} does not apply to {task}; use one of {suitable}.")
    return metric
