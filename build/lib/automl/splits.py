"""Validation splits: k folds, a holdout, or the latest rows by time, with copies of a row
kept on one side."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split


def make_splits(
    y: np.ndarray,
    task: str,
    *,
    validation: str,
    n_splits: int,
    holdout_size: float,
    order: np.ndarray | None,
    seed: int,
    max_train_rows: int | None = None,
    groups: np.ndarray | None = None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Train/validation index pairs: k folds, one holdout, or the latest rows by time.

    A holdout's training part keeps at most ``max_train_rows`` rows (the latest, by time), and
    its validation part as many (the first after training, by time), so the search on a large
    table is quick; the final model then trains on every row. Rows of one of ``groups``
    (copies of a row) stay on one side of folds and holdouts.
    """
    indices = np.arange(len(y))
    cap = max_train_rows or len(y)
    if validation == "time":
        cut = round(len(y) * (1 - holdout_size))
        ranked = indices[np.argsort(order, kind="stable")]
        return [(ranked[max(0, cut - cap) : cut], ranked[cut : cut + cap])]
    if validation == "holdout":
        train, valid = split_rows(y, task, holdout_size, seed, groups)
        rng = np.random.default_rng(seed)
        if len(train) > cap:
            train = np.sort(rng.choice(train, cap, replace=False))
        if len(valid) > cap:
            valid = np.sort(rng.choice(valid, cap, replace=False))
        return [(train, valid)]
    if groups is not None and len(np.unique(groups)) >= n_splits:
        # Folds of groups, stratified by each group's first label; then back to rows.
        _, first, inverse = np.unique(groups, return_index=True, return_inverse=True)
        folds = _folds(y[first], task, n_splits, seed)
        return [(np.flatnonzero(~np.isin(inverse, valid)), np.flatnonzero(np.isin(inverse, valid)))
                for _, valid in folds.split(first, y[first])]  # fmt: skip
    return list(_folds(y, task, n_splits, seed).split(indices, y))


def split_rows(y: np.ndarray, task: str, share: float, seed: int, groups=None):
    """Row positions split in two, ``share`` of them in the second part: stratified by class
    where every class has two rows, and each of ``groups`` (copies of a row) on one side."""
    if groups is None:
        stratify = y if _can_stratify(y, task, 2) else None
        return train_test_split(np.arange(len(y)), test_size=share, random_state=seed,
                                stratify=stratify)  # fmt: skip
    _, first, inverse = np.unique(groups, return_index=True, return_inverse=True)
    labels = y[first]
    stratify = labels if _can_stratify(labels, task, 2) else None
    _, second = train_test_split(np.arange(len(first)), test_size=share, random_state=seed,
                                 stratify=stratify)  # fmt: skip
    held = np.isin(inverse, second)
    return np.flatnonzero(~held), np.flatnonzero(held)


def _folds(y: np.ndarray, task: str, n_splits: int, seed: int):
    if _can_stratify(y, task, n_splits):
        return StratifiedKFold(n_splits, shuffle=True, random_state=seed)
    return KFold(n_splits, shuffle=True, random_state=seed)


def _can_stratify(y: np.ndarray, task: str, per_class: int) -> bool:
    return task != "regression" and np.unique(y, return_counts=True)[1].min() >= per_class
