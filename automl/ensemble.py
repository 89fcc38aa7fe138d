"""Ensembles: weights chosen by greedy selection on out-of-fold predictions, and the fitted
blend that predicts with them.

Greedy ensemble selection with replacement (Caruana et al., 2004): start from nothing and add,
one at a time, the candidate whose predictions most improve the blend's validation score; a
candidate may be added again, so the counts become weights. The predictions are out-of-fold,
made by models that never saw those rows, so the weights are not fitted to training noise.
"""

from __future__ import annotations

import numpy as np

from automl.metrics import Metric

# Rounds of selection: weights in steps of 1/25 are as fine as the validation data can judge.
ROUNDS = 25
# A member stays in the blend only if leaving it out would lose more than this share of the
# blend's gain over its best member alone: each member costs its own prediction time.
KEEP_GAIN = 0.95


def select_weights(
    predictions: list[np.ndarray], y: np.ndarray, metric: Metric, classes=None, rounds=ROUNDS
) -> np.ndarray:
    """Weights (summing to 1) of ``predictions`` that give the best blended validation score.

    Parameters
    ----------
    predictions : list of ndarray
        Each candidate's out-of-fold predictions for the rows ``y``: values, or class
        probabilities of shape (n, k).
    y : ndarray
        The true values or class codes.
    metric : Metric
        The score to improve; a label metric scores the blend's most probable class.
    rounds : int
        Candidates added in all, with replacement.
    """
    counts = np.zeros(len(predictions))
    total = np.zeros_like(predictions[0], dtype=float)
    best, best_counts = None, None
    for step in range(1, rounds + 1):
        scores = [score(metric, y, (total + p) / step, classes) for p in predictions]
        chosen = _best(metric, scores)
        counts[chosen] += 1
        total += predictions[chosen]
        if best is None or metric.better(scores[chosen], best):
            best, best_counts = scores[chosen], counts.copy()
    return best_counts / best_counts.sum()


def lighten(
    predictions: list[np.ndarray], y: np.ndarray, metric: Metric, weights, costs, classes=None
) -> np.ndarray:
    """``weights`` without the members the blend does not need: the costliest to predict is
    left out first, its weight given to the member whose answers are nearest its own, while
    the blend keeps ``KEEP_GAIN`` of its gain over its best member alone."""
    weights = np.asarray(weights, dtype=float)
    alone = [score(metric, y, predictions[i], classes) for i in np.flatnonzero(weights)]
    best_alone = alone[_best(metric, alone)]
    full = score(metric, y, blend(predictions, weights), classes)
    floor = full - (1 - KEEP_GAIN) * (full - best_alone)  # as far down (or up) as it may go
    while np.count_nonzero(weights) > 1:
        for i in sorted(np.flatnonzero(weights), key=lambda i: -costs[i]):
            others = [j for j in np.flatnonzero(weights) if j != i]
            nearest = min(others, key=lambda j: np.mean((predictions[j] - predictions[i]) ** 2))
            lighter = weights.copy()
            lighter[nearest] += lighter[i]
            lighter[i] = 0
            if not metric.better(floor, score(metric, y, blend(predictions, lighter), classes)):
                weights = lighter
                break
        else:
            break
    return weights


def blend(predictions: list[np.ndarray], weights) -> np.ndarray:
    """The weighted average of ``predictions``."""
    return sum(w * p for w, p in zip(weights, predictions, strict=True) if w)


def score(metric: Metric, y, prediction, classes=None) -> float:
    """``metric`` of ``prediction``; a label metric scores the most probable class."""
    if prediction.ndim == 2 and not metric.needs_proba:
        prediction = prediction.argmax(axis=1)
    return metric(y, prediction, classes)


def _best(metric: Metric, scores: list[float]) -> int:
    # The first of equal scores: candidates come best first, so ties favour the stronger one.
    best = 0
    for i, score in enumerate(scores):
        if metric.better(score, scores[best]):
            best = i
    return best


class Blend:
    """Fitted models predicting together: the weighted average of their answers (class
    probabilities, or values). It predicts like a scikit-learn pipeline on the rows
    ``Model.validate`` returns.
    """

    def __init__(self, pipelines: list, weights, n_classes: int | None):
        self.pipelines = pipelines
        self.weights = [float(w) for w in weights]
        self.n_classes = n_classes

    def _average(self, X) -> np.ndarray:
        return blend([predict(p, X, self.n_classes) for p in self.pipelines], self.weights)

    def predict_proba(self, X) -> np.ndarray:
        return self._average(X)

    def predict(self, X) -> np.ndarray:
        if self.n_classes is None:
            return self._average(X)
        return self._average(X).argmax(axis=1)


def predict(pipeline, X, n_classes: int | None) -> np.ndarray:
    """A pipeline's answers for ``X``: values for regression; for classification,
    probabilities with one column per class, even for a class the pipeline never saw in its
    training rows (the one place that aligns class columns, for the search and the blend)."""
    if n_classes is None:
        return pipeline.predict(X)
    proba = pipeline.predict_proba(X)
    if proba.shape[1] == n_classes:
        return proba
    full = np.zeros((len(X), n_classes))
    full[:, pipeline.classes_] = proba
    return full
